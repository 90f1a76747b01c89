"""Console pages of messaging (outbox, channel accounts, contact policy), the WeCom callback endpoint and
the channel adapters' pages (WeCom sync, tags and transfers, SMS pushes)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from siyu.engagement.errors import EngagementError
from siyu.engagement.messaging import actions, queries
from siyu.engagement.messaging.callbacks import handle_wecom_event
from siyu.engagement.messaging.channel_actions import send_welcome_message
from siyu.engagement.messaging.channel_views import channels_page_context
from siyu.engagement.messaging.channels import ACCOUNT_FIELDS
from siyu.engagement.messaging.channels.wecom import CallbackError, WeComCallbackCrypto, parse_callback_event
from siyu.engagement.messaging.labels import PROVIDERS, SEND_CHANNELS, account_fields
from siyu.engagement.messaging.models import CHANNEL_PROVIDERS, Channel, ChannelAccount, Send
from siyu.engagement.messaging.policy import REASONS, current_policy
from siyu.staff.queries import can_import, is_admin
from siyu.web.views import console_view, forbidden

log = logging.getLogger("siyu.engagement")


@console_view
def outbox(request):
    if not can_import(request.user):
        return forbidden(request)
    data = request.GET
    customer = data.get("customer", "").strip()
    result = queries.list_sends(
        status=data.get("status") or None,
        channel=data.get("channel") or None,
        reason=data.get("reason") or None,
        source=data.get("source") or None,
        customer_id=int(customer) if customer.isdigit() else None,
        page=int(data.get("page") or 1) if (data.get("page") or "1").isdigit() else 1,
    )
    query = data.copy()
    query.pop("page", None)
    return render(
        request,
        "siyu/engagement/outbox.html",
        {
            "page": result,
            "counts": queries.outbox_counts(),
            "outages": queries.unreachable_providers(),
            "statuses": Send.Status.choices,
            "channels": Channel.choices,
            "sources": Send.Source.choices,
            "reasons": REASONS,
            "filters": data,
            "query": query.urlencode(),
        },
    )


@console_view
def channels(request):
    if not is_admin(request.user):
        return forbidden(request)
    if request.method == "POST":
        channel, provider = request.POST.get("channel", ""), request.POST.get("provider", "")
        setting_names, secret_names = ACCOUNT_FIELDS.get(provider, ((), ()))
        try:
            actions.configure_account(
                request.user,
                channel,
                provider,
                {name: request.POST.get(name, "") for name in setting_names},
                {name: request.POST.get(name, "") for name in secret_names},
                enabled=request.POST.get("enabled") == "on",
            )
        except EngagementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Channel account saved."))
        return redirect("console:engagement_channels")
    accounts = {a["channel"]: a for a in map(queries.account_summary, ChannelAccount.objects.all())}
    forms = [
        {
            "channel": channel,
            "label": SEND_CHANNELS[channel],
            "providers": [
                {"name": p, "label": PROVIDERS[p], "settings": account_fields(ACCOUNT_FIELDS[p][0]),
                 "secrets": account_fields(ACCOUNT_FIELDS[p][1])}
                for p in providers
            ],  # fmt: skip
            "account": accounts.get(channel),
        }
        for channel, providers in CHANNEL_PROVIDERS.items()
    ]

    return render(request, "siyu/engagement/channels.html", {"forms": forms, **channels_page_context()})


@console_view
def policy(request):
    if not can_import(request.user):
        return forbidden(request)
    if request.method == "POST":
        if not is_admin(request.user):
            return forbidden(request)
        data = request.POST
        caps = {}
        for channel in ("wecom", "sms", "email", "webhook"):
            count, days = (
                data.get(f"cap_{channel}_count", "").strip(),
                data.get(f"cap_{channel}_days", "").strip(),
            )
            if count:
                caps[channel] = [count, days or "7"]
        try:
            actions.update_policy(
                request.user,
                quiet_start=data.get("quiet_start", ""),
                quiet_end=data.get("quiet_end", ""),
                marketing_cap=data.get("marketing_cap"),
                marketing_cap_days=data.get("marketing_cap_days"),
                holdout_percent=data.get("holdout_percent"),
                max_delay_hours=data.get("max_delay_hours"),
                wecom_one_per_day=data.get("wecom_one_per_day") == "on",
                consent_required_channels=data.getlist("consent_required"),
                channel_caps=caps,
            )
        except EngagementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Contact policy saved."))
        return redirect("console:engagement_policy")
    return render(
        request,
        "siyu/engagement/policy.html",
        {
            "policy": current_policy(),
            "can_edit": is_admin(request.user),
            "customer_channels": ["wecom", "sms", "email", "webhook"],
        },
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wecom_callback(request):
    """WeCom's 回调 URL: GET verifies the URL, POST delivers an encrypted event (contact added/deleted,
    group changes) that becomes a warehouse event. Answers "success" so WeCom does not resend."""
    account = queries.account_of(Channel.WECOM)
    secrets = queries.account_secrets(account) if account else {}
    if account is None or not secrets.get("callback_token") or not secrets.get("callback_aes_key"):
        return HttpResponse("WeCom callbacks are not configured", status=404)
    try:
        crypto = WeComCallbackCrypto(
            secrets["callback_token"], secrets["callback_aes_key"], account.settings.get("corp_id", "")
        )
        args = [request.GET.get(name, "") for name in ("msg_signature", "timestamp", "nonce")]
        if request.method == "GET":
            return HttpResponse(
                crypto.verify_url(*args, request.GET.get("echostr", "")), content_type="text/plain"
            )
        event = parse_callback_event(crypto.open(*args, request.body.decode(errors="replace")))
    except CallbackError as exc:
        log.warning("refused a WeCom callback: %s", exc)
        return HttpResponseForbidden(str(exc))
    except ValueError:
        return HttpResponseBadRequest("malformed callback")
    if event is not None:
        actions.record_wecom_events([event], source=account.settings.get("source") or "wecom")
        handle_wecom_event(event, account)  # a live code's own welcome message takes the code first
        if event.get("welcome_code"):
            try:
                send_welcome_message(event, account)  # the code is valid for 20 seconds: now, not later
            except EngagementError as exc:
                log.warning("welcome message not sent: %s", exc)
    return HttpResponse("success", content_type="text/plain")
