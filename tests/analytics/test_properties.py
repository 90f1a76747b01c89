"""Properties that hold on any data: LMDI contributions add up to the GMV change; funnel stages never grow;
cohort retention lies in [0, 1] with month 0 at 100%."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.conftest import Brand
from siyu.analytics import queries
from siyu.analytics.filters import Filters

positive = st.floats(min_value=0.01, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(st.tuples(positive, positive, positive, positive), st.tuples(positive, positive, positive, positive))
def test_lmdi_contributions_add_up_to_the_gmv_change(before, after):
    def period(values):
        base, conversion, frequency, aov = values
        return {
            "base": base,
            "conversion": conversion,
            "frequency": frequency,
            "aov": aov,
            "gmv": base * conversion * frequency * aov,
        }

    p0, p1 = period(before), period(after)
    contributions = queries.lmdi_contributions(p0, p1)
    # floating point: the contributions are of the size of GMV and may cancel, so the error scales with it
    scale = max(p0["gmv"], p1["gmv"])
    assert math.isclose(sum(contributions.values()), p1["gmv"] - p0["gmv"], rel_tol=1e-6, abs_tol=1e-9 * scale)
    for factor in queries.GMV_FACTORS:  # a factor that grew pushed GMV up, and the other way round
        assert contributions[factor] * math.log(p1[factor] / p0[factor]) >= 0


def test_lmdi_needs_gmv_in_both_periods():
    assert queries.lmdi_contributions({"gmv": 0}, {"gmv": 10}) is None


KINDS = ("order", "contact", "member")
CHANNELS = ("tmall", "wecom", "pos")
event = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(CHANNELS),
    st.integers(min_value=0, max_value=150),  # days after 1 January 2026
    st.sampled_from(["purchase", "purchase", "not_purchase"]),
    st.integers(min_value=1, max_value=500),
)
brands = st.lists(st.lists(event, min_size=1, max_size=5), min_size=1, max_size=6)
START = date(2026, 1, 1)


@pytest.mark.django_db
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(brands, st.integers(min_value=0, max_value=120), st.integers(min_value=1, max_value=60))
def test_funnel_stages_never_grow_and_retention_stays_in_range(warehouse, customers, offset, length):
    con = warehouse.raw_connection()
    for table in ("records", "orders", "customer_map", "customer_summary"):
        con.execute(f"DELETE FROM {table}")
    b = Brand(warehouse)
    for customer_id, events in enumerate(customers, start=1):
        for n, (kind, channel, day, status, amount) in enumerate(events):
            when = f"{START + timedelta(days=day)} 04:00:00"
            key = f"{channel}|c{customer_id}-{n}"
            if kind == "order":
                b.buy(customer_id, key, when, str(amount), status=status)
            else:
                b.record(customer_id, key, when, kind=kind)
    b.summarise()
    f = Filters(START + timedelta(days=offset), START + timedelta(days=offset + length))
    result = queries.funnel(f)
    for table in ("funnel", "pool"):
        for row in result["tables"][table]:
            values = [row[s] for s in queries.FUNNEL_STAGES]
            assert values == sorted(values, reverse=True), row
    funnel = {r["channel"]: r for r in result["tables"]["funnel"]}
    for row in result["tables"]["pool"]:
        assert all(row[s] >= funnel[row["channel"]][s] for s in queries.FUNNEL_STAGES)
    for curve in queries.cohorts(f)["cohorts_by_month"] + queries.cohorts(f)["cohorts_by_channel"]:
        assert curve["retention"][0] == 1.0
        assert all(r is None or 0 <= r <= 1 for r in curve["retention"])
        ltv = [v for v in curve["ltv"] if v is not None]
        assert ltv == sorted(ltv)  # cumulative
