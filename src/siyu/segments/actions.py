"""State changes of segments: refreshing the traits snapshot, and the computed-tag and stage-set
definitions operators edit.

A refresh computes every trait for every customer as of a cut-off (siyu.segments.traits), then, in one
warehouse transaction, replaces the snapshot it supersedes: a current refresh (no date; run after every
resolve and by `siyu traits`) replaces the previous current one; `siyu traits --as-of DATE` replaces an
earlier snapshot of the same date and leaves the current one alone. Definitions changed through the API
or the admin site take effect at the next refresh.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time

import pyarrow as pa

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.progress import StepClock
from siyu.core.tasks import can_defer, cancel_waiting_runs, schedule_lock
from siyu.customers.queries import clean_text, existing_customer_ids
from siyu.segments import rules
from siyu.segments.errors import NotFound, RuleError, SegmentError
from siyu.segments.membership import segment_members
from siyu.segments.models import ComputedTag, RefreshSchedule, Segment, StageSet
from siyu.segments.queries import get_segment
from siyu.segments.traits import (
    RUNS_TABLE,
    STAGES_TABLE,
    TRAITS_TABLE,
    TraitSettings,
    base_traits_expr,
    cutoff_of,
    facts_before,
    stages_expr,
    with_computed_tags,
)
from siyu.staff.queries import has_role
from siyu.warehouse import backend, transaction
from siyu.warehouse.append import delete_where_in
from siyu.warehouse.schema import TABLES

log = logging.getLogger(__name__)

_ORDERS, _BASE, _TRAITS = "_siyu_traits_orders", "_siyu_traits_base", "_siyu_traits"
_STEPS = 4
EDITOR_ROLES = ("admin", "operator")
STAGE_SET_NAME = re.compile(r"^[\w\-]{1,64}$")
TAG_NAME_MAX = 100


def refresh_traits(as_of: date | None = None, *, progress=None, now: datetime | None = None) -> dict:
    """Compute and store the traits of every customer as of the start of `as_of` (None: now)."""
    started = time.monotonic()
    chosen = TraitSettings.from_settings()
    cutoff = cutoff_of(as_of, now)
    current = as_of is None
    tags = [(t.name, t.rule) for t in ComputedTag.objects.filter(active=True)]
    stage_sets = [
        {"name": s.name, "stages": s.stages, "default_stage": s.default_stage}
        for s in StageSet.objects.filter(active=True)
    ]
    step = StepClock(progress, _STEPS)

    con = backend()
    try:
        step(0, "computing RFM, value layers, lifecycle, purchase cycle")
        facts = facts_before(con, cutoff, materialize_orders=_ORDERS)
        base = con.create_table(_BASE, base_traits_expr(facts, chosen), temp=True, overwrite=True)
        step(1, "applying computed tags and stage sets", "base")
        with_tags = with_computed_tags(base, tags, facts.rule_context())
        columns = TABLES[TRAITS_TABLE]
        traits = con.create_table(
            _TRAITS, with_tags.select(*[with_tags[c].cast(t).name(c) for c, t in columns.items()]),
            temp=True, overwrite=True,
        )  # fmt: skip
        stages = stages_expr(traits, stage_sets, facts.rule_context())
        step(2, "writing the snapshot", "rules")
        with transaction() as tx:
            replaced = pa.array(_replaced_snapshots(con, cutoff, current), type=pa.timestamp("us", tz="UTC"))
            for table in (TRAITS_TABLE, STAGES_TABLE, RUNS_TABLE):
                delete_where_in(tx, table, "as_of", replaced)
            con.insert(TRAITS_TABLE, traits)
            if stages is not None:
                con.insert(STAGES_TABLE, stages)
            customers = int(traits.count().execute())
            run = {
                "as_of": cutoff,
                "current": current,
                "computed_at": datetime.now(UTC),
                "customers": customers,
                "seconds": round(time.monotonic() - started, 3),
                "settings": chosen.as_json(),
            }
            con.insert(RUNS_TABLE, pa.Table.from_pylist([run], schema=TABLES[RUNS_TABLE].to_pyarrow()))
        step(3, "counting", "write")
        report = {
            "as_of": cutoff.isoformat(),
            "current": current,
            "customers": customers,
            **_distribution(traits, stages),
            "seconds": round(time.monotonic() - started, 3),
            "timings": step.timings,
        }
    finally:
        for table in (_TRAITS, _BASE, _ORDERS):
            con.drop_table(table, force=True)
    if progress is not None:
        progress(_STEPS, _STEPS, f"{customers} customers")
    return report


def _replaced_snapshots(con, cutoff: datetime, current: bool) -> list[datetime]:
    runs = con.table(RUNS_TABLE)
    same = runs.as_of == cutoff
    replaced = runs.filter(runs.current | same if current else same).select("as_of").distinct()
    return replaced.to_pyarrow().column("as_of").to_pylist()


def _distribution(traits, stages) -> dict:
    """How many customers each layer and stage holds (the job's report)."""

    def counts(table, column) -> dict[str, int]:
        grouped = table.group_by(column).aggregate(n=table.count()).to_pyarrow().to_pylist()
        return {
            str(r[column]): r["n"] for r in sorted(grouped, key=lambda r: -r["n"]) if r[column] is not None
        }

    tags = traits.select(tag=traits.computed_tags.unnest())
    report = {
        "buyers_in_window": int(traits.filter(traits.frequency > 0).count().execute()),
        "rfm_layers": counts(traits, "rfm_layer"),
        "value_layers": counts(traits, "value_layer"),
        "lifecycle_stages": counts(traits, "lifecycle_stage"),
        "aipl_stages": counts(traits, "aipl_stage"),
        "computed_tags": counts(tags, "tag"),
        "stage_sets": {},
    }
    if stages is not None:
        for row in stages.group_by("stage_set", "stage").aggregate(n=stages.count()).to_pyarrow().to_pylist():
            report["stage_sets"].setdefault(row["stage_set"], {})[row["stage"]] = row["n"]
    return report


def run_traits_job(job, progress) -> dict:
    """Job runner for kind "traits" (params: as_of "YYYY-MM-DD" or none): `siyu traits`, inside `siyu
    serve` when it owns the warehouse."""
    as_of = (job.params or {}).get("as_of")
    return refresh_traits(date.fromisoformat(as_of) if as_of else None, progress=progress)


# --- definitions -------------------------------------------------------------------------------------


def checked_stage_set(name: str, stages, default_stage: str = "") -> tuple[str, list[dict]]:
    """The stage set's name and stages as stored; RuleError saying what is wrong."""
    name = (name or "").strip()
    if not STAGE_SET_NAME.match(name):
        raise RuleError("a stage set name is 1 to 64 letters, digits, _ or -")
    return name, rules.check_stages(stages, default_stage)


def checked_computed_tag(name: str, rule) -> tuple[str, dict]:
    """The computed tag's name and rule as stored; RuleError saying what is wrong."""
    name = (name or "").strip()
    if not name or len(name) > TAG_NAME_MAX or "|" in name or clean_text(name, TAG_NAME_MAX) != name:
        raise RuleError(
            f"a computed tag name is 1 to {TAG_NAME_MAX} characters without '|' or control characters"
        )
    checked = rules.check_condition(rule)
    if _mentions_computed_tags(checked):
        raise RuleError("a computed tag's rule cannot use computed_tags (tags are given all at once)")
    return name, checked


def _check_editor(actor) -> None:
    if actor is not None and not has_role(actor, EDITOR_ROLES):
        raise PermissionDenied("only administrators and operators can change computed tags and stage sets")


def save_stage_set(
    actor, name: str, stages, *, default_stage: str = "", label: str = "", active: bool = True
) -> StageSet:
    """Create or replace a custom stage set (checked before it is stored)."""
    _check_editor(actor)
    name, checked = checked_stage_set(name, stages, default_stage)
    stage_set, _ = StageSet.objects.update_or_create(
        name=name,
        defaults={
            "stages": checked,
            "default_stage": (default_stage or "").strip(),
            "label": clean_text(label or "", 100),
            "active": active,
            "updated_by": actor if getattr(actor, "is_authenticated", False) else None,
        },
    )
    record_audit(actor, "stage_set_saved", name, stages=len(checked), active=active)
    return stage_set


def delete_stage_set(actor, name: str) -> None:
    _check_editor(actor)
    deleted, _ = StageSet.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"no stage set {name!r}")
    record_audit(actor, "stage_set_deleted", name)


