"""Member sessions: who the customer on the member centre is.

A member session is one key in the Django session (`MEMBER_KEY`) holding the customer_id the person
proved to be (SMS code, WeChat web authorisation, a signed link) and how. It is separate from staff
sessions: a staff login (`request.user`) is never a member, and signing a member in or out leaves a staff
login in the same browser alone.

A person the identity graph does not know yet signs in on the record landed for them (`record_key`,
siyu.members.actions.land_member_record): until the pipeline resolves that record into a customer, the
session knows the record only, `current_member` answers None and member pages say the membership is being
set up. Once resolved, the next request finds the customer and keeps it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from siyu.customers.queries import merged_into
from siyu.identity.queries import customer_id_for

MEMBER_KEY = "siyu_member"
METHODS = ("sms", "wechat", "link")


@dataclass(frozen=True)
class MemberSession:
    customer_id: int | None
    record_key: str
    method: str  # sms | wechat | link: how the person proved who they are


def safe_next(target: str | None, default: str = "/m/") -> str:
    """Where to go after signing in: a path of the member centre only (no other host, no console page)."""
    if not target or not isinstance(target, str) or not target.startswith("/m/") or "\\" in target:
        return default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=None, require_https=False):
        return default
    return target


def sign_member_in(request, *, customer_id: int | None, method: str, record_key: str = "") -> MemberSession:
    """Start a member session (a new session key: no fixation). The staff login, if any, stays as it was."""
    if method not in METHODS:
        raise ValueError(f"unknown sign-in method {method!r}")
    if customer_id is None and not record_key:
        raise ValueError("a member session needs a customer or the record landed for the person")
    request.session.cycle_key()
    request.session[MEMBER_KEY] = {
        "customer_id": int(customer_id) if customer_id is not None else None,
        "record_key": record_key,
        "method": method,
        "at": timezone.now().isoformat(),
    }
    return MemberSession(customer_id, record_key, method)


def sign_member_out(request) -> None:
    if MEMBER_KEY in request.session:
        del request.session[MEMBER_KEY]
        request.session.cycle_key()


def member_session(request) -> MemberSession | None:
    """The member session, with its customer brought up to date: a record resolved since sign-in gives its
    customer; a customer absorbed by a merge gives the survivor."""
    data = request.session.get(MEMBER_KEY) if hasattr(request, "session") else None
    if not isinstance(data, dict) or data.get("method") not in METHODS:
        return None
    customer_id = data.get("customer_id")
    record_key = data.get("record_key") or ""
    changed = False
    if customer_id is None and record_key:
        customer_id = customer_id_for(record_key)
        changed = customer_id is not None
    if customer_id is not None:
        survivor = merged_into(int(customer_id))
        if survivor is not None and survivor != customer_id:
            customer_id, changed = survivor, True
    if changed:
        request.session[MEMBER_KEY] = {**data, "customer_id": int(customer_id)}
    return MemberSession(int(customer_id) if customer_id is not None else None, record_key, data["method"])


def current_member(request) -> int | None:
    """The signed-in customer's id, or None (nobody signed in, or a new person's record not resolved yet)."""
    session = member_session(request)
    return session.customer_id if session else None


def member_required(view):
    """Member pages: nobody signed in → the sign-in page (coming back here after); a new person whose
    record is not resolved yet → a page saying so. The view gets `request.member_id` (an int)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        session = member_session(request)
        if session is None:
            return redirect(f"{reverse('members:sign_in')}?next={request.get_full_path()}")
        if session.customer_id is None:
            return render(request, "siyu/members/pending.html", {"member": session})
        request.member_id = session.customer_id
        request.member = session
        return view(request, *args, **kwargs)

    return wrapper
