"""The words operators read for the customers' codes: lifecycle stages, consent statuses and channels,
genders, event types, a timeline entry. English msgids, Chinese in the catalogue."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

# customer_summary.stage and the traits' lifecycle_stage (siyu.segments.traits.LIFECYCLE_STAGES), with
# the older names a warehouse may still hold
STAGES = {
    "lead": _("Lead"),
    "prospect": _("Lead"),
    "first_purchase": _("First purchase"),
    "new": _("First purchase"),
    "first": _("First purchase"),
    "repeat": _("Repeat"),
    "loyal": _("Loyal"),
    "dormant": _("Dormant"),
    "at_risk": _("At risk"),
    "churned": _("Churned"),
}

CONSENT_STATUSES = {
    "opt_in": _("Opted in"),
    "opt_out": _("Do not disturb"),
}

# siyu.customers.queries.CONSENT_CHANNELS
CONSENT_CHANNELS = {
    "all": _("All channels"),
    "wecom": _("WeCom"),
    "sms": _("SMS"),
    "email": _("Email"),
    "official_account": _("Official account"),
    "mini_program": _("Mini program"),
    "webhook": _("Webhook (the brand's own systems)"),
    "phone": _("Phone"),
    "guide": _("1-on-1 by a guide"),
    "ugc": _("Use of buyer shows (UGC)"),
    "personalised": _("Personalised marketing (profiling)"),
}

# records' normalised gender (siyu.ingest.normalise.values.normalise_gender)
GENDERS = {"M": _("Male"), "F": _("Female")}

# Warehouse event types (the `events` table: imports of WeCom contacts and POS members, WeCom callbacks,
# delivery receipts and replies) and the journeys' name for a purchase, as a customer's timeline and the
# journeys show them. An event type pushed through the API that is not here is shown as it was sent.
EVENT_TYPES = {
    "order_placed": _("Order placed"),
    "wecom_contact_added": _("Added on WeCom"),
    "wecom_contact_deleted": _("Deleted on WeCom"),
    "code_scanned": _("Added through a live code"),
    "group_joined": _("Joined a group"),
    "group_left": _("Left a group"),
    "wecom_group_create": _("WeCom group created"),
    "wecom_group_update": _("WeCom group changed"),
    "wecom_group_dismiss": _("WeCom group dismissed"),
    "referral": _("Referral"),
    "member_registered": _("Registered as a member"),
    "message_delivered": _("Message delivered"),
    "message_failed": _("Message not delivered"),
    "message_replied": _("Replied to a message"),
    "chat_message": _("Wrote in a WeCom chat"),  # the chat archive (siyu.community.archive)
    # loyalty and surveys, mirrored from the control plane (siyu.loyalty.mirror, siyu.surveys.mirror)
    "points_changed": _("Points changed"),
    "tier_changed": _("Membership tier changed"),
    "points_expiring": _("Points about to expire"),
    "coupon_issued": _("Coupon received"),
    "coupon_used": _("Coupon used"),
    "coupon_expiring": _("Coupon about to expire"),
    "checked_in": _("Checked in"),
    "checkin_missed": _("Check-in streak broken"),
    "survey_answered": _("Answered a survey"),
    "mall_redeemed": _("Redeemed in the rewards mall"),
}


def timeline_words(entry: dict) -> str:
    """A timeline entry (siyu.customers.queries.get_profile's "timeline") in words."""
    if entry.get("kind") == "event":
        return label(EVENT_TYPES, entry.get("event_type"))
    if entry.get("kind") == "consent":
        return gettext("%(channel)s: %(status)s") % {
            "channel": label(CONSENT_CHANNELS, entry.get("channel")),
            "status": label(CONSENT_STATUSES, entry.get("status")),
        }
    return entry.get("summary") or ""
