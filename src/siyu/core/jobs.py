"""The job registry: which function runs a job of each kind. Core knows no domain, so each app registers its
runners in its AppConfig.ready() (as apps register their admin classes), and the data plane registers how a
process claims it."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

# kind -> a function taking (job, progress) and returning a JSON-able result dict
_RUNNERS: dict[str, Callable] = {}
_claim_data_plane: Callable[[], None] | None = None


def register_job(kind: str, runner: Callable) -> None:
    if kind in _RUNNERS and _RUNNERS[kind] is not runner:
        raise ImproperlyConfigured(f"job kind {kind!r} registered twice")
    _RUNNERS[kind] = runner


def job_runner(kind: str) -> Callable:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise ImproperlyConfigured(f"no runner registered for job kind {kind!r}") from None


def job_kinds() -> list[str]:
    return sorted(_RUNNERS)


def register_data_plane(claim: Callable[[], None]) -> None:
    """`claim()` returns when this process may run jobs on the data plane and raises
    siyu.core.errors.DataPlaneBusy when another process owns it (the DuckDB file's one-owner rule)."""
    global _claim_data_plane
    _claim_data_plane = claim


def claim_data_plane() -> None:
    if _claim_data_plane is not None:
        _claim_data_plane()
