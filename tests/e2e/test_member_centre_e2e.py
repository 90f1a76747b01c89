"""End to end, the member centre and loyalty (issue 16): on a real `siyu serve` with an SMS account pointing at a
fake Aliyun SMS, a member on a 390 × 844 phone signs in with the code the fake received, checks in, redeems a
coupon in the rewards mall, finds it in the wallet with a QR code that reads back as the coupon's code,
answers a branching survey (and earns its points), unsubscribes from SMS and asks for a copy of their data.
Then an operator, on a desktop, sees each of these: the customer's loyalty card and tag, the points ledger,
the mall's redemptions, the coupon template's counts, the survey's results, the SMS opt-out and the privacy
queue's request with its due date.

The brand is made through the product's actions before the server starts (one process owns the warehouse).
Uses Debian's chromium (skips when missing); screenshots go to $SIYU_E2E_SCREENSHOTS (/tmp/siyu-e2e)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from e2e_server import CHROMIUM, SCREENSHOTS, require_browser, running_server, siyu_env
from PIL import Image

from siyu.engagement.messaging.fakes.sms import FakeAliyunSms

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = "13800138123"
PASSWORD = "loyalty-e2e-2026"
CODE_TEMPLATE = "SMS_MEMBER_CODE"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

# The brand, made with the product's actions (argv: the fake SMS provider's URL, the staff password). Prints
# the ids the test opens as JSON.
BRAND = """
import datetime as dt, json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from django.utils import timezone
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channel_actions import customers_with_phone
from siyu.identity.actions import resolve_identities
from siyu.ingest.actions import ingest_api_records
from siyu.loyalty.checkin import actions as checkin
from siyu.loyalty.coupons import actions as coupons
from siyu.loyalty.earning import actions as earning
from siyu.loyalty.mall import actions as mall
from siyu.loyalty.tiers import actions as tiers
from siyu.staff.actions import create_user
from siyu.surveys import actions as surveys

fake_url, password, phone = sys.argv[1:4]
admin = create_user("boss", password, "admin", display_name="会员运营主管")
create_user("ops", password, "operator", display_name="运营小周")
now = timezone.now()
ingest_api_records("tmall_flagship", "order", [
    {"record_id": f"LE-{n}", "order_id": f"LE-{n}", "name": "陈晓", "phone": phone, "status": "交易成功",
     "order_time": now - dt.timedelta(days=days), "amount": amount,
     "items": [{"product": product, "quantity": "1", "amount": amount}]}
    for n, (days, amount, product) in enumerate([(40, "299.00", "玫瑰精华水"), (20, "88.00", "护手霜")], 1)
])
resolve_identities()
(customer_id,), _ = customers_with_phone("+86" + phone)
configure_account(admin, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试",
                  "code_template": "SMS_MEMBER_CODE", "base_url": fake_url}, {"access_key_secret": "aliyun-secret"})
tiers.make_tier(admin, name="银卡", rank=1, measure="spend", threshold=0)
tiers.make_tier(admin, name="金卡", rank=2, measure="spend", threshold=1000)
earning.make_rule(admin, name="每消费1元得1分", kind="per_yuan", points_per_yuan="1")
earning.make_rule(admin, name="答问卷送积分", kind="survey", points=30)
earning.earn_for_orders(full=True)
tiers.evaluate_tiers([customer_id])
checkin.save_rule(admin, streak_day=1, points=5)
template = coupons.save_template(admin, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                         "min_spend": "100", "validity": "days", "valid_days": 30})
item = mall.save_item(admin, name="二十元代金券", kind="coupon", points_price=100, stock=10,
                      coupon_template_id=template.pk, status="on_sale", description="满100元可用")
