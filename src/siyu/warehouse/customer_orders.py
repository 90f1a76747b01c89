"""`customer_orders`: every order with the customer id of its record — `orders` joined to `customer_map` —
kept as a table, so that segment rules, traits and the analytics pages read one narrow table keyed by the
integer customer_id instead of joining millions of orders to the customer map on the string record_key in
every query (at 1M customers that join was most of a segment preview; docs/benchmarks.md).

The table is a function of `orders` and `customer_map` and is kept equal to their join by every writer of
either:

- a full resolve rebuilds it together with the customer map and customer_summary (same transaction);
- an incremental resolve replaces the rows of the customers whose summary rows it refreshes (new or
  merged records, and orders an import changed);
- an import replaces the rows of the orders its batch added or updated (in the batch's transaction), so
  a new order of an already resolved customer counts at once, as it did when every query joined;
- a warehouse made before the table existed fills it when it is first opened (siyu.warehouse.schema).

`customer_orders_expr` is the definition; tests hold the table to it.

`customer_channels` is kept the same way for the records: every (customer, channel, record kind, store)
a customer's records show, with the first time one was seen (`customer_channels_expr`). The analytics
pages read it instead of joining every record to the customer map (at 10M records the GMV tree's customer
base took 5 s that way). Imports leave it alone: a new record has no customer before the resolve after it.
"""

from __future__ import annotations

import ibis
import pyarrow as pa

from siyu.warehouse.append import append, delete_where_in

TABLE = "customer_orders"
COLUMNS = ("customer_id", "order_key", "source", "store", "status_class", "order_time", "amount")
CHANNELS_TABLE = "customer_channels"
CHANNEL_COLUMNS = ("customer_id", "source", "record_kind", "store", "first_seen")


def customer_orders_expr(con, *, customer_ids: ibis.Table | None = None):
    """The rows of `customer_orders` (not executed): all of them, or only those of the given customers
    (a table with `customer_id`)."""
    orders = con.table("orders").select(
        "order_key", "record_key", "source", "store", "status_class", "order_time", "amount"
    )
    cmap = con.table("customer_map").select("record_key", "customer_id")
    if customer_ids is not None:
        cmap = cmap.semi_join(customer_ids, "customer_id")
    return orders.join(cmap, "record_key").select(*COLUMNS)


def customer_channels_expr(con, *, customer_ids: ibis.Table | None = None):
    """The rows of `customer_channels` (not executed): all of them, or only those of the given customers."""
    records = con.table("records").select("record_key", "source", "record_kind", "store", "seen_at")
    cmap = con.table("customer_map").select("record_key", "customer_id")
    if customer_ids is not None:
        cmap = cmap.semi_join(customer_ids, "customer_id")
    j = records.join(cmap, "record_key")
    return j.group_by(["customer_id", "source", "record_kind", "store"]).aggregate(first_seen=j.seen_at.min())


# each read model kept beside the customer map, by its definition
READ_MODELS = {TABLE: customer_orders_expr, CHANNELS_TABLE: customer_channels_expr}


def rebuild_customer_orders(con) -> None:
    """Replace both tables whole (a full resolve; call inside its warehouse transaction)."""
    for name, expr in READ_MODELS.items():
        con.create_table(name, expr(con), overwrite=True)


def rebuild_on(raw) -> None:
    """rebuild_customer_orders on a raw DuckDB connection (fixtures that write the customer map by hand)."""
    rebuild_customer_orders(ibis.duckdb.from_connection(raw))


def refresh_customers(con, raw, customer_ids: pa.Array) -> None:
    """Replace both tables' rows of these customers (an incremental resolve: ids absorbed by a merge lose
    theirs)."""
    if len(customer_ids) == 0:
        return
    ids = customer_ids.cast(pa.int64())
    wanted = ibis.memtable(pa.table({"customer_id": ids}))
    for name, expr in READ_MODELS.items():
        rows = expr(con, customer_ids=wanted).to_pyarrow()
        delete_where_in(raw, name, "customer_id", ids)
        append(raw, name, rows)


def refresh_batch(raw, batch_id: str, *, updated: bool) -> None:
    """Replace the rows of the orders an import batch added or updated (`orders.batch_id` is the batch that
    last wrote an order), on the batch's own connection and transaction. `updated`: the batch changed
    orders that were there before (otherwise none of its orders can be in the table yet)."""
    from siyu.warehouse.spark_store import Transaction

    if isinstance(raw, Transaction):  # Spark (siyu.warehouse.spark_append)
        from siyu.warehouse import spark_append

        spark_append.refresh_batch(raw, batch_id, updated=updated, columns=COLUMNS, table=TABLE)
        return
    columns = ", ".join(f"o.{c}" if c != "customer_id" else "m.customer_id" for c in COLUMNS)
    if updated:
        raw.execute(
            f"DELETE FROM {TABLE} WHERE order_key IN (SELECT order_key FROM orders WHERE batch_id = ?)",
            [batch_id],
        )
    raw.execute(
        f"""INSERT INTO {TABLE} ({", ".join(COLUMNS)})
            SELECT {columns} FROM orders o JOIN customer_map m ON m.record_key = o.record_key
            WHERE o.batch_id = ?""",
        [batch_id],
    )
