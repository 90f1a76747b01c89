"""The arithmetic of a coupon, in Decimal yuan: what a template takes off an order and whether an order is
within its scope. Pure functions (no database), so a property test can hold them to their invariants: the
discount is never negative, never more than the order, exact to the fen."""

from __future__ import annotations

import secrets
from decimal import ROUND_DOWN, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Readable at a till and over the phone: no 0/O, no 1/I (32 characters, 5 bits each: 60 bits in 12)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12


def new_code() -> str:
    """A fresh coupon code: CODE_LENGTH characters of CODE_ALPHABET drawn with `secrets`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str | None) -> str:
    """A code as typed or scanned: upper case, without spaces and hyphens (codes are shown `ABCD-EFGH-JKLM`)."""
    return "".join(ch for ch in str(text or "").upper() if ch not in " -\t\r\n")


def shown_code(code: str) -> str:
    """A code as shown to people: groups of four joined by hyphens."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def is_code(text: str) -> bool:
    return len(text) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in text)


def discount_for(kind: str, amount: Decimal, *, amount_off: Decimal | None = None,
                 percent_off: Decimal | None = None, max_discount: Decimal | None = None) -> Decimal:  # fmt: skip
    """What a coupon of `kind` ("amount" / "percent") takes off an order of `amount` yuan: amount off, or
    percent off rounded down to the fen and capped at `max_discount`; never below 0 nor above the amount."""
    amount = Decimal(amount).quantize(CENT, rounding=ROUND_DOWN)
    if amount <= 0:
        return ZERO
    if kind == "amount":
        off = Decimal(amount_off or 0)
    else:
        off = (amount * Decimal(percent_off or 0) / 100).quantize(CENT, rounding=ROUND_DOWN)
        if max_discount is not None:
            off = min(off, Decimal(max_discount))
    off = min(max(off, ZERO), amount)
    return off.quantize(CENT, rounding=ROUND_DOWN)


def in_scope(scope: list[str], products: list[str] | None) -> bool:
    """True when a coupon scoped to `scope` (product ids, SKUs or names; empty: all products) applies to an
    order of `products`. An order that does not say its products fits only an unscoped coupon."""
    if not scope:
        return True
    if not products:
        return False
    wanted = {str(p).strip() for p in scope}
    return any(str(p).strip() in wanted for p in products)
