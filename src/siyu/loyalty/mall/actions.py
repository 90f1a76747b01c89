"""Every change of the rewards mall. `redeem_item` is one transaction that never oversells: the item's row is
locked (select_for_update) and its stock taken with a conditional UPDATE (`stock >= quantity`); the member's
limit is counted inside that lock; points are spent (points.actions.spend_points) and a coupon issued in the
same transaction, so a refusal anywhere leaves stock and points as they were. Idempotent by key."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.mall.errors import (
    AddressRequired,
    InvalidItem,
    ItemNotFound,
    KeyReused,
    LimitReached,
    NotOnSale,
    OutOfStock,
    RedemptionRefused,
)
from siyu.loyalty.mall.labels import redemption_status_label
from siyu.loyalty.mall.models import (
    MALL_ROLES,
    ItemKind,
    ItemStatus,
    MallItem,
    MallRedemption,
    RedemptionStatus,
)
from siyu.loyalty.points import actions as points_actions
from siyu.staff.queries import has_role

MAX_QUANTITY = 99
ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail", "postcode")
ADDRESS_MAX = 200  # characters of one address field


def clean_address(address: dict | None) -> dict | None:
    """The address's known fields as stripped texts; None when empty. A name, a phone and a detail needed."""
    if not address:
        return None
    cleaned = {f: str(address.get(f) or "").strip()[:ADDRESS_MAX] for f in ADDRESS_FIELDS}
    if any("\x00" in v for v in cleaned.values()):
        raise AddressRequired(_("A shipping address may not contain a NUL character."))
    if not (cleaned["name"] and cleaned["phone"] and cleaned["detail"]):
        raise AddressRequired(_("A shipping address needs a name, a phone number and the street address."))
    return cleaned


def _check_on_sale(item: MallItem, now) -> None:
    if item.status != ItemStatus.ON_SALE:
        raise NotOnSale(_("Mall item %(item)s is not on sale.") % {"item": item.pk})
    if item.starts_at and now < item.starts_at:
        raise NotOnSale(_("Mall item %(item)s goes on sale at %(when)s.") % {"item": item.pk, "when": _when(item.starts_at)})
    if item.ends_at and now >= item.ends_at:
        raise NotOnSale(_("Mall item %(item)s was on sale until %(when)s.") % {"item": item.pk, "when": _when(item.ends_at)})


def redeemed_by(item_id: int, customer_id: int) -> int:
    """How many of the item the member holds (redemptions not cancelled)."""
    total = (MallRedemption.objects.filter(item_id=item_id, customer_id=customer_id)
             .exclude(status=RedemptionStatus.CANCELLED).aggregate(n=Sum("quantity"))["n"])  # fmt: skip
    return total or 0


def _replay(key: str, customer_id: int, item_id: int) -> MallRedemption | None:
    done = MallRedemption.objects.filter(key=key).first()
    if done is not None and (done.customer_id != customer_id or done.item_id != item_id):
        raise KeyReused(_("This idempotency key was used for another redemption."))
    return done


