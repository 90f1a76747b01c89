"""What an API token may do: a scope is an area of the API and `read` or `write` (`customers:read`,
`privacy:write`), `*:read` (read every area) or `*` (everything). `write` includes `read` of its area.

An area is a group of routers mounted together in siyu.api.api (`mount(area, router)`); a GET/HEAD/OPTIONS
needs `AREA:read`, anything else `AREA:write`. A scope never widens what the token's user may do: the
user's role is checked by the route as for a console session."""

from __future__ import annotations

from siyu.core.errors import SiyuError

# area -> what it covers (shown by `siyu token create --help` and the console's token page)
AREAS = {
    "customers": "customers, tags and their profiles",
    "ingest": "imports: uploads, jobs, rejected rows",
    "identity": "identity resolution and the review queue",
    "integrations": "outbound event subscriptions and their deliveries",
    "segments": "segments, traits and predictions",
    "analytics": "reports and dashboards",
    "engagement": "sends, channel accounts, the contact policy, journeys, content, guide tasks",
    "acquisition": "live codes (活码)",
    "community": "groups, the chat archive, handovers",
    "loyalty": "points, coupons, tiers, earning rules, check-in, the points mall",
    "surveys": "surveys and answers",
    "privacy": "privacy requests",
}
ALL = "*"
READ, WRITE = "read", "write"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A token made before scopes existed, or by `siyu createtoken`, may do what its user may do (ALL).


class ScopeError(SiyuError):
    """A scope that names no area or no access."""


def parse_scope(text: str) -> str:
    """One scope, normalised (`Customers:Read` -> `customers:read`, `all` -> `*`); ScopeError in words."""
    scope = (text or "").strip().lower()
    if scope in (ALL, "all", "*:write"):
        return ALL
    area, _, access = scope.partition(":")
    if area != ALL and area not in AREAS:
        raise ScopeError(f"unknown area {area!r} in scope {text!r}; areas: {', '.join(AREAS)}")
    if access not in (READ, WRITE):
        raise ScopeError(f"a scope is AREA:read or AREA:write (or *), not {text!r}")
    return f"{area}:{access}"


def parse_scopes(texts) -> list[str]:
    scopes = sorted({parse_scope(t) for text in texts for t in str(text).split(",") if t.strip()})
    if not scopes:
        raise ScopeError("give at least one scope, e.g. customers:read (or * for everything)")
    return [ALL] if ALL in scopes else scopes


def access_for(method: str) -> str:
    return READ if method.upper() in READ_METHODS else WRITE


def allows(scopes: list[str], area: str | None, access: str) -> bool:
    """Whether `scopes` cover `access` (read/write) in `area`. A route outside every area (area None) is
    open only to a token with every scope."""
    granted = set(scopes or ())
    if ALL in granted:
        return True
    if area is None:
        return False
    wanted = {f"{area}:{WRITE}", f"{ALL}:{WRITE}"}
    if access == READ:
        wanted |= {f"{area}:{READ}", f"{ALL}:{READ}"}
    return bool(granted & wanted)
