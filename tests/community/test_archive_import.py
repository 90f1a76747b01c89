"""Importing WeCom's chat archive (会话存档) export: a hand-written sample of 31 lines (text, image, voice,
video, link, file, location, weapp, card, chatrecord, emotion, mixed, news, redpacket, agree, a recall, a
switch, a robot's message, a malformed line, a line without msgtime and a duplicate) lands as exact counts;
a re-import adds nothing; customer messages become events and 1-on-1 staff messages touches; the line parser
never raises on arbitrary input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.community.archive.actions import import_chat_archive
from siyu.community.archive.lines import read_line
from siyu.community.archive.models import ArchiveImport
from siyu.staff.actions import create_user

SAMPLE = Path(__file__).parent / "data" / "archive_sample.jsonl"
T0 = dt.datetime(2025, 11, 24, 16, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return {u: create_user(f"user-{u}", f"pw-{u}-12345", "guide", wecom_userid=u) for u in ("guide1", "guide2")}


def _table(con, sql):
    return [tuple(r.values()) for r in con.execute(sql).to_arrow_table().to_pylist()]


def test_sample_lands_with_exact_counts_and_reports_bad_lines(warehouse, staff):
    from engagement.engagement_helpers import add_customers

    add_customers(warehouse.raw_connection(), [{"customer_id": 7, "wecom": ("wmAlice", "guide1")}])
    report = import_chat_archive(SAMPLE)
    assert {k: report[k] for k in ("lines", "imported", "duplicates", "rejected")} == {
        "lines": 31, "imported": 28, "duplicates": 1, "rejected": 2,
    }  # fmt: skip
    assert report["rejected_lines"] == [
        {"file": "archive_sample.jsonl", "line": 23, "reason": "not JSON"},
        {"file": "archive_sample.jsonl", "line": 32, "reason": "msgtime is not a time in milliseconds"},
    ]
    con = warehouse.raw_connection()
    assert _table(con, "SELECT count(*) FROM chat_messages") == [(28,)]
    rows = {r[0]: r[1:] for r in _table(con, "SELECT msgid, msgtype, text, is_staff, room_id, sent_at, line, seq, "
                                             "action, recipients FROM chat_messages")}  # fmt: skip
    assert rows["msg001"][:4] == ("text", "你好，请问有优惠吗", False, "")
    assert rows["msg001"][4] == T0 and rows["msg001"][5] == 1 and rows["msg001"][6] == 1
    assert rows["msg002"][2] is True  # guide1 is staff
    # other types carry a short description of their body
    assert rows["msg006"][:2] == ("voice", "5s")
    assert rows["msg010"][:2] == ("link", "新品上市")
    assert rows["msg014"][:2] == ("file", "价目表.xlsx")
    assert rows["msg015"][:2] == ("location", "旗舰店")
    assert rows["msg027"][:2] == ("mixed", "优惠券怎么领")
    assert rows["msg028"][:2] == ("news", "会员日活动")
    assert rows["msg012"][7] == "recall" and rows["msg012"][1] == "msg011"
    assert rows["msg019"][:2] == ("switch", "") and rows["msg019"][7] == "switch"
    assert rows["msg021"][2] is False  # a group robot (wb…) is not staff
    assert rows["msg008"][3] == "wrRoom1" and set(rows["msg008"][8]) == {"guide1", "wmBob", "woCarol", "wbBot"}

    # customer messages (sends, not the recall) are chat_message events of the customer's WeCom record
    events = _table(con, "SELECT record_key, count(*) FROM events WHERE event_type = 'chat_message' GROUP BY 1")
    assert dict(events) == {"wecom|wmAlice": 7, "wecom|wmBob": 3, "wecom|woCarol": 3}
    assert report["events"] == 13
    # staff messages to one customer in 1-on-1 chats are touches; a known customer gets their id
    touches = _table(con, "SELECT record_key, customer_id, count(*) FROM touches WHERE channel = 'wecom_chat' "
                          "GROUP BY 1, 2 ORDER BY 1")  # fmt: skip
    assert touches == [("wecom|wmAlice", 7, 3), ("wecom|wmBob", None, 2), ("wecom|woCarol", None, 3)]
    assert report["touches"] == 8
    assert ArchiveImport.objects.get().rejected == 2


def test_reimport_adds_nothing_and_small_batches_give_the_same_result(warehouse, staff):
    first = import_chat_archive(SAMPLE, batch_lines=4)  # streamed four lines at a time
    assert (first["imported"], first["duplicates"], first["rejected"]) == (28, 1, 2)
    again = import_chat_archive(SAMPLE)
    assert (again["imported"], again["duplicates"], again["rejected"], again["events"], again["touches"]) == (
        0, 29, 2, 0, 0,
    )  # fmt: skip
    con = warehouse.raw_connection()
    assert _table(con, "SELECT count(*), count(DISTINCT msgid) FROM chat_messages") == [(28, 28)]
    assert _table(con, "SELECT count(*) FROM events WHERE event_type = 'chat_message'") == [(13,)]
    assert _table(con, "SELECT count(*) FROM touches WHERE channel = 'wecom_chat'") == [(8,)]


def test_a_staff_userid_starting_like_a_customer_is_still_staff(warehouse, db):
    create_user("wm-lee", "pw-wmlee-12345", "guide", wecom_userid="wmlee")
    path = SAMPLE.parent / "staff_wm.jsonl"
    try:
        path.write_text(json.dumps({"msgid": "x1", "action": "send", "from": "wmlee", "tolist": ["wmAlice"],
                                    "roomid": "", "msgtime": 1_764_000_000_000, "msgtype": "text",
                                    "text": {"content": "您好"}}) + "\n")  # fmt: skip
        report = import_chat_archive(path)
    finally:
        path.unlink()
    assert report["touches"] == 1 and report["events"] == 0
    assert _table(warehouse.raw_connection(), "SELECT is_staff FROM chat_messages") == [(True,)]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "msgid": _json | st.text(max_size=10), "action": st.sampled_from(["send", "recall", "switch", "x"]) | _json,
        "from": _json | st.text(max_size=10), "tolist": st.lists(st.text(max_size=10), max_size=3) | _json,
        "roomid": _json, "msgtime": st.integers() | _json, "time": st.integers() | _json,
        "msgtype": st.sampled_from(["text", "image", "mixed", "news", "voice", "link"]) | _json,
        "text": _json, "mixed": _json, "info": _json, "voice": _json, "link": _json, "seq": _json, "user": _json,
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), _json.map(json.dumps), _fields.map(json.dumps)))
def test_the_line_parser_never_raises_and_names_what_is_wrong(text):
    message, reason = read_line(text)
    assert (message is None) == bool(reason)
    if message is not None:
        assert message.msgid and message.sender and isinstance(message.text, str)
        assert message.sent_at.tzinfo is not None


def test_a_good_line_of_every_action_reads():
    text, reason = read_line('{"msgid":"a","action":"send","from":"wmX","tolist":["g"],"roomid":"","msgtime":1700000000000,'
                             '"msgtype":"text","text":{"content":"hi"}}')  # fmt: skip
    assert reason == "" and text.text == "hi" and text.sent_at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    switch, reason = read_line('{"msgid":"b","action":"switch","time":1700000000000,"user":"g"}')
    assert reason == "" and switch.sender == "g" and switch.msgtype == "switch"
    assert read_line('{"msgid":"c","action":"send","from":"wmX","tolist":["g"],"msgtime":1700000000,'
                     '"msgtype":"text","text":{"content":"hi"}}')[1] == "msgtime is not a time in milliseconds"  # fmt: skip
    assert read_line('{"msgid":"d","action":"send","from":"wmX","tolist":["g"],"msgtime":1700000000000,'
                     '"msgtype":"text"}')[1] == "a text message without text.content"  # fmt: skip
