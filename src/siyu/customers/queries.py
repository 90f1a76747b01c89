"""Read side of customers: the list/search, the profile, tags and consent.

The customer itself (identities, orders, totals) is read from the warehouse through Ibis
(`siyu.warehouse.backend()`); its operational state (owner, tags, notes, consent) from the control plane.
Who may see which customer:

- admin, operator: every customer;
- manager: customers owned by the guides of their store (and by the manager);
- guide: only the customers they own (`CustomerState.owner`).

Clear PII (name, phone, email, address) is decrypted only for roles allowed to see it
(`siyu.staff.queries.can_view_pii`) and only for the rows shown; every clear view is written to the audit log.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import UTC, date
from decimal import Decimal
from typing import Annotated

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from ninja import Path
from pydantic import Field

from siyu import warehouse
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.batches import chunked
from siyu.core.errors import PermissionDenied
from siyu.customers.errors import CustomerNotFound
from siyu.customers.models import (
    PERSONALISED,
    Consent,
    CustomerState,
    CustomerTag,
    Note,
    ProfileCorrection,
    Tag,
    TagGroup,
)
from siyu.staff.models import Role
from siyu.staff.queries import (
    can_view_pii,
    display_name_of,
    display_names,
    guides_of_store,
    role_of,
    store_of,
)
from siyu.warehouse.paging import page_of

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 200
MAX_TIMELINE_EVENTS = 200
CUSTOMER_ID_MAX = 2**63 - 1
# a customer id as the API takes it (DuckDB's BIGINT holds it)
CustomerId = Annotated[int, Field(ge=1, le=CUSTOMER_ID_MAX)]
CustomerIdPath = Annotated[int, Path(ge=1, le=CUSTOMER_ID_MAX, description="customer id")]
ORDERINGS = ("recent", "id")
# Every channel a send can reach a customer on has its own consent (siyu.engagement.messaging.policy's
# CONSENT_CHANNEL maps each send channel to one of these; a test keeps the two in step), plus:
# `phone`: calls; `guide`: 1-on-1 contact by a guide (guide tasks); `ugc`: the brand may use the customer's
# buyer shows; `all`: every channel at once; `personalised` (PERSONALISED): not a channel but the
# customer's choice about profiling-based marketing (PIPL art. 24), recorded like any consent.
CONSENT_CHANNELS = (
    "wecom", "sms", "email", "official_account", "mini_program", "webhook", "phone", "guide", "ugc", "all",
    PERSONALISED,
)  # fmt: skip
TAG_SEPARATORS = (":", "：")


@dataclass
class CustomerPage:
    items: list[dict]
    total: int
    page: int
    pages: int
    page_size: int = 50
    filters: dict = field(default_factory=dict)


# --- scope ---------------------------------------------------------------------------------------


def visible_owner_ids(user) -> list[int] | None:
    """None: the user sees every customer; else the owners whose customers the user sees."""
    role = role_of(user)
    if role in (Role.ADMIN, Role.OPERATOR):
        return None
    if role == Role.MANAGER:
        store_id = store_of(user)
        owners = set(guides_of_store(store_id)) if store_id else set()
        owners.add(user.pk)
        return sorted(owners)
    if role == Role.GUIDE:
        return [user.pk]
    raise PermissionDenied("this account has no staff role; ask an admin to give it one")


def visible_customer_ids(user) -> set[int] | None:
    """None means all customers."""
    owners = visible_owner_ids(user)
    if owners is None:
        return None
    return set(CustomerState.objects.filter(owner_id__in=owners).values_list("customer_id", flat=True))


def can_access(user, customer_id: int) -> bool:
    owners = visible_owner_ids(user)
    if owners is None:
        return True
    return CustomerState.objects.filter(customer_id=customer_id, owner_id__in=owners).exists()


def check_access(user, customer_ids) -> None:
    """PermissionDenied unless `user` may see and act on every one of `customer_ids`."""
    ids = {int(customer_ids)} if isinstance(customer_ids, int) else {int(i) for i in customer_ids}
    owners = visible_owner_ids(user)
    if owners is None or not ids:
        return
    allowed: set[int] = set()
    for chunk in chunked(sorted(ids)):
        allowed.update(
            CustomerState.objects.filter(customer_id__in=chunk, owner_id__in=owners).values_list(
                "customer_id", flat=True
            )
        )
    denied = ids - allowed
    if denied:
        shown = ", ".join(str(i) for i in sorted(denied)[:5]) + (" …" if len(denied) > 5 else "")
        if role_of(user) == Role.GUIDE:
            raise PermissionDenied(f"customer {shown} is not one of your customers")
        raise PermissionDenied(f"customer {shown} is not a customer of your store")


# --- warehouse helpers ---------------------------------------------------------------------------


def _table(name: str):
    return warehouse.backend().table(name)


def _ids_table(ids):
    return ibis.memtable(pa.table({"customer_id": pa.array(sorted(ids), pa.int64())}))


def _rows(expr, customer_id: int | None = None) -> list[dict]:
    """The rows of `expr`; `customer_id`: the value of _CUSTOMER in it."""
    return expr.to_pyarrow(params=None if customer_id is None else {_CUSTOMER: customer_id}).to_pylist()


def _scalar(expr):
    return expr.to_pyarrow().as_py()


def existing_customer_ids(customer_ids) -> set[int]:
    """Those of `customer_ids` that are customers in the warehouse read model."""
    ids = {int(i) for i in customer_ids if 0 < int(i) <= CUSTOMER_ID_MAX}
    if not ids:
        return set()
    cs = _table("customer_summary")
    found = cs.filter(cs.customer_id.isin(_ids_table(ids).customer_id)).select("customer_id")
    return {row["customer_id"] for row in _rows(found)}


def merged_into(customer_id: int) -> int | None:
    """The surviving customer when `customer_id` was absorbed by a merge (following chains)."""
    log_table = _table("merge_log")
    current, seen = customer_id, {customer_id}
    for _ in range(20):
        expr = (
            log_table.filter((log_table.absorbed_id == current) & (log_table.rule != "split"))
            .order_by(ibis.desc(log_table.merged_at))
            .select("survivor_id")
            .limit(1)
        )
        rows = _rows(expr)
        if not rows or rows[0]["survivor_id"] in seen:
            break
        current = rows[0]["survivor_id"]
        seen.add(current)
    return None if current == customer_id else current


def require_customers(customer_ids) -> None:
    """CustomerNotFound unless every id is a customer in the warehouse."""
    ids = {int(i) for i in customer_ids}
    missing = ids - existing_customer_ids(ids)
    if missing:
        if len(missing) == 1:
            (only,) = missing
            raise CustomerNotFound(
                only, merged_into=merged_into(only) if 0 < only <= CUSTOMER_ID_MAX else None
            )
        raise CustomerNotFound(missing)


def _decrypt(blob) -> dict:
    if blob is None:
        return {}
    try:
        value = pii.decrypt_json(blob)
    except Exception:  # noqa: BLE001 - a wrong key or damaged value must not break the page
        log.warning("could not decrypt a PII value (was SIYU_PII_KEY changed?)")
        return {}
    return value if isinstance(value, dict) else {}


def _pii_by_record(record_keys) -> dict[str, dict]:
    keys = sorted({k for k in record_keys if k})
    if not keys:
        return {}
    records = _table("records")
    expr = records.filter(records.record_key.isin(keys)).select("record_key", "pii")
    return {row["record_key"]: _decrypt(row["pii"]) for row in _rows(expr)}


def _display_pii(summary_rows) -> dict[str, dict]:
    """pii_record_key -> the clear PII of customer_summary rows' display record: decrypted from the copy the
    summary keeps (`pii`), so that showing them reads no `records`; read from `records` for rows without the
    copy (written by hand, or on Spark before the next resolve)."""
    found = {
        row["pii_record_key"]: _decrypt(row["pii"])
        for row in summary_rows
        if row["pii_record_key"] and row.get("pii") is not None
    }
    missing = [row["pii_record_key"] for row in summary_rows if row["pii_record_key"] not in found]
    return found | _pii_by_record(missing)


def display_phone(phone: str | None) -> str | None:
    """A Chinese mobile stored as +86… is shown as the 11 digits people type."""
    if phone and phone.startswith("+86") and len(phone) >= 14:
        return phone[3:]
    return phone


def _money(value) -> str:
    if value is None:
        return "0.00"
    return str(Decimal(value).quantize(Decimal("0.01")))


def clean_text(value, limit: int = 200) -> str:
    """What a person typed, without control characters (which no database stores in text), trimmed."""
    text = "".join(ch for ch in str(value) if ch in "\t\n" or unicodedata.category(ch) != "Cc")
    return text.strip()[:limit]


def is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


# --- search --------------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s\-()]")


def _customers_with_record(predicate_on_records, corrected: set[int] = frozenset()):
    """The customers with a record that passes the predicate (and the `corrected` ones: a correction in
    force gave them the value searched for), looked up once (a scan of `records` and of `customer_map`) and
    given as a list of ids: left as a subquery, the list's count and its page would each run the scans
    again."""
    records = _table("records")
    cmap = _table("customer_map")
    keys = records.filter(predicate_on_records(records)).record_key
    found = cmap.filter(cmap.record_key.isin(keys)).select("customer_id").distinct()
    return _ids_table({row["customer_id"] for row in _rows(found)} | set(corrected)).customer_id


def _search(q: str):
    """What a person types into the search box: an id, a phone tail, a phone, an email or a name. Returns
    (a function of customer_summary giving the condition, whether the condition reads other tables: the
    customers with a record that has the phone, email or name, looked up here once)."""
    text = q.strip()
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("+86") and is_number(compact[3:]):
        compact = compact[3:]
    elif compact.startswith("86") and len(compact) == 13 and is_number(compact):
        compact = compact[2:]
    if is_number(compact):
        phone_hash = pii.keyed_hash("+86" + compact) if len(compact) == 11 else None
        with_record = (
            _customers_with_record(lambda r: r.phone_hash == phone_hash, corrected_to("phone", phone_hash))
            if phone_hash
            else None
        )

        def by_number(cs):
            conditions = []
            if len(compact) <= 12 and int(compact) > 0:
                conditions.append(cs.customer_id == int(compact))
            if len(compact) == 4:
                conditions.append(cs.phone_tail == compact)
            if phone_hash is not None:
                conditions.append(cs.phone_hash == phone_hash)
                conditions.append(cs.customer_id.isin(with_record))
            return ibis.or_(*conditions) if conditions else ibis.literal(False)

        return by_number, with_record is not None
    if "@" in text:
        email_hash = pii.keyed_hash(text.lower())
        with_record = _customers_with_record(lambda r: r.email_hash == email_hash, corrected_to("email", email_hash))
        return (lambda cs: cs.customer_id.isin(with_record)), True
    name_hash = pii.keyed_hash(text)
    with_record = _customers_with_record(lambda r: r.name_hash == name_hash)
    return (
        lambda cs: ibis.or_(
            cs.name_hash == name_hash, cs.name_masked.startswith(text), cs.customer_id.isin(with_record)
        )
    ), True


# --- tags ----------------------------------------------------------------------------------------


def split_tag_label(label: str) -> tuple[str | None, str]:
    """`组名:标签` -> ("组名", "标签"); `标签` -> (None, "标签")."""
    text = (label or "").strip()
    for sep in TAG_SEPARATORS:
        if sep in text:
            group, _, name = text.partition(sep)
            if group.strip() and name.strip():
                return group.strip(), name.strip()
    return None, text


def find_tags(tag) -> list[Tag]:
    """Tags meant by `tag`: an id, a `组名:标签` label, or a bare name (every group that has it)."""
    text = clean_text(tag)
    if not text:
        return []
    if is_number(text):
        by_id = list(Tag.objects.filter(pk=int(text))) if int(text) <= CUSTOMER_ID_MAX else []
        if by_id:
            return by_id
    group, name = split_tag_label(text)
    if group is not None:
        exact = list(Tag.objects.filter(group__name=group, name=name))
        if exact:
            return exact
        name = text  # a tag whose own name contains a colon
    return list(Tag.objects.filter(name=name).select_related("group"))


def customers_with_tag(tag) -> set[int]:
    tags = find_tags(tag)
    if not tags:
        return set()
    return set(CustomerTag.objects.filter(tag__in=tags).values_list("customer_id", flat=True))


def _tag_dict(tag: Tag, **extra) -> dict:
    group = tag.group.name if tag.group_id else None
    return {
        "id": tag.pk,
        "name": tag.name,
        "group": group,
        "label": f"{group}:{tag.name}" if group else tag.name,
        **extra,
    }


def tag_groups() -> list[dict]:
    """Every tag group with its tags and how many customers carry each; ungrouped tags come last under a
    group with id None."""
    from django.db.models import Count

    tags = Tag.objects.select_related("group").annotate(customers=Count("customer_tags")).order_by("name")
    groups: dict[int | None, dict] = {
        g.pk: {"id": g.pk, "name": g.name, "tags": []} for g in TagGroup.objects.order_by("name")
    }
    ungrouped = {"id": None, "name": None, "tags": []}
    for tag in tags:
        target = groups.get(tag.group_id) if tag.group_id else ungrouped
        target["tags"].append(_tag_dict(tag, customers=tag.customers))
    result = list(groups.values())
    if ungrouped["tags"]:
        result.append(ungrouped)
    return result


def tags_of(customer_id: int) -> list[dict]:
    """The customer's tags, grouped ones first (by group, then name), ungrouped last."""
    links = sorted(
        CustomerTag.objects.filter(customer_id=customer_id).select_related("tag__group"),
        key=lambda link: (
            link.tag.group_id is None,
            link.tag.group.name if link.tag.group_id else "",
            link.tag.name,
        ),
    )
    return [_tag_dict(link.tag, source=link.source, tagged_at=link.created_at) for link in links]


