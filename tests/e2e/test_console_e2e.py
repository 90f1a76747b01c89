"""End to end: a real `siyu serve`, Debian's chromium driven by Playwright.

An operator uploads a GBK Taobao export and a Youzan export that share a buyer's phone, watches the
progress bars finish, resolves identities, opens the merged customer with both channels' orders and an
analytics page (its ECharts chart drawn, its definition under it); a
guide then sees only their own customers, with masked phones, and gets 403 on another guide's customer.

Never downloads a browser: uses /usr/bin/chromium (skips when it is missing). Screenshots go to
$SIYU_E2E_SCREENSHOTS (default /tmp/siyu-e2e).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from e2e_server import CHROMIUM, SCREENSHOTS, require_browser, running_server, siyu_env

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {"ops": "ops-pass-2026", "guide1": "guide1-pass-2026", "guide2": "guide2-pass-2026"}

TAOBAO_HEADER = [
    "订单编号",
    "买家会员名",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝总数量",
    "店铺名称",
]
TAOBAO_ROWS = [
    [
        '="880001"',
        "tb_zhangwei",
        "299.00",
        "交易成功",
        "张伟",
        "上海 上海市 静安区 南京西路1号",
        "'13812345678",
        "2026-03-01 10:00:00",
        "2026-03-01 10:01:00",
        "玫瑰精华水 150ml",
        "1",
        "私域旗舰店",
    ],
    [
        '="880002"',
        "tb_zhangwei",
        "158.00",
        "交易成功",
        "张伟",
        "上海 上海市 静安区 南京西路1号",
        "'13812345678",
        "2026-04-11 21:15:00",
        "2026-04-11 21:16:00",
        "山茶花洁面乳",
        "1",
        "私域旗舰店",
    ],
    [
        '="880003"',
        "tb_li***",
        "88.00",
        "交易关闭",
        "李*",
        "浙江省 杭州市 西湖区",
        "139****1111",
        "2026-04-12 09:00:00",
        "",
        "护手霜",
        "1",
        "私域旗舰店",
    ],
    [
        '="880004"',
        "tb_wangfang",
        "66.00",
        "交易成功",
        "王芳",
        "广东省 深圳市 南山区 科技园路2号",
        "'13700002222",
        "2026-05-20 12:00:00",
        "2026-05-20 12:00:30",
        "润唇膏",
        "2",
        "私域旗舰店",
    ],
]
YOUZAN_HEADER = [
    "订单号",
    "归属店铺",
    "订单状态",
    "订单创建时间",
    "买家付款时间",
    "订单实付金额",
    "全部商品名称",
    "收货人省份",
    "收货人城市",
    "收货人地区",
    "详细收货地址/提货地址",
    "收货人/提货人",
    "收货人手机号/提货人手机号",
    "买家昵称",
    "买家手机号",
]
YOUZAN_ROWS = [
    [
        "E20260618143000001",
        "私域有赞微商城",
        "交易成功",
        "2026-06-18 14:30:00",
        "2026-06-18 14:31:00",
        "458.00",
        "山茶花面霜 50g",
        "上海",
        "上海市",
        "静安区",
        "南京西路1号",
        "张伟",
        "13812345678",
        "伟",
        "13812345678",
    ],
    [
        "E20260620100000002",
        "私域有赞微商城",
        "交易成功",
        "2026-06-20 10:00:00",
        "2026-06-20 10:00:40",
        "120.50",
        "护手霜",
        "广东省",
        "深圳市",
        "南山区",
        "科技园路2号",
        "王芳",
        "13700002222",
        "芳芳",
        "13700002222",
    ],
]


def _csv(header, rows) -> str:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def _siyu(env, *args, check=True, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "siyu.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


CREATE_USERS_FALLBACK = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from siyu.staff.actions import create_user, ensure_store
store = ensure_store("SH01", "上海南京西路店")
for name, password, role, display in [("ops", sys.argv[1], "operator", "运营小张"),
                                      ("guide1", sys.argv[2], "guide", "导购小王"),
                                      ("guide2", sys.argv[3], "guide", "导购小李")]:
    create_user(name, password, role, store=store if role == "guide" else None, display_name=display)
"""


