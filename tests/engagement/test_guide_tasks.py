"""Guide tasks: by owner and by capacity, through the one contact policy, worked by their own guide."""

from __future__ import annotations

import datetime as dt

import pytest
from guides_helpers import NOON, touches

from siyu.core.errors import PermissionDenied
from siyu.customers.actions import record_consent
from siyu.customers.models import CustomerState
from siyu.engagement.content.actions import save_script
from siyu.engagement.errors import TaskError
from siyu.engagement.guides.actions import cancel_batch, complete_task, create_guide_tasks, reassign_tasks
from siyu.engagement.guides.models import GuideTask
from siyu.engagement.messaging.actions import deliver_due_sends, enqueue_sends
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
DUE = NOON + dt.timedelta(days=2)
BODY = "{name}您好，我是{store}的{guide}，您上次买的{product}用得怎么样？"


@pytest.fixture
def script(shoppers):
    return save_script(shoppers["ops"], title="回访", body=BODY, group="复购", tags="回访, 复购")


def tasks_of(batch) -> dict[int, GuideTask]:
    return {t.customer_id: t for t in GuideTask.objects.filter(batch=batch)}


def test_by_owner_each_customer_goes_to_their_guide_with_the_script_rendered(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 2, 3, 4, 5, 404],
                               now=NOON)  # fmt: skip
    tasks = tasks_of(batch)
    assert {c: (t.guide_id, t.status, t.reason) for c, t in tasks.items()} == {
        1: (shoppers["g1"].pk, "open", ""),
        2: (shoppers["g1"].pk, "open", ""),
        3: (shoppers["g2"].pk, "open", ""),
        4: (None, "suppressed", "no_owner"),
        5: (shoppers["g9"].pk, "open", ""),
    }
    assert tasks[1].message == "张女士您好，我是上海南京西路店的小王，您上次买的玫瑰精华水用得怎么样？"
    assert tasks[1].missing_variables == []
    # no gender: the masked name; no purchase: the placeholder stays and is reported
    assert tasks[2].message.startswith("李先生您好") and tasks[2].missing_variables == ["product"]
    assert "{product}" in tasks[2].message
    assert tasks[3].message.startswith("王*您好")
    assert batch.counts == {"customers": 6, "open": 4, "suppressed": {"no_owner": 1}, "unknown_customers": 1,
                            "missing_variables": 2}  # fmt: skip
    # every open task holds an outbox row of the guide channel that the worker never claims
    sends = Send.objects.filter(source="task", source_id=str(batch.pk))
    assert sends.count() == 4 and {s.channel for s in sends} == {"guide"}
    deliver_due_sends(now=NOON + dt.timedelta(hours=1))
    assert set(sends.values_list("status", flat=True)) == {"queued"}


def test_defaults_fill_what_the_customer_has_no_value_for(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 2],
                               variables={"product": "新品"}, now=NOON)  # fmt: skip
    tasks = tasks_of(batch)
    assert "玫瑰精华水" in tasks[1].message and "新品" in tasks[2].message
    assert tasks[2].missing_variables == []


def test_opted_out_and_capped_customers_are_suppressed_with_the_policy_reason(shoppers, script):
    record_consent(None, 1, "guide", "opt_out", "电话回访时要求不再联系", at=NOON - dt.timedelta(days=1))
    record_consent(None, 3, "all", "opt_out", "客服工单", at=NOON - dt.timedelta(days=1))
    # customer 2 already had the week's two marketing touches
    enqueue_sends([SendRequest(f"w{i}", "webhook", customer_id=2, content="hi") for i in range(2)], now=NOON)
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 2, 3], now=NOON)
    tasks = tasks_of(batch)
    assert {c: (t.status, t.reason) for c, t in tasks.items()} == {
        1: ("suppressed", "opted_out"),
        2: ("suppressed", "cap_global"),
        3: ("suppressed", "opted_out"),
    }
    # recorded in the outbox with the same reasons, like every suppressed send
    assert sorted(Send.objects.filter(channel="guide").values_list("customer_id", "reason")) == [
        (1, "opted_out"), (2, "cap_global"), (3, "opted_out")]  # fmt: skip


def test_an_open_task_takes_a_slot_of_the_weekly_cap(shoppers, script):
    create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1], now=NOON)
    create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1], now=NOON)
    third = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1], now=NOON)
    assert tasks_of(third)[1].reason == "cap_global"


def test_by_capacity_balances_over_the_store_and_keeps_owners(shoppers, script):
    # g1 already has one open task
    create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[2], now=NOON)
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 3, 4, 5, 6, 7],
                               assign="capacity", store="SH01", max_open=2, now=NOON)  # fmt: skip
    g1, g2 = shoppers["g1"].pk, shoppers["g2"].pk
    # loads before: g1 1, g2 0.  1 (g1's) → g1 (2); 3 (g2's) → g2 (1); 4 unowned → least loaded g2 (2);
    # 5 (owned in BJ01) → other_store; 6 and 7 unowned → both guides full
    assert {c: (t.guide_id, t.status, t.reason) for c, t in tasks_of(batch).items()} == {
        1: (g1, "open", ""),
        3: (g2, "open", ""),
        4: (g2, "open", ""),
        5: (None, "suppressed", "other_store"),
        6: (None, "suppressed", "over_capacity"),
        7: (None, "suppressed", "over_capacity"),
    }
    # the unowned customer given to a guide is now that guide's customer (so the guide may see them)
    assert CustomerState.objects.get(customer_id=4).owner_id == g2
    assert not CustomerState.objects.filter(customer_id=6, owner__isnull=False).exists()


