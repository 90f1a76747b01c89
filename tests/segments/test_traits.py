"""Traits on a small hand-computed brand (tests/segments/traits_data.py works every number out)."""

from datetime import UTC, date, datetime

import pytest

from segments.traits_data import AS_OF, write_brand
from siyu.core.errors import SiyuError
from siyu.segments import queries
from siyu.segments.actions import refresh_traits, save_computed_tag, save_stage_set
from siyu.segments.errors import TraitsError

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    write_brand(warehouse.backend())
    return warehouse


def snapshot(day=AS_OF) -> dict[int, dict]:
    return {row["customer_id"]: row for row in queries.snapshot_expr(day).to_pyarrow().to_pylist()}


def traits_as_of(day=AS_OF) -> dict[int, dict]:
    refresh_traits(day)
    return snapshot(day)


def test_rfm_scores_and_layers(brand):
    t = traits_as_of()
    assert sorted(t) == [1, 2, 3, 4, 5, 6, 7, 8, 10]  # 9 was first seen after the cut-off
    expected = {
        1: (31, 4, "600.00", 3, 5, 4, "important_value", "waist"),
        2: (7, 1, "1000.00", 4, 1, 5, "important_develop", "top"),
        3: (281, 3, "100.00", 1, 3, 2, "general_keep", "tail"),
        7: (184, 3, "200.00", 2, 3, 3, "important_keep", "waist"),
        10: (1, 1, "10.00", 5, 1, 1, "general_develop", "tail"),
    }
    fields = (
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "rfm_layer",
        "value_layer",
    )
    got = {cid: tuple(str(t[cid][f]) if f == "monetary" else t[cid][f] for f in fields) for cid in expected}
    assert got == expected
    for cid in (4, 5, 6, 8):  # no purchase in the window: no RFM
        assert t[cid]["frequency"] == 0 and t[cid]["r_score"] is None and t[cid]["rfm_layer"] is None
        assert t[cid]["value_layer"] is None


def test_lifetime_lifecycle_and_aipl(brand):
    t = traits_as_of()
    stages = {cid: (t[cid]["orders_total"], t[cid]["lifecycle_stage"], t[cid]["aipl_stage"]) for cid in t}
    assert stages == {
        1: (4, "loyal", "loyalty"),
        2: (1, "first_purchase", "purchase"),  # its second order is after the cut-off
        3: (3, "dormant", "loyalty"),
        4: (1, "churned", "aware"),  # an event, but before the window
        5: (0, "lead", "interest"),  # an event in the window
        6: (0, "lead", "interest"),  # a cancelled order in the window
        7: (3, "dormant", "loyalty"),  # 184 days since the last purchase
        8: (0, "lead", "aware"),  # buys only after the cut-off
        10: (1, "first_purchase", "purchase"),
    }
    assert str(t[4]["spend_total"]) == "1000.00" and str(t[8]["spend_total"]) == "0.00"


def test_purchase_cycle_and_due_date(brand):
    t = traits_as_of()
    cycles = {
        cid: (t[cid]["purchase_cycle_days"], t[cid]["next_purchase_due"], t[cid]["due_in_days"]) for cid in t
    }
    assert cycles[1] == (30.0, date(2025, 12, 31), -1)  # median of 40, 30, 30
    assert cycles[3] == (12.5, date(2025, 4, 8), (date(2025, 4, 8) - AS_OF).days)  # 12.5 rounds up to 13
    assert cycles[7] == (30.0, date(2025, 7, 31), (date(2025, 7, 31) - AS_OF).days)  # one day, two orders
    for cid in (2, 4, 5, 10):
        assert cycles[cid] == (None, None, None)


def test_price_sensitivity_from_order_lines(brand):
    t = traits_as_of()
    got = {
        cid: (t[cid]["priced_orders"], t[cid]["discount_order_share"], t[cid]["discount_depth"]) for cid in t
    }
    assert got[1] == (3, pytest.approx(0.3333), 0.5)  # one of three priced orders at half price
    assert got[2] == (1, 1.0, pytest.approx(0.0909))  # 1000 paid for 1100 listed (P2's price from customer 4)
    assert got[7] == (0, None, None)  # lines without an amount or a quantity are not priced
    assert got[3] == (0, None, None)


def test_local_day_boundaries(brand):
    t = traits_as_of()
    assert t[10]["recency_days"] == 1  # 23:30 on 2025-12-31 in Shanghai is 15:30 UTC: before the cut-off
    assert t[2]["orders_total"] == 1  # 00:10 on 2026-01-01 in Shanghai is 16:10 UTC on 12-31: after it


def test_an_earlier_as_of_date_sees_less(brand):
    t = traits_as_of(date(2025, 7, 1))  # window from 2024-07-01
    assert sorted(t) == [1, 2, 3, 4, 5, 6, 7, 8, 10]  # records seen 2024-01-01
    assert t[7]["orders_total"] == 2 and t[7]["recency_days"] == 30  # the July order is not there yet
    assert t[1]["orders_total"] == 0 and t[1]["lifecycle_stage"] == "lead"
    assert t[4]["lifecycle_stage"] == "churned" and t[4]["frequency"] == 0  # 395 days before
    assert t[5]["aipl_stage"] == "aware"


