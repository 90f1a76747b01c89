"""离职继承 through the fake WeCom: a resigned guide's customers and groups passed to another guide; WeCom's
outcome followed per customer (accepted, refused, still waiting, then taken over when the 24 hours pass);
the owner guide in Siyu changes only for customers taken over; the two-transfers-in-90-days limit refuses a
customer before WeCom is asked; the fake checks requests as WeCom documents; 在职转接 listed beside it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from siyu.community.handover import queries
from siyu.community.handover.actions import check_handover_results, start_resigned_handover
from siyu.community.handover.errors import HandoverError
from siyu.core.errors import PermissionDenied
from siyu.customers.models import CustomerState
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import WeComTransfer
from siyu.pipeline.after_records import sync_wecom_contacts
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db
T0 = 1_760_000_000


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        for i, ext in enumerate(("wm-a", "wm-b", "wm-c", "wm-d")):
            server.add_contact("guide1", ext, f"客户{i}", createtime=T0 + i)
        server.add_contact("guide2", "wm-e", "客户E", createtime=T0)
        server.add_resigned_chat("wrG1", "guide1")
        server.add_resigned_chat("wrG2", "guide2")  # guide2 has not resigned
        yield server


@pytest.fixture
def account(fake, db):
    return configure_account(None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url},
                             {"contact_secret": "contact-secret"})  # fmt: skip


@pytest.fixture
def guides(db):
    return {u: create_user(f"user-{u}", f"pw-{u}-12345", "guide", wecom_userid=u) for u in ("guide1", "guide2")}


def _customer(warehouse, ext):
    con = warehouse.raw_connection()
    return con.execute("SELECT customer_id FROM customer_map WHERE record_key = ?", [f"wecom|{ext}"]).fetchall()[0][0]


def _owner(warehouse, ext):
    state = CustomerState.objects.filter(customer_id=_customer(warehouse, ext)).first()
    return state.owner.staff.wecom_userid if state and state.owner else None


def test_resigned_handover_follows_each_customer_until_settled(warehouse, account, fake, guides):
    sync_wecom_contacts()
    assert _owner(warehouse, "wm-a") == "guide1"
    fake.resign("guide1")
    # wm-d was already transferred twice in the last 90 days (在职, from Siyu): refused without asking WeCom
    now = timezone.now()
    for days in (10, 40):
        WeComTransfer.objects.create(external_userid="wm-d", handover_userid="x", takeover_userid="guide1",
                                     transferred_at=now - dt.timedelta(days=days))  # fmt: skip
    operator = create_user("op", "pw-op-12345", "operator")
    handover = start_resigned_handover(operator, "guide1", guides["guide2"], chat_ids=["wrG1", "wrG2"], now=now)
    items = {i.external_userid or i.chat_id: i for i in handover.items.all()}
    assert {k: (i.status, i.errcode, i.refusal) for k, i in items.items()} == {
        "wm-a": (2, None, ""), "wm-b": (2, None, ""), "wm-c": (2, None, ""),
        "wm-d": (None, None, "transfer_limit"),
        "wrG1": (1, None, ""),  # a group is passed on at once
        "wrG2": (None, 90500, "wecom"),  # its owner has not resigned
    }  # fmt: skip
    assert "wm-d" not in fake.transfers and fake.chat_transfers == [("wrG1", "guide1", "guide2")]
    assert items["wm-a"].customer_id == _customer(warehouse, "wm-a")
    # the transfers WeCom accepted to make count towards the 90-day limit
    assert WeComTransfer.objects.filter(handover_userid="guide1", takeover_userid="guide2").count() == 3

    fake.answer_transfer("wm-a", 1)  # accepted
    fake.answer_transfer("wm-b", 3)  # the customer refused
    report = check_handover_results()
    assert {k: report[k] for k in ("accepted", "refused", "waiting", "owners_assigned")} == {
        "accepted": 1, "refused": 1, "waiting": 1, "owners_assigned": 1,
    }  # fmt: skip
    assert (_owner(warehouse, "wm-a"), _owner(warehouse, "wm-b"), _owner(warehouse, "wm-c")) == (
        "guide2", "guide1", "guide1",
    )  # fmt: skip
    handover.refresh_from_db()
    assert handover.settled_at is None
    waiting = handover.items.get(external_userid="wm-c")
    assert waiting.takeover_time > timezone.now() + dt.timedelta(hours=23)  # WeCom's automatic takeover time

    fake.takeovers["wm-c"]["takeover_time"] = 0  # the 24 hours passed without a refusal
    assert check_handover_results()["accepted"] == 1
    handover.refresh_from_db()
    assert handover.settled_at is not None and _owner(warehouse, "wm-c") == "guide2"
    assert "wm-c" in fake.contacts["guide2"]
    assert check_handover_results()["handovers"] == 0  # nothing left to follow

    listed = queries.transfers_of_both_kinds()
    assert [(r["kind"], r["customers"], r["groups"], r["accepted"], r["refused"], r["waiting"]) for r in listed][0] == (
        "resigned", 4, 2, 3, 3, 0,
    )  # fmt: skip
    # the older 在职 transfers of wm-d are listed beside it, each as what it was
    assert sorted((r["kind"], r["takeover_userid"]) for r in listed[1:]) == [("on_job", "guide1"), ("on_job", "guide1")]


def test_limits_and_who_may_start(warehouse, account, fake, guides):
    sync_wecom_contacts()
    guide = guides["guide2"]
    with pytest.raises(PermissionDenied):
        start_resigned_handover(guide, "guide1", guides["guide2"])
    with pytest.raises(HandoverError, match="no customers of guide1 waiting"):
        start_resigned_handover(None, "guide1", guides["guide2"])  # guide1 has not resigned
    with pytest.raises(HandoverError, match="no WeCom userid"):
        start_resigned_handover(None, "guide1", create_user("x", "pw-x-123456", "operator"))


def test_fake_checks_requests_as_wecom_documents(warehouse, account, fake):
    client = WeComClient(fake.corp_id, "contact-secret", fake.url)
    fake.resign("guide1")
    assert [w["external_userid"] for w in client.get_unassigned_list(page_size=3)] == ["wm-a", "wm-b", "wm-c", "wm-d"]
    with pytest.raises(ProviderError, match="40058"):
        client.call("/cgi-bin/externalcontact/get_unassigned_list", {"page_size": 1001})
    with pytest.raises(ValueError):
        client.transfer_resigned_customers("guide1", "guide2", [f"wm-{i}" for i in range(101)])
    with pytest.raises(ProviderError, match="40058"):
        client.call("/cgi-bin/externalcontact/resigned/transfer_customer",
                    {"handover_userid": "guide1", "takeover_userid": "guide2", "external_userid": ["x"] * 101})  # fmt: skip
    with pytest.raises(ProviderError, match="not a resigned member"):
        client.transfer_resigned_customers("guide2", "guide2", ["wm-e"])
    assert client.transfer_resigned_customers("guide1", "guide2", ["wm-a", "wm-zz"]) == {"wm-a": 0, "wm-zz": 84061}
    # asked again while it waits: refused per customer
    assert client.transfer_resigned_customers("guide1", "guide2", ["wm-a"])["wm-a"] != 0
    assert [r["status"] for r in client.resigned_transfer_result("guide1", "guide2")] == [2]
    with pytest.raises(ProviderError, match="40058"):
        client.call("/cgi-bin/externalcontact/groupchat/transfer", {"chat_id_list": [], "new_owner": "guide2"})
    assert client.transfer_group_chats(["wrG1", "nope"], "guide2") == {"nope": 90501}
    # 在职继承 (transfer_customer) results come from transfer_result
    fake.members.add("guide3")
    assert client.transfer_customer("guide2", "guide3", ["wm-e"]) == {"wm-e": 0}
    assert [(r["external_userid"], r["status"]) for r in client.onjob_transfer_result("guide2", "guide3")] == [
        ("wm-e", 2)
    ]
    client.http.close()


def test_two_transfers_in_90_days_are_shared_with_the_on_job_transfer(warehouse, account, fake, guides):
    """A customer moved twice by WeCom (any kind) is refused by WeCom itself when Siyu did not know."""
    fake.resign("guide1")
    fake.transfers["wm-a"] = [time.time()] * 2
    client = WeComClient(fake.corp_id, "contact-secret", fake.url)
    assert client.transfer_resigned_customers("guide1", "guide2", ["wm-a"])["wm-a"] == fake.TRANSFER_LIMIT_CODE
    client.http.close()
