"""End to end: the page 预测与校准 in a real `siyu serve`, drawn by Debian's chromium (Playwright): an
operator opens it on the synthetic brand of tests/segments/prediction_data.py (predicted once per
session), and the reliability curve, the decile lift and the BG/NBD check are drawn by ECharts with their
definitions under them. Skips when /usr/bin/chromium is missing; never downloads a browser."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("SIYU_E2E_SCREENSHOTS", "/tmp/siyu-e2e"))
PASSWORD = "ops-pass-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(predicted_template, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(predicted_template["path"], home / "warehouse.duckdb")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"
    }
    env.update(
        {"SIYU_HOME": str(home), "DJANGO_SETTINGS_MODULE": "siyu.project.settings", "PYTHONUNBUFFERED": "1"}
    )
    subprocess.run(
        [sys.executable, "-m", "siyu.cli", "createuser", "ops", "--role", "operator", "--password", PASSWORD],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"siyu serve exited:\n{(home / 'serve.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/login/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"siyu serve did not answer:\n{(home / 'serve.log').read_text()}")
        time.sleep(0.3)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def test_the_calibration_charts_are_drawn(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"], headless=True
        )
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{server}/login/")
        page.fill('input[name="username"]', "ops")
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"].primary')
        page.wait_for_url(f"{server}/")
        page.click('a[href="/predictions/"]')
        page.wait_for_url(f"{server}/predictions/")
        assert page.locator("h1").inner_text() == "预测与校准"
        for chart in ("chart-reliability", "chart-lift", "chart-bgnbd"):
            locator = page.locator(f"#{chart}")
            locator.locator("canvas").first.wait_for(timeout=30_000)
            assert locator.get_attribute("data-drawn") == "true"
            caption = page.locator(f"figure:has(#{chart}) figcaption").inner_text()
            assert caption.startswith("定义")
        assert float(page.locator('[data-stat="auc"] .stat-value').inner_text()) > 0.75
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "predictions.png"), full_page=True)
        browser.close()
