"""Console and provider endpoints of the channel adapters (kept apart from views.py): the WeCom contact
sync button, marking a WeCom corporate tag and transferring a customer in WeCom from the profile, and the
SMS delivery-receipt and reply pushes of Aliyun and Tencent Cloud."""

from __future__ import annotations

import hmac
import logging

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from siyu.core.errors import SiyuError
from siyu.core.models import Job
from siyu.core.owner import submit_job
from siyu.customers.queries import get_profile
from siyu.engagement.errors import EngagementError
from siyu.engagement.messaging import channel_actions, queries
from siyu.engagement.messaging.channel_actions import sync_interval
from siyu.engagement.messaging.models import Channel
from siyu.staff.queries import can_assign_owner, can_import
from siyu.web.views import console_view, forbidden

log = logging.getLogger("siyu.engagement")

# What each provider wants back once a push is taken (anything else makes it push again).
ACCEPTED = {"aliyun": {"code": 0, "msg": "成功"}, "tencent": {"result": 0, "errmsg": "OK"}}
REFUSED = {"aliyun": {"code": 1, "msg": "refused"}, "tencent": {"result": 1, "errmsg": "refused"}}


def channels_page_context() -> dict:
    """What the channel-accounts page shows about the contact sync and the SMS receipt URLs."""

    wecom = queries.account_of(Channel.WECOM)
    wecom_secrets = queries.account_secrets(wecom) if wecom else {}
    every = sync_interval()
    sms = queries.account_of(Channel.SMS)
    return {
        "wecom_sync": {
            "ready": bool(
                wecom
                and wecom.enabled
                and wecom.settings.get("corp_id")
                and wecom_secrets.get("contact_secret")
            ),
            "every": f"{every.total_seconds() / 3600:g}" if every else "",
            "last": Job.objects.filter(kind="wecom_sync").order_by("-created_at").first(),
        },
        "sms_push": {
            "provider": sms.provider if sms else "",
            "token_set": bool(sms and queries.account_secrets(sms).get("receipt_token")),
        },
    }


@console_view
@require_POST
def wecom_sync(request):
    """Start a WeCom contact sync: a job run by the server that owns the warehouse."""
    if not can_import(request.user):
        return forbidden(request)
    job = submit_job("wecom_sync", {}, request.user, in_process=False)
    return redirect("console:job", job_id=job.pk)


def _profile(customer_id: int, anchor: str):
    return redirect(reverse("console:customer", args=[customer_id]) + anchor)


@console_view
@require_POST
def wecom_tag(request, customer_id: int):
    """Mark a WeCom corporate tag on the customer (or take it off), in WeCom and in Siyu."""

    get_profile(request.user, customer_id)  # 404 / 403 before any change
    label, remove = request.POST.get("label", ""), request.POST.get("op") == "remove"
    try:
        result = channel_actions.mark_wecom_tag(request.user, [customer_id], label, remove=remove)
    except SiyuError as exc:
        messages.error(request, str(exc))
    else:
        if result["failed"]:
            messages.error(
                request, _("WeCom did not take it: %(why)s") % {"why": result["failed"][customer_id]}
            )
        elif remove:
            messages.success(request, _("WeCom tag “%(tag)s” removed.") % {"tag": label})
        else:
            messages.success(request, _("WeCom tag “%(tag)s” marked.") % {"tag": label})
    return _profile(customer_id, "#tags")


@console_view
@require_POST
def wecom_transfer(request, customer_id: int):
    """Hand the customer to another guide in WeCom (在职继承) and make that guide the owner."""

    if not can_assign_owner(request.user):
        return forbidden(request, _("Only administrators, operators and store managers assign owners."))
    get_profile(request.user, customer_id)
    guide = get_user_model().objects.filter(pk=request.POST.get("owner") or 0, is_active=True).first()
    if guide is None:
        messages.error(request, _("Choose the guide who takes the customer over."))
        return _profile(customer_id, "#owner")
    try:
        result = channel_actions.transfer_wecom_customers(
            request.user, [customer_id], guide, message=request.POST.get("message", "")[:200]
        )
    except SiyuError as exc:
        messages.error(request, str(exc))
    else:
        if result["refused"]:
            messages.error(request, _("Not transferred: %(why)s") % {"why": result["refused"][customer_id]})
        else:
            messages.success(
                request, _("Transferred in WeCom to %(guide)s.") % {"guide": guide.get_username()}
            )
    return _profile(customer_id, "#owner")


@csrf_exempt
@require_POST
def sms_push(request, provider: str, token: str, kind: str):
    """The URL given to the SMS provider for delivery reports (`report`) and replies (`reply`):
    /engagement/sms/<aliyun|tencent>/<receipt token>/<report|reply>/. Neither provider signs these pushes,
    so the URL carries a secret (the account's receipt token) and a report must name a send of ours."""
    account = queries.account_of(Channel.SMS)
    if (
        kind not in ("report", "reply")
        or provider not in ACCEPTED
        or account is None
        or account.provider != provider
    ):
        return HttpResponse("no such SMS account", status=404)
    expected = queries.account_secrets(account).get("receipt_token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        log.warning("refused an SMS push with a wrong token (%s)", provider)
        return JsonResponse(REFUSED[provider], status=403)
    try:
        items = channel_actions.parse_push(request.body)
    except EngagementError as exc:
        return JsonResponse({**REFUSED[provider], "detail": str(exc)}, status=400)
    if kind == "report":
        result = channel_actions.record_sms_receipts(provider, items)
    else:
        result = channel_actions.record_sms_replies(provider, items)
    log.info("SMS %s push from %s: %s", kind, provider, result)
    return JsonResponse(ACCEPTED[provider], json_dumps_params={"ensure_ascii": False})
