"""The fake WeCom's 客户群 (customer groups, join ways, group welcome templates, group mass messages) part,
mixed into FakeWeCom (siyu.engagement.messaging.fakes.wecom), whose state (`members`, `contacts`, …) it shares.

As documented at developer.work.weixin.qq.com (客户联系 › 客户群管理 / 客户群「加入群聊」管理 / 入群欢迎语素材管理):

- `groupchat/list`: status_filter 0..3, owner_filter.userid_list (≤ 100), cursor, limit 1..1000 (required);
  answers group_chat_list [{chat_id, status}] and next_cursor.
- `groupchat/get`: chat_id (required), need_name 0/1; answers group_chat {chat_id, name, owner, create_time,
  notice, member_list [{userid, type 1 staff / 2 external, unionid (external only), join_time, join_scene 1
  direct invitation / 2 invitation link / 3 QR code, invitor {userid}, group_nickname, name (need_name)}],
  admin_list [{userid}], member_version}.
- `groupchat/add_join_way` | `get_join_way` | `update_join_way` | `del_join_way`: scene 1 (mini-program
  plug-in) or 2 (QR code), remark (truncated at 30), auto_create_room 0/1 (default 1), room_base_name ≤ 40,
  room_base_id, chat_id_list 1..5 of the corp's groups, state ≤ 30; get answers join_way with its qr_code.
- `group_welcome_template/add|edit|get|del`: text.content ≤ 4000 bytes and at most one of image / link /
  miniprogram / file / video (WeCom takes the first that is valid); not all empty. add answers template_id.
- `add_msg_template` with chat_type "group": sender required (the group owner); chat_id_list (≤ 2000) limits
  the message to those of the owner's groups, otherwise it goes to all of them. Single-customer mass
  messages are the core fake's (`FakeWeCom._add_msg_template` delegates "group" here).

A group holds at most 500 members; past 200, WeCom lets people in only by invitation (a QR code or join way
cannot add a 201st member). The helpers that change membership answer the change_external_chat callback
XML WeCom would push (ChangeType update, UpdateDetail add_member / del_member, JoinScene, QuitScene,
MemChangeCnt, MemChangeList; JoinScene there is 0 direct invitation, 1 invitation link, 3 QR code)."""

from __future__ import annotations

import itertools
import time

from siyu.engagement.messaging.fakes.wecom_errors import wecom_error as _err

GROUP_MAX = 500
QR_JOIN_MAX = 200  # after 200 members only invitations join
LIST_LIMIT = 1000
JOIN_WAY_CHATS = 5
STATE_MAX = 30
ROOM_BASE_NAME_MAX = 40
WELCOME_TEXT_BYTES = 4000
GROUP_MSG_CHATS = 2000
WELCOME_KINDS = ("image", "link", "miniprogram", "file", "video")
CALLBACK_JOIN_SCENE = {1: 0, 2: 1, 3: 3}  # groupchat/get's join_scene -> the callback's JoinScene


class GroupFull(ValueError):
    """The fake refused a join: the group is at 500, or at 200 for a join not by invitation."""


