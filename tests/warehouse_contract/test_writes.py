"""The warehouse contract's write side: the product's jobs that write the warehouse, run through their own
actions on the brand's DuckDB file and on its Spark copy, leave the same rows — predictions (features
computed by each engine, then scikit-learn and BG/NBD with the same seeds), the loyalty mirror, the touches
of a journey's sends — and `siyu export` writes the same files from either engine.

A scenario that writes leaves both copies as it found them (what it wrote is deleted in its `finally`), so
the read-side scenarios (test_contract.py) see the brand as built whatever order the tests run in."""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from warehouse_contract.compare import assert_same, rows_of
from warehouse_contract.conftest import on
from warehouse_contract.test_contract import both, same

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]


def _delete(brand, table: str, column: str, values: pa.Array, where: tuple | None = None) -> None:
    """Rows a scenario wrote, deleted from both copies (`where`: (column, value) they also have)."""
    from siyu.warehouse import transaction
    from siyu.warehouse.append import delete_where_in

    for engine in ("duckdb", "spark"):
        with on(brand, engine), transaction() as tx:
            delete_where_in(tx, table, column, values, where=where)


def _by_natural_keys(grid: dict, names: dict[tuple[str, str], str]) -> dict:
    """The touch-grid page with the control-plane ids of the scenario's operations (a journey's, a task
    batch's: `names` {(kind, id): a name of the scenario's}) replaced by those names, so that two runs compare
    equal whatever ids the control plane gave them (SQLite reuses the ids of rolled-back rows, PostgreSQL's
    sequences do not)."""

    def rename(row, kind_key):
        oid = row.get("operation_id")
        name = names.get((row[kind_key], oid)) if oid is not None else None
        if not name:
            return row
        renamed = {**row, "operation_id": name}
        if row.get("label") == oid:  # an operation its domain does not name is labelled by its id
            renamed["label"] = name
        return renamed

    tables = dict(grid["tables"])
    for table in ("operation_stage", "touch_cells"):
        tables[table] = sorted((rename(r, "operation") for r in tables[table]), key=repr)
    return {**grid, "tables": tables}


def _ids_move_on(*models) -> None:
    """The next ids of these control-plane tables 1,000 further on (inside the scenario's savepoint): the
    second engine's run gets other ids than the first's, as it would on PostgreSQL, whose sequences do not
    go back with a rollback (SQLite's AUTOINCREMENT counter does)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return  # the sequences have moved on by themselves
    with connection.cursor() as c:
        for model in models:
            table = model._meta.db_table
            c.execute("UPDATE sqlite_sequence SET seq = seq + 1000 WHERE name = %s", [table])
            if c.rowcount == 0:
                c.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, 1000)", [table])


# --- predictions ---------------------------------------------------------------------------------------


def test_prediction_features_computed_on_each_engine(contract_brand):
    """The features table (with labels) the propensity model trains on, built by each engine's SQL."""
    from siyu.segments.predictions import PredictionSettings, features_expr, top_products

    ps = PredictionSettings.from_settings()
    cutoff = contract_brand.now - timedelta(days=ps.horizon_days)

    def compute(con):
        products = top_products(con, cutoff, ps)
        table = features_expr(con, cutoff, ps, products, label=True, fraction=0.5)
        return {"products": products, "features": rows_of(table, ("customer_id",))}

    found = same(contract_brand, compute)
    assert len(found["products"]) == ps.top_products
    rows = found["features"]
    assert rows and any(r["label"] for r in rows) and not all(r["label"] for r in rows)


