"""WeChat official account (公众号) template messages and mini-program (小程序) subscribe messages, as
documented at developers.weixin.qq.com:

- Access token: 获取稳定版接口调用凭据 (`POST /cgi-bin/stable_token`, the default: fetching it does not
  invalidate a token another system of the brand holds; `force_refresh` only after WeChat refused ours) or
  获取接口调用凭据 (`GET /cgi-bin/token?grant_type=client_credential`); valid `expires_in` (7200) seconds,
  cached per (appid, secret) and fetched again 5 minutes before expiry or when a call answers 40001
  (invalid credential), 40014 (invalid access_token) or 42001 (access_token expired).
- 发送模板消息 (`POST /cgi-bin/message/template/send`): touser (the follower's openid), template_id,
  url and/or miniprogram {appid, pagepath}, data {key: {value}}, client_msg_id (WeChat sends one message
  per openid + client_msg_id within 10 minutes: ours is the send's idempotency key).
- 发送订阅消息 (`POST /cgi-bin/message/subscribe/send`): touser, template_id, page, miniprogram_state,
  lang, data {key: {value}}. A subscribe message needs the user's authorisation of that template
  (wx.requestSubscribeMessage); without it WeChat answers 43101.
- Error codes: -1 系统繁忙 and 45009 (接口调用超过限制) are retried later; 43101 (user refuse to accept the
  msg) is permanent and withdraws the customer's consent to that template (recorded, so the contact policy
  stops the next one); 43004 (require subscribe: not a follower), 40003 (invalid openid), 40037 (invalid
  template_id), 47003 (data invalid), 41030 (invalid page) are permanent.

The variables of a send fill `data`: every variable becomes {"value": "…"} except these, which are
request fields: `url`, `miniprogram_appid`, `miniprogram_pagepath` (template messages), `page` (subscribe
messages)."""

from __future__ import annotations

import hashlib
import threading
import time

from siyu.engagement.messaging.channels.base import (
    ChannelAdapter,
    Outcome,
    Outgoing,
    ProviderError,
    failed,
    sent,
)
from siyu.engagement.messaging.channels.http import HttpClient

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
TOKEN_CODES = {40001, 40014, 42001}
RETRYABLE_CODES = {-1, 45009}
REFUSED = 43101  # the user refused (or never authorised) this template
TOKEN_MARGIN = 300.0
REQUEST_FIELDS = {"url", "miniprogram_appid", "miniprogram_pagepath", "page"}
ERRORS = {
    43101: "the user refused this template (user refuse to accept the msg)",
    40029: "invalid or used authorisation code",
    43004: "not a follower of the official account (require subscribe)",
    40003: "invalid openid",
    40037: "invalid template_id",
    47003: "template data invalid",
    41030: "invalid page",
    45009: "WeChat's call limit reached",
}


class WeChatError(ProviderError):
    def __init__(self, errcode: int, errmsg: str):
        explained = ERRORS.get(errcode, errmsg)
        super().__init__(f"WeChat error {errcode}: {explained}", retryable=errcode in RETRYABLE_CODES)
        self.errcode = errcode


