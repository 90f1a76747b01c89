"""The API (enqueue, outbox, a customer's sends), the console pages and the WeCom callback endpoint."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from siyu.api.actions import create_token
from siyu.core import pii
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto
from siyu.engagement.messaging.models import ChannelAccount, ContactPolicy, Send
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


@pytest.fixture
def staff(db):
    return {
        "admin": create_user("boss", "pw-admin-1", "admin"),
        "operator": create_user("ops", "pw-oper-1", "operator"),
        "guide": create_user("g1", "pw-guide-1", "guide"),
    }


def api(user):
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def post(client, path, body, key):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_enqueue_through_the_api_is_idempotent_and_policy_checked(customers, staff, no_holdout):
    client = api(staff["operator"])
    first = post(client, "/api/sends", {"channel": "webhook", "customer_id": 1, "content": "hi"}, "k1")
    assert first.status_code == 201 and first.json()["status"] == "queued"
    again = post(client, "/api/sends", {"channel": "webhook", "customer_id": 1, "content": "hi"}, "k1")
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    suppressed = post(client, "/api/sends", {"channel": "sms", "customer_id": 2, "template": "SMS_1"}, "k2")
    assert suppressed.json()["status"] == "suppressed" and suppressed.json()["reason"] == "no_consent"
    assert post(client, "/api/sends", {"channel": "webhook", "customer_id": 999}, "k3").status_code == 404
    assert post(client, "/api/sends", {"channel": "fax", "customer_id": 1}, "k4").status_code == 422
    # PostgreSQL keeps no NUL in a text or a JSON value: refused in words, not a server error (schemathesis)
    for n, body in enumerate([{"content": "a\x00b"}, {"variables": {"coupon": "X\x00"}}, {"variables": {"k\x00": "v"}}]):
        nul = post(client, "/api/sends", {"channel": "webhook", "customer_id": 1, **body}, f"nul{n}")
        assert nul.status_code == 422 and "NUL" in nul.content.decode()
    mine = client.get("/api/customers/2/sends").json()
    assert [s["reason"] for s in mine["items"]] == ["no_consent"]
    outbox = client.get("/api/sends", {"status": "queued"}).json()
    assert outbox["total"] == 1 and outbox["items"][0]["idempotency_key"].startswith("api:")


def test_an_api_send_says_its_purpose_and_a_personalised_one_respects_the_refusal(customers, staff, no_holdout):
    from siyu.customers.actions import record_consent

    record_consent(None, 3, "personalised", "opt_out", "会员中心")
    client = api(staff["operator"])
    offer = post(client, "/api/sends", {"channel": "webhook", "customer_id": 3, "content": "为您推荐",
                                        "personalised": True}, "p1").json()  # fmt: skip
    assert (offer["status"], offer["reason"], offer["purpose"]) == (
        "suppressed", "not_personalised", "marketing_personalised"
    )
    assert offer["reason_text"]
    notice = post(client, "/api/sends", {"channel": "webhook", "customer_id": 3, "content": "订单已发货",
                                         "marketing": False}, "p2").json()  # fmt: skip
    assert (notice["status"], notice["purpose"]) == ("queued", "service")


def test_guides_send_only_to_their_customers_and_cannot_read_the_outbox(customers, staff):
    client = api(staff["guide"])
    assert post(client, "/api/sends", {"channel": "webhook", "customer_id": 1}, "g1").status_code == 403
    assert client.get("/api/sends").status_code == 403
    assert post(client, "/api/sends", {"channel": "wecom_app", "member": "g1"}, "g2").status_code == 403


def test_console_pages(customers, staff, no_holdout, client):
    client.force_login(staff["operator"])
    post(api(staff["operator"]), "/api/sends", {"channel": "sms", "customer_id": 1}, "k1")
    page = client.get("/engagement/outbox/", {"status": "suppressed"})
    assert page.status_code == 200 and 'data-reason="no_consent"' in page.content.decode()
    assert client.get("/engagement/policy/").status_code == 200
    assert client.get("/engagement/channels/").status_code == 403  # admins only
    refused = client.post("/engagement/policy/", {"marketing_cap": "5"})
    assert refused.status_code == 403 and ContactPolicy.objects.get(pk=1).marketing_cap == 2
    client.force_login(staff["admin"])
    saved = client.post(
        "/engagement/policy/",
        {"quiet_start": "22:00", "quiet_end": "08:00", "marketing_cap": "3", "marketing_cap_days": "7",
         "holdout_percent": "10", "max_delay_hours": "12", "consent_required": ["sms"], "cap_sms_count": "1",
         "cap_sms_days": "30"},
    )  # fmt: skip
    assert saved.status_code == 302
    policy = ContactPolicy.objects.get(pk=1)
    assert (policy.marketing_cap, str(policy.quiet_start), policy.channel_caps) == (
        3,
        "22:00:00",
        {"sms": [1, 30]},
    )
    assert client.get("/engagement/channels/").status_code == 200
    client.post("/engagement/channels/", {"channel": "sms", "provider": "aliyun", "access_key_id": "LTAI-x",
                                          "sign_name": "私域", "access_key_secret": "s3cret", "enabled": "on"})  # fmt: skip
    account = ChannelAccount.objects.get(channel="sms")
    assert pii.decrypt_json(account.secrets) == {"access_key_secret": "s3cret"} and b"s3cret" not in bytes(
        account.secrets
    )
    client.post("/engagement/channels/", {"channel": "sms", "provider": "aliyun", "access_key_id": "LTAI-y",
                                          "sign_name": "私域", "access_key_secret": "", "enabled": "on"})  # fmt: skip
    account.refresh_from_db()
    assert (
        account.settings["access_key_id"] == "LTAI-y"
        and pii.decrypt_json(account.secrets)["access_key_secret"] == "s3cret"
    )
    assert "s3cret" not in client.get("/engagement/channels/").content.decode()
    english = client.get("/engagement/outbox/", headers={"Accept-Language": "en"})
    assert english.status_code == 200


@pytest.fixture
def wecom_account(db):
    return configure_account(
        None, "wecom", "wecom", {"corp_id": "wx5823bf96d3bd56c7"},
        {"contact_secret": "s", "callback_token": "QDG6eK", "callback_aes_key": AES_KEY},
    )  # fmt: skip


def test_wecom_callback_verifies_the_url_with_the_documented_vector(wecom_account, client):
    answer = client.get(
        "/engagement/wecom/callback/",
        {"msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589", "nonce": "263014780",
         "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="},
    )  # fmt: skip
    assert answer.status_code == 200 and answer.content == b"1616140317555161061"
    forged = client.get("/engagement/wecom/callback/", {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2",
                                                        "echostr": "abc"})  # fmt: skip
    assert forged.status_code == 403


def test_wecom_contact_events_become_warehouse_events(customers, wecom_account, client):
    crypto = WeComCallbackCrypto("QDG6eK", AES_KEY, "wx5823bf96d3bd56c7")

    def deliver(change, ext, created):
        xml = (f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
               f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
               f"<UserID><![CDATA[guide1]]></UserID><ExternalUserID><![CDATA[{ext}]]></ExternalUserID></xml>")  # fmt: skip
        body, signature = crypto.seal(xml, "1700000000", "nonce1")
        return client.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1700000000&nonce=nonce1",
                           data=body, content_type="text/xml")  # fmt: skip

    assert deliver("add_external_contact", "wm-new", 1780000000).content == b"success"
    assert deliver("add_external_contact", "wm-new", 1780000000).content == b"success"  # WeCom resends
    assert deliver("del_follow_user", "wm-one", 1780000100).status_code == 200
    rows = (
        customers.raw_connection()
        .execute(
            "SELECT record_key, event_type, json_extract_string(properties, '$.change_type') FROM events ORDER BY occurred_at"
        )
        .fetchall()
    )
    assert rows == [("wecom|wm-new", "wecom_contact_added", "add_external_contact"),
                    ("wecom|wm-one", "wecom_contact_deleted", "del_follow_user")]  # fmt: skip
    body, _ = crypto.seal("<xml/>", "1700000000", "n")
    tampered = client.post("/engagement/wecom/callback/?msg_signature=" + "1" * 40 + "&timestamp=1700000000&nonce=n",
                           data=body, content_type="text/xml")  # fmt: skip
    assert tampered.status_code == 403
    other_corp = WeComCallbackCrypto("QDG6eK", AES_KEY, "another-corp")
    body, signature = other_corp.seal("<xml/>", "1", "n")
    refused = client.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1&nonce=n", data=body,
                          content_type="text/xml")  # fmt: skip
    assert refused.status_code == 403


def test_a_customer_group_join_becomes_a_group_joined_event_per_member(customers, wecom_account, client):
    crypto = WeComCallbackCrypto("QDG6eK", AES_KEY, "wx5823bf96d3bd56c7")
    xml = ("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
           "<CreateTime>1780000200</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wr-group1]]></ChatId>"
           "<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
           "<JoinScene>3</JoinScene><MemChangeCnt>2</MemChangeCnt>"
           "<MemChangeList><Item>wm-one</Item><Item>wm-two</Item></MemChangeList></xml>")  # fmt: skip
    body, signature = crypto.seal(xml, "1700000000", "nonce1")
    for _resent in range(2):  # WeCom resends a callback it got no answer to: nothing is recorded twice
        answer = client.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1700000000&nonce=nonce1",
                             data=body, content_type="text/xml")  # fmt: skip
        assert answer.content == b"success"
    rows = (
        customers.raw_connection()
        .execute("SELECT record_key, event_type, json_extract_string(properties, '$.chat_id') FROM events ORDER BY 1, 2")
        .fetchall()
    )
    assert rows == [("wecom|wm-one", "group_joined", "wr-group1"), ("wecom|wm-two", "group_joined", "wr-group1"),
                    (None, "wecom_group_update", "wr-group1")]  # fmt: skip


def test_sends_suppressed_reasons_have_text(customers, staff, no_holdout):
    client = api(staff["operator"])
    body = post(client, "/api/sends", {"channel": "email", "customer_id": 1, "subject": "s"}, "e1").json()
    assert body["reason"] == "no_consent" and body["reason_text"]
    assert Send.objects.count() == 1
