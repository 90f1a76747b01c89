"""End to end: guide tasks in a real `siyu serve`, Debian's chromium driven by Playwright.

Three members are imported (a generic CSV naming each one's owner guide and last purchase) and resolved;
a static segment of them is refreshed. The operator writes a script in the content library and creates
tasks from the segment; the guide logs in on a phone-sized viewport, sees only their own tasks with the
script rendered for each customer, records a contact with an outcome and a note, and is refused (403) on
another guide's task; the store manager's guide report shows the completed task; the touchpoint × stage
grid shows the guide touch.

Never downloads a browser: uses /usr/bin/chromium (skips when it is missing). Screenshots go to
$SIYU_E2E_SCREENSHOTS (default /tmp/siyu-e2e).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from e2e_server import CHROMIUM, SCREENSHOTS, require_browser, running_server, siyu_env

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
USERS = [  # name, role, display name, store
    ("ops", "operator", "运营小张", None),
    ("guide1", "guide", "导购小王", "SH01"),
    ("guide2", "guide", "导购小李", "SH01"),
    ("mgr", "manager", "店长老陈", "SH01"),
]
PASSWORD = "e2e-pass-2026"
MEMBERS = (
    "member_no,name,phone,gender,owner_staff,order_id,order_time,amount,product\r\n"
    "M001,张伟,13812345601,女,导购小王,O1,2026-05-01 10:00:00,299.00,玫瑰精华水\r\n"
    "M002,李娜,13812345602,男,导购小王,O2,2026-05-02 11:00:00,158.00,山茶花洁面乳\r\n"
    "M003,王芳,13812345603,女,导购小李,O3,2026-05-03 12:00:00,66.00,润唇膏\r\n"
)
SETUP_SEGMENT = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
import django
django.setup()
from siyu import warehouse
from siyu.segments.actions import refresh_segment, save_segment
ids = warehouse.backend().table("customer_summary").customer_id.to_pyarrow().to_pylist()
segment = save_segment(None, "五月买家", customer_ids=sorted(ids), refresh="manual")
print(refresh_segment(segment.pk))
"""