def save_computed_tag(actor, name: str, rule, *, description: str = "", active: bool = True) -> ComputedTag:
    """Create or replace a computed tag (its rule checked before it is stored)."""
    _check_editor(actor)
    name, checked = checked_computed_tag(name, rule)
    tag, _ = ComputedTag.objects.update_or_create(
        name=name,
        defaults={
            "rule": checked,
            "description": clean_text(description or "", 300),
            "active": active,
            "updated_by": actor if getattr(actor, "is_authenticated", False) else None,
        },
    )
    record_audit(actor, "computed_tag_saved", name, active=active)
    return tag


def delete_computed_tag(actor, name: str) -> None:
    _check_editor(actor)
    deleted, _ = ComputedTag.objects.filter(name=name).delete()
    if not deleted:
        raise NotFound(f"no computed tag {name!r}")
    record_audit(actor, "computed_tag_deleted", name)


def _mentions_computed_tags(condition: dict) -> bool:
    if condition.get("field") == "computed_tags":
        return True
    nested = (
        condition.get("all") or condition.get("any") or ([condition["not"]] if "not" in condition else [])
    )
    return any(_mentions_computed_tags(c) for c in nested)


# --- segments ----------------------------------------------------------------------------------------

SEGMENT_NAME_MAX = 100
MAX_STATIC_IDS = 1_000_000
_NEW = "_siyu_segment_new"


