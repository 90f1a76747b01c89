"""Sensitive-word rules on the chat archive: keywords and regular expressions, scoped per group type and to
1-on-1 chats, matched on import and again on demand (nothing raised twice); an invalid or catastrophic regex
is refused with a clear message; each alert tells the group's owner by a WeCom app message through the
outbox, and an alert without a known owner is on the audit page only; handling an alert records who did."""

from __future__ import annotations

import re
import re._parser  # the stdlib's own parse of a pattern, to check what was accepted
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.community.archive import actions, labels, matching, rooms
from siyu.community.archive.errors import RuleError
from siyu.community.archive.models import SensitiveAlert
from siyu.core.errors import PermissionDenied
from siyu.engagement.messaging.models import Send
from siyu.staff.actions import create_user

SAMPLE = Path(__file__).parent / "data" / "archive_sample.jsonl"
pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(monkeypatch):
    """What the groups part would tell: wrRoom1 is a welfare group owned by guide1; wrRoom2's type and owner
    are unknown."""
    monkeypatch.setattr(rooms, "_owner_lookup", lambda ids: {r: "guide1" for r in ids if r == "wrRoom1"})
    monkeypatch.setattr(rooms, "_type_lookup", lambda ids: {r: "welfare" for r in ids if r == "wrRoom1"})


def _alerts():
    return sorted((a.rule_name, a.msgid) for a in SensitiveAlert.objects.all())


def test_keyword_regex_and_scope_decide_which_messages_alert(warehouse, groups):
    actions.save_rule(None, "微信引流", "keyword", "vx", group_types=["welfare"])  # case-insensitive
    actions.save_rule(None, "刷单", "regex", r"刷单|兼职", group_types=["vip"])  # not a vip group: nothing
    actions.save_rule(None, "加微信", "regex", r"加.{0,4}(微信|VX)", group_types=["all"], one_on_one=True)
    actions.save_rule(None, "红包", "keyword", "红包", one_on_one=True)  # 1-on-1 only
    report = actions.import_chat_archive(SAMPLE)
    assert report["alerts"] == 4
    assert _alerts() == [
        ("加微信", "msg004"),  # 1-on-1 "加微信领红包吗"
        ("加微信", "msg008"),  # welfare group "加我VX"
        ("微信引流", "msg008"),
        ("红包", "msg004"),  # "谢谢红包" (msg030) was said in a group: the 1-on-1-only rule does not read it
    ]
    alert = SensitiveAlert.objects.get(rule_name="微信引流")
    assert (alert.room_id, alert.sender, alert.owner_userid) == ("wrRoom1", "wmAlice", "guide1")
    assert "VX" in alert.excerpt and alert.status == "open"


def test_group_owner_is_told_through_the_outbox_once(warehouse, groups):
    actions.save_rule(None, "微信引流", "keyword", "VX", group_types=["welfare"])
    actions.save_rule(None, "加微信", "regex", r"加.{0,4}(微信|VX)", one_on_one=True)
    actions.import_chat_archive(SAMPLE)
    sends = list(Send.objects.filter(channel="wecom_app"))
    assert [(s.member, s.marketing) for s in sends] == [("guide1", False)]
    assert "微信引流" in sends[0].content and "VX" in sends[0].content
    # the 1-on-1 hit (msg004) has no group owner: an alert on the audit page, no message
    assert SensitiveAlert.objects.get(msgid="msg004").owner_userid == ""
    # matching again raises nothing twice and sends nothing twice
    assert actions.rescan_messages()["alerts"] == 0
    assert Send.objects.filter(channel="wecom_app").count() == 1


def test_a_rule_added_later_finds_earlier_messages_when_rescanned(warehouse, groups):
    actions.import_chat_archive(SAMPLE)
    assert SensitiveAlert.objects.count() == 0
    rule = actions.save_rule(None, "兼职", "keyword", "兼职", group_types=["all"])
    assert actions.rescan_messages(rule_ids=[rule.pk]) == {"rules": 1, "scanned": 24, "alerts": 1}
    assert _alerts() == [("兼职", "msg011")]
    # a disabled rule matches nothing
    actions.save_rule(None, "签到", "keyword", "签到", group_types=["all"], enabled=False)
    assert actions.rescan_messages()["alerts"] == 0


def test_without_the_groups_part_only_all_type_rules_read_group_chats(warehouse):
    actions.save_rule(None, "福利群专用", "keyword", "VX", group_types=["welfare"])
    actions.save_rule(None, "全部群", "keyword", "刷单", group_types=["all"])
    actions.import_chat_archive(SAMPLE)
    assert _alerts() == [("全部群", "msg011")]
    assert not Send.objects.filter(channel="wecom_app").exists()  # no known owner: audit page only


@pytest.mark.parametrize(
    ("kind", "pattern", "words"),
    [
        ("regex", "(加微信", "not a valid regular expression"),
        ("regex", "(a+)+$", "repeats a part that itself repeats"),
        ("regex", "(微信|VX)*好友", "repeats a part that itself repeats"),
        ("regex", "x*", "matches an empty message"),
        ("keyword", "   ", "the pattern is empty"),
        ("keyword", "字" * 201, "longer than 200 characters"),
    ],
)
def test_a_bad_pattern_is_refused_with_a_clear_message(db, kind, pattern, words):
    with pytest.raises(RuleError, match=words):
        actions.save_rule(None, "规则", kind, pattern, group_types=["all"])


def test_scope_must_be_known_and_non_empty(db):
    with pytest.raises(RuleError, match="unknown group type 'family'"):
        actions.save_rule(None, "规则", "keyword", "VX", group_types=["family"])
    with pytest.raises(RuleError, match="choose the group types or 1-on-1"):
        actions.save_rule(None, "规则", "keyword", "VX")
    assert actions.save_rule(None, "规则", "keyword", "VX", group_types=["vip", "all"]).group_types == ["all"]


def test_handling_an_alert_records_who_and_only_managers_may(warehouse, groups):
    actions.save_rule(None, "兼职", "keyword", "兼职", group_types=["all"])
    actions.import_chat_archive(SAMPLE)
    alert = SensitiveAlert.objects.get()
    guide = create_user("g", "pw-guide-12345", "guide", wecom_userid="guide9")
    with pytest.raises(PermissionDenied):
        actions.handle_alert(guide, alert.pk)
    from siyu.staff.models import Store

    manager = create_user("m", "pw-manager-12345", "manager", store=Store.objects.create(code="S1", name="一店"))
    handled = actions.handle_alert(manager, alert.pk, note="已移出群聊")
    assert (handled.status, handled.handled_by, handled.note) == ("handled", manager, "已移出群聊")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab微信()|*+?{}[]^$.\\0123,-:=!<>", max_size=30))
def test_any_pattern_is_either_refused_with_reasons_or_compiles(pattern):
    """Whatever an operator types, saving it gives a RuleError with a reason code or a pattern that compiles
    and that repeats nothing that repeats (so matching cannot backtrack exponentially)."""
    try:
        checked = matching.checked_pattern("regex", pattern)
    except RuleError as exc:
        assert exc.code in labels.RULE_ERRORS
        return
    matching.find("regex", checked, "ab" * 50)  # compiles and runs
    assert not matching._risky(list(re._parser.parse(checked)), False)
