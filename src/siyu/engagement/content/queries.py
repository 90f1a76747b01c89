"""The read side of the content library: search over scripts and materials, whether a buyer show may be
used (its customer's `ugc` consent in force), and a material as a message attachment."""

from __future__ import annotations

from pathlib import Path

import ibis
from django.conf import settings
from django.db.models import Q

from siyu import warehouse
from siyu.customers import queries as customer_queries
from siyu.customers.models import Consent
from siyu.engagement.content.models import Material, Script, ScriptGroup
from siyu.engagement.content.scripts import KNOWN_VARIABLES, REGISTERED_VARIABLES, placeholders
from siyu.engagement.errors import ConsentMissing, ContentError, ContentNotFound, EngagementError
from siyu.warehouse.orders import is_purchase

MAX_RESULTS = 200


def get_script(script_id) -> Script:
    try:
        return Script.objects.select_related("group").get(pk=int(script_id))
    except (Script.DoesNotExist, TypeError, ValueError, OverflowError):
        raise ContentNotFound(f"no script {script_id}") from None


def get_material(material_id) -> Material:
    try:
        return Material.objects.get(pk=int(material_id))
    except (Material.DoesNotExist, TypeError, ValueError, OverflowError):
        raise ContentNotFound(f"no material {material_id}") from None


WECOM_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}  # what media/upload takes


def attachable_problem(material: Material) -> str:
    """Why a material cannot go along with a WeCom message ("" when it can): an image, a link, a
    mini-program card with its picture, or a case or buyer show with a picture (sent as the picture)."""
    if material.kind == Material.Kind.LINK:
        return ""
    if not material.image:
        return f"material {material.pk} has no picture to send"
    extension = material.image.rsplit(".", 1)[-1].lower()
    if extension not in WECOM_IMAGE_TYPES:
        return f"material {material.pk}: WeCom takes only JPG and PNG pictures, not {extension.upper()}"
    return ""


def attachable_materials() -> list[Material]:
    """The library's materials a WeCom message can carry now (for the journey builder's choice)."""
    return [m for m in search_materials(usable_only=True) if not attachable_problem(m)]


def attachment_of(material: Material) -> dict:
    """What a channel adapter needs to send `material` (see `Outgoing.attachments`); ContentError when it
    may not or cannot be sent now (archived, consent withdrawn, no usable picture)."""
    check_usable(material)
    problem = attachable_problem(material)
    if problem:
        raise ContentError(problem)
    item = {"material_id": material.pk, "title": material.title[:64], "description": material.body[:200]}
    if material.kind == Material.Kind.LINK:
        return {**item, "kind": "link", "url": material.url}
    path = Path(settings.UPLOADS_DIR) / "materials" / material.image
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContentError(f"the picture of material {material.pk} is missing") from exc
    picture = {"image": data, "image_name": material.image,
               "content_type": WECOM_IMAGE_TYPES[material.image.rsplit(".", 1)[-1].lower()]}  # fmt: skip
    if material.kind == Material.Kind.MINI_PROGRAM:
        return {**item, **picture, "kind": "miniprogram", "appid": material.appid, "page": material.page_path}
    return {**item, **picture, "kind": "image"}


def ugc_usable(customer_ids) -> set[int]:
    """Those customers whose latest `ugc` consent is an opt-in and who have not opted out of everything
    (`all`) since: their buyer shows may be used."""
    ids = {int(i) for i in customer_ids if i is not None}
    latest = Consent.objects.in_force(ids, {"ugc"})
    return {
        cid
        for cid in ids
        if latest.get((cid, "ugc")) == Consent.Status.OPT_IN
        and latest.get((cid, "all")) != Consent.Status.OPT_OUT
    }


def check_usable(material: Material) -> None:
    """ConsentMissing when the material is a buyer show without consent in force; ContentError when archived."""
    if material.archived:
        raise ContentError(f"material {material.pk} is archived")
    if material.kind == Material.Kind.UGC and material.customer_id not in ugc_usable([material.customer_id]):
        raise ConsentMissing(
            f"buyer show {material.pk} cannot be used: its customer's consent to the use of buyer shows is "
            "not in force"
        )


def _matches(query, q: str, fields: tuple[str, ...]):
    words = [w for w in (q or "").split() if w][:10]
    for word in words:
        condition = Q()
        for name in fields:
            condition |= Q(**{f"{name}__icontains": word})
        query = query.filter(condition)
    return query


def search_scripts(q: str = "", group: int | None = None, include_archived: bool = False) -> list[Script]:
    """Scripts whose title, body, tags or group name contain every word of `q`."""
    query = Script.objects.select_related("group")
    if not include_archived:
        query = query.filter(archived=False)
    if group:
        query = query.filter(group_id=group)
    query = _matches(query, q, ("title", "body", "tags", "group__name"))
    return list(query[:MAX_RESULTS])


