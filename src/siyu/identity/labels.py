"""The words an operator reads about identity: comparison levels, review reasons, evidence patterns as
rules, identifier types and how a customer's records were joined. Chinese in the catalogue, English
msgids; codes never reach a page."""

from __future__ import annotations

import re

from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from siyu.identity import evidence as ev
from siyu.identity.probabilistic import MatchSettings

COMPARISONS = {
    "phone": _("Phone"),
    "name": _("Name"),
    "address": _("Address"),
    "birthday": _("Birthday"),
    "gender": _("Gender"),
    "nickname": _("WeChat nickname"),
}

# One entry per level label of siyu.identity.probabilistic.comparisons (tests/identity/test_evidence.py
# checks that none is missing); the English msgid is the label itself.
LEVELS = {
    "no phone": _("no phone on one side"),
    "different full phones": _("different full phones"),
    "same phone (visible prefix and tail)": _("same masked phone (first three and last four digits)"),
    "same phone tail": _("same last four phone digits"),
    "different phones": _("different phones"),
    "no name": _("no name on one side"),
    "same full name": _("same full name"),
    "same name in pinyin": _("names that sound the same"),
    "full names alike": _("nearly the same full name"),
    "different given names": _("different given names"),
    "same surname and length": _("same surname and name length (name masked)"),
    "same surname": _("same surname"),
    "different surnames": _("different surnames"),
    "no address": _("no address on one side"),
    "same street (visible part)": _("same street (the visible part of the address)"),
    "same district": _("same district"),
    "same city": _("same city"),
    "different cities": _("different cities"),
    "no birthday": _("no birthday on one side"),
    "same birthday": _("same birthday"),
    "different birthdays": _("different birthdays"),
    "no gender": _("no gender on one side"),
    "same gender": _("same gender"),
    "different genders": _("different genders"),
    "no nickname": _("no WeChat nickname on one side"),
    "same nickname": _("same WeChat nickname"),
    "different nicknames": _("different WeChat nicknames"),
}

# Generic fields (siyu.identity.generic_fields) under the names the import mapping documents.
GENERIC_FIELDS = {
    "first_name": _("given name"),
    "last_name": _("surname"),
    "postcode": _("postcode"),
    "email": _("email"),
    "address": _("address"),
    "street": _("address"),
    "birthday": _("birthday"),
    "city": _("city"),
    "province": _("province"),
    "district": _("district"),
    "store": _("store"),
}

# The levels of a generic field's comparison (siyu.identity.generic_fields.comparison), by the form of
# their label: "<field> alike (0.92)", "<field>: one typo"…
GENERIC_LEVELS = (
    (re.compile(r"^no (?P<noun>.+)$"), _("no %(field)s on one side")),
    (re.compile(r"^same (?P<noun>.+)$"), _("same %(field)s")),
    (re.compile(r"^different (?P<noun>.+)$"), _("different %(field)s")),
    (re.compile(r"^first and last name swapped$"), _("given name and surname swapped")),
    (re.compile(r"^(?P<noun>.+) alike \((?P<threshold>[\d.]+)\)$"), _("%(field)s alike (similarity at least %(threshold)s)")),
    (re.compile(r"^(?P<noun>.+) alike$"), _("%(field)s alike")),
    (re.compile(r"^(?P<noun>.+): (one typo|one edit)$"), _("%(field)s one character apart")),
    (re.compile(r"^(?P<noun>.+): day and month swapped$"), _("%(field)s with day and month swapped")),
    (re.compile(r"^(?P<noun>.+): year off$"), _("%(field)s the same but for the year")),
    (re.compile(r"^(?P<noun>.+): within a year$"), _("%(field)s less than a year apart")),
    (re.compile(r"^(?P<noun>.+): same number, street alike$"), _("%(field)s: same house number, street alike")),
    (re.compile(r"^(?P<noun>.+): street alike$"), _("%(field)s: street alike")),
    (re.compile(r"^(?P<noun>.+): words in common$"), _("%(field)s: words in common")),
)

CONFLICTS = {
    "given": _("the two sides carry different given names"),
    "phone_full": _("the two sides carry different full phone numbers"),
    "birthday": _("the two sides carry different birthdays"),
    "gender": _("the two sides carry different genders"),
}