def checked_rule(rule) -> dict:
    """A segment rule as stored (rules.check_condition, scope "segment"); RuleError naming the bad part."""
    return rules.check_condition(rule, scope=rules.SEGMENT_SCOPE)


def parse_customer_ids(text: str) -> list[int]:
    """Customer ids from an uploaded file's text: one per line, or a CSV whose header has `customer_id` or
    `客户ID` (first column otherwise). SegmentError naming the first bad lines."""
    import csv
    import io

    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    if not rows:
        raise SegmentError("the list holds no customer ids")
    header = [c.strip().lower() for c in rows[0]]
    column, start = 0, 0
    named = [name for name in ("customer_id", "客户id") if name in header]
    if named:
        column, start = header.index(named[0]), 1
    elif not rows[0][0].strip().isdigit():
        start = 1  # some other header
    ids, bad = [], []
    for number, row in enumerate(rows[start:], start=start + 1):
        value = row[column].strip() if column < len(row) else ""
        if value.isdigit() and 0 < int(value) < 2**63:
            ids.append(int(value))
        else:
            bad.append(f"line {number}: {value[:30]!r}")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise SegmentError(f"not customer ids: {', '.join(bad[:5])}{more}")
    return ids


def checked_static_ids(customer_ids) -> list[int]:
    """The ids, sorted and unique; SegmentError naming ids that are not customers."""

    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        raise SegmentError("the list holds no customer ids")
    if len(ids) > MAX_STATIC_IDS:
        raise SegmentError(f"a static list holds at most {MAX_STATIC_IDS:,} customer ids")
    unknown = sorted(set(ids) - existing_customer_ids(ids))
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise SegmentError(f"{len(unknown)} id(s) are not customers: {shown}")
    return ids


def _check_segment_editor(actor) -> None:
    if actor is not None and not has_role(actor, EDITOR_ROLES):
        raise PermissionDenied("only administrators and operators can change segments")


def save_segment(
    actor,
    name: str,
    *,
    rule=None,
    customer_ids=None,
    description: str = "",
    refresh: str = "after_resolve",
    segment_id: int | None = None,
    materialise: bool = True,
) -> Segment:
    """Create a segment (segment_id None) or replace one's definition: a rule or a static list of ids,
    exactly one. Its members are computed at once (`materialise`), so that its count is right when it is
    shown; a failure there is logged and left on `segment.refresh_error` (the definition stays saved and
    the next refresh computes the members)."""
    _check_segment_editor(actor)
    name = (name or "").strip()
    if not name or len(name) > SEGMENT_NAME_MAX or clean_text(name, SEGMENT_NAME_MAX) != name:
        raise SegmentError(f"a segment name is 1 to {SEGMENT_NAME_MAX} characters without control characters")
    if (rule is None) == (customer_ids is None):
        raise SegmentError("give a segment either a rule or a list of customer ids")
    if refresh not in Segment.Refresh.values:
        raise SegmentError(f"refresh is one of {', '.join(Segment.Refresh.values)}")
    if rule is not None:
        kind, checked, ids = Segment.Kind.RULE, checked_rule(rule), []
    else:
        kind, checked, ids = Segment.Kind.STATIC, {}, checked_static_ids(customer_ids)
    clash = Segment.objects.filter(name=name).exclude(pk=segment_id)
    if clash.exists():
        raise SegmentError(f"a segment named {name!r} exists already")
    values = {
        "name": name,
        "description": clean_text(description or "", 300),
        "kind": kind,
        "rule": checked,
        "static_ids": ids,
        "refresh": refresh,
        "updated_by": actor if getattr(actor, "is_authenticated", False) else None,
    }
    if segment_id is None:
        segment = Segment.objects.create(**values)
    else:
        segment = get_segment(segment_id)
        for key, value in values.items():
            setattr(segment, key, value)
        segment.save()
    record_audit(actor, "segment_saved", str(segment.pk), name=name, kind=kind)
    segment.refresh_error = None
    if materialise:
        try:
            segment.refresh_report = refresh_segment(segment.pk)
        except Exception as exc:  # noqa: BLE001 - saved all the same; the page says the count is not there yet
            log.exception("materialising segment %s failed", segment.pk)
            segment.refresh_error = f"{type(exc).__name__}: {exc}"
        segment.refresh_from_db()
    return segment


