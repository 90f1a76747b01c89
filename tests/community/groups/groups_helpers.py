"""Functions shared by the customer-group tests."""

from __future__ import annotations

from siyu.core import pii


def know_customers(warehouse, by_record: dict[str, int], by_unionid: dict[str, int] = ()) -> None:
    """Customer-map rows (record key -> customer) and unionid identifiers of records of other sources."""
    con = warehouse.raw_connection()
    for key, cid in by_record.items():
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [key, cid])
    for unionid, cid in dict(by_unionid).items():
        key = f"mini|{unionid}"
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [key, cid])
        con.execute("INSERT INTO identifiers (record_key, source, id_type, value_hash, strong) VALUES (?, 'mini', "
                    "'unionid', ?, true)", [key, pii.keyed_hash(unionid)])  # fmt: skip