ID_TYPES = {
    "phone": _("phone number"),
    "email": _("email"),
    "unionid": _("WeChat UnionID"),
    "openid": _("WeChat OpenID"),
    "external_userid": _("WeCom contact"),
    "member_no": _("member card number"),
    "taobao_buyer": _("Taobao buyer account"),
    "alipay": _("Alipay account"),
    "jd_account": _("JD account"),
    # the records of an erased person stay one customer through it (siyu.warehouse.erasure)
    "erased": _("erased person"),
}

RECORD_KINDS = {
    "order": _("order"),
    "contact": _("WeCom contact"),
    "member": _("member"),
    "sale": _("store sale"),
    "generic": _("record"),
}


def field_words(comparison: str) -> str:
    """A comparison (its output column) as the field it compares, in words."""
    if comparison in COMPARISONS:
        return str(COMPARISONS[comparison])
    name = comparison.removeprefix("extra_")
    if name.startswith("id_"):  # an identifier type named with --compare id:<type>
        return id_type_words(name.removeprefix("id_"))
    return str(GENERIC_FIELDS.get(name, name))


def level_words(comparison: str, label: str) -> str:
    """A comparison level as an operator would say it."""
    if label in LEVELS:
        return str(LEVELS[label])
    field = field_words(comparison)
    for pattern, words in GENERIC_LEVELS:
        found = pattern.match(label)
        if found:
            return str(words) % {"field": field, **{k: v for k, v in found.groupdict().items() if k != "noun"}}
    return _g("%(field)s: compared") % {"field": field}


KIND_ORDER = {ev.AGREES: 0, ev.SHARED: 1, ev.DIFFERS: 2, ev.MISSING: 3}


def evidence_words(fields: dict[str, str]) -> list[dict]:
    """Each compared field with its level in words and its kind (agrees, shared, differs, missing):
    what agrees first."""
    rows = [
        {"field": field_words(c), "comparison": c, "level": lv, "words": level_words(c, lv), "kind": ev.level_kind(lv)}
        for c, lv in fields.items()
    ]
    return sorted(rows, key=lambda r: (KIND_ORDER[r["kind"]], r["comparison"]))


def agreed_words(fields: dict[str, str]) -> list[str]:
    """The fields that agreed, in words (what a household shares included)."""
    return [r["words"] for r in evidence_words(fields) if r["kind"] in (ev.AGREES, ev.SHARED)]


def reason_words(reason: str) -> str:
    """Why a pair waits for a reviewer (or is kept apart), from its stored reason or its pattern code."""
    code = ev.reason_class(reason) if " " in reason else reason
    if code == ev.BELOW:
        return _g("not certain enough to merge automatically")
    if code == ev.AMBIGUOUS:
        return _g("looks like two different people at once (a household, say): the system does not pick one")
    if code == ev.SHARED_ONLY:
        return _g("only what people living together share agrees (surname, address): kept apart")
    if code.startswith(ev.CONFLICT + ":"):
        conflict = code.split(":", 1)[1]
        what = CONFLICTS.get(conflict, _("the two sides disagree"))
        return _g("not merged automatically: %(what)s") % {"what": what}
    return _g("waiting for a decision")


def rule_words(pattern: str) -> str:
    """An evidence pattern as a rule an operator can read: "same full name, same WeChat nickname"."""
    _kind, levels = ev.parse_pattern(pattern)
    if not levels:
        return _g("no comparable evidence")
    rows = evidence_words(dict(levels))
    return _g(", ").join(r["words"] for r in rows if r["kind"] != ev.MISSING)


def id_type_words(id_type: str) -> str:
    if id_type in ID_TYPES:
        return str(ID_TYPES[id_type])
    return _g("identifier “%(type)s”") % {"type": id_type.removeprefix("id:")}


def merge_rule_words(rule: str) -> str:
    """A merge_log rule in words: what joined (or split) two customer ids."""
    if rule == "split":
        return _g("split")
    if rule == "manual:decision":
        return _g("a reviewer's decision")
    if rule == "probabilistic":
        return _g("a match")
    if rule.startswith("deterministic:"):
        id_type = rule.split(":", 1)[1]
        if id_type == "unknown":
            return _g("shared identifiers")
        return _g("same %(types)s") % {"types": id_type_words(id_type)}
    return _g("merged")


def record_kind_words(kind: str | None) -> str:
    return str(RECORD_KINDS.get(kind or "", RECORD_KINDS["generic"]))


