"""The member centre's pages: only a member session opens them (a staff login is not one); 我的隐私 shows
what the brand holds about the person in clear, lets them unsubscribe from a channel (recorded with its
source, and the contact policy then refuses the channel's sends) and subscribe again, and sends requests
for a copy or deletion to the staff queue; everything in Chinese with an English switch, no English
words in the Chinese pages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from siyu.customers.models import Consent
from siyu.engagement.messaging.actions import enqueue_send
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import SendRequest
from siyu.members import links
from siyu.members.auth import MEMBER_KEY
from siyu.privacy.models import DataRequest
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db

MEMBER_PAGES = ("/m/", "/m/privacy/")


def sign_in(client, customer_id):
    assert client.get(links.sign_in_url(customer_id)).status_code == 302


def test_member_pages_need_a_member_session_and_a_staff_login_is_not_one(client, brand):
    for path in MEMBER_PAGES:
        answer = client.get(path)
        assert answer.status_code == 302 and answer["Location"].startswith("/m/sign-in/?next=")
    client.force_login(create_user("ops", "pw-ops-1", "operator"))
    for path in MEMBER_PAGES:
        assert client.get(path)["Location"].startswith("/m/sign-in/")
    assert client.post("/m/privacy/consent/", {"channel": "sms", "accept": "0"}).status_code == 302
    assert not Consent.objects.exists()
    # a member signing in and out leaves the staff login alone
    sign_in(client, brand["one"])
    assert client.get("/m/").status_code == 200
    assert client.get("/customers/").status_code == 200
    client.post("/m/sign-out/")
    assert client.get("/m/")["Location"].startswith("/m/sign-in/")
    assert client.get("/customers/").status_code == 200


def test_my_privacy_shows_what_the_brand_holds_in_clear(client, brand):
    sign_in(client, brand["one"])
    page = client.get("/m/privacy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "张伟" in page and "13800138001" in page  # in clear: they are the person
    assert "玫瑰精华水" not in page  # what they bought is in the copy they can ask for, not on this page
    assert 'data-orders="2"' in page and "387.00" in page
    # nothing refused yet: all messages, every channel of its own, and offers chosen for them
    assert page.count('data-accepted="1"') == 10 and 'data-channel="webhook"' in page
    assert 'data-channel="personalised" data-accepted="1"' in page


def test_unsubscribing_from_sms_is_recorded_and_the_policy_refuses_the_next_sms(client, brand):
    sign_in(client, brand["one"])
    answer = client.post("/m/privacy/consent/", {"channel": "sms", "accept": "0"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 302
    consent = Consent.objects.get(customer_id=brand["one"], channel="sms")
    assert consent.status == "opt_out" and consent.source == "会员中心" and consent.recorded_by is None
    page = client.get("/m/privacy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-channel="sms" data-accepted="0"' in page and "已退订" in page
    send = enqueue_send(SendRequest("after-unsubscribe", "sms", brand["one"], template="SMS_100001",
                                    marketing=False, send_at=timezone.now()))  # fmt: skip
    assert send.status == "suppressed" and send.reason == "opted_out"
    # and back
    client.post("/m/privacy/consent/", {"channel": "sms", "accept": "1"})
    assert Consent.objects.filter(customer_id=brand["one"], channel="sms").latest("recorded_at").status == "opt_in"
    again = enqueue_send(SendRequest("after-subscribe", "sms", brand["one"], template="SMS_100001",
                                     marketing=False, send_at=timezone.now()))  # fmt: skip
    assert again.status == "queued"


def test_withdrawing_a_channel_in_the_member_centre_stops_the_next_journey_send(client, brand):
    from siyu.engagement.journeys import actions as journey_actions

    sign_in(client, brand["one"])
    client.post("/m/privacy/consent/", {"channel": "webhook", "accept": "0"})  # one tap
    consent = Consent.objects.get(customer_id=brand["one"], channel="webhook")
    assert (consent.status, consent.source) == ("opt_out", "会员中心") and consent.recorded_at is not None
    journey = journey_actions.save_journey(
        None, name="每周问候", trigger={"type": "schedule", "segment_id": None, "every_days": 7, "at": "10:00"},
        holdout_percent=0, steps=[{"id": "hi", "type": "send", "channel": "webhook", "content": "您好"}],
    )  # fmt: skip
    journey = journey_actions.activate_journey(None, journey.pk, now=timezone.now())
    report = journey_actions.run_journeys(now=journey.next_run_at)
    send = Send.objects.get(source="journey", source_id=str(journey.pk), customer_id=brand["one"])
    assert (send.status, send.reason) == ("suppressed", "opted_out")
    assert report["suppressed:opted_out"] >= 1


def test_refusing_personalised_offers_keeps_service_messages(client, brand):
    sign_in(client, brand["one"])
    answer = client.post("/m/privacy/consent/", {"channel": "personalised", "accept": "0"},
                         HTTP_ACCEPT_LANGUAGE="zh-hans")  # fmt: skip
    assert answer.status_code == 302
    consent = Consent.objects.get(customer_id=brand["one"], channel="personalised")
    assert (consent.status, consent.source) == ("opt_out", "会员中心")
    page = client.get("/m/privacy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-channel="personalised" data-accepted="0"' in page
    assert 'data-channel="sms" data-accepted="1"' in page  # the channels are untouched
    now = timezone.now()
    offer = enqueue_send(SendRequest("offer", "webhook", brand["one"], content="为您推荐", personalised=True,
                                     send_at=now))  # fmt: skip
    assert (offer.status, offer.reason) == ("suppressed", "not_personalised")
    notice = enqueue_send(SendRequest("points", "webhook", brand["one"], content="积分到账", marketing=False,
                                      send_at=now))  # fmt: skip
    assert notice.status == "queued"
    client.post("/m/privacy/consent/", {"channel": "personalised", "accept": "1"})
    page = client.get("/m/privacy/").content.decode()
    assert 'data-channel="personalised" data-accepted="1"' in page


def test_unsubscribing_from_all_then_subscribing_again(client, brand):
    sign_in(client, brand["one"])
    client.post("/m/privacy/consent/", {"channel": "all", "accept": "0"})
    page = client.get("/m/privacy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-channel="all" data-accepted="0"' in page and 'data-channel="sms" data-accepted="0"' in page
    assert 'name="channel" value="sms"' not in page  # one choice while everything is withdrawn
    client.post("/m/privacy/consent/", {"channel": "all", "accept": "1"})
    page = client.get("/m/privacy/").content.decode()
    assert 'data-channel="sms" data-accepted="1"' in page


def test_an_unknown_channel_changes_nothing(client, brand):
    sign_in(client, brand["one"])
    client.post("/m/privacy/consent/", {"channel": "ugc", "accept": "0"})
    client.post("/m/privacy/consent/", {"channel": "nonsense", "accept": "0"})
    assert not Consent.objects.exists()


def test_asking_for_a_copy_or_deletion_lands_in_the_staff_queue(client, brand):
    sign_in(client, brand["one"])
    client.post("/m/privacy/request/", {"kind": "access"})
    client.post("/m/privacy/request/", {"kind": "deletion"})
    client.post("/m/privacy/request/", {"kind": "correction"})  # not offered on the page: refused
    found = list(DataRequest.objects.order_by("pk"))
    assert [(r.kind, r.source, r.customer_id, r.status) for r in found] == [
        ("access", "member_centre", brand["one"], "open"), ("deletion", "member_centre", brand["one"], "open")]
    assert "一键登录链接" in found[0].verification
    assert (found[0].due_at - found[0].requested_at).days == 15
    page = client.get("/m/privacy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert page.count('data-request-kind=') == 2 and "待处理" in page


def test_the_bottom_nav_links_only_pages_that_exist(client, brand):
    sign_in(client, brand["one"])
    page = client.get("/m/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    nav = page[page.index('<nav class="m-nav"'):]
    assert "首页" in nav and "我的" in nav and 'href="/m/privacy/"' in nav


def test_the_session_follows_a_merge_to_the_surviving_customer(client, brand, monkeypatch):
    sign_in(client, brand["two"])
    monkeypatch.setattr("siyu.members.auth.merged_into", lambda cid: brand["one"] if cid == brand["two"] else None)
    client.get("/m/")
    assert client.session[MEMBER_KEY]["customer_id"] == brand["one"]
