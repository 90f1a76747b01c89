"""The words operators read for the chat archive's codes: rule kinds and scopes, alert statuses, message
types, and why a rule was not saved. English msgids, Chinese in community's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

RULE_KINDS = {"keyword": _("Keyword"), "regex": _("Regular expression")}

# group types (siyu.community.archive.matching.GROUP_TYPES) and "all"
GROUP_TYPES = {
    "welfare": _("Welfare group"),
    "vip": _("VIP group"),
    "product": _("Product group"),
    "city": _("City group"),
    "other": _("Other group"),
    "all": _("All groups"),
}

ALERT_STATUSES = {"open": _("Open"), "handled": _("Handled")}

# WeCom archive msgtype
MESSAGE_TYPES = {
    "text": _("Text"), "image": _("Image"), "voice": _("Voice"), "video": _("Video"), "file": _("File"),
    "link": _("Link"), "weapp": _("Mini program"), "card": _("Contact card"), "location": _("Location"),
    "emotion": _("Sticker"), "chatrecord": _("Chat history"), "revoke": _("Recalled"), "mixed": _("Mixed"),
    "news": _("News"), "markdown": _("Markdown"), "redpacket": _("Red packet"), "agree": _("Agreed to archiving"),
    "disagree": _("Refused archiving"), "switch": _("Switched company"), "meeting_voice_call": _("Voice meeting"),
    "todo": _("To-do"), "vote": _("Vote"), "collect": _("Form"), "calendar": _("Calendar"), "docmsg": _("Document"),
}  # fmt: skip

# siyu.community.archive.errors.RuleError.code
RULE_ERRORS = {
    "no_name": _("Give the rule a name of up to 100 characters."),
    "no_scope": _("Choose the group types or 1-on-1 chats the rule watches."),
    "empty": _("The keyword or expression is empty."),
    "too_long": _("The keyword or expression is longer than 200 characters."),
    "kind": _("Choose a keyword or a regular expression."),
    "invalid_regex": _("This is not a valid regular expression."),
    "slow_regex": _("This regular expression repeats a part that itself repeats or has alternatives, which can "
                    "take too long to match. Write it without the nested repetition."),
    "matches_empty": _("This regular expression matches an empty message and would flag every message."),
    "group_type": _("Unknown group type."),
    "invalid": _("The rule was not saved."),
}  # fmt: skip


def scope_words(group_types: list[str], one_on_one: bool) -> str:
    parts = [str(label(GROUP_TYPES, t)) for t in group_types]
    if one_on_one:
        parts.append(str(_("1-on-1 chats")))
    return "、".join(parts)
