"""The chosen group of customers whose repurchase rate page 8 compares with the whole base.

A group is a list of customer ids (uploaded as a file or sent to the API), everyone with a tag, or the
members of a segment at its last refresh (siyu.segments).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from siyu.analytics.errors import InvalidCustomerList
from siyu.customers.queries import customers_with_tag, find_tags
from siyu.ingest.errors import ImportFailed
from siyu.ingest.readers import check_workbook
from siyu.segments.models import Segment
from siyu.segments.queries import member_ids

MAX_GROUP = 5_000_000
CUSTOMER_ID_MAX = 2**63 - 1
ID_COLUMNS = ("customer_id", "客户ID", "客户id", "id")


@dataclass(frozen=True)
class CustomerGroup:
    kind: str  # list | tag | segment
    label: str
    customer_ids: frozenset[int]


def group_from_ids(ids, label: str = "list") -> CustomerGroup:
    cleaned = set()
    for position, value in enumerate(ids, start=1):
        text = str(value).strip()
        if not text:
            continue
        if not text.isdigit() or not 0 < int(text) <= CUSTOMER_ID_MAX:
            raise InvalidCustomerList(f"item {position}: {text[:40]!r} is not a customer id")
        cleaned.add(int(text))
        if len(cleaned) > MAX_GROUP:
            raise InvalidCustomerList(f"a list holds at most {MAX_GROUP:,} customer ids")
    if not cleaned:
        raise InvalidCustomerList("the list holds no customer ids")
    return CustomerGroup("list", label, frozenset(cleaned))


def group_from_file(name: str, content: bytes) -> CustomerGroup:
    """A CSV/TXT with a `customer_id` column (or one id per line), or an XLSX whose first sheet has one."""
    if name.lower().endswith((".xlsx", ".xls")):
        from python_calamine import CalamineWorkbook

        if content.startswith(b"PK"):  # XLSX: a zip bomb is refused before calamine inflates it
            try:
                check_workbook(name, io.BytesIO(content))
            except ImportFailed as exc:
                raise InvalidCustomerList(str(exc)) from None
        try:
            sheet = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
        except Exception as exc:  # calamine raises its own error types for broken files
            raise InvalidCustomerList(f"{name} is not a readable Excel file") from exc
        table = [[_cell(v) for v in row] for row in sheet]
    else:
        text = content.decode("utf-8-sig", errors="replace")
        table = list(csv.reader(io.StringIO(text)))
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise InvalidCustomerList(f"{name} is empty")
    header = [cell.strip() for cell in table[0]]
    column = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    if column is None:
        if len(header) != 1:
            raise InvalidCustomerList(f"{name} needs a customer_id column (or one id per line)")
        column, body = 0, table if header[0].isdigit() else table[1:]
    else:
        body = table[1:]
    return group_from_ids((row[column] if column < len(row) else "" for row in body), label=name)


def _cell(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def group_from_tag(tag: str) -> CustomerGroup:
    if not find_tags(tag):
        raise InvalidCustomerList(f"no tag {str(tag)[:100]!r}")
    return CustomerGroup("tag", str(tag), frozenset(customers_with_tag(tag)))


def group_from_segment(segment_id) -> CustomerGroup:
    """The stored members of a segment (as of its last refresh)."""

    text = str(segment_id).strip()
    segment = Segment.objects.filter(pk=int(text)).first() if text.isdigit() and len(text) < 19 else None
    if segment is None:
        raise InvalidCustomerList(f"no segment {text[:40]!r}")
    if segment.refreshed_at is None:
        raise InvalidCustomerList(f"segment {segment.name!r} has not been refreshed yet: refresh it first")
    ids = member_ids(segment.pk).customer_id.to_pyarrow().to_pylist()
    return CustomerGroup("segment", segment.name, frozenset(ids))


def list_path(list_id: str):
    from django.conf import settings

    if not re.fullmatch(r"[0-9a-f]{32}", str(list_id or "")):
        raise InvalidCustomerList("a customer list id is 32 hexadecimal characters")
    return settings.UPLOADS_DIR / "customer-lists" / f"{list_id}.txt"


def group_from_saved_list(list_id: str) -> CustomerGroup:
    """A list kept by siyu.analytics.actions.save_customer_list."""
    path = list_path(list_id)
    if not path.exists():
        raise InvalidCustomerList(f"no customer list {list_id}")
    label, *ids = path.read_text(encoding="utf-8").splitlines()
    return group_from_ids(ids, label=label)


def group_from_request(list_id=None, tag=None, segment=None) -> CustomerGroup | None:
    """The group a page-8 request names (a saved list, a tag or a segment); None when none."""
    if segment:
        return group_from_segment(segment)
    if list_id:
        return group_from_saved_list(list_id)
    if tag:
        return group_from_tag(tag)
    return None
