"""The warehouse contract: the same read-side scenarios over the demo brand on DuckDB and on Spark (the
brand's tables copied, conftest.py) give the same answers — customers and their ids, traits, segment
members, every analytics page's figures, the console's customer list, search and profile, the exports."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from warehouse_contract.compare import assert_same, rows_of
from warehouse_contract.conftest import on

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]


def both(brand, compute):
    """compute(con) on DuckDB, then on Spark."""
    with on(brand, "duckdb") as con:
        duckdb = compute(con)
    with on(brand, "spark") as con:
        spark = compute(con)
    return duckdb, spark


def same(brand, compute, what=""):
    duckdb, spark = both(brand, compute)
    assert_same(duckdb, spark, what)
    return duckdb


# --- customers and their ids ----------------------------------------------------------------------


def test_customers_and_their_ids(contract_brand):
    """The customers (customer_summary as resolve and the summary left it) with their records' ids, and the
    read models of orders and channels with their customer ids, computed by each engine."""
    from siyu.warehouse.customer_orders import customer_channels_expr, customer_orders_expr

    def compute(con):
        return {
            "customer_map": rows_of(con.table("customer_map"), ("record_key",)),
            "customer_summary": rows_of(con.table("customer_summary"), ("customer_id",)),
            "customer_orders": rows_of(customer_orders_expr(con), ("order_key",)),
            "customer_channels": rows_of(customer_channels_expr(con)),
        }

    found = same(contract_brand, compute)
    assert len(found["customer_summary"]) == contract_brand.customers > 0


def test_identity_reads(contract_brand):
    from siyu.identity import queries

    some = contract_brand.sample_customers

    def compute(con):
        return {
            "identities": rows_of(queries.identities_expr()),
            "records_of": {c: queries.records_of(c) for c in some},
            "merge_history": {c: queries.merge_history(c) for c in some},
            "evidence": {c: queries.customer_evidence(c) for c in some},
            "review_counts": queries.review_counts(),
            "review_queue": queries.review_queue(page=1, page_size=20),
            "unresolved": queries.unresolved_records(),
            "quarantine": queries.quarantine_page(),
        }

    same(contract_brand, compute)


# --- traits ------------------------------------------------------------------------------------------


def test_traits_computed_on_each_engine(contract_brand):
    """The traits job's expressions (RFM, value layers, lifecycle, purchase cycle, discounts, interest,
    computed tags, stage sets) computed on each engine from the same facts."""
    from siyu.segments.models import ComputedTag, StageSet
    from siyu.segments.traits import (
        TraitSettings,
        base_traits_expr,
        facts_before,
        stages_expr,
        with_computed_tags,
    )

    tags = [(t.name, t.rule) for t in ComputedTag.objects.filter(active=True)]
    stage_sets = [{"name": s.name, "stages": s.stages, "default_stage": s.default_stage}
                  for s in StageSet.objects.filter(active=True)]  # fmt: skip
    assert tags and stage_sets

    def compute(con):
        facts = facts_before(con, contract_brand.now)
        traits = with_computed_tags(base_traits_expr(facts, TraitSettings.from_settings()), tags,
                                    facts.rule_context())  # fmt: skip
        stages = stages_expr(traits, stage_sets, facts.rule_context())
        return {"traits": rows_of(traits, ("customer_id",)),
                "stages": rows_of(stages, ("customer_id", "stage_set"))}  # fmt: skip

    found = same(contract_brand, compute)
    assert len({r["lifecycle_stage"] for r in found["traits"]}) >= 3


def test_traits_readers(contract_brand):
    from siyu.segments import prediction_queries, queries

    some = contract_brand.sample_customers

    def compute(con):
        return {
            "runs": queries.trait_runs(),
            "snapshot": rows_of(queries.snapshot_expr(), ("customer_id",)),
            "traits_of": {c: queries.traits_of(c) for c in some},
            "stages_of": {c: queries.stages_of(c) for c in some},
            "prediction_runs": prediction_queries.prediction_runs(),
            "predictions_of": {c: prediction_queries.predictions_of(c) for c in some},
            "calibration": prediction_queries.calibration(),
            "filter_choices": queries.filter_choices(),
            "loyalty_choices": queries.loyalty_choices(),
        }

    same(contract_brand, compute)


# --- segment members ---------------------------------------------------------------------------------


def test_segment_members(contract_brand):
    """Each of the brand's segments, and a rule of every condition kind, evaluated by the segments app on
    each engine (read side: the members are computed, nothing is written)."""
    from siyu.segments.membership import rule_members, segment_members
    from siyu.segments.models import Segment

    segments = list(Segment.objects.order_by("pk"))
    assert segments

    def compute(con):
        out = {s.name: sorted(rows_of(segment_members(con, s, contract_brand.now)), key=str) for s in segments}
        for name, rule in contract_brand.rules.items():
            out[name] = rows_of(rule_members(con, rule, contract_brand.now))
        return out

    found = same(contract_brand, compute)
    empty = sorted(name for name, members in found.items() if not members)
    assert not empty, f"rules that hold for nobody test nothing: {empty}"


def test_segment_conditions_of_loyalty_and_surveys(contract_brand):
    from siyu.segments.membership import rule_members

    rules = contract_brand.loyalty_rules
    assert set(rules) >= {"points", "tier", "coupon", "checkin", "survey_answer"}

    def compute(con):
        return {name: rows_of(rule_members(con, rule, contract_brand.now)) for name, rule in rules.items()}

    found = same(contract_brand, compute)
    assert all(found.values()), {k: len(v) for k, v in found.items()}


def test_segment_pages(contract_brand):
    from siyu.segments import queries
    from siyu.segments.models import Segment

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()

    def compute(con):
        return {
            "preview": _without_timing(queries.preview_segment(segment.rule)),
            "members_page": queries.segment_members_page(segment.pk),
            "changes_page": queries.segment_changes_page(segment.pk),
            "changes_since": queries.membership_changes_since(contract_brand.now - timedelta(days=3650)),
        }

    same(contract_brand, compute)


def _without_timing(answer: dict) -> dict:
    """An answer without how long it took (not a figure of the data)."""
    return {k: v for k, v in answer.items() if k != "seconds"}


# --- analytics ---------------------------------------------------------------------------------------


def _filters(brand, **extra):
    from siyu.analytics.filters import Filters

    return Filters(brand.last_day - timedelta(days=364), brand.last_day, **extra)


@pytest.mark.parametrize(
    "page", ["funnel", "gmv_tree", "formula", "cohorts", "channel_roi", "traffic_map", "sales_by_hour",
             "repurchase", "touch_grid"],  # fmt: skip
)
def test_analytics_page(contract_brand, page):
    from siyu.analytics import queries
    from siyu.analytics.groups import group_from_ids

    assert set(queries.PAGES) == {"funnel", "gmv_tree", "formula", "cohorts", "channel_roi", "traffic_map",
                                  "sales_by_hour", "repurchase", "touch_grid"}  # fmt: skip
    f = _filters(contract_brand)
    group = group_from_ids(contract_brand.sample_customers)
    compute = queries.PAGES[page]

    def run(con):
        args = (f, group) if page == "repurchase" else (f,)
        out = {"all": compute(*args)}
        if page != "touch_grid":  # a channel and a store filter too
            narrowed = _filters(contract_brand, channels=("tmall", "pos"), stores=contract_brand.stores[:2])
            out["narrowed"] = compute(*((narrowed, group) if page == "repurchase" else (narrowed,)))
        return out

    same(contract_brand, run, page)


def test_analytics_home_and_choices(contract_brand):
    from siyu.analytics import facts, live_codes, queries

    f = _filters(contract_brand)

    def compute(con):
        return {
            "latest_day": queries.latest_day(),
            "last_purchase_day": facts.last_purchase_day(),
            "key_figures": queries.key_figures(f),
            "stores_with_data": queries.stores_with_data(contract_brand.stores),
            "filter_choices": facts.filter_choices(),
            "channel_kinds": facts.channel_kinds(),
            "live_code_roi": live_codes.roi_tables(f),
            "live_code_funnel": live_codes.funnel_counts(con, f),
        }

    found = same(contract_brand, compute)
    assert found["key_figures"]["buyers"]["now"] > 0


# --- the console's customers ---------------------------------------------------------------------------


def test_console_customer_list_search_and_profile(contract_brand):
    from django.contrib.auth import get_user_model

    from siyu.customers.queries import get_profile, list_customers, own_profile
    from siyu.segments.queries import customer_list_query

    admin = get_user_model().objects.get(username="admin")
    guide = get_user_model().objects.filter(staff__role="guide").order_by("username").first()
    probe = contract_brand.probe

    def page(user, **params):
        p = list_customers(user, customer_list_query(**params))
        return {"total": p.total, "items": p.items, "pages": getattr(p, "pages", None)}

    def compute(con):
        return {
            "first": page(admin),
            "by_id": page(admin, order="id", page=2),
            "search_id": page(admin, q=str(probe["customer_id"])),
            "search_phone_tail": page(admin, q=probe["phone_tail"]),
            "search_name": page(admin, q=probe["name"]),
            "source": page(admin, source="tmall"),
            "province": page(admin, province=probe["province"]),
            "stage": page(admin, stage="repeat"),
            "trait_filters": page(admin, value_layer="top"),
            "guide": page(guide),
            "profiles": {c: get_profile(admin, c) for c in contract_brand.sample_customers},
            "own_profiles": {c: own_profile(c) for c in contract_brand.sample_customers[:3]},
        }

    found = same(contract_brand, compute)
    assert found["search_id"]["total"] == 1 and found["search_phone_tail"]["total"] >= 1


def test_console_home(contract_brand):
    from siyu.console import queries

    def compute(con):
        counts = queries.dashboard_counts()
        return {
            "counts": {k: v for k, v in vars(counts).items() if k != "last_import"},
            "filter_choices": vars(queries.filter_choices()),
            "segment_changes": queries.segment_changes(contract_brand.now - timedelta(days=3650)),
        }

    same(contract_brand, compute)


# --- exports -------------------------------------------------------------------------------------------


def _read(path):
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.reader(fh))
    from python_calamine import CalamineWorkbook

    return [[str(c) for c in row] for row in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exports(contract_brand, tmp_path, suffix):
    """What `siyu export identities|customers|segment ID` writes, file for file."""
    from siyu.identity.queries import export_identities
    from siyu.segments.exports import export_customers, export_segment
    from siyu.segments.models import Segment

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()

    def compute(con):
        folder = tmp_path / con.name
        folder.mkdir()
        out = {}
        for name, write in (("identities", export_identities), ("customers", export_customers),
                            ("segment", lambda p: export_segment(p, segment.pk))):  # fmt: skip
            path = folder / f"{name}{suffix}"
            count = write(path)
            rows = _read(path)
            out[name] = {"count": count, "header": rows[0], "rows": sorted(rows[1:])}
        return out

    found = same(contract_brand, compute)
    assert all(v["count"] > 0 for v in found.values())
