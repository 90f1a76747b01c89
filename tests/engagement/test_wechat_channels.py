"""Official-account template messages and mini-program subscribe messages against the fake WeChat API:
stable and classic access tokens, refresh on 40001/42001, error classes, and a refused template (43101)
recorded so that the contact policy suppresses the next send of it."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from engagement_helpers import NOON

from siyu.core import pii
from siyu.customers.actions import record_consent
from siyu.engagement.messaging.actions import configure_account, deliver_due_sends, enqueue_sends
from siyu.engagement.messaging.channels.base import Outgoing
from siyu.engagement.messaging.channels.wechat import (
    MiniProgramSubscribeAdapter,
    OfficialAccountTemplateAdapter,
    WeChatClient,
)
from siyu.engagement.messaging.fakes.wechat import FakeWeChat
from siyu.engagement.messaging.models import Send, TemplateRefusal
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
DATA = {"thing1": "您的订单已发货", "time2": "2026-06-02 10:00"}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    WeChatClient._tokens.clear()
    yield
    WeChatClient._tokens.clear()


@pytest.fixture
def wechat():
    with FakeWeChat() as server:
        server.followers.update({"o-one", "o-two"})
        yield server


def oa(server, **settings):
    return OfficialAccountTemplateAdapter(
        {"appid": server.appid, "base_url": server.url, "source": "oa", **settings},
        {"app_secret": server.secret},
    )


def mp(server, **settings):
    return MiniProgramSubscribeAdapter(
        {"appid": server.appid, "base_url": server.url, "source": "mp", **settings},
        {"app_secret": server.secret},
    )


def message(send_id, openid, template="TPL-ORDER", variables=None):
    return Outgoing(
        send_id, f"key-{send_id}", send_id, {"openid": openid}, template, "", "", variables or DATA
    )


def test_template_message_uses_a_stable_token_and_the_documented_body(wechat):
    adapter = oa(wechat)
    variables = {
        **DATA,
        "url": "https://shop.example/o/1",
        "miniprogram_appid": "wx-mini",
        "miniprogram_pagepath": "p/o?id=1",
    }
    outcome = adapter.deliver_one(message(1, "o-one", variables=variables))
    assert outcome.ok and outcome.provider_message_id
    body = wechat.delivered[0]
    assert body["touser"] == "o-one" and body["template_id"] == "TPL-ORDER"
    assert body["data"] == {"thing1": {"value": "您的订单已发货"}, "time2": {"value": "2026-06-02 10:00"}}
    assert body["url"] == "https://shop.example/o/1"
    assert body["miniprogram"] == {"appid": "wx-mini", "pagepath": "p/o?id=1"}
    assert body["client_msg_id"] == "key-1"
    token_calls = [r for r in wechat.requests if r["path"] == "/cgi-bin/stable_token"]
    assert len(token_calls) == 1 and json.loads(token_calls[0]["body"])["force_refresh"] is False
    assert adapter.deliver_one(message(2, "o-two")).ok
    assert wechat.tokens_issued == 1  # cached


def test_expired_or_replaced_tokens_are_fetched_again_and_the_call_repeated(wechat):
    adapter = oa(wechat, token_api="token")  # the classic cgi-bin/token
    assert adapter.deliver_one(message(1, "o-one")).ok
    wechat.expire_tokens()  # 42001
    assert adapter.deliver_one(message(2, "o-two")).ok
    wechat.tokens.clear()  # 40001: another system fetched a new token
    assert adapter.deliver_one(message(3, "o-one", variables={**DATA, "n": "3"})).ok
    assert wechat.tokens_issued == 3
    assert {r["path"] for r in wechat.requests if "token" in r["path"]} == {"/cgi-bin/token"}
    stable = oa(wechat)
    assert stable.deliver_one(message(4, "o-two")).ok
    wechat.tokens.clear()
    assert stable.deliver_one(message(5, "o-one", variables={**DATA, "n": "5"})).ok
    forced = [
        json.loads(r["body"])["force_refresh"]
        for r in wechat.requests
        if r["path"] == "/cgi-bin/stable_token"
    ]
    assert forced == [
        False,
        True,
    ]  # after a refusal the stable token is renewed, not fetched from cache again


def test_errors_are_classified(wechat):
    adapter = oa(wechat)
    not_follower = adapter.deliver_one(message(1, "o-stranger"))
    assert not not_follower.ok and not not_follower.retryable and "43004" in not_follower.error
    bad_template = adapter.deliver_one(message(2, "o-one", template="TPL-NONE"))
    assert not bad_template.retryable and "40037" in bad_template.error
    missing_data = adapter.deliver_one(message(3, "o-one", variables={"thing1": "x"}))
    assert not missing_data.retryable and "47003" in missing_data.error
    wechat.blocked.add(("o-two", "TPL-ORDER"))
    blocked = adapter.deliver_one(message(4, "o-two"))
    assert not blocked.retryable and blocked.refused and "43101" in blocked.error
    wechat.quota = wechat.calls
    limited = adapter.deliver_one(message(5, "o-one"))
    assert not limited.ok and limited.retryable and "45009" in limited.error
    wrong_secret = OfficialAccountTemplateAdapter(
        {"appid": wechat.appid, "base_url": wechat.url}, {"app_secret": "x"}
    )
    refused = wrong_secret.deliver_one(message(6, "o-one"))
    assert not refused.ok and not refused.retryable and "40125" in refused.error


def test_subscribe_message_needs_an_authorisation_per_message(wechat):
    adapter = mp(wechat, miniprogram_state="trial")
    wechat.authorised[("o-one", "TPL-ORDER")] = 1
    first = adapter.deliver_one(message(1, "o-one", variables={**DATA, "page": "pages/order?id=1"}))
    assert first.ok
    body = wechat.delivered[0]
    assert (
        body["page"] == "pages/order?id=1"
        and body["miniprogram_state"] == "trial"
        and body["lang"] == "zh_CN"
    )
    again = adapter.deliver_one(message(2, "o-one"))  # the one-time authorisation is used up
    assert not again.ok and not again.retryable and again.refused


# --- through the outbox and the contact policy ---------------------------------------------------------------


def _followers(con, source, people):
    """Records of an official account's / mini program's follower export: record id = openid."""
    seen = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [{"record_key": f"{source}|{openid}", "source": source, "format": "generic", "record_kind": "generic",
             "record_id": openid, "pii": pii.encrypt_json({}), "seen_at": seen} for openid, _ in people]  # fmt: skip
    con.register("followers", pa.Table.from_pylist(rows))
    con.execute("INSERT INTO records BY NAME SELECT * FROM followers")
    con.unregister("followers")
    con.executemany(
        "INSERT INTO customer_map VALUES (?, ?, ?)", [(f"{source}|{o}", c, seen) for o, c in people]
    )


def test_outbox_sends_subscribe_messages_and_a_refusal_stops_the_next_one(customers, no_holdout, wechat):
    _followers(customers.raw_connection(), "mp", [("o-one", 1), ("o-two", 2)])
    configure_account(None, "mini_program", "wechat_mp", {"appid": wechat.appid, "base_url": wechat.url,
                                                          "source": "mp"}, {"app_secret": wechat.secret})  # fmt: skip
    wechat.authorised[("o-one", "TPL-ORDER")] = 5

    def send(key, cid, template="TPL-ORDER", at=NOON):
        return enqueue_sends([SendRequest(key, "mini_program", customer_id=cid, template=template, variables=DATA,
                                          marketing=False)], now=at)[0]  # fmt: skip

    first = [send("m1", 1), send("m2", 2), send("m3", 3)]
    assert deliver_due_sends(now=NOON) == {"sent": 1, "failed_permanent": 2}
    one, two, three = (Send.objects.get(pk=s.pk) for s in first)
    assert one.status == "sent" and one.record_key == "mp|o-one"
    assert two.status == "failed_permanent" and "43101" in two.last_error
    assert three.status == "failed_permanent" and "no openid address" in three.last_error
    refusal = TemplateRefusal.objects.get()
    assert (refusal.customer_id, refusal.channel, refusal.template) == (2, "mini_program", "TPL-ORDER")
    # the next send of that template to that customer is suppressed; another template still goes
    assert send("m4", 2).reason == "template_refused"
    assert send("m5", 2, template="TPL-OTHER").status == "queued"
    assert send("m6", 1).status == "queued"
    # a later opt-in (the user authorised again in the mini program) lifts the refusal
    record_consent(
        None, 2, "mini_program", "opt_in", "wx.requestSubscribeMessage", at=NOON + dt.timedelta(hours=1)
    )
    assert send("m7", 2, at=NOON + dt.timedelta(hours=2)).status == "queued"


def test_a_refusal_recorded_after_enqueue_stops_the_queued_send_at_delivery(customers, no_holdout, wechat):
    _followers(customers.raw_connection(), "oa", [("o-one", 1)])
    configure_account(None, "official_account", "wechat_oa", {"appid": wechat.appid, "base_url": wechat.url,
                                                              "source": "oa"}, {"app_secret": wechat.secret})  # fmt: skip
    queued = enqueue_sends([SendRequest("t1", "official_account", customer_id=1, template="TPL-ORDER", variables=DATA,
                                        send_at=NOON + dt.timedelta(hours=1))], now=NOON)[0]  # fmt: skip
    TemplateRefusal.objects.create(customer_id=1, channel="official_account", template="TPL-ORDER", source="test",
                                   recorded_at=NOON)  # fmt: skip
    deliver_due_sends(now=NOON + dt.timedelta(hours=1))
    queued.refresh_from_db()
    assert (queued.status, queued.reason) == ("suppressed", "template_refused")
    assert wechat.delivered == []
