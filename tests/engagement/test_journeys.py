"""Journeys (SOP): the format, triggers, every step type, re-entry, goals, holdouts, the lift maths and what
a crash in the middle of a tick leaves behind."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from engagement_helpers import NOON, add_customers

from siyu.customers.models import CustomerTag
from siyu.engagement.errors import EngagementError
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.journeys import definitions as journeys
from siyu.engagement.journeys import queries
from siyu.engagement.journeys.models import Enrollment, Handoff, Journey, StepCount
from siyu.engagement.messaging import actions as messaging_actions
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import held_out, holdout_share

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
START = NOON - 2 * HOUR  # when the test journeys are activated
SEND = {"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}


@pytest.fixture
def base(warehouse, db, no_holdout):
    """Customers 1..20 in the warehouse (no addresses needed: sends stay queued)."""
    add_customers(warehouse.raw_connection(), [{"customer_id": i} for i in range(1, 21)])
    return warehouse


def add_orders(warehouse, orders: list[tuple[int, str, dt.datetime, float]]) -> None:
    """(customer_id, order_id, order_time, amount) purchase orders, each on a record of the customer."""
    con = warehouse.raw_connection()
    for cid, order_id, at, amount in orders:
        key = f"shop|o{order_id}"
        con.execute(
            "INSERT INTO orders (order_key, source, format, order_id, record_key, status_class, order_time, amount)"
            " VALUES (?, 'shop', 'pos', ?, ?, 'purchase', ?, ?)",
            [f"shop|{order_id}", order_id, key, at, amount],
        )
        con.execute("INSERT INTO customer_map VALUES (?, ?, ?)", [key, cid, at])


def add_events(warehouse, events: list[tuple]) -> None:
    """(customer id, event type, at[, properties JSON]) each."""
    con = warehouse.raw_connection()
    for n, (cid, event_type, at, *properties) in enumerate(events):
        key = f"wecom|ext{cid}-{n}"
        con.execute(
            "INSERT INTO events (event_key, source, record_key, event_type, occurred_at, properties) "
            "VALUES (?, 'wecom', ?, ?, ?, ?)",
            [f"{key}:{event_type}", key, event_type, at, (properties or [None])[0]],
        )
        con.execute("INSERT INTO customer_map VALUES (?, ?, ?)", [key, cid, at])


def make_journey(steps, trigger=None, activate=True, **kw) -> Journey:
    kw.setdefault("holdout_percent", 0)
    journey = journey_actions.save_journey(
        None,
        name=kw.pop("name", "测试旅程"),
        trigger=trigger or {"type": "event", "event": "order_placed"},
        steps=steps,
        **kw,
    )
    if activate:
        journey = journey_actions.activate_journey(None, journey.pk, now=START)
    return journey


def enrol(journey, customer_ids, at=START) -> None:
    """Enrol customers directly (what a trigger would do), at the first step, due at `at`."""
    ids = list(customer_ids)
    held = held_out(f"journey:{journey.pk}", ids, journey.holdout_percent).tolist()
    rows = [
        (journey.pk, cid, f"test:{cid}:{at.isoformat()}", in_holdout, "active", journey.steps[0]["id"], at, at,
         None, "", at)
        for cid, in_holdout in zip(ids, held, strict=True)
    ]  # fmt: skip
    for column in ("step_entered_at", "due_at", "entered_at"):
        convert = messaging_actions.db_values(Enrollment, column)
        index = journey_actions._ENROLLMENT_COLUMNS.index(column)
        rows = [(*r[:index], convert(r[index]), *r[index + 1 :]) for r in rows]
    messaging_actions.insert_rows(Enrollment, journey_actions._ENROLLMENT_COLUMNS, rows)


def at_step(journey) -> dict[int, tuple[str, str]]:
    return {
        e.customer_id: (e.step_id, e.status if e.status == "active" else e.exit_reason)
        for e in Enrollment.objects.filter(journey=journey)
    }


# --- the format --------------------------------------------------------------------------------------


def test_steps_are_checked_when_saved():
    with pytest.raises(EngagementError, match="leads to nowhere|not a step"):
        journeys.check_steps([{"id": "a", "type": "exit"}, {"id": "b", "type": "send", "channel": "sms",
                              "content": "x", "next": "nowhere"}])  # fmt: skip
    with pytest.raises(EngagementError, match="loop without a wait"):
        journeys.check_steps(
            [
                {"id": "a", "type": "add_tag", "tag": "x", "next": "b"},
                {"id": "b", "type": "remove_tag", "tag": "x", "next": "a"},
            ]
        )
    looping_with_wait = journeys.check_steps(
        [
            {"id": "a", "type": "wait", "days": 7},
            {"id": "b", "type": "send", "channel": "sms", "template": "T", "next": "a"},
        ]
    )
    assert [s["id"] for s in looping_with_wait] == ["a", "b"]
    with pytest.raises(EngagementError, match="same id"):
        journeys.check_steps([{"id": "a", "type": "exit"}, {"id": "a", "type": "exit"}])
    with pytest.raises(EngagementError, match="needs a duration"):
        journeys.check_steps([{"type": "wait"}])
    with pytest.raises(EngagementError, match="2 to 10 paths"):
        journeys.check_steps([{"type": "split", "paths": [{"weight": 1, "next": "s1"}]}])
    with pytest.raises(EngagementError, match="rule"):
        journeys.check_steps([{"type": "branch", "rule": {"field": "nope", "op": "=", "value": 1}}])
    # an event trigger may name its event's properties (a live code), an order trigger has none
    scanned = {"type": "event", "event": "code_scanned", "with": {"code_id": 7}}
    assert journeys.check_trigger(scanned) == {**scanned, "max_age_days": 3, "with": {"code_id": "7"}}
    with pytest.raises(EngagementError, match="is not a property name"):
        journeys.check_trigger({**scanned, "with": {"Code": 7}})
    with pytest.raises(EngagementError, match="an order trigger has no properties"):
        journeys.check_trigger({"type": "event", "event": "order_placed", "with": {"code_id": 7}})
    assert journeys.check_steps([{"type": "exit"}]) == [{"id": "s1", "type": "exit"}]
    # a placeholder must be the step's own variable or one filled from the customer at delivery
    with pytest.raises(EngagementError, match=r"\{nmae\} is neither"):
        journeys.check_steps([{"type": "send", "channel": "sms", "content": "{nmae}您好"}])
    with pytest.raises(EngagementError, match=r"\{tip\} is neither"):
        journeys.check_steps([{"type": "send", "channel": "sms", "template": "T", "variables": {"a": "{tip}"}}])
    (send,) = journeys.check_steps(
        [{"type": "send", "channel": "sms", "content": "{name}：{tip} {{x}}", "variables": {"tip": "{product}"}}]
    )
    assert send["variables"] == {"tip": "{product}"}


def test_a_wecom_send_step_carries_a_material_that_can_go(db, settings, tmp_path):
    from siyu.engagement.content.actions import archive_material, save_material

    settings.UPLOADS_DIR = tmp_path
    link = save_material(None, kind="link", title="新品页", url="https://example.com/new")
    (send,) = journeys.check_steps([{"type": "send", "channel": "wecom", "material": str(link.pk)}])
    assert send["material"] == link.pk and send["content"] == ""  # a material alone is a message
    with pytest.raises(EngagementError, match="only WeCom"):
        journeys.check_steps([{"type": "send", "channel": "sms", "template": "T", "material": link.pk}])
    gif = save_material(None, kind="image", title="动图", image=b"GIF89a" + b"\x00" * 16)
    with pytest.raises(EngagementError, match="JPG and PNG"):
        journeys.check_steps([{"type": "send", "channel": "wecom", "content": "x", "material": gif.pk}])
    archive_material(None, link.pk)
    with pytest.raises(EngagementError, match="archived"):
        journeys.check_steps([{"type": "send", "channel": "wecom", "content": "x", "material": link.pk}])
    with pytest.raises(EngagementError, match="no material"):
        journeys.check_steps([{"type": "send", "channel": "wecom", "content": "x", "material": 999999}])


def test_triggers_are_checked_when_saved():
    assert journeys.check_trigger({"type": "event", "event": "wecom_contact_added"})["max_age_days"] == 3
    assert journeys.check_trigger({"type": "schedule", "at": "9:30"}) == {
        "type": "schedule", "segment_id": None, "every_days": 7, "at": "09:30"
    }  # fmt: skip
    for bad in ({"type": "nope"}, {"type": "event", "event": "Bad Name"}, {"type": "inactivity", "days": 0},
                {"type": "date", "date": "anniversary"}, {"type": "segment", "segment_id": 1, "change": "stay"}):  # fmt: skip
        with pytest.raises(EngagementError):
            journeys.check_trigger(bad)


def test_a_segment_trigger_needs_the_segment(db):
    with pytest.raises(EngagementError, match="segment 99 does not exist"):
        journey_actions.save_journey(None, name="x", trigger={"type": "segment_now", "segment_id": 99}, steps=[SEND])


def test_trigger_and_holdout_are_frozen_once_the_journey_ran(base):
    journey = make_journey([SEND])
    with pytest.raises(EngagementError, match="cannot change"):
        journey_actions.save_journey(None, journey_id=journey.pk, name=journey.name, trigger=journey.trigger, steps=[SEND],
                             holdout_percent=20)  # fmt: skip
    enrol(journey, [1])
    with pytest.raises(EngagementError, match="waiting at step"):
        journey_actions.save_journey(None, journey_id=journey.pk, name=journey.name, trigger=journey.trigger,
                             steps=[{"type": "exit"}], holdout_percent=0)  # fmt: skip


# --- triggers ------------------------------------------------------------------------------------------


def test_an_order_placed_after_activation_enrols_its_customer_once(base):
    add_orders(
        base, [(1, "A1", START - DAY, 10), (2, "A2", START + HOUR, 20), (3, "A3", START + 3 * HOUR, 30)]
    )
    journey = make_journey([SEND])
    report = journey_actions.run_journeys(now=NOON)
    assert report["enrolled"] == 1 and report["queued"] == 1  # 1 bought before, 3 after "now"
    assert at_step(journey) == {2: ("hello", "end")}
    send = Send.objects.get()
    assert (send.customer_id, send.source, send.source_id) == (2, "journey", str(journey.pk))
    enrollment = Enrollment.objects.get()
    assert send.idempotency_key == f"journey:{journey.pk}:{enrollment.pk}:hello"
    assert send.variables == {}  # no variables added: a Tencent template counts its parameters
    again = journey_actions.run_journeys(now=NOON + HOUR)  # the same order does not enrol twice; 3's order is in
    assert again["enrolled"] == 1 and sorted(Send.objects.values_list("customer_id", flat=True)) == [2, 3]


def test_events_segment_changes_dates_and_inactivity_trigger(base):
    from siyu.segments.models import Segment

    con = base.raw_connection()
    add_events(base, [(4, "wecom_contact_added", START + HOUR), (5, "group_joined", START + HOUR),
                      (13, "code_scanned", START + HOUR, '{"code_id": 7, "channel": "门店"}'),
                      (14, "code_scanned", START + HOUR, '{"code_id": 8}')])  # fmt: skip
    segment = Segment.objects.create(name="高价值", rule={"field": "orders_total", "op": ">", "value": 0})
    con.executemany(
        "INSERT INTO segment_changes VALUES (?, ?, ?, ?)",
        [
            (segment.pk, 6, "enter", START + HOUR),
            (segment.pk, 7, "exit", START + HOUR),
            (segment.pk, 8, "enter", START - DAY),
        ],
    )
    con.executemany("INSERT INTO segment_members VALUES (?, ?, ?)", [(segment.pk, c, START) for c in (6, 9)])
    birthday = (NOON.astimezone(dt.timezone(dt.timedelta(hours=8))).date() + dt.timedelta(days=3)).replace(
        year=1990
    )
    con.execute("UPDATE customer_summary SET birthday = ? WHERE customer_id = 10", [birthday])
    con.execute("UPDATE customer_summary SET last_purchase_at = ? WHERE customer_id = 11", [NOON - 40 * DAY])
    con.execute("UPDATE customer_summary SET last_purchase_at = ? WHERE customer_id = 12", [NOON - 10 * DAY])

    cases = [
        ({"type": "event", "event": "wecom_contact_added"}, {4}),
        ({"type": "event", "event": "group_joined"}, {5}),
        ({"type": "event", "event": "code_scanned"}, {13, 14}),
        ({"type": "event", "event": "code_scanned", "with": {"code_id": 7}}, {13}),
        ({"type": "segment", "segment_id": segment.pk, "change": "enter"}, {6}),
        ({"type": "segment", "segment_id": segment.pk, "change": "exit"}, {7}),
        ({"type": "segment_now", "segment_id": segment.pk}, {6, 9}),
        ({"type": "date", "date": "birthday", "days_before": 3}, {10}),
        ({"type": "inactivity", "days": 30}, {11}),
    ]
    for n, (trigger, expected) in enumerate(cases):
        journey = make_journey([SEND], trigger=trigger, name=f"j{n}")
        journey_actions.enroll_triggered(journey, NOON)
        assert (
            set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == expected
        ), trigger
        assert journey_actions.enroll_triggered(journey, NOON + HOUR) == 0, trigger  # each fact once


def test_a_one_shot_campaign_takes_the_members_at_activation_only(base):
    from siyu.segments.models import Segment

    con = base.raw_connection()
    segment = Segment.objects.create(name="活动人群", rule={"field": "orders_total", "op": ">", "value": 0})
    con.executemany("INSERT INTO segment_members VALUES (?, ?, ?)", [(segment.pk, c, START) for c in (1, 2)])
    journey = make_journey(
        [SEND], trigger={"type": "segment_now", "segment_id": segment.pk}, reentry="after_exit"
    )
    journey_actions.run_journeys(now=NOON)
    con.execute("INSERT INTO segment_members VALUES (?, 3, ?)", [segment.pk, NOON])
    journey_actions.run_journeys(now=NOON + HOUR)
    assert set(at_step(journey)) == {1, 2}


def test_a_schedule_enrols_everyone_at_its_time_and_moves_on(base):
    journey = make_journey(
        [SEND], trigger={"type": "schedule", "every_days": 7, "at": "10:00"}, reentry="after_exit"
    )
    first = journey.next_run_at
    assert first.astimezone(dt.timezone(dt.timedelta(hours=8))).hour == 10 and first >= START
    assert journey_actions.enroll_triggered(journey, first - HOUR) == 0
    assert journey_actions.enroll_triggered(journey, first) == 20
    journey.refresh_from_db()
    assert journey.next_run_at == first + 7 * DAY


# --- re-entry and goals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reentry", "days", "expected"),
    [("once", 0, 1), ("after_exit", 0, 2), ("cooldown", 30, 1), ("cooldown", 1, 2)],
)
def test_reentry_rules(base, reentry, days, expected):
    add_orders(base, [(1, "B1", START + HOUR, 10), (1, "B2", NOON + 2 * DAY, 10)])
    journey = make_journey([SEND], reentry=reentry, reentry_days=days, goal_days=0,
                           trigger={"type": "event", "event": "order_placed", "max_age_days": 30})  # fmt: skip
    journey_actions.run_journeys(now=NOON)
    journey_actions.run_journeys(now=NOON + 3 * DAY)
    assert Enrollment.objects.filter(journey=journey, customer_id=1).count() == expected


def test_an_active_customer_does_not_enter_twice(base):
    add_orders(base, [(1, "C1", START + HOUR, 10), (1, "C2", NOON + HOUR, 10)])
    journey = make_journey([{"type": "wait", "days": 3}, SEND], reentry="after_exit")
    journey_actions.run_journeys(now=NOON)
    journey_actions.run_journeys(now=NOON + 2 * HOUR)
    assert Enrollment.objects.filter(journey=journey).count() == 1


def test_the_goal_purchase_ends_the_journey(base):
    journey = make_journey([{"id": "w", "type": "wait", "days": 3}, SEND], goal_days=7)
    enrol(journey, [1, 2, 3])
    add_orders(
        base, [(1, "G1", START + DAY, 99), (2, "G2", START + 8 * DAY, 99), (3, "G3", START - HOUR, 99)]
    )
    journey_actions.run_journeys(now=START + 2 * DAY)
    assert at_step(journey) == {1: ("w", "goal"), 2: ("w", "active"), 3: ("w", "active")}
    assert Enrollment.objects.get(journey=journey, customer_id=1).goal_met_at == START + DAY
    journey_actions.run_journeys(now=START + 4 * DAY)
    assert at_step(journey) == {1: ("w", "goal"), 2: ("hello", "end"), 3: ("hello", "end")}
    assert sorted(Send.objects.values_list("customer_id", flat=True)) == [2, 3]


# --- steps ---------------------------------------------------------------------------------------------------


def test_wait_a_duration_then_send(base):
    journey = make_journey([{"id": "w", "type": "wait", "days": 1, "hours": 2}, SEND])
    enrol(journey, [1])
    journey_actions.run_journeys(now=START + DAY)
    assert at_step(journey) == {1: ("w", "active")} and not Send.objects.exists()
    assert Enrollment.objects.get().due_at == START + DAY + 2 * HOUR
    journey_actions.run_journeys(now=START + DAY + 2 * HOUR)
    assert at_step(journey) == {1: ("hello", "end")} and Send.objects.count() == 1


def test_wait_for_a_time_window(base):
    # START is 08:00 in Shanghai: the window 10:00-12:00 opens two hours later
    journey = make_journey([{"id": "w", "type": "wait_window", "start": "10:00", "end": "12:00"}, SEND])
    enrol(journey, [1])
    journey_actions.run_journeys(now=START)
    assert Enrollment.objects.get().due_at == START + 2 * HOUR
    journey_actions.run_journeys(now=START + 2 * HOUR)
    assert at_step(journey) == {1: ("hello", "end")}


def test_wait_for_an_event_or_its_timeout(base):
    steps = [
        {
            "id": "w",
            "type": "wait_event",
            "event": "order_placed",
            "timeout_hours": 48,
            "timeout_next": "nudge",
        },
        {"id": "thanks", "type": "add_tag", "tag": "旅程:已购", "next": "end"},
        {"id": "nudge", "type": "add_tag", "tag": "旅程:未购"},
        {"id": "end", "type": "exit"},
    ]
    journey = make_journey(steps)
    enrol(journey, [1, 2])
    add_orders(base, [(1, "E1", START + HOUR, 10), (2, "E2", START - HOUR, 10)])  # 2 bought before waiting
    journey_actions.run_journeys(now=START + 2 * HOUR)
    assert at_step(journey) == {1: ("end", "exit_step"), 2: ("w", "active")}
    assert Enrollment.objects.get(customer_id=2).due_at == START + 2 * HOUR + journey_actions.EVENT_POLL
    journey_actions.run_journeys(now=START + 48 * HOUR)
    assert at_step(journey)[2] == ("end", "exit_step")
    tags = {(t.customer_id, str(t.tag)) for t in CustomerTag.objects.select_related("tag", "tag__group")}
    assert tags == {(1, "旅程:已购"), (2, "旅程:未购")}


def test_branch_on_a_segment_rule(base):
    actions_tag = {"tag": "会员:VIP"}
    from siyu.customers.actions import add_tag

    add_tag(None, [2, 4], "会员:VIP")
    steps = [
        {"id": "b", "type": "branch", "rule": actions_tag, "then": "vip", "else": "rest"},
        {"id": "vip", "type": "send", "channel": "webhook", "content": "VIP", "next": "end"},
        {"id": "rest", "type": "remove_tag", "tag": "会员:VIP"},
        {"id": "end", "type": "exit"},
    ]
    journey = make_journey(steps)
    enrol(journey, [1, 2, 3, 4])
    journey_actions.run_journeys(now=START)
    assert sorted(Send.objects.values_list("customer_id", flat=True)) == [2, 4]
    counts = {c.step_id: c.entered for c in StepCount.objects.filter(journey=journey)}
    assert counts == {"vip": 2, "rest": 2, "end": 4}


def test_a_random_split_is_deterministic_and_follows_the_weights(base):
    steps = [
        {"id": "split", "type": "split", "paths": [{"weight": 80, "next": "a"}, {"weight": 20, "next": "b"}]},
        {"id": "a", "type": "exit"},
        {"id": "b", "type": "exit"},
    ]
    paths = [
        journeys.split_path(journeys.check_steps(steps)[0], journeys.split_share(1, e, "split"))
        for e in range(4000)
    ]
    assert 0.77 < paths.count("a") / 4000 < 0.83
    assert paths == [
        journeys.split_path(journeys.check_steps(steps)[0], journeys.split_share(1, e, "split"))
        for e in range(4000)
    ]
    journey = make_journey(steps)
    enrol(journey, range(1, 21))
    journey_actions.run_journeys(now=START)
    taken = {c.step_id: c.entered for c in StepCount.objects.filter(journey=journey)}
    assert taken["a"] + taken["b"] == 20 and taken["a"] > taken["b"]


def test_guide_tasks_and_points_are_handed_over_once_and_not_to_the_holdout(base):
    steps = [
        {"id": "task", "type": "guide_task", "title": "生日关怀", "script": "祝您生日快乐"},
        {"id": "points", "type": "award_points", "points": 200, "reason": "生日"},
    ]
    journey = make_journey(steps, holdout_percent=50)
    enrol(journey, range(1, 21))
    held = set(Enrollment.objects.filter(holdout=True).values_list("customer_id", flat=True))
    assert 0 < len(held) < 20
    journey_actions.run_journeys(now=START)
    tasks = Handoff.objects.filter(kind="guide_task")
    assert set(tasks.values_list("customer_id", flat=True)) == set(range(1, 21)) - held
    assert tasks.first().payload == {"title": "生日关怀", "script": "祝您生日快乐"}
    assert Handoff.objects.filter(kind="award_points").count() == 20 - len(held)
    # a repeated step (the enrollments put back) hands nothing over twice
    Enrollment.objects.update(status="active", step_id="task", due_at=START)
    journey_actions.run_journeys(now=START + HOUR)
    assert Handoff.objects.count() == 2 * (20 - len(held))


def test_a_guide_task_step_becomes_guide_tasks_through_the_contact_policy(base):
    from siyu.engagement.guides.models import GuideTask, TaskBatch

    journey = make_journey([{"id": "task", "type": "guide_task", "title": "生日关怀", "script": "{name}，生日快乐"}])
    enrol(journey, range(1, 11))
    report = journey_actions.run_journeys(now=START)
    assert report["guide_task_handoffs"] == 10
    batch = TaskBatch.objects.get()
    assert (batch.source, batch.source_id, batch.name) == ("journey", str(journey.pk), "生日关怀")
    assert (batch.script.group.name, batch.script.body) == ("旅程", "{name}，生日快乐")
    assert batch.due_at == START + dt.timedelta(days=1)
    tasks = GuideTask.objects.filter(batch=batch)
    assert set(tasks.values_list("customer_id", flat=True)) == set(range(1, 11))
    # nobody owns these customers: every task is recorded, suppressed with the reason
    assert set(tasks.values_list("status", "reason")) == {("suppressed", "no_owner")}
    assert not Handoff.objects.filter(consumed_at__isnull=True).exists()
    # a later tick takes nothing again, and the same step text reuses its library script
    assert journey_actions.run_journeys(now=START + HOUR)["guide_task_handoffs"] == 0
    assert TaskBatch.objects.count() == 1


def test_exit_step(base):
    journey = make_journey([{"id": "out", "type": "exit"}, SEND])
    enrol(journey, [1])
    journey_actions.run_journeys(now=START)
    assert at_step(journey) == {1: ("out", "exit_step")} and not Send.objects.exists()


def test_a_paused_journey_holds_its_customers(base):
    journey = make_journey([SEND])
    enrol(journey, [1])
    journey_actions.pause_journey(None, journey.pk)
    journey_actions.run_journeys(now=NOON)
    assert at_step(journey) == {1: ("hello", "active")}
    journey_actions.activate_journey(None, journey.pk)
    journey_actions.run_journeys(now=NOON)
    assert at_step(journey) == {1: ("hello", "end")}


# --- holdouts ----------------------------------------------------------------------------------------------


def test_holdout_is_a_deterministic_share_and_never_sent(base):
    journey = make_journey([SEND], holdout_percent=25)
    ids = range(1, 4001)
    expected = {c for c in ids if holdout_share(f"journey:{journey.pk}", c) < 0.25}
    assert 0.22 < len(expected) / 4000 < 0.28
    add_customers(base.raw_connection(), [{"customer_id": i} for i in range(21, 4001)])
    enrol(journey, ids)
    assert set(Enrollment.objects.filter(holdout=True).values_list("customer_id", flat=True)) == expected
    journey_actions.run_journeys(now=START)
    sent = Send.objects.filter(status="queued").values_list("customer_id", flat=True)
    assert not set(sent) & expected and len(sent) == 4000 - len(expected)
    assert set(Send.objects.filter(reason="holdout_source").values_list("customer_id", flat=True)) == expected


def test_lift_maths_against_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    lift = queries.lift_numbers(
        {"customers": 70, "converted": 56, "orders": 60, "gmv": 7000.0},
        {"customers": 80, "converted": 48, "orders": 50, "gmv": 4000.0},
        cost=140.0,
    )
    assert lift["absolute_lift"] == pytest.approx(0.2)
    assert lift["ci_low"] == pytest.approx(0.0524, abs=5e-5) and lift["ci_high"] == pytest.approx(
        0.3339, abs=5e-5
    )
    assert lift["relative_lift"] == pytest.approx(0.2 / 0.6)
    assert (
        lift["treated_gmv_per_customer"] == pytest.approx(100.0) and lift["holdout_gmv_per_customer"] == 50.0
    )
    # orders per customer 60/70 vs 50/80: (0.857142 - 0.625) * 70 = 16.25 incremental orders
    assert lift["incremental_orders"] == pytest.approx(16.25)
    assert lift["cost_per_incremental_order"] == pytest.approx(140.0 / 16.25)
    assert lift["incremental_gmv"] == pytest.approx(50.0 * 70)


def test_lift_report_of_a_journey(base):
    journey = make_journey([SEND], goal_days=7, holdout_percent=50, cost_per_send=0.5)
    enrol(journey, range(1, 21))
    held = sorted(Enrollment.objects.filter(holdout=True).values_list("customer_id", flat=True))
    treated = sorted(set(range(1, 21)) - set(held))
    journey_actions.run_journeys(now=START)
    # two treated customers buy within the goal (one twice), one holdout customer buys; one treated too late
    add_orders(base, [(treated[0], "L1", START + DAY, 100), (treated[0], "L2", START + 2 * DAY, 50),
                      (treated[1], "L3", START + 3 * DAY, 200), (held[0], "L4", START + DAY, 80),
                      (treated[2], "L5", START + 9 * DAY, 500)])  # fmt: skip
    lift = queries.journey_lift(journey, now=START + 10 * DAY)
    assert lift["treated"] == {"customers": len(treated), "converted": 2, "orders": 3, "gmv": 350.0}
    assert lift["holdout"] == {"customers": len(held), "converted": 1, "orders": 1, "gmv": 80.0}
    assert lift["sends"] == len(treated) and lift["cost"] == pytest.approx(0.5 * len(treated))
    assert lift["absolute_lift"] == pytest.approx(2 / len(treated) - 1 / len(held))
    # a send waiting for a retry still costs; one the provider refused for good does not
    sends = Send.objects.filter(source=Send.Source.JOURNEY).exclude(status=Send.Status.SUPPRESSED).order_by("pk")
    Send.objects.filter(pk=sends[0].pk).update(status=Send.Status.FAILED_RETRYABLE)
    Send.objects.filter(pk=sends[1].pk).update(status=Send.Status.FAILED_PERMANENT)
    assert queries.journey_lift(journey, now=START + 10 * DAY)["sends"] == len(treated) - 1


def test_lift_counts_people_not_entries(base):
    journey = make_journey([SEND], goal_days=7, holdout_percent=50, reentry="after_exit")
    enrol(journey, range(1, 21))
    enrol(journey, range(1, 21), at=START + 2 * DAY)  # everyone enters a second time
    held = sorted(set(Enrollment.objects.filter(holdout=True).values_list("customer_id", flat=True)))
    treated = sorted(set(range(1, 21)) - set(held))
    # one order inside both entries' goal windows: one converted customer, one order, its amount once
    add_orders(base, [(treated[0], "R1", START + 3 * DAY, 100)])
    lift = queries.journey_lift(journey, now=START + 4 * DAY)
    assert lift["treated"] == {"customers": len(treated), "converted": 1, "orders": 1, "gmv": 100.0}
    assert lift["holdout"]["customers"] == len(held)


# --- a crash in the middle of a tick -------------------------------------------------------------------------


def test_a_crash_mid_tick_and_a_restart_send_nothing_twice(base):
    journey = make_journey([SEND, {"id": "w", "type": "wait", "days": 1}])
    enrol(journey, range(1, 21))
    with pytest.raises(SystemExit):
        journey_actions.run_journeys(now=START, batch=6, crash_after=2)  # the process dies after two batches
    assert Send.objects.count() == 12
    report = journey_actions.run_journeys(now=START, batch=6)  # the restart
    assert Send.objects.count() == 20 and report["queued"] == 8
    keys = list(Send.objects.values_list("idempotency_key", flat=True))
    assert len(set(keys)) == 20
    # the sends were written but the enrollments' move was lost (put them back): nothing is sent again
    Enrollment.objects.update(step_id="hello", due_at=START)
    report = journey_actions.run_journeys(now=START + HOUR, batch=6)
    assert report["repeated"] == 20 and Send.objects.count() == 20


def test_a_first_send_is_taken_as_customers_enter_all_or_nothing(base, monkeypatch):
    from siyu.segments.models import Segment

    segment = Segment.objects.create(name="全部", rule={"field": "orders_total", "op": ">=", "value": 0})
    base.raw_connection().executemany(
        "INSERT INTO segment_members VALUES (?, ?, ?)", [(segment.pk, c, START) for c in range(1, 21)]
    )
    journey = make_journey([SEND, {"id": "w", "type": "wait", "days": 1}], holdout_percent=30,
                           trigger={"type": "segment_now", "segment_id": segment.pk})  # fmt: skip
    held = {c for c in range(1, 21) if holdout_share(f"journey:{journey.pk}", c) < 0.3}
    assert 0 < len(held) < 20
    monkeypatch.setattr(journey_actions, "JOURNEY_BATCH", 6)
    real_step, calls = journey_actions._run_step, []

    def dying_step(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the process died")
        return real_step(*args)

    monkeypatch.setattr(journey_actions, "_run_step", dying_step)
    with pytest.raises(RuntimeError):
        journey_actions.run_journeys(now=NOON)
    # the enrolment and the first step are one transaction: nobody entered, nothing was sent
    assert not Enrollment.objects.exists() and not Send.objects.exists()
    monkeypatch.setattr(journey_actions, "_run_step", real_step)
    report = journey_actions.run_journeys(now=NOON)
    assert report["enrolled"] == 20 and report["steps_taken"] == 40  # the send at entry, then the wait
    assert report["queued"] == 20 - len(held) and report["suppressed:holdout_source"] == len(held)
    # each enrollment waits at the step after the send, entered now; one send each, keyed by enrollment
    assert at_step(journey) == {c: ("w", "active") for c in range(1, 21)}
    assert set(Enrollment.objects.values_list("step_entered_at", flat=True)) == {NOON}
    assert sorted(Send.objects.values_list("idempotency_key", flat=True)) == sorted(
        f"journey:{journey.pk}:{pk}:hello" for pk in Enrollment.objects.values_list("pk", flat=True)
    )
    counts = {c.step_id: (c.entered, c.holdout_entered) for c in StepCount.objects.filter(journey=journey)}
    assert counts == {"hello": (20 - len(held), len(held)), "w": (20 - len(held), len(held))}
    assert journey_actions.run_journeys(now=NOON + HOUR)["enrolled"] == 0 and Send.objects.count() == 20
    exiting = make_journey([{"id": "out", "type": "exit"}, SEND], name="直接退出",
                           trigger={"type": "segment_now", "segment_id": segment.pk})  # fmt: skip
    journey_actions.run_journeys(now=NOON + 2 * HOUR)
    assert at_step(exiting) == {c: ("out", "exit_step") for c in range(1, 21)}
    assert Send.objects.count() == 20


def test_a_tick_runs_after_resolve_jobs(base, monkeypatch):
    from types import SimpleNamespace

    from siyu.pipeline.after_records import follow_resolve

    resolved = SimpleNamespace(customers=0, refreshed_customers=[], run_id="r1")
    calls = []
    monkeypatch.setattr(journey_actions, "run_journeys", lambda: calls.append(1) or {"enrolled": 0})
    assert follow_resolve(resolved, lambda *a: None)["journeys"] == {"enrolled": 0} and calls == [1]
    monkeypatch.setattr(journey_actions, "run_journeys", lambda: 1 / 0)
    assert "ZeroDivisionError" in follow_resolve(resolved, lambda *a: None)["journeys"]["error"]


# --- API and console -----------------------------------------------------------------------------------------


def _api(user):
    from django.test import Client

    from siyu.api.actions import create_token

    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def test_journeys_api(base):
    from siyu.staff.actions import create_user

    ops, guide = create_user("ops", "pw-oper-1", "operator"), create_user("g1", "pw-guide-1", "guide")
    client = _api(ops)
    body = {"name": "下单感谢", "trigger": {"type": "event", "event": "order_placed"}, "steps": [SEND],
            "holdout_percent": 10, "goal_days": 7}  # fmt: skip

    def post(path, payload, key, method="post"):
        return getattr(client, method)(path, data=json.dumps(payload), content_type="application/json",
                                       headers={"Idempotency-Key": key})  # fmt: skip

    created = post("/api/journeys", body, "j1")
    assert created.status_code == 201, created.content
    journey_id = created.json()["id"]
    assert post("/api/journeys", body, "j1").json()["id"] == journey_id  # replayed
    assert post("/api/journeys", {**body, "steps": [{"type": "teleport"}]}, "j2").status_code == 400
    active = post(f"/api/journeys/{journey_id}/activate", {}, "a1")
    assert active.status_code == 200 and active.json()["status"] == "active"
    assert client.get("/api/journeys/999").status_code == 404
    detail = client.get(f"/api/journeys/{journey_id}").json()
    assert detail["step_counts"][0]["step"]["id"] == "hello" and detail["holdout_percent"] == 10
    lift = client.get(f"/api/journeys/{journey_id}/lift")
    assert lift.status_code == 200 and lift.json()["treated"]["customers"] == 0
    assert post(f"/api/journeys/{journey_id}", {}, "d1", method="delete").status_code == 400  # it has run
    assert _api(guide).get("/api/journeys").status_code == 403
    paused = post(f"/api/journeys/{journey_id}/pause", {}, "p1")
    assert paused.json()["status"] == "paused"


def test_console_builds_a_journey_step_by_step(base, client):
    from siyu.staff.actions import create_user

    create_user("ops", "pw-oper-1", "operator")
    client.login(username="ops", password="pw-oper-1")
    response = client.post("/engagement/journeys/new/", {
        "name": "加微欢迎", "trigger_type": "event", "trigger_event": "wecom_contact_added", "trigger_max_age_days": "3",
        "reentry": "once", "reentry_days": "0", "goal_days": "7", "exit_on_goal": "on", "priority": "1",
        "holdout_percent": "20", "cost_per_send": "0.05", "steps_json": "[]",
    })  # fmt: skip
    journey = Journey.objects.get(name="加微欢迎")
    assert response.status_code == 302 and journey.trigger["event"] == "wecom_contact_added"
    page = f"/engagement/journeys/{journey.pk}/"
    client.post(page, {"do": "add_step", "type": "send", "id": "welcome", "channel": "wecom", "content": "欢迎",
                       "variables": "coupon=NEW10", "before": "end"})  # fmt: skip
    client.post(
        page, {"do": "add_step", "type": "wait", "days": "2", "hours": "0", "minutes": "0", "before": "end"}
    )
    journey.refresh_from_db()
    assert [s["type"] for s in journey.steps] == ["send", "wait", "exit"]
    assert journey.steps[0]["variables"] == {"coupon": "NEW10"}
    fields = client.get(f"/engagement/journeys/{journey.pk}/step-fields/", {"type": "branch"})
    assert 'name="rule"' in fields.content.decode()
    client.post(page, {"do": "activate"})
    html = client.get(page).content.decode()
    assert 'data-status="active"' in html and 'data-step-id="welcome"' in html
    assert client.get(f"/engagement/journeys/{journey.pk}/lift/").status_code == 200


def test_the_editor_starts_a_journey_on_adds_through_one_live_code(base, client):
    from siyu.acquisition.models import LiveCode
    from siyu.staff.actions import create_user

    code = LiveCode.objects.create(name="门店收银台", state="store-cashier", config_id="cfg-1")
    create_user("ops", "pw-oper-1", "operator")
    client.login(username="ops", password="pw-oper-1")
    form = {"trigger_type": "event", "trigger_event": "code_scanned", "trigger_code_id": str(code.pk),
            "trigger_max_age_days": "3", "reentry": "once", "reentry_days": "0", "goal_days": "7",
            "priority": "1", "holdout_percent": "0", "cost_per_send": "0", "steps_json": "[]"}  # fmt: skip
    assert "门店收银台" in client.get("/engagement/journeys/new/").content.decode()
    client.post("/engagement/journeys/new/", {**form, "name": "收银台扫码欢迎"})
    journey = Journey.objects.get(name="收银台扫码欢迎")
    assert journey.trigger["with"] == {"code_id": str(code.pk)}
    assert f'value="{code.pk}" selected' in client.get(f"/engagement/journeys/{journey.pk}/edit/").content.decode()
    # the code is about adds through it: another event keeps no code
    client.post("/engagement/journeys/new/", {**form, "name": "加微", "trigger_event": "wecom_contact_added"})
    assert "with" not in Journey.objects.get(name="加微").trigger
    assert "data-journey-id" in client.get("/engagement/journeys/").content.decode()


def test_console_edits_and_moves_existing_steps(base, client):
    from siyu.staff.actions import create_user

    create_user("ops", "pw-oper-1", "operator")
    client.login(username="ops", password="pw-oper-1")
    journey = make_journey([SEND, {"id": "w", "type": "wait", "days": 2}, {"id": "end", "type": "exit"}])
    page = f"/engagement/journeys/{journey.pk}/"
    # the edit form shows the step as it is
    html = client.get(page, {"edit": "hello"}).content.decode()
    assert 'data-editing="hello"' in html and ">你好</textarea>" in html and 'value="webhook" selected' in html
    client.post(page, {"do": "replace_step", "step": "hello", "type": "send", "channel": "sms", "template": "SMS_9",
                       "content": "{name}，新品到店", "variables": "shop=静安店"})  # fmt: skip
    journey.refresh_from_db()
    assert journey.steps[0] == {"id": "hello", "type": "send", "channel": "sms", "template": "SMS_9", "subject": "",
                                "content": "{name}，新品到店", "variables": {"shop": "静安店"}}  # fmt: skip
    # a wait becomes a window: same id, the new type's fields
    client.post(page, {"do": "replace_step", "step": "w", "type": "wait_window", "start": "10:00", "end": "11:00"})
    journey.refresh_from_db()
    assert journey.steps[1] == {"id": "w", "type": "wait_window", "start": "10:00", "end": "11:00"}
    # an invalid version is refused and the journey keeps the old one
    response = client.post(page, {"do": "replace_step", "step": "w", "type": "wait_window", "start": "10:00",
                                  "end": "10:00"}, follow=True)  # fmt: skip
    journey.refresh_from_db()
    assert journey.steps[1]["end"] == "11:00" and "start and end are the same" in response.content.decode()
    client.post(page, {"do": "move_step", "step": "w", "to": "up"})
    journey.refresh_from_db()
    assert [s["id"] for s in journey.steps] == ["w", "hello", "end"]
    client.post(page, {"do": "move_step", "step": "end", "to": "down"})  # already last: nothing moves
    journey.refresh_from_db()
    assert [s["id"] for s in journey.steps] == ["w", "hello", "end"]
    # the step-fields fragment keeps the edited step's values for its own type only
    fields = client.get(f"/engagement/journeys/{journey.pk}/step-fields/", {"type": "send", "edit": "hello"})
    assert "{name}，新品到店</textarea>" in fields.content.decode() and 'name="material"' in fields.content.decode()
    fields = client.get(f"/engagement/journeys/{journey.pk}/step-fields/", {"type": "guide_task", "edit": "hello"})
    assert "新品到店" not in fields.content.decode()
