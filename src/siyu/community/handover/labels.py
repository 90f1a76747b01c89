"""The words operators read for handover's codes. English msgids, Chinese in community's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

HANDOVER_KINDS = {"resigned": _("Resigned member's handover"), "on_job": _("Transfer between staff")}
ITEM_KINDS = {"customer": _("Customer"), "group": _("Customer group")}
# siyu.community.handover.queries.outcome_of
OUTCOMES = {"accepted": _("Taken over"), "waiting": _("Waiting"), "refused": _("Not taken over")}
# WeCom's 接替状态
TAKEOVER_STATUSES = {
    "1": _("Taken over"),
    "2": _("Waiting for takeover"),
    "3": _("Customer refused"),
    "4": _("Takeover has too many customers"),
    "5": _("No takeover record"),
}
REFUSALS = {
    "transfer_limit": _("Already transferred twice in 90 days"),
    "wecom": _("Refused by WeCom"),
}
