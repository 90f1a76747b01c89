"""Helpers for code that handles large batches of rows in Python."""

from __future__ import annotations

import contextlib
import datetime
import gc
import itertools

from django.db import connection, transaction

# ids per SQL `IN (…)`: SQLite caps a statement's variables
IN_CHUNK = 2_000
# above this many customers, one scan of the table (or of their id range) beats chunks of IN (…)
SCAN_THRESHOLD = 20_000


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while a batch builds many objects that live until its
    end (requests, decisions, rows). Each allocation threshold otherwise re-walks every survivor: at a
    million sends a tick spent about 10 s of 51 s in it (docs/benchmarks.md). Reference counting still
    frees everything acyclic; the collector runs again after the batch."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


# page cache of a bulk write on SQLite (KiB): the connection's default (settings, 64 MB) holds a small part of
# a 20M-row ledger's indexes, so a million inserts spread over every customer re-read and re-spill the same
# pages (docs/benchmarks.md, `siyu bench loyalty`). Pages are allocated as used and freed on the way out.
BULK_CACHE_KIB = 1_048_576


@contextlib.contextmanager
def bulk_write_cache():
    """On SQLite, a large page cache (BULK_CACHE_KIB) and, when called outside a transaction (SQLite
    refuses it inside), in-memory temporary tables (sorts of INSERT … SELECT) for the duration of a bulk
    write, the connection's own settings restored after. Nothing on PostgreSQL (its shared buffers are the
    server's). Nested uses keep the outer one's cache (a job wraps the whole run, not each batch)."""
    if connection.vendor != "sqlite":
        yield
        return
    temp = None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache = int(cursor.fetchone()[0])
        if cache < 0 and -cache < BULK_CACHE_KIB:
            cursor.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        if not connection.in_atomic_block:
            cursor.execute("PRAGMA temp_store")
            temp = int(cursor.fetchone()[0])
            cursor.execute("PRAGMA temp_store=MEMORY")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size={cache}")
            if temp is not None:
                cursor.execute(f"PRAGMA temp_store={temp}")


def chunked(ids, size: int = IN_CHUNK):
    """Slices small enough for an SQL `IN (…)` on every control-plane database (SQLite caps variables)."""
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def within_id_range(rows, ids: set[int]):
    """The rows of a large batch of customers: by the range of their ids when the ids are dense (a
    journey's batch takes customers in order), else the whole table; the caller keeps only `ids`."""
    low, high = min(ids), max(ids)
    if high - low + 1 <= 4 * len(ids):
        return rows.filter(customer_id__gte=low, customer_id__lte=high)
    return rows


def insert_rows(
    model,
    columns: list[str],
    rows: list[tuple],
    *,
    ignore_conflicts: bool = False,
    batch: int = 5_000,
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """Plain INSERTs of `rows` (values in the order of `columns`, already in database form: see
    `db_values`) with one executemany per batch: several times faster than `bulk_create` of model instances
    at a million rows (docs/benchmarks.md, `siyu bench dispatch`). `ignore_conflicts`: a row that breaks a
    unique constraint is skipped (ON CONFLICT DO NOTHING, SQLite and PostgreSQL). `returning`: columns of
    the rows really inserted to return (multi-row INSERT … RETURNING, in no particular order), [] without."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    marks = f"({', '.join(['%s'] * len(columns))})"
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    table = quote(model._meta.db_table)
    # one transaction: on SQLite a commit per batch costs several times the inserts themselves
    with transaction.atomic(), connection.cursor() as cursor:
        if not returning:
            for start in range(0, len(rows), batch):
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES {marks}{conflicts}", rows[start : start + batch]
                )
            return []
        out = []
        back = ", ".join(quote(model._meta.get_field(c).column) for c in returning)
        per = 30_000 // len(columns)  # bound parameters per statement: SQLite allows 32,766
        if connection.vendor == "sqlite":
            # SQLite's own placeholder: Django rewrites each %s of a statement by regex (1.1 s at a
            # million enrollments for 11M of them) and leaves ? as it is
            marks = f"({', '.join(['?'] * len(columns))})"
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([marks] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {values}{conflicts} RETURNING {back}",
                list(itertools.chain.from_iterable(chunk)),
            )
            out += cursor.fetchall()
        return out


def select_in(model, columns: list[str], column: str, values: list, *, for_update: bool = False) -> list[tuple]:
    """Plain `SELECT columns … WHERE column IN (values)` (chunks of IN_CHUNK; `for_update`: FOR UPDATE where
    the database has it), rows as the driver returns them (no field conversion: a Decimal may come back a
    float or an int on SQLite). Django's preparation of an IN list costs 7 µs a value: 1.4 s of the earn job's
    15 s at 200,000 orders (docs/benchmarks.md)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    where = quote(model._meta.get_field(column).column)
    mark = "?" if connection.vendor == "sqlite" else "%s"  # SQLite's own: no rewrite of every %s
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    out: list[tuple] = []
    with connection.cursor() as cursor:
        for chunk in chunked(values):
            cursor.execute(f"SELECT {names} FROM {quote(model._meta.db_table)} WHERE {where} IN "
                           f"({', '.join([mark] * len(chunk))}){lock}", chunk)  # fmt: skip
            out += cursor.fetchall()
    return out


def db_values(model, column: str):
    """A converter of Python values of a model field to their database form, remembering what it has
    converted (a batch repeats the same time, template and variables many times)."""
    field = model._meta.get_field(column)
    if field.get_internal_type() in (
        "CharField",
        "TextField",
        "BigIntegerField",
        "BooleanField",
        "SmallIntegerField",
        "PositiveSmallIntegerField",
        "IntegerField",
    ):
        return lambda value: value
    cache: dict = {}
    prepare = lambda value: field.get_db_prep_save(value, connection)  # noqa: E731
    if field.get_internal_type() == "DateTimeField":
        adapt = connection.ops.adapt_datetimefield_value

        def prepare(value):
            # an aware datetime straight to the backend's form: the field's own checks (a naive value, a
            # string) cost 9 µs a value, 3 of 19 s of the earn job's 200,000 orders (distinct paid times)
            if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                return adapt(value)
            return field.get_db_prep_save(value, connection)

    def convert(value):
        key = id(value) if isinstance(value, dict | list) else value
        if key not in cache:
            cache[key] = (value, prepare(value))
        return cache[key][1]

    return convert
