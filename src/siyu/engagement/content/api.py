"""/api/scripts, /api/script-groups, /api/materials: the content library. Everyone with a staff role reads
it (a buyer show only while its customer's consent is in force, and its customer id only for editors);
admins and operators write it. Every write takes an Idempotency-Key. Mounted by siyu.api.api."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.customers import queries as customer_queries
from siyu.engagement.content import actions as content_actions
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.queries import customer_variables
from siyu.engagement.content.scripts import render
from siyu.engagement.errors import ContentError
from siyu.staff.queries import display_name_of
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["content"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Search = Annotated[str, Query(max_length=200, description="words that title, text or tags all contain")]
MaterialKind = Literal["image", "link", "mini_program", "case", "ugc"]


class ScriptGroupIn(Schema):
    name: str = Field(min_length=1, max_length=100)


class ScriptGroupOut(Schema):
    id: int
    name: str


class ScriptIn(Schema):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(
        min_length=1, max_length=5_000, description="text with {name}, {guide}, {store}, {product}"
    )
    group: str | None = Field(None, max_length=100, description="group name (created when new)")
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)


class ScriptOut(Schema):
    id: int
    title: str
    body: str
    group: str | None
    group_id: int | None
    tags: list[str]
    variables: list[str] = Field(description="the placeholders the body uses")
    unknown_variables: list[str] = Field(
        description="placeholders a task cannot fill by itself (give defaults)"
    )
    archived: bool
    updated_at: datetime


class RenderOut(Schema):
    text: str
    missing: list[str] = Field(description="placeholders left unfilled (they stay in the text)")


class MaterialIn(Schema):
    kind: MaterialKind
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=5_000, description="description, a case's story, the buyer's words")
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    url: str = Field("", max_length=500, description="link: http(s) address")
    appid: str = Field("", max_length=64, description="mini-program card: the mini program's appid")
    page_path: str = Field("", max_length=300, description="mini-program card: the page inside it")
    customer_id: int | None = Field(None, ge=1, le=customer_queries.CUSTOMER_ID_MAX, description="ugc: whose")
    image_base64: str | None = Field(
        None, max_length=7_000_000, description="PNG/JPEG/GIF/WebP, base64, at most 5 MB"
    )


class MaterialOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    tags: list[str]
    url: str
    has_image: bool
    appid: str
    page_path: str
    customer_id: int | None = Field(description="ugc: the customer (editors only)")
    usable: bool = Field(description="false for a buyer show whose customer's consent is not in force")
    archived: bool
    updated_at: datetime


def _image(data: str | None) -> bytes | None:
    if not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ContentError("image_base64 is not valid base64") from exc


def _require_role(user) -> None:
    customer_queries.visible_owner_ids(user)  # PermissionDenied without a staff role


@router.get("/script-groups", response={200: list[ScriptGroupOut], **READ_ERRORS}, summary="Script groups")
def list_groups(request):
    _require_role(request.auth)
    return [{"id": g.pk, "name": g.name} for g in content_queries.script_groups()]


@router.post("/script-groups", response={201: ScriptGroupOut, **WRITE_ERRORS}, summary="Create a script group")
@roles(*content_actions.CONTENT_EDITORS)
def create_group(request, response: HttpResponse, body: ScriptGroupIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        group = content_actions.save_script_group(request.auth, body.name)
        return {"id": group.pk, "name": group.name}

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/scripts", response={200: list[ScriptOut], **READ_ERRORS}, summary="Search scripts")
def list_scripts(
    request,
    q: Search = "",
    group: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    archived: bool = False,
):
    _require_role(request.auth)
    return [content_queries.script_dict(s) for s in content_queries.search_scripts(q, group, archived)]


@router.post("/scripts", response={201: ScriptOut, **WRITE_ERRORS}, summary="Create a script")
@roles(*content_actions.CONTENT_EDITORS)
def create_script(request, response: HttpResponse, body: ScriptIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        script = content_actions.save_script(
            request.auth, title=body.title, body=body.body, group=body.group, tags=body.tags
        )
        return content_queries.script_dict(script)

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.post("/scripts/{script_id}", response={200: ScriptOut, **WRITE_ERRORS}, summary="Change a script")
@roles(*content_actions.CONTENT_EDITORS)
def change_script(
    request, response: HttpResponse, script_id: Id, body: ScriptIn, idempotency_key: IdempotencyKeyHeader
):
    def run():
        script = content_actions.save_script(
            request.auth,
            title=body.title,
            body=body.body,
            group=body.group,
            tags=body.tags,
            script_id=script_id,
        )
        return content_queries.script_dict(script)

    return run_once(request, response, idempotency_key, body, run)


@router.post(
    "/scripts/{script_id}/archive", response={200: ScriptOut, **WRITE_ERRORS}, summary="Archive a script"
)
@roles(*content_actions.CONTENT_EDITORS)
def archive_script(request, response: HttpResponse, script_id: Id, idempotency_key: IdempotencyKeyHeader):
    def run():
        return content_queries.script_dict(content_actions.archive_script(request.auth, script_id))

    return run_once(request, response, idempotency_key, {"script_id": script_id}, run)


@router.get(
    "/scripts/{script_id}/render",
    response={200: RenderOut, **LOOKUP_ERRORS},
    summary="A script rendered for one customer (as a task would show it)",
)
def render_script(request, script_id: Id, customer_id: Annotated[int, Query(ge=1, le=2**63 - 1)]):
    script = content_queries.get_script(script_id)
    customer_queries.check_access(request.auth, [customer_id])
    customer_queries.require_customers([customer_id])
    values = {
        "guide": display_name_of(request.auth),
        **customer_variables([customer_id]).get(customer_id, {}),
    }
    out = render(script.body, values)
    return {"text": out.text, "missing": list(out.missing)}


@router.get("/materials", response={200: list[MaterialOut], **READ_ERRORS}, summary="Search materials")
def list_materials(request, q: Search = "", kind: MaterialKind | None = None, archived: bool = False):
    _require_role(request.auth)
    editor = content_actions.can_edit_content(request.auth)
    items = content_queries.search_materials(q, kind, include_archived=archived, usable_only=not editor)
    return [content_queries.material_dict(m, show_customer=editor) for m in items]


@router.get(
    "/materials/{material_id}",
    response={200: MaterialOut, **LOOKUP_ERRORS, 400: ErrorOut},
    summary="One material",
)
def get_material(request, material_id: Id):
    _require_role(request.auth)
    material = content_queries.get_material(material_id)
    editor = content_actions.can_edit_content(request.auth)
    if not editor:
        content_queries.check_usable(material)  # 400 for a buyer show without consent
    return content_queries.material_dict(material, show_customer=editor)


@router.post(
    "/materials", response={201: MaterialOut, **WRITE_ERRORS, 413: ErrorOut}, summary="Create a material"
)
@roles(*content_actions.CONTENT_EDITORS)
def create_material(request, response: HttpResponse, body: MaterialIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        material = content_actions.save_material(
            request.auth,
            kind=body.kind,
            title=body.title,
            body=body.body,
            tags=body.tags,
            url=body.url,
            appid=body.appid,
            page_path=body.page_path,
            customer_id=body.customer_id,
            image=_image(body.image_base64),
        )
        return content_queries.material_dict(material, show_customer=True)

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.post(
    "/materials/{material_id}/archive",
    response={200: MaterialOut, **WRITE_ERRORS},
    summary="Archive a material",
)
@roles(*content_actions.CONTENT_EDITORS)
def archive_material(request, response: HttpResponse, material_id: Id, idempotency_key: IdempotencyKeyHeader):
    def run():
        material = content_actions.archive_material(request.auth, material_id)
        return content_queries.material_dict(material, show_customer=True)

    return run_once(request, response, idempotency_key, {"material_id": material_id}, run)
