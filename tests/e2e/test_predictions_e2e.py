"""End to end: the page 预测与校准 in a real `siyu serve`, drawn by Debian's chromium (Playwright): an
operator opens it on the synthetic brand of tests/segments/prediction_data.py (predicted once per
session), and the reliability curve, the decile lift and the BG/NBD check are drawn by ECharts with their
definitions under them. Skips when /usr/bin/chromium is missing; never downloads a browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_server import operator_page, operator_server

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(os.environ.get("SIYU_E2E_SCREENSHOTS", "/tmp/siyu-e2e"))


@pytest.fixture
def server(predicted_template, tmp_path):
    with operator_server(predicted_template["path"], tmp_path) as base:
        yield base


def test_the_calibration_charts_are_drawn(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        page = operator_page(playwright, server)
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
        page.context.browser.close()
