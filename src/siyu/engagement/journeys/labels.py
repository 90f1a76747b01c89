"""The words operators read for journeys' codes: statuses, re-entry, triggers, steps and events."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.customers.labels import EVENT_TYPES
from siyu.engagement.journeys.definitions import NAMED_EVENTS

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
}

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
    "exit": _("Exit"),
}

# The events a journey can wait for or be triggered by (siyu.engagement.journeys.NAMED_EVENTS)
JOURNEY_EVENTS = {name: EVENT_TYPES[name] for name in NAMED_EVENTS}