def delete_segment(actor, segment_id: int) -> None:
    """Delete the definition, its members and its history."""
    _check_segment_editor(actor)
    segment = get_segment(segment_id)
    with transaction() as tx:
        for table in ("segment_members", "segment_changes"):
            delete_where_in(tx, table, "segment_id", pa.array([segment.pk], pa.int64()))
    segment.delete()
    record_audit(actor, "segment_deleted", str(segment_id), name=segment.name)


def refresh_segment(segment_id: int, *, now: datetime | None = None) -> dict:
    """Compute the segment's membership now and store the difference: customers who entered are inserted
    into segment_members and logged as "enter", those who left are deleted and logged as "exit" (one
    warehouse transaction). Returns the counts."""

    started = time.monotonic()
    segment = get_segment(segment_id)
    now = now or datetime.now(UTC)
    con = backend()
    try:
        new = con.create_table(_NEW, segment_members(con, segment, now).distinct(), temp=True, overwrite=True)
        members = con.table("segment_members")
        old = members.filter(members.segment_id == segment.pk).select("customer_id")
        entered = new.anti_join(old, "customer_id").customer_id.to_pyarrow().combine_chunks()
        left = old.anti_join(new, "customer_id").customer_id.to_pyarrow().combine_chunks()
        count = int(new.count().execute())
        at = pa.scalar(now, pa.timestamp("us", tz="UTC"))
        with transaction() as tx:
            delete_where_in(tx, "segment_members", "customer_id", left, where=("segment_id", segment.pk))
            ids = pa.array([segment.pk] * len(entered), pa.int64())
            if len(entered):
                con.insert("segment_members", pa.table({
                    "segment_id": ids, "customer_id": entered, "entered_at": pa.array([at] * len(entered)),
                }))  # fmt: skip
            changes = pa.table({
                "segment_id": pa.array([segment.pk] * (len(entered) + len(left)), pa.int64()),
                "customer_id": pa.concat_arrays([entered.cast(pa.int64()), left.cast(pa.int64())]),
                "change": pa.array(["enter"] * len(entered) + ["exit"] * len(left)),
                "changed_at": pa.array([at] * (len(entered) + len(left))),
            })  # fmt: skip
            if changes.num_rows:
                con.insert("segment_changes", changes)
    finally:
        con.drop_table(_NEW, force=True)
    Segment.objects.filter(pk=segment.pk).update(refreshed_at=now, member_count=count)
    return {
        "segment_id": segment.pk,
        "members": count,
        "entered": len(entered),
        "exited": len(left),
        "seconds": round(time.monotonic() - started, 3),
    }


