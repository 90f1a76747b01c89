"""Upgrades of data a warehouse already holds, applied once when the file is opened.

`ensure_schema` adds tables and nullable columns by itself; an upgrade is for what that cannot do: stored
values whose meaning changed. Each upgrade runs in one transaction with its row in `warehouse_upgrades`,
so a warehouse is upgraded wholly or not at all, and never twice. A new warehouse records every upgrade as
applied without running it (it holds nothing to upgrade).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from siyu.warehouse.customer_orders import TABLE as CUSTOMER_ORDERS
from siyu.warehouse.customer_orders import customer_orders_expr
from siyu.warehouse.order_keys import order_key_prefix

TABLE = "warehouse_upgrades"


def rekey_orders_by_platform(con, backend) -> dict:
    """Orders were keyed `<label>|<order id>`; they are keyed by platform and shop now
    (siyu.warehouse.order_keys). One order imported under two labels was two rows: the latest version
    (by `updated_at`) stays, with its lines; the others are deleted. Each order keeps its old key in
    `legacy_key` (journeys' enrollments name orders by it). `customer_orders` is rebuilt from the result."""

    combos = con.execute("SELECT DISTINCT format, source, store FROM orders").fetchall()
    if not combos:
        return {"orders": 0, "merged": 0}
    prefixes = pa.table({
        "format": [c[0] for c in combos],
        "source": [c[1] for c in combos],
        "store": [c[2] for c in combos],
        "prefix": [order_key_prefix(c[0] or "", c[1] or "", c[2]) for c in combos],
    })  # fmt: skip
    con.register("_siyu_prefixes", prefixes)
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _siyu_rekey AS
            SELECT old_key, new_key,
                   row_number() OVER (PARTITION BY new_key ORDER BY updated_at DESC NULLS LAST, batch_id DESC,
                                      old_key) AS version
            FROM (SELECT o.order_key AS old_key, p.prefix || coalesce(o.order_id, '') AS new_key, o.updated_at,
                         o.batch_id
                  FROM orders o JOIN _siyu_prefixes p
                    ON p.format IS NOT DISTINCT FROM o.format AND p.source IS NOT DISTINCT FROM o.source
                   AND p.store IS NOT DISTINCT FROM o.store)
            """
        )
    finally:
        con.unregister("_siyu_prefixes")
    orders = con.execute("SELECT count(*) FROM _siyu_rekey").fetchall()[0][0]
    merged = con.execute("SELECT count(*) FROM _siyu_rekey WHERE version > 1").fetchall()[0][0]
    # a line of an order imported twice is there twice: keep the surviving version's
    con.execute(
        """
        DELETE FROM order_items WHERE rowid IN (
            SELECT row_id FROM (
                SELECT i.rowid AS row_id,
                       row_number() OVER (PARTITION BY r.new_key, i.item_key ORDER BY r.version) AS n
                FROM order_items i JOIN _siyu_rekey r ON i.order_key = r.old_key)
            WHERE n > 1)
        """
    )
    con.execute("DELETE FROM orders WHERE order_key IN (SELECT old_key FROM _siyu_rekey WHERE version > 1)")
    con.execute(
        """
        UPDATE orders SET legacy_key = orders.order_key, order_key = r.new_key
        FROM _siyu_rekey r WHERE orders.order_key = r.old_key
        """
    )
    con.execute(
        "UPDATE order_items SET order_key = r.new_key FROM _siyu_rekey r WHERE order_items.order_key = r.old_key"
    )
    con.execute("DROP TABLE _siyu_rekey")
    backend.create_table(CUSTOMER_ORDERS, customer_orders_expr(backend), overwrite=True)
    return {"orders": int(orders), "merged": int(merged)}


def copy_pii_to_summary(con, backend) -> dict:
    """customer_summary keeps its display record's encrypted `pii` (siyu.warehouse.summary) since it was
    added as a column; the rows already there read NULL until the next resolve: fill them from `records`."""
    con.execute(
        """
        UPDATE customer_summary SET pii = records.pii FROM records
        WHERE records.record_key = customer_summary.pii_record_key AND customer_summary.pii IS NULL
        """
    )
    filled = con.execute("SELECT count(*) FROM customer_summary WHERE pii IS NOT NULL").fetchall()[0][0]
    return {"customers": int(filled)}


# name -> function(raw connection, Ibis backend on it) -> report; applied in this order
UPGRADES = {"order_keys_by_platform": rekey_orders_by_platform, "summary_pii": copy_pii_to_summary}


def apply_upgrades(con, backend, *, fresh: bool) -> dict[str, dict]:
    """Run the upgrades this warehouse has not had (`fresh`: a warehouse created just now, which only
    records them). Returns the reports of those that ran."""
    done = {row[0] for row in con.execute(f"SELECT name FROM {TABLE}").fetchall()}
    reports = {}
    for name, upgrade in UPGRADES.items():
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            report = {"skipped": "new warehouse"} if fresh else upgrade(con, backend)
            con.execute(
                f"INSERT INTO {TABLE} VALUES (?, ?, ?)", [name, datetime.now(UTC), json.dumps(report)]
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        if not fresh:
            reports[name] = report
    return reports
