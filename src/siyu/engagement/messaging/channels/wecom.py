"""WeCom (企业微信) server API, as documented at developer.work.weixin.qq.com:

- 获取access_token (`/cgi-bin/gettoken`): a token per (corp id, secret), valid `expires_in` seconds (7200);
  cached and reused, fetched again 5 minutes before it expires and at once when a call answers 40014
  (不合法的access_token), 42001 (access_token已过期) or 41001 (缺少access_token参数).
- 客户联系: 获取客户列表 (`externalcontact/list`), 获取客户详情 (`externalcontact/get`), 创建企业群发
  (`externalcontact/add_msg_template`, up to 10,000 external_userid per call; `fail_list` names those that
  are not the sender's contacts), 获取企业群发成员执行结果 (`externalcontact/get_groupmsg_send_result`,
  paged by `next_cursor`; status 0 未发送, 1 已发送, 2 因客户不是好友导致发送失败, 3 因客户已经收到其他
  群发消息导致发送失败).
- 客户联系 sync: 获取配置了客户联系功能的成员列表 (`externalcontact/get_follow_user_list`), 批量获取客户详情
  (`externalcontact/batch/get_by_user`: up to 100 userids and `limit` ≤ 100 per call, paged by `cursor` /
  `next_cursor`; one item per (customer, staff member) with `external_contact` and `follow_info`), 获取企业
  标签库 (`externalcontact/get_corp_tag_list`), 编辑客户企业标签 (`externalcontact/mark_tag`).
- 分配在职成员的客户 (`externalcontact/transfer_customer`): up to 100 external_userids per call, a result
  per customer; a customer can be transferred at most twice in 90 days (DESIGN.md §6).
- 发送新客户欢迎语 (`externalcontact/send_welcome_msg`): the `WelcomeCode` of an add_external_contact
  callback is valid for 20 seconds and for one message.
- 接口调用频率: at most 10,000 calls a minute per company (DESIGN.md §6); `CallLimiter` keeps a process
  under it (a call waits for a free slot) and a 45009 answer is waited out and retried during syncs.
- 发送应用消息 (`message/send`, up to 1,000 `touser` joined by "|"; `invaliduser` names the rejected).
- 全局错误码: -1 系统繁忙, 45009 接口调用超过限制, 45033 接口并发调用超过限制 and 41063 群发消息正在被
  派发中 are worth retrying later; the rest are permanent for the request as sent.
- 回调配置 / 加解密方案说明: msg_signature = sha1 of the sorted token, timestamp, nonce and Encrypt
  strings; AESKey = Base64_Decode(EncodingAESKey + "="), AES-256-CBC with IV = the key's first 16 bytes,
  PKCS#7 padding to 32-byte blocks; plaintext = random(16) + msg_len (4 bytes, network order) + msg +
  receiveid (the corp id).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict, deque

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from siyu.engagement.messaging.channels.base import (
    ChannelAdapter,
    Outcome,
    Outgoing,
    ProviderError,
    failed,
    render,
    sent,
)
from siyu.engagement.messaging.channels.http import HttpClient
from siyu.engagement.messaging.channels.wecom_contact_ways import ContactWayCalls
from siyu.engagement.messaging.channels.wecom_groups import GroupChatCalls
from siyu.engagement.messaging.channels.wecom_handover import HandoverCalls

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
RETRYABLE_CODES = {-1, 45009, 45033, 41063}
TOKEN_CODES = {40014, 42001, 41001}
TOKEN_MARGIN = 300.0  # seconds before expiry when a token is fetched again
MASS_LIMIT = 10_000
APP_LIMIT = 1_000
API_CALLS_PER_MINUTE = 10_000
# A call is counted for a second beyond the minute: WeCom counts it when it arrives, and a call sent earlier can
# arrive after the next one. Without it a sync running at the limit drew 9 refusals (45009) in 10,000 calls
# (siyu bench community); the margin costs under 2% of the throughput at the limit.
LIMIT_MARGIN_SECONDS = 1.0
BATCH_USERS = 100  # batch/get_by_user: userid_list of at most 100
BATCH_PAGE = 100  # and at most 100 items per page
SEND_STATUS = {0: "not_sent", 1: "sent", 2: "not_a_contact", 3: "limit_reached"}


class WeComError(ProviderError):
    def __init__(self, errcode: int, errmsg: str, retry_after: float | None = None):
        super().__init__(
            f"WeCom error {errcode}: {errmsg}", retryable=errcode in RETRYABLE_CODES, retry_after=retry_after
        )
        self.errcode = errcode


class CallLimiter:
    """A sliding window of call times per company: `acquire` waits until one more call keeps the company
    under `limit` calls in any `per` seconds (WeCom: 10,000 a minute, shared by every secret of the corp)."""

    def __init__(self, limit: int = API_CALLS_PER_MINUTE, per: float = 60.0, clock=time.monotonic,
                 sleep=time.sleep):  # fmt: skip
        self.limit, self.per = limit, per
        self.clock, self.sleep = clock, sleep
        self.calls: deque[float] = deque()
        self.waited = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                while self.calls and self.calls[0] <= now - self.per:
                    self.calls.popleft()
                if len(self.calls) < self.limit:
                    self.calls.append(now)
                    return
                wait = self.calls[0] + self.per - now
            self.waited += wait
            self.sleep(wait)


class WeComClient(ContactWayCalls, GroupChatCalls, HandoverCalls):
    """Calls with an access token, fetched and refreshed as the token lifecycle section describes, each
    call (token fetches included) taking a slot of the company's rate limit first. The contact-way and
    customer-group APIs are in their own modules (the mixins)."""

    _tokens: dict[tuple, tuple[str, float]] = {}  # shared by the process: one token per corp and secret
    _limiters: dict[str, CallLimiter] = {}  # one per corp (the limit is the company's)
    _lock = threading.Lock()
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self, corp_id: str, secret: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0,
                 patience: int = 0):  # fmt: skip
        # how many times a retryable error (45009, -1) is waited out (1 s, 2 s, 4 s … ≤ 60 s) before raising:
        # 0 for sends (the outbox retries them), more for a sync that should finish
        self.patience = patience
        self.corp_id = corp_id
        self.secret = secret
        self.http = HttpClient(base_url or DEFAULT_BASE_URL, timeout=timeout)
        self._media: dict[str, str] = {}  # image file -> media_id uploaded by this client
        self._key = (base_url, corp_id, hashlib.sha256(secret.encode()).hexdigest())
        with self._lock:
            self.limiter = self._limiters.setdefault(
                f"{base_url}|{corp_id}", CallLimiter(per=60.0 + LIMIT_MARGIN_SECONDS)
            )

    def token(self) -> str:
        with self._lock:
            cached = self._tokens.get(self._key)
            if cached and cached[1] > self.clock():
                return cached[0]
        self.limiter.acquire()
        body = self.http.get_json(
            "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self.secret}
        ).json()
        if body.get("errcode", 0) != 0:
            raise WeComError(body.get("errcode", -1), body.get("errmsg", ""))
        lifetime = float(body.get("expires_in", 7200))
        with self._lock:
            self._tokens[self._key] = (
                body["access_token"],
                self.clock() + max(lifetime - TOKEN_MARGIN, lifetime / 2),
            )
        return body["access_token"]

    def forget_token(self) -> None:
        with self._lock:
            self._tokens.pop(self._key, None)

    def call(
        self, path: str, payload: dict | None = None, query: dict | None = None, file: tuple | None = None
    ) -> dict:
        """`file`: (field, filename, bytes, content type) to upload as multipart instead of a JSON body."""
        refreshed, waits = False, 0
        while True:
            params = {"access_token": self.token(), **(query or {})}
            self.limiter.acquire()
            if file is not None:
                response = self.http.post_file(path, *file, query=params)
            elif payload is None:
                response = self.http.get_json(path, params)
            else:
                response = self.http.post_json(path, payload, query=params)
            if response.status >= 500 or response.status == 429:
                raise ProviderError(f"WeCom answered HTTP {response.status}", True, response.retry_after())
            body = response.json()
            code = body.get("errcode", 0)
            if code in TOKEN_CODES and not refreshed:
                self.forget_token()
                refreshed = True
                continue
            if code != 0:
                error = WeComError(code, body.get("errmsg", ""), response.retry_after())
                if error.retryable and waits < self.patience:  # a sync waits out 45009 / -1
                    self.sleep(min(2.0**waits, 60.0))
                    waits += 1
                    continue
                raise error
            return body

    # --- 客户联系 ---------------------------------------------------------------------------------

    def list_external_contacts(self, userid: str) -> list[str]:
        return self.call("/cgi-bin/externalcontact/list", query={"userid": userid}).get("external_userid", [])

    def get_external_contact(self, external_userid: str) -> dict:
        """The contact and every staff member following it (follow_user pages joined)."""
        query = {"external_userid": external_userid}
        body = self.call("/cgi-bin/externalcontact/get", query=query)
        follow = list(body.get("follow_user", []))
        while body.get("next_cursor"):
            body = self.call("/cgi-bin/externalcontact/get", query={**query, "cursor": body["next_cursor"]})
            follow.extend(body.get("follow_user", []))
        return {**body["external_contact"], "follow_user": follow}

    def get_follow_user_list(self) -> list[str]:
        """The staff members with the customer-contact feature (whose customers a sync reads)."""
        return list(self.call("/cgi-bin/externalcontact/get_follow_user_list").get("follow_user", []))

    def batch_get_by_user(self, userids: list[str], page_size: int = BATCH_PAGE):
        """Yield pages of (customer, follow_info) items of these staff members (at most 100 per call),
        following `next_cursor` until WeCom returns none."""
        for start in range(0, len(userids), BATCH_USERS):
            cursor = ""
            while True:
                body = self.call(
                    "/cgi-bin/externalcontact/batch/get_by_user",
                    {"userid_list": userids[start : start + BATCH_USERS], "cursor": cursor,
                     "limit": min(page_size, BATCH_PAGE)},
                )  # fmt: skip
                yield list(body.get("external_contact_list", []))
                cursor = body.get("next_cursor", "")
                if not cursor:
                    break

    def get_corp_tag_list(self) -> list[dict]:
        """The corporate tag library: groups with their tags (deleted ones flagged by WeCom)."""
        return list(self.call("/cgi-bin/externalcontact/get_corp_tag_list", {}).get("tag_group", []))

    def mark_tag(
        self, userid: str, external_userid: str, add: list[str] = (), remove: list[str] = ()
    ) -> None:
        """Add/remove corporate tags (tag ids) on a customer as seen by one staff member."""
        self.call(
            "/cgi-bin/externalcontact/mark_tag",
            {"userid": userid, "external_userid": external_userid, "add_tag": list(add), "remove_tag": list(remove)},
        )  # fmt: skip

    def transfer_customer(
        self, handover: str, takeover: str, external_userids: list[str], message: str = ""
    ) -> dict:
        """在职继承: {external_userid: errcode} (0: accepted; the customer may refuse within 24 hours)."""
        payload = {
            "handover_userid": handover,
            "takeover_userid": takeover,
            "external_userid": external_userids,
        }
        if message:
            payload["transfer_success_msg"] = message
        body = self.call("/cgi-bin/externalcontact/transfer_customer", payload)
        return {c.get("external_userid"): int(c.get("errcode") or 0) for c in body.get("customer", [])}

    def upload_media(self, kind: str, filename: str, data: bytes, content_type: str) -> str:
        """素材管理/上传临时素材: a media_id valid for three days (images: JPG or PNG, at most 10 MB)."""
        body = self.call(
            "/cgi-bin/media/upload", query={"type": kind}, file=("media", filename, data, content_type)
        )
        return body["media_id"]

    def send_welcome_msg(self, welcome_code: str, text: str, attachments: list[dict] = ()) -> None:
        payload: dict = {"welcome_code": welcome_code, "text": {"content": text}}
        if attachments:
            payload["attachments"] = list(attachments)
        self.call("/cgi-bin/externalcontact/send_welcome_msg", payload)

    def add_msg_template(
        self, sender: str, external_userids: list[str], text: str, attachments: list[dict] = ()
    ) -> tuple[str, list[str]]:
        payload: dict = {
            "chat_type": "single",
            "external_userid": external_userids,
            "sender": sender,
            "text": {"content": text},
        }
        if attachments:
            payload["attachments"] = list(attachments)
        body = self.call("/cgi-bin/externalcontact/add_msg_template", payload)
        return body.get("msgid", ""), list(body.get("fail_list", []))

    def attachments(self, items: list[dict]) -> list[dict]:
        """WeCom's `attachments` for a message's materials (see `Outgoing.attachments`): an image is
        uploaded and sent by media_id; a link card as it is (no picture: WeCom fetches `picurl` from the
        internet, and the material's image is not published); a mini-program card with its picture
        uploaded as pic_media_id. Uploads are kept for the client's life (a delivery batch)."""
        out = []
        for item in items:
            if item["kind"] == "link":
                out.append({"msgtype": "link", "link": {"title": item["title"], "url": item["url"],
                                                        "desc": item.get("description", "")}})  # fmt: skip
                continue
            media = self._uploaded(item)
            if item["kind"] == "miniprogram":
                out.append({"msgtype": "miniprogram", "miniprogram": {
                    "title": item["title"], "pic_media_id": media, "appid": item["appid"], "page": item["page"]}})  # fmt: skip
            else:
                out.append({"msgtype": "image", "image": {"media_id": media}})
        return out

    def _uploaded(self, item: dict) -> str:
        if item["image_name"] not in self._media:
            self._media[item["image_name"]] = self.upload_media(
                "image", item["image_name"], item["image"], item["content_type"]
            )
        return self._media[item["image_name"]]

    def get_groupmsg_send_result(self, msgid: str, userid: str) -> list[dict]:
        results, cursor = [], ""
        while True:
            body = self.call(
                "/cgi-bin/externalcontact/get_groupmsg_send_result",
                {"msgid": msgid, "userid": userid, "limit": 1000, "cursor": cursor},
            )
            results.extend(body.get("send_list", []))
            cursor = body.get("next_cursor", "")
            if not cursor:
                return results

    # --- 应用消息 ---------------------------------------------------------------------------------

    def send_app_message(self, agent_id: int, members: list[str], text: str) -> tuple[str, list[str]]:
        body = self.call(
            "/cgi-bin/message/send",
            {"touser": "|".join(members), "msgtype": "text", "agentid": agent_id, "text": {"content": text}},
        )
        invalid = [m for m in body.get("invaliduser", "").split("|") if m]
        return body.get("msgid", ""), invalid


def _client(settings: dict, secrets: dict, secret_name: str) -> WeComClient:
    secret = secrets.get(secret_name) or ""
    if not settings.get("corp_id") or not secret:
        raise ProviderError(
            f"the WeCom account needs a corp id and the {secret_name.replace('_', ' ')}", False
        )
    return WeComClient(settings["corp_id"], secret, settings.get("base_url") or DEFAULT_BASE_URL)


def _grouped(messages: list[Outgoing], key, size: int):
    groups = defaultdict(list)
    for message in messages:
        groups[key(message)].append(message)
    for group_key, members in groups.items():
        for start in range(0, len(members), size):
            yield group_key, members[start : start + size]


class WeComMassAdapter(ChannelAdapter):
    """A customer send is a one-customer-or-more mass message (企业群发) from the staff member who has the
    customer as a contact; WeCom then asks that member to confirm it in the app."""

    provider = "wecom"
    address_kind = "wecom"
    whole_batches = True  # one mass message per sender and text: splitting would ask each guide many times

    def deliver(self, messages: list[Outgoing]) -> dict[int, Outcome]:
        out: dict[int, Outcome] = {}
        ready = []
        for message in messages:
            if not message.address.get("sender"):
                out[message.send_id] = failed("no staff member has this customer as a WeCom contact", False)
            else:
                ready.append(message)
        if not ready:
            return out
        try:
            client = _client(self.settings, self.secrets, "contact_secret")
        except ProviderError as exc:
            return {**out, **{m.send_id: exc.outcome() for m in ready}}

        def key(m):
            return (
                m.address["sender"],
                render(m.content, m.variables),
                tuple(a["material_id"] for a in m.attachments),
            )

        for (sender, text, _materials), group in _grouped(ready, key, MASS_LIMIT):
            try:
                msgid, fail_list = client.add_msg_template(
                    sender,
                    [m.address["external_userid"] for m in group],
                    text,
                    client.attachments(group[0].attachments),
                )
            except ProviderError as exc:
                out.update({m.send_id: exc.outcome() for m in group})
                continue
            refused = set(fail_list)
            for m in group:
                if m.address["external_userid"] in refused:
                    out[m.send_id] = failed(f"not a contact of {sender} (fail_list)", False)
                else:
                    out[m.send_id] = sent(msgid)
        return out


class WeComAppAdapter(ChannelAdapter):
    """App messages to staff members (e.g. a guide's task); WeCom drops what exceeds 30 a minute or 1,000
    an hour per member, which the contact policy keeps under."""

    provider = "wecom"
    address_kind = "member"

    def deliver(self, messages: list[Outgoing]) -> dict[int, Outcome]:
        try:
            client = _client(self.settings, self.secrets, "app_secret")
            agent_id = int(self.settings.get("agent_id") or 0)
        except (ProviderError, ValueError) as exc:
            error = (
                exc
                if isinstance(exc, ProviderError)
                else ProviderError("the agent id is not a number", False)
            )
            return {m.send_id: error.outcome() for m in messages}
        out: dict[int, Outcome] = {}
        for text, group in _grouped(messages, lambda m: render(m.content, m.variables), APP_LIMIT):
            try:
                msgid, invalid = client.send_app_message(agent_id, [m.address["member"] for m in group], text)
            except ProviderError as exc:
                out.update({m.send_id: exc.outcome() for m in group})
                continue
            for m in group:
                bad = m.address["member"] in invalid
                out[m.send_id] = failed("invalid member (invaliduser)", False) if bad else sent(msgid)
        return out


# --- callbacks ---------------------------------------------------------------------------------------


class CallbackError(Exception):
    """A callback that is not WeCom's: bad signature, bad ciphertext or another corp's."""


_ENCRYPT = re.compile(r"<Encrypt>\s*<!\[CDATA\[(.*?)\]\]>\s*</Encrypt>|<Encrypt>([^<]*)</Encrypt>", re.S)
BLOCK = 32


class WeComCallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise CallbackError("the EncodingAESKey must be 43 characters")
        self.receive_id = receive_id

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypted])).encode()).hexdigest()

    def _cipher(self):
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        plain = (
            (random16 or os.urandom(16))
            + struct.pack(">I", len(message))
            + message
            + self.receive_id.encode()
        )
        pad = BLOCK - len(plain) % BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        try:
            data = base64.b64decode(encrypted)
            decryptor = self._cipher().decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
        except ValueError as exc:
            raise CallbackError("the ciphertext is not valid") from exc
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= BLOCK:
            raise CallbackError("bad padding")
        plain = plain[:-pad]
        length = struct.unpack(">I", plain[16:20])[0]
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if receive_id.decode(errors="replace") != self.receive_id:
            raise CallbackError("the message is for another receiver")
        return message

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        if not msg_signature or self.signature(timestamp, nonce, encrypted) != msg_signature.lower():
            raise CallbackError("msg_signature does not match")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """验证URL有效性: the decrypted echostr is the answer."""
        self.check(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr).decode()

    def open(self, msg_signature: str, timestamp: str, nonce: str, body: str) -> str:
        """The decrypted XML of a callback POST body."""
        match = _ENCRYPT.search(body or "")
        if not match:
            raise CallbackError("no Encrypt element")
        encrypted = (match.group(1) or match.group(2) or "").strip()
        self.check(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted).decode()

    def seal(self, message: str, timestamp: str, nonce: str) -> tuple[str, str]:
        """(body, msg_signature) of a callback as WeCom sends it (used by the fake server and tests)."""
        encrypted = self.encrypt(message.encode())
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        return body, self.signature(timestamp, nonce, encrypted)


