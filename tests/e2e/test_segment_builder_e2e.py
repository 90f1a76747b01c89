"""End to end: the point-and-click segment builder in a real `siyu serve`, driven in Debian's chromium
(Playwright). An operator opens 新建人群 on the synthetic brand of tests/segments/prediction_data.py, adds
a condition by picking a field and a value, negates it, watches the live count follow, and saves; the saved
segment holds the rule the clicks wrote. Skips when /usr/bin/chromium is missing; never downloads a browser."""

from __future__ import annotations

import json
import re

import pytest
from e2e_server import SCREENSHOTS, operator_page

pytestmark = pytest.mark.e2e


def _count(page) -> int:
    text = page.locator("#segment-preview h2").inner_text()
    return int(re.search(r"[\d,]+", text)[0].replace(",", ""))


def _rule(page) -> dict:
    return json.loads(page.locator("#rule-json").input_value())


def test_an_operator_builds_a_segment_by_pointing_and_clicking(predicted_server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        page = operator_page(playwright, predicted_server)
        page.goto(f"{predicted_server}/segments/new/")

        # the example rule is drawn as three conditions, and counted
        conditions = page.locator("#rule-builder .rb-condition")
        expect(conditions).to_have_count(3)
        expect(page.locator("#segment-preview h2")).to_contain_text("位客户符合")
        # start from one condition: remove the example's other two
        page.locator("#rule-builder .rb-condition .rb-remove").nth(2).click()
        page.locator("#rule-builder .rb-condition .rb-remove").nth(1).click()
        expect(conditions).to_have_count(1)
        conditions.first.locator("select[data-rb-field]").select_option("value_layer")
        conditions.first.locator("select[data-rb-op]").select_option("=")
        conditions.first.locator("select").last.select_option("top")
        assert _rule(page) == {"all": [{"field": "value_layer", "op": "=", "value": "top"}]}
        expect(page.locator("#segment-preview h2")).to_contain_text("位客户符合")
        page.wait_for_load_state("networkidle")
        top = _count(page)

        # add a second condition, a number field, and negate it
        page.locator('#rule-builder [data-rb-add="condition"]').click()
        expect(conditions).to_have_count(2)
        second = conditions.nth(1)
        second.locator("select[data-rb-field]").select_option("orders_total")
        second.locator("select[data-rb-op]").select_option(">=")
        second.locator("input[data-rb-value]").fill("2")
        second.locator("input[data-rb-value]").dispatch_event("change")
        second.locator("input[data-rb-not]").check()
        assert _rule(page)["all"][1] == {"not": {"field": "orders_total", "op": ">=", "value": 2}}
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(600)  # the preview's htmx delay
        page.wait_for_load_state("networkidle")
        assert _count(page) <= top

        page.fill('input[name="name"]', "头部单次买家")
        page.click('form.segment-form button[type="submit"]')
        page.wait_for_url(re.compile(rf"{predicted_server}/segments/\d+/$"))
        saved = json.loads(page.locator("pre").first.text_content())
        assert saved == {
            "all": [
                {"field": "value_layer", "op": "=", "value": "top"},
                {"not": {"field": "orders_total", "op": ">=", "value": 2}},
            ]
        }
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.goto(f"{predicted_server}/segments/new/")
        expect(conditions).to_have_count(3)

        # a customer-group condition: early leavers of VIP groups, picked by their words
        conditions.first.locator("select").nth(0).select_option(label="在客户群中")
        first = page.locator('#rule-builder .rb-condition[data-rb="customer_group"]')
        first.locator('select[data-rb-key="type"]').select_option(label="会员群")
        first.locator('input[data-rb-key="left_within_days"]').fill("7")
        first.locator('input[data-rb-key="left_within_days"]').dispatch_event("change")
        assert _rule(page)["all"][0] == {"customer_group": {"type": "vip", "left_within_days": 7}}
        expect(page.locator("#segment-preview h2")).to_contain_text("位客户符合")

        # a loyalty condition: members with at least 300 available points (the mirror's warehouse table)
        conditions.nth(1).locator("select").nth(0).select_option(label="积分")
        points = page.locator('#rule-builder .rb-condition[data-rb="points"]')
        points.locator("input[data-rb-not]").uncheck()  # the example rule's second condition is negated
        points.locator('input[data-rb-key="at_least"]').fill("300")
        points.locator('input[data-rb-key="at_least"]').dispatch_event("change")
        assert _rule(page)["all"][1] == {"points": {"at_least": 300}}
        expect(page.locator("#segment-preview h2")).to_contain_text("位客户符合")
        page.screenshot(path=str(SCREENSHOTS / "segment-builder.png"), full_page=True)
        page.context.browser.close()
