"""A real `siyu serve` for the browser tests: the environment, a free port, start, wait, stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("SIYU_E2E_SCREENSHOTS", "/tmp/siyu-e2e"))


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the e2e test never downloads a browser")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def siyu_env(home: Path) -> dict:
    """This process's environment without its Django/Siyu settings, pointed at `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"}
    env.update({"SIYU_HOME": str(home), "DJANGO_SETTINGS_MODULE": "siyu.project.settings", "PYTHONUNBUFFERED": "1"})
    # the fake providers run in the test's process on loopback, which the server's outbound guard refuses
    # unless an admin allows it (docs/deployment.md): the tests allow it as an admin would
    env["SIYU_OUTBOUND_ALLOWED_HOSTS"] = "127.0.0.1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(env: dict, home: Path):
    """`siyu serve` on a free port until the block ends; yields (process, base URL, port). Fails the test
    with the server's log when it exits or does not answer within 90 s."""
    port = free_port()
    log_path = home / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"siyu serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/login/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"siyu serve did not answer in time:\n{log_path.read_text()}")
            time.sleep(0.3)
        try:
            yield proc, base, port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail("siyu serve did not stop on SIGTERM")


OPERATOR_PASSWORD = "ops-pass-2026"


@contextmanager
def operator_server(warehouse: Path, tmp_path: Path, extra_env: dict | None = None):
    """`siyu serve` over a copy of the `warehouse` file, with the operator account `ops`
    (OPERATOR_PASSWORD) and `extra_env`; yields the base URL."""
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(warehouse, home / "warehouse.duckdb")
    env = {**siyu_env(home), **(extra_env or {})}
    subprocess.run(
        [sys.executable, "-m", "siyu.cli", "createuser", "ops", "--role", "operator", "--password", OPERATOR_PASSWORD],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with running_server(env, home) as (_proc, base, _port):
        yield base


def operator_page(playwright, base: str):
    """A logged-in operator's page in Debian's chromium (zh-CN, desktop size); the caller closes
    page.context.browser."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"], headless=True
    )
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    page.goto(f"{base}/login/")
    page.fill('input[name="username"]', "ops")
    page.fill('input[name="password"]', OPERATOR_PASSWORD)
    page.click('button[type="submit"].primary')
    page.wait_for_url(f"{base}/")
    return page
