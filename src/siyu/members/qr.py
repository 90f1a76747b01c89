"""The coupon's code as a QR code a till scans: an inline SVG (segno), drawn on the server so the page needs
no JavaScript. The QR holds the code exactly as stored (coupons.discounts.normalise_code reads it back)."""

from __future__ import annotations

import segno
from django.utils.safestring import mark_safe


def qr_svg(text: str, *, scale: int = 5) -> str:
    """An <svg> element of `text` as a QR code (error correction M, a quiet zone of four modules)."""
    code = segno.make(text, error="m", micro=False)
    return mark_safe(code.svg_inline(scale=scale, border=4, dark="#111", light="#fff", svgclass="m-qr",
                                     omitsize=False))  # fmt: skip
