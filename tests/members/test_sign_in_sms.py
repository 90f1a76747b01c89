"""Sign-in by SMS one-time code against the fake Aliyun and Tencent SMS APIs: a known customer signs in;
wrong, expired and replayed codes are refused; five tries per code; one code a minute and ten a day per
phone; thirty an hour per network address; codes stored hashed; the send recorded in the outbox and not
stopped by an SMS opt-out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from members_helpers import PHONE_ONE, sent_code

from siyu.customers.actions import record_consent
from siyu.engagement.messaging.models import Send
from siyu.members import actions
from siyu.members.auth import MEMBER_KEY
from siyu.members.errors import SignInRefused
from siyu.members.models import MemberSignIn, SmsCode

pytestmark = pytest.mark.django_db


def ask(client, phone=PHONE_ONE, ip="10.0.0.1"):
    return client.post("/m/sign-in/", {"phone": phone, "action": "send"}, REMOTE_ADDR=ip,
                       HTTP_ACCEPT_LANGUAGE="zh-hans")  # fmt: skip


def verify(client, code, phone=PHONE_ONE):
    return client.post("/m/sign-in/", {"phone": phone, "code": code, "action": "verify", "next": "/m/privacy/"},
                       REMOTE_ADDR="10.0.0.1", HTTP_ACCEPT_LANGUAGE="zh-hans")  # fmt: skip


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_a_known_customer_signs_in_with_the_code_the_provider_delivered(client, brand, provider, request):
    fake = request.getfixturevalue(provider)
    page = ask(client)
    assert page.status_code == 200 and "验证码" in page.content.decode()
    code = sent_code(fake)
    assert len(code) == 6 and code.isdigit()
    stored = SmsCode.objects.get()
    assert code not in stored.code_hash and PHONE_ONE not in stored.phone_hash  # hashed, never in clear
    answer = verify(client, code)
    assert answer.status_code == 302 and answer["Location"] == "/m/privacy/"
    assert client.session[MEMBER_KEY]["customer_id"] == brand["one"]
    assert MemberSignIn.objects.get().customer_id == brand["one"]
    home = client.get("/m/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'data-member="{brand["one"]}"' in home and "张伟" in home
    # the code is a service message, recorded in the outbox without the code
    send = Send.objects.get(source_id="member_sign_in")
    assert send.status == "sent" and send.marketing is False and send.customer_id == brand["one"]
    assert code not in str(send.variables)


def test_wrong_expired_and_replayed_codes_are_refused(client, brand, aliyun):
    ask(client)
    code = sent_code(aliyun)
    wrong = "000000" if code != "000000" else "111111"
    page = verify(client, wrong).content.decode()
    assert "验证码不正确" in page and "4" in page and MEMBER_KEY not in client.session
    assert verify(client, code).status_code == 302
    client.post("/m/sign-out/")
    assert "没有有效的验证码" in verify(client, code).content.decode()  # replayed: spent
    # an expired one
    SmsCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=7))
    ask(client)
    fresh = sent_code(aliyun)
    SmsCode.objects.filter(used_at=None).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert "没有有效的验证码" in verify(client, fresh).content.decode()
    assert MEMBER_KEY not in client.session


def test_five_tries_per_code_then_the_right_code_no_longer_works(client, brand, aliyun):
    ask(client)
    code = sent_code(aliyun)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        verify(client, wrong)
    assert "尝试次数过多" in verify(client, wrong).content.decode()
    assert "尝试次数过多" in verify(client, code).content.decode()
    assert MEMBER_KEY not in client.session


def test_one_code_a_minute_and_ten_a_day_per_phone(brand, aliyun):
    start = timezone.now()
    actions.send_sign_in_code(PHONE_ONE, "10.0.0.1", now=start)
    with pytest.raises(SignInRefused) as refused:
        actions.send_sign_in_code(PHONE_ONE, "10.0.0.2", now=start + dt.timedelta(seconds=30))
    assert refused.value.reason == "too_soon"
    # the fake's own flow control would refuse ten a day at this pace: give it room
    aliyun.per_number_per_minute = 100
    for n in range(1, 10):
        actions.send_sign_in_code(PHONE_ONE, f"10.0.1.{n}", now=start + dt.timedelta(minutes=2 * n))
    with pytest.raises(SignInRefused) as refused:
        actions.send_sign_in_code(PHONE_ONE, "10.0.2.1", now=start + dt.timedelta(hours=3))
    assert refused.value.reason == "phone_daily_limit"
    assert SmsCode.objects.count() == 10 and len(aliyun.delivered) == 10
    actions.send_sign_in_code(PHONE_ONE, "10.0.2.1", now=start + dt.timedelta(days=1, minutes=1))


def test_thirty_codes_an_hour_per_network_address(brand, aliyun):
    aliyun.per_number_per_minute = 100
    start = timezone.now()
    for n in range(30):
        actions.send_sign_in_code(f"1370000{n:04d}", "10.9.9.9", now=start + dt.timedelta(seconds=n))
    with pytest.raises(SignInRefused) as refused:
        actions.send_sign_in_code("13700009999", "10.9.9.9", now=start + dt.timedelta(minutes=5))
    assert refused.value.reason == "ip_limit"
    actions.send_sign_in_code("13700009999", "10.9.9.8", now=start + dt.timedelta(minutes=5))  # another network


def test_a_number_that_is_no_mobile_and_an_account_without_a_code_template(client, db, warehouse):
    assert "请输入中国大陆手机号" in ask(client, phone="12345").content.decode()
    assert "暂时无法" in ask(client).content.decode()  # no SMS account configured


def test_an_sms_opt_out_does_not_stop_the_code_the_person_asked_for(client, brand, aliyun):
    record_consent(None, brand["one"], "sms", "opt_out", "客户回复退订")
    ask(client)
    assert verify(client, sent_code(aliyun)).status_code == 302


def test_an_unknown_phone_lands_a_record_and_the_session_waits_for_its_customer(client, brand, aliyun):
    from siyu.identity.actions import resolve_identities

    ask(client, phone="13600136000")
    verify(client, sent_code(aliyun), phone="13600136000")
    session = client.session[MEMBER_KEY]
    assert session["customer_id"] is None and session["record_key"].startswith("member_centre|phone-")
    assert "13600136000" not in session["record_key"]
    assert "正在为您建立会员档案" in client.get("/m/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    resolve_identities()  # what the pipeline runs after records land
    home = client.get("/m/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "data-member=" in home
    cid = client.session[MEMBER_KEY]["customer_id"]
    assert cid not in (brand["one"], brand["two"])
    # signing in again lands nothing new and finds that customer
    client.post("/m/sign-out/")
    SmsCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    ask(client, phone="13600136000")
    verify(client, sent_code(aliyun), phone="13600136000")
    assert client.session[MEMBER_KEY]["customer_id"] == cid


def test_ten_wrong_codes_lock_the_number_for_a_day_and_every_wrong_code_is_audited(brand, aliyun):
    from siyu.core.models import AuditLog

    aliyun.per_number_per_minute = 100
    start = timezone.now()
    for n in range(2):  # two codes, five wrong tries each
        actions.send_sign_in_code(PHONE_ONE, "10.0.0.1", now=start + dt.timedelta(minutes=2 * n))
        code = sent_code(aliyun)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            with pytest.raises(SignInRefused):
                actions.check_sign_in_code(PHONE_ONE, wrong, ip=f"10.0.{n}.9")
    wrongs = AuditLog.objects.filter(action="member_code_wrong")
    assert wrongs.count() == 10 and {a.target for a in wrongs} == {"10.0.0.9", "10.0.1.9"}
    assert PHONE_ONE not in str([a.detail for a in wrongs])
    later = start + dt.timedelta(minutes=10)
    with pytest.raises(SignInRefused) as refused:
        actions.send_sign_in_code(PHONE_ONE, "10.0.0.2", now=later)
    assert refused.value.reason == "phone_locked"
    assert AuditLog.objects.filter(action="member_code_refused", detail__reason="phone_locked").count() == 1
    with pytest.raises(SignInRefused) as refused:
        actions.check_sign_in_code(PHONE_ONE, code, ip="10.0.0.3")  # even the right code of the last one
    assert refused.value.reason == "phone_locked"
    actions.send_sign_in_code(PHONE_ONE, "10.0.0.2", now=start + dt.timedelta(days=1, minutes=5))  # next day


def test_twenty_wrong_codes_from_one_address_lock_checking_from_it(client, brand, aliyun):
    from siyu.core.models import AuditLog

    for _ in range(20):
        AuditLog.objects.create(action="member_code_wrong", target="10.0.0.1", detail={"reason": "wrong_code"})
    ask(client, ip="10.0.0.5")
    code = sent_code(aliyun)
    page = verify(client, code).content.decode()  # verify() comes from 10.0.0.1
    assert "此网络输错验证码次数过多" in page and MEMBER_KEY not in client.session
    assert actions.check_sign_in_code(PHONE_ONE, code, ip="10.0.0.6")  # another network still signs in
