"""Read → map → validate → normalise one file into warehouse-shaped Arrow tables (no writes here)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from siyu.core import pii
from siyu.ingest import masks, suppression, timing
from siyu.ingest.errors import UnrecognisedFile
from siyu.ingest.normalise import (
    identifier_problems,
    normalise_email,
    normalise_gender,
    normalise_names,
    normalise_phones,
    parse_addresses,
    parse_amounts,
    parse_birthday_column,
    parse_local_times,
    phone_problems,
)
from siyu.ingest.readers import read_table
from siyu.ingest.sources.formats import (
    SourceFormat,
    detect_format,
    generic_format,
    map_columns,
    status_class,
)
from siyu.ingest.timing import stage
from siyu.warehouse.order_keys import order_key_prefix, shop_scoped
from siyu.warehouse.orders import PURCHASE
from siyu.warehouse.schema import TABLES

_ORDER_KINDS = ("order", "sale")

# emit(part, **tables): a part of the batch is final and may be written (see prepare_frame)
Emit = Callable[..., None]


@dataclass
class Rejection:
    row: int
    column: str
    reason: str


@dataclass
class PreparedFile:
    path: Path
    source: str
    format: str
    batch_id: str
    encoding: str
    rows_read: int
    file_sha256: str | None
    columns: list[str]
    raw_rows: pa.Table
    # The parts below are None when prepare_frame handed them to `emit` (they are written already).
    accepted: pl.DataFrame | None  # the accepted rows' original columns (encrypted into raw_chunks on write)
    records: pa.Table | None
    identifiers: pa.Table | None
    orders: pa.Table | None
    order_items: pa.Table | None
    events: pa.Table | None
    rejected: list[Rejection] = field(default_factory=list)
    rejected_frame: pl.DataFrame | None = None
    # header -> the field (or `id:<type>`) it was read as: what the rejected rows file masks
    column_fields: dict[str, str] = field(default_factory=dict)
    # values of identifier columns that are not identifiers: {"column", "id_type", "reason", "records"}
    not_identifiers: list[dict] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # rows of erased people (siyu.ingest.suppression): dropped, neither landed nor kept as rejected
    suppressed: int = 0


def _arrow(frame: pl.DataFrame, table: str) -> pa.Table:
    """Cast a polars frame to the warehouse table's Arrow schema (columns it lacks become null)."""
    schema = TABLES[table].to_pyarrow()
    arrays = []
    for f in schema:
        if f.name in frame.columns:
            # polars' oldest Arrow layout (large_string, not string_view) casts to string about 3× faster.
            arrays.append(frame.get_column(f.name).to_arrow(compat_level=pl.CompatLevel.oldest()).cast(f.type))
        else:
            arrays.append(pa.nulls(frame.height, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def keyed_hashes(series: pl.Series) -> pl.Series:
    """pii.keyed_hash per distinct value when values repeat (masked names); mostly distinct values (phones,
    ids) are hashed in place, since mapping them back (replace_strict) costs almost as much as hashing."""
    uniques = series.drop_nulls().unique()
    if uniques.len() * 2 > series.len():
        return _keyed_hash_series(series).rename(series.name)
    hashes = _keyed_hash_series(uniques)
    # old/new as Series, not a dict: no Python round trip of the mapping (≈2× faster at 1M values).
    return series.replace_strict(uniques, hashes, default=None, return_dtype=pl.String)


def _keyed_hash_series(series: pl.Series) -> pl.Series:
    """pii.keyed_hash of each value, straight from the column's Arrow buffers."""
    hashes = pii.keyed_hash_array(series.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest()))
    return pl.from_arrow(hashes).cast(pl.String)


def _unique_map(series: pl.Series, fn, dtype) -> pl.Series:
    """Apply a scalar normaliser once per distinct value (exports repeat values a lot)."""
    uniques = series.drop_nulls().unique()
    mapping = {}
    for value in uniques.to_list():
        try:
            mapping[value] = fn(value)
        except ValueError:
            mapping[value] = None
    return series.replace_strict(mapping, default=None, return_dtype=dtype)


def _stable_hashes(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """MD5 of a row's original cells: stable across library versions (polars' own row hash is not),
    computed by an in-memory DuckDB, about twice as fast as hashlib per row."""
    cells = ", ".join(f'coalesce("{c.replace(chr(34), chr(34) * 2)}", chr(0))' for c in columns)
    cells_table = frame.select(columns).to_arrow()
    with duckdb.connect() as con:
        # In record batches, so that DuckDB hashes them on every core (one batch is scanned by one thread).
        con.register("cells", pa.Table.from_batches(cells_table.to_batches(max_chunksize=122_880), cells_table.schema))
        hashes = con.execute(f"SELECT md5(concat_ws(chr(31), {cells})) FROM cells").to_arrow_table()
    return pl.from_arrow(hashes.column(0)).rename("__hash__")


def prepare_file(
    path: Path,
    source: str,
    requested_format: str = "auto",
    mapping: dict[str, str] | None = None,
    emit: Emit | None = None,
) -> PreparedFile:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # which exact file a batch came from; hashlib releases the GIL, so this overlaps the read
        digest = pool.submit(_file_sha256, path)
        if timing.sequential():
            with stage("file SHA-256"):
                digest.result()
        prepared = _prepare_read_file(path, source, requested_format, mapping, emit)
        prepared.file_sha256 = digest.result()
    return prepared


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _prepare_read_file(path, source, requested_format, mapping, emit) -> PreparedFile:
    read = read_table(path)
    original_columns = read.columns
    frame = read.frame
    mapping = mapping or {}
    if requested_format == "generic":
        fmt, fields = generic_format(mapping, original_columns)
    else:
        fmt = detect_format(original_columns, requested_format)
        fields = map_columns(fmt, original_columns)
        if mapping:  # --map on a platform format adds or overrides fields and identifiers
            extra_fmt, extra_fields = generic_format(mapping, original_columns)
            fields.update(extra_fields)
            fmt = SourceFormat(
                **{
                    **fmt.__dict__,
                    "identifiers": {**fmt.identifiers, **extra_fmt.identifiers},
                    "kept_ids": extra_fmt.kept_ids,
                }
            )
    encoding, frames = read.encoding, [frame]
    del read, frame  # prepare_frame holds the only reference, so that it can free the frame early
    return prepare_frame(path, source, fmt, fields, frames.pop(), original_columns, encoding, emit)


def prepare_frame(
    path: Path,
    source: str,
    fmt: SourceFormat,
    fields: dict[str, str],
    frame: pl.DataFrame,
    original_columns: list[str],
    encoding: str,
    emit: Emit | None = None,
) -> PreparedFile:
    """`emit`, when given, is called with each part of the batch as soon as it is final, so that the
    importer writes it while the rest is prepared: ("raw_rows", raw_rows, accepted, batch_id), then
    ("orders", orders, order_items), ("records", records), ("identifiers", identifiers), ("events", events).
    Orders come before records because building records (hashes, encryption) is the slowest Python step."""
    batch_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    rows_read = frame.height
    # Content hashes need only the cells: DuckDB computes them on a helper thread (it releases the GIL)
    # while this one validates and normalises; they are waited for at the raw rows.
    with ThreadPoolExecutor(max_workers=1) as hashing:
        hashes = hashing.submit(_content_hashes, frame, original_columns)
        if timing.sequential():
            with stage("content hashes (MD5 in DuckDB)"):
                hashes.result()
        batch = _Batch(
            path=path,
            source=source,
            fmt=fmt,
            fields=fields,
            original_columns=original_columns,
            encoding=encoding,
            batch_id=batch_id,
            started_at=now,
            rows_read=rows_read,
            hashes=hashes,
            frame=frame,
        )
        del frame  # the batch holds the only reference, so that _split_rejected can free it (peak memory)
        return _prepare_batch(batch, emit)


@dataclass(eq=False)
class _Batch:
    """What flows between the stages of prepare_frame: one file's rows on their way to the warehouse.

    Each stage reads some of these and sets others; what no later stage needs is set to None as soon as it
    is done with (peak memory)."""

    path: Path
    source: str
    fmt: SourceFormat
    fields: dict[str, str]  # field -> the file's header (or headers) it is read from
    original_columns: list[str]
    encoding: str
    batch_id: str
    started_at: datetime
    rows_read: int
    hashes: Future[pl.Series]  # each row's content hash (_content_hashes), computed beside the stages
    frame: pl.DataFrame | None  # the file's cells as read, until _split_rejected
    # The rows as fields: one column per field and `id:<type>` per identifier column (_map_fields); from
    # _split_rejected on the accepted rows only, keyed (`record_key`), then normalised and keyed by order.
    rows: pl.DataFrame | None = None
    id_columns: dict[str, str] = field(default_factory=dict)  # id type -> its column in `rows`
    id_headers: dict[str, str] = field(default_factory=dict)  # id type -> the file's header of that column
    is_rejected: pl.Series | None = None  # per row of the file
    rejections: list[Rejection] = field(default_factory=list)
    # the accepted rows' original cells (encrypted into raw_chunks on write)
    accepted: pl.DataFrame | None = None
    rejected_frame: pl.DataFrame | None = None  # the rejected rows' original cells (None: no row rejected)
    not_identifiers: list[dict] = field(default_factory=list)  # see PreparedFile
    suppressed: pl.Series | None = None  # per row of the file: a row of an erased person (_drop_suppressed)

    @property
    def is_order(self) -> bool:
        """The rows are order lines: an order export, or any file with an order id."""
        return self.fmt.record_kind in _ORDER_KINDS or "order_id" in self.rows.columns

    @property
    def has_orders(self) -> bool:
        return self.is_order and "order_id" in self.rows.columns

    def reject(self, mask: pl.Series, column: str, reasons: str | pl.Series) -> None:
        """Reject the rows of `mask` that no earlier check rejected, for `reasons` (one, or one per row)."""
        new = mask & ~self.is_rejected
        rows = self.rows.get_column("__row__").filter(new).to_list()
        if isinstance(reasons, str):
            self.rejections.extend(Rejection(r, column, reasons) for r in rows)
        else:
            self.rejections.extend(
                Rejection(r, column, why) for r, why in zip(rows, reasons.filter(new).to_list(), strict=True)
            )
        self.is_rejected = self.is_rejected | new


class _Parts:
    """Hands each final part of a batch to `emit`, so that the importer writes it while the next one is
    built; keeps the parts for the PreparedFile only when nothing writes them (the writer holds them until
    they are written: peak memory)."""

    def __init__(self, emit: Emit | None, laps: timing.Laps):
        self._keep = emit is None
        self._emit = emit or (lambda part, **tables: None)
        self._laps = laps
        self._kept: dict[str, list] = {}

    def hand_over(self, part: str, *, built: str | None = None, **tables) -> None:
        """`built`: the stage that built the part, timed as a lap up to here (the emit times itself)."""
        if built is not None:
            self._laps.lap(built)
        self._emit(part, **tables)
        self._laps.restart()
        if self._keep:
            for name, table in tables.items():
                self._kept.setdefault(name, []).append(table)

    def hand_over_each(self, part: str, tables: Iterator[pa.Table]) -> None:
        """Each table of `part` as soon as it is built (the generator builds the next one meanwhile)."""
        for table in tables:
            self.hand_over(part, **{part: table})

    def kept(self, name: str):
        """What was handed over under `name` (parts concatenated); None when `emit` took it."""
        tables = self._kept.get(name)
        if not tables:
            return None
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _prepare_batch(batch: _Batch, emit: Emit | None) -> PreparedFile:
    """prepare_frame's stages, in order; each part of the batch goes to `emit` as soon as it is final."""
    laps = timing.Laps()
    parts = _Parts(emit, laps)
    # read and validate
    _map_fields(batch)
    _take_record_ids(batch)
    _join_names(batch)
    _parse_times(batch)
    _parse_amounts(batch)
    _drop_suppressed(batch)
    _split_rejected(batch)
    laps.lap("validate: ids, times, amounts, rejections")
    # normalise
    _normalise_fields(batch, laps)
    # build the warehouse's tables, each handed over as soon as it is final
    raw_rows = _lineage_rows(batch)
    parts.hand_over(
        "raw_rows",
        built="build: lineage rows",
        raw_rows=raw_rows,
        accepted=batch.accepted,
        batch_id=batch.batch_id,
    )
    batch.accepted = None
    _key_order_lines(batch)
    parts.hand_over(
        "orders", built="build: orders and items", orders=_orders(batch), order_items=_order_items(batch)
    )
    first = _first_rows(batch)
    laps.lap("build: records (first row per record)")
    parts.hand_over_each("records", _records_parts(batch, first))
    parts.hand_over(
        "identifiers", built="build: identifiers (keyed hashes)", identifiers=_identifiers(batch, first)
    )
    parts.hand_over("events", built="build: events", events=_events(batch, first))
    return PreparedFile(
        path=batch.path,
        source=batch.source,
        format=batch.fmt.name,
        batch_id=batch.batch_id,
        encoding=batch.encoding,
        rows_read=batch.rows_read,
        file_sha256=None,
        columns=batch.original_columns,
        raw_rows=raw_rows,
        accepted=parts.kept("accepted"),
        records=parts.kept("records"),
        identifiers=parts.kept("identifiers"),
        orders=parts.kept("orders"),
        order_items=parts.kept("order_items"),
        events=parts.kept("events"),
        rejected=sorted(batch.rejections, key=lambda r: r.row),
        rejected_frame=batch.rejected_frame,
        not_identifiers=batch.not_identifiers,
        suppressed=int(batch.suppressed.sum()) if batch.suppressed is not None else 0,
        column_fields=_column_fields(batch.fmt, batch.fields, batch.original_columns),
        started_at=batch.started_at,
    )


# --- read and validate -------------------------------------------------------------------------------


def _map_fields(batch: _Batch) -> None:
    """`rows`: each field from its column (empty cells filled from the format's fallback columns), and one
    `id:<type>` column per identifier column of the format; no row rejected yet."""
    fmt, columns = batch.fmt, batch.original_columns
    select = [pl.col("__row__")]
    select += [_with_fallbacks(_mapped_column(header), fmt.fallbacks.get(f, ()), header, columns).alias(f)
               for f, header in batch.fields.items()]  # fmt: skip
    for id_type, aliases in fmt.identifiers.items():
        header = next((a for a in aliases if a in columns), None)
        if header is None or (id_type == "phone" and batch.fields.get("phone") == header):
            continue  # the phone field's column is normalised and identified once (_normalise_fields)
        batch.id_columns[id_type] = f"id:{id_type}"
        batch.id_headers[id_type] = header
        select.append(pl.col(header).alias(f"id:{id_type}"))
    batch.rows = batch.frame.select(select)
    batch.is_rejected = pl.Series("bad", [False] * batch.rows.height, dtype=pl.Boolean)


def _take_record_ids(batch: _Batch) -> None:
    """The record id: the platform's own id, else (a generic file without one) the row's content hash; a
    row without one is rejected."""
    fmt, record_field = batch.fmt, batch.fmt.record_field
    if record_field not in batch.rows.columns:
        if fmt.name != "generic":
            expected = fmt.columns.get(record_field, (record_field,))[0]
            raise UnrecognisedFile(f"the file has no order id column ({expected})")
        batch.rows = batch.rows.with_columns(batch.hashes.result().alias(record_field))
    # A purchase history may carry only customer, time and amount (CDNOW): with no order id, each row is an
    # order identified by its content, so that a re-import still adds nothing twice.
    columns = batch.rows.columns
    if (
        fmt.name == "generic"
        and "order_id" not in columns
        and not {"order_time", "amount"}.isdisjoint(columns)
    ):
        batch.rows = batch.rows.with_columns(batch.hashes.result().alias("order_id"))
    missing = batch.rows.get_column(record_field).is_null()
    batch.reject(missing, batch.fields.get(record_field, record_field), "missing record id")


def _join_names(batch: _Batch) -> None:
    """A name from first and last name when the file has none: `First Last` in Latin letters, 姓名 run
    together otherwise."""
    columns = batch.rows.columns
    if "name" in columns or ("first_name" not in columns and "last_name" not in columns):
        return
    parts = [pl.col(p) for p in ("last_name", "first_name") if p in columns]
    both_latin = pl.concat_str(parts, separator="").str.contains(r"^[\x00-\x7f]*$")
    batch.rows = batch.rows.with_columns(
        pl.when(both_latin)
        .then(pl.concat_str([pl.col(p) for p in ("first_name", "last_name") if p in columns], separator=" ", ignore_nulls=True))
        .otherwise(pl.concat_str(parts, separator="", ignore_nulls=True))
        .alias("name")
    )  # fmt: skip


def _parse_times(batch: _Batch) -> None:
    """Times read as the brand's local time: an impossible order time rejects its row, an optional time
    that cannot be read is left missing; order lines without an order time column get an empty one."""
    if "order_time" in batch.rows.columns:
        times, errors = parse_local_times(batch.rows.get_column("order_time"))
        batch.reject(
            errors.is_not_null(), batch.fields["order_time"], "impossible date: " + errors.fill_null("")
        )
        batch.rows = batch.rows.with_columns(times.alias("order_time"))
    elif batch.is_order:
        batch.rows = batch.rows.with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("order_time"))
    for col in ("paid_time", "created_at"):
        if col in batch.rows.columns:
            times, _ = parse_local_times(batch.rows.get_column(col))
            batch.rows = batch.rows.with_columns(times.alias(col))


def _parse_amounts(batch: _Batch) -> None:
    """Amounts as decimals and quantities as whole numbers; a row with a cell that is neither is rejected."""
    for col in ("amount", "item_amount"):
        if col in batch.rows.columns:
            values, errors = parse_amounts(batch.rows.get_column(col))
            batch.reject(errors.is_not_null(), batch.fields[col], "not an amount: " + errors.fill_null(""))
            batch.rows = batch.rows.with_columns(values.alias(col))
    if "quantity" in batch.rows.columns:
        cells = batch.rows.get_column("quantity")
        qty = cells.str.replace_all(r"[,\s]", "").cast(pl.Int64, strict=False)
        batch.reject(cells.is_not_null() & qty.is_null(), batch.fields["quantity"], "not a whole number")
        batch.rows = batch.rows.with_columns(qty.alias("quantity"))


def _drop_suppressed(batch: _Batch) -> None:
    """Rows carrying an identifier of an erased person (siyu.ingest.suppression: the keyed hash of a phone,
    e-mail or platform id) are dropped: rejected without a rejection, so that neither the warehouse nor the
    rejected-rows file gets them back. Nothing is computed while the suppression list is empty."""
    if not suppression.active():
        return
    rows = batch.rows
    candidates: list[pl.Series] = []
    for column in ("phone", batch.id_columns.get("phone")):
        if column and column in rows.columns:
            phones = normalise_phones(rows.get_column(column))
            full = pl.select(
                pl.when(phones.get_column("phone_kind").is_in(["mobile", "landline"])).then(phones.get_column("phone"))
            ).to_series()
            candidates.append(full)
    if "email" in rows.columns:
        candidates.append(_unique_map(rows.get_column("email"), normalise_email, pl.String))
    for id_type, column in batch.id_columns.items():
        if id_type in ("phone", "email") or column not in rows.columns:
            continue
        values = rows.get_column(column).cast(pl.String)
        for form in (values, values.str.strip_chars()):
            candidates.append(pl.select(pl.concat_str([pl.lit(id_type + ":"), form])).to_series())
    if not candidates:
        return
    hashed = [keyed_hashes(c.cast(pl.String)) for c in candidates]
    found = suppression.suppressed({h for s in hashed for h in s.drop_nulls().unique().to_list()})
    if not found:
        return
    mask = pl.Series("suppressed", [False] * rows.height, dtype=pl.Boolean)
    for s in hashed:
        mask = mask | s.is_in(list(found)).fill_null(False)
    batch.suppressed = mask
    dropped = set(rows.get_column("__row__").filter(mask).to_list())
    batch.rejections = [r for r in batch.rejections if r.row not in dropped]
    batch.is_rejected = batch.is_rejected | mask


def _split_rejected(batch: _Batch) -> None:
    """The accepted rows go on, keyed by source and record id (`record_key`); the original cells are kept
    apart for accepted rows (lineage) and rejected ones (the rejected-rows file); the read frame is done with."""
    good = batch.rows.filter(~batch.is_rejected)
    batch.rows = None
    kept_apart = batch.is_rejected if batch.suppressed is None else batch.is_rejected & ~batch.suppressed
    batch.rejected_frame = batch.frame.filter(kept_apart) if batch.rejections else None
    batch.accepted = batch.frame.filter(~batch.is_rejected)
    batch.frame = None  # peak memory: the read frame is done with (and so is the mapped copy)
    record_key = pl.concat_str([pl.lit(batch.source + "|"), pl.col(batch.fmt.record_field)])
    batch.rows = good.with_columns(record_key.alias("record_key"))


# --- normalise -----------------------------------------------------------------------------------------


def _normalise_fields(batch: _Batch, laps: timing.Laps) -> None:
    """Phones, names, addresses, e-mails, genders and birthdays in their normal forms (`phone_norm`,
    `name_norm`, `addr_province`…) beside the cells as read; a phone or e-mail that is not one is kept, with
    its problem (`phone_problem`, `email_problem`)."""
    rows = batch.rows
    phones = normalise_phones(rows.get_column("phone")) if "phone" in rows.columns else None
    laps.lap("normalise: phones")
    names = normalise_names(rows.get_column("name")) if "name" in rows.columns else None
    laps.lap("normalise: names")
    if "street" in rows.columns:  # Douyin gives 街道 and 详细地址 apart
        rows = rows.with_columns(
            pl.concat_str([pl.col("street"), pl.col("address") if "address" in rows.columns else pl.lit(None)],
                          ignore_nulls=True).alias("address")
        )  # fmt: skip
    address = parse_addresses(
        rows.get_column("address")
        if "address" in rows.columns
        else pl.Series([None] * rows.height, dtype=pl.String),
        province=rows.get_column("province") if "province" in rows.columns else None,
        city=rows.get_column("city") if "city" in rows.columns else None,
        district=rows.get_column("district") if "district" in rows.columns else None,
    )
    laps.lap("normalise: addresses")
    normal = _normal_forms(rows, phones, names, address)
    batch.rows = rows.with_columns([s.alias(name) for name, s in normal.items()])
    laps.lap("normalise: email, gender, birthday")


def _normal_forms(
    rows: pl.DataFrame, phones: pl.DataFrame | None, names: pl.DataFrame | None, address: pl.DataFrame
) -> dict[str, pl.Series]:
    """The normalised columns, by name, from the normalisers' results."""
    cols: dict[str, pl.Series] = {}
    if phones is not None:
        # a number that is no one's (a filler, a range that does not exist) is kept but is not a full phone
        problem = phone_problems(rows.get_column("phone"), phones)
        kind = phones.get_column("phone_kind")
        cols["phone_norm"] = phones.get_column("phone")
        cols["phone_kind"] = pl.select(
            pl.when(kind.is_in(["mobile", "landline"]) & problem.is_not_null())
            .then(pl.lit("invalid"))
            .otherwise(kind)
        ).to_series()
        cols["phone_tail"] = phones.get_column("phone_tail")
        cols["phone_problem"] = problem
    if names is not None:
        cols["name_norm"] = names.get_column("name")
    if "email" in rows.columns:
        cols["email_norm"] = _unique_map(rows.get_column("email"), normalise_email, pl.String)
        cols["email_problem"] = identifier_problems("email", rows.get_column("email"))
    if "gender" in rows.columns:
        cols["gender_norm"] = _unique_map(rows.get_column("gender"), normalise_gender, pl.String)
    if "birthday" in rows.columns:
        cols["birthday_norm"] = parse_birthday_column(rows.get_column("birthday"))
    for key in ("province", "city", "district", "street", "city_tier"):
        cols[f"addr_{key}"] = address.get_column(key)
    return cols


# --- build the warehouse's tables --------------------------------------------------------------------


def _lineage_rows(batch: _Batch) -> pa.Table:
    """raw_rows: where each accepted row came from (file, row number, content hash) and the record it
    made. The content hashes are in by now."""
    return _arrow(
        batch.accepted.select(
            pl.lit(batch.batch_id).alias("batch_id"),
            pl.lit(batch.source).alias("source"),
            pl.lit(batch.fmt.name).alias("format"),
            pl.lit(batch.path.name).alias("file_name"),
            pl.col("__row__").alias("row_number"),
            batch.rows.get_column("record_key"),
            batch.hashes.result().filter(~batch.is_rejected).alias("content_hash"),
        ),
        "raw_rows",
    )


def _key_order_lines(batch: _Batch) -> None:
    """Each order line's `order_key`: keyed by platform (and store where numbers repeat per store), not by
    the source label (siyu.warehouse.order_keys); lines without an amount column get an empty one."""
    if not batch.has_orders:
        return
    fmt, source, rows = batch.fmt, batch.source, batch.rows
    no_store = order_key_prefix(fmt.name, source, None)
    prefix = pl.lit(no_store)
    if shop_scoped(fmt.name) and "store" in rows.columns:
        per_store = _unique_map(
            rows.get_column("store"), lambda s: order_key_prefix(fmt.name, source, s), pl.String
        )
        prefix = pl.lit(per_store.fill_null(no_store))
    rows = rows.with_columns(pl.concat_str([prefix, pl.col("order_id")]).alias("order_key"))
    if "amount" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Decimal(18, 2)).alias("amount"))
    batch.rows = rows


