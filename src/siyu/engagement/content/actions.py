"""Every change to the content library: script groups, scripts, materials (images, links, mini-program
cards, cases) and UGC buyer shows. Admins and operators edit it; everyone with a staff role reads it.

A buyer show (买家秀) is the customer's own content: it can be recorded and used only while the customer's
`ugc` consent is in force (siyu.engagement.content.queries.ugc_usable), checked again at every use."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.customers.queries import clean_text
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material, Script, ScriptGroup
from siyu.engagement.errors import ConsentMissing, ContentError
from siyu.staff.models import Role
from siyu.staff.queries import has_role

CONTENT_EDITORS = {Role.ADMIN, Role.OPERATOR}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_BODY = 5_000
# What an image file starts with -> the extension it is stored under (no image library needed to know).
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
APPID = re.compile(r"^wx[0-9a-f]{16}$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
TAG_SPLIT = re.compile(r"[,，;；\s]+")


def can_edit_content(user) -> bool:
    return (user is None or has_role(user, CONTENT_EDITORS))


def _require_editor(actor) -> None:
    if not can_edit_content(actor):
        raise PermissionDenied("only an admin or operator can change the content library")


def _user(actor):
    return actor if actor is not None and actor.is_authenticated else None


def clean_tags(tags) -> str:
    """Tags as stored: comma-separated, trimmed, without duplicates (a list or a text with , ， ; or spaces)."""
    items = tags if isinstance(tags, list | tuple) else TAG_SPLIT.split(str(tags or ""))
    seen: list[str] = []
    for item in items:
        tag = clean_text(item, limit=40).replace(",", "")
        if tag and tag not in seen:
            seen.append(tag)
    text = ",".join(seen)
    if len(text) > 300:
        raise ContentError("the tags are longer than 300 characters together")
    return text


def _title(value) -> str:
    title = clean_text(value or "", limit=1_000)
    if not title:
        raise ContentError("give it a title")
    if len(title) > 200:
        raise ContentError("the title is longer than 200 characters")
    return title


def _body(value, required: bool, what: str = "the text") -> str:
    body = clean_text(value or "", limit=MAX_BODY + 1)
    if required and not body:
        raise ContentError(f"{what} is empty")
    if len(body) > MAX_BODY:
        raise ContentError(f"{what} is longer than {MAX_BODY:,} characters")
    return body


# --- scripts -------------------------------------------------------------------------------------------


def save_script_group(actor, name: str) -> ScriptGroup:
    _require_editor(actor)
    clean = clean_text(name or "", limit=1_000)
    if not clean or len(clean) > 100:
        raise ContentError("a script group needs a name of 1 to 100 characters")
    group, created = ScriptGroup.objects.get_or_create(name=clean)
    if created:
        record_audit(actor, "create_script_group", target=clean)
    return group


def _group(actor, group) -> ScriptGroup | None:
    if group in (None, ""):
        return None
    if isinstance(group, ScriptGroup):
        return group
    if isinstance(group, int) or str(group).isdigit():
        found = ScriptGroup.objects.filter(pk=int(group)).first()
        if found is None:
            raise ContentError(f"no script group {group}")
        return found
    return save_script_group(actor, str(group))


@transaction.atomic
def save_script(actor, *, title, body, group=None, tags="", script_id: int | None = None) -> Script:
    """Create a script, or change the one with `script_id`. `group`: a group, its id or a (new) name."""
    _require_editor(actor)
    script = Script() if script_id is None else content_queries.get_script(script_id)
    script.title = _title(title)
    script.body = _body(body, required=True, what="the script")
    script.group = _group(actor, group)
    script.tags = clean_tags(tags)
    if script.pk is None:
        script.created_by = _user(actor)
    script.save()
    record_audit(actor, "save_script", target=str(script.pk), title=script.title)
    return script


def archive_script(actor, script_id: int, archived: bool = True) -> Script:
    _require_editor(actor)
    script = content_queries.get_script(script_id)
    script.archived = bool(archived)
    script.save(update_fields=["archived", "updated_at"])
    record_audit(actor, "archive_script", target=str(script.pk), archived=script.archived)
    return script


# --- materials -----------------------------------------------------------------------------------------


def image_extension(data: bytes) -> str:
    """png | jpg | gif | webp by the file's first bytes; ContentError for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for signature, extension in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return extension
    raise ContentError("the file is not a PNG, JPEG, GIF or WebP image")


