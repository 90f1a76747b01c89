"""Rows of erased people are not imported again (PIPL art. 47): the keyed hashes of their identifiers are
kept on a suppression list, and a file's row carrying one of them is dropped before anything of it is
written — not landed, not kept among the rejected rows — and counted in the import report.

The list is privacy's (siyu.privacy.erasure), which sits above ingest: it registers its lookup here in
AppConfig.ready(). With nothing registered, or an empty list, nothing is checked (no cost)."""

from __future__ import annotations

from collections.abc import Callable

# given keyed hashes, return those on the suppression list; `any_suppressed()` answers whether the list has
# anything at all (so an import of a brand that never erased anyone does no work)
_lookup: Callable[[set[str]], set[str]] | None = None
_any: Callable[[], bool] | None = None


def register_suppression(lookup: Callable[[set[str]], set[str]], any_suppressed: Callable[[], bool]) -> None:
    global _lookup, _any
    _lookup, _any = lookup, any_suppressed


def active() -> bool:
    return _lookup is not None and _any is not None and _any()


def suppressed(hashes: set[str]) -> set[str]:
    if _lookup is None or not hashes:
        return set()
    return _lookup(hashes)
