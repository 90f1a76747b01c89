"""The DuckDB warehouse backend reads a table's schema once, and again after the table was made anew."""

import ibis


def test_a_table_is_read_once_and_again_after_it_is_created_anew(warehouse):
    con = warehouse.backend()
    first = con.table("customer_summary")
    assert con.table("customer_summary") is first  # no second schema query
    assert con.table("records") is not first

    # another thread's backend replaces the table with other columns: this one sees them
    import threading

    def replace():
        other = warehouse.backend()
        other.create_table("customer_summary", schema=ibis.schema({"customer_id": "int64", "extra": "string"}),
                           overwrite=True)

    thread = threading.Thread(target=replace)
    thread.start()
    thread.join()
    again = con.table("customer_summary")
    assert again is not first and again.columns == ("customer_id", "extra")
    assert again.count().execute() == 0


def test_a_table_outside_the_warehouse_schema_is_read_each_time(warehouse):
    con = warehouse.backend()
    raw = warehouse.raw_connection()
    raw.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS a")
    assert con.table("scratch").columns == ("a",)
    raw.execute("CREATE OR REPLACE TEMP TABLE scratch AS SELECT 1 AS a, 2 AS b")
    assert con.table("scratch").columns == ("a", "b")
