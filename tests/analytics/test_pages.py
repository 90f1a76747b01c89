"""Every analytics page on the small brand of conftest.py, against numbers worked out by hand."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from analytics.conftest import MARCH
from siyu.analytics import queries
from siyu.analytics.filters import Filters
from siyu.analytics.groups import group_from_ids

pytestmark = pytest.mark.django_db


def by(rows, key="channel"):
    return {r[key]: r for r in rows}


def stages(row):
    return [row[s] for s in queries.FUNNEL_STAGES]


def test_funnel_follows_customers_acquired_in_the_range(brand):
    result = queries.funnel(MARCH)
    funnel = by(result["tables"]["funnel"])
    # acquired in March: 2 (douyin), 3 (pos, joined, bought after), 4 (wecom, joined), 6 (jd, joined after buying)
    assert stages(funnel["douyin"]) == [1, 0, 0, 0]
    assert stages(funnel["pos"]) == [1, 1, 1, 0]
    assert stages(funnel["wecom"]) == [1, 1, 0, 0]
    assert stages(funnel["jd"]) == [1, 1, 0, 0]
    assert "tmall" not in funnel or stages(funnel["tmall"]) == [0, 0, 0, 0]
    total = funnel[queries.ALL]
    assert stages(total) == [4, 3, 1, 0]
    assert total["acquired_to_joined"] == 0.75 and total["lost_acquired_to_joined"] == 1
    assert total["joined_to_converted"] == 0.3333 and total["converted_to_repeat"] == 0.0
    pool = by(result["tables"]["pool"])
    # everyone acquired before April: 1 and 5 came through tmall; 1 joined, bought after joining, 3 purchases
    assert stages(pool["tmall"]) == [2, 1, 1, 1]
    assert stages(pool[queries.ALL]) == [6, 4, 2, 1]


def test_funnel_store_filter_keeps_customers_with_a_record_at_the_store(brand):
    f = Filters(MARCH.date_from, MARCH.date_to, stores=("S1",))
    assert stages(by(queries.funnel(f)["tables"]["funnel"])[queries.ALL]) == [1, 1, 1, 0]


def lmdi(g0, g1, x0, x1):
    weight = (g1 - g0) / (math.log(g1) - math.log(g0))
    return weight * math.log(x1 / x0)


def test_gmv_tree_factors_and_contributions(brand):
    result = queries.gmv_tree(MARCH)
    assert result["previous"]["date_from"] == "2026-01-29" and result["previous"]["date_to"] == "2026-02-28"
    total = by(result["tables"]["factors"])[queries.ALL]
    # March: 1 ¥200+¥300, 2 ¥150, 3 ¥80, 6 ¥60+¥40; every customer had a record by then
    assert (total["gmv"], total["orders"], total["buyers"], total["base"]) == (Decimal("830.00"), 6, 4, 6)
    assert (total["conversion"], total["frequency"], total["aov"]) == (0.6667, 1.5, Decimal("138.33"))
    # Jan 29 – Feb 28: only 5's ¥50; 1 and 5 were known
    assert (total["gmv_before"], total["orders_before"], total["buyers_before"], total["base_before"]) == (
        Decimal("50.00"),
        1,
        1,
        2,
    )
    contrib = by(result["tables"]["contributions"])[queries.ALL]
    assert contrib["decomposed"] and contrib["gmv_change"] == 780.0
    assert contrib["base"] == pytest.approx(lmdi(50, 830, 2, 6), abs=0.01)
    assert contrib["conversion"] == pytest.approx(lmdi(50, 830, 0.5, 4 / 6), abs=0.01)
    assert contrib["frequency"] == pytest.approx(lmdi(50, 830, 1, 1.5), abs=0.01)
    assert contrib["aov"] == pytest.approx(lmdi(50, 830, 50, 830 / 6), abs=0.01)
    assert contrib["driver"] == "base"  # ln 3 > ln(830/6 ÷ 50)
    tmall = by(result["tables"]["factors"])["tmall"]
    assert (tmall["gmv"], tmall["base"], tmall["gmv_before"], tmall["base_before"]) == (
        Decimal("200.00"),
        2,
        Decimal("50.00"),
        2,
    )


def test_gmv_tree_without_gmv_before_is_not_decomposed(brand):
    f = Filters(MARCH.date_from, MARCH.date_to, channels=("jd",))
    result = queries.gmv_tree(f)
    jd = by(result["tables"]["factors"])[queries.ALL]
    assert (jd["gmv"], jd["orders"], jd["buyers"], jd["base"], jd["gmv_before"]) == (
        Decimal("100.00"),
        2,
        1,
        1,
        0,
    )
    assert by(result["tables"]["contributions"])[queries.ALL]["decomposed"] is False


def test_the_gmv_tree_shows_yuan_and_leaves_room_for_its_root_label(brand, settings):
    from siyu.analytics.charts import gmv_tree_charts, label_width

    settings.LANGUAGE_CODE = "zh-hans"
    result = queries.gmv_tree(MARCH)
    (tree,) = [c for c in gmv_tree_charts(result, {}) if c["id"] == "chart-gmv-tree"]
    series = tree["option"]["series"][0]
    root = series["data"][0]
    assert root["name"].split("\n")[1] == "¥830.00 (+1560.0%)"
    assert [child["name"].split("\n")[1] for child in root["children"]] == ["4 (+300.0%)", "¥207.50 (+315.0%)"]
    # a GMV in the millions: the root's label is drawn left of the root, inside the margin
    total = next(r for r in result["tables"]["factors"] if r["channel"] == queries.ALL)
    total["gmv"] = Decimal("12345678.90")
    (big,) = [c for c in gmv_tree_charts(result, {}) if c["id"] == "chart-gmv-tree"]
    big_series = big["option"]["series"][0]
    assert big_series["data"][0]["name"].startswith("GMV\n¥12,345,678.90")
    assert big_series["left"] > series["left"] and big_series["left"] > label_width(big_series["data"][0]["name"])


def test_private_domain_formula(brand):
    result = queries.formula(MARCH)
    factors = by(result["tables"]["factors"], "factor")
    # joined before April: 1, 3, 4, 6; in March 1, 3 and 6 bought: ¥680 in 5 orders; 1 and 6 twice
    assert factors["retained_base"]["value"] == 4
    assert factors["conversion_rate"]["value"] == 0.75
    assert factors["aov"]["value"] == Decimal("136.00")
    assert factors["repurchase_rate"]["value"] == 0.6667
    referral = factors["referral_rate"]
    assert referral["value"] is None and referral["available"] is False and "referral" in referral["reason"]
    # before March only 1 had joined, and bought nothing from Jan 29 to Feb 28
    assert factors["retained_base"]["previous"] == 1
    assert factors["conversion_rate"]["previous"] == 0.0
    assert factors["aov"]["previous"] is None and factors["repurchase_rate"]["previous"] is None


def test_key_figures_of_the_home_against_the_period_before(brand):
    figures = queries.key_figures(MARCH)
    # acquired by March's end: all six; by its start (the previous period's end) 1 and 5
    assert figures["customers"] == {"now": 6, "before": 2}
    # joined by March's end: 1, 3, 4, 6; by its start only 1
    assert figures["private_pool"] == {"now": 4, "before": 1}
    # March: 1 ¥200 + ¥300, 2 ¥150 (its 04-01 order is April's), 3 ¥80, 6 ¥60 + ¥40; 5's closed order is no
    # purchase. Jan 29 to Feb 28: 5 ¥50
    assert figures["gmv"] == {"now": Decimal("830.00"), "before": Decimal("50.00")}
    assert figures["buyers"] == {"now": 4, "before": 1}
    assert figures["repurchase_rate"] == {"now": 0.5, "before": 0.0}  # 1 and 6 bought twice in March
    at_s1 = queries.key_figures(Filters(MARCH.date_from, MARCH.date_to, stores=("S1",)))
    assert at_s1["customers"] == {"now": 1, "before": 0} and at_s1["private_pool"] == {"now": 1, "before": 0}
    assert at_s1["gmv"] == {"now": Decimal("80.00"), "before": Decimal("0.00")}
    assert at_s1["repurchase_rate"] == {"now": 0.0, "before": None}  # no buyer before: no rate


def test_the_home_ends_on_the_latest_day_with_data_and_knows_which_stores_the_data_names(brand):
    assert queries.latest_day() == date(2026, 4, 1)  # 2's order at 01:00 local on April 1
    assert queries.stores_with_data(["S1", "S9", ""]) == ("S1",)


def test_cohort_retention_and_ltv(brand):
    result = queries.cohorts(Filters(date(2026, 1, 1), date(2026, 3, 31)))
    months = by(result["cohorts_by_month"], "cohort")
    assert months["2026-01"] == {
        "cohort": "2026-01",
        "customers": 1,
        "retention": [1.0, 0.0, 1.0],
        "ltv": [Decimal("100.00"), Decimal("100.00"), Decimal("600.00")],
    }
    assert months["2026-02"]["retention"] == [1.0, 0.0]
    assert months["2026-02"]["ltv"] == [Decimal("50.00"), Decimal("50.00")]
    assert months["2026-03"]["customers"] == 3 and months["2026-03"]["retention"] == [1.0]
    assert months["2026-03"]["ltv"] == [Decimal("110.00")]  # (150 + 80 + 60 + 40) / 3
    channels = by(result["cohorts_by_channel"], "cohort")
    assert channels["tmall"]["customers"] == 2
    assert channels["tmall"]["retention"] == [1.0, 0.0, 0.5]
    assert channels["tmall"]["ltv"] == [Decimal("75.00"), Decimal("75.00"), Decimal("325.00")]
    assert channels["jd"]["ltv"] == [Decimal("100.00")]
    flat = by(result["tables"]["retention_by_month"], "cohort")
    assert flat["2026-02"]["m2"] is None  # April is after the range


def test_channel_roi(brand, admin_user):
    from siyu.analytics.actions import record_spend

    record_spend(admin_user, "tmall", "2026-03-01", "2026-03-31", "3100")
    record_spend(admin_user, "douyin", "2026-02-15", "2026-03-16", "600")  # 16 of its 30 days in March
    record_spend(admin_user, "pos", "2026-03-01", "2026-03-31", "50")
    channels = by(queries.channel_roi(MARCH)["tables"]["channels"])
    douyin = channels["douyin"]
    assert (douyin["spend"], douyin["acquired"], douyin["gmv"], douyin["cac"]) == (
        Decimal("320.00"),
        1,
        Decimal("150.00"),
        Decimal("320.00"),
    )
    assert douyin["roi"] == 0.4688 and douyin["payback_month"] is None and douyin["below_spend"]
    pos = channels["pos"]
    assert (pos["spend"], pos["acquired"], pos["gmv"], pos["cac"], pos["roi"], pos["payback_month"]) == (
        Decimal("50.00"),
        1,
        Decimal("80.00"),
        Decimal("50.00"),
        1.6,
        0,
    )
    tmall = channels["tmall"]
    assert (tmall["acquired"], tmall["cac"], tmall["roi"], tmall["gmv"]) == (0, None, 0.0, Decimal("0.00"))
    jd = channels["jd"]
    assert (jd["spend"], jd["acquired"], jd["gmv"], jd["roi"]) == (None, 1, Decimal("100.00"), None)


def test_traffic_map_links(brand):
    result = queries.traffic_map(MARCH)
    links = {(r["source"], r["target"]): r["customers"] for r in result["tables"]["links"]}
    assert links == {
        ("channel:douyin", "pool:not_joined"): 1,
        ("channel:pos", "pool:member"): 1,
        ("channel:wecom", "pool:wecom"): 1,
        ("channel:jd", "pool:member"): 1,
        ("pool:member", "outcome:bought_after_joining"): 1,
        ("pool:member", "outcome:not_bought_after_joining"): 1,
        ("pool:wecom", "outcome:not_bought_after_joining"): 1,
    }
    kinds = {n["value"]: n["kind"] for n in result["nodes"] if n["level"] == "channel"}
    assert kinds == {"douyin": "public", "pos": "private", "wecom": "private", "jd": "public"}


def test_sales_by_hour_in_local_time(brand):
    result = queries.sales_by_hour(MARCH, 10, 22)
    share = by(result["tables"]["closed_share"])
    # jd's two orders: 23:30 on Wednesday 25 March and 09:00 on Thursday 26 March, local time
    assert (share["jd"]["orders"], share["jd"]["closed_orders"], share["jd"]["closed_gmv_share"]) == (
        2,
        2,
        1.0,
    )
    total = share[queries.ALL]
    assert (total["orders"], total["closed_orders"], total["closed_order_share"]) == (6, 2, 0.3333)
    assert total["closed_gmv"] == Decimal("100.00") and total["closed_gmv_share"] == 0.1205
    heat = by(result["tables"]["weekday_hour_orders"], "weekday")
    assert heat[2]["h23"] == 1 and heat[3]["h09"] == 1 and heat[3]["h12"] == 1  # 5 March is a Thursday
    assert sum(v for row in heat.values() for k, v in row.items() if k.startswith("h")) == 6
    assert queries.sales_by_hour(MARCH, 0, 24)["tables"]["closed_share"][-1]["closed_orders"] == 0


def test_repurchase_of_a_group_against_the_base(brand):
    result = queries.repurchase(MARCH, group_from_ids([1, 6, 999]))
    rows = by(result["tables"]["repurchase"], "population")
    # March buyers: 1 (2 orders), 2, 3, 6 (2 orders)
    assert (rows["base"]["buyers"], rows["base"]["repeat_buyers"], rows["base"]["repurchase_rate"]) == (
        4,
        2,
        0.5,
    )
    assert (rows["group"]["buyers"], rows["group"]["repurchase_rate"]) == (2, 1.0)
    assert (rows["rest"]["buyers"], rows["rest"]["repurchase_rate"]) == (2, 0.0)
    assert result["lift_points"] == 50.0
    assert result["p_value"] == pytest.approx(math.erfc(2 / math.sqrt(2)), abs=1e-4)  # z = 2
    assert result["group"] == {"kind": "list", "label": "list", "size": 3, "found": 2}