def _orders(batch: _Batch) -> pa.Table:
    """One row per order: its first line's id, status, times, store and guide; the order's amount (given on
    every line, or the sum of the lines' amounts); the first coupon code a line carries."""
    if not batch.has_orders:
        return _arrow(pl.DataFrame(), "orders")
    fmt, good = batch.fmt, batch.rows
    amount_agg = pl.col("amount").first() if fmt.amount_per_order else pl.col("amount").sum()
    agg = [
        pl.col("record_key").first(),
        pl.col("order_id").first(),
        (pl.col("status").first() if "status" in good.columns else pl.lit(None, dtype=pl.String)).alias("status_raw"),
        pl.col("order_time").first(),
        (pl.col("paid_time").first() if "paid_time" in good.columns else pl.lit(None, dtype=pl.Datetime("us", "UTC"))).alias("paid_time"),
        amount_agg.alias("amount"),
        (pl.col("store").first() if "store" in good.columns else pl.lit(None, dtype=pl.String)).alias("store"),
        (pl.col("owner_staff").first() if "owner_staff" in good.columns else pl.lit(None, dtype=pl.String)).alias("guide"),
        (pl.col("coupon_code").drop_nulls().first() if "coupon_code" in good.columns else pl.lit(None, dtype=pl.String)).alias("coupon_code"),
    ]  # fmt: skip
    orders = good.group_by("order_key", maintain_order=True).agg(agg)
    orders = orders.with_columns(
        _unique_map(orders.get_column("status_raw"), status_class, pl.String)
        .fill_null(PURCHASE)
        .alias("status_class")
        if orders.height
        else pl.lit(None, dtype=pl.String).alias("status_class"),
        pl.lit(batch.source).alias("source"),
        pl.lit(fmt.name).alias("format"),
        pl.lit(batch.batch_id).alias("batch_id"),
        pl.lit(batch.started_at).alias("updated_at"),
    )
    return _arrow(orders, "orders")


