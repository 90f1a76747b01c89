"""The fake WeCom's 客户继承 part (离职继承 and the results of 在职继承), mixed into FakeWeCom
(siyu.engagement.messaging.fakes.wecom), whose state (`members`, `contacts`, `follow`, `transfers`) it shares:

- 获取待分配的离职成员列表 (`externalcontact/get_unassigned_list`): {cursor, page_size ≤ 1000} → `info`
  [{handover_userid, external_userid, dimission_time}], `is_last`, `next_cursor`;
- 分配离职成员的客户 (`externalcontact/resigned/transfer_customer`): handover_userid (a resigned member),
  takeover_userid (a member), external_userid 1 to 100 → `customer` [{external_userid, errcode}]; the
  two-transfers-in-90-days limit is the one `transfer_customer` keeps (`transfers`);
- 查询离职客户接替状态 (`externalcontact/resigned/transfer_result`) and 查询在职客户接替状态
  (`externalcontact/transfer_result`): {handover_userid, takeover_userid, cursor} → `customer`
  [{external_userid, status, takeover_time}], `next_cursor`; status 1 接替完毕, 2 等待接替, 3 客户拒绝,
  4 接替成员客户达到上限 (5 无接替记录 is a customer never transferred between the two). A waiting customer
  is taken over at `takeover_time` (24 hours after the request) unless they refuse first;
- 分配离职成员的客户群 (`externalcontact/groupchat/transfer`): chat_id_list 1 to 100, new_owner (a member) →
  `failed_chat_list` [{chat_id, errcode, errmsg}]; only a group whose owner has resigned can be passed on.

Test helpers: `resign(userid)`, `answer_transfer(external_userid, status)` (the customer accepts: 1, refuses:
3, or the takeover is full: 4), `add_resigned_chat(chat_id, owner)` (a group of a resigned owner — the groups
part's state, when it has one, can stand in through `chat_owner`)."""

from __future__ import annotations

import base64
import time

from siyu.engagement.messaging.fakes.wecom_errors import wecom_error as _err

TAKEOVER_AFTER = 24 * 3600  # WeCom takes a resigned member's customer over 24 hours after the request
# errcodes of the fake where WeCom documents the rule but the code is the fake's own choice
NOT_RESIGNED_CODE = 40098  # handover_userid is not a resigned member
CHAT_OWNER_NOT_RESIGNED = 90500  # WeCom's: "the owner of this chat is not resigned"
CHAT_NOT_FOUND = 90501
ALREADY_WAITING_CODE = 40129  # same as the 90-day limit code of transfer_customer: the client reads any non-zero


