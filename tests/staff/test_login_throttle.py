"""Sign-in hardening: lock-out after settings.AXES_FAILURE_LIMIT wrong passwords (django-axes), every failure in
the audit log, bad API tokens throttled and audited, production cookies and security headers."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(db):
    from siyu.staff.actions import create_user

    return create_user("ops", "right-pass-2026", "operator")


def login(client, password, username="ops", address="10.0.0.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def audit(action):
    from siyu.core.models import AuditLog

    return list(AuditLog.objects.filter(action=action).order_by("at", "pk"))


def test_five_wrong_passwords_lock_the_account_out_from_that_address_and_are_audited(ops, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for _ in range(4):
        response = login(client, "wrong-guess")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert audit("login_locked_out") == []
    fifth = login(client, "wrong-guess")
    assert fifth.status_code == 429
    page = fifth.content.decode()
    assert "密码错误次数过多" in page and "15 分钟" in page
    # the right password no longer opens it, from this address
    refused = login(client, "right-pass-2026")
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    # from another address the account still signs in
    other = Client()
    assert login(other, "right-pass-2026", address="10.0.0.8").status_code == 302
    failed = audit("login_failed")
    assert len(failed) == 6 and {a.target for a in failed} == {"ops"}
    assert failed[0].detail["ip"] == "10.0.0.7" and "right-pass" not in str([a.detail for a in failed])
    locked = audit("login_locked_out")
    assert locked and locked[0].target == "ops" and locked[0].detail == {"ip": "10.0.0.7", "minutes": 15}


def test_a_success_resets_the_count(ops):
    client = Client()
    for _ in range(4):
        login(client, "wrong-guess")
    assert login(client, "right-pass-2026").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "wrong-guess").status_code == 200
    assert audit("login_locked_out") == []


def test_bad_api_tokens_are_throttled_per_address_and_audited(ops, settings):
    from siyu.api.actions import create_token

    token = create_token(ops, "shop")
    attacker = Client(headers={"Authorization": "Bearer siyu_guess"}, REMOTE_ADDR="10.0.0.9")
    for _ in range(4):
        assert attacker.get("/api/customers").status_code == 401
    assert attacker.get("/api/customers").status_code == 429  # the fifth reaches the limit
    # while locked out, even a real token from that address is refused, without looking it up
    real_from_there = Client(headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR="10.0.0.9")
    response = real_from_there.get("/api/customers")
    assert response.status_code == 429 and "API" in response.json()["detail"]
    # elsewhere the token works, and the console login of anybody is untouched
    assert Client(headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR="10.0.0.10").get(
        "/api/customers").status_code == 200  # fmt: skip
    assert login(Client(), "right-pass-2026", address="10.0.0.9").status_code == 302
    failed = audit("api_token_failed")
    assert len(failed) == 5 and failed[0].target == "/api/customers" and failed[0].detail["ip"] == "10.0.0.9"
    assert "siyu_guess" not in str([a.detail for a in failed])
    assert len(audit("api_token_locked_out")) == 2  # the fifth failure, then the refused real token


def test_a_login_without_a_request_is_not_throttled(ops):
    """The CLI and scripts call authenticate() without a request: nothing to count against."""
    from django.contrib.auth import authenticate

    assert authenticate(username="ops", password="right-pass-2026") == ops
    assert authenticate(username="ops", password="nope") is None


def test_security_headers_and_cookies(ops):
    client = Client()
    page = client.get("/login/")
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["X-Frame-Options"] == "DENY"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = login(client, "right-pass-2026")
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax" and int(session["max-age"]) == 12 * 3600


def test_production_behind_tls_sets_secure_cookies_and_hsts():
    import os
    import subprocess
    import sys

    code = (
        "from django.conf import settings;"
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS > 0,"
        " settings.CSRF_COOKIE_HTTPONLY)"
    )
    env = {**os.environ, "SIYU_BEHIND_TLS_PROXY": "1", "DJANGO_SETTINGS_MODULE": "siyu.project.settings"}
    env.pop("SIYU_DEBUG", None)
    out = subprocess.run([sys.executable, "-c", "import django; django.setup();" + code], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.split() == ["True", "True", "True", "True"]
    env["SIYU_DEBUG"] = "1"
    env.pop("SIYU_BEHIND_TLS_PROXY")
    out = subprocess.run([sys.executable, "-c", "import django; django.setup();" + code], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.split() == ["False", "False", "False", "False"]


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(ops, settings):
    settings.BEHIND_TLS_PROXY = True
    client = Client()
    for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"):
        client.post("/login/", {"username": "ops", "password": "wrong-guess"}, REMOTE_ADDR="127.0.0.1",
                    HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.5")  # fmt: skip
    # a client that forges the first address still counts as the one the proxy saw
    assert {a.detail["ip"] for a in audit("login_failed")} == {"203.0.113.5"}
    response = client.post("/login/", {"username": "ops", "password": "right-pass-2026"}, REMOTE_ADDR="127.0.0.1",
                           HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5")  # fmt: skip
    assert response.status_code == 429
    other = client.post("/login/", {"username": "ops", "password": "right-pass-2026"}, REMOTE_ADDR="127.0.0.1",
                        HTTP_X_FORWARDED_FOR="203.0.113.6")  # fmt: skip
    assert other.status_code == 302
