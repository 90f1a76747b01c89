"""Reading subscriptions and their delivery log (admins only)."""

from __future__ import annotations

from siyu.core.errors import PermissionDenied
from siyu.integrations.errors import NotFound
from siyu.integrations.models import Delivery, Subscription
from siyu.staff.queries import is_admin


def _admin(user) -> None:
    if not is_admin(user):
        raise PermissionDenied("only an admin can see event subscriptions")


def subscriptions(user) -> list[Subscription]:
    _admin(user)
    return list(Subscription.objects.all())


def subscription(user, subscription_id: int) -> Subscription:
    _admin(user)
    try:
        return Subscription.objects.get(pk=subscription_id)
    except Subscription.DoesNotExist:
        raise NotFound(f"no event subscription {subscription_id}") from None


def deliveries(user, subscription_id: int, status: str = "", limit: int = 100) -> list[Delivery]:
    """The newest deliveries of a subscription, each with its attempts (newest first)."""
    sub = subscription(user, subscription_id)
    rows = Delivery.objects.filter(subscription=sub).prefetch_related("attempts")
    if status:
        rows = rows.filter(status=status)
    return list(rows[:limit])


def subscription_dict(sub: Subscription, *, with_secret: bool = False) -> dict:
    out = {
        "id": sub.pk, "url": sub.url, "event_types": sub.event_types, "description": sub.description,
        "active": sub.active, "created_at": sub.created_at, "secret_hint": "…" + sub.secret[-4:],
    }  # fmt: skip
    if with_secret:  # only on the answer that made (or rotated) it
        out["secret"] = sub.secret
    return out


def delivery_dict(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk, "event_id": str(delivery.event_uuid), "event_type": delivery.event_type,
        "status": delivery.status, "failures": delivery.failures, "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at, "delivered_at": delivery.delivered_at, "body": delivery.body,
        "attempts": [
            {"attempted_at": a.attempted_at, "status_code": a.status_code, "response_excerpt": a.response_excerpt,
             "error": a.error, "duration_ms": a.duration_ms, "ok": a.ok}
            for a in delivery.attempts.all()
        ],
    }  # fmt: skip
