"""Segment conditions on loyalty and surveys, read from the warehouse tables their mirrors keep, on a
hand-made warehouse (the brand of traits_data.py, customers 1–10) as of 2026-01-01 00:00 Asia/Shanghai.

    member  points  tier (rank)   streak  last check-in   coupons (template, status, expires)
    1       500     gold (2)      5       2025-12-31      t10 unused → 2026-02-01 (usable); t11 used
    2       100     silver (1)    3       2025-12-29      t10 unused → 2025-12-31 (expired by the cut-off)
    3       0       basic (0)     0       —               t10 expired
    4       1500    gold (2)      1       2026-01-01      —
    5–10    not members

    survey 7 question "color": 1 red and blue (two options), 2 blue, 3 green; survey 8 "color": 4 red
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.traits_data import local, write_brand
from siyu.segments.actions import checked_rule
from siyu.segments.errors import RuleError
from siyu.segments.membership import rule_members
from siyu.segments.rules import TRAITS_SCOPE, check_condition
from siyu.warehouse.append import replace_all
from siyu.warehouse.schema import TABLES

pytestmark = pytest.mark.django_db
CUT = local("2026-01-01 00:00")
EVERYONE = list(range(1, 11))


def write_table(warehouse, name: str, rows: list[dict]) -> None:
    schema = TABLES[name].to_pyarrow()
    table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
    with warehouse.transaction() as con:
        replace_all(con, name, table)


def member(cid, points, tier, rank, streak, last):
    return {"customer_id": cid, "points_available": points, "tier_code": tier, "tier_name": tier, "tier_rank": rank,
            "checkin_streak": streak, "last_checkin_on": date.fromisoformat(last) if last else None}  # fmt: skip


@pytest.fixture
def brand(warehouse):
    from siyu.warehouse.summary import rebuild_customer_summary

    write_brand(warehouse.backend())
    rebuild_customer_summary(now=CUT)
    write_table(warehouse, "loyalty_members", [
        member(1, 500, "gold", 2, 5, "2025-12-31"), member(2, 100, "silver", 1, 3, "2025-12-29"),
        member(3, 0, "basic", 0, 0, None), member(4, 1500, "gold", 2, 1, "2026-01-01"),
    ])  # fmt: skip
    write_table(warehouse, "loyalty_coupons", [
        {"customer_id": 1, "coupon_id": 1, "template_id": 10, "status": "unused", "expires_at": local("2026-02-01 00:00")},
        {"customer_id": 1, "coupon_id": 2, "template_id": 11, "status": "used", "used_at": local("2025-12-01 10:00")},
        {"customer_id": 2, "coupon_id": 3, "template_id": 10, "status": "unused", "expires_at": local("2025-12-31 00:00")},
        {"customer_id": 3, "coupon_id": 4, "template_id": 10, "status": "expired", "expires_at": local("2025-11-30 00:00")},
    ])  # fmt: skip
    answers = [(1, 7, "red"), (1, 7, "blue"), (2, 7, "blue"), (3, 7, "green"), (4, 8, "red")]
    write_table(warehouse, "survey_answers", [
        {"customer_id": c, "survey_id": s, "question_id": "color", "answer": a} for c, s, a in answers
    ])  # fmt: skip
    return warehouse


@pytest.fixture
def members(brand):
    def run(rule) -> list[int]:
        expr = rule_members(brand.backend(), checked_rule(rule), CUT)
        return sorted(expr.customer_id.to_pyarrow().to_pylist())

    return run


def test_points_bounds_and_non_members(members):
    assert members({"points": {"at_least": 100}}) == [1, 2, 4]
    assert members({"points": {"at_most": 100}}) == [2, 3]
    assert members({"points": {"at_least": 100, "at_most": 500}}) == [1, 2]
    # not a member: no points condition holds, so its negation does
    assert members({"not": {"points": {"at_least": 100}}}) == [3, 5, 6, 7, 8, 9, 10]


def test_tier_codes_and_rank(members):
    assert members({"tier": {"in": ["gold"]}}) == [1, 4]
    assert members({"tier": {"rank_at_least": 1}}) == [1, 2, 4]
    assert members({"tier": {"in": ["silver", "basic"], "rank_at_least": 1}}) == [2]


def test_coupons_held_usable_used(members):
    assert members({"coupon": {"template_id": 10}}) == [1, 2, 3]  # ever received
    assert members({"coupon": {"template_id": 10, "status": "usable"}}) == [1]  # 2's expired at the cut-off
    assert members({"coupon": {"status": "used"}}) == [1]
    assert members({"coupon": {"template_id": 10, "status": "used"}}) == []
    assert members({"coupon": {"template_id": 11, "status": "usable"}}) == []


def test_checkin_streak_alive_and_recent(members):
    assert members({"checkin": {"streak_at_least": 3}}) == [1]  # 2's streak broke on 12-30
    assert members({"checkin": {"streak_at_least": 1}}) == [1, 4]
    assert members({"checkin": {"within_days": 1}}) == [4]  # today
    assert members({"checkin": {"within_days": 2}}) == [1, 4]
    assert members({"checkin": {"within_days": 3}}) == [1, 4]
    assert members({"checkin": {"within_days": 4}}) == [1, 2, 4]


def test_survey_answers(members):
    rule = {"survey_answer": {"survey_id": 7, "question_id": "color", "answers": ["red"]}}
    assert members(rule) == [1]
    assert members({"survey_answer": {**rule["survey_answer"], "answers": ["blue"]}}) == [1, 2]
    assert members({"survey_answer": {**rule["survey_answer"], "answers": ["red", "green"]}}) == [1, 3]
    assert members({"survey_answer": {**rule["survey_answer"], "survey_id": 8}}) == [4]
    assert members({"all": [{"tier": {"in": ["gold"]}}, rule]}) == [1]


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"points": {}}, "points"),
        ({"points": {"at_least": -1}}, "at_least"),
        ({"points": {"at_least": 1.5}}, "at_least"),
        ({"tier": {"in": []}}, "tier.in"),
        ({"coupon": {"status": "lost"}}, "status"),
        ({"checkin": {"streak_at_least": 0}}, "streak_at_least"),
        ({"survey_answer": {"survey_id": 7, "question_id": "q", "answers": []}}, "answers"),
        ({"survey_answer": {"question_id": "q", "answers": ["a"]}}, "survey_id"),
        ({"points": {"at_least": 1, "of": "pending"}}, "unexpected"),
    ],
)
def test_bad_loyalty_conditions_name_the_bad_part(rule, message):
    with pytest.raises(RuleError, match=message):
        checked_rule(rule)


def test_loyalty_conditions_are_for_segments_only():
    with pytest.raises(RuleError, match="segments only"):
        check_condition({"points": {"at_least": 1}}, scope=TRAITS_SCOPE)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(st.integers(0, 2000), min_size=1, max_size=10),
    low=st.integers(0, 2000),
    high=st.integers(0, 2000),
)
def test_points_condition_is_the_bounds_on_each_members_balance(brand, points, low, high):
    write_table(brand, "loyalty_members", [member(i + 1, p, "gold", 1, 0, None) for i, p in enumerate(points)])
    got = rule_members(brand.backend(), checked_rule({"points": {"at_least": low, "at_most": high}}), CUT)
    expected = [i + 1 for i, p in enumerate(points) if low <= p <= high]
    assert sorted(got.customer_id.to_pyarrow().to_pylist()) == expected


def test_the_builder_offers_tiers_templates_and_surveys_from_the_warehouse_or_as_registered(brand):
    from siyu.segments import queries

    saved = dict(queries._builder_words)
    for kind in ("tiers", "coupon_templates", "surveys"):  # as if loyalty and surveys registered nothing
        queries._builder_words.pop(kind, None)
    try:
        catalog = queries.builder_catalog()
    finally:
        queries._builder_words.update(saved)
    assert [t[:2] for t in catalog["tiers"]] == [["basic", "basic"], ["silver", "silver"], ["gold", "gold"]]
    assert [t[0] for t in catalog["coupon_templates"]] == [10, 11]
    (seven, eight) = catalog["surveys"]
    assert seven["questions"][0]["options"] == [["blue", "blue"], ["green", "green"], ["red", "red"]]
    assert [c for c, _ in catalog["coupon_statuses"]] == ["held", "usable", "used"]
    # loyalty and surveys register their own words (names of tiers, templates, questions and options)
    surveys = [{"id": 7, "name": "口味调查", "questions": [{"id": "color", "text": "喜欢的颜色", "options": [["red", "红"]]}]}]
    saved = dict(queries._builder_words)
    try:
        queries.register_builder_words("tiers", lambda: [["gold", "金卡", 2]])
        queries.register_builder_words("surveys", lambda: surveys)
        catalog = queries.builder_catalog()
    finally:
        queries._builder_words.clear()
        queries._builder_words.update(saved)
    assert catalog["tiers"] == [["gold", "金卡", 2]] and catalog["surveys"] == surveys