def test_refresh_predictions_serves_the_same_scores(contract_brand, settings):
    """`siyu predict --as-of DAY` on each engine: the same customers, probabilities, CLV and report (the
    model is trained on features each engine computed). One training snapshot (settings PREDICTIONS): the
    same code as two, with two feature queries fewer on Spark."""
    from siyu.segments.prediction_actions import refresh_predictions
    from siyu.segments.prediction_queries import predictions_of
    from siyu.segments.predictions import PREDICTION_RUNS_TABLE, PREDICTIONS_TABLE
    from siyu.segments.traits import cutoff_of

    settings.PREDICTIONS = {"training_snapshots": 1}
    day = contract_brand.last_day
    at = cutoff_of(day)
    some = contract_brand.sample_customers

    def compute(con):
        report = refresh_predictions(day)
        predictions = con.table(PREDICTIONS_TABLE)
        runs = con.table(PREDICTION_RUNS_TABLE)
        run = runs.filter(runs.as_of == at).drop("computed_at", "seconds").to_pyarrow().to_pylist()
        assert len(run) == 1
        stored = json.loads(run[0].pop("report"))
        return {
            "report": _without_timings(report),
            "stored_report": _without_timings(stored),
            "run": run[0],
            "predictions": rows_of(predictions.filter(predictions.as_of == at), ("customer_id",)),
            "predictions_of": {c: predictions_of(c, day) for c in some},
        }

    try:
        found = same(contract_brand, compute)
    finally:
        _delete(contract_brand, PREDICTIONS_TABLE, "as_of", pa.array([at], pa.timestamp("us", tz="UTC")))
        _delete(contract_brand, PREDICTION_RUNS_TABLE, "as_of", pa.array([at], pa.timestamp("us", tz="UTC")))
    assert len(found["predictions"]) == found["report"]["customers"] > 0
    assert found["report"]["quality"]["p_purchase"]["served"] in ("model", "simple")
    assert any(r["clv"] is not None for r in found["predictions"])


def _without_timings(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("timings", "seconds")}


# --- the loyalty mirror ------------------------------------------------------------------------------------


def test_loyalty_mirror_writes_the_same_rows(contract_brand):
    """Points awarded in the control plane, then one run of the loyalty mirror (the job `siyu serve` runs
    every hour) on each copy at the same instant: the same events, member and coupon state, positions."""
    from siyu.loyalty.mirror import SOURCE, STREAM, mirror_loyalty
    from siyu.loyalty.points.actions import award_points
    from siyu.warehouse.mirrors import PENDING, WATERMARKS

    customer = contract_brand.sample_customers[0]
    award_points(customer, 123, key="contract:mirror", reason="合同测试", source="manual")
    now = contract_brand.now + timedelta(hours=1)

    def compute(con):
        report = mirror_loyalty(now)
        events = con.table("events")
        marks, pending = con.table(WATERMARKS), con.table(PENDING)
        return {
            "report": report,
            "events": rows_of(events.filter(events.source == SOURCE), ("event_key",)),
            "members": rows_of(con.table("loyalty_members"), ("customer_id",)),
            "coupons": rows_of(con.table("loyalty_coupons"), ("coupon_id",)),
            "positions": rows_of(marks.filter(marks.stream.startswith(STREAM)), ("stream",)),
            "pending": rows_of(pending.filter(pending.stream.startswith(STREAM))),
        }

    found = same(contract_brand, compute)
    assert found["report"]["events_written"] >= 1
    member = next(m for m in found["members"] if m["customer_id"] == customer)
    assert member["points_available"] >= 123


# --- touches: a journey's sends ----------------------------------------------------------------------------


