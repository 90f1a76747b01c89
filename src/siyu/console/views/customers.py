"""Customer list (search, filters, bulk tags) and the customer profile (tags, notes, owner)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from siyu.acquisition import labels as acquisition_labels
from siyu.acquisition.queries import customer_origin
from siyu.console import presenters
from siyu.console.forms import BulkTagForm, ConsentForm, NoteForm, OwnerForm, TagForm
from siyu.console.queries import filter_choices
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.core.labels import label
from siyu.customers import actions
from siyu.customers.errors import CustomerError
from siyu.customers.models import PERSONALISED
from siyu.customers.queries import get_profile, list_customers, visible_customer_ids
from siyu.engagement.messaging.queries import wecom_corp_tag_labels, wecom_ready
from siyu.identity.labels import describe_joins, merge_rule_words, record_kind_words
from siyu.identity.queries import customer_evidence, merge_history
from siyu.ingest.labels import source_labels
from siyu.segments.errors import PredictionsNotComputed, TraitsNotComputed
from siyu.segments.prediction_queries import predictions_of
from siyu.segments.queries import customer_list_query, traits_of
from siyu.segments.traits import TraitSettings
from siyu.staff.models import Role
from siyu.staff.queries import can_assign_owner, can_import, can_view_pii, has_role
from siyu.web.views import console_view, forbidden

PAGE_SIZE = 50
FILTERS = ("q", "source", "tag", "province", "stage", "rfm_layer", "value_layer", "aipl_stage", "computed_tag")


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


@console_view
def customer_list(request):
    filters = {name: (request.GET.get(name) or "").strip() for name in FILTERS}
    query = customer_list_query(
        **{name: value or None for name, value in filters.items()},
        page=_page_number(request.GET.get("page")),
        page_size=PAGE_SIZE,
    )
    page = list_customers(request.user, query)
    context = {
        "page": page,
        "filters": filters,
        "filtered": any(filters.values()),
        "choices": filter_choices(),
        "pii": can_view_pii(request.user),
        "next": request.get_full_path(),
    }
    return render(request, "siyu/console/customer_list.html", context)


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@console_view
@require_POST
def bulk_tags(request):
    back = _safe_next(request, reverse("console:customers"))
    form = BulkTagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Select customers and enter a tag."))
        return redirect(back)
    tag, op, ids = (
        form.cleaned_data["tag"].strip(),
        form.cleaned_data["op"],
        form.cleaned_data["customer_ids"],
    )
    apply = actions.add_tag if op == "add" else actions.remove_tag
    try:
        done, refused = _apply_to_allowed(apply, request.user, ids, tag)
    except SiyuError as exc:  # a bad tag name, an unknown customer id…
        messages.error(request, str(exc))
        return redirect(back)
    if op == "add":
        text = ngettext(
            "Tag “%(tag)s” added to %(count)d customer.", "Tag “%(tag)s” added to %(count)d customers.", done
        )
    else:
        text = ngettext(
            "Tag “%(tag)s” removed from %(count)d customer.",
            "Tag “%(tag)s” removed from %(count)d customers.",
            done,
        )
    messages.success(request, text % {"tag": tag, "count": done})
    if refused:
        messages.warning(
            request,
            ngettext(
                "%(count)d customer was skipped: not yours.",
                "%(count)d customers were skipped: not yours.",
                refused,
            )
            % {"count": refused},
        )
    return redirect(back)


def _apply_to_allowed(apply, user, ids: list[int], tag: str) -> tuple[int, int]:
    """Apply a bulk tag action; when some selected customers are not the user's, skip those."""

    try:
        apply(user, ids, tag)
        return len(ids), 0
    except PermissionDenied:
        pass
    visible = visible_customer_ids(user)
    allowed = [i for i in ids if visible is None or i in visible]
    if allowed:
        apply(user, allowed, tag)
    return len(allowed), len(ids) - len(allowed)


def _profile_context(request, customer_id: int, **forms) -> dict:
    profile = get_profile(request.user, customer_id)
    assign = can_assign_owner(request.user)
    labels = _record_labels(profile["identities"])
    return {
        "customer": presenters.profile_page(profile),
        "customer_id": customer_id,
        "tag_form": forms.get("tag_form") or TagForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "consent_form": forms.get("consent_form") or ConsentForm(),
        "personalised_refused": (profile["consent"].get(PERSONALISED) or {}).get("status") == "opt_out",
        "owner_form": (forms.get("owner_form") or OwnerForm(initial={"owner": (profile["owner"] or {}).get("user_id")}))
        if assign
        else None,
        "pii": can_view_pii(request.user),
        "identity": _identity_history(customer_id, profile["identities"], labels) if can_import(request.user) else None,
        **_joins(customer_id, [i["record_key"] for i in profile["identities"]], labels),
        "traits": _traits_card(customer_id),
        "wecom": _wecom_actions(),
        "origin": _origin(request.user, customer_id),
        "loyalty": presenters.loyalty_card(customer_id),
    }


def _origin(user, customer_id: int) -> dict | None:
    """How the customer came: their first add through a live code (siyu.acquisition)."""

    origin = customer_origin(customer_id)
    if origin is None:
        return None
    return {**origin, "channel": label(acquisition_labels.CHANNELS, origin["code"].channel),
            "can_open": has_role(user, (Role.ADMIN, Role.OPERATOR))}  # fmt: skip


def _wecom_actions() -> dict | None:
    """What the profile offers in WeCom itself (corporate tags, transfer), when an account can do it."""

    return {"tags": wecom_corp_tag_labels()} if wecom_ready() else None


