"""WeCom's 客户继承 API (离职继承 of a resigned member's customers and groups, and the outcome of 在职继承),
mixed into WeComClient (siyu.engagement.messaging.channels.wecom), which provides `call`:

- 获取待分配的离职成员列表 (`externalcontact/get_unassigned_list`): paged by `cursor` (page_size ≤ 1000) until
  `is_last` / no `next_cursor`;
- 分配离职成员的客户 (`externalcontact/resigned/transfer_customer`): at most 100 external_userids a call, an
  errcode per customer;
- 查询离职/在职客户接替状态 (`externalcontact/resigned/transfer_result`, `externalcontact/transfer_result`):
  status 1 接替完毕, 2 等待接替, 3 客户拒绝, 4 接替成员客户达到上限, 5 无接替记录, with `takeover_time`
  (for a waiting customer, when they will be taken over); paged by `cursor`;
- 分配离职成员的客户群 (`externalcontact/groupchat/transfer`): at most 100 chat ids a call; `failed_chat_list`
  names the groups not passed on, with their errcode."""

from __future__ import annotations

TRANSFER_BATCH = 100  # customers or groups per transfer call
UNASSIGNED_PAGE = 1000
TAKEOVER_STATUSES = {1: "accepted", 2: "waiting", 3: "refused", 4: "takeover_full", 5: "no_record"}


class HandoverCalls:
    def get_unassigned_list(self, page_size: int = UNASSIGNED_PAGE) -> list[dict]:
        """Every customer of a resigned member still waiting for a new owner: [{handover_userid,
        external_userid, dimission_time}]."""
        found, cursor = [], ""
        while True:
            body = self.call("/cgi-bin/externalcontact/get_unassigned_list",
                             {"cursor": cursor, "page_size": min(page_size, UNASSIGNED_PAGE)})  # fmt: skip
            found.extend(body.get("info", []))
            cursor = body.get("next_cursor", "")
            if body.get("is_last", True) or not cursor:
                return found

    def transfer_resigned_customers(self, handover: str, takeover: str, external_userids: list[str]) -> dict:
        """{external_userid: errcode} (0: the transfer is under way; the outcome comes from transfer_result)."""
        if not 1 <= len(external_userids) <= TRANSFER_BATCH:
            raise ValueError(f"1 to {TRANSFER_BATCH} customers per call")
        body = self.call(
            "/cgi-bin/externalcontact/resigned/transfer_customer",
            {"handover_userid": handover, "takeover_userid": takeover, "external_userid": list(external_userids)},
        )
        return {c.get("external_userid"): int(c.get("errcode") or 0) for c in body.get("customer", [])}

    def _transfer_result(self, path: str, handover: str, takeover: str) -> list[dict]:
        found, cursor = [], ""
        while True:
            payload = {"handover_userid": handover, "takeover_userid": takeover}
            if cursor:
                payload["cursor"] = cursor
            body = self.call(path, payload)
            found.extend(body.get("customer", []))
            cursor = body.get("next_cursor", "")
            if not cursor:
                return found

    def resigned_transfer_result(self, handover: str, takeover: str) -> list[dict]:
        """[{external_userid, status, takeover_time}] of customers passed from a resigned member."""
        return self._transfer_result("/cgi-bin/externalcontact/resigned/transfer_result", handover, takeover)

    def onjob_transfer_result(self, handover: str, takeover: str) -> list[dict]:
        """The same for customers passed on by transfer_customer (在职继承)."""
        return self._transfer_result("/cgi-bin/externalcontact/transfer_result", handover, takeover)

    def transfer_group_chats(self, chat_ids: list[str], new_owner: str) -> dict:
        """{chat_id: errcode} of the groups WeCom did not pass on (the rest now belong to new_owner)."""
        if not 1 <= len(chat_ids) <= TRANSFER_BATCH:
            raise ValueError(f"1 to {TRANSFER_BATCH} groups per call")
        body = self.call("/cgi-bin/externalcontact/groupchat/transfer",
                         {"chat_id_list": list(chat_ids), "new_owner": new_owner})  # fmt: skip
        return {f.get("chat_id"): int(f.get("errcode") or -1) for f in body.get("failed_chat_list", [])}
