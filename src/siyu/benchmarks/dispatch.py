"""`siyu bench dispatch`: a journey whose audience is N customers, through the contact policy into the outbox,
and delivery to the fake providers (siyu.engagement.messaging.fakes), with a fresh SIYU_HOME of its own
(SIYU_HOME/bench/dispatch-home) so that nothing of a real installation is touched: one child process
prepares the base, another measures (its peak RSS is the measurement's own).

Measured, in one run: (1) the journey: a one-shot campaign to a segment of all N customers with one
marketing SMS step and a 10% holdout — enrolment (the trigger read from the warehouse, N enrollments
inserted and, as the first step is a send, taken at entry: N requests through the contact policy into
the outbox) and one tick (nothing left to do but the goal check); (2) the reference: N outbox rows inserted the same way without the
policy or the journey; (3) a per-row ORM loop over the same enrollments (consent query, slot count, one
INSERT of the send and one UPDATE of the enrollment each) over the first 10,000, scaled to N; (4) delivery
of 10,000 due sends to the fake Aliyun SMS server (one HTTP request per message) and of 10,000 to the fake
Tencent Cloud server (up to 200 numbers per request), with addresses read and decrypted from the warehouse.

Synthetic base: every customer has a mobile phone on one warehouse record; 60% opted in to marketing SMS,
2% opted out of everything, 20% already had two marketing sends in the last three days.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

BATCH = 50_000
PER_ROW_SAMPLE = 10_000
DELIVER = 10_000


def run(people: int) -> dict:
    from django.conf import settings

    home = Path(settings.SIYU_HOME) / "bench" / "dispatch-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {"SIYU_HOME": str(home), "SIYU_WAREHOUSE": ""}
    # The base is prepared in a child of its own: a million model objects made and freed leave the heap so
    # fragmented that the journey measured in the same process ran 27.4 s instead of 20.2 s (after
    # malloc_trim), which says more about the preparation than about a worker's tick.
    prepared = run_child("siyu.benchmarks.dispatch", {"people": people, "phase": "prepare"}, env=env)
    result = run_child("siyu.benchmarks.dispatch", {"people": people, "phase": "measure", "journey_id":
                       prepared["journey_id"], "now": prepared["now"]}, env=env)  # fmt: skip
    return {"benchmark": "dispatch", "people": people, "machine": machine(),
            "prepare_seconds": prepared["prepare_seconds"], "prepare_peak_rss_mb": prepared["peak_rss_mb"],
            **result}  # fmt: skip


def _daytime() -> dt.datetime:
    """10:00 in the configured zone on a recent day: outside quiet hours whenever the benchmark runs."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    zone = ZoneInfo(settings.TIME_ZONE)
    today = dt.datetime.now(zone).date() - dt.timedelta(days=1)
    return dt.datetime.combine(today, dt.time(10), tzinfo=zone).astimezone(dt.UTC)


def _prepare(people: int, now: dt.datetime) -> None:
    import pyarrow as pa

    from siyu import warehouse
    from siyu.core import pii
    from siyu.customers.models import Consent
    from siyu.engagement.messaging.models import Send
    from siyu.warehouse.append import append

    ids = list(range(1, people + 1))
    phones = [f"+8613{i:09d}" for i in ids]
    seen = pa.array([now - dt.timedelta(days=30)] * people, pa.timestamp("us", tz="UTC"))
    records = pa.table(
        {
            "record_key": [f"bench|m{i}" for i in ids],
            "source": ["bench"] * people,
            "format": ["pos"] * people,
            "record_kind": ["member"] * people,
            "record_id": [f"m{i}" for i in ids],
            "phone_kind": ["mobile"] * people,
            "pii": pii.encrypt_many([f'{{"phone":"{p}"}}' for p in phones]),
            "seen_at": seen,
        }
    )
    cmap = pa.table({"record_key": records.column("record_key"), "customer_id": pa.array(ids, pa.int64()),
                     "resolved_at": seen})  # fmt: skip
    with warehouse.transaction() as con:
        append(con, "records", records)
        append(con, "customer_map", cmap)
    at = now - dt.timedelta(days=10)
    consents = [
        Consent(customer_id=i, channel="sms", status="opt_in", source="bench", recorded_at=at)
        for i in ids
        if i % 10 < 6
    ]
    consents += [
        Consent(customer_id=i, channel="all", status="opt_out", source="bench", recorded_at=at)
        for i in ids
        if i % 50 == 7
    ]
    Consent.objects.bulk_create(consents, batch_size=5_000)
    history = [
        Send(idempotency_key=f"old-{i}-{n}", channel="webhook", customer_id=i, status="sent", source="campaign",
             scheduled_at=now - dt.timedelta(days=n + 1), sent_at=now - dt.timedelta(days=n + 1))
        for i in ids if i % 5 == 3 for n in (0, 1)
    ]  # fmt: skip
    Send.objects.bulk_create(history, batch_size=5_000)


