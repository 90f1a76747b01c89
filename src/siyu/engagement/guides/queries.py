"""The read side of guide tasks: who sees which tasks (a guide their own, a manager their store's guides',
admins and operators all), a task list with masked customers, and the per-guide report of completion
and of purchases after the contact (orders from the warehouse, through Ibis)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import ibis
import pyarrow as pa
from django.db.models import Count, Q
from django.utils import timezone

from siyu import warehouse
from siyu.analytics.facts import purchases
from siyu.analytics.filters import local_midnight
from siyu.core.errors import PermissionDenied
from siyu.customers import queries as customer_queries
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material
from siyu.engagement.errors import ContentError, TaskError, TaskNotFound
from siyu.engagement.guides.models import GuideTask, TaskBatch
from siyu.staff.models import Role, StaffProfile
from siyu.staff.queries import display_name_of, display_names, guides_of_store, has_role, role_of, store_of

MAX_PAGE_SIZE = 200
REPORT_ROLES = {Role.ADMIN, Role.OPERATOR, Role.MANAGER}
DEFAULT_PURCHASE_DAYS = 7


def visible_guide_ids(user) -> list[int] | None:
    """None: every guide's tasks; else the guides whose tasks `user` sees."""
    role = role_of(user)
    if has_role(user, (Role.ADMIN, Role.OPERATOR)):
        return None
    if role == Role.MANAGER:
        return sorted({*guides_of_store(store_of(user) or 0), user.pk})
    if role == Role.GUIDE:
        return [user.pk]
    raise PermissionDenied("this account has no staff role; ask an admin to give it one")


def assignable_guides(user) -> list[dict]:
    """The guides `user` can give tasks to (id, name, store): every active guide, a store manager's own
    store's only."""

    profiles = StaffProfile.objects.select_related("user", "store").filter(
        role=Role.GUIDE, user__is_active=True
    )
    if role_of(user) == Role.MANAGER:
        profiles = profiles.filter(store_id=store_of(user))
    # one query: select_related caches each user's profile, which display_name_of reads
    guides = [
        {"id": p.user_id, "name": display_name_of(p.user), "store": p.store.name if p.store_id else ""}
        for p in profiles
    ]
    return sorted(guides, key=lambda g: (g["store"], g["name"]))


def _scoped(user):
    guides = visible_guide_ids(user)
    query = GuideTask.objects.select_related("batch", "batch__material")
    return query if guides is None else query.filter(guide_id__in=guides)


def get_task(user, task_id) -> GuideTask:
    """The task when `user` may see it; PermissionDenied for somebody else's."""
    try:
        task = GuideTask.objects.select_related("batch", "batch__material").get(pk=int(task_id))
    except (GuideTask.DoesNotExist, TypeError, ValueError, OverflowError):
        raise TaskNotFound(f"no task {task_id}") from None
    guides = visible_guide_ids(user)
    if guides is not None and task.guide_id not in guides:
        raise PermissionDenied("this task is not yours")
    return task


def masked_customers(ids) -> dict[int, dict]:
    """Masked name and phone of each customer (the task list never shows PII in clear)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    cs = warehouse.backend().table("customer_summary")
    rows = (
        cs.semi_join(customer_queries._ids_table(ids), "customer_id")
        .select("customer_id", "name_masked", "phone_masked")
        .to_pyarrow()
        .to_pylist()
    )
    return {r["customer_id"]: r for r in rows}


def material_view(material: Material | None) -> dict | None:
    """What a task shows of its batch's material; a buyer show whose consent was withdrawn is withheld."""
    if material is None:
        return None
    try:
        content_queries.check_usable(material)
    except ContentError as exc:  # consent withdrawn or archived: say so, show nothing of it
        return {"id": material.pk, "kind": material.kind, "usable": False, "reason": str(exc)}
    return {**content_queries.material_dict(material, show_customer=False), "usable": True}


def task_dict(task: GuideTask, customer: dict | None, guide_name: str | None = None) -> dict:
    return {
        "id": task.pk,
        "batch_id": task.batch_id,
        "batch": task.batch.name,
        "customer_id": task.customer_id,
        "customer_name": (customer or {}).get("name_masked"),
        "customer_phone": (customer or {}).get("phone_masked"),
        "guide_id": task.guide_id,
        "guide": guide_name,
        "status": task.status,
        "reason": task.reason,
        "message": task.message,
        "missing_variables": list(task.missing_variables or []),
        "material": material_view(task.batch.material),
        "due_at": task.due_at,
        "overdue": task.status == GuideTask.Status.OPEN and task.due_at < timezone.now(),
        "contacted_at": task.contacted_at,
        "outcome": task.outcome,
        "note": task.note,
    }