def _order_items(batch: _Batch) -> pa.Table:
    """One row per order line that names a product: its item id (else its place in the order), product,
    quantity and amount."""
    if not batch.has_orders:
        return _arrow(pl.DataFrame(), "order_items")
    fmt, good = batch.fmt, batch.rows
    line = pl.col("__row__").rank("ordinal").over("order_key").cast(pl.String)
    item_key = (
        pl.coalesce(pl.col("item_id"), pl.concat_str([pl.lit("#"), line]))
        if "item_id" in good.columns
        else pl.concat_str([pl.lit("#"), line])
    )
    item_amount = pl.col("item_amount") if "item_amount" in good.columns else (
        pl.col("amount") if not fmt.amount_per_order else pl.lit(None, dtype=pl.Decimal(18, 2))
    )  # fmt: skip
    if fmt.item_amount_per_unit and "item_amount" in good.columns and "quantity" in good.columns:
        item_amount = (item_amount * pl.col("quantity")).cast(pl.Decimal(18, 2))
    items = good.select(
        pl.col("order_key"),
        item_key.alias("item_key"),
        *[
            (pl.col(k) if k in good.columns else pl.lit(None, dtype=pl.String)).alias(k)
            for k in ("product_id", "product", "sku")
        ],
        (pl.col("quantity") if "quantity" in good.columns else pl.lit(1, dtype=pl.Int64)).alias("quantity"),
        item_amount.alias("amount"),
    ).filter(pl.col("product").is_not_null() | pl.col("product_id").is_not_null())
    return _arrow(items, "order_items")


