"""The words operators read for the traits' codes: RFM layers, value layers, AIPL stages (lifecycle
stages are the customers', siyu.customers.labels.STAGES)."""

from django.utils.translation import gettext_lazy as _

# The eight classic RFM layers (siyu.segments.traits.RFM_LAYERS) under their Chinese names.
RFM_LAYERS = {
    "important_value": _("Important value customer"),
    "important_develop": _("Important customer to develop"),
    "important_keep": _("Important customer to keep"),
    "important_win_back": _("Important customer to win back"),
    "general_value": _("General value customer"),
    "general_develop": _("General customer to develop"),
    "general_keep": _("General customer to keep"),
    "general_win_back": _("General customer to win back"),
}

# siyu.segments.traits.VALUE_LAYERS
VALUE_LAYERS = {
    "top": _("Top (diamond)"),
    "waist": _("Waist"),
    "tail": _("Tail"),
}

# siyu.segments.traits.AIPL_STAGES
AIPL_STAGES = {
    "aware": _("Aware"),
    "interest": _("Interest"),
    "purchase": _("Purchase"),
    "loyalty": _("Loyalty"),
}

# siyu.segments.rules.COUPON_STATUSES: which coupons a coupon condition looks at
COUPON_STATUSES = {
    "held": _("Ever received"),
    "usable": _("Unused and not expired"),
    "used": _("Already used"),
}
