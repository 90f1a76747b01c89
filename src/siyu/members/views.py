"""The member centre's pages: sign-in (SMS code, WeChat, a signed link), sign-out, home and 我的隐私.
Thin: state changes are siyu.members.actions' (and customers' / privacy's), words are labels'."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core import signing
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from siyu.core.errors import DataPlaneBusy
from siyu.customers import actions as customer_actions
from siyu.customers import queries as customer_queries
from siyu.customers.models import PERSONALISED
from siyu.members import actions, labels, links, queries
from siyu.members.auth import member_required, safe_next, sign_member_in, sign_member_out
from siyu.members.errors import SignInRefused
from siyu.privacy import actions as privacy_actions
from siyu.privacy import labels as privacy_labels
from siyu.privacy import queries as privacy_queries

CONSENT_SOURCE = "会员中心"  # where a member's own consent choices come from (customers.actions.record_consent)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _signed_in(request, person, method: str, next_path: str):
    sign_member_in(request, customer_id=person.customer_id, record_key=person.record_key, method=method)
    return redirect(safe_next(next_path))


def sign_in(request):
    next_path = safe_next(request.POST.get("next") or request.GET.get("next"))
    context = {"next": next_path, "phone": "", "code_sent": False, "wechat": actions.wechat_available()}
    if request.method == "POST":
        phone = (request.POST.get("phone") or "").strip()[:20]
        context["phone"] = phone
        try:
            if request.POST.get("action") == "verify":
                context["code_sent"] = True
                person = actions.sign_in_with_code(phone, request.POST.get("code") or "", client_ip(request))
                return _signed_in(request, person, "sms", next_path)
            actions.send_sign_in_code(phone, client_ip(request))
            context["code_sent"] = True
            context["notice"] = _("We sent a 6-digit code to your phone. It is valid for 5 minutes.")
        except SignInRefused as exc:
            context["error"] = labels.refusal_words(exc.reason, exc.values)
            context["code_sent"] = context["code_sent"] or exc.reason in ("too_soon",)
        except DataPlaneBusy:
            context["error"] = labels.refusal_words("not_member")
    elif request.GET.get("refused"):
        context["error"] = labels.refusal_words(request.GET["refused"])
    return render(request, "siyu/members/sign_in.html", context, status=200)


def _refused(reason: str, next_path: str = "/m/"):
    return redirect(f"{reverse('members:sign_in')}?{urlencode({'refused': reason, 'next': next_path})}")


@require_GET
def wechat_start(request):
    next_path = safe_next(request.GET.get("next"))
    try:
        url = actions.wechat_sign_in_url(request.build_absolute_uri(reverse("members:wechat_callback")), next_path)
    except SignInRefused as exc:
        return _refused(exc.reason)
    return redirect(url)


@require_GET
def wechat_callback(request):
    try:
        next_path = actions.read_wechat_state(request.GET.get("state") or "")
        code = (request.GET.get("code") or "").strip()
        if not code or len(code) > 128:
            raise SignInRefused("bad_code")  # the user declined, or no code came back
        person = actions.sign_in_with_wechat(code, client_ip(request))
    except SignInRefused as exc:
        return _refused(exc.reason)
    except DataPlaneBusy:
        return _refused("not_member")
    return _signed_in(request, person, "wechat", next_path)


@require_GET
def link(request):
    try:
        customer_id, next_path = links.read_link(request.GET.get("t") or "")
    except signing.SignatureExpired:
        return _refused("link_expired")
    except signing.BadSignature:
        return _refused("link_invalid")
    person = actions.sign_in_with_link(customer_id, client_ip(request))
    return _signed_in(request, person, "link", next_path)


@require_POST
def sign_out(request):
    sign_member_out(request)
    messages.info(request, _("You have signed out."))
    return redirect("members:sign_in")


@member_required
def home(request):
    profile = customer_queries.own_profile(request.member_id) or {}
    return render(request, "siyu/members/home.html", {
        "name": profile.get("name"), "member_no": request.member_id,
        "method": labels.METHODS.get(request.member.method, ""), "summary": queries.home_of(request.member_id),
    })  # fmt: skip


# --- 我的隐私 ------------------------------------------------------------------------------------------


def _channels(consent: dict) -> list[dict]:
    overall = (consent.get("all") or {}).get("status")
    rows = []
    for channel, words in labels.CHANNELS.items():
        status = (consent.get(channel) or {}).get("status")
        accepted = status != "opt_out" and overall != "opt_out"
        rows.append({"channel": channel, "label": words, "accepted": accepted,
                     "recorded_at": (consent.get(channel) or {}).get("recorded_at")})  # fmt: skip
    return rows


def _personalised(consent: dict) -> dict:
    """The member's choice about personalised marketing (PIPL art. 24): allowed unless they refused it."""
    latest = consent.get(PERSONALISED) or {}
    return {"accepted": latest.get("status") != "opt_out", "recorded_at": latest.get("recorded_at")}


@member_required
def privacy(request):
    profile = customer_queries.own_profile(request.member_id)
    if profile is None:
        return render(request, "siyu/members/pending.html", {"member": request.member})
    by_source: dict[str, int] = {}
    for identity in profile["identities"]:
        by_source[identity["source"]] = by_source.get(identity["source"], 0) + 1
    return render(request, "siyu/members/privacy.html", {
        "profile": profile, "channels": _channels(profile["consent"]),
        "sources": [(labels.source_words(s), n) for s, n in sorted(by_source.items())],
        "all_out": (profile["consent"].get("all") or {}).get("status") == "opt_out",
        "personalised": _personalised(profile["consent"]),
        "requests": [{"kind": privacy_labels.label(privacy_labels.KINDS, r.kind), "at": r.requested_at,
                      "status": privacy_labels.label(privacy_labels.STATUSES, r.status)}
                     for r in privacy_queries.requests_of_customer(request.member_id)],
    })  # fmt: skip


@require_POST
@member_required
def privacy_consent(request):
    channel = request.POST.get("channel") or ""
    accept = request.POST.get("accept") == "1"
    if channel not in labels.CHANNELS and channel not in ("all", PERSONALISED):
        messages.error(request, _("Unknown channel."))
        return redirect("members:privacy")
    customer_actions.record_consent(None, request.member_id, channel, "opt_in" if accept else "opt_out",
                                    CONSENT_SOURCE)  # fmt: skip
    if channel == PERSONALISED:
        if accept:
            messages.success(request, _("You will receive offers chosen for you again."))
        else:
            messages.success(request, _("You will no longer receive offers chosen by analysing your data. "
                                        "Service messages and general offers still reach you."))  # fmt: skip
    elif accept:
        messages.success(request, _("Subscribed again."))
    else:
        messages.success(request, _("Unsubscribed. You will not receive these messages any more."))
    return redirect("members:privacy")


VERIFICATION = {"sms": "短信验证码（会员中心登录）", "wechat": "微信网页授权 openid（会员中心登录）",
                "link": "一键登录链接（会员中心登录）"}  # fmt: skip


@require_POST
@member_required
def privacy_request(request):
    kind = request.POST.get("kind") or ""
    if kind not in ("access", "deletion"):
        messages.error(request, _("Unknown request."))
        return redirect("members:privacy")
    privacy_actions.open_request(customer_id=request.member_id, kind=kind, source="member_centre",
                                 verification=VERIFICATION.get(request.member.method, request.member.method),
                                 detail=(request.POST.get("detail") or "").strip()[:500])  # fmt: skip
    messages.success(request, _("Your request has been received. We will answer within 15 days."))
    return redirect("members:privacy")
