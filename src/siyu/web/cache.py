"""Figures computed from the warehouse, cached for the screens that show them, keyed on the data version.

The data version changes whenever a job (an import, a resolve, a refresh…) finishes. A figure is computed
once per data version, by one thread however many operators ask at once (the others wait for it). When the
version has moved on, the figure of the previous version is still shown, for at most `stale` seconds since
it was computed, while one background thread computes the new one: with API pushes resolved every few
seconds the version changes all the time, and an operator's click must not wait for a query of seconds
that the next push makes old again (`siyu bench load`, docs/benchmarks.md). A figure never outlives its
version by more than `stale` seconds (settings.STALE_FIGURES_SECONDS, SIYU_STALE_FIGURES_SECONDS, 30 by
default: a file import takes longer, so figures computed before it are not shown after it; 0 turns this
off), nor what lands without a job (an API push before its resolve, a send's touch) by more than
STALE_SECONDS.

The cache is in this process (values are not copied: callers must not change them); every web process of
an installation keeps its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.db import connections
from django.utils import translation

from siyu.core.models import Job
from siyu.warehouse import warehouse_key

STALE_SECONDS = 300.0  # at most this old, whatever the data version says
MAX_ENTRIES = 512

log = logging.getLogger(__name__)
_lock = threading.Lock()
_entries: OrderedDict[str, tuple[str, float, object]] = OrderedDict()  # key -> (version, computed at, value)
_computing: dict[str, threading.Event] = {}


def data_version() -> str:
    """The last finished job: changes whenever an import, resolve or refresh has changed the data."""
    last = (
        Job.objects.filter(finished_at__isnull=False).order_by("-finished_at").values("pk", "finished_at").first()
    )
    return f"{last['pk']}:{last['finished_at'].timestamp()}" if last else "none"


def cached(name: str, compute, *, version: str | None = None):
    """compute()'s value for this data version; `name` says what, with every input compute reads."""
    version = data_version() if version is None else version
    stale = float(getattr(settings, "STALE_FIGURES_SECONDS", 30))
    language = translation.get_language()
    key = f"{warehouse_key()}|{language}|{name}"
    while True:
        with _lock:
            entry = _entries.get(key)
            now = time.monotonic()
            if entry is not None and entry[0] == version and now - entry[1] < STALE_SECONDS:
                _entries.move_to_end(key)
                return entry[2]
            running = _computing.get(key)
            if entry is not None and now - entry[1] < stale:
                if running is None:  # the previous version's figure now, the new one computed meanwhile
                    _computing[key] = threading.Event()
                    threading.Thread(target=_refresh, args=(key, version, compute, language), daemon=True).start()
                return entry[2]
            if running is None:
                _computing[key] = threading.Event()
                break
        running.wait()  # another thread computes it: take its value (or compute it, if that one failed)
    try:
        value = compute()
        _store(key, version, value)
        return value
    finally:
        _done(key)


def _refresh(key: str, version: str, compute, language: str | None) -> None:
    try:
        with translation.override(language):
            _store(key, version, compute())
    except Exception:  # noqa: BLE001 - the figure stays the previous version's; the next click tries again
        log.exception("refreshing a cached figure failed")
    finally:
        _done(key)
        connections.close_all()  # this thread's control-plane connection


def _store(key: str, version: str, value) -> None:
    with _lock:
        _entries[key] = (version, time.monotonic(), value)
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def _done(key: str) -> None:
    with _lock:
        event = _computing.pop(key, None)
    if event is not None:
        event.set()


def clear() -> None:
    """Forget every cached figure (tests)."""
    with _lock:
        _entries.clear()
