"""End to end: the page 预测与校准 in a real `siyu serve`, drawn by Debian's chromium (Playwright): an
operator opens it on the synthetic brand of tests/segments/prediction_data.py (predicted once per
session), and the reliability curve, the decile lift and the BG/NBD check are drawn by ECharts with their
definitions under them. Skips when /usr/bin/chromium is missing; never downloads a browser."""

from __future__ import annotations

import pytest
from e2e_server import SCREENSHOTS, operator_page

pytestmark = pytest.mark.e2e


def test_the_calibration_charts_are_drawn(predicted_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        page = operator_page(playwright, predicted_server)
        page.click('a[href="/predictions/"]')
        page.wait_for_url(f"{predicted_server}/predictions/")
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
