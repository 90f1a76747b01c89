"""The words operators read for customer groups' codes: group types and statuses, how a member joined or
left, why a code left a group. English msgids, Chinese in the community app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

# siyu.community.groups.models.GroupType
GROUP_TYPES = {
    "welfare": _("Welfare group"),
    "vip": _("VIP group"),
    "product": _("Product group"),
    "city": _("City group"),
    "other": _("Other group"),
}

# siyu.community.groups.models.GroupStatus
GROUP_STATUSES = {
    "active": _("Active"),
    "owner_resigned": _("Owner resigned"),
    "inheriting": _("Being handed over"),
    "inherited": _("Handed over"),
    "dismissed": _("Dismissed"),
}

# GroupMember.join_scene (groupchat/get's join_scene)
JOIN_SCENES = {
    "1": _("Invited by a member"),
    "2": _("Invitation link"),
    "3": _("Scanned the group QR code"),
}

# GroupMember.quit_scene (the callback's QuitScene; 9: the group was dismissed)
QUIT_SCENES = {
    "0": _("Left the group"),
    "1": _("Removed by the owner or an admin"),
    "9": _("The group was dismissed"),
}

# GroupCodeSlot.removed_because
SLOT_REMOVALS = {
    "full": _("Nearly full: the code moved on"),
    "edited": _("Taken off by an operator"),
}


def group_type_label(value) -> str:
    return label(GROUP_TYPES, value)


def group_status_label(value) -> str:
    return label(GROUP_STATUSES, value)


def join_scene_label(value) -> str:
    return label(JOIN_SCENES, value)


def quit_scene_label(value) -> str:
    return label(QUIT_SCENES, value)


def slot_removal_label(value) -> str:
    return label(SLOT_REMOVALS, value)
