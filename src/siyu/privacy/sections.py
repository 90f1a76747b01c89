"""What the domains below privacy hold about one person, registered by privacy itself (siyu.privacy.registry):
the profile (with corrections), the records in clear, the rows as imported (decrypted from the warehouse's
raw_chunks), orders, behaviour events, consents, tags, notes and the person's own privacy requests. The
domains above privacy register theirs in their own AppConfig.ready()."""

from __future__ import annotations

import json

from siyu.customers import labels as customer_labels
from siyu.customers import queries as customers
from siyu.customers.models import Consent, CustomerTag, Note
from siyu.privacy import labels
from siyu.privacy.models import DataRequest
from siyu.privacy.registry import PersonData, register
from siyu.staff.queries import display_name_of
from siyu.warehouse.raw import raw_rows_of


def _word(table: dict, code):
    return str(table.get(code, code)) if code is not None else None


def profile(customer_id: int) -> list[dict]:
    found = customers.own_profile(customer_id)
    if found is None:
        return []
    return [{
        "customer_id": found["customer_id"], "name": found["name"], "phone": found["phone"], "email": found["email"],
        "address": found["address"], "gender": _word(customer_labels.GENDERS, found["gender"]),
        "birthday": found["birthday"], "province": found["province"], "city": found["city"],
        "district": found["district"], "orders": found["orders"], "spend": found["spend"],
        "corrected": "、".join(str(_word(CORRECTED_FIELDS, f)) for f in found["corrected"]),
    }]  # fmt: skip


CORRECTED_FIELDS = {"name": "姓名", "phone": "手机号", "email": "邮箱", "address": "地址", "gender": "性别", "birthday": "生日"}


def corrections(customer_id: int) -> list[dict]:
    return [{"field": c["field_label"], "value": c["value"], "reason": c["reason"], "corrected_by": c["corrected_by"],
             "corrected_at": c["corrected_at"]} for c in customers.correction_history(customer_id)]  # fmt: skip


def records(customer_id: int) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "record_key"} for r in customers.person_records(customer_id)]


def rows_as_imported(customer_id: int) -> list[dict]:
    return [{"source": r["source"], "file_name": r["file_name"], "row_number": r["row_number"],
             "record_key": r["record_key"], "columns": r["columns"]}
            for r in raw_rows_of(customers.record_keys_of(customer_id))]  # fmt: skip


def orders(customer_id: int) -> list[dict]:
    return [{**{k: v for k, v in o.items() if k not in ("items", "status_class")},
             "items": "；".join(f"{i['product'] or i['product_id'] or ''} × {i['quantity'] or 1}"
                               + (f" ¥{i['amount']}" if i["amount"] else "") for i in o["items"])}
            for o in customers.person_orders(customer_id)]  # fmt: skip


def events(customer_id: int) -> list[dict]:
    return [{"source": e["source"], "event_type": _word(customer_labels.EVENT_TYPES, e["event_type"]),
             "occurred_at": e["occurred_at"], "properties": e["properties"]}
            for e in customers.person_events(customer_id)]  # fmt: skip


def consents(customer_id: int) -> list[dict]:
    return [{"channel": _word(customer_labels.CONSENT_CHANNELS, c.channel),
             "status": _word(customer_labels.CONSENT_STATUSES, c.status), "source": c.source,
             "recorded_at": c.recorded_at, "recorded_by": display_name_of(c.recorded_by) if c.recorded_by_id else None}
            for c in Consent.objects.filter(customer_id=customer_id).select_related("recorded_by__staff")
            .order_by("recorded_at", "pk")]  # fmt: skip


def tags(customer_id: int) -> list[dict]:
    return [{"group": link.tag.group.name if link.tag.group_id else "", "tag": link.tag.name, "source": link.source,
             "tagged_at": link.created_at}
            for link in CustomerTag.objects.filter(customer_id=customer_id).select_related("tag__group")
            .order_by("created_at", "pk")]  # fmt: skip


def notes(customer_id: int) -> list[dict]:
    return [{"text": n.text, "author": display_name_of(n.author) if n.author_id else None, "created_at": n.created_at}
            for n in Note.objects.filter(customer_id=customer_id).select_related("author__staff").order_by("created_at", "pk")]  # fmt: skip


def privacy_requests(customer_id: int) -> list[dict]:
    return [{"kind": labels.label(labels.KINDS, r.kind), "status": labels.label(labels.STATUSES, r.status),
             "requested_at": r.requested_at, "due_at": r.due_at, "closed_at": r.closed_at}
            for r in DataRequest.objects.filter(customer_id=customer_id).order_by("requested_at", "pk")]  # fmt: skip


def register_sections() -> None:
    """Called by PrivacyConfig.ready()."""
    for data in (
        PersonData("profile", "基本资料", profile, {
            "customer_id": "客户编号", "name": "姓名", "phone": "手机号", "email": "邮箱", "address": "地址",
            "gender": "性别", "birthday": "生日", "province": "省份", "city": "城市", "district": "区县",
            "orders": "订单数", "spend": "消费金额", "corrected": "已更正的字段"}, order=10),
        PersonData("corrections", "资料更正记录", corrections, {
            "field": "字段", "value": "更正后的值", "reason": "原因", "corrected_by": "经办人",
            "corrected_at": "更正时间"}, order=15),
        PersonData("records", "各渠道记录", records, {
            "source": "来源", "record_kind": "记录类型", "record_id": "记录编号", "name": "姓名", "phone": "手机号",
            "email": "邮箱", "address": "地址", "province": "省份", "city": "城市", "district": "区县",
            "store": "门店", "owner_staff": "导购", "seen_at": "最早出现时间"}, order=20),
        PersonData("rows_as_imported", "导入的原始数据", rows_as_imported, {
            "source": "来源", "file_name": "文件名", "row_number": "行号", "record_key": "记录",
            "columns": "原始内容"}, order=25),
        PersonData("orders", "订单", orders, {
            "order_id": "订单号", "source": "来源", "status_raw": "订单状态", "order_time": "下单时间",
            "paid_time": "付款时间", "amount": "金额", "store": "门店", "guide": "导购", "items": "商品"}, order=30),
        PersonData("events", "行为事件", events, {
            "source": "来源", "event_type": "事件", "occurred_at": "发生时间", "properties": "详情"}, order=35),
        PersonData("consents", "授权与退订", consents, {
            "channel": "渠道", "status": "状态", "source": "来源", "recorded_at": "记录时间",
            "recorded_by": "记录人"}, order=40),
        PersonData("tags", "标签", tags, {"group": "标签组", "tag": "标签", "source": "来源", "tagged_at": "打标时间"},
                   order=50),
        PersonData("notes", "员工备注", notes, {"text": "内容", "author": "作者", "created_at": "时间"}, order=55),
        PersonData("privacy_requests", "个人信息请求", privacy_requests, {
            "kind": "类型", "status": "状态", "requested_at": "提交时间", "due_at": "截止时间",
            "closed_at": "完成时间"}, order=90),
    ):  # fmt: skip
        register(data)


def jsonable(value):
    """A value as the archive's JSON and CSV write it (dates as ISO text, decimals as text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def cell(value) -> str | int | float | None:
    """A value as one CSV cell: nested values as JSON text."""
    value = jsonable(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
