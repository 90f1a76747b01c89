"""Where an import's time goes, stage by stage, for `siyu bench ingest --stages`.

An ordinary import overlaps its stages (the writer thread inserts one part while the next is prepared, the
content hashes run beside the validation), so no stage has a time of its own there. While `recording()` is
active the importer runs every stage one after the other instead, and each records its wall seconds and
the CPU seconds of the whole process (every thread: polars', DuckDB's and AES' work included) between its
start and its end. Outside `recording()`, `stage()` costs one global lookup.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

_stages: dict[str, dict[str, float]] | None = None


def sequential() -> bool:
    """True while recording: the importer must not overlap its stages."""
    return _stages is not None


@contextmanager
def recording():
    """Record the stages of the imports run inside; yields {stage: {seconds, cpu_seconds}}."""
    global _stages
    _stages = {}
    try:
        yield _stages
    finally:
        _stages = None


@contextmanager
def stage(name: str):
    if _stages is None:
        yield
        return
    wall, cpu = time.perf_counter(), os.times()
    try:
        yield
    finally:
        now = os.times()
        entry = _stages.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0})
        entry["seconds"] += time.perf_counter() - wall
        entry["cpu_seconds"] += now.user - cpu.user + now.system - cpu.system


class Laps:
    """Consecutive stages of one function without re-indenting it: `lap(name)` ends the stage that began
    at the previous lap (or at creation); `restart()` starts anew without recording (after a call whose
    stages record themselves)."""

    def __init__(self):
        self.restart()

    def restart(self) -> None:
        self._at = (time.perf_counter(), os.times()) if _stages is not None else None

    def lap(self, name: str) -> None:
        if _stages is None or self._at is None:
            return
        wall, cpu = self._at
        now = os.times()
        entry = _stages.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0})
        entry["seconds"] += time.perf_counter() - wall
        entry["cpu_seconds"] += now.user - cpu.user + now.system - cpu.system
        self.restart()