def _first_rows(batch: _Batch) -> pl.DataFrame:
    """One row per record id (the first row wins), with only the columns records, identifiers and events are
    built from (peak memory: the rows are done with), the missing ones empty."""
    record_field, good = batch.fmt.record_field, batch.rows
    needed = {
        "record_key", record_field, "__row__", "name_norm", "phone_norm", "phone_kind", "phone_tail", "email_norm",
        "address", "gender_norm", "birthday_norm", "owner_staff", "store", "tags", "created_at", "order_time",
        "addr_province", "addr_city", "addr_district", "addr_city_tier", *batch.id_columns.values(),
        "nickname", "first_name", "last_name", "postcode", "phone_problem", "email_problem",
    }  # fmt: skip
    if record_field == "order_id":  # the record is the order: its key identifies the buyer (_identifiers)
        needed.add("order_key")
    first = good.select(c for c in good.columns if c in needed).unique(
        subset=["record_key"], keep="first", maintain_order=True
    )
    del good
    batch.rows = None
    for name, dtype in (
        ("name_norm", pl.String), ("phone_norm", pl.String), ("phone_kind", pl.String), ("phone_tail", pl.String),
        ("email_norm", pl.String), ("address", pl.String), ("gender_norm", pl.String), ("birthday_norm", pl.Date),
        ("owner_staff", pl.String), ("store", pl.String), ("tags", pl.String), ("created_at", pl.Datetime("us", "UTC")),
        ("nickname", pl.String), ("first_name", pl.String), ("last_name", pl.String), ("postcode", pl.String),
    ):  # fmt: skip
        if name not in first.columns:
            first = first.with_columns(pl.lit(None, dtype=dtype).alias(name))
    return first.with_columns(
        pl.when(pl.col("phone_kind").is_in(["mobile", "landline"]))
        .then(pl.col("phone_norm"))
        .alias("phone_full"),
        (pl.col("order_time") if "order_time" in first.columns else pl.col("created_at"))
        .fill_null(batch.started_at)
        .alias("seen_at"),
    )


