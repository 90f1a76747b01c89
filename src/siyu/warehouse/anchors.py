"""A customer's anchor record: the one record key an event written for a customer (not for a record) names.

Events link to customers through `record_key` (siyu.warehouse.schema "events"); something that happened to a
customer as a whole — points changed, a coupon used, a survey answered — is written against the customer's
smallest record key in `customer_map`. Any of their records would do: every reader joins events to
customer_map, so the event follows the customer through later merges (the anchor record moves with them).
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import pyarrow as pa


def anchor_record_keys(con: ibis.BaseBackend, customer_ids: Iterable[int]) -> dict[int, str]:
    """{customer_id: anchor record key} for the given ids that customer_map knows (one query for all)."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return {}
    wanted = ibis.memtable(pa.table({"customer_id": pa.array(ids, pa.int64())}))
    cmap = con.table("customer_map")
    mine = cmap.filter(cmap.customer_id.isin(wanted.customer_id))
    rows = mine.group_by("customer_id").aggregate(record_key=mine.record_key.min()).to_pyarrow()
    return dict(zip(rows.column("customer_id").to_pylist(), rows.column("record_key").to_pylist(), strict=True))