def _traits_card(customer_id: int) -> dict:
    """The profile's 画像 card: the customer's current traits, or why there are none, and predictions."""

    predictions = _predictions(customer_id)
    try:
        traits = traits_of(customer_id)
    except TraitsNotComputed:
        return {"computed": False, "predictions": predictions}
    overdue = traits["due_in_days"] if traits and traits["due_in_days"] is not None else 0
    return {
        "computed": True,
        "row": traits,
        "window_days": TraitSettings.from_settings().window_days,
        "overdue_days": -overdue if overdue < 0 else 0,
        "predictions": predictions,
    }


def _predictions(customer_id: int) -> dict | None:
    """The customer's row of the current predictions snapshot (siyu predict), or None."""

    try:
        return predictions_of(customer_id)
    except PredictionsNotComputed:
        return None


def _identity_history(customer_id: int, identities: list[dict], label_of) -> dict:
    """Merges and splits that shaped this customer, and its records (for manual merge/split/undo), each
    as (record key, its label): `identities`, the profile's (its records, oldest first)."""
    import json


    history = []
    for row in merge_history(customer_id):
        evidence = json.loads(row["evidence"] or "{}")
        history.append(
            {**row, "evidence": evidence, "undoable": bool(evidence.get("absorbed_record")),
             "rule_words": merge_rule_words(row["rule"])}
        )  # fmt: skip
    records = [(r["record_key"], label_of(r["record_key"])) for r in identities]
    return {"history": history, "records": records}


def record_label(identity: dict, sources: dict[str, str]) -> str:
    """A record as the evidence names it: channel (in words: `sources`, siyu.ingest.labels.source_labels),
    kind, record id and name (masked unless the viewer may see PII: `identity` is a profile identity,
    already masked for the viewer)."""

    source = identity.get("source") or ""
    kind = record_kind_words(identity.get("record_kind"))
    parts = [sources.get(source, source), kind, identity.get("record_id") or ""]
    label = " ".join(p for p in parts if p)
    return f"{label} · {identity['name']}" if identity.get("name") else label


JOINS_SHOWN = 200


def _record_labels(identities: list[dict]):
    """record key -> its label (record_label) for the customer's records (a key not among them: its
    record id)."""

    by_key = {i["record_key"]: i for i in identities}
    sources = source_labels()
    return lambda key: record_label(by_key.get(key, {"record_id": key}), sources)


def _joins(customer_id: int, record_keys: list[str], label_of) -> dict:
    """How each of the customer's records (`record_keys`, the profile's, oldest first) joined the others
    (siyu.identity.labels.describe_joins): the first JOINS_SHOWN, and how many more there are."""

    joins = describe_joins(customer_evidence(customer_id, record_keys), label_of)
    return {"joins": joins[:JOINS_SHOWN], "joins_more": max(0, len(joins) - JOINS_SHOWN)}


@console_view
def customer_profile(request, customer_id: int):
    return render(request, "siyu/console/customer_profile.html", _profile_context(request, customer_id))


@console_view
@require_POST
def customer_tag(request, customer_id: int):
    get_profile(request.user, customer_id)  # 404 / 403 before any change
    form = TagForm(request.POST)
    if not form.is_valid():
        context = _profile_context(request, customer_id, tag_form=form)
        return render(request, "siyu/console/customer_profile.html", context, status=400)
    tag = form.cleaned_data["tag"].strip()
    label = form.cleaned_data.get("label") or tag
    try:
        if form.cleaned_data["op"] == "remove":
            actions.remove_tag(request.user, [customer_id], tag)
            messages.success(request, _("Tag “%(tag)s” removed.") % {"tag": label})
        else:
            actions.add_tag(request.user, [customer_id], tag)
            messages.success(request, _("Tag “%(tag)s” added.") % {"tag": label})
    except CustomerError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("console:customer", args=[customer_id]) + "#tags")


@console_view
@require_POST
def customer_note(request, customer_id: int):
    get_profile(request.user, customer_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        context = _profile_context(request, customer_id, note_form=form)
        return render(request, "siyu/console/customer_profile.html", context, status=400)
    try:
        actions.add_note(request.user, customer_id, form.cleaned_data["text"].strip())
    except CustomerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Note added."))
    return redirect(reverse("console:customer", args=[customer_id]) + "#notes")


@console_view
@require_POST
def customer_consent(request, customer_id: int):
    """Staff record a consent, an opt-out or the customer's refusal of personalised marketing."""
    get_profile(request.user, customer_id)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        context = _profile_context(request, customer_id, consent_form=form)
        return render(request, "siyu/console/customer_profile.html", context, status=400)
    data = form.cleaned_data
    try:
        actions.record_consent(request.user, customer_id, data["channel"], data["status"], data["source"])
    except CustomerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Consent recorded."))
    return redirect(reverse("console:customer", args=[customer_id]) + "#consent")


@console_view
@require_POST
def customer_owner(request, customer_id: int):
    if not can_assign_owner(request.user):
        return forbidden(request, _("Only administrators, operators and store managers assign owners."))
    get_profile(request.user, customer_id)
    form = OwnerForm(request.POST)
    if not form.is_valid():
        context = _profile_context(request, customer_id, owner_form=form)
        return render(request, "siyu/console/customer_profile.html", context, status=400)
    try:
        actions.assign_owner(request.user, [customer_id], form.cleaned_data["owner"])
    except CustomerError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Owner updated."))
    return redirect(reverse("console:customer", args=[customer_id]) + "#owner")