def _records_parts(batch: _Batch, first: pl.DataFrame) -> Iterator[pa.Table]:
    """The records table in parts, so that the writer inserts one part while the next is hashed and
    encrypted."""
    for offset in range(0, max(first.height, 1), RECORDS_PART_ROWS):
        yield _records_part(first.slice(offset, RECORDS_PART_ROWS), batch)


def _identifiers(batch: _Batch, first: pl.DataFrame) -> pa.Table:
    """The identifiers table: a keyed hash per identifier value of each record; what was not an identifier
    goes to `not_identifiers`."""
    ids, batch.not_identifiers = _identifier_rows(first, batch.id_columns, batch.id_headers, batch.fields)
    identifiers = ids.select(
        "record_key",
        pl.lit(batch.source).alias("source"),
        "id_type",
        pl.lit(True).alias("strong"),
        "value_masked",
    ).with_columns(keyed_hashes(ids.get_column("v")).alias("value_hash"))
    return _arrow(identifiers, "identifiers")


def _events(batch: _Batch, first: pl.DataFrame) -> pa.Table:
    """The format's event (a member joining, a contact added…) of each record that has a creation time."""
    fmt = batch.fmt
    events = pl.DataFrame()
    if fmt.event_type and "created_at" in first.columns:
        ev = first.filter(pl.col("created_at").is_not_null())
        events = pl.DataFrame(
            {
                "event_key": (ev.get_column("record_key") + ":" + fmt.event_type),
                "source": [batch.source] * ev.height,
                "record_key": ev.get_column("record_key"),
                "event_type": [fmt.event_type] * ev.height,
                "occurred_at": ev.get_column("created_at"),
                "properties": _event_properties(
                    (ev.get_column("store") if "store" in ev.columns else pl.Series([None] * ev.height)).to_list(),
                    (ev.get_column("owner_staff") if "owner_staff" in ev.columns else pl.Series([None] * ev.height)).to_list(),
                ),
                "batch_id": [batch.batch_id] * ev.height,
            }
        )  # fmt: skip
    return _arrow(events, "events")


