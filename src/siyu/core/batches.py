"""Helpers for code that handles large batches of rows in Python."""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while a batch builds many objects that live until its
    end (requests, decisions, rows). Each allocation threshold otherwise re-walks every survivor: at a
    million sends a tick spent about 10 s of 51 s in it (docs/benchmarks.md). Reference counting still
    frees everything acyclic; the collector runs again after the batch."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
