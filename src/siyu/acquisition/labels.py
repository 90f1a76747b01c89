"""The words operators read for acquisition's codes: a live code's channel, kind and status, and how its
welcome message went. English msgids, Chinese in this app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# siyu.acquisition.models.LiveCode.Channel: where the code is shown
CHANNELS = {
    "store": _("In store"),
    "package_card": _("Package card"),
    "receipt": _("Receipt"),
    "poster": _("Poster"),
    "online_event": _("Online event"),
    "shelf": _("Shelf talker"),
    "other": _("Other"),
}

# siyu.acquisition.models.LiveCode.Kind
KINDS = {
    "staff": _("Staff code"),
    "store": _("Store code"),
    "guide": _("Guide's personal code"),
}

# siyu.acquisition.queries.code_status
STATUSES = {
    "active": _("Active"),
    "nobody_available": _("Nobody available now"),
    "archived": _("Archived"),
}

# siyu.acquisition.models.LiveCodeAdd.Welcome
WELCOME_OUTCOMES = {
    "sent": _("Welcome sent"),
    "suppressed": _("Welcome held back (opted out)"),
    "failed": _("Welcome failed"),
    "none": _("No welcome message"),
}

# siyu.acquisition.queries.staff_availability: why a staff member is or is not offered now
AVAILABILITY = {
    "offered": _("Offered now"),
    "off_schedule": _("Off schedule"),
    "daily_limit": _("Daily limit reached"),
    "near_contact_limit": _("Near WeCom's 5,000 contacts"),
    "standby": _("Backup, on standby"),
}

