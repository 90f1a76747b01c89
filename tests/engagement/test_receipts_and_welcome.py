"""WeCom welcome messages driven by the add-contact callback, and SMS delivery receipts and replies pushed by
Aliyun and Tencent Cloud: receipts update the sends, replies become events, and an unsubscribe reply
stops every later SMS (property-tested)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from engagement_helpers import NOON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core import pii
from siyu.customers.actions import record_consent
from siyu.customers.models import Consent
from siyu.engagement.messaging.actions import configure_account, deliver_due_sends, enqueue_sends
from siyu.engagement.messaging.channel_actions import UNSUBSCRIBE_WORDS, is_unsubscribe, record_sms_replies
from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto, WeComClient
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms, FakeTencentSms
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"


# --- welcome messages ---------------------------------------------------------------------------------------


@pytest.fixture
def wecom(db):
    WeComClient._tokens.clear()
    with FakeWeCom(corp_id=CORP) as server:
        server.add_contact("guide1", "wm-one", "张三")
        server.add_contact("guide1", "wm-new", "新客")
        configure_account(
            None, "wecom", "wecom", {"corp_id": CORP, "base_url": server.url, "welcome_text": "欢迎添加，我是您的专属顾问"},
            {"contact_secret": "contact-secret", "callback_token": "QDG6eK", "callback_aes_key": AES_KEY},
        )  # fmt: skip
        yield server
    WeComClient._tokens.clear()


def added(client, ext, code, created=1780000000):
    crypto = WeComCallbackCrypto("QDG6eK", AES_KEY, CORP)
    xml = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
           f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
           f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
           f"<UserID><![CDATA[guide1]]></UserID><ExternalUserID><![CDATA[{ext}]]></ExternalUserID>"
           f"<State><![CDATA[live-code-7]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>")  # fmt: skip
    body, signature = crypto.seal(xml, "1700000000", "nonce1")
    return client.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1700000000&nonce=nonce1",
                       data=body, content_type="text/xml")  # fmt: skip


def test_add_contact_callback_sends_the_welcome_message_at_once(customers, wecom, client):
    code = wecom.issue_welcome_code("guide1", "wm-new")
    assert added(client, "wm-new", code).content == b"success"
    assert wecom.welcomes == [
        {"staff": "guide1", "external_userid": "wm-new", "text": "欢迎添加，我是您的专属顾问", "attachments": []}
    ]
    send = Send.objects.get(channel="wecom_welcome")
    assert send.status == "sent" and send.customer_id is None and send.member == "guide1"
    assert (
        added(client, "wm-new", code).content == b"success"
    )  # WeCom resends the callback: no second message
    assert len(wecom.welcomes) == 1 and Send.objects.filter(channel="wecom_welcome").count() == 1
    touches = customers.raw_connection().execute("SELECT channel FROM touches").fetchall()
    assert touches == [("wecom_welcome",)]


def test_no_welcome_message_to_an_opted_out_customer_or_with_an_expired_code(customers, wecom, client):
    record_consent(None, 1, "wecom", "opt_out", "客户要求")  # customer 1 is wm-one
    assert added(client, "wm-one", wecom.issue_welcome_code("guide1", "wm-one")).content == b"success"
    refused = Send.objects.get(channel="wecom_welcome")
    assert (refused.customer_id, refused.status, refused.reason) == (1, "suppressed", "opted_out")
    expired = wecom.issue_welcome_code("guide1", "wm-new", valid_for=-1)
    assert added(client, "wm-new", expired).content == b"success"  # WeCom still gets its answer
    late = Send.objects.get(channel="wecom_welcome", customer_id=None)
    assert late.status == "failed_permanent" and "40058" in late.last_error
    assert wecom.welcomes == []


# --- SMS receipts and replies ---------------------------------------------------------------------------------


def _with_phone_hashes(con):
    for cid in (1, 2, 3):
        con.execute("UPDATE records SET phone_hash = ? WHERE record_key = ?",
                    [pii.keyed_hash(f"+861380000000{cid}"), f"shop|m{cid}"])  # fmt: skip


@pytest.fixture
def aliyun(customers, no_holdout):
    _with_phone_hashes(customers.raw_connection())
    with FakeAliyunSms(per_number_per_minute=100) as server:
        configure_account(None, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试",
                                                  "base_url": server.url},
                          {"access_key_secret": "aliyun-secret", "receipt_token": "rt-aliyun"})  # fmt: skip
        yield server


@pytest.fixture
def tencent(customers, no_holdout):
    _with_phone_hashes(customers.raw_connection())
    with FakeTencentSms(per_number_per_30s=100) as server:
        configure_account(None, "sms", "tencent", {"secret_id": "AKID-test", "sdk_app_id": "1400000001",
                                                   "sign_name": "私域测试", "base_url": server.url},
                          {"secret_key": "tencent-secret", "receipt_token": "rt-tencent"})  # fmt: skip
        yield server


def sms(key, cid, template="SMS_100001", variables=None, at=NOON):
    return enqueue_sends([SendRequest(key, "sms", customer_id=cid, template=template,
                                      variables=variables or {"name": "张三"})], now=at)[0]  # fmt: skip


def opt_in(*ids):
    for cid in ids:
        record_consent(None, cid, "sms", "opt_in", "注册", at=NOON - dt.timedelta(days=1))


def push(client, url, items):
    return client.post(url, data=json.dumps(items, ensure_ascii=False), content_type="application/json")


def test_aliyun_receipts_update_sends_and_a_td_reply_opts_out(aliyun, client):
    opt_in(1, 2)
    first, second = sms("a1", 1), sms("a2", 2)
    deliver_due_sends(now=NOON)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "sent"
    reports = [
        {
            "phone_number": "13800000001",
            "send_time": "2026-06-02 10:00:00",
            "report_time": "2026-06-02 10:00:05",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": first.provider_message_id,
            "out_id": str(first.pk),
        },
        {
            "phone_number": "13800000002",
            "send_time": "2026-06-02 10:00:00",
            "report_time": "2026-06-02 10:00:09",
            "success": False,
            "err_code": "MOBILE_NOT_ON_SERVICE",
            "err_msg": "停机",
            "sms_size": "1",
            "biz_id": second.provider_message_id,
            "out_id": str(second.pk),
        },
        {"phone_number": "13800000002", "success": True, "biz_id": "999^0", "out_id": "424242"},  # not ours
    ]
    assert push(client, "/engagement/sms/aliyun/wrong/report/", reports).status_code == 403
    answer = push(client, "/engagement/sms/aliyun/rt-aliyun/report/", reports)
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "成功"}
    push(client, "/engagement/sms/aliyun/rt-aliyun/report/", reports)  # pushed again: nothing twice
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.receipt, second.receipt) == ("delivered", "failed")
    con = aliyun_con(client)
    events = con.execute(
        "SELECT event_type, epoch(occurred_at)::BIGINT FROM events ORDER BY event_type"
    ).fetchall()
    assert [e[0] for e in events] == ["message_delivered", "message_failed"]
    # China local time read as such
    assert events[0][1] == int(dt.datetime(2026, 6, 2, 2, 0, 5, tzinfo=dt.UTC).timestamp())

    # customer 1 replies 退订: opt-out recorded with source and time; the next SMS is suppressed
    reply = [{"phone_number": "13800000001", "send_time": "2026-06-02 10:05:00", "content": " 退订 ",
              "sign_name": "【私域测试】", "dest_code": "1234", "sequence_id": 1}]  # fmt: skip
    assert push(client, "/engagement/sms/aliyun/rt-aliyun/reply/", reply).status_code == 200
    consent = Consent.objects.filter(customer_id=1, channel="sms").order_by("-recorded_at").first()
    assert consent.status == "opt_out" and "退订" in consent.source and "aliyun" in consent.source
    assert consent.recorded_at == dt.datetime(2026, 6, 2, 2, 5, tzinfo=dt.UTC)
    later = sms("a3", 1, at=NOON + dt.timedelta(hours=1))
    assert (later.status, later.reason) == ("suppressed", "opted_out")
    assert sms("a4", 2, at=NOON + dt.timedelta(hours=1)).status == "queued"
    replied = con.execute("SELECT count(*) FROM events WHERE event_type = 'message_replied'").fetchall()
    assert replied == [(1,)]


def aliyun_con(client):
    from siyu.warehouse import connection

    return connection.raw_connection()


def test_tencent_receipts_and_replies(tencent, client):
    opt_in(1, 3)
    queued = [sms("t1", 1, template="100001", variables={"params": ["张三"]}),
              sms("t3", 3, template="100001", variables={"params": ["王五"]})]  # fmt: skip
    deliver_due_sends(now=NOON)
    one, three = (Send.objects.get(pk=s.pk) for s in queued)
    assert one.status == three.status == "sent" and one.provider_message_id.startswith("2019:")
    status = [
        {"user_receive_time": "2026-06-02 10:00:03", "nationcode": "86", "mobile": "13800000001",
         "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
         "sid": one.provider_message_id},
        {"user_receive_time": "2026-06-02 10:00:04", "nationcode": "86", "mobile": "13800000003",
         "report_status": "FAIL", "errmsg": "MK:0001", "description": "用户拒收", "sid": three.provider_message_id},
    ]  # fmt: skip
    answer = push(client, "/engagement/sms/tencent/rt-tencent/report/", status)
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    one.refresh_from_db()
    three.refresh_from_db()
    assert (one.receipt, three.receipt) == ("delivered", "failed")
    # Tencent pushes a reply as one object
    reply = {"extend": "", "mobile": "13800000003", "nationcode": "86", "sign": "私域测试", "text": "td",
             "time": int(NOON.timestamp()) + 600}  # fmt: skip
    assert push(client, "/engagement/sms/tencent/rt-tencent/reply/", reply).status_code == 200
    # a queued send made before the reply is stopped by the worker's check at send time
    pending = sms("t5", 3, template="100001", variables={"params": ["王五"]}, at=NOON + dt.timedelta(hours=2))
    assert pending.status == "suppressed"  # decided at enqueue already
    assert (
        push(client, "/engagement/sms/aliyun/rt-tencent/report/", status).status_code == 404
    )  # not the provider
    assert push(client, "/engagement/sms/tencent/rt-tencent/other/", status).status_code == 404


def test_an_opt_out_by_reply_stops_a_send_already_queued(aliyun, client):
    opt_in(2)
    queued = sms("q1", 2, at=NOON)
    record_sms_replies("aliyun", [{"phone_number": "13800000002", "send_time": "2026-06-02 09:59:00",
                                   "content": "T"}], now=NOON)  # fmt: skip
    deliver_due_sends(now=NOON + dt.timedelta(minutes=1))
    queued.refresh_from_db()
    assert (queued.status, queued.reason) == ("suppressed", "opted_out")
    assert aliyun.delivered == []


# --- properties ------------------------------------------------------------------------------------------------

punctuation = st.text(alphabet=" \t\u3000.,!。！，~", max_size=3)


@given(
    word=st.sampled_from(sorted(UNSUBSCRIBE_WORDS)),
    before=punctuation,
    after=punctuation,
    upper=st.booleans(),
)
def test_every_unsubscribe_word_is_recognised_however_it_is_typed(word, before, after, upper):
    typed = word.upper() if upper else word.lower()
    assert is_unsubscribe(before + typed + after)
    assert is_unsubscribe(f"请{word}谢谢") == ("退订" in word or "拒收" in word or "取消订阅" in word)


@given(st.text(alphabet="abcefghijklmopqsuvwxyz0123456789好的谢谢收到 ", min_size=2, max_size=20))
def test_ordinary_replies_are_not_unsubscribes(text):
    assert not is_unsubscribe(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    replies=st.lists(st.sampled_from(["好的", "谢谢", "几点发货?", "1", "收到"]), max_size=4),
    stop=st.sampled_from(["TD", "t", "退订", " N ", "回复退订"]),
    position=st.integers(min_value=0, max_value=4),
)
def test_no_sms_reaches_a_customer_after_an_unsubscribe_reply(aliyun, replies, stop, position):
    Consent.objects.filter(customer_id=1).delete()
    Send.objects.filter(customer_id=1).delete()
    record_consent(None, 1, "sms", "opt_in", "注册", at=NOON - dt.timedelta(days=30))
    sequence = list(replies)
    sequence.insert(min(position, len(sequence)), stop)
    base = NOON - dt.timedelta(days=1)
    record_sms_replies("aliyun", [
        {"phone_number": "13800000001", "content": text,
         "send_time": (base + dt.timedelta(minutes=i)).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")}
        for i, text in enumerate(sequence)
    ], now=NOON)  # fmt: skip
    later = sms(f"p-{stop}-{len(sequence)}-{position}-{hash(tuple(sequence))}", 1)
    assert later.status == "suppressed" and later.reason == "opted_out"


def test_the_welcome_message_carries_its_material(customers, wecom, client, settings, tmp_path):
    from siyu.engagement.content.actions import save_material
    from siyu.engagement.errors import EngagementError

    settings.UPLOADS_DIR = tmp_path
    card = save_material(None, kind="mini_program", title="会员中心", appid="wx0123456789abcdef",
                         page_path="pages/member/index", image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)  # fmt: skip
    fields = {"corp_id": CORP, "base_url": wecom.url, "welcome_text": "欢迎！", "welcome_material": str(card.pk)}
    configure_account(None, "wecom", "wecom", fields, {})
    assert added(client, "wm-new", wecom.issue_welcome_code("guide1", "wm-new")).content == b"success"
    (welcome,) = wecom.welcomes
    assert welcome["text"] == "欢迎！" and welcome["attachments"][0]["miniprogram"]["page"] == "pages/member/index"
    # a material a WeCom message cannot carry is refused when the account is saved
    note = save_material(None, kind="case", title="案例", body="没有图片")
    with pytest.raises(EngagementError, match="no picture"):
        configure_account(None, "wecom", "wecom", {**fields, "welcome_material": str(note.pk)}, {})
