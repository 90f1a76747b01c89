"""End to end, API tokens: an admin creates a token for an operator on the console's token page of a real
`siyu serve` (permissions ticked by their Chinese names), copies it from the page that shows it once, and an
HTTP client calls the API with it; the list never shows it again; after the admin revokes it (confirming
the dialog) the API refuses it.

Uses Debian's chromium (skips when missing) and the server fixture of test_console_e2e."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from test_console_e2e import PASSWORDS, _login, _shot, browser, siyu_server  # noqa: F401

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "keys-pass-2026"
CREATE_ADMIN = """
import django, sys
django.setup()
from siyu.staff.actions import create_user
create_user("keys", sys.argv[1], "admin", display_name="令牌管理员")
"""


def _api(base: str, path: str, token: str) -> int:
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_admin_creates_a_token_in_the_browser_and_a_client_uses_it(siyu_server, browser):  # noqa: F811
    env = {"SIYU_HOME": str(siyu_server["home"]), "DJANGO_SETTINGS_MODULE": "siyu.project.settings",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run([sys.executable, "-c", CREATE_ADMIN, ADMIN_PASSWORD], env=env, check=True, timeout=120)
    PASSWORDS["keys"] = ADMIN_PASSWORD
    base = siyu_server["base"]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _login(page, base, "keys")
    page.get_by_role("link", name="API 令牌").click()
    page.wait_for_url(f"{base}/settings/api-tokens/")
    form = page.locator('form[data-section="new-token"]')
    form.locator('input[name="name"]').fill("商城系统")
    form.locator('select[name="user"]').select_option(label="运营小张（运营）")
    form.locator("tr", has_text="个人信息申请").get_by_label("查看", exact=True).check()
    form.locator('select[name="expires_in"]').select_option(label="30 天")
    form.locator("button[type=submit]").click()

    shown = page.locator('[data-section="new-token-secret"]')
    assert "只显示这一次" in shown.inner_text()
    secret = shown.locator("[data-secret]").inner_text().strip()
    assert secret.startswith("siyu_")
    _shot(page, "api-token-created")
    assert _api(base, "/api/privacy/requests", secret) == 200
    assert _api(base, "/api/customers", secret) == 403  # not a permission it was given

    page.get_by_role("link", name="已复制，完成").click()
    page.wait_for_url(f"{base}/settings/api-tokens/")
    row = page.locator("table.api-tokens tbody tr", has_text="商城系统")
    assert secret not in page.content()
    text = row.inner_text()
    assert "运营小张（运营）" in text and "个人信息申请：查看" in text and "有效" in text
    _shot(page, "api-tokens")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="吊销").click()
    page.wait_for_url(f"{base}/settings/api-tokens/")
    assert "令牌已吊销" in page.locator("main").inner_text()
    assert "已吊销" in page.locator("table.api-tokens tbody tr", has_text="商城系统").inner_text()
    assert _api(base, "/api/privacy/requests", secret) == 401
    context.close()