def test_current_refresh_replaces_the_last_and_keeps_as_of_snapshots(brand):
    refresh_traits(AS_OF)
    first = refresh_traits()
    assert first["current"] and first["customers"] == 10  # now everyone is known, 9 too
    second = refresh_traits()
    runs = queries.trait_runs()
    assert [(r["current"], r["customers"]) for r in runs] == [(True, 10), (False, 9)]
    assert runs[0]["as_of"] == datetime.fromisoformat(second["as_of"])
    refresh_traits(AS_OF)  # the same date again replaces its snapshot
    assert len(queries.trait_runs()) == 2
    assert len(snapshot(AS_OF)) == 9
    assert queries.traits_of(1)["orders_total"] == 4
    assert queries.traits_of(9)["orders_total"] == 1


def test_computed_tags_and_stage_sets(brand, admin_user):
    save_computed_tag(admin_user, "高价值", {"field": "m_score", "op": ">=", "value": 4})
    save_computed_tag(admin_user, "快到复购期", {"field": "due_in_days", "op": "between", "value": [-7, 7]})
    save_computed_tag(
        admin_user, "非重要价值", {"not": {"field": "rfm_layer", "op": "=", "value": "important_value"}}
    )
    save_stage_set(
        admin_user,
        "school",
        [
            {"stage": "已报名在学", "when": {"bought": {"product_name": "P2"}}},
            {"stage": "强意向", "when": {"event": {"within_days": 30}}},
            {
                "stage": "弱意向",
                "when": {
                    "any": [
                        {"field": "aipl_stage", "op": "=", "value": "interest"},
                        {"field": "computed_tags", "op": "contains", "value": "高价值"},
                    ]
                },
            },  # fmt: skip
        ],
    )
    report = refresh_traits(AS_OF)
    t = snapshot(AS_OF)
    tags = {cid: list(row["computed_tags"]) for cid, row in t.items() if len(row["computed_tags"])}
    # NULL layers are not important_value: a missing value never satisfies a comparison
    assert tags == {1: ["快到复购期", "高价值"], 2: ["非重要价值", "高价值"]} | {
        cid: ["非重要价值"] for cid in (3, 4, 5, 6, 7, 8, 10)
    }
    assert report["stage_sets"] == {"school": {"已报名在学": 2, "强意向": 1, "弱意向": 2}}
    assert queries.stages_of(2, AS_OF) == {"school": "已报名在学"}  # 4 bought P2 too, before the window
    assert queries.stages_of(1, AS_OF) == {"school": "弱意向"}
    assert queries.stages_of(3, AS_OF) == {}


def test_a_changed_rule_applies_at_the_next_refresh(brand, admin_user):
    save_computed_tag(admin_user, "大客户", {"field": "monetary", "op": ">=", "value": 1000})
    refresh_traits()
    assert list(queries.traits_of(2)["computed_tags"]) == ["大客户"]
    save_computed_tag(admin_user, "大客户", {"field": "monetary", "op": ">=", "value": 5000})
    assert list(queries.traits_of(2)["computed_tags"]) == ["大客户"]
    refresh_traits()
    assert list(queries.traits_of(2)["computed_tags"]) == []


def test_settings_move_the_window_the_shares_and_the_lifecycle(brand, settings):
    settings.TRAITS = {
        "window_days": 30,  # from 2025-12-02 00:00 local
        "value_top_share": 0.5,
        "value_waist_share": 0.5,
        "lifecycle": {"dormant_days": 20, "churned_days": 200, "loyal_orders": 3},
    }
    t = traits_as_of()
    assert {cid: t[cid]["value_layer"] for cid in t if t[cid]["frequency"]} == {2: "top", 10: "waist"}
    assert t[1]["frequency"] == 0 and t[1]["orders_total"] == 4  # its last purchase was on 2025-12-01
    assert {cid: t[cid]["lifecycle_stage"] for cid in (1, 3, 7)} == {1: "dormant", 3: "churned", 7: "dormant"}


def test_the_customer_summary_stage_follows_the_same_lifecycle_settings(brand, settings):
    from siyu.warehouse.summary import rebuild_customer_summary

    now = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # = AS_OF 00:00 in Shanghai
    settings.TRAITS = {"lifecycle": {"dormant_days": 20, "churned_days": 200, "loyal_orders": 5}}
    rebuild_customer_summary(now=now)
    summary = {
        r["customer_id"]: r["stage"]
        for r in brand.backend().table("customer_summary").to_pyarrow().to_pylist()
    }
    t = traits_as_of()
    assert summary[1] == t[1]["lifecycle_stage"] == "dormant"
    assert summary[3] == t[3]["lifecycle_stage"] == "churned"
    settings.TRAITS = {"lifecycle": {"dormant_days": 200, "churned_days": 100}}
    with pytest.raises(SiyuError, match="dormant_days < churned_days"):
        refresh_traits(AS_OF)


def test_an_as_of_date_in_the_future_is_refused(brand):
    with pytest.raises(TraitsError, match="in the future"):
        refresh_traits(date(2999, 1, 1))
