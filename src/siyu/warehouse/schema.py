"""Warehouse tables. Facts are appended with lineage; derived tables are replaced wholesale.

Identifiers and PII never appear in clear: `*_hash` columns are keyed hashes (siyu.core.pii.keyed_hash),
`pii`/`payload` are AES-GCM ciphertext, `*_masked` are what a role without the PII permission sees.
"""

from __future__ import annotations

import duckdb
import ibis
import ibis.expr.datatypes as dt
from django.conf import settings
from ibis.backends.sql.datatypes import DuckDBType

from siyu.core.errors import SiyuError
from siyu.warehouse.customer_orders import READ_MODELS
from siyu.warehouse.upgrades import apply_upgrades

MONEY = dt.Decimal(18, 2)
TS = dt.Timestamp(timezone="UTC")

TABLES: dict[str, ibis.Schema] = {
    "import_batches": ibis.schema(
        {
            "batch_id": "string",
            "source": "string",
            "format": "string",
            "file_name": "string",
            "file_sha256": "string",
            "started_at": TS,
            "finished_at": TS,
            "rows_read": "int64",
            "imported": "int64",
            "duplicates": "int64",
            "rejected": "int64",
            # JSON list of {"column", "id_type", "reason", "records"}: values of identifier columns that
            # are not identifiers (siyu.ingest.normalise.identifiers), kept in the raw rows, never linked
            "not_identifiers": "string",
        }
    ),
    # Every accepted raw row with lineage; its original columns live encrypted in raw_chunks.
    "raw_rows": ibis.schema(
        {
            "batch_id": "string",
            "source": "string",
            "format": "string",
            "file_name": "string",
            "row_number": "int64",
            "record_key": "string",
            "content_hash": "string",
            "chunk_no": "int32",
        }
    ),
    # The original columns of up to CHUNK_ROWS raw rows as one AES-GCM-encrypted Arrow IPC stream:
    # one encryption per chunk instead of per row keeps imports fast (docs/architecture.md).
    "raw_chunks": ibis.schema(
        {
            "batch_id": "string",
            "chunk_no": "int32",
            "first_row": "int64",
            "last_row": "int64",
            "payload": "binary",
        }
    ),
    # One row per distinct source record: an order (order exports), a contact (WeCom), a member (POS),
    # a `record_id` (generic). record_key = "<source>|<record_id>".
    "records": ibis.schema(
        {
            "record_key": "string",
            "source": "string",
            "format": "string",
            "record_kind": "string",
            "record_id": "string",
            "batch_id": "string",
            "file_name": "string",
            "row_number": "int64",
            "name_hash": "string",
            "name_masked": "string",
            "phone_hash": "string",
            "phone_masked": "string",
            "phone_tail": "string",
            "phone_kind": "string",
            "email_hash": "string",
            "email_masked": "string",
            "gender": "string",
            "birthday": "date",
            "province": "string",
            "city": "string",
            "district": "string",
            "city_tier": "int16",
            "tags": "array<string>",
            "owner_staff": "string",
            "store": "string",
            "pii": "binary",
            "seen_at": TS,
            "imported_at": TS,
        }
    ),
    "identifiers": ibis.schema(
        {
            "record_key": "string",
            "source": "string",
            "id_type": "string",
            "value_hash": "string",
            "strong": "boolean",
            # what the quarantine page may show of the value (siyu.ingest.normalise.identifiers.mask_identifier);
            # null for rows imported before it was kept
            "value_masked": "string",
        }
    ),
    "orders": ibis.schema(
        {
            "order_key": "string",
            "source": "string",
            "format": "string",
            "order_id": "string",
            "record_key": "string",
            "status_raw": "string",
            "status_class": "string",
            "order_time": TS,
            "paid_time": TS,
            "amount": MONEY,
            "store": "string",
            "guide": "string",
            "batch_id": "string",
            "updated_at": TS,
            # the key the order had in a warehouse made before orders were keyed by platform
            # (siyu.warehouse.upgrades); journeys' enrollments name the order by it. NULL for later orders.
            "legacy_key": "string",
            # the coupon or discount code the order used, as the export gives it (--map …=coupon_code; Youzan's
            # 优惠券码); siyu.loyalty.coupons marks its coupons used by the purchases carrying their codes
            "coupon_code": "string",
        }
    ),
    "order_items": ibis.schema(
        {
            "order_key": "string",
            "item_key": "string",
            "product_id": "string",
            "product": "string",
            "sku": "string",
            "quantity": "int64",
            "amount": MONEY,
        }
    ),
    "events": ibis.schema(
        {
            "event_key": "string",
            "source": "string",
            "record_key": "string",
            "event_type": "string",
            "occurred_at": TS,
            "properties": "string",
            "batch_id": "string",
        }
    ),
    # Upgrades of stored data applied to this warehouse (siyu.warehouse.upgrades), one row each.
    "warehouse_upgrades": ibis.schema({"name": "string", "applied_at": TS, "report": "string"}),
    "customer_map": ibis.schema({"record_key": "string", "customer_id": "int64", "resolved_at": TS}),
    "merge_log": ibis.schema(
        {
            "run_id": "string",
            "merged_at": TS,
            "survivor_id": "int64",
            "absorbed_id": "int64",
            "rule": "string",
            "evidence": "string",
        }
    ),
    "identity_runs": ibis.schema(
        {
            "run_id": "string",
            "started_at": TS,
            "finished_at": TS,
            "records": "int64",
            "customers": "int64",
            "new_customers": "int64",
            "merges": "int64",
            "quarantined": "int64",
            # "full": every record resolved again; "incremental": only new records and the customers they
            # touch (siyu.identity.incremental)
            "mode": "string",
        }
    ),
    "quarantined_identifiers": ibis.schema(
        {
            "run_id": "string",
            "id_type": "string",
            "value_hash": "string",
            "records": "int64",
            "sources": "string",
            "reason": "string",
            # which rule (siyu.identity.guard): member_names, member_records, names, records, placeholder,
            # customer; the distinct names on its records and the limit it broke (null: placeholder)
            "rule": "string",
            "names": "int64",
            "rule_limit": "int64",
            "value_hint": "string",  # the masked value (or the placeholder itself)
            "example_record": "string",  # a record carrying it, for an operator to look at
            "since": TS,  # when it was first quarantined
        }
    ),
    # Pairs the probabilistic stage could not decide (between the review and match thresholds, or a
    # merge the household guard blocked): the review queue, replaced by every resolve run. `pattern` is
    # the pair's evidence pattern (siyu.identity.evidence.evidence_pattern); `queued` is false for pairs
    # kept apart because only what a household shares agrees (not shown as waiting for review).
    "match_candidates": ibis.schema(
        {
            "run_id": "string",
            "record_key_l": "string",
            "record_key_r": "string",
            "customer_id_l": "int64",
            "customer_id_r": "int64",
            "match_probability": "float64",
            "fields": "string",
            "reason": "string",
            "pattern": "string",
            "queued": "boolean",
        }
    ),
    # The joins between deterministic clusters that made the current customers, one record pair each:
    # `how` is "match" (scored at or above the match threshold; `match_probability` and the level of
    # each compared field in `fields`), "auto_rule" (below the threshold, linked by the automatic rule
    # `rule`) or "decision" (a reviewer's `same`, in match_decisions). The evidence a profile shows for
    # records no identifier joins; replaced by a full resolve run, appended to by an incremental one.
    "match_links": ibis.schema(
        {
            "run_id": "string",
            "linked_at": TS,
            "record_key_l": "string",
            "record_key_r": "string",
            "how": "string",
            "rule": "string",
            "match_probability": "float64",
            "fields": "string",
        }
    ),
    # Blocking keys of the probabilistic stage, as keyed 64-bit hashes (never the names and addresses they
    # are made of): an incremental run finds the existing records a new record must be compared with here.
    "match_keys": ibis.schema({"record_key": "string", "key_hash": "int64"}),
    # The model of the last full resolve run (one row): Splink's trained settings and its term-frequency
    # tables, both encrypted with the PII key (the tables hold names); `fingerprint` names the matching and
    # guard settings it was trained under. Incremental runs predict with it.
    "identity_models": ibis.schema(
        {
            "run_id": "string",
            "saved_at": TS,
            "fingerprint": "string",
            "model": "binary",
            "term_frequencies": "binary",
        }
    ),
    # Reviewers' and operators' verdicts on two records (manual merge = "same", split/undo = "different"),
    # append-only: the latest row per (record_key_a, record_key_b), keys in sorted order, is in force and is
    # applied by every resolve run.
    "match_decisions": ibis.schema(
        {
            "record_key_a": "string",
            "record_key_b": "string",
            "verdict": "string",
            "reason": "string",
            "match_probability": "float64",
            "decided_by": "string",
            "decided_at": TS,
            # the evidence pattern of the review rule that decided it (siyu.identity.actions.decide_by_rule)
            "rule": "string",
        }
    ),
    # One row per message sent (siyu.engagement): who was reached, through which channel, by what.
    "touches": ibis.schema(
        {
            "send_id": "int64",
            "customer_id": "int64",
            "channel": "string",
            "source": "string",
            "source_id": "string",
            "marketing": "boolean",
            "template": "string",
            "record_key": "string",
            "sent_at": TS,
        }
    ),
    # WeCom's chat archive (会话存档, siyu.community.archive): one row per archived message, keyed by msgid.
    # `sender`/`recipients` are staff userids or customers' external_userids (is_staff says which the sender
    # is); `room_id` is "" in a 1-on-1 chat; `text` is a text message's content or a short description of
    # other types; `source_file`/`line` are its lineage in the imported export.
    "chat_messages": ibis.schema(
        {
            "msgid": "string",
            "seq": "int64",
            "action": "string",
            "sender": "string",
            "is_staff": "boolean",
            "recipients": "array<string>",
            "room_id": "string",
            "sent_at": TS,
            "msgtype": "string",
            "text": "string",
            "source_file": "string",
            "line": "int64",
        }
    ),
    # Read model for the console and API, rebuilt after every import/resolve.
    "customer_summary": ibis.schema(
        {
            "customer_id": "int64",
            "record_count": "int64",
            "sources": "array<string>",
            "acquisition_source": "string",
            "acquired_at": TS,
            "name_masked": "string",
            "name_hash": "string",
            "phone_masked": "string",
            "phone_tail": "string",
            "phone_hash": "string",
            "gender": "string",
            "birthday": "date",
            "province": "string",
            "city": "string",
            "district": "string",
            "first_purchase_at": TS,
            "last_purchase_at": TS,
            "orders": "int64",
            "spend": MONEY,
            "aov": MONEY,
            "stage": "string",
            "tags": "array<string>",
            "owner_staff": "string",
            "pii_record_key": "string",
            # that record's encrypted `pii` (records.pii), so that a page of customers is shown in clear
            # without reading `records` (a scan of every record: about 1 CPU-second at 1M customers)
            "pii": "binary",
        }
    ),
    # Every order with its record's customer id (orders joined to customer_map), kept equal to that join
    # by resolve and imports (siyu.warehouse.customer_orders): what segments, traits and analytics read.
    "customer_orders": ibis.schema(
        {
            "customer_id": "int64",
            "order_key": "string",
            "source": "string",
            "store": "string",
            "status_class": "string",
            "order_time": TS,
            "amount": MONEY,
        }
    ),
    # Every (customer, channel, record kind, store) the customer's records show, with the first time a
    # record of it was seen (NULL when none has a time): records joined to customer_map and grouped, kept
    # by resolve (siyu.warehouse.customer_orders); what the analytics pages read instead of that join.
    "customer_channels": ibis.schema(
        {
            "customer_id": "int64",
            "source": "string",
            "record_kind": "string",
            "store": "string",
            "first_seen": TS,
        }
    ),
    # Traits per customer as of a cut-off instant (siyu.segments.traits): every current refresh replaces
    # the previous current snapshot; snapshots asked for with `siyu traits --as-of` are kept (backtesting).
    "customer_traits": ibis.schema(
        {
            "customer_id": "int64",
            "as_of": TS,
            "first_purchase_at": TS,
            "last_purchase_at": TS,
            "orders_total": "int64",
            "spend_total": MONEY,
            "recency_days": "int64",
            "frequency": "int64",
            "monetary": MONEY,
            "r_score": "int16",
            "f_score": "int16",
            "m_score": "int16",
            "rfm_layer": "string",
            "value_layer": "string",
            "priced_orders": "int64",
            "discount_order_share": "float64",
            "discount_depth": "float64",
            "lifecycle_stage": "string",
            "aipl_stage": "string",
            "purchase_cycle_days": "float64",
            "next_purchase_due": "date",
            "due_in_days": "int64",
            "computed_tags": "array<string>",
        }
    ),
    # The stage of each customer in each custom stage set (no row: no stage of the set matched).
    "customer_stages": ibis.schema(
        {"customer_id": "int64", "as_of": TS, "stage_set": "string", "stage": "string"}
    ),
    # One row per stored traits snapshot; `current` marks the one the console, API and exports show.
    "trait_runs": ibis.schema(
        {
            "as_of": TS,
            "current": "boolean",
            "computed_at": TS,
            "customers": "int64",
            "seconds": "float64",
            "settings": "string",
        }
    ),
    # Predictions per customer as of a cut-off (siyu.segments.predictions): purchase propensity over
    # `horizon_days` and CLV (BG/NBD + Gamma-Gamma; NULL for customers who never bought). Snapshots are
    # kept like the traits': the current one is replaced by each refresh, `--as-of` ones are kept.
    "customer_predictions": ibis.schema(
        {
            "customer_id": "int64",
            "as_of": TS,
            "horizon_days": "int32",
            "p_purchase": "float64",
            "expected_transactions": "float64",
            "p_alive": "float64",
            "expected_aov": MONEY,
            "clv": MONEY,
            "model_version": "string",
        }
    ),
    # One row per stored predictions snapshot; `report` is its JSON report (training, calibration on the
    # time-split holdout, fitted CLV parameters).
    "prediction_runs": ibis.schema(
        {
            "as_of": TS,
            "current": "boolean",
            "computed_at": TS,
            "horizon_days": "int32",
            "customers": "int64",
            "seconds": "float64",
            "model_version": "string",
            "settings": "string",
            "report": "string",
        }
    ),
    # The current members of each segment (siyu.segments): a refresh inserts who entered and deletes
    # who left; `entered_at` is when the customer last entered.
    "segment_members": ibis.schema({"segment_id": "int64", "customer_id": "int64", "entered_at": TS}),
    # Every enter and exit of a segment, append-only: change is "enter" or "exit".
    "segment_changes": ibis.schema(
        {"segment_id": "int64", "customer_id": "int64", "change": "string", "changed_at": TS}
    ),
    # Every stay of a member in a WeCom customer group (siyu.community.groups keeps it equal to its
    # GroupMember rows, replaced per group): left_at NULL while they are in it. What group health and the
    # segment conditions "in group type Y" / "left a group within 7 days" read.
    "group_members": ibis.schema(
        {
            "chat_id": "string",
            "group_type": "string",
            "owner_userid": "string",
            "member_id": "string",
            "is_staff": "boolean",
            "customer_id": "int64",
            "joined_at": TS,
            "left_at": TS,
            "join_scene": "int16",
            "quit_scene": "int16",
            # the state of the join way (group code) the member came through: acquisition's attribution
            "join_state": "string",
        }
    ),
    # Loyalty's state per member as the control plane holds it, mirrored set-wise by siyu.loyalty.mirror
    # (replaced whole by every mirror run): what the segment conditions on points, tier and check-in read.
    # points_expiring_30d: points whose lots expire within 30 days; tier_code is the tier's id as text, a higher
    # tier_rank a better tier;
    # checkin_streak is the streak still alive at the mirror (0 when the member missed yesterday);
    # last_checkin_on is a local date (TIME_ZONE).
    "loyalty_members": ibis.schema(
        {
            "customer_id": "int64",
            "points_available": "int64",
            "points_pending": "int64",
            "points_expiring_30d": "int64",
            "tier_code": "string",
            "tier_name": "string",
            "tier_rank": "int32",
            "tier_since": TS,
            "checkin_streak": "int32",
            "last_checkin_on": "date",
            "coupons_held": "int64",
            "coupons_used": "int64",
            "updated_at": TS,
        }
    ),
    # Every coupon issued to a customer, mirrored from the control plane (siyu.loyalty.mirror, replaced
    # whole): status "unused" | "used" | "expired" | "void" as the coupons part says at the mirror.
    "loyalty_coupons": ibis.schema(
        {
            "customer_id": "int64",
            "coupon_id": "int64",
            "template_id": "int64",
            "template_name": "string",
            "status": "string",
            "issued_at": TS,
            "used_at": TS,
            "expires_at": TS,
        }
    ),
    # Survey answers, one row per chosen option (or the value of a scale / text question) of each submitted
    # response (siyu.surveys.mirror, replaced whole): what the segment condition "answered X to Q" reads.
    "survey_answers": ibis.schema(
        {
            "customer_id": "int64",
            "survey_id": "int64",
            "question_id": "string",
            "answer": "string",
            "submitted_at": TS,
        }
    ),
    # How far each mirror of control-plane state has read (siyu.loyalty.mirror, siyu.surveys.mirror, through
    # siyu.warehouse.mirrors): one row per stream ("loyalty": the instant of its last run) and per part of it
    # ("loyalty:points"…): the largest primary key read of append-only rows (`last_id`), or the latest change
    # stamp read of rows whose status changes (`last_stamp`). The next run reads what was written after.
    "mirror_watermarks": ibis.schema({"stream": "string", "mirrored_at": TS, "last_id": "int64", "last_stamp": TS}),
    # Rows a mirror part read whose customer customer_map did not know yet (its event needs their anchor
    # record): read again by id on each run until written, or dropped after siyu.warehouse.mirrors.PENDING_DAYS;
    # and (`missing`) ids below the part's last_id not read yet (a transaction still open, or rolled back),
    # looked for until GAP_HOURS pass.
    "mirror_pending": ibis.schema({"stream": "string", "row_id": "int64", "since": TS, "missing": "boolean"}),
    # Pairs of customer groups sharing most of their current members, as the last group sync found them
    # (siyu.community.groups; replaced wholesale): the flags the group health page shows.
    "group_duplicates": ibis.schema(
        {"chat_a": "string", "chat_b": "string", "shared": "int64", "share": "float64", "found_at": TS}
    ),
}


