"""Console pages of outbound event subscriptions (settings → integrations): the list with a form to add one
(its signing secret shown once), a subscription's delivery log with every attempt, and the buttons that
send a test event, redeliver, rotate the secret, pause and delete. Thin: actions and queries."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.integrations import actions, labels, queries
from siyu.integrations.errors import IntegrationError
from siyu.outbox.actions import EVENT_TYPES as EVENT_KINDS
from siyu.web.views import console_view


def _types(types) -> str:
    return "、".join(str(labels.EVENT_TYPES.get(t, t)) for t in types)


@console_view
def subscriptions_page(request):
    subs = queries.subscriptions(request.user)
    if request.method == "POST":
        try:
            sub = actions.create_subscription(request.user, request.POST.get("url", ""),
                                              request.POST.getlist("event_types"), request.POST.get("description", ""))  # fmt: skip
        except IntegrationError as exc:
            messages.error(request, _("The subscription was not saved: %(reason)s") % {"reason": exc})
        else:
            # the secret is shown on this answer only (it is never shown again)
            return render(
                request, "siyu/integrations/created.html", {"sub": sub, "types": _types(sub.event_types)}
            )
    rows = [{"sub": s, "types": _types(s.event_types)} for s in subs]
    choices = [(t, labels.EVENT_TYPES[t]) for t in EVENT_KINDS]  # every kind the outbox records, in its order
    return render(request, "siyu/integrations/subscriptions.html", {"rows": rows, "choices": choices})


@console_view
def subscription_page(request, subscription_id: int):
    sub = queries.subscription(request.user, subscription_id)
    rows = [
        {"d": d, "type": labels.EVENT_TYPES.get(d.event_type, d.event_type),
         "status": labels.STATUSES.get(d.status, d.status), "attempts": list(d.attempts.all())}
        for d in queries.deliveries(request.user, subscription_id)
    ]  # fmt: skip
    return render(
        request,
        "siyu/integrations/subscription.html",
        {"sub": sub, "types": _types(sub.event_types), "rows": rows},
    )


@require_POST
@console_view
def subscription_action(request, subscription_id: int):
    what = request.POST.get("action", "")
    try:
        if what == "test":
            delivery = actions.send_test_event(request.user, subscription_id)
            if delivery.status == "delivered":
                messages.success(request, _("The test event was delivered."))
            else:
                messages.error(request, _("The test event was not delivered; see the attempt below."))
        elif what == "rotate":
            sub = actions.rotate_secret(request.user, subscription_id)
            return render(
                request,
                "siyu/integrations/created.html",
                {"sub": sub, "types": _types(sub.event_types), "rotated": True},
            )
        elif what in ("pause", "resume"):
            actions.update_subscription(request.user, subscription_id, active=what == "resume")
            messages.success(request, _("Saved."))
        elif what == "delete":
            actions.delete_subscription(request.user, subscription_id)
            messages.success(request, _("The subscription was deleted."))
            return redirect("console:integrations_subscriptions")
    except IntegrationError as exc:
        messages.error(request, _("Not possible: %(reason)s") % {"reason": exc})
    return redirect("console:integrations_subscription", subscription_id)


@require_POST
@console_view
def redeliver(request, delivery_id: int):
    delivery = actions.redeliver(request.user, delivery_id)
    messages.success(request, _("The event will be sent again within a minute."))
    return redirect("console:integrations_subscription", delivery.subscription_id)
