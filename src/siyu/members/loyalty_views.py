"""The member centre's loyalty pages: points history, check-in, the rewards mall (an item, a redemption) and
the coupon wallet. Thin: every change is the loyalty parts' actions (check_in, make_up, redeem_item); what is
read is siyu.members.queries'; the words are siyu.members.labels'. Every page is the signed-in member's own:
another member's coupon or redemption is a 404."""

from __future__ import annotations

import calendar
import re
import uuid
from datetime import date

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.loyalty.checkin import actions as checkin_actions
from siyu.loyalty.checkin import queries as checkin_queries
from siyu.loyalty.checkin.errors import AlreadyCheckedIn, MakeupNotAllowed, NoMakeupCard
from siyu.loyalty.coupons.discounts import shown_code
from siyu.loyalty.mall import actions as mall_actions
from siyu.loyalty.mall import queries as mall_queries
from siyu.loyalty.mall.errors import (
    AddressRequired,
    InvalidItem,
    ItemNotFound,
    KeyReused,
    LimitReached,
    NotOnSale,
    OutOfStock,
)
from siyu.loyalty.points import queries as points_queries
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.members import labels, queries
from siyu.members.auth import member_required
from siyu.members.qr import qr_svg

TOKEN = re.compile(r"^[0-9a-f]{32}$")
MAX_CHOICE = 10  # the quantity menu of a mall item offers at most this many


def member_not_found(request):
    return render(request, "siyu/members/not_found.html", {}, status=404)


# --- points ------------------------------------------------------------------------------------------------


def _page_number(request) -> int:
    text = request.GET.get("page") or "1"
    return int(text) if text.isdigit() and len(text) < 7 else 1


@member_required
def points(request):
    page = queries.points_history(request.member_id, _page_number(request))
    return render(request, "siyu/members/points.html", {
        "balance": points_queries.balance_of(request.member_id), "page": page,
    })  # fmt: skip


# --- check-in ----------------------------------------------------------------------------------------------


def _weeks(month) -> list[list]:
    """The month's days as weeks from Monday (None pads the first and last week)."""
    lead = [None] * month.month.weekday()
    cells = lead + list(month.days)
    cells += [None] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def _month_param(request, today: date) -> date:
    try:
        return checkin_queries.parse_month(request.GET.get("month") or None, today)
    except ValueError:
        return today.replace(day=1)


@member_required
def checkin(request):
    today = timezone.localdate()
    if request.method == "POST":
        return _checkin_post(request, today)
    first = _month_param(request, today)
    month = checkin_queries.calendar_of(request.member_id, first, today=today)
    previous = (first.replace(day=1) - date.resolution).replace(day=1)
    following = first.replace(day=calendar.monthrange(first.year, first.month)[1]) + date.resolution
    return render(request, "siyu/members/checkin.html", {
        "month": month, "weeks": _weeks(month), "weekdays": [str(w) for w in labels.WEEKDAYS], "today": today,
        "previous": previous.strftime("%Y-%m"),
        "following": following.strftime("%Y-%m") if following <= today else None,
    })  # fmt: skip


def _checkin_post(request, today: date):
    if request.POST.get("action") == "make_up":
        try:
            day = date.fromisoformat(request.POST.get("day") or "")
            checkin_actions.make_up(request.member_id, day, today=today)
        except ValueError:
            messages.error(request, labels.CHECKIN_REFUSALS["not_allowed"])
        except NoMakeupCard:
            messages.error(request, labels.CHECKIN_REFUSALS["no_card"])
        except MakeupNotAllowed:
            messages.error(request, labels.CHECKIN_REFUSALS["not_allowed"])
        except AlreadyCheckedIn:
            messages.error(request, labels.CHECKIN_REFUSALS["already"])
        else:
            messages.success(request, _("Made up %(day)s with a make-up card. Your streak is mended.")
                             % {"day": _short_day(day)})  # fmt: skip
            return redirect(f"{request.path}?month={day.strftime('%Y-%m')}")
        return redirect("members:checkin")
    result = checkin_actions.check_in(request.member_id, day=today)
    if result.already:
        messages.info(request, _("You have already checked in today. Come back tomorrow!"))
        return redirect("members:checkin")
    text = _("Checked in: day %(streak)s of your streak.") % {"streak": result.streak}
    if result.points:
        text += " " + _("+%(points)s points.") % {"points": result.points}
    if result.coupon is not None:
        text += " " + _("A coupon is in your wallet.")
    if result.makeup_cards:
        text += " " + _("You got %(n)s make-up card(s).") % {"n": result.makeup_cards}
    messages.success(request, text)
    return redirect("members:checkin")


def _short_day(day: date) -> str:
    return _("%(month)s/%(day)s") % {"month": day.month, "day": day.day}


# --- rewards mall ------------------------------------------------------------------------------------------