survey = surveys.make_survey(admin, title="家庭小调查", reward_note="答完送 30 积分", questions=[
    {"text": "家里有孩子吗？", "kind": "single", "tag_group": "家庭",
     "options": [{"label": "有", "tag": "有娃"}, {"label": "没有", "tag": "无娃", "jump": 3}]},
    {"text": "孩子几岁？", "kind": "single", "options": [{"label": "0-3岁"}, {"label": "4-12岁"}]},
    {"text": "对我们满意吗？", "kind": "scale", "scale_max": 5},
])
surveys.open_survey(admin, survey.pk)
print(json.dumps({"customer": customer_id, "template": template.pk, "item": item.pk, "survey": survey.pk}))
"""


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _number(text: str) -> int:
    return int(re.sub(r"[^0-9-]", "", text))


def _main(page) -> str:
    return page.locator("main").inner_text() if page.locator("main").count() else page.locator("body").inner_text()


@pytest.fixture
def brand_server(tmp_path):
    """The brand (BRAND) over a fake Aliyun SMS, then `siyu serve` on it: {base, ids, sms, home}."""
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    env = siyu_env(home)
    with FakeAliyunSms(templates={CODE_TEMPLATE: ["code"]}, sign_name="私域测试") as sms:
        made = subprocess.run([sys.executable, "-c", BRAND, sms.url, PASSWORD, PHONE], env=env, capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        assert made.returncode == 0, made.stderr[-4000:]
        ids = json.loads(made.stdout.strip().splitlines()[-1])
        with running_server(env, home) as (_proc, base, _port):
            yield {"base": base, "ids": ids, "sms": sms, "home": home}


def test_a_member_signs_in_checks_in_redeems_answers_and_unsubscribes_and_staff_see_it(brand_server):
    from playwright.sync_api import expect, sync_playwright

    base, ids, sms = brand_server["base"], brand_server["ids"], brand_server["sms"]
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                    locale="zh-CN", device_scale_factor=2)  # fmt: skip
        phone.set_default_timeout(10_000)
        page = phone.new_page()

        # --- 2. sign in with the code the phone received ---------------------------------------------------
        page.goto(f"{base}/m/")
        page.wait_for_url(re.compile(r"/m/sign-in/"))
        page.fill("#phone", PHONE)
        page.get_by_role("button", name="获取验证码").click()
        expect(page.locator("#code")).to_be_visible()
        assert "验证码" in page.locator("[role=status]").inner_text()
        (message,) = sms.delivered  # what the phone got: the code template, the code
        assert message["phone"] == PHONE and message["template"] == CODE_TEMPLATE
        page.fill("#code", message["variables"]["code"])
        page.get_by_role("button", name="登录", exact=True).click()
        page.wait_for_url(f"{base}/m/")
        points_shown = page.locator("#points [data-available]")
        start_points = _number(points_shown.inner_text())
        assert start_points == 387  # ¥299 + ¥88 at one point a yuan
        home = _main(page)
        assert "陈晓" in home and "银卡" in home and "我的积分" in home
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        _shot(page, "member-home")

        # --- 3. check in ----------------------------------------------------------------------------------
        page.goto(f"{base}/m/checkin/")
        page.get_by_role("button", name="签到").click()
        page.wait_for_url(f"{base}/m/checkin/")
        said = page.locator(".m-msg").first.inner_text()
        assert "连续签到 1 天" in said and "+5 积分" in said, said
        assert page.locator("[data-streak]").inner_text() == "1"
        assert page.locator("[data-checked='1']").count() == 1
        _shot(page, "member-checkin")
        page.goto(f"{base}/m/")
        assert _number(points_shown.inner_text()) == start_points + 5

        # --- 4. redeem the coupon in the mall -------------------------------------------------------------
        page.goto(f"{base}/m/mall/")
        item = page.locator(f"a[href='/m/mall/{ids['item']}/']").first
        assert "二十元代金券" in item.inner_text()
        stock_before = _stock(page, ids["item"])
        item.click()
        page.wait_for_url(f"{base}/m/mall/{ids['item']}/")
        page.get_by_role("button", name="立即兑换").click()
        page.wait_for_url(re.compile(r"/m/mall/redemptions/\d+/"))
        redeemed = page.locator("[data-redemption]").inner_text()
        assert "二十元代金券" in redeemed and "优惠券已放入券包" in redeemed, redeemed
        _shot(page, "member-redemption")
        page.goto(f"{base}/m/")
        assert _number(points_shown.inner_text()) == start_points + 5 - 100
        page.goto(f"{base}/m/mall/")
        assert stock_before == 10 and _stock(page, ids["item"]) == 9

        # --- 5. the coupon in the wallet, its QR reads back as its code -----------------------------------
        page.goto(f"{base}/m/coupons/")
        card = page.locator("#usable .m-coupon").first
        assert "满100减20" in card.inner_text()
        code = card.locator("[data-code]").get_attribute("data-code")
        picture = Image.open(io.BytesIO(card.locator("svg").first.screenshot())).convert("L")
        read = [b.text for b in zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode)]
        assert read and read[0].replace("-", "") == code.replace("-", ""), (read, code)
        _shot(page, "member-wallet")

        # --- 6. the survey, following its branch ----------------------------------------------------------
        page.goto(f"{base}/m/surveys/")
        page.get_by_role("link", name=re.compile("家庭小调查")).click()
        page.wait_for_url(f"{base}/m/surveys/{ids['survey']}/")
        assert "家里有孩子吗" in _main(page)
        page.get_by_label("没有").check()
        page.get_by_role("button", name="下一题").click()
        asked = _main(page)
        assert "对我们满意吗" in asked and "孩子几岁" not in asked  # 没有 jumps over the children's age
        page.locator(".m-scale label", has_text="5").click()
        page.get_by_role("button", name="下一题").click()
        done = page.locator("#done")
        expect(done).to_be_visible()
        assert "+30" in done.inner_text()
        _shot(page, "member-survey-done")
        page.goto(f"{base}/m/")
        balance = start_points + 5 - 100 + 30
        assert _number(points_shown.inner_text()) == balance

        # --- 7. 我的隐私: unsubscribe from SMS, ask for a copy --------------------------------------------------
        page.goto(f"{base}/m/privacy/")
        sms_row = page.locator("[data-channel='sms']")
        sms_row.get_by_role("button", name="退订").click()
        page.wait_for_url(f"{base}/m/privacy/")
        assert "已退订" in page.locator(".m-msg").first.inner_text()
        assert "已退订" in sms_row.inner_text() and sms_row.get_attribute("data-accepted") == "0"
        # offers chosen by profiling off with one tap (PIPL art. 24); the channels stay as they were
        offers = page.locator("[data-channel='personalised']")
        offers.get_by_role("button", name="关闭").click()
        page.wait_for_url(f"{base}/m/privacy/")
        assert "已关闭个性化推荐" in page.locator(".m-msg").first.inner_text()
        assert offers.get_attribute("data-accepted") == "0" and "已拒绝" in offers.inner_text()
        assert page.locator("[data-channel='wecom']").get_attribute("data-accepted") == "1"
        page.get_by_role("button", name="申请获取我的信息副本").click()
        page.wait_for_url(f"{base}/m/privacy/")
        assert "15 天内处理" in page.locator(".m-msg").first.inner_text()
        asked = page.locator("#requests li").first.inner_text()
        assert "查阅复制" in asked and "待处理" in asked, asked
        _shot(page, "member-privacy")
        phone.close()

        # --- 8. the staff side -----------------------------------------------------------------------------
        desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        desk.set_default_timeout(10_000)
        page = desk.new_page()
        page.goto(f"{base}/login/")
        page.fill('input[name="username"]', "ops")
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"].primary')
        page.wait_for_url(f"{base}/")
        customer = ids["customer"]

        page.goto(f"{base}/customers/{customer}/")
        card = page.locator("#loyalty")
        assert card.locator("[data-loyalty=available]").inner_text().split()[0] == str(balance)
        assert card.locator("[data-loyalty=tier]").inner_text() == "银卡"
        assert card.locator("[data-loyalty=coupons]").inner_text() == "可用 1 张 · 已用 0 张"
        today = dt.datetime.now(SHANGHAI).strftime("%Y-%m-%d")
        assert card.locator("[data-loyalty=checkin]").inner_text() == f"{today} 连续 1 天"
        assert "家庭小调查" in card.locator("[data-loyalty=surveys]").inner_text()
        assert "查阅复制" in card.locator("[data-loyalty=privacy]").inner_text()
        profile = _main(page)
        assert "家庭:无娃" in profile or "无娃" in page.locator("#tags").inner_text(), profile
        consent = page.locator("#consent").inner_text()
        assert "短信: 免打扰" in consent and "会员中心" in consent, consent  # opted out, by the member themself
        assert "已拒绝个性化营销" in page.locator("#personalised").inner_text()
        _shot(page, "staff-customer")

        page.goto(f"{base}/loyalty/points/customers/{customer}/")
        ledger = _main(page)
        for words in ("签到", "积分商城", "问卷"):
            assert words in ledger, (words, ledger)
        _shot(page, "staff-points-ledger")

        page.goto(f"{base}/loyalty/mall/redemptions/")
        redemptions = _main(page)
        assert "二十元代金券" in redemptions and "100" in redemptions, redemptions

        page.goto(f"{base}/loyalty/coupons/{ids['template']}/")
        assert page.locator("[data-stat=issued]").inner_text() == "1"
        assert page.locator("[data-stat=unused]").inner_text() == "1"
        issued = page.locator("main table").inner_text()
        assert code in issued and "积分商城" in issued, issued
        _shot(page, "staff-coupon-template")

        page.goto(f"{base}/surveys/{ids['survey']}/results/")
        results = _main(page)
        assert "1 位会员的 1 份回答" in results, results
        first = page.locator("main section.card", has_text="家里有孩子吗").inner_text()
        assert re.search(r"没有\s+1\s+100%", first), first
        second = page.locator("main section.card", has_text="孩子几岁").inner_text()
        assert "0 人回答" in second, second  # the branch skipped it
        _shot(page, "staff-survey-results")

        page.goto(f"{base}/privacy/requests/")
        row = page.locator("tr[data-request]", has=page.locator(f"a[href='/customers/{customer}/']"))
        request = row.inner_text()
        due = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=15)).strftime("%Y-%m-%d")
        assert "查阅复制" in request and "会员中心" in request and due in request, (due, request)
        _shot(page, "staff-privacy-queue")
        desk.close()
        browser.close()
    assert time.monotonic() - started < 60


def _stock(page, item_id: int) -> int:
    """How many of the item the mall page says are left."""
    return _number(page.locator(f"li[data-item='{item_id}'] small").inner_text())