def test_capacity_spreads_evenly(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[4, 6, 7, 8, 9],
                               assign="capacity", store="SH01", max_open=10, now=NOON)  # fmt: skip
    guides = [t.guide_id for t in tasks_of(batch).values()]
    assert sorted(guides.count(g) for g in set(guides)) == [2, 3]


def test_from_a_segment_and_idempotent(shoppers, script):
    from siyu.segments.actions import refresh_segment, save_segment

    segment = save_segment(shoppers["ops"], "复购人群", customer_ids=[1, 3], materialise=False)
    with pytest.raises(TaskError, match="refreshed"):
        create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, segment_id=segment.pk, now=NOON)
    refresh_segment(segment.pk)
    first = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, segment_id=segment.pk,
                               idempotency_key="journey-7-step-2", source="journey", source_id="7", now=NOON)  # fmt: skip
    again = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, segment_id=segment.pk,
                               idempotency_key="journey-7-step-2", source="journey", source_id="7", now=NOON)  # fmt: skip
    assert again.pk == first.pk and GuideTask.objects.count() == 2
    assert set(Send.objects.values_list("source", "source_id")) == {("journey", "7")}


def test_a_guide_completes_only_their_own_task_and_it_becomes_a_touch(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 3], now=NOON)
    tasks = tasks_of(batch)
    with pytest.raises(PermissionDenied):
        complete_task(shoppers["g2"], tasks[1].pk, "reached")
    with pytest.raises(PermissionDenied):
        complete_task(shoppers["ops"], tasks[1].pk, "reached")
    with pytest.raises(TaskError, match="outcome"):
        complete_task(shoppers["g1"], tasks[1].pk, "maybe")
    done = complete_task(
        shoppers["g1"], tasks[1].pk, "purchase_intent", "想要大瓶装", now=NOON + dt.timedelta(hours=3)
    )
    assert (done.status, done.outcome, done.note) == ("done", "purchase_intent", "想要大瓶装")
    send = Send.objects.get(pk=done.send_id)
    assert send.status == "sent" and send.touch_written
    [touch] = touches()
    assert (touch["customer_id"], touch["channel"], touch["source"], touch["source_id"]) == (
        1,
        "guide",
        "task",
        str(batch.pk),
    )
    with pytest.raises(TaskError, match="not open"):
        complete_task(shoppers["g1"], tasks[1].pk, "reached")


def test_cancelling_frees_the_slots(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 3], now=NOON)
    with pytest.raises(PermissionDenied):
        cancel_batch(shoppers["g1"], batch.pk)
    assert cancel_batch(shoppers["ops"], batch.pk) == 2
    assert set(GuideTask.objects.values_list("status", flat=True)) == {"cancelled"}
    assert set(Send.objects.values_list("status", flat=True)) == {"failed_permanent"}


def test_who_may_create_tasks_and_for_whom(shoppers, script):
    with pytest.raises(PermissionDenied):
        create_guide_tasks(shoppers["g1"], script=script, due_at=DUE, customer_ids=[1], now=NOON)
    # a manager: customers of their own store's guides only
    with pytest.raises(PermissionDenied):
        create_guide_tasks(shoppers["m1"], script=script, due_at=DUE, customer_ids=[5], now=NOON)
    batch = create_guide_tasks(shoppers["m1"], script=script, due_at=DUE, customer_ids=[1, 3], now=NOON)
    assert batch.counts["open"] == 2
    with pytest.raises(TaskError, match="future"):
        create_guide_tasks(shoppers["ops"], script=script, due_at=NOON, customer_ids=[1], now=NOON)


def test_open_tasks_are_given_to_another_guide_with_the_script_filled_again(shoppers, script):
    batch = create_guide_tasks(shoppers["ops"], script=script, due_at=DUE, customer_ids=[1, 2, 3, 5], now=NOON)
    tasks = tasks_of(batch)
    complete_task(shoppers["g1"], tasks[2].pk, "reached", now=NOON)
    g2 = shoppers["g2"]
    # g1's open task moves; the done one stays with g1
    assert reassign_tasks(shoppers["ops"], [tasks[1].pk, tasks[2].pk], g2.pk) == 1
    tasks = tasks_of(batch)
    assert (tasks[1].guide_id, tasks[2].guide_id) == (g2.pk, shoppers["g1"].pk)
    assert tasks[1].message == "张女士您好，我是上海南京西路店的小李，您上次买的玫瑰精华水用得怎么样？"
    assert CustomerState.objects.get(customer_id=1).owner_id == shoppers["g1"].pk  # owners unchanged
    # the new guide works it; the old one no longer can
    with pytest.raises(PermissionDenied):
        complete_task(shoppers["g1"], tasks[1].pk, "reached", now=NOON)
    complete_task(g2, tasks[1].pk, "purchase_intent", now=NOON)
    # a manager moves only their store's guides' tasks, only to their store's guides; owners move too if asked
    with pytest.raises(PermissionDenied):
        reassign_tasks(shoppers["m1"], [tasks[3].pk], shoppers["g9"].pk)
    assert reassign_tasks(shoppers["m1"], [tasks[5].pk], g2.pk) == 0  # g9's task, another store
    assert reassign_tasks(shoppers["m1"], [tasks[3].pk], shoppers["g1"].pk, transfer_customers=True) == 1
    assert CustomerState.objects.get(customer_id=3).owner_id == shoppers["g1"].pk
    with pytest.raises(PermissionDenied):
        reassign_tasks(shoppers["g1"], [tasks[3].pk], g2.pk)
    with pytest.raises(TaskError, match="no active guide"):
        reassign_tasks(shoppers["ops"], [tasks[3].pk], shoppers["ops"].pk)  # an operator works no tasks
