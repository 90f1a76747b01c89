"""The DuckDB warehouse backend compiles an expression with ibis parameters once and runs it with each call's
values (a prepared statement); a warehouse table can be read with DuckDB's row ids."""

import ibis
import ibis.expr.datatypes as dt

CUSTOMER = ibis.param(dt.int64)
KEY = ibis.param(dt.string)


def test_a_parametrised_query_answers_for_each_value_given(warehouse):
    warehouse.raw_connection().execute(
        "INSERT INTO customer_map VALUES ('taobao|1', 5, now()), ('jd|O''Brien', 6, now()), ('pos|7', 7, now())"
    )
    con = warehouse.backend()

    def keys(customer_id, key):
        cmap = con.table("customer_map")
        expr = cmap.filter((cmap.customer_id == CUSTOMER) | (cmap.record_key == KEY)).order_by("record_key")
        return expr.record_key.to_pyarrow(params={CUSTOMER: customer_id, KEY: key}).to_pylist()

    assert keys(5, "none") == ["taobao|1"]
    assert keys(6, "pos|7") == ["jd|O'Brien", "pos|7"]  # a quote in the data, a second value
    assert keys(7_318_000_000_000_000, "jd|O'Brien") == ["jd|O'Brien"]  # a value like the backend's marker
    assert keys(5, "taobao|1' OR '1'='1") == ["taobao|1"]  # a value, never SQL
    compiled = [sql for sql in con._siyu_compiled.values() if "$1" in sql]
    assert len(compiled) == 1 and "$2" in compiled[0]


def test_a_page_read_by_row_id_is_the_same_as_read_in_one_query(warehouse):
    raw = warehouse.raw_connection()
    raw.execute(
        "INSERT INTO customer_summary (customer_id, name_masked, last_purchase_at) "
        "SELECT i, 'c' || i, TIMESTAMPTZ '2024-01-01' + to_hours(i % 37) FROM range(1, 301) t(i)"
    )
    with_ids = warehouse.table_with_row_ids("customer_summary")
    assert with_ids is warehouse.table_with_row_ids("customer_summary")  # kept like a table
    wanted = ibis.memtable({"customer_id": list(range(50, 250, 3))})
    matching = with_ids.filter(with_ids.customer_id.isin(wanted.customer_id))
    order = [ibis.desc("last_purchase_at"), "customer_id"]
    page_ids = matching.order_by(order).select("row_id").limit(10, offset=10).row_id
    by_row_id = with_ids.filter(with_ids.row_id.isin(page_ids)).order_by(order).select("customer_id", "name_masked")
    summary = warehouse.backend().table("customer_summary")
    one_query = (
        summary.filter(summary.customer_id.isin(wanted.customer_id))
        .order_by(order)
        .select("customer_id", "name_masked")
        .limit(10, offset=10)
    )
    assert by_row_id.to_pyarrow().to_pylist() == one_query.to_pyarrow().to_pylist()
    assert len(by_row_id.to_pyarrow()) == 10