@member_required
def mall(request):
    return render(request, "siyu/members/mall.html", {
        "items": mall_queries.items_for(request.member_id),
        "balance": points_queries.balance_of(request.member_id),
        "redemptions": [(r, labels.REDEMPTION_STATUSES.get(r.status, "")) for r in queries.own_redemptions(request.member_id)],
    })  # fmt: skip


ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail", "postcode")


def _item_page(request, offer, *, token: str, address: dict, quantity: int = 1, error: str = "", status: int = 200):
    balance = points_queries.balance_of(request.member_id)
    most = min(offer.may_redeem, MAX_CHOICE)
    if offer.item.points_price:
        most = min(most, balance.available // offer.item.points_price)
    return render(request, "siyu/members/mall_item.html", {
        "offer": offer, "item": offer.item, "balance": balance, "token": token, "address": address,
        "quantities": list(range(1, most + 1)), "quantity": quantity, "error": error,
        "short": offer.item.points_price > balance.available,
    }, status=status)  # fmt: skip


def _quantity(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= mall_actions.MAX_QUANTITY else None


@member_required
def mall_item(request, item_id: int):
    offer = queries.item_for(request.member_id, item_id)
    if offer is None:
        return member_not_found(request)
    if request.method != "POST":
        return _item_page(request, offer, token=uuid.uuid4().hex, address=queries.remembered_address(request.member_id))
    token = request.POST.get("token") or ""
    address = {f: (request.POST.get(f) or "").strip() for f in ADDRESS_FIELDS} if offer.item.needs_address else None
    quantity = _quantity(request.POST.get("quantity"))
    if not TOKEN.match(token):
        return _item_page(request, offer, token=uuid.uuid4().hex, address=address or {},
                          error=labels.MALL_REFUSALS["again"], status=400)  # fmt: skip
    if quantity is None:
        return _item_page(request, offer, token=token, address=address or {}, error=labels.MALL_REFUSALS["quantity"],
                          status=400)  # fmt: skip
    try:
        redemption = mall_actions.redeem_item(request.member_id, item_id, key=f"member:{request.member_id}:{token}",
                                              quantity=quantity, address=address)  # fmt: skip
    except (OutOfStock, LimitReached, NotOnSale, InsufficientPoints, AddressRequired, InvalidItem) as exc:
        reason = {OutOfStock: "out_of_stock", LimitReached: "limit", NotOnSale: "not_on_sale",
                  InsufficientPoints: "points", AddressRequired: "address"}.get(type(exc), "quantity")  # fmt: skip
        return _item_page(request, offer, token=token, address=address or {}, quantity=quantity,
                          error=labels.MALL_REFUSALS[reason], status=409)  # fmt: skip
    except KeyReused:
        return _item_page(request, offer, token=uuid.uuid4().hex, address=address or {}, quantity=quantity,
                          error=labels.MALL_REFUSALS["again"], status=409)  # fmt: skip
    except ItemNotFound:
        return member_not_found(request)
    return redirect("members:redemption", redemption_id=redemption.pk)


@member_required
def redemption(request, redemption_id: int):
    found = queries.own_redemption(request.member_id, redemption_id)
    if found is None:
        return member_not_found(request)
    coupon = queries.own_coupon(request.member_id, found.coupon_id) if found.coupon_id else None
    return render(request, "siyu/members/redemption.html", {
        "redemption": found, "status": labels.REDEMPTION_STATUSES.get(found.status, ""), "coupon": coupon,
        "balance": points_queries.balance_of(request.member_id),
    })  # fmt: skip


# --- coupon wallet -----------------------------------------------------------------------------------------


def _coupon_card(coupon, *, qr: bool, scale: int = 4) -> dict:
    template = coupon.template
    return {
        "coupon": coupon, "name": template.name, "description": template.description,
        "benefit": labels.coupon_benefit(template), "code": shown_code(coupon.code),
        "qr": qr_svg(coupon.code, scale=scale) if qr else "",
        "status": "" if qr else labels.COUPON_STATUSES.get(coupon.status, ""),
        "not_yet": coupon.starts_at if coupon.starts_at and coupon.starts_at > timezone.now() else None,
    }  # fmt: skip


@member_required
def coupons(request):
    wallet = queries.wallet(request.member_id)
    return render(request, "siyu/members/coupons.html", {
        "usable": [_coupon_card(c, qr=True, scale=5) for c in wallet.usable],
        "done": [_coupon_card(c, qr=False) for c in wallet.done],
    })  # fmt: skip


@member_required
def coupon(request, coupon_id: int):
    found = queries.own_coupon(request.member_id, coupon_id)
    if found is None:
        return member_not_found(request)
    return render(request, "siyu/members/coupon.html",
                  {"card": _coupon_card(found, qr=queries.coupon_usable(found), scale=7)})  # fmt: skip