def list_tasks(
    user, *, status: str | None = None, batch_id: int | None = None, page: int = 1, page_size: int = 50
) -> dict:
    query = _scoped(user)
    if status:
        query = query.filter(status=status)
    if batch_id:
        query = query.filter(batch_id=batch_id)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    total = query.count()
    pages = max(1, -(-total // page_size))
    page = max(1, min(int(page), pages))
    tasks = list(query.order_by("due_at", "pk")[(page - 1) * page_size : page * page_size])
    customers = masked_customers(t.customer_id for t in tasks)
    names = display_names(t.guide_id for t in tasks if t.guide_id)
    items = [task_dict(t, customers.get(t.customer_id), names.get(t.guide_id)) for t in tasks]
    return {"items": items, "total": total, "page": page, "pages": pages, "page_size": page_size}


def open_task_counts(user, now: dt.datetime | None = None) -> dict:
    """Of the open tasks `user` sees: all of them, those past due (overdue) and those due before the end of
    today (local), overdue included."""
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    tasks = _scoped(user).filter(status=GuideTask.Status.OPEN)
    return tasks.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        due_today=Count("pk", filter=Q(due_at__lt=today + dt.timedelta(days=1))),
    )


def list_batches(user, limit: int = 100, batch_id: int | None = None) -> list[dict]:
    """Batches with their open, done and suppressed tasks (of the guides `user` sees)."""
    guides = visible_guide_ids(user)
    tasks = Q() if guides is None else Q(tasks__guide_id__in=guides)
    query = TaskBatch.objects.select_related("script", "store").annotate(
        open=Count("tasks", filter=tasks & Q(tasks__status=GuideTask.Status.OPEN)),
        done=Count("tasks", filter=tasks & Q(tasks__status=GuideTask.Status.DONE)),
        suppressed=Count("tasks", filter=tasks & Q(tasks__status=GuideTask.Status.SUPPRESSED)),
    )
    if guides is not None:
        query = query.filter(Q(tasks__guide_id__in=guides) | Q(created_by=user)).distinct()
    if batch_id is not None:
        query = query.filter(pk=batch_id)
    return [
        {
            "id": b.pk,
            "name": b.name,
            "script": b.script.title if b.script_id else None,
            "assign": b.assign,
            "store": b.store.code if b.store_id else None,
            "due_at": b.due_at,
            "segment_id": b.segment_id,
            "source": b.source,
            "source_id": b.source_id or str(b.pk),
            "open": b.open,
            "done": b.done,
            "suppressed": b.suppressed,
            "counts": b.counts,
            "created_at": b.created_at,
        }  # fmt: skip
        for b in query[:limit]
    ]


# --- the per-guide report --------------------------------------------------------------------------------


def _rate(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def purchases_after_contact(done: list[tuple[int, int, int, dt.datetime]], days: int) -> dict[int, dict]:
    """done: (task id, guide id, customer id, contacted at). Per guide: tasks followed by a purchase of
    their customer within `days` days after the contact (contact < order time ≤ contact + days), the
    distinct orders and their GMV. A purchase in the window of two tasks of one guide counts once."""
    if not done:
        return {}
    con = warehouse.backend()
    contacts = ibis.memtable(
        pa.table(
            {
                "task_id": pa.array([d[0] for d in done], pa.int64()),
                "guide_id": pa.array([d[1] for d in done], pa.int64()),
                "customer_id": pa.array([d[2] for d in done], pa.int64()),
                "contacted_at": pa.array([d[3] for d in done], pa.timestamp("us", tz="UTC")),
            }
        )
    )
    first = min(d[3] for d in done)
    last = max(d[3] for d in done) + dt.timedelta(days=days, seconds=1)
    p = purchases(con, start=first, end=last)
    window = contacts.join(p, "customer_id")
    window = window.filter(
        (window.order_time > window.contacted_at)
        & (window.order_time <= window.contacted_at + ibis.interval(days=days))
    )
    per_task = window.group_by("guide_id").aggregate(tasks_with_purchase=window.task_id.nunique())
    orders = window.select("guide_id", "order_key", "amount").distinct()
    per_order = orders.group_by("guide_id").aggregate(orders=orders.count(), gmv=orders.amount.sum())
    out: dict[int, dict] = defaultdict(dict)
    for row in per_task.to_pyarrow().to_pylist():
        out[row["guide_id"]]["tasks_with_purchase"] = row["tasks_with_purchase"]
    for row in per_order.to_pyarrow().to_pylist():
        out[row["guide_id"]].update(
            orders=row["orders"], gmv=Decimal(row["gmv"] or 0).quantize(Decimal("0.01"))
        )
    return dict(out)


def guide_report(
    user,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    days: int = DEFAULT_PURCHASE_DAYS,
    batch_id: int | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Per guide, for tasks created in [date_from, date_to] (local days; default the last 30): tasks,
    open, overdue, done, completion rate = done ÷ (tasks − suppressed − cancelled), outcomes, and of the done tasks
    those followed by a purchase of the customer within `days` days of the contact, with orders and GMV."""

    if not has_role(user, REPORT_ROLES):
        raise PermissionDenied("the guide report is open to admins, operators and store managers")
    if not 1 <= int(days) <= 365:
        raise TaskError("the purchase window must be between 1 and 365 days")
    now = now or timezone.now()
    today = timezone.localdate(now)
    date_to = date_to or today
    date_from = date_from or date_to - dt.timedelta(days=29)
    if date_from > date_to:
        raise TaskError("the range starts after it ends")
    if date_from.year < 1990 or date_to.year > 2200:
        raise TaskError("dates must lie between 1990 and 2200")
    query = _scoped(user).filter(
        guide_id__isnull=False,
        created_at__gte=local_midnight(date_from),
        created_at__lt=local_midnight(date_to + dt.timedelta(days=1)),
    )
    if batch_id:
        query = query.filter(batch_id=batch_id)
    rows: dict[int, dict] = {}
    done = []
    for task_id, guide, cid, status, outcome, due, contacted in query.values_list(
        "pk", "guide_id", "customer_id", "status", "outcome", "due_at", "contacted_at"
    ):
        row = rows.setdefault(guide, {"tasks": 0, "open": 0, "overdue": 0, "done": 0, "suppressed": 0,
                                      "cancelled": 0, **{o: 0 for o in GuideTask.Outcome.values}})  # fmt: skip
        row["tasks"] += 1
        row[status] += 1
        if status == GuideTask.Status.OPEN and due < now:
            row["overdue"] += 1
        if status == GuideTask.Status.DONE:
            row[outcome] += 1
            done.append((task_id, guide, cid, contacted))
    bought = purchases_after_contact(done, int(days))
    names = display_names(rows)
    items = []
    for guide, row in sorted(rows.items(), key=lambda item: (names.get(item[0]) or "", item[0])):
        after = bought.get(guide, {})
        workable = row["tasks"] - row["cancelled"] - row["suppressed"]
        items.append(
            {
                "guide_id": guide,
                "guide": names.get(guide),
                **row,
                "completion_rate": _rate(row["done"], workable),
                "tasks_with_purchase": after.get("tasks_with_purchase", 0),
                "purchase_rate": _rate(after.get("tasks_with_purchase", 0), row["done"]),
                "orders": after.get("orders", 0),
                "gmv": after.get("gmv", Decimal("0.00")),
            }
        )
    return {
        "date_from": date_from,
        "date_to": date_to,
        "days": int(days),
        "batch_id": batch_id,
        "items": items,
    }


def batch_names(batch_ids: list[int]) -> dict[int, str]:
    return dict(TaskBatch.objects.filter(pk__in=batch_ids).values_list("pk", "name"))


def person_tasks(customer_id: int) -> list[dict]:
    """Every guide task about the customer, oldest first, for the person's copy of their data."""
    tasks = GuideTask.objects.filter(customer_id=int(customer_id)).select_related("batch", "guide__staff").order_by("created_at", "pk")
    return [{"batch": t.batch.name, "guide": display_name_of(t.guide) if t.guide_id else None,
             "status": t.get_status_display(), "message": t.message, "due_at": t.due_at, "contacted_at": t.contacted_at,
             "outcome": t.get_outcome_display() if t.outcome else "", "note": t.note} for t in tasks]  # fmt: skip