class WeChatClient:
    _tokens: dict[tuple, tuple[str, float]] = {}
    _lock = threading.Lock()
    clock = staticmethod(time.monotonic)

    def __init__(self, appid: str, secret: str, base_url: str = DEFAULT_BASE_URL, stable: bool = True):
        self.appid, self.secret, self.stable = appid, secret, stable
        self.http = HttpClient(base_url or DEFAULT_BASE_URL)
        self._key = (base_url, appid, hashlib.sha256(secret.encode()).hexdigest(), stable)

    def token(self, force_refresh: bool = False) -> str:
        with self._lock:
            cached = self._tokens.get(self._key)
            if cached and cached[1] > self.clock() and not force_refresh:
                return cached[0]
        if self.stable:
            response = self.http.post_json(
                "/cgi-bin/stable_token",
                {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                 "force_refresh": force_refresh},
            )  # fmt: skip
        else:
            response = self.http.get_json(
                "/cgi-bin/token",
                {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
        if response.status >= 500:
            raise ProviderError(f"WeChat answered HTTP {response.status}", True, response.retry_after())
        body = response.json()
        if body.get("errcode", 0) != 0 or "access_token" not in body:
            raise WeChatError(int(body.get("errcode", -1)), body.get("errmsg", ""))
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

    def call(self, path: str, payload: dict) -> dict:
        force = False
        for attempt in (1, 2):
            response = self.http.post_json(path, payload, query={"access_token": self.token(force)})
            if response.status >= 500 or response.status == 429:
                raise ProviderError(f"WeChat answered HTTP {response.status}", True, response.retry_after())
            body = response.json()
            code = int(body.get("errcode", 0))
            if code in TOKEN_CODES and attempt == 1:
                self.forget_token()
                force = True  # a stable token WeChat refused: ask for a new one, not the cached one again
                continue
            if code != 0:
                raise WeChatError(code, body.get("errmsg", ""))
            return body
        raise AssertionError("unreachable")

    def oauth_access_token(self, code: str) -> dict:
        """网页授权 (official account web authorisation): exchange the `code` WeChat gave the user's browser
        (valid 5 minutes, once) at `GET /sns/oauth2/access_token` for the user's openid (+ unionid when the
        account is bound to an open platform). Raises WeChatError (40029: invalid or used code)."""
        response = self.http.get_json(
            "/sns/oauth2/access_token",
            {"appid": self.appid, "secret": self.secret, "code": code, "grant_type": "authorization_code"},
        )
        if response.status >= 500 or response.status == 429:
            raise ProviderError(f"WeChat answered HTTP {response.status}", True, response.retry_after())
        body = response.json()
        if int(body.get("errcode", 0) or 0) != 0 or not body.get("openid"):
            raise WeChatError(int(body.get("errcode", -1) or -1), body.get("errmsg", ""))
        return body

    def send_template_message(self, payload: dict) -> str:
        return str(self.call("/cgi-bin/message/template/send", payload).get("msgid", ""))

    def send_subscribe_message(self, payload: dict) -> str:
        return str(self.call("/cgi-bin/message/subscribe/send", payload).get("msgid", ""))


AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"


def web_authorize_url(appid: str, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
    """Where to send the browser for 网页授权: WeChat asks (snsapi_userinfo) or not (snsapi_base), then
    redirects to `redirect_uri?code=…&state=…`. The parameters must be in this order, ending in
    #wechat_redirect, as WeChat documents."""
    from urllib.parse import quote

    return (
        f"{AUTHORIZE_URL}?appid={quote(appid, safe='')}&redirect_uri={quote(redirect_uri, safe='')}"
        f"&response_type=code&scope={scope}&state={quote(state, safe='')}#wechat_redirect"
    )


def template_data(variables: dict) -> dict:
    return {str(k): {"value": str(v)} for k, v in variables.items() if k not in REQUEST_FIELDS}


class _WeChatAdapter(ChannelAdapter):
    address_kind = "openid"

    def __init__(self, settings: dict, secrets: dict):
        super().__init__(settings, secrets)
        # the import source whose record ids are this account's openids (see docs/user-guide)
        self.address_source = settings.get("source") or ""
        self.client = WeChatClient(
            settings.get("appid", ""),
            secrets.get("app_secret", ""),
            settings.get("base_url") or DEFAULT_BASE_URL,
            stable=(settings.get("token_api") or "stable_token") != "token",
        )

    def payload(self, message: Outgoing) -> dict:
        raise NotImplementedError

    def send(self, payload: dict) -> str:
        raise NotImplementedError

    def deliver_one(self, message: Outgoing) -> Outcome:
        if not self.settings.get("appid") or not self.secrets.get("app_secret"):
            return failed("the account needs an appid and its app secret", False)
        if not message.template:
            return failed("a WeChat message needs a template_id (template)", False)
        try:
            return sent(self.send(self.payload(message)))
        except WeChatError as exc:
            outcome = exc.outcome()
            outcome.refused = exc.errcode == REFUSED
            return outcome

    def close(self) -> None:
        self.client.http.close()


class OfficialAccountTemplateAdapter(_WeChatAdapter):
    provider = "wechat_oa"

    def payload(self, message: Outgoing) -> dict:
        v = message.variables
        body = {
            "touser": message.address["openid"],
            "template_id": message.template,
            "data": template_data(v),
            "client_msg_id": message.idempotency_key[:64],
        }
        if v.get("url"):
            body["url"] = str(v["url"])
        if v.get("miniprogram_appid"):
            body["miniprogram"] = {
                "appid": str(v["miniprogram_appid"]),
                "pagepath": str(v.get("miniprogram_pagepath") or ""),
            }
        return body

    def send(self, payload: dict) -> str:
        return self.client.send_template_message(payload)


class MiniProgramSubscribeAdapter(_WeChatAdapter):
    provider = "wechat_mp"

    def payload(self, message: Outgoing) -> dict:
        v = message.variables
        body = {
            "touser": message.address["openid"],
            "template_id": message.template,
            "data": template_data(v),
            "miniprogram_state": self.settings.get("miniprogram_state") or "formal",
            "lang": "zh_CN",
        }
        if v.get("page"):
            body["page"] = str(v["page"])
        return body

    def send(self, payload: dict) -> str:
        return self.client.send_subscribe_message(payload)