def _create_users(env) -> None:
    users = [
        ("ops", "operator", "运营小张", []),
        ("guide1", "guide", "导购小王", ["--store", "SH01", "--store-name", "上海南京西路店"]),
        ("guide2", "guide", "导购小李", ["--store", "SH01"]),
    ]
    help_text = _siyu(env, "createuser", "--help", check=False)
    if help_text.returncode == 0 and "--password" in help_text.stdout:
        for name, role, display, extra in users:
            _siyu(
                env,
                "createuser",
                name,
                "--role",
                role,
                "--password",
                PASSWORDS[name],
                "--display-name",
                display,
                *extra,
            )
        return
    subprocess.run(
        [
            sys.executable,
            "-c",
            CREATE_USERS_FALLBACK,
            PASSWORDS["ops"],
            PASSWORDS["guide1"],
            PASSWORDS["guide2"],
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def siyu_server(tmp_path_factory):
    require_browser()
    home = tmp_path_factory.mktemp("siyu-home")
    env = siyu_env(home)
    _create_users(env)
    with running_server(env, home) as (proc, base, port):
        info = json.loads((home / "server.json").read_text())
        assert info["pid"] == proc.pid and info["port"] == port and info["host"] == "127.0.0.1"
        yield {"base": base, "home": home, "proc": proc}
    assert not (home / "server.json").exists(), "siyu serve left server.json behind"


@pytest.fixture(scope="module")
def browser(siyu_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _login(page, base, username):
    page.goto(f"{base}/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORDS[username])
    page.click('button[type="submit"].primary')
    page.wait_for_url(f"{base}/")


def _serve_log(server) -> str:
    return (server["home"] / "serve.log").read_text()[-4000:]


def _wait_for_job(page, server, what: str, timeout_ms: int = 120_000):
    """Follow the HTMX-polled progress bar until the job is done; fail with the job's error otherwise."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    progress = page.locator("#job-progress")
    progress.wait_for()
    try:
        page.wait_for_function(
            "() => ['done', 'failed'].includes(document.querySelector('#job-progress')?.dataset.status)",
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"{what}: the job did not finish in {timeout_ms / 1000:.0f}s; the page shows\n"
            f"{page.locator('#job-progress').inner_text()}\n--- siyu serve log ---\n{_serve_log(server)}"
        )
    status = page.locator("#job-progress").get_attribute("data-status")
    if status != "done":
        error = page.locator(".errortext").inner_text() if page.locator(".errortext").count() else ""
        pytest.fail(
            f"{what} failed (this step depends on the importer/resolver):\n{error}\n"
            f"--- siyu serve log ---\n{_serve_log(server)}"
        )
    assert page.locator('#job-progress [role="progressbar"]').get_attribute("aria-valuenow") == "100"


# The texts an ECharts chart drew (its zrender display list) whose box leaves the chart's.
_LABELS_OUTSIDE_THE_CHART = """(id) => {
    const chart = echarts.getInstanceByDom(document.getElementById(id));
    const width = chart.getWidth(), height = chart.getHeight();
    const outside = [], texts = [];
    let drawn = 0;
    chart.getZr().storage.getDisplayList(true).forEach((el) => {
        if (!el.style || typeof el.style.text !== "string" || !el.style.text) return;
        drawn += 1;
        const box = el.getBoundingRect().clone();
        if (el.transform) box.applyTransform(el.transform);
        texts.push(el.style.text);
        if (box.x < 0 || box.y < 0 || box.x + box.width > width || box.y + box.height > height) outside.push(el.style.text);
    });
    return {drawn, outside, texts};
}"""


def _shot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def _upload(page, server, tmp_path, name, content: bytes, source, fmt):
    base = server["base"]
    path = tmp_path / name
    path.write_bytes(content)
    page.goto(f"{base}/import/")
    page.set_input_files('input[name="files"]', str(path))
    page.fill('input[name="source"]', source)
    page.select_option('select[name="format"]', fmt)
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    # the bar is there while the server's worker runs the job, polled every 500 ms
    assert page.locator('#job-progress [role="progressbar"]').count() == 1
    _wait_for_job(page, server, f"importing {name}")


def test_import_resolve_and_guide_visibility(siyu_server, browser, tmp_path):
    base = siyu_server["base"]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()

    # --- operator: import two channels ---------------------------------------------------------
    _login(page, base, "ops")
    assert page.locator("h1").first.inner_text() == "概览"
    _upload(
        page,
        siyu_server,
        tmp_path,
        "淘宝订单导出.csv",
        _csv(TAOBAO_HEADER, TAOBAO_ROWS).encode("gbk"),
        "tmall_flagship",
        "taobao",
    )
    assert page.locator('[data-report-value="rows_read"]').inner_text() == "4"
    _shot(page, "import-report")
    _upload(
        page,
        siyu_server,
        tmp_path,
        "youzan_orders.csv",
        _csv(YOUZAN_HEADER, YOUZAN_ROWS).encode("utf-8-sig"),
        "youzan_shop",
        "youzan",
    )
    assert page.locator('[data-report-value="rows_read"]').inner_text() == "2"

    # --- resolve identities ----------------------------------------------------------------------
    page.goto(f"{base}/import/")
    page.click("#resolve-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    _wait_for_job(page, siyu_server, "resolving identities")

    # --- the merged customer: both channels' orders ----------------------------------------------
    page.goto(f"{base}/customers/?q=13812345678")
    rows = page.locator("tr[data-customer-id]")
    assert rows.count() == 1, page.content()
    zhang_id = rows.first.get_attribute("data-customer-id")
    assert "13812345678" in rows.first.inner_text()  # operators see the phone in clear
    page.goto(f"{base}/customers/?q=13700002222")
    wang_id = page.locator("tr[data-customer-id]").first.get_attribute("data-customer-id")
    assert wang_id and wang_id != zhang_id

    page.goto(f"{base}/")
    assert page.locator('[data-stat="customers"]').inner_text() == "3"
    _shot(page, "dashboard")
    # the home: four key figures with their trend, what needs a person (zero said calmly), the last jobs
    assert page.locator("[data-figure]").count() == 4
    trend = page.locator('[data-trend="gmv"]')
    expected = {"none": "上一周期无数据", "flat": "持平", "up": "↑", "down": "↓"}[
        trend.get_attribute("data-direction")
    ]
    assert trend.inner_text().strip().startswith(expected)
    assert page.locator("#home-needs li[data-need]").count() == 5
    assert "识别身份" in page.locator("#home-jobs").inner_text()
    date_from = page.locator("#home-period").get_attribute("data-date-from")
    date_to = page.locator("#home-period").get_attribute("data-date-to")
    page.click('[data-figure="gmv"]')  # the GMV figure opens the GMV tree over the same days
    page.wait_for_url(re.compile(r"/analytics/gmv_tree/\?"))
    assert page.locator("h1").first.inner_text() == "GMV 拆解树"
    assert page.locator('input[name="date_from"]').first.input_value() == date_from
    assert page.locator('input[name="date_to"]').first.input_value() == date_to
    page.goto(f"{base}/import/")
    _shot(page, "import-page")
    page.goto(f"{base}/customers/")
    _shot(page, "customer-list")
    page.click(f'tr[data-customer-id="{zhang_id}"] a.customer-link')
    page.wait_for_url(f"{base}/customers/{zhang_id}/")
    assert page.locator('article.order[data-source="tmall_flagship"]').count() == 2
    assert page.locator('article.order[data-source="youzan_shop"]').count() == 1
    assert "山茶花面霜" in page.locator("#orders").inner_text()
    assert page.locator('[data-stat="orders"]').inner_text() == "3"
    _shot(page, "customer-profile")

    # --- analytics: a page draws its ECharts chart with the definition under it --------------------
    page.goto(f"{base}/analytics/funnel/?date_from=2026-03-01&date_to=2026-06-30")
    assert page.locator("h1").first.inner_text() == "漏斗与用户池"
    chart = page.locator("#chart-funnel-all")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == "true"
    definition = page.locator("figure.chart-block .definition").first.inner_text()
    assert "定义" in definition and "私域" in definition
    _shot(page, "analytics-funnel")
    # the GMV tree draws every label inside its box (a GMV in the millions: test_a_gmv_in_the_millions…)
    page.goto(f"{base}/analytics/gmv_tree/?date_from=2026-03-01&date_to=2026-06-30")
    page.locator("#chart-gmv-tree canvas").wait_for()
    labels = page.evaluate(_LABELS_OUTSIDE_THE_CHART, "chart-gmv-tree")
    assert labels["drawn"] >= 7 and labels["outside"] == [], labels

    # --- hand the two customers to two guides ----------------------------------------------------
    for customer_id, guide in ((zhang_id, "导购小王"), (wang_id, "导购小李")):
        page.goto(f"{base}/customers/{customer_id}/")
        page.select_option('select[name="owner"]', label=guide)
        page.click('form[action$="/owner/"] button[type=submit]')
        page.wait_for_url(re.compile(rf"/customers/{customer_id}/"))
        assert guide in page.locator("#owner").inner_text()

    # --- a manual merge, then its undo: both customers come back exactly ---------------------------
    def resolve_from_review_page():
        page.goto(f"{base}/identity/review/")
        page.click("#review-resolve-button")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        _wait_for_job(page, siyu_server, "resolving identities")

    survivor, absorbed = sorted((zhang_id, wang_id), key=int)
    page.goto(f"{base}/customers/{survivor}/")
    page.fill('#identity-history input[name="other_id"]', absorbed)
    page.fill('#identity-history form:has(input[name="other_id"]) input[name="reason"]', "同一人：电话确认")
    page.click('#identity-history form:has(input[name="other_id"]) button')
    page.wait_for_url(re.compile(rf"/customers/{survivor}/"))
    resolve_from_review_page()
    page.goto(f"{base}/")
    assert page.locator('[data-stat="customers"]').inner_text() == "2"
    page.goto(f"{base}/customers/{survivor}/")
    history = page.locator("#identity-history")
    assert f"#{absorbed} 并入 #{survivor}" in history.inner_text() and "人工判定" in history.inner_text()
    _shot(page, "identity-history")
    history.locator('input[name="reason"]').first.fill("两个人")
    history.locator('form:has(input[name="absorbed_id"]) button').click()
    page.wait_for_url(re.compile(rf"/customers/{survivor}/"))
    resolve_from_review_page()
    page.goto(f"{base}/")
    assert page.locator('[data-stat="customers"]').inner_text() == "3"
    for customer_id, guide in ((zhang_id, "导购小王"), (wang_id, "导购小李")):
        page.goto(f"{base}/customers/{customer_id}/")
        assert guide in page.locator("#owner").inner_text()

    # --- English -------------------------------------------------------------------------------------
    page.goto(f"{base}/customers/")
    page.click('form.langswitch button[value="en"]')
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text() == "Customers"
    _shot(page, "customer-list-en")
    page.click('form.langswitch button[value="zh-hans"]')
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text() == "客户"
    page.click('form[action="/logout/"] button')
    page.wait_for_url(re.compile(r"/login/"))
    context.close()

    # --- a guide on a phone: own customers only, masked, 403 elsewhere --------------------------
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = phone.new_page()
    _login(page, base, "guide1")
    page.goto(f"{base}/customers/")
    ids = [row.get_attribute("data-customer-id") for row in page.locator("tr[data-customer-id]").all()]
    assert ids == [zhang_id]
    listing = page.locator("table.customers").inner_text()
    assert "138****5678" in listing and "13812345678" not in listing
    _shot(page, "guide-customer-list-phone")
    response = page.goto(f"{base}/customers/{wang_id}/")
    assert response.status == 403
    assert "403" in page.locator(".errorcode").inner_text()
    _shot(page, "guide-403-phone")
    page.goto(f"{base}/customers/{zhang_id}/")
    assert "138****5678" in page.locator(".profile-head").inner_text()
    _shot(page, "guide-profile-phone", full_page=False)
    page.locator("#orders").scroll_into_view_if_needed()
    _shot(page, "guide-profile-phone-orders", full_page=False)
    response = page.goto(f"{base}/import/")
    assert response.status == 403
    phone.close()


# A flagship's wholesale quarter of 2025 (before the other test's orders): five orders, ¥12,345,678.90 in all
MILLIONS_ROWS = [
    [f'="77000{n}"', f"tb_big{n}", amount, "交易成功", name, "上海 上海市 浦东新区 世纪大道100号", phone,
     f"2025-02-{10 + n} 10:00:00", f"2025-02-{10 + n} 10:01:00", "玫瑰精华水 整箱", "1000", "私域旗舰店"]
    for n, (amount, name, phone) in enumerate([
        ("2469135.78", "周一", "'13600000001"), ("2469135.78", "吴二", "'13600000002"),
        ("2469135.78", "郑三", "'13600000003"), ("2469135.78", "王四", "'13600000004"),
        ("2469135.78", "冯五", "'13600000005"),
    ], start=1)
]  # fmt: skip


def test_a_gmv_in_the_millions_is_drawn_inside_the_gmv_tree(siyu_server, browser, tmp_path):
    """The tree's root label sits left of the root: with a GMV of ¥12,345,678.90 it was cut at the left
    edge of the chart (its left margin was a fixed 90 px)."""
    base = siyu_server["base"]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _login(page, base, "ops")
    _upload(page, siyu_server, tmp_path, "批发订单.csv", _csv(TAOBAO_HEADER, MILLIONS_ROWS).encode("gbk"),
            "tmall_wholesale", "taobao")  # fmt: skip
    page.goto(f"{base}/import/")
    page.click("#resolve-button")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    _wait_for_job(page, siyu_server, "resolving identities")

    page.goto(f"{base}/analytics/gmv_tree/?date_from=2025-01-01&date_to=2025-03-31")
    page.locator("#chart-gmv-tree canvas").wait_for()
    labels = page.evaluate(_LABELS_OUTSIDE_THE_CHART, "chart-gmv-tree")
    _shot(page, "analytics-gmv-tree-millions")
    assert any("¥12,345,678.90" in text for text in labels["texts"]), labels
    assert labels["drawn"] >= 7 and labels["outside"] == [], labels
    context.close()
