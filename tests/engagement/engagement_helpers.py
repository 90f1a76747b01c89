"""Helpers shared by the engagement tests: a fixed clock and customers with addresses in the warehouse."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from siyu.core import pii

UTC = dt.UTC
# 10:00 in Shanghai on a Tuesday: outside quiet hours
NOON = dt.datetime(2026, 6, 2, 2, 0, tzinfo=UTC)


def add_customers(con, people: list[dict]) -> None:
    """people: {"customer_id", "phone", "email", "wecom": (external_userid, staff userid)} (any may be absent)."""
    records, cmap, summary = [], [], []
    seen = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for p in people:
        cid = p["customer_id"]
        if p.get("phone") or p.get("email"):
            records.append(
                {"record_key": f"shop|m{cid}", "source": "shop", "format": "pos", "record_kind": "member",
                 "record_id": f"m{cid}", "phone_kind": "mobile" if p.get("phone") else None,
                 "email_masked": pii.mask_email(p.get("email")), "owner_staff": None,
                 "pii": pii.encrypt_json({"phone": p.get("phone"), "email": p.get("email")}), "seen_at": seen}
            )  # fmt: skip
            cmap.append((f"shop|m{cid}", cid))
        if p.get("wecom"):
            ext, staff = p["wecom"]
            records.append(
                {"record_key": f"wecom|{ext}", "source": "wecom", "format": "wecom", "record_kind": "contact",
                 "record_id": ext, "phone_kind": None, "email_masked": None, "owner_staff": staff,
                 "pii": pii.encrypt_json({}), "seen_at": seen}
            )  # fmt: skip
            cmap.append((f"wecom|{ext}", cid))
        summary.append(cid)
    if records:
        table = pa.Table.from_pylist(records)
        con.register("new_records", table)
        con.execute("INSERT INTO records BY NAME SELECT * FROM new_records")
        con.unregister("new_records")
        con.executemany("INSERT INTO customer_map VALUES (?, ?, ?)", [(k, c, seen) for k, c in cmap])
    con.executemany(
        "INSERT INTO customer_summary (customer_id, record_count) VALUES (?, 1)", [(c,) for c in summary]
    )