def test_a_journeys_sends_write_the_same_touches(contract_brand):
    """A journey sending to a segment's stored members through the webhook channel, ticked and delivered on
    each engine (the control plane rolled back in between, the second run's ids moved on as PostgreSQL's
    would be): the same customers enrolled, the same sends and the same `touches` rows, which the touch-grid
    page then reads the same way, compared by natural keys (customers, the journey's name), not ids."""
    from django.db import transaction as db

    from siyu.analytics.queries import touch_grid
    from siyu.engagement.journeys.actions import activate_journey, run_journeys, save_journey
    from siyu.engagement.journeys.models import Journey
    from siyu.engagement.messaging.actions import configure_account, deliver_due_sends
    from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
    from siyu.engagement.messaging.models import Send
    from siyu.segments.models import Segment
    from siyu.warehouse import engine

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()
    start = datetime.combine(contract_brand.now.date(), time(3), tzinfo=UTC)  # 11:00 in Shanghai
    f = _touch_filters(contract_brand, start)
    made: list[str] = []  # the journeys' ids, whose touches are deleted from both copies at the end

    def compute(con):
        saved = db.savepoint()
        try:
            if engine() == "spark":
                _ids_move_on(Journey, Send)
            with FakeWebhookReceiver() as server:
                configure_account(None, "webhook", "webhook", {"url": server.url},
                                  {"signing_secret": "webhook-secret"})  # fmt: skip
                journey = save_journey(None, name="合同旅程", holdout_percent=0, steps=[SEND],
                                       trigger={"type": "segment_now", "segment_id": segment.pk})  # fmt: skip
                made.append(str(journey.pk))
                activate_journey(None, journey.pk, now=start)
                ticked = run_journeys(now=start + timedelta(hours=1))
                delivered = deliver_due_sends(now=start + timedelta(hours=1))
                received = len(server.requests)
            touches = con.table("touches")
            mine = touches.filter(touches.source == "journey", touches.source_id == str(journey.pk))
            mine = mine.drop("send_id", "source_id")
            return {
                "enrolled": ticked["enrolled"],
                "delivered": dict(delivered),
                "received": received,
                "sends": sorted(Send.objects.filter(source_id=str(journey.pk)).values_list("customer_id", "status")),
                "touches": rows_of(mine, ("customer_id",)),
                "touch_grid": _by_natural_keys(touch_grid(f), {("journey", str(journey.pk)): "合同旅程"}),
                "journey": journey.pk,
            }
        finally:
            db.savepoint_rollback(saved)

    try:
        duckdb, spark = both(contract_brand, compute)
    finally:
        if made:
            _delete(contract_brand, "touches", "source_id", pa.array(made, pa.string()), where=("source", "journey"))
    assert duckdb.pop("journey") != spark.pop("journey")  # the ids differ: the comparison does not need them
    assert_same(duckdb, spark)
    assert duckdb["delivered"].get("sent", 0) == len(duckdb["touches"]) > 0 and duckdb["received"] > 0


