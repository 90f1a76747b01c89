"""The contact policy and channel accounts through the API: the console's permissions and actions, an
idempotency key on every change, secrets never returned (a mask shows which are set)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.api.actions import create_token
from siyu.core.models import AuditLog
from siyu.engagement.messaging.queries import account_of, account_secrets

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(db):
    from siyu.staff.actions import create_user, ensure_store

    store = ensure_store("s1", "一店")
    return {role: create_user(role, "right-pass-2026", role, store=store if role in ("manager", "guide") else None)
            for role in ("admin", "operator", "manager", "guide")}  # fmt: skip


def api(user, scopes=None):
    return Client(headers={"Authorization": f"Bearer {create_token(user, 't', scopes=scopes)}"})


def post(client, path, body, key):
    return client.post(path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key})


def test_the_policy_is_read_by_operators_and_changed_by_admins_only(users):
    assert api(users["operator"]).get("/api/contact-policy").json()["marketing_cap"] == 2
    for role in ("manager", "guide"):
        assert api(users[role]).get("/api/contact-policy").status_code == 403
    refused = post(api(users["operator"]), "/api/contact-policy", {"marketing_cap": 3}, "p1")
    assert refused.status_code == 403 and "只有管理员可以" in refused.json()["detail"]
    admin = api(users["admin"], scopes=["engagement:write"])
    changed = post(admin, "/api/contact-policy", {"marketing_cap": 3, "quiet_start": "22:00",
                                                   "channel_caps": {"sms": [1, 7]}}, "p2")  # fmt: skip
    body = changed.json()
    assert changed.status_code == 200, body
    assert body["marketing_cap"] == 3 and body["quiet_start"] == "22:00" and body["channel_caps"] == {"sms": [1, 7]}
    assert body["marketing_cap_days"] == 7  # not given: unchanged
    assert post(admin, "/api/contact-policy", {"marketing_cap": 3, "quiet_start": "22:00",
                                               "channel_caps": {"sms": [1, 7]}}, "p2").json() == body  # fmt: skip
    assert AuditLog.objects.filter(action="update_contact_policy").count() == 1  # the retry did not run again
    wrong = post(admin, "/api/contact-policy", {"channel_caps": {"sms": [1, 0]}}, "p3")
    assert wrong.status_code == 400 and "a cap window must be between 1 and 365" in wrong.json()["detail"]
    reader = api(users["admin"], scopes=["engagement:read"])
    assert post(reader, "/api/contact-policy", {"marketing_cap": 4}, "p4").status_code == 403


def test_channel_accounts_are_admins_only_and_secrets_come_back_masked(users):
    for role in ("operator", "manager", "guide"):
        assert api(users[role]).get("/api/channel-accounts").status_code == 403
        body = {"provider": "aliyun", "settings": {}, "secrets": {}}
        assert post(api(users[role]), "/api/channel-accounts/sms", body, "a0").status_code == 403
    admin = api(users["admin"])
    assert admin.get("/api/channel-accounts/sms").status_code == 404
    body = {"provider": "aliyun", "settings": {"access_key_id": "LTAI-1", "sign_name": "私域"},
            "secrets": {"access_key_secret": "s3cret-value"}}  # fmt: skip
    saved = post(admin, "/api/channel-accounts/sms", body, "a1")
    assert saved.status_code == 200, saved.json()
    assert saved.json()["secrets"] == {"access_key_secret": "********"}
    assert "s3cret-value" not in saved.content.decode()
    assert account_secrets(account_of("sms")) == {"access_key_secret": "s3cret-value"}
    # a change without the secret keeps it, as the console's form does
    body = {"provider": "aliyun", "enabled": False, "settings": {"access_key_id": "LTAI-2", "sign_name": "私域"}}
    post(admin, "/api/channel-accounts/sms", body, "a2")
    listed = admin.get("/api/channel-accounts").json()
    assert [(a["channel"], a["enabled"], a["settings"]["access_key_id"], a["secrets"]) for a in listed] == [
        ("sms", False, "LTAI-2", {"access_key_secret": "********"})]  # fmt: skip
    assert account_secrets(account_of("sms")) == {"access_key_secret": "s3cret-value"}
    wrong = post(admin, "/api/channel-accounts/sms", {"provider": "smtp"}, "a3")
    assert wrong.status_code == 400 and "the sms channel takes one of these providers" in wrong.json()["detail"]
