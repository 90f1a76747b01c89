"""Helpers of the mall tests: members with points, items made through the action."""

from __future__ import annotations

from siyu.loyalty.mall import actions
from siyu.loyalty.points import actions as points_actions

ADDRESS = {"name": "张三", "phone": "13812345678", "province": "上海市", "city": "上海市", "district": "静安区",
           "detail": "南京西路1号", "postcode": "200040"}  # fmt: skip


def give_points(customer_id: int, points: int) -> None:
    points_actions.award_points(customer_id, points, key=f"test-give:{customer_id}:{points}", reason="test",
                                source="manual")  # fmt: skip


def make_item(staff, **fields):
    data = {"name": "保温杯", "kind": "gift", "points_price": 100, "stock": 10, "status": "on_sale"}
    data.update(fields)
    return actions.save_item(staff, **data)
