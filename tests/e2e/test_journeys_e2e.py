"""End to end: an operator builds a journey with a holdout in the console (a real `siyu serve`, Debian's
chromium), activates it, imports a Taobao export with fresh orders and resolves; the journey's tick at the
end of the resolve job enrols the buyers, the outbox shows the treated buyers' sends (the holdout's as
suppressed), and the lift page shows both groups.

Uses the server and browser fixtures of test_console_e2e (a server of its own for this module)."""

from __future__ import annotations

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import pytest
from test_console_e2e import (  # noqa: F401 - fixtures
    TAOBAO_HEADER,
    _csv,
    _login,
    _shot,
    _upload,
    _wait_for_job,
    browser,
    siyu_server,
)

pytestmark = pytest.mark.e2e


def _orders(now_local: dt.datetime) -> bytes:
    stamp = now_local.strftime("%Y-%m-%d %H:%M:%S")
    buyers = [("tb_a", "赵一", "'13900000001"), ("tb_b", "钱二", "'13900000002"), ("tb_c", "孙三", "'13900000003"),
              ("tb_d", "李四", "'13900000004"), ("tb_e", "周五", "'13900000005"), ("tb_f", "吴六", "'13900000006")]  # fmt: skip
    rows = [
        [f'="99000{n}"', nick, "99.00", "交易成功", name, f"上海 上海市 徐汇区 漕溪路{n}号", phone, stamp, stamp,
         "玫瑰精华水", "1", "私域旗舰店"]
        for n, (nick, name, phone) in enumerate(buyers, start=1)
    ]  # fmt: skip
    return _csv(TAOBAO_HEADER, rows).encode("gbk")


def test_build_a_journey_trigger_it_with_an_import_and_read_the_lift(siyu_server, browser, tmp_path):  # noqa: F811
    base = siyu_server["base"]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _login(page, base, "ops")

    # --- build: settings, then the steps -----------------------------------------------------------
    page.goto(f"{base}/engagement/journeys/")
    assert page.locator("h1").first.inner_text() == "SOP 旅程"
    page.click("#new-journey")
    page.fill('input[name="name"]', "下单感谢")
    page.select_option('select[name="trigger_type"]', "event")
    page.select_option('select[name="trigger_event"]', "order_placed")
    page.fill('input[name="holdout_percent"]', "50")
    page.fill('input[name="cost_per_send"]', "0.05")
    page.click("#journey-form button[type=submit]")
    page.wait_for_url(re.compile(r"/engagement/journeys/\d+/$"))
    journey_url = page.url

    page.select_option('#add-step select[name="type"]', "send")
    page.wait_for_selector('#step-fields[data-step-type="send"]')
    page.fill('#add-step input[name="id"]', "thanks")
    page.select_option('#add-step select[name="channel"]', "webhook")
    page.fill('#add-step textarea[name="content"]', "感谢您的购买，{coupon} 已到账")
    page.fill('#add-step textarea[name="variables"]', "coupon=满100减10")
    page.select_option('#add-step select[name="before"]', "end")
    page.click("#add-step button[type=submit]")
    page.wait_for_selector('tr[data-step-id="thanks"]')
    # a branch before the send: VIPs (a tag nobody has) skip straight to the end
    page.select_option('#add-step select[name="type"]', "branch")
    page.wait_for_selector('#step-fields[data-step-type="branch"]')
    page.fill('#add-step textarea[name="rule"]', '{"tag": "会员:VIP"}')
    page.fill('#add-step input[name="then"]', "end")
    page.fill('#add-step input[name="else"]', "thanks")
    page.select_option('#add-step select[name="before"]', "thanks")
    page.click("#add-step button[type=submit]")
    page.wait_for_selector('tr[data-step-type="branch"]')
    types = page.locator("#journey-steps tbody tr").evaluate_all("rows => rows.map(r => r.dataset.stepType)")
    assert types == ["branch", "send", "exit"]
    # edit the send in place: the form comes filled with the step as it is
    page.click('a[data-edit-step="thanks"]')
    page.wait_for_selector('#add-step[data-editing="thanks"]')
    assert page.input_value('#add-step textarea[name="variables"]') == "coupon=满100减10"
    page.fill('#add-step textarea[name="content"]', "谢谢惠顾，{coupon} 已到账")
    page.click("#add-step button[type=submit]")
    page.wait_for_selector('#add-step:not([data-editing])')
    assert "谢谢惠顾" in page.locator('tr[data-step-id="thanks"]').inner_text()
    # moving the send above the branch that leads to it would loop without a wait: refused, nothing moves
    step_ids = "rows => rows.map(r => r.dataset.stepId)"
    page.click('tr[data-step-id="thanks"] [data-move="up"]')
    page.wait_for_selector(".message.error")
    assert page.locator("#journey-steps tbody tr").evaluate_all(step_ids)[1:] == ["thanks", "end"]
    # the exit moves up and back down
    page.click('tr[data-step-id="end"] [data-move="up"]')
    page.wait_for_selector('#journey-steps tbody tr:nth-child(2)[data-step-id="end"]')
    page.click('tr[data-step-id="end"] [data-move="down"]')
    page.wait_for_selector('#journey-steps tbody tr:nth-child(3)[data-step-id="end"]')
    page.click("#activate-journey")
    page.wait_for_selector('#journey-status[data-status="active"]')
    _shot(page, "journey-built")

    # --- trigger: an import of fresh orders, then resolve --------------------------------------------
    time.sleep(1.5)  # the orders' times (whole seconds) come after the activation
    now_local = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    _upload(page, siyu_server, tmp_path, "今日订单.csv", _orders(now_local), "tmall_flagship", "taobao")
    page.goto(f"{base}/import/")
    page.click("#resolve-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    _wait_for_job(page, siyu_server, "resolving identities")

    # --- the journey's counts, the outbox and the lift -------------------------------------------------
    page.goto(journey_url)
    enrolled = int(page.locator('[data-count="enrolled"]').inner_text())
    holdout = int(page.locator('[data-count="holdout"]').inner_text())
    assert enrolled == 6, page.content()
    branch_row = page.locator('tr[data-step-type="branch"]')
    assert int(branch_row.locator('[data-count="entered"]').inner_text()) + int(
        branch_row.locator('[data-count="holdout_entered"]').inner_text()
    ) == 6
    send_row = page.locator('tr[data-step-id="thanks"]')
    assert int(send_row.locator('[data-count="entered"]').inner_text()) == 6 - holdout
    _shot(page, "journey-counts")

    page.goto(f"{base}/engagement/outbox/?source=journey")
    rows = page.locator("table tbody tr")
    assert rows.count() == 6, page.content()
    text = page.locator("table").inner_text()
    assert text.count("对照组") + text.count("holdout") >= holdout  # the holdout's suppression reason
    _shot(page, "journey-outbox")

    page.goto(journey_url)
    page.click("#lift-link")
    page.wait_for_selector("#lift-table")
    treated = int(page.locator('[data-lift="treated_customers"]').inner_text())
    held = int(page.locator('[data-lift="holdout_customers"]').inner_text())
    assert (treated, held) == (6 - holdout, holdout)
    # every buyer entered with the order that triggered the journey: that order is not a later purchase
    assert page.locator('[data-lift="sends"]').inner_text() == str(6 - holdout)
    _shot(page, "journey-lift")
    context.close()