# --- helpers of the stages -------------------------------------------------------------------------------


def _mapped_column(header: str | tuple[str, ...]) -> pl.Expr:
    """A mapped field's column; the cells of several columns mapped to one field joined with a space."""
    if isinstance(header, str):
        return pl.col(header)
    joined = pl.concat_str([pl.col(h).str.strip_chars() for h in header], separator=" ", ignore_nulls=True)
    return pl.when(joined.str.len_chars() > 0).then(joined)


def _with_fallbacks(column: pl.Expr, fallbacks: tuple[str, ...], header, columns: list[str]) -> pl.Expr:
    """The column, with each empty cell taken from the first of `fallbacks` (headers) that has one."""

    def filled(expr: pl.Expr) -> pl.Expr:
        return pl.when(expr.str.strip_chars().str.len_chars() > 0).then(expr)

    others = [pl.col(h) for h in fallbacks if h in columns and h != header]
    return pl.coalesce(filled(column), *map(filled, others)) if others else column


def _content_hashes(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Each row's content hash (see _stable_hashes), identical lines within one file (the same item twice
    in an order) numbered so that they stay distinct rows."""
    if frame.height == 0:
        return pl.Series("__hash__", [], pl.String)
    content_hash = _stable_hashes(frame, columns)
    # Most files have no repeats, or a few: only the repeated rows are numbered (in file order, as the
    # whole column would be), not every row.
    repeated = content_hash.is_duplicated().arg_true()
    if repeated.len():
        repeat = pl.int_range(pl.len()).over("__hash__")
        numbered = (
            content_hash.gather(repeated)
            .to_frame()
            .select(
                pl.when(repeat == 0)
                .then(pl.col("__hash__"))
                .otherwise(pl.col("__hash__") + ":" + repeat.cast(pl.String))
                .alias("__hash__")
            )
            .to_series()
        )
        content_hash = content_hash.scatter(repeated, numbered)
    return content_hash


def _identifier_rows(
    first: pl.DataFrame, id_columns: dict[str, str], id_headers: dict[str, str], fields: dict[str, str]
) -> tuple[pl.DataFrame, list[dict]]:
    """The identifier rows (record_key, v, id_type) of a file's records, one per record and column, and what
    was not an identifier, counted per column and reason (siyu.ingest.normalise.identifiers).

    A value is an identifier when it is a plausible value of its type and, besides, not one value on every
    record of a file whose records show more than one person (their names, phones, e-mails or another
    identifier column differ): a column constant over a file of many people identifies none of them."""
    columns: list[tuple[str, str, pl.Series, pl.Series, pl.Series]] = []  # type, header, value, problem, mask
    if "phone_problem" in first.columns:
        phone = first.get_column("phone_full")
        header = _header_text(fields["phone"])
        columns.append(("phone", header, phone, first.get_column("phone_problem"), masks.mask_phones(phone)))
    if "email_problem" in first.columns:
        email = first.get_column("email_norm")
        header = _header_text(fields["email"])
        columns.append(("email", header, email, first.get_column("email_problem"), masks.mask_emails(email)))
    for id_type, column in id_columns.items():
        values = first.get_column(column)
        if id_type == "phone":
            norm = normalise_phones(values)
            problem = phone_problems(values, norm)
            values = norm.get_column("phone")
        else:
            problem = identifier_problems(id_type, values)
        masked = masks.mask_identifiers(id_type, values)
        if id_type not in ("phone", "email"):  # namespaced: ids of two types never collide
            values = pl.select(pl.concat_str([pl.lit(id_type + ":"), values])).to_series()
        columns.append((id_type, id_headers[id_type], values, problem, masked))

    valid = [(t, h, v, p.is_null() & v.is_not_null()) for t, h, v, p, _ in columns]
    if first.height >= 2:
        # the identity evidence of each column: how many distinct values its records carry
        evidence = {h: v.filter(ok).n_unique() for _, h, v, ok in valid}
        for key in ("name_norm", "phone_norm", "email_norm"):
            if key in first.columns:
                evidence[key] = first.get_column(key).drop_nulls().n_unique()
        constant = {
            h
            for _, h, v, ok in valid
            if ok.all() and evidence[h] == 1 and any(n > 1 for k, n in evidence.items() if k != h)
        }
    else:
        constant = set()

    frames, report = [], []
    for (id_type, header, values, problem, masked), (_, _, _, ok) in zip(columns, valid, strict=True):
        if header in constant:
            problem = pl.Series(["same_on_every_record"] * first.height, dtype=pl.String)
            ok = pl.Series([False] * first.height)
        counts = problem.filter(problem.is_not_null() & (problem != "empty")).value_counts(sort=True)
        report += [
            {"column": header, "id_type": id_type, "reason": reason, "records": n}
            for reason, n in counts.iter_rows()
        ]
        frames.append(
            first.select("record_key")
            .with_columns(values.alias("v"), pl.lit(id_type).alias("id_type"), masked.alias("value_masked"))
            .filter(ok)
        )
    if "order_key" in first.columns:
        # One order is one buyer: the same export imported under a second --source label gives a second
        # record of each order, joined to the first by the order's key (siyu.warehouse.order_keys) even
        # when the buyer's phone is masked and the platform gives no buyer id (Douyin). Not a value a
        # person typed: no validity check applies.
        frames.append(
            first.select(
                "record_key",
                ("order:" + pl.col("order_key")).alias("v"),
                pl.lit("order").alias("id_type"),
                pl.lit(None, pl.String).alias("value_masked"),
            ).drop_nulls("v")
        )
    empty = pl.DataFrame(schema=dict.fromkeys(("record_key", "v", "id_type", "value_masked"), pl.String))
    ids = pl.concat(frames) if frames else empty
    ids = ids.unique(subset=["record_key", "id_type", "v"], maintain_order=True)
    return ids, sorted(report, key=lambda r: (r["column"], -r["records"], r["reason"]))


def _header_text(header: str | tuple[str, ...]) -> str:
    """A mapped field's column as an operator names it (several columns joined into one field: all)."""
    return header if isinstance(header, str) else " + ".join(header)


