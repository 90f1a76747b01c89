"""The fake WeCom's 联系我 (contact ways, live codes) part, mixed into FakeWeCom (siyu.engagement.messaging.
fakes.wecom), whose state (`members`, `contacts`, …) it shares.

As WeCom documents 客户联系「联系我」管理 (developer.work.weixin.qq.com/document/path/92228):
- add_contact_way: `type` 1 单人 / 2 多人 and `scene` 1 小程序 / 2 二维码 required; `style` (used by scene 1);
  `remark` and `state` at most 30 characters; `user` required for type 1 with exactly one userid, at most 100
  for type 2, where `party` may stand in for users (type 2 only); `skip_verify` defaults to true; `is_temp`
  (临时会话) only for a single-person code, `expires_in` / `chat_expires_in` at most 14 days. Answer:
  `config_id`, and `qr_code` for scene 2: the URL of a *picture* of the QR (on WeCom's picture host,
  wework.qpic.cn), not what the QR holds.
- The picture: here `{fake url}/wwpic/<config_id>.png`, served without an access token as a CDN serves it, a
  430 × 430 px PNG (segno) of a QR whose content is the way's add link. WeCom's own link is of the form
  `https://work.weixin.qq.com/ca/cawcde…`; the fake's stand-in is that form with 16 random hex digits, one per
  config_id (`add_links`). `picture_answer`, when set, answers every picture request instead (tests: a
  missing, garbled or oversized picture).
- get_contact_way (`config_id`), list_contact_way (`start_time`/`end_time`, `cursor`, `limit` ≤ 1000; only
  ways made through the API), update_contact_way (the same config_id and QR code; user, party, state,
  skip_verify, remark, style and the temp fields may change; type and scene may not), del_contact_way.

`scan` simulates a customer scanning a code: WeCom picks one of its users, the customer becomes that user's
contact with the code's state, and the decrypted add_external_contact callback is returned; given what the
customer's phone read from a printed code (`scanned`), it must be the way's add link."""

from __future__ import annotations

import io
import itertools
import secrets
import time
from collections import defaultdict

import segno
from PIL import Image

from siyu.engagement.messaging.fakes.wecom_errors import wecom_error as _err

MAX_USERS = 100
MAX_TEXT = 30  # state and remark
MAX_TEMP_SECONDS = 14 * 86400
LIST_LIMIT = 1000
PICTURE_PATH = "/wwpic/"  # the fake's stand-in for WeCom's picture host
PICTURE_PX = 430  # the side of WeCom's contact-way QR pictures
ADD_LINK = "https://work.weixin.qq.com/ca/cawcde"  # the form of what WeCom's contact-way QR holds
UPDATABLE = {"config_id", "remark", "skip_verify", "style", "state", "user", "party", "expires_in",
             "chat_expires_in", "unionid", "conclusions", "is_exclusive"}  # fmt: skip