def search_materials(
    q: str = "", kind: str | None = None, include_archived: bool = False, usable_only: bool = False
) -> list[Material]:
    """Materials whose title, text or tags contain every word of `q`. `usable_only`: buyer shows only
    while their consent is in force (what guides and the API show to people who cannot edit)."""
    query = Material.objects.all()
    if not include_archived:
        query = query.filter(archived=False)
    if kind:
        query = query.filter(kind=kind)
    items = list(_matches(query, q, ("title", "body", "tags"))[:MAX_RESULTS])
    usable = ugc_usable(m.customer_id for m in items if m.kind == Material.Kind.UGC)
    for item in items:
        item.usable = item.kind != Material.Kind.UGC or item.customer_id in usable
    return [m for m in items if m.usable] if usable_only else items


def script_groups() -> list[ScriptGroup]:
    return list(ScriptGroup.objects.all())


def script_dict(script: Script) -> dict:
    used = placeholders(script.body)
    return {
        "id": script.pk,
        "title": script.title,
        "body": script.body,
        "group": script.group.name if script.group_id else None,
        "group_id": script.group_id,
        "tags": [t for t in script.tags.split(",") if t],
        "variables": used,
        "unknown_variables": [v for v in used if v not in KNOWN_VARIABLES],
        "archived": script.archived,
        "updated_at": script.updated_at,
    }


def material_dict(material: Material, show_customer: bool) -> dict:
    usable = getattr(material, "usable", None)
    if usable is None:
        usable = material.kind != Material.Kind.UGC or material.customer_id in ugc_usable(
            [material.customer_id]
        )
    return {
        "id": material.pk,
        "kind": material.kind,
        "title": material.title,
        "body": material.body,
        "tags": [t for t in material.tags.split(",") if t],
        "url": material.url,
        "has_image": bool(material.image),
        "appid": material.appid,
        "page_path": material.page_path,
        "customer_id": material.customer_id if show_customer else None,
        "usable": usable,
        "archived": material.archived,
        "updated_at": material.updated_at,
    }


# --- what a script can say about a customer ------------------------------------------------------------

HONORIFIC = {"F": "女士", "M": "先生"}


def salutation(name_masked: str | None, gender: str | None) -> str | None:
    """张女士 / 张先生 from the masked name and the gender; the masked name when the gender is unknown.
    Never more of the name than the masked form shows (a guide sees masked names)."""
    if not name_masked:
        return None
    surname = name_masked.strip()[:1]
    if gender in HONORIFIC and surname and surname != "*" and not surname.isascii():
        return surname + HONORIFIC[gender]
    return name_masked.strip()


def customer_variables(customer_ids) -> dict[int, dict]:
    """{customer_id: {"name": salutation, "product": latest purchased product}} from the warehouse."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return {}
    con = warehouse.backend()
    wanted = customer_queries._ids_table(ids)
    cs = con.table("customer_summary")
    people = cs.semi_join(wanted, "customer_id").select("customer_id", "name_masked", "gender")
    out = {
        row["customer_id"]: {"name": salutation(row["name_masked"], row["gender"])}
        for row in people.to_pyarrow().to_pylist()
    }
    orders = con.table("orders")
    orders = orders.filter(is_purchase(orders) & orders.order_time.notnull())
    cmap = con.table("customer_map").semi_join(wanted, "customer_id")
    items = con.table("order_items").filter(lambda t: t.product.notnull())
    lines = (
        orders.select("order_key", "record_key", "order_time")
        .join(cmap.select("record_key", "customer_id"), "record_key")
        .join(items.select("order_key", "item_key", "product"), "order_key")
    )
    lines = lines.mutate(
        rank=ibis.row_number().over(
            group_by=lines.customer_id, order_by=[ibis.desc(lines.order_time), lines.item_key]
        )
    )
    for row in lines.filter(lines.rank == 0).select("customer_id", "product").to_pyarrow().to_pylist():
        out.setdefault(row["customer_id"], {})["product"] = row["product"]
    for name, (_words, fill) in REGISTERED_VARIABLES.items():
        for customer_id, text in fill(ids).items():
            out.setdefault(customer_id, {})[name] = text
    return out


# --- creating tasks ------------------------------------------------------------------------------------


def attachable_material(value, channel: str, where: str) -> int:
    """The id of a library material to send along with a WeCom message (a journey step's, the welcome
    message's): one that can go now (siyu.engagement.content.queries.attachable_problem); delivery checks
    it again."""
    if channel != "wecom":
        raise EngagementError(f"{where}: only WeCom messages carry a material")
    try:
        material = get_material(value)
        check_usable(material)
    except ContentError as exc:
        raise EngagementError(f"{where}: {exc}") from exc
    problem = attachable_problem(material)
    if problem:
        raise EngagementError(f"{where}: {problem}")
    return material.pk
