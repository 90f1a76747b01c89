"""The rewards mall as operators and members meet it: limits, time windows and stock; a refusal takes
nothing; a coupon item puts a coupon in the wallet; cancelling gives back stock and points; the fulfilment
list as CSV and XLSX (address decrypted only for roles that may see PII, cells a spreadsheet will not run);
the API; the console pages."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone
from mall_helpers import ADDRESS, give_points, make_item
from ninja import NinjaAPI
from ninja.testing import TestClient
from python_calamine import CalamineWorkbook

from siyu.api.actions import create_token
from siyu.api.auth import auth
from siyu.core.errors import NotFound, PermissionDenied, SiyuError
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.queries import wallet_of
from siyu.loyalty.mall import actions, labels, queries
from siyu.loyalty.mall.api import router
from siyu.loyalty.mall.errors import AddressRequired, LimitReached, NotOnSale, OutOfStock, RedemptionRefused
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.loyalty.points.queries import balance_of

pytestmark = pytest.mark.django_db


def test_limits_windows_and_stock(staff):
    ops = staff["ops"]
    cup = make_item(ops, stock=3, per_member_limit=2)
    give_points(1, 1000)
    first = actions.redeem_item(1, cup.pk, key="a", address=ADDRESS)
    assert actions.redeem_item(1, cup.pk, key="a", address=ADDRESS).pk == first.pk  # a replay takes nothing
    actions.redeem_item(1, cup.pk, key="b", address=ADDRESS)
    with pytest.raises(LimitReached):
        actions.redeem_item(1, cup.pk, key="c", address=ADDRESS)
    give_points(2, 1000)
    with pytest.raises(OutOfStock):
        actions.redeem_item(2, cup.pk, key="d", quantity=2, address=ADDRESS)
    with pytest.raises(AddressRequired):
        actions.redeem_item(2, cup.pk, key="e")
    cup.refresh_from_db()
    assert cup.stock == 1 and balance_of(1).available == 800 and balance_of(2).available == 1000
    later = make_item(ops, name="新品", starts_at=timezone.now() + dt.timedelta(days=1))
    over = make_item(ops, name="旧品", starts_at=timezone.now() - dt.timedelta(days=9),
                     ends_at=timezone.now() - dt.timedelta(days=1))  # fmt: skip
    draft = make_item(ops, name="草稿", status="draft")
    for item in (later, over, draft):
        with pytest.raises(NotOnSale):
            actions.redeem_item(2, item.pk, key=f"w{item.pk}", address=ADDRESS)
    offered = {x.item.pk: x.may_redeem for x in queries.items_for(1)}
    assert offered == {cup.pk: 0}  # on sale now: the cup, and member 1 holds its limit


def test_insufficient_points_leave_the_stock_untouched(staff):
    cup = make_item(staff["ops"], stock=5, points_price=500)
    give_points(3, 499)
    with pytest.raises(InsufficientPoints):
        actions.redeem_item(3, cup.pk, key="poor", address=ADDRESS)
    cup.refresh_from_db()
    assert cup.stock == 5 and balance_of(3).available == 499 and not MallRedemption.objects.exists()


def test_a_coupon_item_and_cancelling(staff):
    template = coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                                   "min_spend": "100", "validity": "days", "valid_days": 30})  # fmt: skip
    voucher = make_item(staff["ops"], name="20元券", kind="coupon", coupon_template_id=template.pk, points_price=200)
    give_points(4, 1000)
    made = actions.redeem_item(4, voucher.pk, key="v1")
    assert made.status == "issued" and [c.pk for c in wallet_of(4)] == [made.coupon_id]
    cancelled = actions.cancel_redemption(staff["manager"], made.pk, reason="买错了")
    assert cancelled.status == "cancelled" and balance_of(4).available == 1000
    voucher.refresh_from_db()
    assert voucher.stock == 10 and wallet_of(4)[0].status == "void"
    assert actions.cancel_redemption(staff["manager"], made.pk).status == "cancelled"  # twice: nothing more
    assert balance_of(4).available == 1000

    gift = make_item(staff["ops"], name="帆布袋", stock=2)
    shipped = actions.redeem_item(4, gift.pk, key="g1", address=ADDRESS)
    actions.mark_shipped(staff["ops"], shipped.pk, tracking_no="SF123", carrier="顺丰")
    with pytest.raises(RedemptionRefused):
        actions.cancel_redemption(staff["ops"], shipped.pk)
    with pytest.raises(PermissionDenied):
        actions.cancel_redemption(staff["guide"], shipped.pk)
    till = make_item(staff["ops"], name="咖啡机", kind="points_cash", needs_address=False, cash_price="99.00")
    collected = actions.mark_collected(staff["manager"], actions.redeem_item(4, till.pk, key="t1").pk)
    assert collected.status == "collected" and collected.cash_paid_at is not None and str(collected.cash) == "99.00"


def _fulfilment(staff):
    gift = make_item(staff["ops"], name="=HYPERLINK(\"x\")", stock=5)
    give_points(5, 1000)
    actions.redeem_item(5, gift.pk, key="f1", address={**ADDRESS, "detail": "+南京西路1号"})
    return gift


def test_fulfilment_csv_and_xlsx(staff, client):
    _fulfilment(staff)
    client.force_login(staff["ops"])
    body = client.get("/loyalty/mall/fulfilment.csv", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["兑换编号", "兑换时间", "商城商品"]
    assert rows[1][2] == "'=HYPERLINK(\"x\")"  # formula-safe
    assert rows[1][5:8] == ["张三", "13812345678", "上海市上海市静安区+南京西路1号"]
    xlsx = client.get("/loyalty/mall/fulfilment.xlsx").content
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx)).get_sheet_by_index(0).to_python()
    assert sheet[1][2] == '=HYPERLINK("x")' and sheet[1][5] == "张三"  # text, never a formula
    # a store manager may not see PII: masked
    client.force_login(staff["manager"])
    masked = list(csv.reader(io.StringIO(client.get("/loyalty/mall/fulfilment.csv").content.decode("utf-8-sig"))))
    assert masked[1][5:7] == ["张*", "138****5678"] and "南京西路" not in masked[1][7]
    client.force_login(staff["guide"])
    assert client.get("/loyalty/mall/fulfilment.csv").status_code == 403


def test_the_address_is_stored_encrypted(staff):
    _fulfilment(staff)
    stored = bytes(MallRedemption.objects.get().address_cipher)
    assert "张三".encode() not in stored and b"13812345678" not in stored


def _api():
    api = NinjaAPI(auth=auth, urls_namespace="mall-test")
    for error, status in ((NotFound, 404), (PermissionDenied, 403), (SiyuError, 400)):
        api.add_exception_handler(error, lambda request, exc, status=status: api.create_response(
            request, {"detail": str(exc)}, status=status))  # fmt: skip
    api.add_router("", router)
    return api


def test_the_api(staff):
    client = TestClient(_api(), headers={"Authorization": f"Bearer {create_token(staff['ops'], 'tests')}"})
    cup = make_item(staff["ops"], stock=2)
    give_points(6, 150)
    body = {"customer_id": 6, "item_id": cup.pk, "address": ADDRESS}
    made = client.post("/loyalty/mall/redemptions", json=body, headers={"Idempotency-Key": "r1"})
    assert made.status_code == 201, made.content
    assert (made.json()["points"], made.json()["status"], made.json()["has_address"]) == (100, "to_ship", True)
    replay = client.post("/loyalty/mall/redemptions", json=body, headers={"Idempotency-Key": "r1"})
    assert replay.json()["id"] == made.json()["id"] and balance_of(6).available == 50
    poor = client.post("/loyalty/mall/redemptions", json=body, headers={"Idempotency-Key": "r2"})
    assert poor.status_code == 400
    assert client.post("/loyalty/mall/redemptions", json={**body, "item_id": 999999},
                       headers={"Idempotency-Key": "r3"}).status_code == 404  # fmt: skip
    assert [r["id"] for r in client.get("/loyalty/mall/redemptions?customer_id=6").json()] == [made.json()["id"]]
    assert client.get("/loyalty/mall/members/6/items").json()[0]["may_redeem"] == 1
    assert [i["id"] for i in client.get("/loyalty/mall/items").json()] == [cup.pk]


def test_the_console_pages(staff, client):
    gift = _fulfilment(staff)
    client.force_login(staff["ops"])
    for path in ("/loyalty/mall/", f"/loyalty/mall/items/{gift.pk}/", "/loyalty/mall/redemptions/",
                 "/loyalty/mall/redemptions/?status=to_ship"):  # fmt: skip
        assert client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").status_code == 200, path
    made = client.post("/loyalty/mall/", {"name": "雨伞", "kind": "gift", "points_price": "300", "stock": "20",
                                          "status": "on_sale", "cash_price": "0"})  # fmt: skip
    assert made.status_code == 302
    redemption = MallRedemption.objects.get()
    client.post(f"/loyalty/mall/redemptions/{redemption.pk}/change/", {"do": "ship", "tracking_no": "YT9", "carrier": "圆通"})
    redemption.refresh_from_db()
    assert (redemption.status, redemption.tracking_no) == ("shipped", "YT9")
    assert labels.redemption_status_label("shipped") == "Shipped" or labels.redemption_status_label("shipped")
