"""A job whose process dies is seen failed, with the reason, by the next look; a CLI waiting on a server that
dies stops waiting and says so. Real processes, real SIGKILLs."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.own_home]

ROWS = 150_000  # enough for the import to be caught running on a loaded machine


def _env(home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"}
    env.update({"SIYU_HOME": str(home), "DJANGO_SETTINGS_MODULE": "siyu.project.settings", "PYTHONUNBUFFERED": "1"})
    return env


def _siyu(home, *args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", *args], env=_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs,
    )  # fmt: skip


def _export(tmp_path):
    path = tmp_path / "tmall.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,收货人手机\n")
        for i in range(ROWS):
            out.write(f"{10_000_000 + i},buyer{i},{10 + i % 90}.00,交易成功,2025-03-01 10:00:00,139{i:08d}\n")
    return path


def _job_row(home):
    """(status, progress_done) of the import job in the control plane ({SIYU_HOME}/siyu.sqlite3)."""
    try:
        with sqlite3.connect(home / "siyu.sqlite3", timeout=5) as db:
            return db.execute(
                "SELECT status, progress_done FROM core_job WHERE kind = 'import' ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
    except sqlite3.OperationalError:  # not created yet
        return None


def _wait_running(home, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _job_row(home)
        if row and row[0] == "running":
            return
        if proc.poll() is not None:
            pytest.fail(f"the process ended before the job was caught running: {proc.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("the import job never showed running")


def test_a_killed_cli_import_shows_failed_with_the_reason_in_the_jobs_list(tmp_path):
    home = tmp_path / "home"
    export = _export(tmp_path)
    importer = _siyu(home, "import", str(export), "--source", "tmall")
    _wait_running(home, importer)
    importer.send_signal(signal.SIGKILL)
    importer.wait()
    assert _job_row(home)[0] == "running"  # what the issue saw: nobody said otherwise

    listed = subprocess.run(
        [sys.executable, "-m", "siyu.cli", "jobs"], env=_env(home), capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if " import " in line)
    assert " failed " in line
    assert f"its process is gone (pid {importer.pid} on host {socket.gethostname()})" in line
    assert _job_row(home)[0] == "failed"  # recorded, not only shown


def test_a_cli_waiting_on_a_killed_server_stops_and_says_so(tmp_path):
    home = tmp_path / "home"
    export = _export(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _siyu(home, "serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 120
        while not (home / "server.json").exists():
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "siyu serve did not come up"
            time.sleep(0.2)
        waiting = _siyu(home, "import", str(export), "--source", "tmall")
        _wait_running(home, waiting)
        server.send_signal(signal.SIGKILL)
        server.wait()
        try:
            _out, err = waiting.communicate(timeout=120)  # a guard against waiting forever, not a speed check
        except subprocess.TimeoutExpired:
            waiting.kill()
            pytest.fail("the CLI is still waiting on a server that is gone")
        assert waiting.returncode == 1
        assert f"siyu serve (pid {server.pid}) stopped answering" in err
        assert "its process is gone" in err
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
