"""End to end: the review queue in a real `siyu serve`, driven by Debian's chromium (Playwright).

On a demo brand (imported and resolved once per session), an operator opens 身份核对: the entries and the
rules read in Chinese, without the model's codes. They pick one rule, decide all its pairs of customers
in one click, run identity resolution from the page, and the customer the rule joined explains on its
profile that a reviewer decided it, by which rule. Skips when /usr/bin/chromium is missing."""

from __future__ import annotations

import re
import time

import pytest
from django.conf import settings
from e2e_server import SCREENSHOTS, operator_page, operator_server

pytestmark = pytest.mark.e2e

CODES = ("same ", "below the match", "conflict", "no phone", "phone_full", "shared|")


@pytest.fixture(scope="session")
def resolved_brand(tmp_path_factory):
    """A demo brand of 1,500 people imported and resolved into a template warehouse file."""
    from django.test import override_settings

    from siyu.demo.generate import generate_brand
    from siyu.identity.actions import resolve_identities
    from siyu.identity.queries import review_counts
    from siyu.ingest.actions import import_files
    from siyu.warehouse import connection

    root = tmp_path_factory.mktemp("review-brand")
    manifest = generate_brand(root / "brand", people=1500, seed=3)
    path = root / "warehouse.duckdb"
    connection.close()
    with override_settings(WAREHOUSE_PATH=path):
        try:
            for f in manifest.files:
                import_files([f.path], source=f.source, format=f.format)
            resolve_identities()
            counts = review_counts()
        finally:
            connection.close()
    assert counts["waiting"] > 0, counts
    return path


def test_an_operator_decides_a_rule_and_the_profile_says_so(resolved_brand, tmp_path):
    from playwright.sync_api import sync_playwright

    # the PII and match keys the warehouse was written with: resolution decrypts names
    keys = {"SIYU_PII_KEY": settings.PII_KEY_HEX, "SIYU_MATCH_KEY": settings.MATCH_KEY_HEX}
    with operator_server(resolved_brand, tmp_path, keys) as base, sync_playwright() as playwright:
        page = operator_page(playwright, base)
        page.goto(f"{base}/identity/review/")
        assert page.locator("h1").first.inner_text() == "身份核对"
        main = page.locator("main").inner_text()
        assert "对客户可能是同一人" in main and "按证据批量判定" in main
        assert not [code for code in CODES if code in main], main[:2000]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=False)

        # one rule: its pairs only, then all of them decided in one click
        rule = page.locator("#review-rules tbody tr").first
        rule.locator("td a").first.click()
        page.wait_for_url(re.compile(r"/identity/review/\?rule="))
        assert "只看这类证据的配对" in page.locator("#review-filter").inner_text()
        survivor = page.locator("section.review-pair").first.get_attribute("data-customers").split("-")[0]
        page.goto(f"{base}/identity/review/")
        page.locator("#review-rules tbody tr").first.locator('button[value="same"]').click()
        page.wait_for_url(f"{base}/identity/review/")
        assert "判为同一人" in page.locator(".messages").inner_text()
        assert "将在下次身份识别时生效" in page.locator("#review-pending").inner_text()

        page.click("#review-resolve-button")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        page.wait_for_function(
            "() => ['done', 'failed'].includes(document.querySelector('#job-progress')?.dataset.status)",
            timeout=180_000,
        )
        status = page.locator("#job-progress").get_attribute("data-status")
        assert status == "done", page.locator("main").inner_text()
        time.sleep(0.5)
        page.goto(f"{base}/customers/{survivor}/")
        joins = page.locator("#joins").inner_text()
        assert "判定为同一人" in joins and "按规则" in joins, joins
        page.locator("#joins").screenshot(path=str(SCREENSHOTS / "profile-joins.png"))
        page.context.browser.close()
