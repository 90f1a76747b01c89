"""`customer_orders` stays equal to orders joined to customer_map, and `customer_channels` to records joined
to it and grouped, through what changes either: a full resolve, imports of new orders and of changed
statuses, an incremental resolve; and a warehouse made before the tables fills them when opened. Segments,
traits and analytics read them, so they give what the joins gave."""

from __future__ import annotations

import polars as pl
import pytest

from siyu.demo.generate import generate_brand
from siyu.identity.actions import resolve_identities
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.actions import import_files
from siyu.warehouse.customer_orders import (
    CHANNEL_COLUMNS,
    COLUMNS,
    customer_channels_expr,
    customer_orders_expr,
)

PEOPLE = 1500
DETERMINISTIC = MatchSettings(enabled=False)


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    return generate_brand(tmp_path_factory.mktemp("brand"), people=PEOPLE, seed=11)


def _rows(table, columns=COLUMNS) -> set[tuple]:
    return {tuple(r.values()) for r in table.select(*columns).to_pyarrow().to_pylist()}


def assert_equal_to_the_join(warehouse) -> int:
    """Both tables equal their definitions; returns customer_orders' rows."""
    con = warehouse.backend()
    stored, joined = _rows(con.table("customer_orders")), _rows(customer_orders_expr(con))
    assert stored == joined
    channels = con.table("customer_channels")
    assert _rows(channels, CHANNEL_COLUMNS) == _rows(customer_channels_expr(con), CHANNEL_COLUMNS)
    return len(stored)


@pytest.mark.django_db
def test_the_table_follows_resolve_and_imports(warehouse, brand, tmp_path):
    files = {f.source: f for f in brand.files}
    first = [f for f in brand.files if f.source != "douyin"]
    for f in first:
        import_files([f.path], source=f.source, format=f.format)
    assert assert_equal_to_the_join(warehouse) == 0  # nothing resolved yet
    resolve_identities(match=DETERMINISTIC)
    resolved = assert_equal_to_the_join(warehouse)
    assert resolved > 0 and warehouse.backend().table("customer_channels").count().execute() > 0

    # a new import's orders of records nobody resolved yet stay out until the resolve after it
    douyin = files["douyin"]
    import_files([douyin.path], source="douyin", format=douyin.format)
    assert assert_equal_to_the_join(warehouse) == resolved
    report = resolve_identities(match=DETERMINISTIC)
    assert report.mode == "incremental", report.full_reason
    with_douyin = assert_equal_to_the_join(warehouse)
    assert with_douyin > resolved

    # a later export of the same shop closes orders that were paid: the import updates them at once
    tmall = files["tmall"]
    frame = pl.read_csv(tmall.path, encoding="gb18030", infer_schema=False)
    paid = frame.filter(pl.col("订单状态") == "交易成功").head(40)
    changed = paid.with_columns(pl.lit("交易关闭").alias("订单状态"))
    later = tmp_path / "taobao-later.csv"
    later.write_bytes(changed.write_csv().encode("gb18030"))
    imported = import_files([later], source="tmall", format=tmall.format)
    assert imported.files[0].orders_updated == 40
    assert assert_equal_to_the_join(warehouse) == with_douyin
    con = warehouse.backend()
    orders, co = con.table("orders"), con.table("customer_orders")
    keys = orders.filter(orders.batch_id == imported.files[0].batch_id).order_key
    closed = co.filter(co.order_key.isin(keys)).status_class.to_pyarrow().to_pylist()
    assert closed == ["not_purchase"] * 40

    # and a full resolve rebuilds it from scratch to the same rows
    resolve_identities(match=DETERMINISTIC, full=True)
    assert assert_equal_to_the_join(warehouse) == with_douyin


@pytest.mark.django_db
def test_a_warehouse_from_before_the_table_fills_it_when_opened(warehouse, brand):
    pos = [f for f in brand.files if f.format.startswith("pos")]
    import_files([f.path for f in pos], source=pos[0].source, format=pos[0].format)
    resolve_identities(match=DETERMINISTIC)
    expected = assert_equal_to_the_join(warehouse)
    assert expected > 0
    warehouse.raw_connection().execute("DROP TABLE customer_orders")
    warehouse.raw_connection().execute("DROP TABLE customer_channels")
    warehouse.close()
    assert assert_equal_to_the_join(warehouse) == expected


RULES = [
    {"all": [{"field": "r_score", "op": ">=", "value": 3}, {"bought": {"within_days": 365, "at_least": 2}},
             {"spent": {"at_least": 300, "source": "tmall"}}]},
    {"any": [{"bought": {"product_name": "精华", "within_days": 720}}, {"not": {"bought": {"within_days": 90}}}]},
    {"all": [{"spent": {"at_least": 100, "within_days": 180}}, {"bought": {"source": "pos", "at_least": 1}}]},
]  # fmt: skip


@pytest.mark.django_db
def test_segments_traits_and_analytics_give_what_the_join_gave(warehouse, brand):
    """The same answers from the table as from the join every query made before it (a view in its
    place)."""
    from siyu.analytics import queries
    from siyu.analytics.filters import default_days, parse_filters
    from siyu.segments.actions import checked_rule, refresh_traits
    from siyu.segments.membership import rule_members
    from siyu.segments.traits import TraitSettings, base_traits_expr, cutoff_of, facts_before

    for f in brand.files:
        import_files([f.path], source=f.source, format=f.format)
    resolve_identities(match=DETERMINISTIC)
    refresh_traits()
    con = warehouse.backend()
    cutoff = cutoff_of(None)

    stores = [s for s in con.table("customer_channels").store.to_pyarrow().to_pylist() if s]
    store = max(set(stores), key=stores.count)

    def answers() -> dict:
        traits = base_traits_expr(facts_before(con, cutoff), TraitSettings()).order_by("customer_id")
        pages = {}
        for channels, at in (((), ()), (("tmall",), ()), ((), (store,))):
            for page in ("funnel", "gmv_tree", "formula", "cohorts", "channel_roi", "sales_by_hour", "touch_grid"):
                pages[page, channels, at] = queries.PAGES[page](
                    parse_filters(channels=list(channels), stores=list(at), default_days=default_days(page))
                )
        return {
            "members": [sorted(rule_members(con, checked_rule(r)).customer_id.to_pyarrow().to_pylist()) for r in RULES],
            "traits": traits.to_pyarrow().to_pylist(),
            "pages": pages,
        }  # fmt: skip

    table = answers()
    assert all(table["members"]) and table["traits"]
    raw = warehouse.raw_connection()
    raw.execute("DROP TABLE customer_orders")
    raw.execute(
        "CREATE VIEW customer_orders AS SELECT m.customer_id, o.order_key, o.source, o.store, o.status_class, "
        "o.order_time, o.amount FROM orders o JOIN customer_map m ON m.record_key = o.record_key"
    )
    raw.execute("DROP TABLE customer_channels")
    raw.execute(
        "CREATE VIEW customer_channels AS SELECT m.customer_id, r.source, r.record_kind, r.store, "
        "min(r.seen_at) AS first_seen FROM records r JOIN customer_map m ON m.record_key = r.record_key "
        "GROUP BY ALL"
    )
    assert answers() == table
