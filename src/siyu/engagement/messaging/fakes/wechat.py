"""A fake WeChat API (api.weixin.qq.com) for an official account and a mini program: access tokens from
`cgi-bin/token` and `cgi-bin/stable_token` (expiring: 42001; unknown: 40001), template messages
(`message/template/send`: followers only, 43004; blocked templates, 43101; client_msg_id deduplicated for
10 minutes) and subscribe messages (`message/subscribe/send`: one message per authorisation the user
gave for that template, else 43101), and the daily call quota (45009); and 网页授权 (`sns/oauth2/access_token`): a code issued by `authorise`
works once, for 5 minutes, else 40029 (invalid code)."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import defaultdict

from siyu.engagement.messaging.fakes import FakeServer


def _err(code: int, message: str) -> tuple[int, dict, dict]:
    return 200, {}, {"errcode": code, "errmsg": message}


class FakeWeChat(FakeServer):
    def __init__(self, appid="wx-test-app", secret="wechat-secret", templates=None, token_lifetime=7200,
                 quota=100_000):  # fmt: skip
        super().__init__()
        self.appid, self.secret = appid, secret
        self.templates = templates or {"TPL-ORDER": ["thing1", "time2"]}  # template -> data keys it needs
        self.token_lifetime = token_lifetime
        self.quota = quota
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.stable_token: str | None = None
        self.followers: set[str] = set()
        self.blocked: set[tuple[str, str]] = set()  # (openid, template) the user refused
        self.authorised: dict[tuple[str, str], int] = defaultdict(int)  # subscribe authorisations left
        self.client_msg_ids: dict[tuple[str, str], float] = {}
        self.delivered: list[dict] = []
        self.calls = 0
        self._ids = itertools.count(1000)
        self.oauth_codes: dict[str, tuple[str, str | None, float]] = {}  # code -> (openid, unionid, expiry)
        self.code_lifetime = 300.0

    def authorise(self, openid: str, unionid: str | None = None) -> str:
        """What WeChat does when a user opens the authorisation page: a code for our redirect_uri."""
        code = secrets.token_hex(16)
        self.oauth_codes[code] = (openid, unionid, time.time() + self.code_lifetime)
        return code

    def _oauth(self, query):
        if query.get("appid") != self.appid:
            return _err(40013, "invalid appid")
        if query.get("secret") != self.secret:
            return _err(40125, "invalid appsecret")
        if query.get("grant_type") != "authorization_code":
            return _err(40002, "invalid grant_type")
        found = self.oauth_codes.pop(query.get("code", ""), None)  # a code works once
        if found is None or found[2] < time.time():
            return _err(40029, "invalid code")
        openid, unionid, _ = found
        answer = {"access_token": secrets.token_hex(16), "expires_in": 7200, "refresh_token": secrets.token_hex(16),
                  "openid": openid, "scope": "snsapi_base", "is_snapshotuser": 0}  # fmt: skip
        if unionid:
            answer["unionid"] = unionid
        return 200, {}, answer

    def expire_tokens(self) -> None:
        self.tokens = {t: 0.0 for t in self.tokens}

    def _issue(self) -> dict:
        token = secrets.token_hex(16)
        self.tokens[token] = time.time() + self.token_lifetime
        self.tokens_issued += 1
        return {"access_token": token, "expires_in": self.token_lifetime}

    def answer(self, request):
        path, query = request["path"], request["query"]
        body = json.loads(request["body"] or b"{}") if request["method"] == "POST" else {}
        if path == "/cgi-bin/token":
            if query.get("grant_type") != "client_credential":
                return _err(40002, "invalid grant_type")
            if query.get("appid") != self.appid:
                return _err(40013, "invalid appid")
            if query.get("secret") != self.secret:
                return _err(40125, "invalid appsecret")
            return 200, {}, self._issue()
        if path == "/cgi-bin/stable_token":
            if body.get("grant_type") != "client_credential":
                return _err(40002, "invalid grant_type")
            if body.get("appid") != self.appid:
                return _err(40013, "invalid appid")
            if body.get("secret") != self.secret:
                return _err(40125, "invalid appsecret")
            current = self.stable_token
            if body.get("force_refresh") or current is None or self.tokens.get(current, 0) < time.time():
                answer = self._issue()
                self.stable_token = answer["access_token"]
                return 200, {}, answer
            return 200, {}, {"access_token": current, "expires_in": int(self.tokens[current] - time.time())}
        if path == "/sns/oauth2/access_token":
            return self._oauth(query)
        token = query.get("access_token", "")
        if token not in self.tokens:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if self.tokens[token] < time.time():
            return _err(42001, "access_token expired")
        self.calls += 1
        if self.calls > self.quota:
            return _err(45009, "reach max api daily quota limit")
        if path == "/cgi-bin/message/template/send":
            return self._template(body)
        if path == "/cgi-bin/message/subscribe/send":
            return self._subscribe(body)
        return 404, {}, b"not found"

    def _check_data(self, body) -> tuple | None:
        needed = self.templates.get(body.get("template_id", ""))
        if needed is None:
            return _err(40037, "invalid template_id")
        data = body.get("data") or {}
        if any(not isinstance(data.get(k), dict) or "value" not in data[k] for k in needed):
            return _err(47003, "argument invalid! data.value empty")
        return None

    def _template(self, body):
        openid, template = body.get("touser", ""), body.get("template_id", "")
        if not openid:
            return _err(40003, "invalid openid")
        bad = self._check_data(body)
        if bad:
            return bad
        if openid not in self.followers:
            return _err(43004, "require subscribe")
        if (openid, template) in self.blocked:
            return _err(43101, "user refuse to accept the msg")
        key = (openid, body.get("client_msg_id") or "")
        if key[1] and self.client_msg_ids.get(key, 0) > time.time() - 600:
            return 200, {}, {"errcode": 0, "errmsg": "ok", "msgid": 0}  # a repeat: not sent again
        self.client_msg_ids[key] = time.time()
        self.delivered.append({"kind": "template", **body})
        return 200, {}, {"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)}

    def _subscribe(self, body):
        openid, template = body.get("touser", ""), body.get("template_id", "")
        if not openid:
            return _err(40003, "invalid openid")
        bad = self._check_data(body)
        if bad:
            return bad
        if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            return _err(47003, "invalid miniprogram_state")
        if self.authorised[(openid, template)] <= 0:
            return _err(43101, "user refuse to accept the msg")
        self.authorised[(openid, template)] -= 1  # one message per authorisation (一次性订阅)
        self.delivered.append({"kind": "subscribe", **body})
        return 200, {}, {"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)}