def _requests(ids, prefix: str):
    from siyu.engagement.messaging.policy import SendRequest

    return [
        SendRequest(f"{prefix}-{i}", "sms", customer_id=i, template="SMS_100001", variables={"name": "会员"},
                    source="campaign", source_id="bench", priority=1)
        for i in ids
    ]  # fmt: skip


def _per_row(ids, now: dt.datetime) -> None:
    """The naive way, for the ratio: per customer a consent query, a slot count and one INSERT."""
    from django.db import transaction

    from siyu.customers.models import Consent
    from siyu.engagement.messaging.models import Send

    with transaction.atomic():
        for i in ids:
            latest = (
                Consent.objects.filter(customer_id=i, channel__in=["sms", "all"])
                .order_by("-recorded_at")
                .first()
            )
            recent = Send.objects.filter(customer_id=i, scheduled_at__gt=now - dt.timedelta(days=7)).count()
            ok = latest is not None and latest.status == "opt_in" and recent < 2
            Send.objects.create(idempotency_key=f"row-{i}", channel="sms", customer_id=i, template="SMS_100001",
                                status="queued" if ok else "suppressed", scheduled_at=now, next_attempt_at=now)  # fmt: skip


def _deliver(provider: str, fake, now: dt.datetime, limit: int) -> dict:
    from siyu.engagement.messaging.actions import configure_account, deliver_due_sends

    if provider == "aliyun":
        configure_account(None, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试",
                          "base_url": fake.url}, {"access_key_secret": "aliyun-secret"})  # fmt: skip
    else:
        configure_account(None, "sms", "tencent", {"secret_id": "AKID-test", "sdk_app_id": "1400000001",
                          "sign_name": "私域", "base_url": fake.url}, {"secret_key": "tencent-secret"})  # fmt: skip
    started = time.perf_counter()
    outcome = deliver_due_sends(now=now, batch_size=500, max_batches=limit // 500)
    seconds = time.perf_counter() - started
    delivered = sum(outcome.values())
    return {"sends": delivered, "outcome": outcome, "seconds": round(seconds, 2),
            "sends_per_s": round(delivered / seconds), "provider_requests": len(fake.requests)}  # fmt: skip


def _journey(people: int, now: dt.datetime):
    """The measured journey: a one-shot campaign to a segment of every customer (its members written to
    the warehouse as a refresh would), one marketing SMS, priority 1, a 10% holdout."""
    import pyarrow as pa

    from siyu import warehouse
    from siyu.engagement.journeys.actions import activate_journey, save_journey
    from siyu.segments.models import Segment

    segment = Segment.objects.create(name="bench-all", rule={"field": "orders_total", "op": ">=", "value": 0})
    members = pa.table({
        "segment_id": pa.array([segment.pk] * people, pa.int64()),
        "customer_id": pa.array(range(1, people + 1), pa.int64()),
        "entered_at": pa.array([now] * people, pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    with warehouse.transaction() as con:
        con.register("bench_members", members)
        con.execute("INSERT INTO segment_members SELECT * FROM bench_members")
        con.unregister("bench_members")
    journey = save_journey(
        None, name="bench", trigger={"type": "segment_now", "segment_id": segment.pk},
        steps=[{"id": "sms", "type": "send", "channel": "sms", "template": "SMS_100001", "variables": {"name": "会员"}}],
        priority=1, holdout_percent=10, goal_days=7,
    )  # fmt: skip
    return activate_journey(None, journey.pk, now=now)


def _per_row_journey(journey, ids, now: dt.datetime) -> None:
    """The naive way, for the ratio: per enrollment a consent query, a slot count, one INSERT of the send
    and one UPDATE of the enrollment."""
    from django.db import transaction

    from siyu.customers.models import Consent
    from siyu.engagement.journeys.models import Enrollment
    from siyu.engagement.messaging.models import Send

    with transaction.atomic():
        for enrollment in Enrollment.objects.filter(journey=journey, customer_id__in=ids).iterator(2_000):
            i = enrollment.customer_id
            latest = (
                Consent.objects.filter(customer_id=i, channel__in=["sms", "all"])
                .order_by("-recorded_at")
                .first()
            )
            recent = Send.objects.filter(customer_id=i, scheduled_at__gt=now - dt.timedelta(days=7)).count()
            ok = latest is not None and latest.status == "opt_in" and recent < 2 and not enrollment.holdout
            Send.objects.create(idempotency_key=f"row-{enrollment.pk}", channel="sms", customer_id=i,
                                template="SMS_100001", status="queued" if ok else "suppressed", scheduled_at=now,
                                next_attempt_at=now, source="journey", source_id=str(journey.pk))  # fmt: skip
            enrollment.step_id, enrollment.status, enrollment.exited_at = "sms", "exited", now
            enrollment.save(update_fields=["step_id", "status", "exited_at"])


def _delete_sends(key_prefix: str) -> None:
    """Remove the reference's rows in one statement: the ORM's delete() would first collect every pk to
    null guide tasks' links (none here), one SQL variable each, which SQLite refuses at 1M rows."""
    from django.db import connection

    from siyu.engagement.messaging.models import Send

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Send._meta.db_table} WHERE idempotency_key LIKE %s", [key_prefix + "%"])


def _phase(people: int, phase: str, journey_id: int | None = None, now: str | None = None) -> dict:
    if phase == "prepare":
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        at = _daytime()
        started = time.perf_counter()
        _prepare(people, at)
        journey = _journey(people, at)
        return {"prepare_seconds": round(time.perf_counter() - started, 1), "journey_id": journey.pk,
                "now": at.isoformat()}  # fmt: skip
    return _measure(people, journey_id, dt.datetime.fromisoformat(now))


def _measure(people: int, journey_id: int, now: dt.datetime) -> dict:
    from collections import Counter

    from django.db.models import Count

    from siyu.benchmarks.common import peak_rss_mb
    from siyu.core.batches import db_values, insert_rows
    from siyu.engagement.journeys.actions import enroll_triggered, run_journeys
    from siyu.engagement.journeys.models import Journey
    from siyu.engagement.messaging.actions import _SEND_COLUMNS
    from siyu.engagement.messaging.fakes.sms import FakeAliyunSms, FakeTencentSms
    from siyu.engagement.messaging.models import Send

    journey = Journey.objects.get(pk=journey_id)
    rss_before = peak_rss_mb()

    started = time.perf_counter()
    first_step = Counter()
    enrolled = enroll_triggered(journey, now, first_step)
    enrol_seconds = time.perf_counter() - started
    started = time.perf_counter()
    tick = run_journeys(now=now)
    tick_seconds = time.perf_counter() - started
    journey_seconds = enrol_seconds + tick_seconds
    statuses = Counter(
        dict(Send.objects.filter(source="journey").values_list("status").annotate(n=Count("pk")))
    )
    reasons = dict(
        Send.objects.filter(source="journey", status="suppressed")
        .values_list("reason")
        .annotate(n=Count("pk"))
    )

    # the reference: the same number of outbox rows inserted the same way, no policy, no journey
    started = time.perf_counter()
    slot = db_values(Send, "scheduled_at")(now + dt.timedelta(days=365))
    variables = db_values(Send, "variables")({})
    for start in range(0, people, BATCH):
        insert_rows(Send, _SEND_COLUMNS, [
            (f"ref-{i}", "sms", i, "", "SMS_100001", "", "", variables, 1, True, "campaign", "", "queued", "", slot,
             slot, 0, None, False, "", "", "", "", "", "", None, slot)
            for i in range(start + 1, min(start + BATCH, people) + 1)
        ])  # fmt: skip
    reference_seconds = time.perf_counter() - started
    _delete_sends("ref-")

    # the per-row loop over the same audience's enrollments (a sample, scaled)
    sample = list(range(1, min(PER_ROW_SAMPLE, people) + 1))
    started = time.perf_counter()
    _per_row_journey(journey, sample, now)
    per_row_seconds = (time.perf_counter() - started) * people / len(sample)
    _delete_sends("row-")

    tencent_templates = {"SMS_100001": 1}  # the same template under both providers
    with (
        FakeAliyunSms(per_number_per_minute=10) as aliyun,
        FakeTencentSms(per_number_per_30s=10, templates=tencent_templates) as tencent,
    ):
        aliyun_result = _deliver("aliyun", aliyun, now + dt.timedelta(seconds=1), DELIVER)
        tencent_result = _deliver("tencent", tencent, now + dt.timedelta(seconds=2), DELIVER)
    return {
        "journey_through_policy_into_outbox": {
            "audience": people,
            "enrolled": enrolled,
            "seconds": round(journey_seconds, 2),
            "enrol_seconds": round(enrol_seconds, 2),
            "tick_seconds": round(tick_seconds, 2),
            "first_step_at_entry": dict(first_step),
            "tick_phases": tick["seconds"],
            "sends_per_s": round(people / journey_seconds),
            "by_status": dict(statuses),
            "suppressed_by_reason": reasons,
            "peak_rss_mb_before": rss_before,
        },
        "reference_insert_without_policy": {
            "seconds": round(reference_seconds, 2),
            "sends_per_s": round(people / reference_seconds),
        },
        "per_row_orm_loop_scaled": {"seconds": round(per_row_seconds, 1), "measured_on": len(sample)},
        "journey_vs_reference": round(journey_seconds / reference_seconds, 2),
        "per_row_vs_journey": round(per_row_seconds / journey_seconds, 1),
        "deliver_aliyun_one_request_per_sms": aliyun_result,
        "deliver_tencent_200_per_request": tencent_result,
    }


if __name__ == "__main__":
    child_main(_phase)
