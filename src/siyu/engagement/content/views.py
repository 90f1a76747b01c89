"""Console pages of the content library: search and browse scripts and materials (every staff role),
add, edit and archive them (admins and operators), and the material images (a buyer show's only while its
customer's consent is in force, except for editors). Changes go through siyu.engagement.content.actions."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.customers.queries import visible_owner_ids
from siyu.engagement.content import actions as content_actions
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material
from siyu.engagement.content.scripts import KNOWN_VARIABLES, placeholders
from siyu.engagement.errors import ContentError
from siyu.web.views import console_view, forbidden

MAX_UPLOAD = content_actions.MAX_IMAGE_BYTES + 1


@console_view
def content_library(request):
    visible_owner_ids(request.user)  # a staff role is needed (PermissionDenied -> 403)
    editor = content_actions.can_edit_content(request.user)
    data = request.GET
    tab = "materials" if data.get("tab") == "materials" else "scripts"
    q = data.get("q", "").strip()[:200]
    kind = data.get("kind") if data.get("kind") in Material.Kind.values else None
    group = data.get("group") if (data.get("group") or "").isdigit() else None
    scripts = content_queries.search_scripts(q, int(group) if group else None) if tab == "scripts" else []
    for script in scripts:
        script.variables = placeholders(script.body)
        script.tag_list = [t for t in script.tags.split(",") if t]
    materials = (
        content_queries.search_materials(q, kind, usable_only=not editor) if tab == "materials" else []
    )
    for material in materials:
        material.tag_list = [t for t in material.tags.split(",") if t]
    editing = _editing(tab, data.get("edit")) if editor else None
    return render(
        request,
        "siyu/engagement/content/library.html",
        {
            "tab": tab,
            "q": q,
            "kind": kind,
            "group": group,
            "groups": content_queries.script_groups(),
            "scripts": scripts,
            "materials": materials,
            "kinds": Material.Kind.choices,
            "editor": editor,
            "editing": editing,
            "known_variables": KNOWN_VARIABLES,
        },
    )


def _editing(tab: str, item_id):
    """The script or material whose form is open for editing (`?edit=<id>`), or None."""
    if not item_id:
        return None
    try:
        return (content_queries.get_script if tab == "scripts" else content_queries.get_material)(item_id)
    except ContentError:
        return None


def _item_id(value) -> int | None:
    """The id of the script or material being changed (a form's hidden field), None for a new one."""
    return int(value) if (value or "").isdigit() else None


@console_view
@require_POST
def script_add(request):
    data = request.POST
    try:
        content_actions.save_script(
            request.user, title=data.get("title"), body=data.get("body"), group=data.get("group"),
            tags=data.get("tags", ""), script_id=_item_id(data.get("script_id")),
        )  # fmt: skip
    except ContentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Script saved."))
    return redirect("console:engagement_content")


@console_view
@require_POST
def material_add(request):
    data = request.POST
    upload = request.FILES.get("image")
    try:
        if upload is not None and upload.size > MAX_UPLOAD:
            raise ContentError("an image may be at most 5 MB")
        content_actions.save_material(
            request.user,
            kind=data.get("kind", ""),
            title=data.get("title"),
            body=data.get("body", ""),
            tags=data.get("tags", ""),
            url=data.get("url", ""),
            appid=data.get("appid", ""),
            page_path=data.get("page_path", ""),
            customer_id=data.get("customer_id") or None,
            image=upload.read() if upload is not None else None,
            material_id=_item_id(data.get("material_id")),
        )
    except ContentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Material saved."))
    return redirect(f"{_library_url()}?tab=materials")


def _library_url() -> str:
    from django.urls import reverse

    return reverse("console:engagement_content")


@console_view
@require_POST
def script_archive(request, script_id: int):
    try:
        content_actions.archive_script(request.user, script_id)
    except ContentError as exc:
        messages.error(request, str(exc))
    return redirect("console:engagement_content")


@console_view
@require_POST
def material_archive(request, material_id: int):
    try:
        content_actions.archive_material(request.user, material_id)
    except ContentError as exc:
        messages.error(request, str(exc))
    return redirect(f"{_library_url()}?tab=materials")


@console_view
def material_image(request, material_id: int):
    visible_owner_ids(request.user)
    try:
        material = content_queries.get_material(material_id)
        if not content_actions.can_edit_content(request.user):
            content_queries.check_usable(material)
    except ContentError as exc:
        return forbidden(request, str(exc), english_only=True)
    if not material.image:
        raise Http404
    path = Path(settings.UPLOADS_DIR) / "materials" / Path(material.image).name
    if not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), content_type=mimetypes.guess_type(path.name)[0] or "image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"  # a buyer show can be withdrawn
    return response