def refresh_segments(refresh: str | None = None) -> dict:
    """Refresh every segment (or those with the given refresh schedule); a failing segment is reported
    and the others still run."""
    report = {}
    segments = Segment.objects.all() if refresh is None else Segment.objects.filter(refresh=refresh)
    for segment in segments:
        try:
            report[segment.name] = refresh_segment(segment.pk)
        except Exception as exc:  # noqa: BLE001 - one bad segment must not stop the others
            log.exception("refreshing segment %s failed", segment.pk)
            report[segment.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return report


# --- the daily refresh -------------------------------------------------------------------------------


def next_refresh_at(at: dt_time, now: datetime, zone: str | None = None) -> datetime:
    """The next instant after `now` at which the local clock (settings.TIME_ZONE) shows `at`."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    tz = ZoneInfo(zone or settings.TIME_ZONE)
    local_now = now.astimezone(tz)
    day = local_now.date()
    while True:
        # a time that a DST change skips or repeats resolves as zoneinfo does (fold 0)
        candidate = datetime.combine(day, at, tzinfo=tz)
        if candidate > local_now:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


def schedule_refresh(now: datetime | None = None) -> datetime | None:
    """Make sure exactly one waiting task runs the daily refresh at its next time (none when it is off or
    the task backend cannot defer, e.g. the immediate backend of tests). Returns when it will run."""
    from siyu.segments.tasks import scheduled_refresh  # the task module imports this one

    if not can_defer():
        return None
    with schedule_lock(scheduled_refresh):  # processes starting together leave one waiting run
        cancel_waiting_runs(scheduled_refresh)
        schedule = RefreshSchedule.current()
        if not schedule.enabled:
            return None
        when = next_refresh_at(schedule.at, now or datetime.now(UTC))
        scheduled_refresh.using(run_after=when).enqueue()
    return when


def save_refresh_schedule(actor, *, enabled: bool, at: dt_time) -> RefreshSchedule:
    """Turn the daily refresh on or off and set its local time; the waiting task moves with it."""
    _check_segment_editor(actor)
    if not isinstance(at, dt_time):
        raise SegmentError("give the time of the daily refresh as HH:MM")
    schedule = RefreshSchedule.current()
    schedule.enabled, schedule.at = bool(enabled), at.replace(second=0, microsecond=0, tzinfo=None)
    schedule.updated_by = actor if getattr(actor, "is_authenticated", False) else None
    schedule.save()
    record_audit(actor, "refresh_schedule_saved", "daily", enabled=schedule.enabled, at=schedule.at.isoformat())
    schedule_refresh()
    return schedule


def run_scheduled_refresh(progress=None, *, now: datetime | None = None) -> dict:
    """The daily refresh: the current traits (with computed tags and stage sets), then every segment whose
    refresh is "daily". A failure of the traits is reported and the segments still refresh."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    try:
        traits = refresh_traits(progress=progress, now=now)
        traits = {k: traits[k] for k in ("as_of", "customers", "buyers_in_window", "seconds")}
    except Exception as exc:  # noqa: BLE001 - say what went wrong; the segments can still refresh
        log.exception("the scheduled traits refresh failed")
        traits = {"error": f"{type(exc).__name__}: {exc}"}
    report = {
        "traits": traits,
        "segments": refresh_segments(Segment.Refresh.DAILY),
        "seconds": round(time.monotonic() - started, 3),
    }
    RefreshSchedule.objects.filter(pk=RefreshSchedule.current().pk).update(last_run_at=now, last_result=report)
    return report


def run_scheduled_refresh_job(job, progress) -> dict:
    """Job runner for kind "scheduled_refresh" (queued by siyu.segments.tasks.scheduled_refresh)."""
    return run_scheduled_refresh(progress)


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _export_files() -> list:
    """The export files Siyu wrote (siyu.segments.exports records each path in the audit log) still on disk."""
    from pathlib import Path

    from siyu.core.models import AuditLog

    targets = AuditLog.objects.filter(action="export").values_list("target", flat=True).distinct()
    return sorted({p for p in map(Path, targets) if p.suffix.lower() in (".csv", ".xlsx") and p.is_file()})


def _export_rows(path):
    import polars as pl

    if path.suffix.lower() == ".csv":
        return pl.read_csv(path, infer_schema=False)
    return pl.read_excel(path, infer_schema_length=0)


def _theirs(frame, customer_id: int):
    import polars as pl

    if "customer_id" not in frame.collect_schema().names():
        return pl.lit(False)
    return pl.col("customer_id").cast(pl.String).str.strip_chars() == str(int(customer_id))


def _rows_of(path, customer_id: int) -> int:
    """How many rows of an export file are the customer's: a CSV is scanned lazily (only its customer_id
    column is kept while reading, nothing of the file stays in memory), an XLSX read whole."""
    import polars as pl

    if path.suffix.lower() != ".csv":
        frame = _export_rows(path)
        return frame.filter(_theirs(frame, customer_id)).height
    rows = pl.scan_csv(path, infer_schema=False)
    if "customer_id" not in rows.collect_schema().names():
        return 0
    return int(rows.filter(_theirs(rows, customer_id)).select(pl.len()).collect().item())


def erase_person_exports(person, request) -> dict:
    """Exports' part of erasing a person: every export file still where it was written (the audit log names
    it) is written again without the rows of their customer id (a file without them is only scanned, not
    read whole). Files moved or copied elsewhere are beyond Siyu's reach."""
    files = rows = 0
    for path in _export_files():
        if not _rows_of(path, person.customer_id):
            continue
        frame = _export_rows(path)
        kept = frame.filter(~_theirs(frame, person.customer_id))
        if kept.height == frame.height:
            continue
        if path.suffix.lower() == ".csv":
            kept.write_csv(path)
        else:
            kept.write_excel(path, autofit=False)
        files, rows = files + 1, rows + frame.height - kept.height
    return {"files": files, "rows": rows}


def person_exports_left(person) -> int:
    """What erase_person_exports removes that is still there (the erasure scan): their rows in export files."""
    return sum(_rows_of(path, person.customer_id) for path in _export_files())