# --- consent -------------------------------------------------------------------------------------


def consent_dict(consent: Consent) -> dict:
    return {
        "channel": consent.channel,
        "status": consent.status,
        "source": consent.source,
        "recorded_at": consent.recorded_at.astimezone(UTC),
        "recorded_by": display_name_of(consent.recorded_by) if consent.recorded_by_id else None,
    }


def consent_of(customer_id: int) -> dict[str, dict]:
    """The consent in force per channel: the latest record wins (by recorded time, then by entry order)."""
    latest: dict[str, dict] = {}
    for consent in (
        Consent.objects.filter(customer_id=customer_id)
        .select_related("recorded_by__staff")
        .order_by("-recorded_at", "-pk")
    ):
        latest.setdefault(consent.channel, consent_dict(consent))
    return latest


def is_opted_out(customer_id: int, channel: str) -> bool:
    """True when the latest consent for `channel` or for `all` channels is an opt-out."""
    latest = (
        Consent.objects.filter(customer_id=customer_id, channel__in=[channel, "all"])
        .order_by("-recorded_at", "-pk")
        .first()
    )
    return latest is not None and latest.status == Consent.Status.OPT_OUT


# --- owners and lifecycle ------------------------------------------------------------------------


def states_of(customer_ids) -> dict[int, CustomerState]:
    states = {}
    for chunk in chunked(customer_ids):
        states.update({s.customer_id: s for s in CustomerState.objects.filter(customer_id__in=chunk)})
    return states