SEND = {"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}


def _touch_filters(brand, start):
    from siyu.analytics.filters import Filters

    return Filters(start.date() - timedelta(days=30), start.date() + timedelta(days=1))


# --- `siyu export` -----------------------------------------------------------------------------------------


def test_the_export_command_on_each_engine(contract_brand, tmp_path):
    """`siyu export customers OUT.csv` and `siyu export segment ID OUT.xlsx` through the command (its job
    runs where the warehouse is)."""
    from django.core.management import call_command

    from siyu.segments.models import Segment
    from warehouse_contract.test_contract import _read

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()

    def compute(con):
        folder = tmp_path / con.name
        folder.mkdir()
        out = {}
        for what, target in (("customers", [str(folder / "customers.csv")]),
                             ("segment", [str(segment.pk), str(folder / "segment.xlsx")])):  # fmt: skip
            said = io.StringIO()
            call_command("export", what, *target, "--json", stdout=said)
            rows = _read(Path(target[-1]))
            out[what] = {"rows": json.loads(said.getvalue())["rows"], "header": rows[0], "lines": sorted(rows[1:])}
        return out

    found = same(contract_brand, compute)
    assert found["customers"]["rows"] == contract_brand.customers == len(found["customers"]["lines"])


# --- loyalty's jobs that read the warehouse ----------------------------------------------------------------


def _without_warehouse_loyalty() -> None:
    """The control plane as if no loyalty job had read the warehouse yet: no ledger (points of every kind),
    no order earnings or earn runs, no activity awards, no member tiers or tier changes, no tier coupons,
    and the coupons imported orders used unused again. Raw deletes: the ledger's own PROTECT links go with
    it (inside the scenario's savepoint, rolled back)."""
    from siyu.loyalty.coupons.models import Coupon, CouponStatus, UsedVia
    from siyu.loyalty.earning.models import ActivityAward, DailyActivityTotal, EarnRun, OrderPoints
    from siyu.loyalty.points.models import PointsEntry, PointsLot
    from siyu.loyalty.tiers.models import MemberTier, TierChange

    for model in (PointsEntry, PointsLot, OrderPoints, EarnRun, ActivityAward, DailyActivityTotal, TierChange,
                  MemberTier):  # fmt: skip
        model.objects.all()._raw_delete("default")
    Coupon.objects.filter(source="tier")._raw_delete("default")
    Coupon.objects.filter(used_via=UsedVia.IMPORT).update(
        status=CouponStatus.ISSUED, used_at=None, used_via="", order_ref="", channel="", order_amount=None,
        discount=None,
    )  # fmt: skip


def _loyalty_state(customers: list[int], now) -> dict:
    """What an operator sees of loyalty, by natural keys (no control-plane ids, codes or wall-clock times):
    the ledger's entries and lots, what each order earned, member tiers and their changes, coupons, and the
    pages' figures (balances, members per tier, a template's statistics, a member's tier progress)."""
    from siyu.loyalty.coupons.models import Coupon, CouponTemplate
    from siyu.loyalty.coupons.queries import template_stats
    from siyu.loyalty.earning.models import OrderPoints
    from siyu.loyalty.points.models import PointsEntry, PointsLot
    from siyu.loyalty.points.queries import balances_of
    from siyu.loyalty.tiers.models import MemberTier, TierChange
    from siyu.loyalty.tiers.queries import members_per_tier, tier_of

    def timed(source, at):  # a lot's availability is the order's time, or the moment of the award
        return at if source in ("order", "first_purchase") else None

    tier_view = {}
    for cid in customers:
        view = tier_of(cid, now)
        tier_view[cid] = {"tier": view.tier and view.tier.name, "next": view.next_tier and view.next_tier.name,
                          "measured": view.measured, "needed": view.needed}  # fmt: skip
    return {
        "entries": sorted(PointsEntry.objects.values_list(
            "key", "customer_id", "points", "account", "source", "source_ref", "reason", "shortfall", "lot__key",
            "reverses__key")),  # fmt: skip
        "lots": sorted((k, c, p, r, s, ref, timed(s, a), e) for k, c, p, r, s, ref, a, e in PointsLot.objects.values_list(
            "key", "customer_id", "points", "remaining", "source", "source_ref", "available_at", "expires_at")),  # fmt: skip
        "order_points": sorted(OrderPoints.objects.values_list("source_ref", "customer_id", "amount", "points",
                                                               "generation", "reversed")),  # fmt: skip
        "member_tiers": sorted(MemberTier.objects.values_list("customer_id", "tier__name", "since", "review_on",
                                                              "grace_until", "evaluated_at")),  # fmt: skip
        "tier_changes": sorted(TierChange.objects.values_list(
            "customer_id", "kind", "from_tier__name", "to_tier__name", "measured", "changed_at"), key=repr),  # fmt: skip
        "coupons": sorted(Coupon.objects.values_list(
            "customer_id", "template__name", "source", "status", "used_at", "used_via", "order_ref", "channel",
            "order_amount", "discount", "idempotency_key"), key=repr),  # fmt: skip
        "balances": {cid: asdict(b) for cid, b in sorted(balances_of(customers, now).items())},
        "members_per_tier": [(r["tier"].name, r["members"]) for r in members_per_tier()],
        "template_stats": {t.name: template_stats(t.pk) for t in CouponTemplate.objects.order_by("name")},
        "tier_of": tier_view,
    }


def test_loyalty_jobs_that_read_the_warehouse(contract_brand):
    """Loyalty's jobs that read the warehouse and write the control plane, on each engine from the same
    start (every ledger row, tier and import-used coupon taken away in a savepoint, rolled back after):
    points earned from the orders (`earn_for_orders`, full: purchases, product and channel rules, first
    purchases, tier multipliers; refunded orders earn nothing) with the tiers of the members it touched, then every
    member's tier review (`evaluate_tiers`: spend in the window from the warehouse, upgrade coupons), the
    coupons imported orders used (`match_coupon_orders`) and the birthday rewards of a day
    (`award_birthdays`: birthdays from customer_summary). The same ledger, tiers, coupons and figures."""
    from django.db import transaction as db

    from siyu.loyalty.coupons.actions import match_coupon_orders
    from siyu.loyalty.earning.actions import award_birthdays, earn_for_orders
    from siyu.loyalty.earning.models import EarnRun
    from siyu.loyalty.tiers.actions import evaluate_tiers

    now = contract_brand.now + timedelta(hours=1)
    with on(contract_brand, "duckdb") as con:
        day = _a_birthday(con, now.year)
    some = contract_brand.sample_customers

    def compute(con):
        saved = db.savepoint()
        try:
            _without_warehouse_loyalty()
            earned = earn_for_orders(full=True, now=now)
            # the next run reads only what changed after the first run's watermark: nothing
            again = earn_for_orders(now=now + timedelta(hours=1))
            earned.pop("seconds"), again.pop("seconds")
            reports = {"earned": earned, "again": again, "tiers": evaluate_tiers(now=now),
                       "coupons": match_coupon_orders(now), "birthdays": award_birthdays(day)}  # fmt: skip
            runs = sorted(EarnRun.objects.values_list("since", "watermark", "orders", "awarded", "points"), key=repr)
            return {"reports": reports, "runs": runs, **_loyalty_state(some, now)}
        finally:
            db.savepoint_rollback(saved)

    found = same(contract_brand, compute)
    reports = found["reports"]
    assert reports["earned"]["awarded"] > 0 and reports["earned"]["first_purchases"] > 0
    assert reports["again"]["orders"] == 0 and found["runs"][0][1] is not None
    assert reports["earned"]["tiers"]["upgrades"] > 0 and found["member_tiers"]
    assert reports["coupons"]["used"] > 0 and any(c[5] == "import" for c in found["coupons"])
    assert any(t["imported_gmv"] > 0 for t in found["template_stats"].values())  # the orders' amounts, read back
    assert reports["birthdays"]["birthdays"] > 0 and any(e[4] == "birthday" for e in found["entries"])


def _a_birthday(con, year: int) -> date:
    """The day (of `year`) most customers of the brand have their birthday."""
    cs = con.table("customer_summary")
    born = cs.filter(cs.birthday.notnull()).mutate(m=cs.birthday.month(), d=cs.birthday.day())
    top = born.group_by(["m", "d"]).aggregate(n=born.count())
    row = top.order_by([top.n.desc(), top.m, top.d]).limit(1).to_pyarrow().to_pylist()[0]
    return date(year, row["m"], min(row["d"], 28) if row["m"] == 2 else row["d"])


# --- touches: guide tasks ----------------------------------------------------------------------------------

TASK_BODY = "{name}您好，您上次买的{product}用得怎么样？"


def _owned_customers(brand, n: int, bought_after: datetime) -> list[int]:
    """`n` customers of the brand with an owner guide (the first by id; some who bought after
    `bought_after`, some who did not), and one of the sample without an owner."""
    from siyu.customers.models import CustomerState
    from siyu.warehouse.orders import is_purchase

    owned = sorted(CustomerState.objects.exclude(owner=None).values_list("customer_id", flat=True))
    with on(brand, "duckdb") as con:
        co = con.table("customer_orders")
        later = co.filter(is_purchase(co), co.order_time > bought_after)
        buyers = set(later.select("customer_id").distinct().customer_id.to_pyarrow().to_pylist())
    some = [c for c in owned if c in buyers][: n // 2] + [c for c in owned if c not in buyers][: n - n // 2]
    unowned = [c for c in brand.sample_customers if c not in set(owned)][:1]
    return sorted([*some, *unowned])


def test_guide_tasks_write_the_same_touches(contract_brand):
    """Guide tasks for a few customers (each given to their owner guide; one without an owner is
    suppressed), the script rendered from the warehouse's profile and purchases, then each guide records
    the contact: on each engine (control plane rolled back in between, ids moved on) the same tasks and
    messages, the same `touches` rows (channel `guide`), the task list's masked customers, the touch grid
    and the guide report (purchases after the contact, from the warehouse's orders), by natural keys."""
    from django.contrib.auth import get_user_model
    from django.db import transaction as db
    from django.utils import timezone

    from siyu.analytics.queries import touch_grid
    from siyu.engagement.content.actions import save_script
    from siyu.engagement.guides.actions import complete_task, create_guide_tasks
    from siyu.engagement.guides.models import GuideTask, TaskBatch
    from siyu.engagement.guides.queries import guide_report, list_tasks
    from siyu.engagement.messaging.models import Send
    from siyu.warehouse import engine

    admin = get_user_model().objects.get(username="admin")
    # 20 days before the brand's last purchases, so that some of the contacts are followed by one
    start = datetime.combine(contract_brand.now.date() - timedelta(days=20), time(3), tzinfo=UTC)
    customers = _owned_customers(contract_brand, 5, start + timedelta(hours=1))
    f = _touch_filters(contract_brand, start)
    name = "合同回访"
    made: list[str] = []  # the batches' ids, whose touches are deleted from both copies at the end

    def compute(con):
        saved = db.savepoint()
        try:
            if engine() == "spark":
                _ids_move_on(TaskBatch, GuideTask, Send)
            script = save_script(admin, title=name, body=TASK_BODY)
            batch = create_guide_tasks(admin, script=script, due_at=start + timedelta(days=2), customer_ids=customers,
                                       name=name, now=start)  # fmt: skip
            made.append(str(batch.pk))
            tasks = GuideTask.objects.filter(batch=batch).order_by("customer_id")
            for task in tasks.filter(status=GuideTask.Status.OPEN):
                guide = get_user_model().objects.get(pk=task.guide_id)
                complete_task(guide, task.pk, "reached", note="已回访", now=start + timedelta(hours=1))
            touches = con.table("touches")
            mine = touches.filter(touches.source == "task", touches.source_id == str(batch.pk))
            listed = list_tasks(admin, batch_id=batch.pk)["items"]
            # tasks are dated when they were made (the clock's day), contacts when the guide says
            made_on = timezone.localdate()
            report = guide_report(admin, date_from=made_on - timedelta(days=1), date_to=made_on, batch_id=batch.pk,
                                  days=30, now=timezone.now())  # fmt: skip
            return {
                "counts": batch.counts,
                "tasks": [(t.customer_id, t.guide_id, t.status, t.reason, t.message, t.missing_variables, t.outcome)
                          for t in tasks],  # fmt: skip
                "sends": sorted(Send.objects.filter(source="task", source_id=str(batch.pk)).values_list(
                    "customer_id", "channel", "status", "sent_at")),  # fmt: skip
                "touches": rows_of(mine.drop("send_id", "source_id"), ("customer_id",)),
                "listed": sorted((_without(i, ("id", "batch_id", "batch")) for i in listed), key=repr),
                "touch_grid": _by_natural_keys(touch_grid(f), {("task", str(batch.pk)): name}),
                "report": {**report, "batch_id": name if report.get("batch_id") == batch.pk else report.get("batch_id")},
                "batch": batch.pk,
            }
        finally:
            db.savepoint_rollback(saved)

    try:
        duckdb, spark = both(contract_brand, compute)
    finally:
        if made:
            _delete(contract_brand, "touches", "source_id", pa.array(made, pa.string()), where=("source", "task"))
    assert duckdb.pop("batch") != spark.pop("batch")
    assert_same(duckdb, spark)
    done = [t for t in duckdb["tasks"] if t[2] == "done"]
    assert done and len(duckdb["touches"]) == len(done) and any(t[3] == "no_owner" for t in duckdb["tasks"])
    assert {t["channel"] for t in duckdb["touches"]} == {"guide"}
    assert sum(i["tasks_with_purchase"] for i in duckdb["report"]["items"]) > 0  # read from the warehouse


def _without(item: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in item.items() if k not in keys}


# --- touches: the chat archive -----------------------------------------------------------------------------


def _archive_lines(staff: str, customers: list[str], start: datetime) -> list[str]:
    """A small archive export: each customer asks the guide and gets an answer (a staff 1-on-1 message: a
    touch), one answer is flagged by a sensitive-word rule, one message is recalled, a group chat line, a
    line repeated and a broken one."""
    lines, n = [], 0

    def line(sender, to, at, room="", text="你好", action="send"):
        nonlocal n
        n += 1
        item = {"msgid": f"contract{n:04d}", "action": action, "from": sender, "tolist": to, "roomid": room,
                "msgtime": int(at.timestamp() * 1000), "seq": n}  # fmt: skip
        item |= {"msgtype": "revoke", "revoke": {"pre_msgid": "contract0001"}} if action == "recall" else {
            "msgtype": "text", "text": {"content": text}}
        return json.dumps(item, ensure_ascii=False)

    for i, customer in enumerate(customers):
        at = start + timedelta(hours=i)
        lines.append(line(customer, [staff], at, text="请问有活动吗"))
        lines.append(line(staff, [customer], at + timedelta(minutes=7 * (i + 1)),
                          text="加我微信 VX123456 私下更便宜" if i == 0 else "本周会员日全场8折"))  # fmt: skip
    lines.append(line(staff, [customers[0]], start + timedelta(hours=5), action="recall"))
    lines.append(line(customers[1], [staff, customers[2]], start + timedelta(hours=6), room="wrcontract", text="签到"))
    return [*lines, lines[1], "{not json"]


def test_chat_archive_import_writes_the_same_touches(contract_brand, tmp_path):
    """A chat-archive export imported on each engine (control plane rolled back in between): the same
    report (lines, duplicates, refused, events, touches, alerts), the same `chat_messages`, `chat_message`
    events and `touches` (channel `wecom_chat`, one a customer the warehouse does not know), and the pages
    that read them (the touch grid, guides' response times)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction as db

    from siyu.analytics.queries import touch_grid
    from siyu.community.archive.actions import (
        CHAT_TOUCH_SOURCE,
        _source,
        import_chat_archive,
        rescan_messages,
    )
    from siyu.community.archive.models import SensitiveAlert
    from siyu.community.archive.queries import daily_message_counts, response_times
    from siyu.staff.models import StaffProfile

    admin = get_user_model().objects.get(username="admin")
    staff = StaffProfile.objects.exclude(wecom_userid="").order_by("wecom_userid").values_list("wecom_userid", flat=True)[0]
    source = _source()
    with on(contract_brand, "duckdb") as con:
        cmap = con.table("customer_map")
        known = cmap.filter(cmap.record_key.startswith(f"{source}|wm")).order_by("record_key").limit(3)
        customers = [k.split("|", 1)[1] for k in known.record_key.to_pyarrow().to_pylist()]
    assert len(customers) == 3
    customers.append("wmcontract_unknown")  # a customer the warehouse has no record of
    start = datetime.combine(contract_brand.now.date() - timedelta(days=2), time(2), tzinfo=UTC)
    path = tmp_path / "archive.jsonl"
    path.write_text("\n".join(_archive_lines(staff, customers, start)) + "\n", encoding="utf-8")
    f = _touch_filters(contract_brand, start)

    def compute(con):
        saved = db.savepoint()
        try:
            report = import_chat_archive(path, admin)
            messages, events, touches = con.table("chat_messages"), con.table("events"), con.table("touches")
            return {
                "report": report,
                "messages": rows_of(messages.filter(messages.msgid.startswith("contract")), ("msgid",)),
                "events": rows_of(events.filter(events.event_key.contains("|chat:contract")), ("event_key",)),
                "touches": rows_of(touches.filter(touches.source == CHAT_TOUCH_SOURCE,
                                                  touches.source_id.startswith("contract")), ("source_id",)),  # fmt: skip
                "alerts": sorted(SensitiveAlert.objects.filter(msgid__startswith="contract").values_list(
                    "msgid", "rule__name")),  # fmt: skip
                "touch_grid": touch_grid(f),
                "response_times": [r for r in response_times(start, start + timedelta(days=1)) if r["staff"] == staff],
                "group_days": daily_message_counts(start.date() - timedelta(days=1), start.date() + timedelta(days=1),
                                                   room_ids=["wrcontract"]),  # fmt: skip
                # the rules matched again on the archived messages (paged from the warehouse): nothing new
                "rescan": rescan_messages(admin, since=start),
            }
        finally:
            db.savepoint_rollback(saved)

    try:
        found = same(contract_brand, compute)
    finally:
        ids = pa.array([f"contract{n:04d}" for n in range(1, 20)], pa.string())
        _delete(contract_brand, "chat_messages", "msgid", ids)
        _delete(contract_brand, "events", "event_key", pa.array([f"{source}|chat:{i}" for i in ids.to_pylist()]))
        _delete(contract_brand, "touches", "source_id", ids, where=("source", CHAT_TOUCH_SOURCE))
    report = found["report"]
    assert report["duplicates"] == 1 and report["rejected"] == 1 and report["touches"] == len(found["touches"]) == 4
    assert report["alerts"] >= 1 and found["alerts"]
    assert [t["customer_id"] is None for t in found["touches"]].count(True) == 1
    assert found["response_times"] and found["response_times"][0]["replies"] >= 3
    assert [d["messages"] for d in found["group_days"]] == [1]
    assert found["rescan"]["scanned"] >= len(found["messages"]) - 1 and found["rescan"]["alerts"] == 0
