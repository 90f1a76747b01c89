"""End to end: the page 预测与校准 in a real `siyu serve`, drawn by Debian's chromium (Playwright): an
operator opens it on the synthetic brand of tests/segments/prediction_data.py (predicted once per
session), and the reliability curve, the decile lift and the BG/NBD check are drawn by ECharts with their
definitions under them. Skips when /usr/bin/chromium is missing; never downloads a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_server import CHROMIUM, require_browser, running_server, siyu_env

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(os.environ.get("SIYU_E2E_SCREENSHOTS", "/tmp/siyu-e2e"))
PASSWORD = "ops-pass-2026"


@pytest.fixture
def server(predicted_template, tmp_path):
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(predicted_template["path"], home / "warehouse.duckdb")
    env = siyu_env(home)
    subprocess.run(
        [sys.executable, "-m", "siyu.cli", "createuser", "ops", "--role", "operator", "--password", PASSWORD],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with running_server(env, home) as (_proc, base, _port):
        yield base


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
