"""End to end, live codes: on a real `siyu serve` against a fake WeCom, an admin configures the WeCom account
(with the callback token and key, so the server accepts WeCom's callbacks), makes a code for two guides in
the console's form, downloads its bag-card poster (a PNG of the bag card's size at 300 dpi, whose QR reads
back as the add link WeCom's own QR picture holds), and two customers scan it: WeCom's add-contact callbacks, sealed as WeCom seals them, reach the server, which
welcomes each with the code's own text through the fake. The code's page then lists the two adds, and after
a resolve the customer's profile says which code, channel, campaign and guide brought them. A guide opens
their own code on a phone-sized screen.

Uses Debian's chromium (skips when missing) and the server fixture of test_console_e2e."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import urllib.request

import pytest
import zxingcpp
from PIL import Image
from test_console_e2e import PASSWORDS, _login, _shot, _wait_for_job, browser, siyu_server  # noqa: F401

from siyu.acquisition.posters import PRESETS
from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto
from siyu.engagement.messaging.fakes.wecom import FakeWeCom

pytestmark = pytest.mark.e2e

CORP = "ww-live-codes-e2e"
CALLBACK_TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # 43 characters, as WeCom's EncodingAESKey
PASSWORD = "live-codes-2026"
WELCOME = "欢迎来到南京西路店！凭此消息到店领取小样"
CREATE_STAFF = """
import django, sys
django.setup()
from siyu.staff.actions import create_user, ensure_store
store = ensure_store("SH01", "上海南京西路店")
create_user("codeadmin", sys.argv[1], "admin", display_name="活码管理员")
create_user("guidea", sys.argv[1], "guide", store=store, display_name="导购林夏", wecom_userid="wx-guide-a")
create_user("guideb", sys.argv[1], "guide", store=store, display_name="导购周舟", wecom_userid="wx-guide-b")
"""


def _post_callback(base: str, xml: str) -> bytes:
    """POST a decrypted callback to the server the way WeCom does: encrypted and signed."""
    timestamp, nonce = str(int(time.time())), "e2e-nonce"
    body, signature = WeComCallbackCrypto(CALLBACK_TOKEN, AES_KEY, CORP).seal(xml, timestamp, nonce)
    request = urllib.request.Request(
        f"{base}/engagement/wecom/callback/?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}",
        data=body.encode(), headers={"Content-Type": "text/xml"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def _staff_row(page, name: str):
    return page.locator(".staff-row", has_text=name)


def test_a_multi_staff_code_from_form_to_poster_to_adds_to_profile(siyu_server, browser):  # noqa: F811
    env = {"SIYU_HOME": str(siyu_server["home"]), "DJANGO_SETTINGS_MODULE": "siyu.project.settings",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run([sys.executable, "-c", CREATE_STAFF, PASSWORD], env=env, check=True, timeout=120)
    PASSWORDS.update({"codeadmin": PASSWORD, "guidea": PASSWORD})
    base = siyu_server["base"]
    with FakeWeCom(corp_id=CORP) as fake:
        fake.members.update({"wx-guide-a", "wx-guide-b"})
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", accept_downloads=True)
        page = context.new_page()
        _login(page, base, "codeadmin")

        # --- the WeCom account, with callbacks ---------------------------------------------------------
        page.goto(f"{base}/engagement/channels/")
        wecom = page.locator('section[data-channel="wecom"] form.channel-form')
        wecom.locator('input[name="corp_id"]').fill(CORP)
        wecom.locator('input[name="base_url"]').fill(fake.url)
        wecom.locator('input[name="contact_secret"]').fill("contact-secret")
        wecom.locator('input[name="callback_token"]').fill(CALLBACK_TOKEN)
        wecom.locator('input[name="callback_aes_key"]').fill(AES_KEY)
        wecom.locator("button[type=submit]").click()
        page.wait_for_url(f"{base}/engagement/channels/")
        assert AES_KEY not in page.content()

        # --- a code for both guides, made in the form ---------------------------------------------------
        page.goto(f"{base}/acquisition/")
        page.get_by_role("link", name="新建渠道活码").click()
        page.wait_for_url(f"{base}/acquisition/new/")
        page.fill('input[name="name"]', "南京西路店袋卡")
        page.select_option('select[name="channel"]', label="包裹卡")
        page.fill('input[name="campaign"]', "冬季新品")
        page.select_option('select[name="store"]', label="上海南京西路店")
        for name in ("导购林夏", "导购周舟"):
            _staff_row(page, name).locator('input[name="staff"]').check()
        page.fill('textarea[name="welcome_text"]', WELCOME)
        page.fill('input[name="cost"]', "600")
        _shot(page, "live-code-form")
        page.get_by_role("button", name="生成活码").click()
        page.wait_for_url(lambda url: url.rstrip("/").split("/")[-1].isdigit())
        main = page.locator("main").inner_text()
        assert "活码已生成" in main and "导购林夏" in main and "导购周舟" in main
        (config_id,) = fake.contact_ways
        way = fake.contact_ways[config_id]
        assert sorted(way["user"]) == ["wx-guide-a", "wx-guide-b"] and way["type"] == 2
        # the QR image is the server's own drawing of the code
        assert page.evaluate("() => document.querySelector('img.qr').naturalWidth") > 100
        code_url = page.url

        # --- the bag-card poster ----------------------------------------------------------------------
        with page.expect_download() as download:
            page.locator('a[data-poster="bag_card-png"]').click()
        poster = Image.open(io.BytesIO(open(download.value.path(), "rb").read()))
        assert poster.format == "PNG" and poster.size == PRESETS["bag_card"].pixels == (1063, 1417)
        # what a phone reads on the printed card: WeCom's add link of this contact way, not a picture's URL
        scanned = [b.text for b in zxingcpp.read_barcodes(poster.convert("L"), try_invert=False)]
        assert scanned == [fake.add_links[config_id]]
        with page.expect_download() as download:
            page.locator('a[data-poster="receipt_58-pdf"]').click()
        assert open(download.value.path(), "rb").read(5) == b"%PDF-"

        # --- two customers scan the code --------------------------------------------------------------
        for external_userid, name in (("wm-e2e-lin", "陈晨"), ("wm-e2e-zhou", "吴越")):
            assert _post_callback(base, fake.scan(config_id, external_userid, name, scanned=scanned[0])) == b"success"
        assert [w["text"] for w in fake.welcomes] == [WELCOME, WELCOME]
        assert {w["external_userid"] for w in fake.welcomes} == {"wm-e2e-lin", "wm-e2e-zhou"}

        page.goto(code_url)
        adds = page.locator("main").inner_text()
        assert adds.count("欢迎语已发送") == 2

        # --- the contacts land (the server's background task), a resolve makes them customers ---------
        linked = page.locator("main table a[href*='/customers/']")
        for _attempt in range(6):
            page.goto(f"{base}/import/")
            page.click("#resolve-button")
            page.wait_for_url(lambda url: "/jobs/" in url)
            _wait_for_job(page, siyu_server, "resolving identities")
            page.goto(code_url)
            if linked.count() == 2:
                break
            time.sleep(2)  # the add's follow-up task (tags, contact, landing) is still running
        assert linked.count() == 2, page.locator("main").inner_text()
        _shot(page, "live-code-page")

        linked.first.click()
        page.wait_for_url(lambda url: "/customers/" in url)
        origin = page.locator("#origin").inner_text()
        assert "南京西路店袋卡" in origin and "包裹卡" in origin and "冬季新品" in origin
        assert "导购林夏" in origin or "导购周舟" in origin
        _shot(page, "live-code-customer-origin")

        # --- acquisition quality: the two adds, the cost per retained customer --------------------------
        page.goto(f"{base}/acquisition/quality/?by=code")
        quality = page.locator("main table").inner_text()
        assert "南京西路店袋卡" in quality and "¥300.00" in quality
        context.close()

        # --- a guide's own code on a phone ------------------------------------------------------------
        phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
        page = phone.new_page()
        _login(page, base, "guidea")
        page.goto(f"{base}/acquisition/my-code/")
        assert "我的活码" in page.locator("main").inner_text()
        assert page.evaluate("() => document.querySelector('img.qr').naturalWidth") > 100
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        _shot(page, "live-code-guide-phone")
        phone.close()