def _stage_overrides() -> dict[int, str]:
    return dict(
        CustomerState.objects.exclude(lifecycle_override="").values_list("customer_id", "lifecycle_override")
    )


# --- list ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ResolvedFilters:
    """Filters of the list that a domain above customers answers (siyu.segments: the current traits), as
    given and as the customer ids they match: customers cannot import that domain (DESIGN.md §7), so the
    console and the API resolve them through it (siyu.segments.queries.customer_list_query)."""

    given: dict[str, str]  # name -> value, shown back with the page and written to the audit log
    customer_ids: ibis.Column


@dataclass(frozen=True)
class CustomerListQuery:
    """What one page of the customer list asks for: filters (combined with AND), the page and the order
    (`recent`: newest buyers first; `id`: by customer id). Texts are cleaned and numbers bounded by
    `cleaned()`, which list_customers applies."""

    q: str | None = None  # a customer id, the last 4 digits of a phone, a full phone, an e-mail or a name
    source: str | None = None  # a channel (import source) among the customer's
    tag: str | None = None  # a tag id, `组名:标签` or a tag name
    province: str | None = None
    stage: str | None = None  # lifecycle stage; an operator's override wins over the warehouse's
    page: int = 1
    page_size: int = 50
    order: str = "recent"
    resolved: ResolvedFilters | None = None

    def cleaned(self) -> CustomerListQuery:
        """Filter texts as a person meant them (an empty one: no filter), the page within bounds."""
        texts = {name: _filter_text(getattr(self, name)) for name in _TEXT_FILTERS}
        page, page_size = _page_numbers(self.page, self.page_size)
        return dataclass_replace(self, **texts, page=page, page_size=page_size)

    @property
    def filters(self) -> dict[str, str]:
        """The filters given, by name (the resolved ones last)."""
        given = {name: getattr(self, name) for name in _TEXT_FILTERS if getattr(self, name) is not None}
        return given | (self.resolved.given if self.resolved else {})