# 客户联系 callbacks (事件格式 change_external_contact / change_external_chat) -> warehouse event types
CONTACT_EVENTS = {
    "add_external_contact": "wecom_contact_added",
    "add_half_external_contact": "wecom_contact_added",
    "del_external_contact": "wecom_contact_deleted",  # the staff member deleted the customer
    "del_follow_user": "wecom_contact_deleted",  # the customer deleted the staff member (删人)
}


def parse_callback_event(message: str) -> dict | None:
    """The event a decrypted callback carries, or None for one we do not record."""
    try:
        root = ET.fromstring(message)
    except ET.ParseError as exc:
        raise CallbackError("the decrypted message is not XML") from exc

    def text(tag):
        node = root.find(tag)
        return (node.text or "").strip() if node is not None and node.text else ""

    if text("MsgType") != "event":
        return None
    event, change = text("Event"), text("ChangeType")
    created = int(text("CreateTime") or 0)
    if event == "change_external_contact" and change in CONTACT_EVENTS:
        return {
            "event_type": CONTACT_EVENTS[change],
            "external_userid": text("ExternalUserID"),
            "created": created,
            "properties": {"change_type": change, "staff": text("UserID"), "state": text("State")},
            # valid for 20 seconds (send_welcome_msg); not stored with the event
            "welcome_code": text("WelcomeCode"),
        }
    if event == "change_external_chat":
        return {
            "event_type": "wecom_group_" + (change or "update"),
            "external_userid": "",
            "created": created,
            "properties": {
                "chat_id": text("ChatId"),
                "update_detail": text("UpdateDetail"),
                "member_count": text("MemChangeCnt"),
                "join_scene": text("JoinScene"),
                "quit_scene": text("QuitScene"),  # community.groups: why a member left (0 left, 1 removed)
                # who joined or left: userids of staff, external_userids of customers
                "members": [(n.text or "").strip() for n in root.iterfind("MemChangeList/Item") if n.text],
            },
        }
    return None


class WeComWelcomeAdapter(ChannelAdapter):
    """欢迎语: the message WeCom shows a customer who just added a staff member, sent with the WelcomeCode of
    the add_external_contact callback. The code is valid for 20 seconds and for one message, so nothing is
    retried later: every failure is permanent."""

    provider = "wecom"
    address_kind = "customer"

    def deliver(self, messages: list[Outgoing]) -> dict[int, Outcome]:
        try:
            client = _client(self.settings, self.secrets, "contact_secret")
        except ProviderError as exc:
            return {m.send_id: failed(str(exc), False) for m in messages}
        out: dict[int, Outcome] = {}
        try:
            for message in messages:
                code = str(message.variables.get("welcome_code") or "")
                if not code:
                    out[message.send_id] = failed(
                        "no welcome code (it comes with the add-contact callback)", False
                    )
                    continue
                try:
                    client.send_welcome_msg(
                        code,
                        render(message.content, message.variables),
                        client.attachments(message.attachments),
                    )
                except ProviderError as exc:
                    out[message.send_id] = failed(str(exc), False)
                else:
                    out[message.send_id] = sent(code[:100])
        finally:
            client.http.close()
        return out