def _siyu(env, *args, timeout=300):
    result = subprocess.run([sys.executable, "-m", "siyu.cli", *args], env=env, capture_output=True, text=True,
                            timeout=timeout)  # fmt: skip
    assert result.returncode == 0, f"siyu {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    home = tmp_path_factory.mktemp("siyu-guides-home")
    env = siyu_env(home)
    for name, role, display, store in USERS:
        extra = ["--store", store, "--store-name", "上海南京西路店"] if store else []
        _siyu(
            env, "createuser", name, "--role", role, "--password", PASSWORD, "--display-name", display, *extra
        )
    members = home / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    fields = ["member_no=id:member_no", *(f"{c}={c}" for c in
              ("name", "phone", "gender", "owner_staff", "order_id", "order_time", "amount", "product"))]  # fmt: skip
    _siyu(env, "import", str(members), "--source", "crm", "--format", "generic",
          *(arg for field in fields for arg in ("--map", field)))  # fmt: skip
    _siyu(env, "resolve")
    subprocess.run(
        [sys.executable, "-c", SETUP_SEGMENT], env=env, check=True, capture_output=True, timeout=300
    )
    with running_server(env, home) as (_proc, base, _port):
        yield {"base": base, "home": home}


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _login(page, base, username):
    page.goto(f"{base}/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"].primary')
    page.wait_for_url(f"{base}/")


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_operator_creates_tasks_guide_completes_on_a_phone_manager_sees_it(server, browser):
    base = server["base"]
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    ops = desk.new_page()
    _login(ops, base, "ops")

    # the operator writes a script in the content library
    ops.click("nav.mainnav >> text=素材库")
    ops.wait_for_url(f"{base}/engagement/content/")
    ops.fill('#script-form input[name="title"]', "五月回访")
    ops.fill('#script-form input[name="group"]', "复购回访")
    ops.fill(
        '#script-form textarea[name="body"]', "{name}您好，我是{store}的{guide}，{product}用得还习惯吗？"
    )
    ops.click("#script-form button[type=submit]")
    ops.wait_for_url(f"{base}/engagement/content/")
    assert ops.locator("[data-script]", has_text="五月回访").count() == 1

    # … and creates tasks for the segment, each for the customer's owner guide
    ops.click("nav.mainnav >> text=导购任务")
    ops.wait_for_url(f"{base}/engagement/tasks/")
    ops.select_option('#task-form select[name="segment"]', label="五月买家 (3)")
    ops.select_option('#task-form select[name="script"]', label="复购回访 · 五月回访")
    ops.fill('#task-form input[name="name"]', "五月买家回访")
    ops.click("#task-form button[type=submit]")
    ops.wait_for_url(re.compile(r"/engagement/tasks/\?batch=\d+"))
    assert "3" in ops.locator(".message.success").inner_text()
    cards = ops.locator("article[data-task]")
    assert cards.count() == 3
    other_task = ops.locator("article[data-task]", has_text="导购小李").get_attribute("data-task")
    _shot(ops, "guide-tasks-operator")

    # the guide, on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                has_touch=True, locale="zh-CN")  # fmt: skip
    guide = phone.new_page()
    _login(guide, base, "guide1")
    guide.click("nav.mainnav >> text=我的任务")
    guide.wait_for_url(f"{base}/engagement/tasks/")
    mine = guide.locator("article[data-task]")
    assert mine.count() == 2  # only their own
    messages = " ".join(mine.locator("[data-message]").all_inner_texts())
    assert "张女士您好，我是上海南京西路店的导购小王，玫瑰精华水用得还习惯吗？" in messages
    assert "李先生您好" in messages and "王女士" not in messages
    assert "138****" in guide.locator("article[data-task]").first.inner_text()  # masked phone
    # the page fits the phone: no sideways scrolling
    assert guide.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    first = mine.filter(has_text="张女士")
    first.locator('label:has(input[value="purchase_intent"])').tap()
    first.locator("textarea[name=note]").fill("周末到店试用")
    _shot(guide, "guide-tasks-phone")
    first.locator("button[type=submit]").tap()
    guide.wait_for_url(re.compile(r"/engagement/tasks/"))
    assert "已记录" in guide.locator(".message.success").inner_text()
    assert guide.locator("article[data-task]").count() == 1  # the open list shrank
    guide.goto(f"{base}/engagement/tasks/?status=done")
    done = guide.locator("article[data-task]")
    assert done.count() == 1 and "有购买意向" in done.inner_text() and "周末到店试用" in done.inner_text()
    # another guide's task: refused
    status = guide.evaluate(
        """async (id) => {
            const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
            const body = new FormData(); body.append('csrfmiddlewaretoken', token); body.append('outcome', 'reached');
            return (await fetch(`/engagement/tasks/${id}/complete/`, {method: 'POST', body})).status;
        }""",
        other_task,
    )
    assert status == 403
    assert guide.goto(f"{base}/engagement/tasks/report/").status == 403

    # the store manager's report
    manager = desk.new_page()
    manager.context.clear_cookies()
    _login(manager, base, "mgr")
    manager.goto(f"{base}/engagement/tasks/report/")
    row = manager.locator('tr[data-guide="导购小王"]')
    assert row.locator("[data-done]").inner_text() == "1"
    assert row.locator('[data-outcome="purchase_intent"]').inner_text() == "1"
    assert manager.locator('tr[data-guide="导购小李"] [data-done]').inner_text() == "0"
    _shot(manager, "guide-report")

    # the grid shows the guide's touch
    ops.context.clear_cookies()
    _login(ops, base, "ops")
    ops.goto(f"{base}/analytics/touch_grid/")
    ops.wait_for_function("() => document.querySelector('#chart-touch-grid canvas, #chart-touch-grid svg')")
    table = ops.locator('table[data-table="touchpoint_stage"]')
    guide_row = table.locator("tr", has_text="导购一对一")  # the touchpoint in words, not its code ("guide")
    assert "1" in guide_row.inner_text()
    _shot(ops, "touch-grid")
    desk.close()
    phone.close()
