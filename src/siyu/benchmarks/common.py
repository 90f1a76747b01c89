"""Shared helpers for `siyu bench`: machine facts, peak RSS, running a measured step in a child process
so that its peak memory is its own."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

import psutil


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_child(module: str, args: dict, env: dict | None = None) -> dict:
    """Run `python -m module` with JSON args on stdin; it prints one JSON object on its last line."""
    proc = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(fn) -> None:
    """Entry point of a child: args from stdin, result (plus its own peak RSS) to stdout."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
    django.setup()
    args = json.loads(sys.stdin.read() or "{}")
    result = fn(**args)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, default=str))


def demo_files(people: int, seed: int = 7, orders_per_buyer: float = 2.0) -> tuple[Path, object]:
    """The demo brand for a benchmark, generated once per size (and orders per buyer) and kept in
    SIYU_HOME/bench."""
    from django.conf import settings

    from siyu.demo.generate import generate_brand, load_manifest

    out = Path(settings.SIYU_HOME) / "bench" / f"people-{people}-seed-{seed}"
    if orders_per_buyer != 2.0:
        out = out.with_name(f"{out.name}-orders-{orders_per_buyer:g}")
    if (out / "manifest.json").exists():
        return out, load_manifest(out)
    return out, generate_brand(out, people=people, seed=seed, orders_per_buyer=orders_per_buyer)
