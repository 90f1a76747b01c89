"""Imported orders carrying a coupon's code mark it used (idempotently); a refunded order does not, and a
refund after the match gives the coupon back. The code reaches the warehouse through a generic file's
`--map …=coupon_code` and Youzan's 优惠券码 column. Per template: counts, redemption rate and the GMV of
coupon orders (imported purchases plus till redemptions)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from coupon_helpers import make_template

from siyu.ingest.actions import import_files
from siyu.loyalty.coupons import actions, discounts, queries

pytestmark = pytest.mark.django_db


def _csv(path, rows):
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_generic_orders_with_codes_use_their_coupons_once(warehouse, tmp_path):
    template = make_template(min_spend="0")
    kept, refunded, late = (actions.issue_coupon(template.pk, n, key=f"k{n}", source="manual") for n in (1, 2, 3))
    actions.redeem_coupon(late.code, key="till", amount=Decimal("80"), order_ref="T-9")
    path = _csv(tmp_path / "orders.csv", [
        ("单号", "手机", "金额", "状态", "时间", "券码"),
        ("A1", "13800000001", "120.00", "已完成", "2026-03-01 10:00:00", discounts.shown_code(kept.code).lower()),
        ("A2", "13800000002", "90.00", "已退款", "2026-03-01 11:00:00", refunded.code),
        ("A3", "13800000003", "50.00", "已完成", "2026-03-01 12:00:00", "满100减10"),
    ])  # fmt: skip
    mapping = {"单号": "order_id", "手机": "phone", "金额": "amount", "状态": "status", "时间": "order_time",
               "券码": "coupon_code"}  # fmt: skip
    import_files([path], source="shop", format="generic", mapping=mapping)

    report = actions.match_coupon_orders()
    assert (report["orders"], report["used"]) == (3, 1)
    kept.refresh_from_db()
    refunded.refresh_from_db()
    assert (kept.status, kept.used_via, kept.order_amount, kept.discount) == ("used", "import", Decimal("120.00"),
                                                                              Decimal("20.00"))  # fmt: skip
    assert kept.order_ref.endswith("A1") and kept.channel == "shop"
    assert refunded.status == "issued"  # a refunded order uses nothing
    assert actions.match_coupon_orders()["used"] == 0  # a second run changes nothing
    kept.refresh_from_db()
    assert kept.status == "used"

    stats = queries.template_stats(template.pk)
    assert (stats["issued"], stats["used"], stats["unused"]) == (3, 2, 1)
    assert stats["redemption_rate"] == pytest.approx(2 / 3)
    assert (stats["imported_gmv"], stats["till_gmv"], stats["gmv"]) == (Decimal("120.00"), Decimal("80.00"),
                                                                         Decimal("200.00"))  # fmt: skip

    # the kept order is refunded later: its coupon is the customer's again
    _csv(path, [("单号", "手机", "金额", "状态", "时间", "券码"),
                ("A1", "13800000001", "120.00", "已退款", "2026-03-01 10:00:00", kept.code)])  # fmt: skip
    import_files([path], source="shop", format="generic", mapping=mapping)
    assert actions.match_coupon_orders()["restored"] == 1
    kept.refresh_from_db()
    assert (kept.status, kept.order_ref) == ("issued", "")
    assert queries.template_stats(template.pk)["imported_gmv"] == Decimal("0.00")


def test_an_order_placed_after_the_coupon_expired_does_not_use_it(warehouse, tmp_path):
    template = make_template(min_spend="0", valid_days=1)
    issued = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    coupon = actions.issue_coupon(template.pk, 1, key="k", source="manual", now=issued)
    path = _csv(tmp_path / "orders.csv", [("单号", "金额", "时间", "券码"), ("B1", "100", "2026-03-05 10:00:00", coupon.code)])
    import_files([path], source="shop", format="generic",
                 mapping={"单号": "order_id", "金额": "amount", "时间": "order_time", "券码": "coupon_code"})  # fmt: skip
    assert actions.match_coupon_orders(now=issued + dt.timedelta(days=10))["used"] == 0
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_a_youzan_export_carries_the_code(warehouse, tmp_path):
    template = make_template(min_spend="0")
    coupon = actions.issue_coupon(template.pk, 1, key="k", source="manual")
    path = _csv(tmp_path / "youzan.csv", [
        ("订单号", "归属店铺", "订单状态", "订单创建时间", "订单实付金额", "买家手机号", "优惠券码"),
        ("E2026", "旗舰店", "交易成功", "2026-03-01 10:00:00", "66.00", "13800000009", coupon.code),
    ])  # fmt: skip
    import_files([path], source="youzan")
    assert actions.match_coupon_orders()["used"] == 1
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_amount) == ("used", Decimal("66.00"))


def test_the_daily_upkeep_expires_and_matches(warehouse):
    from siyu.loyalty.tasks import loyalty_upkeep

    template = make_template(min_spend="0", valid_days=1)
    coupon = actions.issue_coupon(template.pk, 1, key="k", source="manual",
                                  now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    report = loyalty_upkeep.call()
    assert report["coupon_expiry"] == {"expired": 1} and report["coupon_order_match"]["used"] == 0
    assert set(report) == {"points_expiry", "coupon_expiry", "coupon_order_match", "loyalty_tiers", "loyalty_birthdays"}
    coupon.refresh_from_db()
    assert coupon.status == "expired"