class FakeGroupChats:
    _group_ids = itertools.count(1)

    def routes(self) -> dict:
        """{path: (secret kind, handler)} of this part, added to the other parts' routes."""
        base = "/cgi-bin/externalcontact/"
        return {
            **getattr(super(), "routes", dict)(),
            base + "groupchat/list": ("contact", self._groupchat_list),
            base + "groupchat/get": ("contact", self._groupchat_get),
            base + "groupchat/add_join_way": ("contact", self._add_join_way),
            base + "groupchat/get_join_way": ("contact", self._get_join_way),
            base + "groupchat/update_join_way": ("contact", self._update_join_way),
            base + "groupchat/del_join_way": ("contact", self._del_join_way),
            base + "group_welcome_template/add": ("contact", self._welcome_template_add),
            base + "group_welcome_template/edit": ("contact", self._welcome_template_edit),
            base + "group_welcome_template/get": ("contact", self._welcome_template_get),
            base + "group_welcome_template/del": ("contact", self._welcome_template_del),
        }

    # --- state (created lazily: the core fake's __init__ does not know this part) ---
    @property
    def groups(self) -> dict[str, dict]:
        """chat_id -> {chat_id, name, owner, create_time, notice, status, members {id: member}, admins}."""
        return self.__dict__.setdefault("_groups", {})

    @property
    def join_ways(self) -> dict[str, dict]:
        return self.__dict__.setdefault("_join_ways", {})

    @property
    def group_welcome_templates(self) -> dict[str, dict]:
        return self.__dict__.setdefault("_group_welcome_templates", {})

    # --- helpers for tests and benchmarks ---
    def make_group(self, owner: str, name: str = "", members=(), chat_id: str = "",
                   create_time: int | None = None, status: int = 0) -> str:  # fmt: skip
        """A customer group owned by staff member `owner`; `members`: external_userids (joined by the
        owner's direct invitation) or dicts of `add_group_member`'s keywords with `member`."""
        self.members.add(owner)
        chat_id = chat_id or f"wrGroup{next(self._group_ids):08d}"
        created = create_time or int(time.time())
        self.groups[chat_id] = {
            "chat_id": chat_id, "name": name, "owner": owner, "create_time": created, "notice": "",
            "status": status, "members": {}, "admins": [], "version": 1,
        }  # fmt: skip
        self._join(chat_id, owner, staff=True, join_scene=1, invitor="", join_time=created)
        for item in members:
            spec = {"member": item} if isinstance(item, str) else dict(item)
            spec.setdefault("invitor", owner)
            self._join(chat_id, spec.pop("member"), **spec)
        return chat_id

    def add_group_member(self, chat_id: str, member: str, staff: bool = False, unionid: str = "",
                         join_scene: int = 1, invitor: str = "", join_time: int | None = None,
                         name: str = "", state: str = "") -> str:  # fmt: skip
        """A member joins (join_scene 1 direct invitation, 2 invitation link, 3 QR code); returns the
        change_external_chat callback XML. GroupFull when WeCom would refuse the join."""
        self._join(chat_id, member, staff=staff, unionid=unionid, join_scene=join_scene,
                   invitor=invitor or self.groups[chat_id]["owner"], join_time=join_time, name=name,
                   state=state)  # fmt: skip
        return self.group_change_xml(chat_id, "add_member", [member], join_scene=CALLBACK_JOIN_SCENE[join_scene])

    def remove_group_member(self, chat_id: str, member: str, quit_scene: int = 0) -> str:
        """A member leaves (quit_scene 0: left by themselves, 1: removed by the owner or an admin); returns
        the callback XML."""
        del self.groups[chat_id]["members"][member]
        self.groups[chat_id]["version"] += 1
        return self.group_change_xml(chat_id, "del_member", [member], quit_scene=quit_scene)

    def dismiss_group(self, chat_id: str) -> str:
        self.groups.pop(chat_id)
        return self.group_change_xml(chat_id, "", [], change="dismiss")

    def scan_join_way(self, config_id: str, external_userid: str, unionid: str = "", name: str = "") -> list[str]:
        """A customer scans a join way's QR code: they join its first group under 200 members; when all are
        full and auto_create_room is on, WeCom creates room `room_base_name` + n (n from room_base_id) owned
        by the first group's owner and puts it in the join way. Returns the callback XMLs (create, then
        add_member). GroupFull when there is no room and no auto-created one."""
        way = self.join_ways[config_id]
        for chat_id in way["chat_id_list"]:
            group = self.groups.get(chat_id)
            if group is not None and len(group["members"]) < QR_JOIN_MAX:
                return [self.add_group_member(chat_id, external_userid, unionid=unionid, join_scene=3,
                                              name=name, state=way.get("state", ""))]  # fmt: skip
        if not way.get("auto_create_room", 1):
            raise GroupFull("every group of the join way is full")
        first = self.groups.get(way["chat_id_list"][0]) if way["chat_id_list"] else None
        owner = first["owner"] if first else next(iter(sorted(self.members)), "")
        number = way.setdefault("next_room_id", int(way.get("room_base_id") or 1))
        way["next_room_id"] = number + 1
        chat_id = self.make_group(owner, f"{way.get('room_base_name', '')}{number}")
        way["chat_id_list"] = [*way["chat_id_list"], chat_id][-JOIN_WAY_CHATS:]
        created = self.group_change_xml(chat_id, "", [], change="create")
        return [created, self.add_group_member(chat_id, external_userid, unionid=unionid, join_scene=3, name=name,
                                               state=way.get("state", ""))]  # fmt: skip

    def group_change_xml(self, chat_id: str, detail: str, members: list[str], change: str = "update",
                         join_scene: int | None = None, quit_scene: int | None = None) -> str:  # fmt: skip
        parts = [
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>",
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>",
            "<Event><![CDATA[change_external_chat]]></Event>",
            f"<ChatId><![CDATA[{chat_id}]]></ChatId><ChangeType><![CDATA[{change}]]></ChangeType>",
        ]
        if change == "update":
            parts.append(f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail>")
            if join_scene is not None:
                parts.append(f"<JoinScene>{join_scene}</JoinScene>")
            if quit_scene is not None:
                parts.append(f"<QuitScene>{quit_scene}</QuitScene>")
            items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
            parts.append(f"<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList>")
        return "".join(parts) + "</xml>"

    def _join(self, chat_id, member, staff=False, unionid="", join_scene=1, invitor="", join_time=None, name="",
              state=""):  # fmt: skip
        group = self.groups[chat_id]
        size = len(group["members"])
        if size >= GROUP_MAX:
            raise GroupFull(f"{chat_id} has {GROUP_MAX} members")
        if size >= QR_JOIN_MAX and join_scene == 3:
            raise GroupFull(f"{chat_id} has {QR_JOIN_MAX} members: only invitations join now")
        group["members"][member] = {
            "userid": member, "type": 1 if staff else 2, "join_time": join_time or int(time.time()),
            "join_scene": join_scene, "invitor": {"userid": invitor} if invitor else None, "group_nickname": "",
            "name": name or member, "unionid": "" if staff else unionid, "state": state,
        }  # fmt: skip
        group["version"] += 1

    # --- with the handover part (FakeHandover): a resigned owner's groups wait for a new one ---
    def chat_owner(self, chat_id: str) -> str | None:
        """The owner FakeHandover's groupchat/transfer checks: this part's groups stand in for its own."""
        if chat_id in self.groups:
            return self.groups[chat_id]["owner"]
        return getattr(super(), "chat_owner", lambda c: None)(chat_id)

    def _groupchat_transfer(self, query, body):
        """离职继承 of groups (FakeHandover answers); a group passed on has its new owner, status 3 (inherited)."""
        status, headers, answer = super()._groupchat_transfer(query, body)
        if answer.get("errcode") == 0:
            failed = {f["chat_id"] for f in answer.get("failed_chat_list") or []}
            for chat_id in body.get("chat_id_list") or []:
                if chat_id in self.groups and chat_id not in failed:
                    self.groups[chat_id].update(owner=body["new_owner"], status=3)
        return status, headers, answer

    def _status(self, group: dict) -> int:
        """groupchat/list's status: 1 while the owner has resigned and the group waits (FakeHandover's
        `resigned`), else what happened to it (0 normal, 3 inherited)."""
        return 1 if group["owner"] in getattr(self, "resigned", {}) else group["status"]

    # --- protocol ---
    def _groupchat_list(self, query, body):
        try:
            limit, status = int(body.get("limit") or 0), int(body.get("status_filter") or 0)
            start = int(body.get("cursor") or 0)
        except (TypeError, ValueError):
            return _err(40058, "invalid limit, status_filter or cursor")
        if not 1 <= limit <= LIST_LIMIT:
            return _err(40058, f"limit must be 1 to {LIST_LIMIT}")
        if status not in (0, 1, 2, 3):
            return _err(40058, "invalid status_filter")
        owners = ((body.get("owner_filter") or {}).get("userid_list")) or []
        if len(owners) > 100:
            return _err(40058, "owner_filter.userid_list exceeds 100")
        chats = [g for g in self.groups.values()
                 if (not owners or g["owner"] in owners) and (status == 0 or self._status(g) == status)]  # fmt: skip
        page = chats[start : start + limit]
        cursor = str(start + limit) if start + limit < len(chats) else ""
        return 200, {}, {"errcode": 0, "errmsg": "ok", "next_cursor": cursor,
                         "group_chat_list": [{"chat_id": g["chat_id"], "status": self._status(g)} for g in page]}  # fmt: skip

    def _groupchat_get(self, query, body):
        chat_id = body.get("chat_id") or ""
        if not chat_id:
            return _err(41049, "chat_id missing")  # the code here is the fake's
        group = self.groups.get(chat_id)
        if group is None:
            return _err(90501, "chat is not external group chat")
        need_name = int(body.get("need_name") or 0) == 1
        members = []
        for m in group["members"].values():
            item = {k: m[k] for k in ("userid", "type", "join_time", "join_scene", "group_nickname")}
            if m["invitor"]:
                item["invitor"] = m["invitor"]
            if m["type"] == 2 and m["unionid"]:
                item["unionid"] = m["unionid"]
            if m["state"]:
                item["state"] = m["state"]
            if need_name:
                item["name"] = m["name"]
            members.append(item)
        chat = {"chat_id": chat_id, "name": group["name"], "owner": group["owner"], "create_time": group["create_time"],
                "notice": group["notice"], "member_list": members,
                "admin_list": [{"userid": a} for a in group["admins"]],
                "member_version": f"v{group['version']:08d}"}  # fmt: skip
        return 200, {}, {"errcode": 0, "errmsg": "ok", "group_chat": chat}

    def _join_way_fields(self, body, creating: bool) -> tuple[dict | None, tuple | None]:
        scene = body.get("scene")
        if scene not in (1, 2):
            return None, _err(40058, "scene must be 1 or 2")
        chats = body.get("chat_id_list") or []
        if not isinstance(chats, list) or not 1 <= len(chats) <= JOIN_WAY_CHATS:
            return None, _err(40058, f"chat_id_list must hold 1 to {JOIN_WAY_CHATS} chat ids")
        if any(c not in self.groups for c in chats):
            return None, _err(90501, "chat is not external group chat")
        state = str(body.get("state") or "")
        if len(state) > STATE_MAX:
            return None, _err(40058, f"state exceeds {STATE_MAX} characters")
        auto = int(body.get("auto_create_room", 1))
        base_name = str(body.get("room_base_name") or "")
        if len(base_name) > ROOM_BASE_NAME_MAX:
            return None, _err(40058, f"room_base_name exceeds {ROOM_BASE_NAME_MAX} characters")
        return {"scene": scene, "remark": str(body.get("remark") or "")[:30], "auto_create_room": auto,
                "room_base_name": base_name, "room_base_id": int(body.get("room_base_id") or 0),
                "chat_id_list": list(chats), "state": state}, None  # fmt: skip

    def _add_join_way(self, query, body):
        fields, error = self._join_way_fields(body, creating=True)
        if error:
            return error
        config_id = f"joinway{next(self._ids):08d}"
        qr = f"https://wework.qpic.cn/wwpic/fake-join-way/{config_id}.png" if fields["scene"] == 2 else ""
        self.join_ways[config_id] = {"config_id": config_id, **fields, "qr_code": qr}
        return 200, {}, {"errcode": 0, "errmsg": "ok", "config_id": config_id}

    def _get_join_way(self, query, body):
        way = self.join_ways.get(body.get("config_id") or "")
        if way is None:
            return _err(41044, "invalid config_id")  # the code here is the fake's
        public = {k: v for k, v in way.items() if k != "next_room_id"}
        return 200, {}, {"errcode": 0, "errmsg": "ok", "join_way": public}

    def _update_join_way(self, query, body):
        way = self.join_ways.get(body.get("config_id") or "")
        if way is None:
            return _err(41044, "invalid config_id")
        fields, error = self._join_way_fields(body, creating=False)
        if error:
            return error
        way.update(fields)  # the QR image stays the same
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _del_join_way(self, query, body):
        if self.join_ways.pop(body.get("config_id") or "", None) is None:
            return _err(41044, "invalid config_id")
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _welcome_fields(self, body) -> tuple[dict | None, tuple | None]:
        text = (body.get("text") or {}).get("content") or ""
        if len(text.encode()) > WELCOME_TEXT_BYTES:
            return None, _err(40058, f"text.content exceeds {WELCOME_TEXT_BYTES} bytes")
        attachment = next(((k, body[k]) for k in WELCOME_KINDS if body.get(k)), None)
        if not text and attachment is None:
            return None, _err(40058, "text, image, link, miniprogram, file and video are all empty")
        if attachment is not None:
            kind, fields = attachment
            if kind == "link":
                ok = bool(fields.get("title")) and str(fields.get("url", "")).startswith(("http://", "https://"))
            elif kind == "image":
                ok = fields.get("media_id") in self.media or bool(fields.get("pic_url"))
            elif kind == "miniprogram":
                ok = all(fields.get(k) for k in ("title", "appid", "page")) and fields.get("pic_media_id") in self.media
            else:
                ok = fields.get("media_id") in self.media
            if not ok:
                return None, _err(40007, f"invalid {kind}")
        saved = {"text": {"content": text}} if text else {}
        if attachment is not None:
            saved[attachment[0]] = attachment[1]
        return saved, None

    def _welcome_template_add(self, query, body):
        saved, error = self._welcome_fields(body)
        if error:
            return error
        template_id = f"msgtpl{next(self._ids):08d}"
        self.group_welcome_templates[template_id] = saved
        return 200, {}, {"errcode": 0, "errmsg": "ok", "template_id": template_id}

    def _welcome_template_edit(self, query, body):
        template_id = body.get("template_id") or ""
        if template_id not in self.group_welcome_templates:
            return _err(41044, "invalid template_id")
        saved, error = self._welcome_fields(body)
        if error:
            return error
        self.group_welcome_templates[template_id] = saved
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _welcome_template_get(self, query, body):
        saved = self.group_welcome_templates.get(body.get("template_id") or "")
        if saved is None:
            return _err(41044, "invalid template_id")
        return 200, {}, {"errcode": 0, "errmsg": "ok", **saved}

    def _welcome_template_del(self, query, body):
        if self.group_welcome_templates.pop(body.get("template_id") or "", None) is None:
            return _err(41044, "invalid template_id")
        return 200, {}, {"errcode": 0, "errmsg": "ok"}

    def _add_group_msg_template(self, query, body):
        """add_msg_template with chat_type "group" (the core fake hands these over): the owner's groups,
        or those of `chat_id_list` the owner owns, each get the message (status 1 sent)."""
        sender = body.get("sender") or ""
        if not sender:
            return _err(40058, "sender is required for chat_type group")
        if sender not in self.members:
            return _err(40003, "invalid userid")
        attachments = body.get("attachments") or []
        if not ((body.get("text") or {}).get("content") or attachments):
            return _err(40058, "invalid parameter")
        if (error := self._attachments_error(attachments)) is not None:
            return error
        wanted = body.get("chat_id_list") or []
        if len(wanted) > GROUP_MSG_CHATS:
            return _err(40058, f"chat_id_list exceeds {GROUP_MSG_CHATS}")
        owned = [c for c, g in self.groups.items() if g["owner"] == sender]
        chats = [c for c in owned if c in set(wanted)] if wanted else owned
        now = int(time.time())
        msgid = f"msg{next(self._ids):08d}"
        self.mass[msgid] = {
            "sender": sender, "chat_type": "group", "text": (body.get("text") or {}).get("content", ""),
            "attachments": attachments,
            "results": [{"chat_id": c, "userid": sender, "status": 1, "send_time": now} for c in chats],
        }  # fmt: skip
        return 200, {}, {"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": msgid}
