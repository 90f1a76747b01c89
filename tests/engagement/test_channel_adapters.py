"""Each adapter against its fake provider: signatures checked by the fake as the provider documents,
token lifecycle, and the split between retryable and permanent errors."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import time

import pytest

from siyu.engagement.messaging.channels import aliyun, tencent, webhook
from siyu.engagement.messaging.channels.aliyun import AliyunSmsAdapter
from siyu.engagement.messaging.channels.base import Outgoing, ProviderError
from siyu.engagement.messaging.channels.smtp import SmtpAdapter
from siyu.engagement.messaging.channels.tencent import TencentSmsAdapter
from siyu.engagement.messaging.channels.webhook import WebhookAdapter
from siyu.engagement.messaging.channels.wecom import WeComAppAdapter, WeComClient, WeComMassAdapter
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms, FakeTencentSms
from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
from siyu.engagement.messaging.fakes.wecom import FakeWeCom


def message(send_id=1, template="", content="", variables=None, **address):
    return Outgoing(send_id, f"key-{send_id}", send_id, address, template, "", content, variables or {})


@pytest.fixture(autouse=True)
def _fresh_tokens():
    WeComClient._tokens.clear()
    yield
    WeComClient._tokens.clear()


# --- WeCom ---------------------------------------------------------------------------------------------


@pytest.fixture
def wecom():
    with FakeWeCom() as server:
        server.add_contact("guide1", "wm-one", "张三")
        server.add_contact("guide1", "wm-two", "李四")
        server.add_contact("guide2", "wm-three", "王五")
        yield server


def client_for(server, secret="contact-secret"):
    return WeComClient(server.corp_id, secret, server.url)


def test_wecom_token_is_cached_and_fetched_again_when_expired_or_invalid(wecom):
    client = client_for(wecom)
    assert client.list_external_contacts("guide1") == ["wm-one", "wm-two"]
    assert client.get_external_contact("wm-three")["follow_user"][0]["userid"] == "guide2"
    assert wecom.tokens_issued == 1  # one token for both calls
    wecom.expire_tokens()  # the next call answers 42001: the client fetches a new token and repeats
    assert client.list_external_contacts("guide2") == ["wm-three"]
    assert wecom.tokens_issued == 2
    wecom.tokens.clear()  # 40014, invalid token
    assert client.list_external_contacts("guide2") == ["wm-three"]
    assert wecom.tokens_issued == 3


def test_wecom_token_expiry_on_our_clock_refreshes_before_the_server_refuses(wecom, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(WeComClient, "clock", staticmethod(lambda: now[0]))
    client = client_for(wecom)
    client.list_external_contacts("guide1")
    now[0] += 7200 - 299  # inside the 5-minute margin before expiry
    client.list_external_contacts("guide1")
    assert wecom.tokens_issued == 2
    assert [r["path"] for r in wecom.requests].count("/cgi-bin/gettoken") == 2


def test_wecom_errors_are_classified(wecom):
    with pytest.raises(ProviderError) as bad_secret:
        client_for(wecom, "wrong").token()
    assert not bad_secret.value.retryable and "40001" in str(bad_secret.value)
    client = client_for(wecom)
    wecom.script(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    with pytest.raises(ProviderError) as limited:
        client.token()
        client.list_external_contacts("guide1")
    assert limited.value.retryable
    with pytest.raises(ProviderError) as not_member:
        client.list_external_contacts("nobody")
    assert not not_member.value.retryable
    with pytest.raises(ProviderError) as wrong_api:  # the app secret's token cannot use 客户联系
        client_for(wecom, "app-secret").list_external_contacts("guide1")
    assert "48002" in str(wrong_api.value)


def test_wecom_company_api_limit_answers_45009_and_is_retryable(wecom):
    wecom.api_calls_per_minute = 2
    client = client_for(wecom)
    client.list_external_contacts("guide1")
    client.list_external_contacts("guide1")
    with pytest.raises(ProviderError) as limited:
        client.list_external_contacts("guide1")
    assert limited.value.retryable and "45009" in str(limited.value)


def test_wecom_mass_send_groups_by_sender_and_reports_non_contacts(wecom):
    adapter = WeComMassAdapter(
        {"corp_id": wecom.corp_id, "base_url": wecom.url}, {"contact_secret": "contact-secret"}
    )
    outcomes = adapter.deliver(
        [
            message(
                1,
                content="{name}，新品到了",
                variables={"name": "会员"},
                external_userid="wm-one",
                sender="guide1",
            ),
            message(
                2,
                content="{name}，新品到了",
                variables={"name": "会员"},
                external_userid="wm-two",
                sender="guide1",
            ),
            message(
                3,
                content="{name}，新品到了",
                variables={"name": "会员"},
                external_userid="wm-three",
                sender="guide1",
            ),
            message(4, content="hi", external_userid="wm-three", sender="guide2"),
            message(5, content="hi", external_userid="wm-x"),
        ]
    )
    assert (
        outcomes[1].ok
        and outcomes[2].ok
        and outcomes[1].provider_message_id == outcomes[2].provider_message_id
    )
    assert not outcomes[3].ok and not outcomes[3].retryable  # wm-three is guide2's contact, not guide1's
    assert outcomes[4].ok and not outcomes[5].ok
    assert len(wecom.mass) == 2 and wecom.mass[outcomes[1].provider_message_id]["text"] == "会员，新品到了"
    results = client_for(wecom).get_groupmsg_send_result(outcomes[1].provider_message_id, "guide1")
    assert sorted(r["external_userid"] for r in results) == ["wm-one", "wm-two"]


def test_wecom_attachments_are_uploaded_as_multipart_and_refusals_are_permanent(wecom):
    adapter = WeComMassAdapter(
        {"corp_id": wecom.corp_id, "base_url": wecom.url}, {"contact_secret": "contact-secret"}
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value survives the multipart body
    picture = {"material_id": 7, "kind": "image", "title": "海报", "description": "", "image": png,
               "image_name": "poster.png", "content_type": "image/png"}  # fmt: skip
    bad = {**picture, "material_id": 8, "image": b"not an image", "image_name": "x.png"}
    first, second = message(1, content="新品", external_userid="wm-one", sender="guide1"), message(
        2, content="新品", external_userid="wm-three", sender="guide2")
    first.attachments, second.attachments = [picture], [bad]
    outcomes = adapter.deliver([first, second])
    assert outcomes[1].ok and not outcomes[2].ok and not outcomes[2].retryable and "40005" in outcomes[2].error
    (media,) = wecom.media.values()
    assert media["data"] == png and media["filename"] == "poster.png" and media["type"] == "image"
    (sent,) = wecom.mass.values()
    assert sent["attachments"] == [{"msgtype": "image", "image": {"media_id": next(iter(wecom.media))}}]


def test_wecom_send_results_follow_the_cursor(wecom):
    for i in range(5):
        wecom.add_contact("guide3", f"wm-p{i}")
    client = client_for(wecom)
    msgid, _ = client.add_msg_template("guide3", [f"wm-p{i}" for i in range(5)], "hello")
    original = wecom._send_result

    def small_pages(query, body):
        return original(query, {**body, "limit": 2})

    wecom._send_result = small_pages
    assert len(client.get_groupmsg_send_result(msgid, "guide3")) == 5


def test_wecom_app_message_reports_invalid_members(wecom):
    adapter = WeComAppAdapter(
        {"corp_id": wecom.corp_id, "agent_id": "1000002", "base_url": wecom.url}, {"app_secret": "app-secret"}
    )
    outcomes = adapter.deliver(
        [message(1, content="新任务", member="guide1"), message(2, content="新任务", member="ghost")]
    )
    assert outcomes[1].ok and not outcomes[2].ok and not outcomes[2].retryable
    assert wecom.app_delivered == [("guide1", "新任务")]


# --- Aliyun ----------------------------------------------------------------------------------------------


def test_aliyun_signature_matches_the_documented_example():
    params = {
        "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
        "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
    }  # fmt: skip
    assert aliyun.sign("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert aliyun.percent_encode("a b*~") == "a%20b%2A~"


@pytest.fixture
def aliyun_fake():
    with FakeAliyunSms() as server:
        yield server


def aliyun_adapter(server, secret="aliyun-secret"):
    return AliyunSmsAdapter(
        {"access_key_id": "LTAI-test", "sign_name": "私域测试", "base_url": server.url},
        {"access_key_secret": secret},
    )


def test_aliyun_sends_and_the_fake_verifies_the_signature(aliyun_fake):
    out = aliyun_adapter(aliyun_fake).deliver_one(
        message(7, "SMS_100001", variables={"name": "张三"}, phone="+8613800000001")
    )
    assert out.ok and out.provider_message_id
    assert aliyun_fake.delivered == [
        {"phone": "13800000001", "template": "SMS_100001", "variables": {"name": "张三"}, "out_id": "7"}
    ]


def test_aliyun_errors_are_classified(aliyun_fake):
    wrong = aliyun_adapter(aliyun_fake, "not-the-secret").deliver_one(
        message(1, "SMS_100001", variables={"name": "x"}, phone="13800000001")
    )
    assert not wrong.ok and not wrong.retryable and "SignatureDoesNotMatch" in wrong.error
    adapter = aliyun_adapter(aliyun_fake)
    missing = adapter.deliver_one(message(2, "SMS_100001", variables={}, phone="13800000002"))
    assert not missing.retryable and "TEMPLATE_MISSING_PARAMETERS" in missing.error
    bad_number = adapter.deliver_one(message(3, "SMS_100001", variables={"name": "x"}, phone="12345"))
    assert not bad_number.retryable and "MOBILE_NUMBER_ILLEGAL" in bad_number.error
    assert adapter.deliver_one(message(4, "SMS_100001", variables={"name": "x"}, phone="13800000004")).ok
    again = adapter.deliver_one(message(5, "SMS_100001", variables={"name": "x"}, phone="13800000004"))
    assert again.retryable and "BUSINESS_LIMIT_CONTROL" in again.error  # per-number flow control
    aliyun_fake.script(500, {"Code": "isp.SYSTEM_ERROR", "Message": "busy"})
    busy = adapter.deliver_one(message(6, "SMS_100001", variables={"name": "x"}, phone="13800000006"))
    assert busy.retryable


def test_aliyun_fake_refuses_a_replayed_nonce(aliyun_fake):
    adapter = aliyun_adapter(aliyun_fake)
    params = adapter.signed_params({"PhoneNumbers": "13800000009", "SignName": "私域测试", "TemplateCode": "SMS_100001",
                                    "TemplateParam": '{"name":"x"}'}, nonce="same-nonce")  # fmt: skip
    from urllib.parse import urlencode

    body = urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert adapter.http.request("POST", "/", body=body, headers=headers).json()["Code"] == "OK"
    assert (
        adapter.http.request("POST", "/", body=body, headers=headers).json()["Code"] == "SignatureNonceUsed"
    )


# --- Tencent Cloud -------------------------------------------------------------------------------------------


def test_tc3_signature_matches_the_documented_example():
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    to_sign, scope = tencent.string_to_sign("cvm.tencentcloudapi.com", payload, 1551113065, "cvm")
    assert scope == "2019-02-25/cvm/tc3_request"
    assert to_sign.endswith("5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    expected = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert tencent.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", to_sign) == expected


@pytest.fixture
def tencent_fake():
    with FakeTencentSms() as server:
        yield server


def tencent_adapter(server, key="tencent-secret"):
    return TencentSmsAdapter(
        {"secret_id": "AKID-test", "sdk_app_id": "1400000001", "sign_name": "私域", "base_url": server.url},
        {"secret_key": key},
    )


def test_tencent_sends_one_request_per_template_and_parameters(tencent_fake):
    adapter = tencent_adapter(tencent_fake)
    outcomes = adapter.deliver(
        [
            message(i, "100001", variables={"params": ["8折"]}, phone=f"+86138000000{i:02d}")
            for i in range(1, 4)
        ]
        + [message(9, "100001", variables={"params": ["9折"]}, phone="+8613800000009")]
    )
    assert all(o.ok for o in outcomes.values())
    assert tencent_fake.requests_signed_ok == 2 and len(tencent_fake.delivered) == 4


def test_tencent_errors_are_classified(tencent_fake, monkeypatch):
    wrong = tencent_adapter(tencent_fake, "nope").deliver(
        [message(1, "100001", variables={"params": ["x"]}, phone="+8613800000001")]
    )
    assert not wrong[1].ok and not wrong[1].retryable and "SignatureFailure" in wrong[1].error
    adapter = tencent_adapter(tencent_fake)
    outcomes = adapter.deliver(
        [message(2, "100001", variables={"params": ["x"]}, phone="+8613800000002"),
         message(3, "100001", variables={"params": ["x"]}, phone="+8613800000002"),
         message(4, "100001", variables={"params": ["x"]}, phone="+86123")]
    )  # fmt: skip
    assert outcomes[2].ok
    assert outcomes[3].retryable and "ThirtySecondLimit" in outcomes[3].error
    assert not outcomes[4].retryable and "IncorrectPhoneNumber" in outcomes[4].error
    monkeypatch.setattr(TencentSmsAdapter, "clock", staticmethod(lambda: time.time() - 600))
    skewed = adapter.deliver([message(5, "100001", variables={"params": ["x"]}, phone="+8613800000005")])
    assert skewed[5].retryable and "SignatureExpire" in skewed[5].error


# --- SMTP ------------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("gone@"):
                return "550 5.1.1 mailbox unavailable"
            if address.startswith("busy@"):
                return "451 4.3.0 try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 Message accepted"

    handler = Handler()
    with socket.socket() as probe:  # aiosmtpd's controller needs a real port number to check it started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, handler
    controller.stop()


def test_smtp_delivers_to_a_real_local_server_and_classifies_refusals(smtp_server):
    controller, handler = smtp_server
    adapter = SmtpAdapter({"host": "127.0.0.1", "port": controller.port, "from_address": "crm@brand.cn"}, {})
    ok = adapter.deliver_one(
        Outgoing(
            1,
            "camp-1-c1",
            1,
            {"email": "one@example.com"},
            "",
            "{name}，您好",
            "会员日 {day}",
            {"name": "张三", "day": "周六"},
        )
    )
    gone = adapter.deliver_one(Outgoing(2, "k2", 2, {"email": "gone@example.com"}, "", "s", "b", {}))
    busy = adapter.deliver_one(Outgoing(3, "k3", 3, {"email": "busy@example.com"}, "", "s", "b", {}))
    adapter.close()
    assert ok.ok and not gone.ok and not gone.retryable and "550" in gone.error
    assert not busy.ok and busy.retryable
    (received,) = handler.messages
    text = received.content.decode()
    assert "Message-ID: <camp-1-c1@brand.cn>" in text and received.rcpt_tos == ["one@example.com"]
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert str(parsed["Subject"]) == "张三，您好" and parsed.get_content().strip() == "会员日 周六"


def test_smtp_server_down_is_retryable():
    adapter = SmtpAdapter({"host": "127.0.0.1", "port": 1, "from_address": "crm@brand.cn"}, {})
    outcomes = adapter.deliver([Outgoing(1, "k", 1, {"email": "a@b.cn"}, "", "s", "b", {})])
    assert outcomes[1].retryable


# --- webhook ------------------------------------------------------------------------------------------------------


def test_webhook_is_signed_and_a_repeat_is_processed_once():
    with FakeWebhookReceiver() as receiver:
        adapter = WebhookAdapter({"url": receiver.url + "/hooks/siyu"}, {"signing_secret": "webhook-secret"})
        first = adapter.deliver_one(message(1, content="hi {name}", variables={"name": "张三"}))
        again = adapter.deliver_one(message(1, content="hi {name}", variables={"name": "张三"}))
        assert first.ok and again.ok and receiver.repeats == 1
        assert receiver.processed["key-1"]["content"] == "hi 张三"
        assert receiver.requests[0]["path"] == "/hooks/siyu"
        wrong = WebhookAdapter({"url": receiver.url}, {"signing_secret": "other"}).deliver_one(message(2))
        assert not wrong.ok and not wrong.retryable
        receiver.script(503, {"error": "down"}, {"Retry-After": "120"})
        down = adapter.deliver_one(message(3))
        assert down.retryable and down.retry_after == 120
        receiver.script(429, {"error": "slow down"})
        assert adapter.deliver_one(message(4)).retryable


def test_webhook_signature_refuses_old_timestamps():
    body = json.dumps({"a": 1}).encode()
    now = 1_800_000_000
    good = webhook.signature("s", str(now), body)
    assert webhook.verify_signature("s", str(now), body, good, now + 299)
    assert not webhook.verify_signature("s", str(now), body, good, now + 301)
    assert not webhook.verify_signature("s", str(now), body + b" ", good, now)
