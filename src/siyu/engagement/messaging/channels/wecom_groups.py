"""WeCom's 客户群 API (customer groups, join ways, group welcome templates, group mass messages), mixed into
WeComClient (siyu.engagement.messaging.channels.wecom), which provides `call` (tokens, the company's
10,000 calls a minute, retries with `patience`).

- 获取客户群列表 `groupchat/list`: limit 1..1000, paged by cursor / next_cursor; status_filter 0 all, 1 owner
  resigned, 2 inheriting, 3 inherited; owner_filter.userid_list ≤ 100.
- 获取客户群详情 `groupchat/get`: members with type (1 staff, 2 external), join_time, join_scene (1 direct
  invitation, 2 invitation link, 3 QR code), invitor, unionid (external members, when the app may see it).
- 客户群「加入群聊」管理 `groupchat/add_join_way|get_join_way|update_join_way|del_join_way`: ≤ 5 chat ids,
  state ≤ 30 characters, auto_create_room with room_base_name (≤ 40) and room_base_id.
- 入群欢迎语素材管理 `group_welcome_template/add|edit|get|del`: text and at most one attachment.
- 创建企业群发 `add_msg_template` with chat_type "group": the sender's customer groups (chat_id_list ≤ 2000
  narrows them).
"""

from __future__ import annotations

GROUP_LIST_PAGE = 1000
JOIN_WAY_CHATS = 5
WELCOME_KINDS = ("image", "link", "miniprogram", "file", "video")


class GroupChatCalls:
    def list_group_chats(self, status_filter: int = 0, owners: list[str] = (), page_size: int = GROUP_LIST_PAGE):
        """Yield pages of [{chat_id, status}] until WeCom returns no next_cursor."""
        cursor = ""
        while True:
            payload: dict = {"status_filter": status_filter, "cursor": cursor, "limit": page_size}
            if owners:
                payload["owner_filter"] = {"userid_list": list(owners)}
            body = self.call("/cgi-bin/externalcontact/groupchat/list", payload)
            yield list(body.get("group_chat_list", []))
            cursor = body.get("next_cursor", "")
            if not cursor:
                return

    def get_group_chat(self, chat_id: str, need_name: bool = False) -> dict:
        body = self.call("/cgi-bin/externalcontact/groupchat/get",
                         {"chat_id": chat_id, "need_name": 1 if need_name else 0})  # fmt: skip
        return body["group_chat"]

    @staticmethod
    def _join_way(scene, chat_ids, state, remark, auto_create_room, room_base_name, room_base_id) -> dict:
        payload = {"scene": scene, "chat_id_list": list(chat_ids), "auto_create_room": 1 if auto_create_room else 0,
                   "remark": remark, "state": state}  # fmt: skip
        if auto_create_room:
            payload.update(room_base_name=room_base_name, room_base_id=room_base_id)
        return payload

    def add_join_way(self, chat_ids: list[str], state: str = "", remark: str = "", scene: int = 2,
                     auto_create_room: bool = True, room_base_name: str = "", room_base_id: int = 1) -> str:  # fmt: skip
        """A 「加入群聊」 way for up to 5 groups; its config_id."""
        body = self.call("/cgi-bin/externalcontact/groupchat/add_join_way",
                         self._join_way(scene, chat_ids, state, remark, auto_create_room, room_base_name,
                                        room_base_id))  # fmt: skip
        return body["config_id"]

    def get_join_way(self, config_id: str) -> dict:
        body = self.call("/cgi-bin/externalcontact/groupchat/get_join_way", {"config_id": config_id})
        return body["join_way"]

    def update_join_way(self, config_id: str, chat_ids: list[str], state: str = "", remark: str = "", scene: int = 2,
                        auto_create_room: bool = True, room_base_name: str = "", room_base_id: int = 1) -> None:  # fmt: skip
        """Everything of the way is sent again (WeCom replaces it); its QR image stays the same."""
        payload = self._join_way(scene, chat_ids, state, remark, auto_create_room, room_base_name, room_base_id)
        self.call("/cgi-bin/externalcontact/groupchat/update_join_way", {"config_id": config_id, **payload})

    def del_join_way(self, config_id: str) -> None:
        self.call("/cgi-bin/externalcontact/groupchat/del_join_way", {"config_id": config_id})

    @staticmethod
    def _welcome_payload(text: str, attachment: dict | None) -> dict:
        """`attachment`: one item of `attachments()` ({"msgtype": kind, kind: {...}}): WeCom's group welcome
        template carries it under its kind, not in a list."""
        payload: dict = {"text": {"content": text}} if text else {}
        if attachment:
            kind = attachment["msgtype"]
            fields = dict(attachment[kind])
            if kind == "image" and "pic_url" not in fields and "media_id" not in fields:
                raise ValueError("an image attachment needs media_id or pic_url")
            payload[kind] = fields
        return payload

    def add_group_welcome_template(self, text: str, attachment: dict | None = None) -> str:
        body = self.call("/cgi-bin/externalcontact/group_welcome_template/add",
                         self._welcome_payload(text, attachment))  # fmt: skip
        return body["template_id"]

    def edit_group_welcome_template(self, template_id: str, text: str, attachment: dict | None = None) -> None:
        self.call("/cgi-bin/externalcontact/group_welcome_template/edit",
                  {"template_id": template_id, **self._welcome_payload(text, attachment)})  # fmt: skip

    def get_group_welcome_template(self, template_id: str) -> dict:
        body = self.call("/cgi-bin/externalcontact/group_welcome_template/get", {"template_id": template_id})
        return {k: body[k] for k in ("text", *WELCOME_KINDS) if k in body}

    def del_group_welcome_template(self, template_id: str) -> None:
        self.call("/cgi-bin/externalcontact/group_welcome_template/del", {"template_id": template_id})

    def add_group_msg_template(self, sender: str, text: str, chat_ids: list[str] = (),
                               attachments: list[dict] = ()) -> str:  # fmt: skip
        """企业群发 to the customer groups `sender` owns (only `chat_ids` of them when given); its msgid.
        WeCom asks the owner to confirm it in the app."""
        payload: dict = {"chat_type": "group", "sender": sender, "text": {"content": text}}
        if chat_ids:
            payload["chat_id_list"] = list(chat_ids)
        if attachments:
            payload["attachments"] = list(attachments)
        return self.call("/cgi-bin/externalcontact/add_msg_template", payload).get("msgid", "")
