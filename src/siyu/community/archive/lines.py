"""One line of WeCom's chat-archive export (会话内容存档), as the archive SDK emits it after GetChatData and
DecryptData: a JSON object per message.

- a message (`action` "send", or "recall" for a recall notice whose `msgtype` is "revoke"): `msgid`, `action`,
  `from` (a staff member's userid, or a customer's external_userid), `tolist` (the receivers), `roomid` (the
  group chat's id; "" in a 1-on-1 chat), `msgtime` (milliseconds since the epoch), `msgtype`, and a body under a
  key named after the type (`"text": {"content": …}`, `"image": {…}`, …; a few types use another key:
  markdown/news → `info`, docmsg → `doc`, external_redpacket → `redpacket`);
- a switch of enterprise (`action` "switch"): `msgid`, `time` (ms) and `user`, with no receivers or type.

`seq` is the position GetChatData gave the message; an export that kept it carries it on the line.

Who is staff and who is a customer (WeCom's id convention): a customer's external_userid starts with "wm" or
"wo", a group robot's id with "wb"; anything else is a userid of the company. A userid that a Siyu staff
profile carries (StaffProfile.wecom_userid) is staff even when it happens to start with "wm"."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

ACTIONS = ("send", "recall", "switch")
# types that are not something a person said to be answered: consent to the archive (agree/disagree), a
# recall notice, a switch of enterprise; response times leave them out
NOT_CONVERSATION = ("agree", "disagree", "revoke", "switch")
CUSTOMER_PREFIXES = ("wm", "wo")
ROBOT_PREFIX = "wb"
MAX_ID = 128  # userids are ≤ 64, external_userids and chat ids a little longer; anything far longer is not an id
MAX_TEXT = 4000  # what is kept of a message's text (WeCom's text messages stop at 2,048 bytes)
MAX_LINE = 1_000_000  # a line longer than this is not one message (a broken export)
# msgtime must fall in WeCom's lifetime: a value outside is a broken line (e.g. seconds instead of ms)
EARLIEST = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
# the key of a type's body where it is not the type's own name
BODY_KEYS = {"markdown": "info", "news": "info", "docmsg": "doc", "external_redpacket": "redpacket"}


@dataclass
class ChatMessage:
    msgid: str
    action: str
    sender: str
    recipients: list[str]
    room_id: str
    sent_at: dt.datetime
    msgtype: str
    text: str
    seq: int | None = None
    body: dict = field(default_factory=dict)


def is_customer_id(userid: str, staff_userids: frozenset | set = frozenset()) -> bool:
    return userid not in staff_userids and userid.startswith(CUSTOMER_PREFIXES)


def is_staff_id(userid: str, staff_userids: frozenset | set = frozenset()) -> bool:
    if userid in staff_userids:
        return True
    return bool(userid) and not userid.startswith((*CUSTOMER_PREFIXES, ROBOT_PREFIX))


def _text_of(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def describe(msgtype: str, body) -> str:
    """The message's words: the content of a text or markdown message; else a short description taken from
    its body (a file's name, a link's title, a location's title, a voice's length…), or "" when it has none."""
    body = body if isinstance(body, dict) else {}
    get = body.get
    if msgtype in ("text", "markdown"):
        return _text_of(get("content"))
    if msgtype == "mixed":  # items are {"type", "content": "<the item's JSON>"}
        parts = []
        for item in get("item") or []:
            if isinstance(item, dict) and item.get("type") == "text":
                try:
                    inner = json.loads(item.get("content") or "{}")
                except (TypeError, ValueError):
                    continue
                if isinstance(inner, dict):
                    parts.append(_text_of(inner.get("content")))
        return " ".join(p for p in parts if p)
    if msgtype == "news":
        items = get("item") or []
        return _text_of(items[0].get("title")) if items and isinstance(items[0], dict) else ""
    if msgtype in ("voice", "meeting_voice_call"):
        seconds = get("play_length") or get("voice_length")
        return f"{seconds}s" if isinstance(seconds, int) else ""
    if msgtype == "video":
        seconds = get("play_length")
        return f"{seconds}s" if isinstance(seconds, int) else ""
    for key in ("title", "filename", "topic", "votetitle", "corpname", "wish", "address", "pre_msgid", "userid"):
        if _text_of(get(key)):
            return _text_of(get(key))
    return ""


def _epoch_ms(value) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        at = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return at if EARLIEST <= at < LATEST else None


def _id(value) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID and value.strip() == value else None


def read_line(text) -> tuple[ChatMessage | None, str]:
    """(message, "") for a good line, (None, reason) for a bad one; never raises (a broken export must not
    stop the import of the good lines)."""
    if not isinstance(text, str):
        return None, "not text"
    if len(text) > MAX_LINE:
        return None, "line too long"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    msgid = _id(data.get("msgid"))
    if msgid is None:
        return None, "no msgid"
    action = data.get("action")
    if action not in ACTIONS:
        return None, "action is not send, recall or switch"
    seq = data.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63):
        return None, "seq is not a whole number"
    if action == "switch":
        user, at = _id(data.get("user")), _epoch_ms(data.get("time"))
        if user is None:
            return None, "no user"
        if at is None:
            return None, "time is not a time in milliseconds"
        return ChatMessage(msgid, action, user, [], "", at, "switch", "", seq), ""
    sender = _id(data.get("from"))
    if sender is None:
        return None, "no sender (from)"
    recipients = data.get("tolist")
    if not isinstance(recipients, list) or any(_id(r) is None for r in recipients):
        return None, "tolist is not a list of ids"
    room = data.get("roomid") or ""
    if not isinstance(room, str) or len(room) > MAX_ID:
        return None, "roomid is not an id"
    at = _epoch_ms(data.get("msgtime"))
    if at is None:
        return None, "msgtime is not a time in milliseconds"
    msgtype = data.get("msgtype")
    if not isinstance(msgtype, str) or not msgtype or len(msgtype) > 40:
        return None, "no msgtype"
    body = data.get(BODY_KEYS.get(msgtype, msgtype))
    if msgtype == "text" and not (isinstance(body, dict) and isinstance(body.get("content"), str)):
        return None, "a text message without text.content"
    body = body if isinstance(body, dict) else {}
    return ChatMessage(msgid, action, sender, list(recipients), room, at, msgtype,
                       describe(msgtype, body)[:MAX_TEXT], seq, body), ""  # fmt: skip