_TEXT_FILTERS = ("q", "source", "tag", "province", "stage")


def _filter_text(value) -> str | None:
    text = clean_text(value) if value is not None else ""
    return text or None


def list_customers(user, query: CustomerListQuery | None = None, /, **fields) -> CustomerPage:
    """One page of the customers `user` may see that pass `query` (or a CustomerListQuery of `fields`).

    Counting, ordering and paging happen in the warehouse; only the page's rows are decrypted."""
    if query is not None and fields:
        raise TypeError("list_customers takes a query or its fields, not both")
    query = (query if query is not None else CustomerListQuery(**fields)).cleaned()
    ids = _scope(user, query)
    if ids is not None and not ids:
        return _page(query, items=[], total=0)
    matching = _filtered(ids, query)
    total = int(_scalar(matching.count()))
    if total == 0 or query.page > _page_count(total, query):
        return _page(query, items=[], total=total)
    rows = _ordered_page(matching, query)
    return _page(query, items=_presented(user, rows, query), total=total)


def _scope(user, query: CustomerListQuery) -> set[int] | None:
    """The customers the user's role lets them see, narrowed to the tag's (None: every customer)."""
    ids = visible_customer_ids(user)
    if query.tag is not None:
        tagged = customers_with_tag(query.tag)
        ids = tagged if ids is None else ids & tagged
    return ids


def _filtered(ids: set[int] | None, query: CustomerListQuery) -> ibis.Table:
    """customer_summary's rows within `ids` (None: all) that pass the query's filters. When a filter reads
    another table, and the engine has row ids (DuckDB), the rows carry them (`row_id`, _ordered_page)."""
    search, search_reads_others = _search(query.q) if query.q is not None else (None, False)
    cs = _table("customer_summary")
    if ids is not None or query.resolved is not None or search_reads_others:
        with_row_ids = warehouse.table_with_row_ids("customer_summary")
        cs = cs if with_row_ids is None else with_row_ids
    predicates = []
    if ids is not None:
        predicates.append(cs.customer_id.isin(_ids_table(ids).customer_id))
    if search is not None:
        predicates.append(search(cs))
    if query.source is not None:
        predicates.append(cs.sources.contains(query.source))
    if query.province is not None:
        predicates.append(cs.province == query.province)
    if query.resolved is not None:
        predicates.append(cs.customer_id.isin(query.resolved.customer_ids))
    if query.stage is not None:
        predicates.append(_in_stage(cs, query.stage))
    return cs.filter(*predicates) if predicates else cs


def _in_stage(cs, wanted: str):
    """Customers in lifecycle stage `wanted`: the warehouse's stage, unless an operator moved them."""
    overrides = _stage_overrides()
    moved_in = [cid for cid, st in overrides.items() if st == wanted]
    moved_out = [cid for cid, st in overrides.items() if st != wanted]
    by_warehouse = cs.stage == wanted
    if moved_out:
        by_warehouse = by_warehouse & ~cs.customer_id.isin(moved_out)
    return ibis.or_(by_warehouse, cs.customer_id.isin(moved_in)) if moved_in else by_warehouse


