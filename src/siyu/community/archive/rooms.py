"""What the archive needs to know about a group chat but does not own: its owner (the staff member a
sensitive-word alert is sent to) and its type (which rules watch it). The groups part knows both; it
registers its lookups here in CommunityConfig.ready() (the archive sits above groups in the layers, but the
lookups are plugged in rather than imported so that the archive works — alerts on the audit page only, rules
for "all" types only — before any group is synced)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

# room ids -> {room id: owner's WeCom userid}; rooms without a known owner are left out
_owner_lookup: Callable[[list[str]], dict[str, str]] | None = None
# room ids -> {room id: group type code (welfare, vip, product, city, other)}
_type_lookup: Callable[[list[str]], dict[str, str]] | None = None


def register_room_lookups(owners: Callable | None = None, types: Callable | None = None) -> None:
    global _owner_lookup, _type_lookup
    if owners is not None:
        _owner_lookup = owners
    if types is not None:
        _type_lookup = types


def owners_of(room_ids: Iterable[str]) -> dict[str, str]:
    rooms = sorted({r for r in room_ids if r})
    return dict(_owner_lookup(rooms)) if rooms and _owner_lookup is not None else {}


def types_of(room_ids: Iterable[str]) -> dict[str, str]:
    rooms = sorted({r for r in room_ids if r})
    return dict(_type_lookup(rooms)) if rooms and _type_lookup is not None else {}
