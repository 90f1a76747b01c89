"""Invariants of the coupon arithmetic (hypothesis): codes are of the readable alphabet and unique; a
discount is exact to the fen, never below 0 nor above the order, and a percent-off one never above its cap."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from siyu.loyalty.coupons import discounts

money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999999.99"), places=2)
percent = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99.99"), places=2)


@given(st.integers(min_value=1, max_value=300))
def test_codes_are_readable_and_unique(n):
    codes = [discounts.new_code() for _ in range(n)]
    assert len(set(codes)) == n
    for code in codes:
        assert discounts.is_code(code)
        assert not set(code) & set("0O1I")
        assert discounts.normalise_code(discounts.shown_code(code).lower()) == code


@given(money, money)
def test_amount_off_never_below_zero(amount, off):
    got = discounts.discount_for("amount", amount, amount_off=off)
    assert Decimal("0") <= got <= amount
    assert got == min(off, amount)
    assert got == got.quantize(Decimal("0.01"))


@given(money, percent, st.one_of(st.none(), money))
def test_percent_off_is_exact_and_capped(amount, pct, cap):
    got = discounts.discount_for("percent", amount, percent_off=pct, max_discount=cap)
    assert Decimal("0") <= got <= amount
    assert got == got.quantize(Decimal("0.01"))
    if cap is not None:
        assert got <= cap
    exact = amount * pct / 100
    assert got <= exact and (cap is not None and got == cap or exact - got < Decimal("0.01"))