class FakeContactWays:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact_ways: dict[str, dict] = {}  # config_id -> the way as get_contact_way answers it
        self.departments: dict[int, set[str]] = {}  # party id -> its members (for `party`)
        self._way_ids = itertools.count(1)
        self._turns: dict[str, int] = defaultdict(int)  # config_id -> scans so far (round robin)
        self.add_links: dict[str, str] = {}  # config_id -> what its QR holds (kept after a delete, as a CDN keeps)
        self.pictures: dict[str, bytes] = {}  # config_id -> its QR picture (PNG), made on first request
        self.picture_answer: tuple | None = None  # (status, headers, body) for every picture request (faults)

    def routes(self) -> dict:
        """{path: (secret kind, handler)} of this part, added to the other parts' routes."""
        return {
            **getattr(super(), "routes", dict)(),
            "/cgi-bin/externalcontact/add_contact_way": ("contact", self._add_contact_way),
            "/cgi-bin/externalcontact/get_contact_way": ("contact", self._get_contact_way),
            "/cgi-bin/externalcontact/list_contact_way": ("contact", self._list_contact_way),
            "/cgi-bin/externalcontact/update_contact_way": ("contact", self._update_contact_way),
            "/cgi-bin/externalcontact/del_contact_way": ("contact", self._del_contact_way),
        }

    # --- checks shared by add and update ---

    def _way_error(self, way: dict) -> tuple | None:
        if way.get("type") not in (1, 2) or way.get("scene") not in (1, 2):
            return _err(40058, "invalid parameter: type must be 1 or 2 and scene 1 or 2")
        for field in ("state", "remark"):
            value = way.get(field, "")
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                return _err(40058, f"invalid parameter: {field} exceeds {MAX_TEXT} characters")
        if not isinstance(way.get("skip_verify", True), bool):
            return _err(40058, "invalid parameter: skip_verify")
        users, party = way.get("user") or [], way.get("party") or []
        if not isinstance(users, list) or not isinstance(party, list):
            return _err(40058, "invalid parameter: user and party are lists")
        if way["type"] == 1 and (len(users) != 1 or party):
            return _err(40058, "invalid parameter: a single-person way has exactly one user and no party")
        if way["type"] == 2 and not users and not party:
            return _err(40058, "invalid parameter: user and party are both empty")
        if len(users) > MAX_USERS:
            return _err(40058, f"invalid parameter: user exceeds {MAX_USERS}")
        if len(set(users)) != len(users):
            return _err(40058, "invalid parameter: a user is listed twice")
        if any(u not in self.members for u in users):
            return _err(40003, "invalid userid")
        if any(p not in self.departments for p in party):
            return _err(60123, "invalid party id")
        if way.get("style") is not None and not isinstance(way["style"], int):
            return _err(40058, "invalid parameter: style")  # used by the mini-program scene only
        if way.get("is_temp"):
            if way["type"] != 1:
                return _err(40058, "invalid parameter: a temporary way is single-person only")
            for field in ("expires_in", "chat_expires_in"):
                seconds = way.get(field)
                if seconds is not None and (not isinstance(seconds, int) or not 0 < seconds <= MAX_TEMP_SECONDS):
                    return _err(40058, f"invalid parameter: {field} is at most 14 days")
        return None

    def _add_contact_way(self, query, body):
        way = {
            "type": body.get("type"),
            "scene": body.get("scene"),
            "style": body.get("style"),
            "remark": body.get("remark", ""),
            "skip_verify": body.get("skip_verify", True),
            "state": body.get("state", ""),
            "user": body.get("user") or [],
            "party": body.get("party") or [],
            "is_temp": bool(body.get("is_temp", False)),
        }
        if way["is_temp"]:
            way["expires_in"] = body.get("expires_in", 7 * 86400)
            way["chat_expires_in"] = body.get("chat_expires_in", 86400)
        if (error := self._way_error(way)) is not None:
            return error
        config_id = f"{secrets.token_hex(16)}{next(self._way_ids):04d}"
        way["config_id"] = config_id
        way["created"] = int(time.time())
        if way["scene"] == 2:
            self.add_links[config_id] = f"{ADD_LINK}{secrets.token_hex(8)}"
            way["qr_code"] = f"{self.url}{PICTURE_PATH}{config_id}.png"
        if way["style"] is None:
            way.pop("style")
        self.contact_ways[config_id] = way
        answer = {"errcode": 0, "errmsg": "ok", "config_id": config_id}
        if "qr_code" in way:
            answer["qr_code"] = way["qr_code"]
        return 200, {}, answer

    def _known(self, body) -> dict | tuple:
        config_id = body.get("config_id")
        if not config_id or not isinstance(config_id, str):
            return _err(41044, "config_id missing")  # 缺少config_id参数
        way = self.contact_ways.get(config_id)
        if way is None:
            return _err(40058, "invalid parameter: unknown config_id")
        return way

    def _get_contact_way(self, query, body):
        way = self._known(body)
        if isinstance(way, tuple):
            return way
        shown = {k: v for k, v in way.items() if k != "created"}
        return 200, {}, {"errcode": 0, "errmsg": "ok", "contact_way": shown}

    def _list_contact_way(self, query, body):
        now = int(time.time())
        start, end = body.get("start_time", now - 90 * 86400), body.get("end_time", now)
        limit = body.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT:
            return _err(40058, f"invalid parameter: limit is 1 to {LIST_LIMIT}")
        if not isinstance(start, int) or not isinstance(end, int) or start > end:
            return _err(40058, "invalid parameter: start_time after end_time")
        try:
            offset = int(body.get("cursor") or "0", 16)
        except ValueError:
            return _err(40058, "invalid cursor")
        found = [w["config_id"] for w in self.contact_ways.values() if start <= w["created"] <= end]
        page = found[offset : offset + limit]
        cursor = format(offset + limit, "x") if offset + limit < len(found) else ""
        return 200, {}, {"errcode": 0, "errmsg": "ok", "contact_way": [{"config_id": c} for c in page],
                         "next_cursor": cursor}  # fmt: skip

    def _update_contact_way(self, query, body):
        way = self._known(body)
        if isinstance(way, tuple):
            return way
        if set(body) - UPDATABLE:
            return _err(40058, f"invalid parameter: {', '.join(sorted(set(body) - UPDATABLE))} cannot change")
        changed = {**way, **{k: v for k, v in body.items() if k != "config_id"}}
        if (error := self._way_error(changed)) is not None:
            return error
        way.update(changed)  # config_id and qr_code stay: the printed code keeps working
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _del_contact_way(self, query, body):
        way = self._known(body)
        if isinstance(way, tuple):
            return way
        del self.contact_ways[way["config_id"]]
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    # --- the QR picture (WeCom's picture host) ---

    def contact_way_picture(self, path: str) -> tuple[int, dict, bytes]:
        """GET {PICTURE_PATH}<config_id>.png: the PNG of the way's QR, or 404."""
        if self.picture_answer is not None:
            return self.picture_answer
        config_id = path[len(PICTURE_PATH) :].removesuffix(".png")
        if config_id not in self.add_links:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if config_id not in self.pictures:
            self.pictures[config_id] = qr_picture(self.add_links[config_id])
        return 200, {"Content-Type": "image/png"}, self.pictures[config_id]

    # --- simulation (tests) ---

    def users_of(self, config_id: str) -> list[str]:
        way = self.contact_ways[config_id]
        users = list(way["user"])
        for party in way["party"]:
            users += sorted(u for u in self.departments[party] if u not in users)
        return users

    def scan(self, config_id: str, external_userid: str, name: str = "", unionid: str = "",
             created: int | None = None, scanned: str | None = None) -> str:  # fmt: skip
        """A customer scans the code and adds one of its users (WeCom takes them in turn): the decrypted
        add_external_contact callback XML WeCom would POST, with the code's state and a WelcomeCode.
        `scanned`: what the phone read from the printed code; anything but the way's add link adds nobody."""
        if scanned is not None and scanned != self.add_links.get(config_id):
            raise ValueError(f"{scanned!r} is not the add link of contact way {config_id}")
        with self.lock:
            users = self.users_of(config_id)
            if not users:
                raise ValueError(f"contact way {config_id} has nobody to add")
            staff = users[self._turns[config_id] % len(users)]
            self._turns[config_id] += 1
            state = self.contact_ways[config_id]["state"]
            self.add_contact(staff, external_userid, name, unionid=unionid, createtime=created)
            self.follow(staff, external_userid)["state"] = state
        code = self.issue_welcome_code(staff, external_userid)
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event>"
            "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[{staff}]]></UserID><ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
            f"<State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
        )



def qr_picture(content: str) -> bytes:
    """A PICTURE_PX-square PNG of the QR of `content`, centred on white, as WeCom's picture host serves."""
    code = segno.make(content, error="m", micro=False)
    side = code.symbol_size(scale=1, border=4)[0]
    drawn = io.BytesIO()
    code.save(drawn, kind="png", scale=PICTURE_PX // side, border=4)
    qr = Image.open(io.BytesIO(drawn.getvalue())).convert("RGB")
    picture = Image.new("RGB", (PICTURE_PX, PICTURE_PX), "white")
    picture.paste(qr, ((PICTURE_PX - qr.width) // 2, (PICTURE_PX - qr.height) // 2))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