def _page_numbers(page, page_size) -> tuple[int, int]:
    try:
        page = max(int(page or 1), 1)
    except (TypeError, ValueError):
        page = 1
    try:
        page_size = min(max(int(page_size or 50), 1), MAX_PAGE_SIZE)
    except (TypeError, ValueError):
        page_size = 50
    return page, page_size


def _page_count(total: int, query: CustomerListQuery) -> int:
    return math.ceil(total / query.page_size) if total else 0


_LIST_COLUMNS = (
    "customer_id", "name_masked", "phone_masked", "province", "city", "sources", "stage", "orders", "spend",
    "last_purchase_at", "pii_record_key", "pii",
)  # fmt: skip


def _ordered_page(matching: ibis.Table, query: CustomerListQuery) -> list[dict]:
    """The query's page of `matching`, in its order.

    Where the summary has row ids (DuckDB), the page's rows are found by the filter and order columns alone
    and then read by row id in the same statement: sorting the matching rows with every shown column (the
    encrypted PII among them) read cost a guide's page ≈ 330 CPU-ms at 1.77M customers, against ≈ 50 ms
    (docs/benchmarks.md)."""

    def in_order(table):
        if query.order == "id":
            return table.order_by(table.customer_id)
        return table.order_by([ibis.desc(table.last_purchase_at), table.customer_id])

    offset = (query.page - 1) * query.page_size
    if "row_id" not in matching.columns:
        # DuckDB reads the shown columns of the page's rows only when the query reads no other table
        return _rows(page_of(in_order(matching).select(*_LIST_COLUMNS), query.page_size, offset))
    everyone = warehouse.table_with_row_ids("customer_summary")
    page_ids = page_of(in_order(matching).select("row_id"), query.page_size, offset).row_id
    return _rows(in_order(everyone.filter(everyone.row_id.isin(page_ids))).select(*_LIST_COLUMNS))


def _presented(user, rows: list[dict], query: CustomerListQuery) -> list[dict]:
    """The page's rows as shown: clear name and phone for roles that may see them (each such view
    audited), masked ones otherwise; the stage an operator set; the owner's name."""
    clear = can_view_pii(user)
    clear_pii = _display_pii(rows) if clear else {}
    states = states_of(r["customer_id"] for r in rows)
    owner_names = display_names(s.owner_id for s in states.values() if s.owner_id)
    corrected = corrections_of_many([r["customer_id"] for r in rows], fields=("name", "phone"))
    items = []
    for row in rows:
        cid = row["customer_id"]
        state = states.get(cid)
        values = clear_pii.get(row["pii_record_key"] or "", {})
        if cid in corrected:  # a correction (PIPL art. 46) wins over the records, masked for those who see no PII
            fixed = corrected[cid]
            row = {**row, **{f"{f}_masked": _MASKS[f](v) for f, v in fixed.items()}}
            values = {**values, **fixed} if clear else values
        items.append(
            {
                "customer_id": cid,
                "name": (values.get("name") if clear else None) or row["name_masked"],
                "phone": (display_phone(values.get("phone")) if clear else None) or row["phone_masked"],
                "province": row["province"],
                "city": row["city"],
                "sources": list(row["sources"] or []),
                "stage": (state.lifecycle_override if state and state.lifecycle_override else None)
                or row["stage"],
                "orders": int(row["orders"] or 0),
                "spend": _money(row["spend"]),
                "last_purchase_at": row["last_purchase_at"],
                "owner": owner_names.get(state.owner_id) if state and state.owner_id else None,
            }
        )
    if clear and clear_pii:
        record_audit(
            user,
            "view_pii_list",
            target="customers",
            customer_ids=[i["customer_id"] for i in items],
            filters=query.filters,
        )
    return items


def _page(query: CustomerListQuery, *, items: list[dict], total: int) -> CustomerPage:
    return CustomerPage(
        items=items,
        total=total,
        page=query.page,
        pages=_page_count(total, query),
        page_size=query.page_size,
        filters=query.filters,
    )


# --- profile -------------------------------------------------------------------------------------


# The customer a profile's queries are about: a parameter, so that each query is compiled once for every
# customer (siyu.warehouse.connection.WarehouseDuckDBBackend) rather than once per customer.
_CUSTOMER = ibis.param(dt.int64)


def _record_keys():
    """The record keys of the customer _CUSTOMER, as a query: `isin` of it is a semi-join, whose keys DuckDB
    pushes into the scan of the other table; a literal list of the same keys is a filter above a scan of
    every column, about 4 times the CPU at 1M customers (docs/benchmarks.md)."""
    cmap = _table("customer_map")
    return cmap.filter(cmap.customer_id == _CUSTOMER).record_key


def _summary_row(customer_id: int) -> dict | None:
    cs = _table("customer_summary")
    rows = _rows(cs.filter(cs.customer_id == _CUSTOMER).limit(1), customer_id)
    return rows[0] if rows else None


