"""A fake WeCom server: gettoken with expiring tokens (42001 expired, 40014 invalid), external contacts
(list, get, get_follow_user_list, batch/get_by_user paged by an opaque cursor), the corporate tag library
(get_corp_tag_list, mark_tag), media/upload (multipart; images JPG or PNG), send_welcome_msg (a code valid 20
seconds, for one message) and add_msg_template with `attachments` (checked: shape, uploaded media) /
get_groupmsg_send_result, message/send with WeCom's per-member limits (what exceeds 30
a minute or 1,000 an hour is dropped, as WeCom does), and the company-wide API limit (45009). The
contact-way (live codes), customer-group and handover APIs are parts of their own, mixed in
(fakes/wecom_contact_ways.py, wecom_groups.py, wecom_handover.py)."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import email
import email.policy
import itertools
import json
import secrets
import time
from collections import defaultdict

from siyu.engagement.messaging.fakes import FakeServer
from siyu.engagement.messaging.fakes.wecom_contact_ways import PICTURE_PATH, FakeContactWays
from siyu.engagement.messaging.fakes.wecom_errors import wecom_error as _err
from siyu.engagement.messaging.fakes.wecom_groups import FakeGroupChats
from siyu.engagement.messaging.fakes.wecom_handover import FakeHandover


class FakeWeCom(FakeContactWays, FakeGroupChats, FakeHandover, FakeServer):
    def __init__(self, corp_id="ww-test-corp", contact_secret="contact-secret", app_secret="app-secret",
                 agent_id=1000002, token_lifetime=7200, api_calls_per_minute=10_000):  # fmt: skip
        super().__init__()
        self.corp_id, self.agent_id = corp_id, agent_id
        self.secrets = {contact_secret: "contact", app_secret: "app"}
        self.token_lifetime = token_lifetime
        self.api_calls_per_minute = api_calls_per_minute
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (secret kind, expires at)
        self.tokens_issued = 0
        self.contacts: dict[str, list[str]] = defaultdict(list)  # staff userid -> external_userids
        self.details: dict[str, dict] = {}
        self.members: set[str] = set()
        self.mass: dict[str, dict] = {}  # msgid -> {sender, results}
        self.mass_received: dict[tuple[str, str], int] = defaultdict(int)  # (external_userid, month) -> count
        self.app_received: dict[str, list[float]] = defaultdict(list)
        self.app_delivered: list[tuple[str, str]] = []
        self.app_dropped: list[tuple[str, str]] = []
        self.calls: list[float] = []
        self._ids = itertools.count(1)
        self.tag_groups: list[dict] = []  # get_corp_tag_list's tag_group
        self.welcome_codes: dict[
            str, tuple[str, str, float]
        ] = {}  # code -> (staff, external_userid, expires)
        self.welcomes: list[dict] = []
        self.transfers: dict[str, list[float]] = defaultdict(list)  # external_userid -> transfer times
        self.media: dict[str, dict] = {}  # media_id -> {type, filename, data} (media/upload)

    def add_contact(self, staff: str, external_userid: str, name: str = "", unionid: str = "",
                    tags: list[str] = (), createtime: int | None = None, gender: int = 0,
                    remark_mobiles: list[str] = ()) -> None:  # fmt: skip
        self.members.add(staff)
        self.contacts[staff].append(external_userid)
        detail = self.details.setdefault(
            external_userid,
            {"external_contact": {"external_userid": external_userid, "name": name, "type": 1, "unionid": unionid,
                                  "gender": gender},
             "follow_user": []},
        )  # fmt: skip
        detail["follow_user"].append(
            {"userid": staff, "remark": name, "createtime": createtime or int(time.time()),
             "tags": [{"tag_id": t, "type": 1} for t in tags], "remark_mobiles": list(remark_mobiles)}
        )  # fmt: skip

    def remove_contact(self, staff: str, external_userid: str, by_customer: bool = True,
                       at: int | None = None) -> str:  # fmt: skip
        """The relation ends: the customer deleted the staff member (删除跟进成员事件, del_follow_user) or the
        staff member deleted the customer (删除企业客户事件, del_external_contact). Returns the decrypted
        change_external_contact callback XML WeCom would POST."""
        if external_userid in self.contacts[staff]:
            self.contacts[staff].remove(external_userid)
        detail = self.details.get(external_userid)
        if detail is not None:
            detail["follow_user"] = [f for f in detail["follow_user"] if f["userid"] != staff]
        change = "del_follow_user" if by_customer else "del_external_contact"
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{at or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
            f"<UserID><![CDATA[{staff}]]></UserID><ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID></xml>"
        )

    def add_tag_group(self, group_name: str, tags: dict[str, str]) -> None:
        """tags: {tag id: name}."""
        self.tag_groups.append(
            {"group_id": f"grp{len(self.tag_groups) + 1}", "group_name": group_name, "create_time": 1, "order": 1,
             "deleted": False, "tag": [{"id": i, "name": n, "create_time": 1, "order": 1, "deleted": False}
                                       for i, n in tags.items()]}
        )  # fmt: skip

    def follow(self, staff: str, external_userid: str) -> dict:
        return next(f for f in self.details[external_userid]["follow_user"] if f["userid"] == staff)

    def issue_welcome_code(self, staff: str, external_userid: str, valid_for: float = 20.0) -> str:
        code = secrets.token_hex(12)
        self.welcome_codes[code] = (staff, external_userid, time.time() + valid_for)
        return code

    def expire_tokens(self) -> None:
        self.tokens = {t: (kind, 0.0) for t, (kind, _) in self.tokens.items()}

    # --- protocol ---
    def answer(self, request):
        path, query = request["path"], request["query"]
        if path.startswith(PICTURE_PATH):  # WeCom's picture host serves without an access token
            return self.contact_way_picture(path)
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.corp_id:
                return _err(40013, "invalid corpid")
            kind = self.secrets.get(query.get("corpsecret", ""))
            if kind is None:
                return _err(40001, "invalid credential")
            token = secrets.token_hex(16)
            self.tokens[token] = (kind, time.time() + self.token_lifetime)
            self.tokens_issued += 1
            return (
                200,
                {},
                {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_lifetime},
            )
        token = query.get("access_token")
        if not token:
            return _err(41001, "access_token missing")
        if token not in self.tokens:
            return _err(40014, "invalid access_token")
        kind, expires = self.tokens[token]
        if expires < time.time():
            return _err(42001, "access_token expired")
        now = time.time()
        self.calls = [t for t in self.calls if t > now - 60] + [now]
        if len(self.calls) > self.api_calls_per_minute:
            return _err(45009, "api freq out of limit")
        if path == "/cgi-bin/media/upload":
            return self._upload(query, request) if kind == "contact" else _err(48002, "api forbidden")
        body = json.loads(request["body"] or b"{}") if request["method"] == "POST" else {}
        routes = self.routes()
        if path not in routes:
            return 404, {}, b"not found"
        needs, handler = routes[path]
        if needs != kind:
            return _err(48002, "api forbidden")  # the secret's app has no right to this API
        return handler(query, body)

    def routes(self) -> dict:
        """{path: (secret kind, handler)}; the contact-way and group-chat parts add theirs."""
        return {
            **super().routes(),
            "/cgi-bin/externalcontact/list": ("contact", self._list),
            "/cgi-bin/externalcontact/get": ("contact", self._get),
            "/cgi-bin/externalcontact/add_msg_template": ("contact", self._add_msg_template),
            "/cgi-bin/externalcontact/get_groupmsg_send_result": ("contact", self._send_result),
            "/cgi-bin/message/send": ("app", self._message_send),
            "/cgi-bin/externalcontact/get_follow_user_list": ("contact", self._follow_user_list),
            "/cgi-bin/externalcontact/batch/get_by_user": ("contact", self._batch_get_by_user),
            "/cgi-bin/externalcontact/get_corp_tag_list": ("contact", self._corp_tag_list),
            "/cgi-bin/externalcontact/mark_tag": ("contact", self._mark_tag),
            "/cgi-bin/externalcontact/send_welcome_msg": ("contact", self._send_welcome_msg),
            "/cgi-bin/externalcontact/transfer_customer": ("contact", self._transfer_customer),
        }

    def _list(self, query, body):
        if query.get("userid") not in self.members:
            return _err(40003, "invalid userid")
        return 200, {}, {"errcode": 0, "errmsg": "ok", "external_userid": self.contacts[query["userid"]]}

    def _get(self, query, body):
        detail = self.details.get(query.get("external_userid", ""))
        if detail is None:
            return _err(84061, "not external contact")
        return 200, {}, {"errcode": 0, "errmsg": "ok", **detail, "next_cursor": ""}

    def _upload(self, query, request):
        """media/upload: one multipart file part named `media`; images JPG or PNG, at most 10 MB."""
        if query.get("type") not in ("image", "voice", "video", "file"):
            return _err(40004, "invalid media type")
        content_type = request["headers"].get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _err(40005, "invalid file type")
        parsed = email.message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"], policy=email.policy.HTTP
        )
        part = next((p for p in parsed.iter_parts() if p.get_param("name", header="content-disposition") == "media"),
                    None)  # fmt: skip
        data = part.get_payload(decode=True) if part is not None else b""
        if not data:
            return _err(41005, "media data missing")
        if query["type"] == "image" and not (data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8")):
            return _err(40005, "invalid file type: images are JPG or PNG")
        if len(data) > 10 * 2**20:
            return _err(40006, "invalid file size")
        media_id = f"media{next(self._ids):08d}"
        self.media[media_id] = {"type": query["type"], "filename": part.get_filename(), "data": data}
        return 200, {}, {"errcode": 0, "errmsg": "ok", "type": query["type"], "media_id": media_id,
                         "created_at": str(int(time.time()))}  # fmt: skip

    def _attachments_error(self, attachments) -> tuple | None:
        """WeCom's checks of `attachments` (at most 9; each of its msgtype's shape; media uploaded)."""
        if not isinstance(attachments, list) or len(attachments) > 9:
            return _err(41063, "attachments exceed 9")
        for item in attachments:
            kind = item.get("msgtype")
            fields = item.get(kind) or {}
            if kind == "image":
                ok = fields.get("media_id") in self.media or bool(fields.get("pic_url"))
            elif kind == "link":
                ok = bool(fields.get("title")) and str(fields.get("url", "")).startswith(
                    ("http://", "https://")
                )
            elif kind == "miniprogram":
                ok = (
                    all(fields.get(k) for k in ("title", "appid", "page"))
                    and fields.get("pic_media_id") in self.media
                )
            else:
                ok = kind in ("video", "file") and fields.get("media_id") in self.media
            if not ok:
                return _err(40007, f"invalid {kind} attachment")
        return None

    def _add_msg_template(self, query, body):
        if body.get("chat_type") == "group":  # customer groups: the group-chat part (FakeGroupChats)
            return self._add_group_msg_template(query, body)
        sender, targets = body.get("sender", ""), body.get("external_userid") or []
        attachments = body.get("attachments") or []
        if body.get("chat_type", "single") != "single" or not (
            (body.get("text") or {}).get("content") or attachments
        ):
            return _err(40058, "invalid parameter")
        if (error := self._attachments_error(attachments)) is not None:
            return error
        if sender not in self.members:
            return _err(40003, "invalid userid")
        if len(targets) > 10_000:
            return _err(40058, "external_userid exceeds 10000")
        mine = set(self.contacts[sender])
        month = dt.date.today()
        limit = calendar.monthrange(month.year, month.month)[1]
        results, fail_list = [], []
        for ext in targets:
            if ext not in mine:
                fail_list.append(ext)
                continue
            key = (ext, month.strftime("%Y-%m"))
            self.mass_received[key] += 1
            status = 1 if self.mass_received[key] <= limit else 3
            results.append(
                {"external_userid": ext, "userid": sender, "status": status, "send_time": int(time.time())}
            )
        msgid = f"msg{next(self._ids):08d}"
        self.mass[msgid] = {"sender": sender, "results": results, "text": (body.get("text") or {}).get("content", ""),
                            "attachments": attachments}  # fmt: skip
        return 200, {}, {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}

    def _send_result(self, query, body):
        sent = self.mass.get(body.get("msgid", ""))
        if sent is None or sent["sender"] != body.get("userid"):
            return _err(40058, "invalid msgid or userid")
        limit, start = int(body.get("limit") or 500), int(body.get("cursor") or 0)
        page = sent["results"][start : start + limit]
        cursor = str(start + limit) if start + limit < len(sent["results"]) else ""
        return 200, {}, {"errcode": 0, "errmsg": "ok", "send_list": page, "next_cursor": cursor}

    def _message_send(self, query, body):
        if int(body.get("agentid") or 0) != self.agent_id:
            return _err(40056, "invalid agentid")
        members = [m for m in (body.get("touser") or "").split("|") if m]
        invalid = [m for m in members if m not in self.members]
        text = (body.get("text") or {}).get("content", "")
        now = time.time()
        for member in members:
            if member in invalid:
                continue
            seen = [t for t in self.app_received[member] if t > now - 3600]
            self.app_received[member] = seen + [now]
            if sum(t > now - 60 for t in seen) >= 30 or len(seen) >= 1000:
                self.app_dropped.append((member, text))  # WeCom discards what exceeds the limit
            else:
                self.app_delivered.append((member, text))
        return (
            200,
            {},
            {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "msgid": secrets.token_hex(8)},
        )

    # --- contact sync, tags, welcome messages ---

    def _follow_user_list(self, query, body):
        return 200, {}, {"errcode": 0, "errmsg": "ok", "follow_user": sorted(self.members)}

    def _batch_get_by_user(self, query, body):
        userids, limit = body.get("userid_list") or [], int(body.get("limit") or 50)
        if not userids or len(userids) > 100 or not 1 <= limit <= 100:
            return _err(40058, "userid_list must hold 1 to 100 userids and limit be 1 to 100")
        if any(u not in self.members for u in userids):
            return _err(40003, "invalid userid")
        try:
            start = (
                int(base64.urlsafe_b64decode(body.get("cursor") or "MA==").decode())
                if body.get("cursor")
                else 0
            )
        except ValueError:
            return _err(40058, "invalid cursor")
        pairs, skipped = (
            [],
            0,
        )  # only the page's (staff, customer) pairs are built (large fakes in benchmarks)
        for staff in userids:
            mine = self.contacts[staff]
            if skipped + len(mine) <= start:
                skipped += len(mine)
                continue
            for ext in itertools.islice(mine, max(start - skipped, 0), None):
                if len(pairs) == limit:
                    break
                pairs.append((staff, ext))
            skipped += len(mine)
            if len(pairs) == limit:
                break
        total = sum(len(self.contacts[staff]) for staff in userids)
        page = []
        for staff, ext in pairs:
            follow = self.follow(staff, ext)
            page.append({
                "external_contact": dict(self.details[ext]["external_contact"]),
                "follow_info": {"userid": staff, "remark": follow["remark"], "createtime": follow["createtime"],
                                "tag_id": [t["tag_id"] for t in follow["tags"]],
                                "remark_mobiles": follow.get("remark_mobiles", []), "add_way": 1},
            })  # fmt: skip
        cursor = (
            base64.urlsafe_b64encode(str(start + limit).encode()).decode() if start + limit < total else ""
        )
        return 200, {}, {"errcode": 0, "errmsg": "ok", "external_contact_list": page, "next_cursor": cursor}

    def _corp_tag_list(self, query, body):
        return 200, {}, {"errcode": 0, "errmsg": "ok", "tag_group": self.tag_groups}

    def _tag_ids(self) -> set[str]:
        return {t["id"] for g in self.tag_groups for t in g["tag"] if not t["deleted"]}

    def _mark_tag(self, query, body):
        staff, ext = body.get("userid", ""), body.get("external_userid", "")
        if staff not in self.members:
            return _err(40003, "invalid userid")
        if ext not in self.contacts[staff]:
            return _err(84061, "not external contact")
        add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
        if not add and not remove:
            return _err(40058, "add_tag and remove_tag are both empty")
        if any(t not in self._tag_ids() for t in [*add, *remove]):
            return _err(40068, "invalid tagid")
        follow = self.follow(staff, ext)
        have = [t["tag_id"] for t in follow["tags"]]
        have = [t for t in have if t not in remove] + [t for t in add if t not in have]
        follow["tags"] = [{"tag_id": t, "type": 1} for t in have]
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _send_welcome_msg(self, query, body):
        code = body.get("welcome_code", "")
        issued = self.welcome_codes.pop(code, None)  # one message per code
        if issued is None or issued[2] < time.time():
            return _err(40058, "invalid welcome_code (expired or used)")
        if not (body.get("text") or {}).get("content") and not body.get("attachments"):
            return _err(40058, "empty welcome message")
        if (error := self._attachments_error(body.get("attachments") or [])) is not None:
            return error
        self.welcomes.append({"staff": issued[0], "external_userid": issued[1],
                              "text": (body.get("text") or {}).get("content", ""),
                              "attachments": body.get("attachments") or []})  # fmt: skip
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    # Per-customer refusal when a third transfer within 90 days is asked for. WeCom documents the limit; the
    # code here is the fake's (the client treats any non-zero per-customer errcode as a refusal).
    TRANSFER_LIMIT_CODE = 40129

    def _transfer_customer(self, query, body):
        handover, takeover = body.get("handover_userid", ""), body.get("takeover_userid", "")
        targets = body.get("external_userid") or []
        if handover not in self.members or takeover not in self.members:
            return _err(40003, "invalid userid")
        if not targets or len(targets) > 100:
            return _err(40058, "external_userid must hold 1 to 100 customers")
        now, results = time.time(), []
        for ext in targets:
            recent = [t for t in self.transfers[ext] if t > now - 90 * 86400]
            if ext not in self.contacts[handover]:
                results.append({"external_userid": ext, "errcode": 84061})
            elif len(recent) >= 2:
                results.append({"external_userid": ext, "errcode": self.TRANSFER_LIMIT_CODE})
            else:
                self.transfers[ext] = recent + [now]
                self.contacts[handover].remove(ext)
                self.contacts[takeover].append(ext)
                self.follow(handover, ext)["userid"] = takeover
                self.record_onjob_transfer(handover, takeover, ext)  # transfer_result reports it (wecom_handover)
                results.append({"external_userid": ext, "errcode": 0})
        return 200, {}, {"errcode": 0, "errmsg": "ok", "customer": results}
