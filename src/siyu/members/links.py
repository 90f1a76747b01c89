"""Signed one-click sign-in links for messages (an SMS, a WeCom message, a template message): the link
carries the customer id and where to go, signed with the server's key (django.core.signing) and valid
for `settings.MEMBER_LINK_MAX_AGE` seconds (default 7 days). Anyone holding the link signs in as that
customer until it expires, so links go only to the customer's own address."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from siyu.members.auth import safe_next

SALT = "siyu.members.link"


def max_age() -> int:
    return settings.MEMBER_LINK_MAX_AGE


def sign_in_url(customer_id: int, next: str = "/m/") -> str:  # noqa: A002 - the agreed interface's name
    """The path of a one-click sign-in link (prefix the site's address when it goes into a message)."""
    token = signing.dumps({"c": int(customer_id), "n": safe_next(next)}, salt=SALT, compress=True)
    return f"{reverse('members:link')}?t={token}"


def public_address() -> str:
    """The address customers reach the server at (settings.MEMBER_CENTRE_URL, from SIYU_PUBLIC_URL, e.g.
    https://crm.brand.cn), without a trailing slash; "" when not configured."""
    return settings.MEMBER_CENTRE_URL.rstrip("/")


def member_links(customer_ids) -> dict[int, str]:
    """{customer_id: the absolute sign-in link} for the {member_link} message variable. Without a public
    address none is filled (a path alone opens nothing from an SMS), so a message using it is not sent
    with a broken link: delivery reports the variable as missing."""
    base = public_address()
    if not base:
        return {}
    return {int(cid): base + sign_in_url(int(cid)) for cid in customer_ids}


def read_link(token: str) -> tuple[int, str]:
    """(customer_id, next) of a valid link; signing.BadSignature (tampered) or signing.SignatureExpired."""
    data = signing.loads(token or "", salt=SALT, max_age=max_age())
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or data["c"] < 1:
        raise signing.BadSignature("not a sign-in link")
    return data["c"], safe_next(data.get("n"))