def redeem_item(customer_id: int, item_id: int, *, key: str, quantity: int = 1, address: dict | None = None,
                staff=None, now=None) -> MallRedemption:  # fmt: skip
    """Redeem `quantity` of an item for a member, once per `key` (a replay returns the first redemption).
    Raises OutOfStock, LimitReached, NotOnSale, AddressRequired and points' InsufficientPoints; nothing is
    taken when it raises."""
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise InvalidItem(_("A redemption needs an idempotency key of 1 to 200 characters."))
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidItem(_("The quantity is between 1 and %(most)s.") % {"most": MAX_QUANTITY})
    done = _replay(key, customer_id, item_id)
    if done is not None:
        return done
    now = now or timezone.now()
    try:
        with transaction.atomic():
            item = MallItem.objects.select_for_update().filter(pk=item_id).first()
            if item is None:
                raise ItemNotFound(_("There is no mall item %(item)s.") % {"item": item_id})
            _check_on_sale(item, now)
            cleaned = clean_address(address)
            if item.needs_address and cleaned is None:
                raise AddressRequired(_("Mall item %(item)s is shipped: it needs a shipping address.") % {"item": item.pk})
            if item.per_member_limit is not None and redeemed_by(item.pk, customer_id) + quantity > item.per_member_limit:
                raise LimitReached(_("A member may redeem at most %(most)s of mall item %(item)s.")
                                   % {"most": item.per_member_limit, "item": item.pk})
            if not MallItem.objects.filter(pk=item.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
                raise OutOfStock(_("Fewer than %(quantity)s of mall item %(item)s are left.") % {"quantity": quantity, "item": item.pk})
            redemption = MallRedemption.objects.create(
                item=item, customer_id=customer_id, key=key, quantity=quantity, points=item.points_price * quantity,
                cash=(item.cash_price or Decimal(0)) * quantity, status=_first_status(item), staff=staff,
                address_cipher=pii.encrypt_json(cleaned) if cleaned else None,
            )  # fmt: skip
            if redemption.points:
                points_actions.spend_points(customer_id, redemption.points, key=f"mall:{key}",
                                            reason=f"{item.name} ×{quantity}"[:200], source="mall",
                                            source_ref=redemption.source_ref, staff=staff)  # fmt: skip
            if item.kind == ItemKind.COUPON:
                coupons = [coupon_actions.issue_coupon(item.coupon_template_id, customer_id, key=f"mall:{key}:{n}",
                                                       source="mall", source_ref=redemption.source_ref)
                           for n in range(quantity)]  # fmt: skip
                redemption.coupon_id = coupons[0].pk
                redemption.save(update_fields=["coupon_id"])
    except IntegrityError:
        # the same key redeemed concurrently: the first one stands, this one took nothing
        done = _replay(key, customer_id, item_id)
        if done is None:
            raise
        return done
    if staff is not None:
        record_audit(staff, "loyalty.mall.redeem", f"customer:{customer_id}", item=item_id, quantity=quantity)
    return redemption


def _first_status(item: MallItem) -> str:
    if item.kind == ItemKind.COUPON:
        return RedemptionStatus.ISSUED
    return RedemptionStatus.TO_SHIP if item.needs_address else RedemptionStatus.TO_COLLECT


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _require(staff, what: str) -> None:
    """`what`: the translated words of what the staff member tried to do."""
    if not has_role(staff, MALL_ROLES):
        raise PermissionDenied(_("%(what)s is for admins, operators and store managers.") % {"what": what})


def _redemption_locked(redemption_id: int) -> MallRedemption:
    found = MallRedemption.objects.select_for_update().select_related("item").filter(pk=redemption_id).first()
    if found is None:
        raise ItemNotFound(_("There is no mall redemption %(redemption)s.") % {"redemption": redemption_id})
    return found


def cancel_redemption(staff, redemption_id: int, *, reason: str = "") -> MallRedemption:
    """Cancel a redemption not yet shipped or collected: its stock goes back to the item and its points back
    to the member (points.actions.reverse_points). Cancelling twice changes nothing."""
    _require(staff, _("Cancelling a redemption"))
    with transaction.atomic():
        found = _redemption_locked(redemption_id)
        if found.status == RedemptionStatus.CANCELLED:
            return found
        if found.status in (RedemptionStatus.SHIPPED, RedemptionStatus.COLLECTED):
            raise RedemptionRefused(_("Redemption %(redemption)s is already %(status)s.")
                                    % {"redemption": found.pk, "status": redemption_status_label(found.status)})
        coupons = list(Coupon.objects.filter(source="mall", source_ref=found.source_ref))
        if any(c.status != CouponStatus.ISSUED for c in coupons):
            raise RedemptionRefused(_("Redemption %(redemption)s issued a coupon that was used, expired or voided.")
                                    % {"redemption": found.pk})
        for coupon in coupons:  # unused: voided, so the member cannot use what they gave back
            coupon_actions.void_coupon(None, coupon.code, reason=f"mall redemption {found.pk} cancelled")  # role checked above
        MallItem.objects.filter(pk=found.item_id).update(stock=F("stock") + found.quantity)
        points_actions.reverse_points(source_ref=found.source_ref, key=f"mall-cancel:{found.pk}",
                                      reason=f"mall redemption {found.pk} cancelled")  # fmt: skip
        found.status, found.cancelled_at = RedemptionStatus.CANCELLED, timezone.now()
        found.cancel_reason = (reason or "").strip()[:200]
        found.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    record_audit(staff, "loyalty.mall.cancel", f"mall_redemption:{found.pk}", reason=found.cancel_reason)
    return found


def mark_shipped(staff, redemption_id: int, *, tracking_no: str, carrier: str = "") -> MallRedemption:
    _require(staff, _("Shipping a gift"))
    tracking_no, carrier = (tracking_no or "").strip(), (carrier or "").strip()
    if not tracking_no or len(tracking_no) > 64 or len(carrier) > 50 or "\x00" in tracking_no + carrier:
        raise RedemptionRefused(_("A tracking number of 1 to 64 characters (a carrier of at most 50)."))
    with transaction.atomic():
        found = _redemption_locked(redemption_id)
        if found.status not in (RedemptionStatus.TO_SHIP, RedemptionStatus.SHIPPED):
            raise RedemptionRefused(_("Redemption %(redemption)s cannot be shipped: it is %(status)s.")
                                    % {"redemption": found.pk, "status": redemption_status_label(found.status)})
        found.status, found.tracking_no, found.carrier = RedemptionStatus.SHIPPED, tracking_no, carrier
        found.shipped_at = found.shipped_at or timezone.now()
        if found.cash and found.cash_paid_at is None:  # points + cash shipped: paid on delivery
            found.cash_paid_at = found.shipped_at
        found.save(update_fields=["status", "tracking_no", "carrier", "shipped_at", "cash_paid_at"])
    record_audit(staff, "loyalty.mall.ship", f"mall_redemption:{found.pk}", tracking_no=tracking_no)
    return found


def mark_collected(staff, redemption_id: int) -> MallRedemption:
    """A points + cash item handed over at a till: its cash is recorded as paid now."""
    _require(staff, _("Handing over a mall item"))
    with transaction.atomic():
        found = _redemption_locked(redemption_id)
        if found.status != RedemptionStatus.TO_COLLECT:
            raise RedemptionRefused(_("Redemption %(redemption)s is not waiting at a store: it is %(status)s.")
                                    % {"redemption": found.pk, "status": redemption_status_label(found.status)})
        found.status = RedemptionStatus.COLLECTED
        found.cash_paid_at = timezone.now() if found.cash else None
        found.save(update_fields=["status", "cash_paid_at"])
    record_audit(staff, "loyalty.mall.collect", f"mall_redemption:{found.pk}", cash=str(found.cash))
    return found


def save_item(staff, *, item_id: int | None = None, name: str, kind: str, points_price: int,
              cash_price: Decimal | None = None, coupon_template_id: int | None = None, needs_address: bool = False,
              stock: int = 0, per_member_limit: int | None = None, starts_at=None, ends_at=None,
              status: str = ItemStatus.DRAFT, description: str = "") -> MallItem:  # fmt: skip
    """Make (or change) an item. Its stock is set as given (a change while members redeem is taken as the
    new count left)."""
    _require(staff, _("Editing the mall"))
    name, description = (name or "").strip(), (description or "").strip()
    cash_price = Decimal(cash_price or 0)
    if not name or len(name) > 100 or "\x00" in name + description or len(description) > 2000:
        raise InvalidItem(_("A name of 1 to 100 characters (a description of at most 2,000)."))
    if kind not in ItemKind.values or status not in ItemStatus.values:
        raise InvalidItem(_("Unknown kind or status of a mall item."))
    if not 0 <= points_price <= 10_000_000 or not 0 <= stock <= 10_000_000:
        raise InvalidItem(_("Points between 0 and 10,000,000, stock between 0 and 10,000,000."))
    if cash_price < 0 or cash_price > Decimal("1000000") or (kind == ItemKind.POINTS_CASH) != (cash_price > 0):
        raise InvalidItem(_("A points + cash item (and only it) has a cash price above 0."))
    if per_member_limit is not None and not 1 <= per_member_limit <= 10_000:
        raise InvalidItem(_("A limit per member between 1 and 10,000."))
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidItem(_("The sale ends after it starts."))
    if kind == ItemKind.COUPON:
        if not coupon_template_id or not CouponTemplate.objects.filter(pk=coupon_template_id).exists():
            raise InvalidItem(_("A coupon item needs a coupon template."))
        needs_address = False
    else:
        coupon_template_id = None
    if kind == ItemKind.GIFT:
        needs_address = True
    if points_price == 0 and cash_price == 0:
        raise InvalidItem(_("A mall item costs points or cash."))
    item = MallItem() if item_id is None else MallItem.objects.filter(pk=item_id).first()
    if item is None:
        raise ItemNotFound(_("There is no mall item %(item)s.") % {"item": item_id})
    item.name, item.description, item.kind, item.points_price, item.cash_price = (
        name, description, kind, points_price, cash_price)  # fmt: skip
    item.coupon_template_id, item.needs_address, item.stock = coupon_template_id, needs_address, stock
    item.per_member_limit, item.starts_at, item.ends_at, item.status = per_member_limit, starts_at, ends_at, status
    if item_id is None:
        item.created_by = staff if getattr(staff, "is_authenticated", False) else None
    item.save()
    record_audit(staff, "loyalty.mall.item", f"mall_item:{item.pk}", name=name, stock=stock, status=status)
    return item


def set_item_status(staff, item_id: int, status: str) -> MallItem:
    _require(staff, _("Editing the mall"))
    if status not in ItemStatus.values:
        raise InvalidItem(_("Unknown status of a mall item."))
    if not MallItem.objects.filter(pk=item_id).update(status=status, updated_at=timezone.now()):
        raise ItemNotFound(_("There is no mall item %(item)s.") % {"item": item_id})
    record_audit(staff, "loyalty.mall.item_status", f"mall_item:{item_id}", status=status)
    return MallItem.objects.get(pk=item_id)



# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _addressed(person):
    from django.db.models import Q

    return MallRedemption.objects.filter(customer_id=person.customer_id).filter(
        Q(address_cipher__isnull=False) | ~Q(tracking_no="") | ~Q(cancel_reason=""))


def erase_person_addresses(person, request) -> dict:
    """The mall's part of erasing a person: the delivery addresses of their redemptions, the tracking numbers
    (a carrier reads the address by them) and the reasons staff wrote on cancelling go; the redemptions stay
    with their points, cash and status (the mall's totals and stock do not change)."""
    return {"redemptions": _addressed(person).update(address_cipher=None, tracking_no="", cancel_reason="")}


def person_addresses_left(person) -> int:
    """What erase_person_addresses removes that is still there (the erasure scan)."""
    return _addressed(person).count()
