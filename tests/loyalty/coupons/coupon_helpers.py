"""Helpers of the coupon tests: templates made through the action, as an operator would."""

from __future__ import annotations

from siyu.loyalty.coupons import actions


def make_template(**fields):
    data = {"name": "满100减20", "kind": "amount", "amount_off": "20", "min_spend": "100", "validity": "days",
            "valid_days": 30, "per_member_limit": 1}  # fmt: skip
    data.update(fields)
    return actions.save_template(None, data)
