"""`siyu bench load` end to end at a tiny size: a real `siyu serve`, locust's API clients and operators for a
few seconds, and every accepted event and order counted in the warehouse afterwards, once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from e2e.e2e_server import siyu_env

pytestmark = pytest.mark.slow


def control_plane(home) -> str:
    try:
        socket.create_connection(("127.0.0.1", 5432), 2).close()
    except OSError:
        return f"sqlite:///{home / 'control.sqlite3'}"
    return "postgres://postgres@127.0.0.1:5432/siyu_bench_load_test"


def test_bench_load_counts_every_accepted_event_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "siyu.cli", "bench", "load", "--people", "300", "--users", "3", "--api-users", "1",
         "--batch", "50", "--duration", "6", "--database-url", control_plane(home), "--json"],
        env=siyu_env(home), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["events_accepted"] > 0
    assert result["warehouse_events"] == result["warehouse_events_distinct"] == result["events_accepted"]
    assert result["warehouse_orders_distinct"] == result["orders_accepted"]
    assert result["counts_agree"] and result["server_errors_5xx"] == 0
    assert any(line.startswith("api events batch") for line in result["pages"])
    # before the load, one operator opened every page once: each answered
    opened = {line.split("  ")[0].strip(): line.rstrip().endswith("(200)") for line in result["warm_up_alone"]}
    assert {"customer list", "customer profile", "segments", "segment", "analytics funnel"} <= set(opened)
    assert all(opened.values()), result["warm_up_alone"]