def _column_fields(fmt: SourceFormat, fields: dict[str, str], columns: list[str]) -> dict[str, str]:
    present = set(columns)
    mapped = {
        header: f"id:{id_type}"
        for id_type, aliases in fmt.identifiers.items()
        for header in aliases
        if header in present
    }
    return mapped | {header: name for name, header in fields.items()}


# Two of DuckDB's row groups (122,880 rows each). Parts of a batch are separate INSERTs in one transaction:
# a part that ends inside a row group leaves it partly filled, and the checkpoint after the commit then
# rewrites the table's row groups (measured: 1.5–3.5 s per 800k-record file; aligned parts: none).
RECORDS_PART_ROWS = 2 * 122_880


def _records_part(first: pl.DataFrame, batch: _Batch) -> pa.Table:
    """The records table for some of a file's records (one row of `first` each)."""
    fmt = batch.fmt
    laps = timing.Laps()
    pii_json = first.select(
        pl.struct(
            pl.col("name_norm").alias("name"), pl.col("phone_norm").alias("phone"),
            pl.col("email_norm").alias("email"), pl.col("address"),
            # compared by the probabilistic stage: WeChat nicknames, and generic fields for `--compare`
            pl.col("nickname").str.strip_chars(), "first_name", "last_name", "postcode",
            *(pl.col(f"id:{t}").str.strip_chars() for t in fmt.kept_ids if f"id:{t}" in first.columns),
        ).struct.json_encode()
    ).to_series()  # fmt: skip
    records = first.select(
        "record_key",
        pl.lit(batch.source).alias("source"),
        pl.lit(fmt.name).alias("format"),
        pl.lit(fmt.record_kind).alias("record_kind"),
        pl.col(fmt.record_field).alias("record_id"),
        pl.lit(batch.batch_id).alias("batch_id"),
        pl.lit(batch.path.name).alias("file_name"),
        pl.col("__row__").alias("row_number"),
        masks.mask_names(first.get_column("name_norm")).alias("name_masked"),
        masks.mask_phones(first.get_column("phone_norm")).alias("phone_masked"),
        "phone_tail",
        "phone_kind",
        masks.mask_emails(first.get_column("email_norm")).alias("email_masked"),
        pl.col("gender_norm").alias("gender"),
        pl.col("birthday_norm").alias("birthday"),
        pl.col("addr_province").alias("province"),
        pl.col("addr_city").alias("city"),
        pl.col("addr_district").alias("district"),
        pl.col("addr_city_tier").cast(pl.Int16, strict=False).alias("city_tier"),
        _split_tags(pl.col("tags")).alias("tags"),
        "owner_staff",
        "store",
        "seen_at",
        pl.lit(batch.started_at).alias("imported_at"),
    )
    laps.lap("build: records: masks and PII JSON")
    records = records.with_columns(
        keyed_hashes(first.get_column("name_norm")).alias("name_hash"),
        keyed_hashes(first.get_column("phone_full")).alias("phone_hash"),
        keyed_hashes(first.get_column("email_norm")).alias("email_hash"),
    )
    laps.lap("build: records: keyed hashes")
    ciphertexts = pii.encrypt_array(pii_json.to_arrow(compat_level=pl.CompatLevel.oldest())).cast(pa.binary())
    laps.lap("build: records: AES-GCM")
    records_arrow = _arrow(records, "records").set_column(
        TABLES["records"].names.index("pii"), "pii", ciphertexts
    )
    laps.lap("build: records: Arrow table")
    return records_arrow


def _event_properties(stores: list, staff: list) -> list[str]:
    """json.dumps({"store", "staff"}) per event, once per distinct pair (a few hundred stores and guides)."""
    done: dict[tuple, str] = {}
    out = []
    for pair in zip(stores, staff, strict=True):
        text = done.get(pair)
        if text is None:
            text = done[pair] = json.dumps({"store": pair[0], "staff": pair[1]}, ensure_ascii=False)
        out.append(text)
    return out


def _split_tags(expr: pl.Expr) -> pl.Expr:
    """`客户等级:VIP，兴趣:护肤` → ["客户等级:VIP", "兴趣:护肤"]."""
    return (
        expr.str.replace_all(r"[，;；|、]", ",")
        .str.split(",")
        .list.eval(pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0))
    )