def store_image(data: bytes) -> str:
    """Save an uploaded image under UPLOADS_DIR/materials; returns its name there."""
    if not data:
        raise ContentError("the image file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ContentError("an image may be at most 5 MB")
    name = f"{uuid.uuid4().hex}.{image_extension(data)}"
    folder = Path(settings.UPLOADS_DIR) / "materials"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def _check_kind(material: Material) -> None:
    kind = material.kind
    if kind == Material.Kind.IMAGE and not material.image:
        raise ContentError("an image material needs an image file")
    if kind == Material.Kind.LINK and not URL.match(material.url):
        raise ContentError("a link needs a web address starting with http:// or https://")
    if kind == Material.Kind.MINI_PROGRAM:
        if not APPID.match(material.appid):
            raise ContentError("a mini-program card needs the mini program's appid (wx and 16 hex digits)")
        if not material.page_path or "://" in material.page_path:
            raise ContentError("a mini-program card needs the page path inside the mini program")
    if kind == Material.Kind.CASE and not material.body:
        raise ContentError("a case needs its story")
    if kind == Material.Kind.UGC:
        if material.customer_id is None:
            raise ContentError("a buyer show belongs to a customer: give the customer id")
        if not material.body and not material.image:
            raise ContentError("a buyer show needs the buyer's words or photo")


@transaction.atomic
def save_material(
    actor,
    *,
    kind: str,
    title,
    body="",
    tags="",
    url="",
    appid="",
    page_path="",
    customer_id: int | None = None,
    image: bytes | None = None,
    material_id: int | None = None,
) -> Material:
    """Create a material, or change the one with `material_id` (its kind stays). `image`: the bytes of
    an uploaded picture (the picture of an image material, the thumb of a card, the buyer's photo)."""
    _require_editor(actor)
    if material_id is None:
        if kind not in Material.Kind.values:
            raise ContentError(
                f"unknown material kind {kind!r}; choose one of {', '.join(Material.Kind.values)}"
            )
        material = Material(kind=kind, created_by=_user(actor))
    else:
        material = content_queries.get_material(material_id)
    material.title = _title(title)
    material.body = _body(body, required=False)
    material.tags = clean_tags(tags)
    material.url = clean_text(url or "", limit=500)
    material.appid = clean_text(appid or "", limit=64)
    material.page_path = clean_text(page_path or "", limit=300)
    if material.kind == Material.Kind.UGC:
        if customer_id in (None, ""):
            raise ContentError("a buyer show belongs to a customer: give the customer id")
        try:
            cid = int(customer_id)
        except (TypeError, ValueError) as exc:
            raise ContentError("the customer id must be a number") from exc
        if not 0 < cid <= customer_queries.CUSTOMER_ID_MAX:
            raise ContentError("the customer id is out of range")
        customer_queries.require_customers([cid])
        if cid not in content_queries.ugc_usable([cid]):
            raise ConsentMissing(
                f"customer {cid} has not agreed to the use of their buyer shows: record their `ugc` "
                "consent (with its source) on the customer's page first"
            )
        material.customer_id = cid
    if image:
        material.image = store_image(image)
    _check_kind(material)
    material.save()
    record_audit(actor, "save_material", target=str(material.pk), kind=material.kind, title=material.title)
    return material


def archive_material(actor, material_id: int, archived: bool = True) -> Material:
    _require_editor(actor)
    material = content_queries.get_material(material_id)
    material.archived = bool(archived)
    material.save(update_fields=["archived", "updated_at"])
    record_audit(actor, "archive_material", target=str(material.pk), archived=material.archived)
    return material
