"""The words operators read for the customers' codes: lifecycle stages, consent statuses and channels,
genders. English msgids, Chinese in the catalogue."""

from django.utils.translation import gettext_lazy as _

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
    "phone": _("Phone"),
    "guide": _("1-on-1 by a guide"),
    "ugc": _("Use of buyer shows (UGC)"),
}

# records' normalised gender (siyu.ingest.normalise.values.normalise_gender)
GENDERS = {"M": _("Male"), "F": _("Female")}