def ensure_schema(con) -> None:
    """Create missing tables and add columns a newer version declares to existing ones (nullable, so
    older rows read as NULL). `con` is a raw DuckDB connection (called once when it opens) or, on Spark,
    the process's SparkSession (the tables are created at settings.WAREHOUSE_LOCATION and registered in
    the session's catalog: siyu.warehouse.spark_store)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        ensure_spark_schema(con)
        return
    ensure_duckdb_schema(con)


def ensure_spark_schema(session) -> list[str]:
    """The tables on Spark: each a versioned Parquet table at WAREHOUSE_LOCATION/<table>, read with the
    declared schema (a column added since a file was written reads as NULL, so there is nothing to alter).
    Returns the tables created."""
    from siyu.warehouse import spark_store

    if settings.WAREHOUSE_FORMAT != "parquet":
        raise SiyuError(
            f"SIYU_WAREHOUSE_FORMAT={settings.WAREHOUSE_FORMAT}: the Spark warehouse keeps its tables as parquet "
            "(Delta Lake and Iceberg need jars this installation does not ship; docs/architecture.md)"
        )
    return spark_store.ensure_tables(session)


def ensure_duckdb_schema(con) -> None:
    """ensure_schema on DuckDB."""
    backend = ibis.duckdb.from_connection(con)
    existing = set(backend.list_tables())

    for name, schema in TABLES.items():
        if name not in existing:
            backend.create_table(name, schema=schema)
            if name in READ_MODELS and "customer_map" in existing:
                # a warehouse from before the table: fill it from what is there (siyu.warehouse.customer_orders)
                backend.insert(name, READ_MODELS[name](backend))
            continue
        present = set(backend.get_schema(name).names)
        for column, dtype in schema.items():
            if column not in present:
                con.execute(f'ALTER TABLE {name} ADD COLUMN "{column}" {DuckDBType.to_string(dtype)}')
    # a new warehouse holds nothing to upgrade: every upgrade is recorded as applied
    apply_upgrades(con, backend, fresh="orders" not in existing)
