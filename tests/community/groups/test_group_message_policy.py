"""Group mass messages go through the one contact policy: WeCom's per-group limit (as many a month as the
month has days, or one a day), quiet hours (an operator's send refused, a group SOP's step deferred to their
end) and consent (opted-out members never counted as reached). A refusal says why in Chinese and is
recorded and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from groups_helpers import know_customers

from siyu.community.errors import CommunityError
from siyu.community.groups.actions import GroupMessageRefused, send_group_message, sync_groups
from siyu.community.groups.models import CustomerGroup, GroupMessage
from siyu.core.models import AuditLog
from siyu.customers.models import Consent
from siyu.engagement.journeys.actions import activate_journey, run_journeys, save_journey
from siyu.engagement.journeys.models import GroupEnrollment
from siyu.engagement.messaging.actions import update_policy
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 4, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai, a Tuesday in April (30 days)
NIGHT = dt.datetime(2026, 4, 7, 15, 0, tzinfo=dt.UTC)  # 23:00 in Asia/Shanghai


def _groups(fake, names, owner="owner1") -> dict[str, CustomerGroup]:
    chats = {
        name: fake.make_group(owner, name, members=[f"wm-{name}-{j}" for j in range(3)]) for name in names
    }
    sync_groups()
    return {name: CustomerGroup.objects.get(chat_id=chat) for name, chat in chats.items()}


def _tasks(fake) -> int:
    return sum(1 for m in fake.mass.values() if m["chat_type"] == "group")


@pytest.fixture
def quiet_hours(db):
    update_policy(None, quiet_start="21:00", quiet_end="09:00")


def test_a_group_at_wecoms_daily_limit_is_left_out_and_a_message_with_no_group_left_is_refused(fake, account):
    update_policy(None, wecom_one_per_day=True)
    groups = _groups(fake, ["一群", "二群"])
    first = send_group_message(None, [groups["一群"].pk], "早上好", now=MORNING)
    assert first.msgids and first.refused == {}
    # the same day: 一群 has had its one message, 二群 still gets this one
    second = send_group_message(None, [groups["一群"].pk, groups["二群"].pk], "午间福利",
                                now=MORNING + dt.timedelta(hours=2))  # fmt: skip
    assert second.refused == {groups["一群"].chat_id: "group_daily"}
    assert list(second.groups.all()) == [groups["二群"]]
    assert [r["chat_id"] for r in fake.mass[second.msgids["owner1"]]["results"]] == [groups["二群"].chat_id]
    tasks = _tasks(fake)
    with translation.override("zh-hans"), pytest.raises(GroupMessageRefused) as refused:
        send_group_message(None, [groups["一群"].pk], "再来一条", now=MORNING + dt.timedelta(hours=3))
    assert "企业微信" in str(refused.value) and "一群" in str(refused.value)
    assert refused.value.retry_at is None
    assert _tasks(fake) == tasks  # WeCom was not asked
    # recorded and audited like any refused send
    kept = GroupMessage.objects.get(pk=refused.value.message.pk)
    assert (
        kept.refused == {groups["一群"].chat_id: "group_daily"}
        and not kept.msgids
        and not kept.groups.exists()
    )
    audit = AuditLog.objects.get(action="refuse_group_message")
    assert audit.target == str(kept.pk) and audit.detail["reasons"] == ["group_daily"]
    # the next day it may go again
    assert send_group_message(None, [groups["一群"].pk], "次日", now=MORNING + dt.timedelta(days=1)).msgids


def test_a_group_gets_at_most_as_many_mass_messages_a_month_as_the_month_has_days(fake, account):
    groups = _groups(fake, ["月群"])
    for day in range(30):  # April has 30 days: one a day fills it
        at = dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC) + dt.timedelta(days=day)
        assert send_group_message(None, [groups["月群"].pk], f"第{day + 1}天", now=at).msgids
    with pytest.raises(GroupMessageRefused) as refused:
        send_group_message(
            None, [groups["月群"].pk], "第31条", now=dt.datetime(2026, 4, 30, 6, tzinfo=dt.UTC)
        )
    assert refused.value.reasons == {groups["月群"].chat_id: "group_monthly"}
    # May is a new month
    assert send_group_message(
        None, [groups["月群"].pk], "五月", now=dt.datetime(2026, 5, 1, 2, tzinfo=dt.UTC)
    ).msgids
    # every message but the refused one went out whole
    assert GroupMessage.objects.filter(refused={}).count() == 31


def test_an_operators_group_message_in_quiet_hours_is_refused_with_the_time_it_may_go(
    fake, account, quiet_hours
):
    groups = _groups(fake, ["夜群"])
    with translation.override("zh-hans"), pytest.raises(GroupMessageRefused) as refused:
        send_group_message(None, [groups["夜群"].pk], "深夜促销", now=NIGHT)
    assert "免打扰" in str(refused.value) and "21:00" in str(refused.value) and "09:00" in str(refused.value)
    assert refused.value.retry_at == dt.datetime(2026, 4, 8, 1, 0, tzinfo=dt.UTC)  # 09:00 the next morning
    assert _tasks(fake) == 0
    assert AuditLog.objects.get(action="refuse_group_message").detail["reasons"] == ["quiet_hours"]
    assert GroupMessage.objects.get().refused == {groups["夜群"].chat_id: "quiet_hours"}


def test_a_group_sops_step_in_quiet_hours_waits_for_their_end(fake, account, warehouse, quiet_hours):
    groups = _groups(fake, ["SOP群"])
    journey = save_journey(None, name="夜间群SOP", audience="groups", groups={"group_ids": [groups["SOP群"].pk]},
                           trigger={"type": "schedule", "every_days": 7, "at": "22:00"},
                           steps=[{"id": "send", "type": "send_group", "content": "晚安福利"}])  # fmt: skip
    start = dt.datetime(2026, 4, 7, 13, 0, tzinfo=dt.UTC)  # 21:00 Shanghai
    activate_journey(None, journey.pk, now=start)
    run_journeys(now=start + dt.timedelta(hours=1))  # 22:00: the step is due, inside quiet hours
    assert _tasks(fake) == 0
    enrollment = GroupEnrollment.objects.get(journey=journey)
    assert enrollment.due_at == dt.datetime(2026, 4, 8, 1, 0, tzinfo=dt.UTC)
    run_journeys(now=dt.datetime(2026, 4, 8, 1, 0, tzinfo=dt.UTC))
    assert _tasks(fake) == 1


def test_opted_out_members_still_in_the_group_are_not_counted_as_reached(fake, account, warehouse):
    know_customers(warehouse, {"wecom|wm-a": 11, "wecom|wm-b": 22, "wecom|wm-c": 33})
    chat = fake.make_group("owner1", "福利群", members=["wm-a", "wm-b", "wm-c", "wm-d"])
    sync_groups()
    for cid, channel in ((11, "wecom"), (22, "all")):
        Consent.objects.create(customer_id=cid, channel=channel, status=Consent.Status.OPT_OUT, source="test",
                               recorded_at=MORNING - dt.timedelta(days=1))  # fmt: skip
    group = CustomerGroup.objects.get(chat_id=chat)
    message = send_group_message(None, [group.pk], "周末福利", now=MORNING)
    # WeCom cannot leave one member out: the message goes, but only customer 33 counts as reached
    assert message.msgids and (message.customers_reached, message.customers_opted_out) == (1, 2)
    assert AuditLog.objects.get(action="send_group_message").detail["customers_opted_out"] == 2


def test_the_console_names_the_groups_left_out_and_refuses_in_chinese(client, fake, account, warehouse):
    update_policy(None, wecom_one_per_day=True)
    client.force_login(create_user("op", "pw-operator-1", "operator"))
    groups = _groups(fake, ["甲群", "乙群"])
    send_group_message(None, [groups["甲群"].pk], "早上好")  # today's one message of 甲群
    both = client.post("/community/groups/messages/", {"text": "午间福利", "groups": [g.pk for g in groups.values()]},
                       follow=True).content.decode()  # fmt: skip
    assert "以下群未发送" in both and "甲群" in both and "每个群每天一条群发" in both
    assert "未发送的群（触达规则）" in both
    refused = client.post("/community/groups/messages/", {"text": "再来一条", "groups": [groups["甲群"].pk]})
    assert refused.status_code == 400 and "每个群每天一条群发" in refused.content.decode()
    assert AuditLog.objects.filter(action="refuse_group_message").count() == 1


def test_the_api_refuses_a_group_message_over_the_limit_with_the_reason_in_chinese(fake, account):
    from django.test import Client

    from siyu.api.actions import create_token

    update_policy(None, wecom_one_per_day=True)
    groups = _groups(fake, ["接口群", "新群"])
    send_group_message(None, [groups["接口群"].pk], "早上好")  # today's one message
    token = create_token(create_user("op", "pw-operator-1", "operator"), "t")
    api = Client(headers={"Authorization": f"Bearer {token}"})
    sent = api.post(
        "/api/community/group-messages", {"group_ids": [groups["接口群"].pk], "text": "福利"},
        content_type="application/json", headers={"Idempotency-Key": "q1"})  # fmt: skip
    assert sent.status_code == 400 and "每个群每天一条群发" in sent.json()["detail"]
    assert _tasks(fake) == 1 and AuditLog.objects.filter(action="refuse_group_message").exists()
    # partly refused: it goes to the other group, and the answer says which group was left out and why
    partly = api.post(
        "/api/community/group-messages", {"group_ids": [groups["接口群"].pk, groups["新群"].pk], "text": "福利"},
        content_type="application/json", headers={"Idempotency-Key": "q2", "Accept-Language": "zh-hans"})  # fmt: skip
    body = partly.json()
    assert partly.status_code == 201 and body["group_ids"] == [groups["新群"].pk]
    assert body["refused"] == {groups["接口群"].chat_id: "group_daily"} and "接口群" in body["refused_text"]


def test_nothing_is_stored_or_counted_when_wecom_is_not_set_up(db):
    group = CustomerGroup.objects.create(chat_id="c1", name="没配置", owner_userid="owner1")
    with pytest.raises(CommunityError):
        send_group_message(None, [group.pk], "福利", now=MORNING)
    assert not GroupMessage.objects.exists()