def auto_rule_words(name: str | None, fields: dict | None = None) -> str:
    """An automatic rule by the levels it requires (settings IDENTITY_MATCHING["auto_rules"]); a rule no
    longer in the settings (a link made before it was removed) by what agreed in the link's `fields`."""

    for rule in MatchSettings.from_settings().auto_rules:
        if rule.name == name:
            ordered = sorted(rule.levels, key=lambda item: (KIND_ORDER[ev.level_kind(item[1][0])], item[0]))
            return _g(", ").join(_g(" or ").join(level_words(c, lv) for lv in levels) for c, levels in ordered)
    agreed = agreed_words(fields or {})
    return _g(", ").join(agreed) if agreed else _g("an automatic rule")


def describe_joins(evidence: dict, label_of) -> list[dict]:
    """The profile's account of how each record joined the customer, oldest record first:
    {"record", "parent" (labels from `label_of(record_key)`, masked as the viewer may see), "how",
    "words" (a sentence without the labels), "agreed" (fields that agreed, in words), "probability",
    "weight", "decided_by", "decided_at", "reason"}. The first record is the customer's oldest; a record
    no kept evidence reaches says so."""
    out = []
    records = evidence.get("records") or []
    joins = evidence.get("joins") or {}
    for key in records[1:]:
        join = joins.get(key)
        row = {"record": label_of(key), "record_key": key, "how": None, "parent": None, "parent_key": None,
               "agreed": [], "id_types": [], "fields": {}, "rule": None, "probability": None, "weight": None,
               "decided_by": None, "decided_at": None, "reason": ""}  # fmt: skip
        if join is None:
            row["words"] = _g("no evidence kept: joined before evidence was recorded, run a full resolution")
            out.append(row)
            continue
        row.update(how=join["how"], parent=label_of(join["parent"]), parent_key=join["parent"])
        if join["how"] == ev.IDENTIFIER:
            row["id_types"] = list(join["id_types"])
            types = _g(", ").join(id_type_words(t) for t in join["id_types"])
            row["words"] = _g("same %(types)s") % {"types": types}
        elif join["how"] in (ev.MATCH, ev.AUTO_RULE):
            row.update(
                probability=join["match_probability"],
                weight=join["match_weight"],
                fields=dict(join["fields"]),
                agreed=agreed_words(join["fields"]),
                rule=join.get("rule"),
            )
            if join["how"] == ev.AUTO_RULE:
                rule = auto_rule_words(join["rule"], join["fields"])
                row["words"] = _g("matched by the automatic rule “%(rule)s”") % {"rule": rule}
            else:
                row["words"] = _g("matched on the evidence below")
        else:
            row.update(decided_by=join.get("decided_by"), decided_at=join.get("decided_at"),
                       reason=join.get("reason") or "", rule=join.get("rule"))  # fmt: skip
            at = date_format(localtime(join["decided_at"]), "Y-m-d H:i") if join.get("decided_at") else ""
            who = join.get("decided_by") or _g("a reviewer")
            if join.get("rule"):
                row["words"] = _g("%(who)s decided they are one person on %(at)s, by the rule “%(rule)s”") % {
                    "who": who, "at": at, "rule": rule_words(join["rule"])}  # fmt: skip
            else:
                row["words"] = _g("%(who)s decided they are one person on %(at)s") % {"who": who, "at": at}
        out.append(row)
    return out


def quarantined_in_words(entry: dict) -> dict:
    """A quarantine entry (siyu.identity.queries.quarantine_page) with its type and reason in words."""
    return {**entry, "type_words": id_type_words(entry["id_type"]), "reason_words": quarantine_reason_words(entry)}


def quarantine_reason_words(entry: dict) -> str:
    """Why a value is quarantined, in the operator's language (the rule and its numbers)."""
    numbers = {"records": entry.get("records") or 0, "names": entry.get("names") or 0,
               "limit": entry.get("rule_limit") or 0}  # fmt: skip
    rule = entry.get("rule")
    if rule == "member_names":
        text = _g("Member or contact records with %(names)s different names carry it (at most %(limit)s)")
    elif rule == "member_records":
        text = _g("On %(records)s member or contact records (at most %(limit)s)")
    elif rule == "names":
        text = _g("Records with %(names)s different names carry it (at most %(limit)s)")
    elif rule == "records":
        text = _g("On %(records)s records (at most %(limit)s)")
    elif rule == "placeholder":
        text = _g("A placeholder or filler that an earlier import took for an identifier")
    elif rule == "customer":
        text = _g(
            "It joined records of more than %(limit)s different names into one customer, who was split here"
        )
    else:  # quarantined before rules were recorded
        return entry.get("reason") or ""
    return text % numbers