def _identities(customer_id: int, clear: bool) -> list[dict]:
    records = _table("records")
    record_keys = _record_keys()
    expr = records.filter(records.record_key.isin(record_keys)).order_by(
        [records.seen_at, records.record_key]
    )
    rows = _rows(
        expr.select(
            "record_key",
            "source",
            "record_kind",
            "record_id",
            "name_masked",
            "phone_masked",
            "email_masked",
            "province",
            "city",
            "district",
            "store",
            "owner_staff",
            "pii",
            "seen_at",
        ),
        customer_id,
    )
    identities = []
    for row in rows:
        values = _decrypt(row["pii"])
        if clear:
            name = values.get("name") or row["name_masked"]
            phone = display_phone(values.get("phone")) or row["phone_masked"]
            email = values.get("email") or row["email_masked"]
            address = values.get("address")
        else:
            name = row["name_masked"] or pii.mask_name(values.get("name"))
            phone = row["phone_masked"] or pii.mask_phone(values.get("phone"))
            email = row["email_masked"] or pii.mask_email(values.get("email"))
            address = pii.mask_address(values.get("address"))
        identities.append(
            {
                "record_key": row["record_key"],
                "source": row["source"],
                "record_kind": row["record_kind"],
                "record_id": row["record_id"],
                "name": name,
                "phone": phone,
                "email": email,
                "address": address,
                "province": row["province"],
                "city": row["city"],
                "district": row["district"],
                "store": row["store"],
                "owner_staff": row["owner_staff"],
                "seen_at": row["seen_at"],
            }
        )
    return identities


def _orders(customer_id: int) -> list[dict]:
    orders = _table("orders")
    mine = orders.filter(orders.record_key.isin(_record_keys()))
    # An order re-imported with a new status is appended again: the latest version wins.
    latest = mine.mutate(
        _version=ibis.row_number().over(
            group_by=mine.order_key, order_by=[ibis.desc(mine.updated_at), ibis.desc(mine.batch_id)]
        )
    )
    latest = latest.filter(latest._version == 0).drop("_version")
    rows = _rows(
        latest.order_by([ibis.desc(latest.order_time), latest.order_key]).select(
            "order_key",
            "order_id",
            "source",
            "status_class",
            "status_raw",
            "order_time",
            "paid_time",
            "amount",
            "store",
            "guide",
        ),
        customer_id,
    )
    if not rows:
        return []
    items_table = _table("order_items")
    keys = [r["order_key"] for r in rows]
    items_expr = items_table.filter(items_table.order_key.isin(keys)).order_by(
        [items_table.order_key, items_table.item_key]
    )
    items_by_order: dict[str, list[dict]] = {}
    seen_items: set[tuple[str, str]] = set()
    for item in _rows(items_expr):
        ident = (item["order_key"], item["item_key"])
        if item["item_key"] is not None and ident in seen_items:
            continue  # the same line imported twice
        seen_items.add(ident)
        items_by_order.setdefault(item["order_key"], []).append(
            {
                "product_id": item["product_id"],
                "product": item["product"],
                "sku": item["sku"],
                "quantity": item["quantity"],
                "amount": None if item["amount"] is None else _money(item["amount"]),
            }
        )
    return [
        {
            "order_id": r["order_id"],
            "source": r["source"],
            "status_class": r["status_class"],
            "status_raw": r["status_raw"],
            "order_time": r["order_time"],
            "paid_time": r["paid_time"],
            "amount": _money(r["amount"]) if r["amount"] is not None else None,
            "store": r["store"],
            "guide": r["guide"],
            "items": items_by_order.get(r["order_key"], []),
        }
        for r in rows
    ]


def _events(customer_id: int, limit: int = MAX_TIMELINE_EVENTS) -> list[dict]:
    events = _table("events")
    expr = (
        events.filter(events.record_key.isin(_record_keys()))
        .order_by([ibis.desc(events.occurred_at), events.event_key])
        .select("event_key", "source", "event_type", "occurred_at", "properties")
        .limit(limit)
    )
    return _rows(expr, customer_id)


def note_dict(note: Note) -> dict:
    return {
        "id": note.pk,
        "text": note.text,
        "author": display_name_of(note.author) if note.author_id else None,
        "created_at": note.created_at,
    }


def _notes(customer_id: int) -> list[dict]:
    return [
        note_dict(n) for n in Note.objects.filter(customer_id=customer_id).select_related("author__staff")
    ]


