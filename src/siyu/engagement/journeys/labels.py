"""The words operators read for journeys' codes: statuses, re-entry, triggers, steps and events."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.customers.labels import EVENT_TYPES
from siyu.engagement.journeys.definitions import GROUP_STEP_TYPES as GROUP_STEP_NAMES
from siyu.engagement.journeys.definitions import NAMED_EVENTS
from siyu.engagement.journeys.definitions import STEP_TYPES as CUSTOMER_STEP_NAMES

JOURNEY_STATUSES = {"draft": _("Draft"), "active": _("Running"), "paused": _("Paused")}
REENTRY = {
    "once": _("Only once"),
    "after_exit": _("Again after leaving"),
    "cooldown": _("Again N days after leaving"),
}

# siyu.engagement.journeys.TRIGGER_TYPES
TRIGGERS = {
    "event": _("An event"),
    "segment": _("Entering or leaving a segment"),
    "date": _("A date"),
    "schedule": _("A schedule"),
    "inactivity": _("No purchase for N days"),
    "segment_now": _("One-shot campaign to a segment"),
    # group journeys only (definitions.GROUP_TRIGGER_TYPES: schedule and once)
    "once": _("Once, when the SOP is activated"),
}

# Journey.audience
AUDIENCES = {"customers": _("Customers"), "groups": _("Customer groups (group SOP)")}

# siyu.engagement.journeys.STEP_TYPES
STEP_TYPES = {
    "wait": _("Wait a duration"),
    "wait_window": _("Wait for a time window"),
    "wait_event": _("Wait for an event"),
    "branch": _("Branch on a condition"),
    "split": _("Random split"),
    "send": _("Send a message"),
    "add_tag": _("Add a tag"),
    "remove_tag": _("Remove a tag"),
    "guide_task": _("Create a guide task"),
    "award_points": _("Award points"),
    "issue_coupon": _("Issue a coupon"),
    "exit": _("Exit"),
    "send_group": _("Send a group mass message"),  # group journeys only
}

# definitions.STEP_TYPES / GROUP_STEP_TYPES: the steps a customer / a group journey offers
CUSTOMER_STEP_TYPES = {name: STEP_TYPES[name] for name in CUSTOMER_STEP_NAMES}
GROUP_STEP_TYPES = {name: STEP_TYPES[name] for name in GROUP_STEP_NAMES}

# The events a journey can wait for or be triggered by (siyu.engagement.journeys.NAMED_EVENTS)
JOURNEY_EVENTS = {name: EVENT_TYPES[name] for name in NAMED_EVENTS}
