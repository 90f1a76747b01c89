"""Quarantined identifiers: the values the guard keeps out of linking (a shop phone on many members, a
placeholder in an account column, the bridge of a giant customer), and what the imports did not take as
identifiers. Who may see it: those who may review matches (administrators and operators)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _

from siyu.identity.labels import id_type_words, quarantined_in_words
from siyu.ingest.normalise.identifiers import not_identifier_words
from siyu.staff.queries import can_import
from siyu.web.views import console_view, forbidden

PAGE_SIZE = 30


@console_view
def quarantine_list(request):
    from siyu.identity.queries import quarantine_page, values_not_identifiers

    if not can_import(request.user):
        return forbidden(request, _("Only administrators and operators can see quarantined identifiers."))
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    result = quarantine_page(page, PAGE_SIZE)
    result["items"] = [quarantined_in_words(item) for item in result["items"]]
    skipped = values_not_identifiers()
    for row in skipped:
        row["type_words"] = id_type_words(row["id_type"])
        row["reason_words"] = not_identifier_words(row["reason"])
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return render(
        request,
        "siyu/console/identity_quarantine.html",
        {"quarantine": result, "pages": pages, "not_identifiers": skipped},
    )