def _timeline(orders, events, notes, consents) -> list[dict]:
    entries = []
    for order in orders:
        entries.append(
            {
                "at": order["order_time"],
                "kind": "order",
                "source": order["source"],
                "summary": f"{order['order_id']} ¥{order['amount'] or '0.00'} {order['status_raw'] or order['status_class'] or ''}".strip(),
                "ref": order["order_id"],
            }
        )
    for event in events:
        entries.append(
            {
                "at": event["occurred_at"],
                "kind": "event",
                "source": event["source"],
                "summary": event["event_type"] or "",
                "event_type": event["event_type"],
                "ref": event["event_key"],
            }
        )
    for note in notes:
        entries.append(
            {
                "at": note["created_at"],
                "kind": "note",
                "source": note["author"],
                "summary": note["text"],
                "ref": str(note["id"]),
            }
        )
    for consent in consents:
        entries.append(
            {
                "at": consent.recorded_at,
                "kind": "consent",
                "source": consent.source,
                "summary": f"{consent.channel}: {consent.status}",
                "channel": consent.channel,
                "status": consent.status,
                "ref": str(consent.pk),
            }
        )
    entries.sort(key=lambda e: (e["at"] is not None, e["at"].timestamp() if e["at"] else 0.0), reverse=True)
    return entries


# --- what is held about one person, for its copy (siyu.privacy.sections) ---------------------------------

MAX_COPY_EVENTS = 100_000


def record_keys_of(customer_id: int) -> list[str]:
    """The keys of every record now in this customer (after merges: the absorbed customers' too)."""
    return sorted(r["record_key"] for r in _rows(_record_keys().name("record_key").as_table(), int(customer_id)))


def identifier_hashes_of(customer_id: int, id_types) -> set[str]:
    """The keyed hashes (siyu.core.pii.keyed_hash) of the customer's identifiers of these types (e.g.
    external_userid): how a domain finds the person in data keyed by such an id."""
    identifiers = _table("identifiers")
    expr = identifiers.filter(identifiers.record_key.isin(_record_keys()) & identifiers.id_type.isin(list(id_types)))
    return {r["value_hash"] for r in _rows(expr.select("value_hash"), int(customer_id)) if r["value_hash"]}


def person_records(customer_id: int) -> list[dict]:
    """The customer's records with their PII in clear (the person's own copy)."""
    return _identities(int(customer_id), clear=True)


def person_orders(customer_id: int) -> list[dict]:
    return _orders(int(customer_id))


def person_events(customer_id: int) -> list[dict]:
    return _events(int(customer_id), limit=MAX_COPY_EVENTS)


# --- corrections (PIPL art. 46) -------------------------------------------------------------------------


def corrections_of(customer_id: int) -> dict[str, str]:
    """The corrected profile fields in force for a customer: field -> value (clear; the latest correction of
    each field wins)."""
    return corrections_of_many([customer_id]).get(int(customer_id), {})


def corrections_of_many(customer_ids, fields=None) -> dict[int, dict[str, str]]:
    """corrections_of for several customers in one query (a page of the list); `fields`: only these."""
    found: dict[int, dict[str, str]] = {}
    wanted = ProfileCorrection.objects.filter(customer_id__in=[int(i) for i in customer_ids])
    if fields is not None:
        wanted = wanted.filter(field__in=list(fields))
    for correction in wanted.order_by("corrected_at", "pk"):
        value = _decrypt_text(correction.value)
        if value is not None:
            found.setdefault(correction.customer_id, {})[correction.field] = value
    return found


def corrected_hashes(field: str, customer_ids) -> dict[int, str]:
    """customer -> the keyed hash of their correction of `field` (phone or email) in force, for those of
    `customer_ids` that corrected it."""
    latest: dict[int, str] = {}
    for chunk in chunked(sorted({int(i) for i in customer_ids})):
        for cid, found in (
            ProfileCorrection.objects.filter(field=field, customer_id__in=chunk)
            .order_by("corrected_at", "pk")
            .values_list("customer_id", "value_hash")
        ):
            latest[cid] = found
    return latest


def corrected_to(field: str, value_hash: str | None) -> set[int]:
    """The customers whose correction of `field` (phone or email) in force has this keyed hash: the value
    they said is theirs (siyu.customers.actions.correct_profile) finds them, as their records' values do.
    Only customers that exist now (a merge copies the corrections of the absorbed id onto the survivor)."""
    if not value_hash:
        return set()
    candidates = ProfileCorrection.objects.filter(field=field, value_hash=value_hash).values_list("customer_id", flat=True)
    in_force = {cid for cid, found in corrected_hashes(field, set(candidates)).items() if found == value_hash}
    return existing_customer_ids(in_force) if in_force else set()  # an id a merge absorbed is no customer


def correction_history(customer_id: int) -> list[dict]:
    """Every correction of a customer's profile, oldest first: field, value (clear), reason, by, at."""
    return [
        {"field": c.field, "field_label": c.get_field_display(), "value": _decrypt_text(c.value), "reason": c.reason,
         "corrected_by": display_name_of(c.corrected_by) if c.corrected_by_id else None, "corrected_at": c.corrected_at}
        for c in ProfileCorrection.objects.filter(customer_id=int(customer_id))
        .select_related("corrected_by__staff").order_by("corrected_at", "pk")
    ]  # fmt: skip


def _decrypt_text(blob) -> str | None:
    try:
        value = pii.decrypt_json(bytes(blob))
    except Exception:  # noqa: BLE001 - a wrong key must not break the page
        log.warning("could not decrypt a profile correction (was SIYU_PII_KEY changed?)")
        return None
    return value if isinstance(value, str) else None