class FakeHandover:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resigned: dict[str, int] = {}  # userid -> dimission_time
        # external_userid -> {"handover", "takeover", "status", "takeover_time", "kind": "resigned"|"on_job"}
        self.takeovers: dict[str, dict] = {}
        self.resigned_chats: dict[str, str] = {}  # chat_id -> owner userid
        self.chat_transfers: list[tuple[str, str, str]] = []  # (chat_id, old owner, new owner)

    # --- test helpers ---
    def resign(self, userid: str, at: int | None = None) -> None:
        """A member leaves the company: their customers wait for a new owner (get_unassigned_list)."""
        self.resigned[userid] = at or int(time.time())
        self.members.discard(userid)

    def answer_transfer(self, external_userid: str, status: int) -> None:
        taken = self.takeovers[external_userid]
        taken["status"] = status
        if status == 1:
            self._complete(external_userid, taken)

    def add_resigned_chat(self, chat_id: str, owner: str) -> None:
        self.resigned_chats[chat_id] = owner

    def chat_owner(self, chat_id: str) -> str | None:
        return self.resigned_chats.get(chat_id)

    def _complete(self, ext: str, taken: dict) -> None:
        if ext in self.contacts[taken["handover"]]:
            self.contacts[taken["handover"]].remove(ext)
            self.contacts[taken["takeover"]].append(ext)
            self.follow(taken["handover"], ext)["userid"] = taken["takeover"]
        taken["status"] = 1

    def _settle_due(self) -> None:
        now = time.time()
        for ext, taken in self.takeovers.items():
            if taken["status"] == 2 and taken["takeover_time"] <= now:
                self._complete(ext, taken)

    # --- protocol ---
    def routes(self) -> dict:
        return {
            **getattr(super(), "routes", dict)(),
            "/cgi-bin/externalcontact/get_unassigned_list": ("contact", self._get_unassigned_list),
            "/cgi-bin/externalcontact/resigned/transfer_customer": ("contact", self._resigned_transfer_customer),
            "/cgi-bin/externalcontact/resigned/transfer_result": ("contact", self._resigned_transfer_result),
            "/cgi-bin/externalcontact/transfer_result": ("contact", self._onjob_transfer_result),
            "/cgi-bin/externalcontact/groupchat/transfer": ("contact", self._groupchat_transfer),
        }

    @staticmethod
    def _cursor(value) -> int | None:
        if not value:
            return 0
        try:
            return int(base64.urlsafe_b64decode(str(value)).decode())
        except ValueError:
            return None

    @staticmethod
    def _next(position: int, total: int) -> str:
        return base64.urlsafe_b64encode(str(position).encode()).decode() if position < total else ""

    def _get_unassigned_list(self, query, body):
        size = body.get("page_size", 1000)
        if not isinstance(size, int) or not 1 <= size <= 1000:
            return _err(40058, "page_size must be 1 to 1000")
        start = self._cursor(body.get("cursor"))
        if start is None:
            return _err(40058, "invalid cursor")
        waiting = [
            {"handover_userid": userid, "external_userid": ext, "dimission_time": at}
            for userid, at in sorted(self.resigned.items())
            for ext in self.contacts[userid]
            if self.takeovers.get(ext, {}).get("status") not in (1, 2)
        ]
        page = waiting[start : start + size]
        cursor = self._next(start + size, len(waiting))
        return 200, {}, {"errcode": 0, "errmsg": "ok", "info": page, "is_last": not cursor, "next_cursor": cursor}

    def _resigned_transfer_customer(self, query, body):
        handover, takeover = body.get("handover_userid", ""), body.get("takeover_userid", "")
        targets = body.get("external_userid") or []
        if not handover or not takeover:
            return _err(40058, "handover_userid and takeover_userid are required")
        if handover not in self.resigned:
            return _err(NOT_RESIGNED_CODE, "handover_userid is not a resigned member")
        if takeover not in self.members:
            return _err(40003, "invalid takeover_userid")
        if not isinstance(targets, list) or not targets or len(targets) > 100:
            return _err(40058, "external_userid must hold 1 to 100 customers")
        now, results = time.time(), []
        for ext in targets:
            recent = [t for t in self.transfers[ext] if t > now - 90 * 86400]
            if ext not in self.contacts[handover]:
                results.append({"external_userid": ext, "errcode": 84061})
            elif self.takeovers.get(ext, {}).get("status") in (1, 2):
                results.append({"external_userid": ext, "errcode": ALREADY_WAITING_CODE})
            elif len(recent) >= 2:
                results.append({"external_userid": ext, "errcode": self.TRANSFER_LIMIT_CODE})
            else:
                self.transfers[ext] = recent + [now]
                self.takeovers[ext] = {"handover": handover, "takeover": takeover, "status": 2,
                                       "takeover_time": int(now) + TAKEOVER_AFTER, "kind": "resigned"}  # fmt: skip
                results.append({"external_userid": ext, "errcode": 0})
        return 200, {}, {"errcode": 0, "errmsg": "ok", "customer": results}

    def _transfer_result(self, body, kind: str):
        handover, takeover = body.get("handover_userid", ""), body.get("takeover_userid", "")
        if not handover or not takeover:
            return _err(40058, "handover_userid and takeover_userid are required")
        start = self._cursor(body.get("cursor"))
        if start is None:
            return _err(40058, "invalid cursor")
        self._settle_due()
        found = [
            {"external_userid": ext, "status": t["status"], "takeover_time": t["takeover_time"]}
            for ext, t in sorted(self.takeovers.items())
            if t["handover"] == handover and t["takeover"] == takeover and t["kind"] == kind
        ]
        page = found[start : start + 100]
        return 200, {}, {"errcode": 0, "errmsg": "ok", "customer": page,
                         "next_cursor": self._next(start + 100, len(found))}  # fmt: skip

    def _resigned_transfer_result(self, query, body):
        return self._transfer_result(body, "resigned")

    def _onjob_transfer_result(self, query, body):
        return self._transfer_result(body, "on_job")

    def record_onjob_transfer(self, handover: str, takeover: str, external_userid: str) -> None:
        """在职继承 made by transfer_customer: the customer is moved at once (as that handler does) and has
        24 hours to refuse; its result is what transfer_result reports."""
        self.takeovers[external_userid] = {"handover": handover, "takeover": takeover, "status": 2,
                                           "takeover_time": int(time.time()) + TAKEOVER_AFTER, "kind": "on_job"}  # fmt: skip

    def _groupchat_transfer(self, query, body):
        chats, owner = body.get("chat_id_list") or [], body.get("new_owner", "")
        if not isinstance(chats, list) or not chats or len(chats) > 100:
            return _err(40058, "chat_id_list must hold 1 to 100 chat ids")
        if owner not in self.members:
            return _err(40003, "invalid new_owner")
        failed = []
        for chat_id in chats:
            current = self.chat_owner(chat_id)
            if current is None:
                failed.append({"chat_id": chat_id, "errcode": CHAT_NOT_FOUND, "errmsg": "invalid chat_id"})
            elif current not in self.resigned:
                failed.append({"chat_id": chat_id, "errcode": CHAT_OWNER_NOT_RESIGNED,
                               "errmsg": "the owner of this chat is not resigned"})  # fmt: skip
            else:
                self.resigned_chats.pop(chat_id, None)
                self.chat_transfers.append((chat_id, current, owner))
        return 200, {}, {"errcode": 0, "errmsg": "ok", "failed_chat_list": failed}
