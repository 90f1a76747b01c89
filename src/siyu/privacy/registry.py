"""What is held about one person, domain by domain: the registry the copy (PIPL art. 45) goes through.

Privacy sits low (DESIGN.md §7): it imports none of the domains above it. Each domain that holds data
about a person registers one PersonData per kind of data in its AppConfig.ready() — how to export it for one
customer id — so that a new domain joins the copy by registering, and privacy never needs to know it. How
a domain erases its part of a person is registered beside it (siyu.privacy.erasure.register_person_eraser).
The data of the domains below privacy (customers, the warehouse's records, orders and raw rows) are
registered by privacy itself (siyu.privacy.sections).

`export(customer_id)` returns a list of rows (dicts) — every row held for the customer id as it is now,
which after a merge includes what the absorbed customers brought — with the values a person can read
(decrypted, labels instead of codes where the domain has them). `columns` names each key: the archive's CSV
headers and JSON keys. A key missing from `columns` is written under its own name. The label and the headers
are gettext messages in the context COPY (`copy_word("Points")`, lazy: the archive renders them in the
language it is built in, Simplified Chinese unless English is asked for); the Chinese of a domain's words is
in that domain's catalogue (or the shared one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

COPY = "copy of personal data"  # the gettext context of the copy's words


def copy_word(text: str) -> Promise:
    """A word of the copy (a section's name or a header): translated when the copy is built, in its language."""
    return pgettext_lazy(COPY, text)


@dataclass(frozen=True)
class PersonData:
    name: str  # a stable code: the archive's file name (`<name>.csv`) and the key of the JSON's section
    label: Promise  # the section's name as the person reads it: copy_word(English)
    export: Callable[[int], list[dict]]
    columns: dict[str, Promise] = field(default_factory=dict)  # row key -> header: copy_word(English)
    order: int = 100  # where the section comes in the archive (profile first)


_REGISTRY: dict[str, PersonData] = {}


def register(data: PersonData) -> None:
    """Register (or replace: ready() may run twice in tests) how one kind of data about a person is
    exported."""
    if not data.name.isidentifier():
        raise ValueError(f"a person-data name is a plain code, not {data.name!r}")
    _REGISTRY[data.name] = data


def registered() -> list[PersonData]:
    """Every registration, in archive order."""
    return sorted(_REGISTRY.values(), key=lambda d: (d.order, d.name))


def get(name: str) -> PersonData | None:
    return _REGISTRY.get(name)
