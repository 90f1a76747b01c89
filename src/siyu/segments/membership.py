"""Who is in a segment, as an Ibis expression (set-at-a-time; nothing is written here).

A rule segment is evaluated over one row per customer of `customer_summary` (everyone identity resolution
knows) with its profile columns (rules.PROFILE_FIELDS), the current traits snapshot's columns (NULL
for a customer the snapshot does not hold yet) and, when the rule names one, the current predictions
(rules.PREDICTION_FIELDS). `bought`, `event` and `spent` look at the facts before
now; the loyalty and survey conditions read the tables their mirrors keep. Control-plane conditions (tag, consent, owner, store) are read from the control plane first and
joined as lists of customer ids. A static segment's members are its uploaded ids that are customers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import ibis
import pyarrow as pa

from siyu.customers.models import Consent, CustomerState
from siyu.customers.queries import customers_with_tag
from siyu.segments import rules
from siyu.segments.errors import TraitsNotComputed
from siyu.segments.prediction_queries import with_prediction_fields
from siyu.segments.queries import snapshot_cutoff
from siyu.segments.traits import TRAITS_TABLE, facts_before
from siyu.warehouse.schema import TABLES


def _ids_column(ids) -> ibis.Column:
    return ibis.memtable(pa.table({"customer_id": pa.array(sorted(ids), pa.int64())})).customer_id


def universe(con, *, predictions: bool = True) -> ibis.Table:
    """One row per customer: profile columns, the current traits and the current predictions (see module
    doc); `predictions` False leaves the prediction columns out (a rule that names none of them)."""

    row = _profile_and_traits(con)
    return with_prediction_fields(con, row) if predictions else row


def _profile_and_traits(con) -> ibis.Table:
    summary = con.table("customer_summary").select("customer_id", *rules.PROFILE_FIELDS)
    schema = TABLES[TRAITS_TABLE]
    names = [n for n in rules.FIELDS if n in schema.names]
    try:
        cutoff = snapshot_cutoff()
    except TraitsNotComputed:
        return summary.mutate(**{n: ibis.null(schema[n]) for n in names})
    traits = con.table(TRAITS_TABLE)
    traits = traits.filter(traits.as_of == cutoff).select("customer_id", *names)
    joined = summary.left_join(traits, "customer_id")
    return joined.drop(*[c for c in joined.columns if c.endswith("_right")])


def control_ids(condition: dict) -> dict[str, tuple[ibis.Column, bool]]:
    """For each control-plane condition of `condition`: (customer ids, negate) — the condition holds for
    a customer in the ids (negate False) or not in them (negate True)."""
    out = {}
    for kind, spec in rules.control_conditions(condition):
        key = rules.control_key(kind, spec)
        if key not in out:
            ids, negate = _control(kind, spec)
            out[key] = (_ids_column(ids), negate)
    return out


def _control(kind: str, spec) -> tuple[set[int], bool]:
    if kind == "tag":
        return customers_with_tag(spec), False
    if kind == "consent":
        channels = [spec["channel"]] if spec["channel"] == "all" else [spec["channel"], "all"]
        latest: dict[int, str] = {}
        rows = Consent.objects.filter(channel__in=channels).order_by("recorded_at", "pk")
        for customer_id, status in rows.values_list("customer_id", "status").iterator():
            latest[customer_id] = status
        return {c for c, status in latest.items() if status == spec["status"]}, False
    states = CustomerState.objects.filter(owner__isnull=False)
    if kind == "owner":
        if spec == "":
            return set(states.values_list("customer_id", flat=True)), True
        return set(states.filter(owner__username=spec).values_list("customer_id", flat=True)), False
    return set(states.filter(owner__staff__store__code=spec).values_list("customer_id", flat=True)), False


def loyalty_tables(con) -> dict[str, ibis.Table]:
    """The loyalty and survey tables the mirrors keep (rules.LOYALTY_KINDS read them; segments only)."""
    return {name: con.table(name) for name in ("loyalty_members", "loyalty_coupons", "survey_answers")}


def rule_members(con, rule: dict, now: datetime | None = None) -> ibis.Table:
    """customer_id of every customer for whom the (checked) rule holds."""
    row = universe(con, predictions=rules.names_prediction(rule))
    facts = facts_before(con, now or datetime.now(UTC))
    ctx = replace(facts.rule_context(), control=control_ids(rule), **loyalty_tables(con))
    row, holds = rules.compile_rule(rule, row, ctx)
    return row.filter(holds).select("customer_id")


def static_members(con, customer_ids) -> ibis.Table:
    summary = con.table("customer_summary")
    return summary.filter(summary.customer_id.isin(_ids_column(customer_ids))).select("customer_id")


def segment_members(con, segment, now: datetime | None = None) -> ibis.Table:
    """The members a refresh of `segment` (a Segment) would store."""
    if segment.kind == "static":
        return static_members(con, segment.static_ids)
    return rule_members(con, segment.rule, now)
