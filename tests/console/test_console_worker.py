"""`siyu worker` with the DuckDB warehouse, as a real process: it owns the file as `siyu serve` does, runs the
jobs CLI commands hand it, refuses a second worker or a server in words pointing to the Spark engine, and
stops cleanly on SIGTERM. `siyu serve --no-worker` is refused with DuckDB, at start."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from test_console_serve import JOB_FROM_ANOTHER_PROCESS, _env, _free_port, _serve

pytestmark = [pytest.mark.slow, pytest.mark.own_home]


def _worker(home):
    return subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "worker"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_line(proc, text: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"the process ended ({proc.wait()}) without saying {text!r}: {''.join(lines)}")


def test_a_duckdb_worker_owns_the_warehouse_runs_handed_jobs_and_refuses_company(tmp_path):
    home = tmp_path / "home"
    proc = _worker(home)
    try:
        _wait_for_line(proc, "is running")
        info = json.loads((home / "server.json").read_text())
        assert info["pid"] == proc.pid and info["role"] == "worker"

        out = subprocess.run(
            [sys.executable, "-c", JOB_FROM_ANOTHER_PROCESS], env=_env(home), capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["handed_over"] is True and result["status"] == "done", result

        second = _worker(home)
        output, _ = second.communicate(timeout=120)
        assert second.returncode != 0
        assert "siyu worker is already running" in output and "one process runs the jobs of a DuckDB" in output
        assert "SIYU_WAREHOUSE=spark://" in output and "Traceback" not in output

        server = _serve(home, _free_port())
        output, _ = server.communicate(timeout=120)
        assert server.returncode != 0 and "siyu worker is already running" in output
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Stopped." in output
    assert not (home / "server.json").exists()


def test_a_web_only_server_is_refused_with_duckdb_at_start(tmp_path):
    proc = _serve(tmp_path / "home", _free_port(), "--no-worker")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "--no-worker needs the Spark engine" in output and "could not read the warehouse" in output
    assert "Traceback" not in output
