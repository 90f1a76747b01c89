"""Group SOP: journeys whose audience is a set of customer groups, run by the journey tick against the fake
WeCom (group mass messages, one add_msg_template per owner)."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.community.groups.actions import sync_groups
from siyu.community.groups.models import CustomerGroup, GroupType
from siyu.core.errors import PermissionDenied
from siyu.engagement.errors import EngagementError
from siyu.engagement.journeys import queries as journey_queries
from siyu.engagement.journeys.actions import activate_journey, run_journeys, save_journey
from siyu.engagement.journeys.models import GroupEnrollment
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Asia/Shanghai, before the 10:00 schedule
STEPS = [
    {"id": "hello", "type": "send_group", "content": "早上好，今天到店有福利"},
    {"id": "day", "type": "wait", "days": 1},
    {"id": "again", "type": "send_group", "content": "福利最后一天"},
]


def _groups(fake, names, owner="owner1") -> dict[str, CustomerGroup]:
    chats = {name: fake.make_group(owner, name, members=[f"wm-{name}-{j}" for j in range(3)]) for name in names}
    sync_groups()
    return {name: CustomerGroup.objects.get(chat_id=chat) for name, chat in chats.items()}


def _sent(fake) -> list[tuple[str, str, list[str]]]:
    """(owner, text, chat ids) of every group mass message the fake WeCom got, in order."""
    return [(m["sender"], m["text"], sorted(r["chat_id"] for r in m["results"]))
            for m in fake.mass.values() if m["chat_type"] == "group"]  # fmt: skip


def _sop(actor=None, groups=None, trigger=None, steps=STEPS, name="门店群早安"):
    return save_journey(actor, name=name, audience="groups", groups=groups,
                        trigger=trigger or {"type": "schedule", "every_days": 7, "at": "10:00"}, steps=steps)  # fmt: skip


def test_a_scheduled_group_sop_sends_to_the_chosen_groups_waits_and_repeats(fake, account, warehouse):
    mine = _groups(fake, ["A1", "A2", "A3"])
    theirs = _groups(fake, ["B1"], owner="owner2")
    journey = _sop(groups={"group_ids": [mine["A1"].pk, mine["A2"].pk, theirs["B1"].pk]})
    activate_journey(None, journey.pk, now=START)
    run_journeys(now=START)
    assert _sent(fake) == []  # before 10:00 nothing happens
    first_run = START + dt.timedelta(hours=1)
    run_journeys(now=first_run)
    # one task per owner, naming that owner's chosen groups only (A3 was not chosen)
    assert sorted(_sent(fake)) == [
        ("owner1", "早上好，今天到店有福利", sorted([mine["A1"].chat_id, mine["A2"].chat_id])),
        ("owner2", "早上好，今天到店有福利", [theirs["B1"].chat_id]),
    ]
    run_journeys(now=first_run + dt.timedelta(hours=12))
    assert len(_sent(fake)) == 2  # still waiting the day
    run_journeys(now=first_run + dt.timedelta(days=1))
    assert [text for _o, text, _c in _sent(fake)].count("福利最后一天") == 2
    run_journeys(now=first_run + dt.timedelta(days=3))
    assert len(_sent(fake)) == 4  # the run is over until next week
    run_journeys(now=first_run + dt.timedelta(days=7))
    assert [text for _o, text, _c in _sent(fake)].count("早上好，今天到店有福利") == 4
    summary = journey_queries.journey_summary(journey)
    assert (summary["runs"], summary["groups_reached"], summary["messages"]) == (2, 3, 9)
    runs = journey_queries.group_journey_runs(journey)
    assert [(r["groups"], r["reached"]) for r in runs] == [(3, 3), (3, 3)]


def test_a_group_sop_chosen_by_type_skips_dismissed_groups(fake, account, warehouse):
    groups = _groups(fake, ["福利1", "福利2", "VIP"])
    for name in ("福利1", "福利2"):
        CustomerGroup.objects.filter(pk=groups[name].pk).update(group_type=GroupType.WELFARE)
    fake.dismiss_group(groups["福利2"].chat_id)
    sync_groups()
    steps = [{"id": "wait", "type": "wait", "hours": 2}, {"id": "send", "type": "send_group", "content": "新品上架"}]
    journey = _sop(groups={"group_type": "welfare"}, trigger={"type": "once"}, steps=steps)
    # a third welfare group, dismissed between entering and the send, is not sent to
    later = _groups(fake, ["福利3"])["福利3"]
    CustomerGroup.objects.filter(pk=later.pk).update(group_type=GroupType.WELFARE)
    activate_journey(None, journey.pk, now=START)
    run_journeys(now=START)
    assert set(GroupEnrollment.objects.values_list("group_id", flat=True)) == {groups["福利1"].pk, later.pk}
    fake.dismiss_group(later.chat_id)
    sync_groups()
    run_journeys(now=START + dt.timedelta(hours=2))
    assert _sent(fake) == [("owner1", "新品上架", [groups["福利1"].chat_id])]
    assert GroupEnrollment.objects.get(group_id=later.pk).exit_reason == "dismissed"
    run_journeys(now=START + dt.timedelta(days=30))  # "once": no second run
    assert len(_sent(fake)) == 1 and GroupEnrollment.objects.count() == 2


def test_a_guide_makes_group_sops_over_their_own_groups_only(fake, account, warehouse):
    mine = _groups(fake, ["我的群"])
    theirs = _groups(fake, ["别人的群"], owner="owner2")
    guide = create_user("g-sop", "pw-1-guide", "guide", wecom_userid="owner1")
    with pytest.raises(PermissionDenied):
        _sop(guide, groups={"group_ids": [theirs["别人的群"].pk]})
    with pytest.raises(PermissionDenied):
        _sop(guide, groups={"owner_userid": "owner2"})
    with pytest.raises(PermissionDenied):  # a guide still makes no customer journeys
        save_journey(guide, name="客户旅程", trigger={"type": "segment_now", "segment_id": 1},
                     steps=[{"type": "exit"}])  # fmt: skip
    # with no owner named, a guide's selector is bound to their own groups
    journey = _sop(guide, groups={"group_type": "other"}, trigger={"type": "once"})
    assert journey.groups["owner_userid"] == "owner1"
    activate_journey(guide, journey.pk, now=START)
    run_journeys(now=START)
    assert [chats for _o, _t, chats in _sent(fake)] == [[mine["我的群"].chat_id]]
    # an admin's group SOP is not the guide's to change
    admins = _sop(groups={"group_ids": [mine["我的群"].pk]}, name="总部群SOP")
    with pytest.raises(PermissionDenied):
        activate_journey(guide, admins.pk, now=START)


def test_group_and_customer_steps_do_not_mix():
    with pytest.raises(EngagementError):
        _sop(steps=[{"type": "send", "channel": "wecom", "content": "hi"}], groups={"group_type": "vip"})
    with pytest.raises(EngagementError):
        save_journey(None, name="客户旅程", trigger={"type": "segment_now", "segment_id": 1},
                     steps=[{"type": "send_group", "content": "hi"}])  # fmt: skip
    with pytest.raises(EngagementError):  # a group journey needs groups chosen
        _sop(groups={})
    with pytest.raises(EngagementError):
        _sop(steps=[{"type": "send_group", "content": "长" * 1400}], groups={"group_type": "vip"})


def test_an_operator_builds_a_group_sop_in_the_journey_editor_and_sees_its_runs(client, fake, account, warehouse):
    groups = _groups(fake, ["门店一群", "门店二群"])
    client.force_login(create_user("op", "pw-operator-1", "operator"))
    editor = client.get("/engagement/journeys/new/").content.decode()
    assert "门店一群" in editor and "客户群" in editor
    saved = client.post("/engagement/journeys/new/", {
        "name": "周一群早报", "audience": "groups", "group_ids": [str(groups["门店一群"].pk)],
        "trigger_type": "schedule", "trigger_every_days": "7", "trigger_at": "10:00", "reentry": "once",
        "goal_days": "0", "priority": "0", "holdout_percent": "0", "cost_per_send": "0", "steps_json": ""})  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()
    page_url = saved["Location"]
    journey = journey_queries.get_journey(page_url.rstrip("/").split("/")[-1])
    assert journey.audience == "groups" and journey.groups["group_ids"] == [groups["门店一群"].pk]
    page = client.get(page_url).content.decode()
    assert 'value="send_group"' in page and 'value="guide_task"' not in page  # only the steps a group SOP has
    client.post(page_url, {"do": "add_step", "type": "send_group", "content": "本周新品到店", "before": "end"})
    client.post(page_url, {"do": "activate"})
    journey.refresh_from_db()
    run_journeys(now=journey.next_run_at)
    assert _sent(fake) == [("owner1", "本周新品到店", [groups["门店一群"].chat_id])]
    page = client.get(page_url).content.decode()
    assert 'data-count="messages">1<' in page and 'data-count="groups_reached">1<' in page
    assert "group-sop-runs" in page


def test_the_journeys_api_makes_group_sops_and_keeps_a_guide_to_their_own_groups(fake, account, warehouse):
    import json

    from django.test import Client

    from siyu.api.actions import create_token

    mine = _groups(fake, ["我的群"])
    theirs = _groups(fake, ["别人的群"], owner="owner2")

    def post(user, payload, key):
        client = Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})
        return client.post("/api/journeys", data=json.dumps(payload), content_type="application/json",
                           headers={"Idempotency-Key": key})  # fmt: skip

    body = {"name": "群早报", "audience": "groups", "trigger": {"type": "schedule", "every_days": 1, "at": "09:30"},
            "steps": [{"type": "send_group", "content": "早安"}]}  # fmt: skip
    operator = create_user("op", "pw-operator-1", "operator")
    made = post(operator, {**body, "groups": {"group_ids": [mine["我的群"].pk, theirs["别人的群"].pk]}}, "k1")
    assert made.status_code == 201, made.content
    assert made.json()["audience"] == "groups" and made.json()["runs"] == 0
    assert post(operator, {**body, "name": "x", "groups": {"group_type": "nope"}}, "k2").status_code == 400
    guide = create_user("g-sop", "pw-1-guide", "guide", wecom_userid="owner1")
    refused = post(guide, {**body, "name": "导购群早报", "groups": {"group_ids": [theirs["别人的群"].pk]}}, "k3")
    assert refused.status_code == 403
    own = post(guide, {**body, "name": "导购群早报", "groups": {"group_ids": [mine["我的群"].pk]}}, "k4")
    assert own.status_code == 201 and own.json()["groups"]["owner_userid"] == "owner1"