_MASKS = {"name": pii.mask_name, "phone": pii.mask_phone, "email": pii.mask_email, "address": pii.mask_address}


def _corrected(profile: dict, customer_id: int, clear: bool) -> dict:
    """`profile` with the customer's corrections in force: clear for whoever sees PII, masked otherwise."""
    corrections = corrections_of(customer_id)
    for name, value in corrections.items():
        if name == "birthday":
            profile["birthday"] = date.fromisoformat(value)
        elif name == "gender":
            profile["gender"] = value
        else:
            shown = display_phone(value) if name == "phone" else value
            profile[name] = shown if clear else _MASKS[name](value)
    profile["corrected"] = sorted(corrections)
    return profile


def own_profile(customer_id: int) -> dict | None:
    """What the brand holds about one customer, for the customer themself (the member centre's 我的隐私):
    their profile fields in clear (they are the person), their records by source, order count and spend,
    tags and consent. None when there is no such customer. No staff notes, no owner."""
    customer_id = int(customer_id)
    if not 0 < customer_id <= CUSTOMER_ID_MAX:
        return None
    summary = _summary_row(customer_id)
    if summary is None:
        return None
    main = _display_pii([summary]).get(summary["pii_record_key"] or "", {})
    identities = _identities(customer_id, clear=True)
    return _corrected({
        "customer_id": customer_id,
        "name": main.get("name") or summary["name_masked"],
        "phone": display_phone(main.get("phone")) or summary["phone_masked"],
        "email": main.get("email") or next((i["email"] for i in identities if i["email"]), None),
        "address": main.get("address") or next((i["address"] for i in identities if i["address"]), None),
        "gender": summary["gender"],
        "birthday": summary["birthday"],
        "province": summary["province"],
        "city": summary["city"],
        "district": summary["district"],
        "identities": identities,
        "orders": int(summary["orders"] or 0),
        "spend": _money(summary["spend"]),
        "tags": tags_of(customer_id),
        "consent": consent_of(customer_id),
    }, customer_id, clear=True)


def get_profile(user, customer_id: int) -> dict:
    """Everything known about one customer, as `user` may see it.

    Raises CustomerNotFound (also for an id absorbed by a merge: the error names the survivor) and
    PermissionDenied (a guide asking for another guide's customer, a manager outside their store)."""
    customer_id = int(customer_id)
    visible_owner_ids(user)  # an account without a role is refused before anything is looked up
    summary = _summary_row(customer_id) if 0 < customer_id <= CUSTOMER_ID_MAX else None
    if summary is None:
        raise CustomerNotFound(
            customer_id, merged_into=merged_into(customer_id) if 0 < customer_id <= CUSTOMER_ID_MAX else None
        )
    check_access(user, customer_id)
    clear = can_view_pii(user)

    identities = _identities(customer_id, clear)
    orders = _orders(customer_id)
    events = _events(customer_id)
    notes = _notes(customer_id)
    consent_rows = list(Consent.objects.filter(customer_id=customer_id).order_by("-recorded_at", "-pk"))
    state = CustomerState.objects.filter(customer_id=customer_id).select_related("owner__staff").first()

    if clear:
        main = _display_pii([summary]).get(summary["pii_record_key"] or "", {})
        name = main.get("name") or summary["name_masked"]
        phone = display_phone(main.get("phone")) or summary["phone_masked"]
        email = main.get("email")
        address = main.get("address")
    else:
        name, phone = summary["name_masked"], summary["phone_masked"]
        email = next((i["email"] for i in identities if i["email"]), None)
        address = next((i["address"] for i in identities if i["address"]), None)

    owner = None
    if state is not None and state.owner_id:
        owner = {"user_id": state.owner_id, "name": display_name_of(state.owner)}
    profile = {
        "customer_id": customer_id,
        "pii_visible": clear,
        "name": name,
        "phone": phone,
        "email": email,
        "address": address,
        "gender": summary["gender"],
        "birthday": summary["birthday"],
        "province": summary["province"],
        "city": summary["city"],
        "district": summary["district"],
        "sources": list(summary["sources"] or []),
        "acquisition_source": summary["acquisition_source"],
        "acquired_at": summary["acquired_at"],
        "stage": (state.lifecycle_override if state and state.lifecycle_override else None)
        or summary["stage"],
        "computed_stage": summary["stage"],
        "owner": owner,
        "owner_locked": bool(state and state.owner_locked),
        "owner_staff": summary["owner_staff"],
        "totals": {
            "first_purchase_at": summary["first_purchase_at"],
            "last_purchase_at": summary["last_purchase_at"],
            "orders": int(summary["orders"] or 0),
            "spend": _money(summary["spend"]),
            "aov": _money(summary["aov"]),
        },
        "identities": identities,
        "orders": orders,
        "tags": tags_of(customer_id),
        "consent": consent_of(customer_id),
        "notes": notes,
        "timeline": _timeline(orders, events, notes, consent_rows),
    }
    _corrected(profile, customer_id, clear)
    if clear:
        record_audit(user, "view_pii", target=str(customer_id), records=len(identities))
    return profile
