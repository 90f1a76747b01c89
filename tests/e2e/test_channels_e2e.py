"""End to end, channels: an admin configures the WeCom and official-account accounts in the console of a real
`siyu serve` (secrets never shown back), presses *Sync WeCom contacts now*, follows the job the server runs
against a fake WeCom, and finds the synced customer with their owner guide and WeCom tag.

Uses Debian's chromium (skips when missing) and the server fixture of test_console_e2e."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_console_e2e import PASSWORDS, _login, _shot, _wait_for_job, browser, siyu_server  # noqa: F401

from siyu.engagement.messaging.fakes.wecom import FakeWeCom

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "boss-pass-2026"
CREATE_ADMIN = """
import django, os, sys
django.setup()
from siyu.staff.actions import create_user
create_user("boss", sys.argv[1], "admin", display_name="管理员")
create_user("wguide", sys.argv[1], "guide", display_name="企微导购", wecom_userid="guide-wx-1")
"""


def test_admin_configures_channels_and_syncs_wecom_contacts(siyu_server, browser):  # noqa: F811
    env = {"SIYU_HOME": str(siyu_server["home"]), "DJANGO_SETTINGS_MODULE": "siyu.project.settings",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run([sys.executable, "-c", CREATE_ADMIN, ADMIN_PASSWORD], env=env, check=True, timeout=120)
    PASSWORDS["boss"] = ADMIN_PASSWORD
    base = siyu_server["base"]
    with FakeWeCom() as fake:
        fake.add_tag_group("客户等级", {"tag-vip": "VIP"})
        fake.add_contact("guide-wx-1", "wm-e2e-1", "陈静", unionid="union-e2e-1", tags=["tag-vip"])
        fake.add_contact("guide-wx-1", "wm-e2e-2", "周洋")
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        page = context.new_page()
        _login(page, base, "boss")
        page.goto(f"{base}/engagement/channels/")
        wecom = page.locator('section[data-channel="wecom"] form.channel-form')
        wecom.locator('input[name="corp_id"]').fill(fake.corp_id)
        wecom.locator('input[name="base_url"]').fill(fake.url)
        wecom.locator('input[name="contact_secret"]').fill("contact-secret")
        wecom.locator("button[type=submit]").click()
        page.wait_for_url(f"{base}/engagement/channels/")
        assert "contact-secret" not in page.content()
        oa = page.locator('section[data-channel="official_account"] form.channel-form')
        oa.locator('input[name="appid"]').fill("wx-oa-e2e")
        oa.locator('input[name="source"]').fill("oa_followers")
        oa.locator('input[name="app_secret"]').fill("oa-secret-e2e")
        oa.locator("button[type=submit]").click()
        page.wait_for_url(f"{base}/engagement/channels/")
        assert "oa-secret-e2e" not in page.content()
        saved = page.locator('section[data-channel="official_account"]')
        assert saved.locator('input[name="appid"]').input_value() == "wx-oa-e2e"
        assert "✓" in saved.inner_text()  # the secret is stored (encrypted), shown only as set
        assert page.locator('section[data-channel="mini_program"]').count() == 1
        _shot(page, "channels-accounts")

        page.locator('[data-section="wecom-sync"] button[type=submit]').click()
        page.wait_for_url(lambda url: "/jobs/" in url)
        _wait_for_job(page, siyu_server, "WeCom contact sync")
        _shot(page, "wecom-sync-job")
        page.goto(f"{base}/engagement/channels/")
        assert "2 位客户" in page.locator('[data-section="wecom-sync"]').inner_text()
        assert any(r["path"] == "/cgi-bin/externalcontact/batch/get_by_user" for r in fake.requests)

        # the synced customer: owner guide and WeCom tag in the customers app
        page.goto(f"{base}/customers/?tag=客户等级:VIP")
        page.locator("table a[href*='/customers/']").first.click()
        profile = page.locator("main").inner_text()
        assert "客户等级:VIP" in profile or "VIP" in profile
        assert "企微导购" in profile
        _shot(page, "wecom-synced-customer")
        context.close()
