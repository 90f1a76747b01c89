"""What the console's token page shows for the API's scopes (Chinese first, via gettext): an area by the name
its console pages go by, a scope as the area and what the token may do there. The codes themselves
(`customers:read`) are siyu.api.scopes's and never shown."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.api.scopes import ALL, AREAS, READ, WRITE

AREA_LABELS = {
    "customers": gettext_lazy("Customers"),
    "ingest": gettext_lazy("Import"),
    "identity": gettext_lazy("Identity resolution"),
    "integrations": gettext_lazy("Event subscriptions"),
    "segments": gettext_lazy("Segments"),
    "analytics": gettext_lazy("Analytics"),
    "engagement": gettext_lazy("Sends, journeys and content"),
    "acquisition": gettext_lazy("Live codes"),
    "community": gettext_lazy("Community"),
    "loyalty": gettext_lazy("Member benefits"),
    "surveys": gettext_lazy("Surveys"),
    "privacy": gettext_lazy("Privacy requests"),
}
assert set(AREA_LABELS) == set(AREAS), "give every area of siyu.api.scopes a label"

# the lifetimes the form offers (siyu.api.actions.parse_lifetime's words); "" never expires
LIFETIMES = (
    ("7d", gettext_lazy("7 days")),
    ("30d", gettext_lazy("30 days")),
    ("90d", gettext_lazy("90 days")),
    ("180d", gettext_lazy("180 days")),
    ("1y", gettext_lazy("1 year")),
    ("", gettext_lazy("Never expires")),
)
DEFAULT_LIFETIME = "90d"


def scope_label(scope: str) -> str:
    """`customers:read` -> 客户：查看; `*` -> 全部（查看和修改）."""
    if scope == ALL:
        return _("Everything (view and change)")
    area, _sep, access = scope.partition(":")
    if area == ALL:
        return _("Everything (view only)") if access == READ else _("Everything (view and change)")
    name = AREA_LABELS.get(area, area)
    if access == WRITE:
        return _("%(area)s: view and change") % {"area": name}
    return _("%(area)s: view") % {"area": name}


def scopes_label(scopes) -> str:
    return "、".join(scope_label(scope) for scope in scopes or ()) or "—"


def scope_choices() -> list[dict]:
    """The form's rows: everything first, then each area, each with its read and write scope."""
    rows = [{"label": _("Everything"), "read": f"{ALL}:{READ}", "write": ALL}]
    rows += [
        {"label": AREA_LABELS[area], "read": f"{area}:{READ}", "write": f"{area}:{WRITE}"} for area in AREAS
    ]
    return rows
