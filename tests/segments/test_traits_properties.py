"""Properties of the traits: quintile scores and value layers against random purchases, and as-of
snapshots that never see facts from after their cut-off."""

from datetime import timedelta
from decimal import Decimal

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.traits_data import AS_OF, local, record_key, write_brand
from siyu.segments.traits import (
    RFM_LAYERS,
    TraitSettings,
    _rfm,
    base_traits_expr,
    cutoff_of,
    facts_before,
)
from siyu.warehouse.customer_orders import rebuild_on

CUT_DAY = 20_000

purchase = st.tuples(
    st.integers(1, 12),  # customer
    st.integers(0, 400),  # days before the cut-off day
    st.decimals(Decimal("0.01"), Decimal("5000"), places=2),
)


@pytest.fixture(scope="module")
def memory():
    return ibis.duckdb.connect()


@settings(max_examples=150, deadline=None)
@given(st.lists(purchase, min_size=1, max_size=60))
def test_scores_are_1_to_5_and_never_fall_as_the_value_improves(memory, purchases):
    window = ibis.memtable(
        {
            "customer_id": [p[0] for p in purchases],
            "day": [CUT_DAY - p[1] for p in purchases],
            "amount": [p[2] for p in purchases],
        },
        schema={"customer_id": "int64", "day": "int64", "amount": "decimal(18, 2)"},
    )
    rows = memory.execute(_rfm(window, CUT_DAY, TraitSettings())).to_dict("records")
    assert len(rows) == len({p[0] for p in purchases})
    for row in rows:
        assert {row["r_score"], row["f_score"], row["m_score"]} <= {1, 2, 3, 4, 5}
        high = tuple(bool(row[s] >= 3) for s in ("r_score", "f_score", "m_score"))
        assert row["rfm_layer"] == RFM_LAYERS[high]
    for a in rows:
        for b in rows:
            for score, value, better in (
                ("r_score", "recency_days", lambda x, y: x < y),
                ("f_score", "frequency", lambda x, y: x > y),
                ("m_score", "monetary", lambda x, y: x > y),
            ):
                if a[value] == b[value]:
                    assert a[score] == b[score]
                elif better(a[value], b[value]):
                    assert a[score] >= b[score]
    order = {"top": 0, "waist": 1, "tail": 2}
    for a in rows:
        for b in rows:
            if a["monetary"] > b["monetary"]:
                assert order[a["value_layer"]] <= order[b["value_layer"]]
    top = [r for r in rows if r["value_layer"] == "top"]
    assert all(sum(o["monetary"] > r["monetary"] for o in rows) < 0.2 * len(rows) for r in top)


later_fact = st.tuples(
    st.sampled_from(["order", "cancelled", "event", "new_customer"]),
    st.integers(1, 10),  # an existing customer
    st.integers(0, 3_000),  # minutes after the cut-off
    st.decimals(Decimal("1"), Decimal("9999"), places=2),
)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(later_fact, min_size=1, max_size=8))
def test_an_as_of_snapshot_never_uses_later_facts(warehouse, later):
    con = warehouse.backend()
    raw = warehouse.raw_connection()
    if not raw.execute("SELECT count(*) FROM records").fetchall()[0][0]:
        write_brand(con)
    cutoff = cutoff_of(AS_OF)

    def traits():
        expr = base_traits_expr(facts_before(con, cutoff), TraitSettings())
        return expr.order_by("customer_id").to_pyarrow().to_pylist()

    before = traits()
    for n, (kind, cid, minutes, amount) in enumerate(later):
        at = local("2026-01-01 00:00") + timedelta(minutes=minutes)
        key = record_key(cid)
        if kind == "new_customer":
            key = f"later|r{n}"
            raw.execute("INSERT INTO records (record_key, source, seen_at, imported_at) VALUES (?, 'later', ?, ?)",
                        [key, at, at])  # fmt: skip
            raw.execute("INSERT INTO customer_map VALUES (?, ?, ?)", [key, 1000 + n, at])
        if kind == "event":
            raw.execute("INSERT INTO events (event_key, record_key, event_type, occurred_at) VALUES (?, ?, 'visit', ?)",
                        [f"later|e{n}", key, at])  # fmt: skip
            continue
        status = "not_purchase" if kind == "cancelled" else "purchase"
        raw.execute("INSERT INTO orders (order_key, source, record_key, status_class, order_time, amount) "
                    "VALUES (?, 'shop', ?, ?, ?, ?)", [f"later|o{n}", key, status, at, amount])  # fmt: skip
        raw.execute("INSERT INTO order_items (order_key, item_key, product, quantity, amount) VALUES (?, '#0', 'P1', 1, ?)",
                    [f"later|o{n}", amount])  # fmt: skip
    rebuild_on(raw)  # as the import and resolve that brought them in would
    try:
        assert traits() == before
    finally:
        for table, column in (("records", "record_key"), ("customer_map", "record_key"), ("events", "event_key"),
                              ("orders", "order_key"), ("order_items", "order_key")):  # fmt: skip
            raw.execute(f"DELETE FROM {table} WHERE {column} LIKE 'later|%'")
        rebuild_on(raw)
