"""The words operators see for the codes of privacy requests."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

KINDS = {"access": _("Copy of their data"), "deletion": _("Deletion"), "correction": _("Correction")}
SOURCES = {"member_centre": _("Member centre"), "staff": _("Staff, on the customer's behalf"), "api": _("API")}
STATUSES = {"open": _("Not started"), "in_progress": _("Being handled"), "done": _("Done"), "refused": _("Refused")}
ACTIONS = {"opened": _("Opened"), "assigned": _("Assigned"), "status": _("Status changed"), "note": _("Note"),
           "copied": _("Copy downloaded"), "corrected": _("Profile corrected"), "erasure": _("Erasure"),
           "scan": _("Erasure check")}

# the profile fields a correction request may change (siyu.customers.models.ProfileCorrection)
FIELDS = {"name": pgettext_lazy("a person's", "Name"), "phone": _("Phone"), "email": _("Email"), "address": _("Address"),
          "gender": _("Gender"), "birthday": _("Birthday")}


def label(table: dict, code: str) -> str:
    return str(table.get(code, code))
