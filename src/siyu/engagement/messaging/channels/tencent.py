"""Tencent Cloud SMS (短信 API 3.0, SendSms, version 2021-01-11), as documented in 签名方法 v3
(TC3-HMAC-SHA256) and SendSms:

- POST JSON to sms.tencentcloudapi.com with headers X-TC-Action, X-TC-Version, X-TC-Timestamp,
  X-TC-Region and Authorization.
- CanonicalRequest = "POST\\n/\\n\\n" + "content-type:application/json; charset=utf-8\\nhost:<host>\\n" +
  "\\ncontent-type;host\\n" + hex(SHA256(payload)); StringToSign = "TC3-HMAC-SHA256\\n" + timestamp + "\\n" +
  "<UTC date>/sms/tc3_request\\n" + hex(SHA256(CanonicalRequest)); the key is derived as
  HMAC("TC3" + SecretKey, date) → HMAC(·, "sms") → HMAC(·, "tc3_request"); Signature = hex(HMAC(key, s)).
  The server refuses a timestamp more than 5 minutes off (AuthFailure.SignatureExpire).
- SendSms takes up to 200 numbers with one template and one parameter set; every number gets its own
  SendStatus (Code "Ok", or e.g. LimitExceeded.PhoneNumberThirtySecondLimit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections import defaultdict

from siyu.engagement.messaging.channels.base import (
    ChannelAdapter,
    Outcome,
    Outgoing,
    ProviderError,
    failed,
    sent,
)
from siyu.engagement.messaging.channels.http import HttpClient

DEFAULT_BASE_URL = "https://sms.tencentcloudapi.com"
CONTENT_TYPE = "application/json; charset=utf-8"
SERVICE = "sms"
BATCH = 200
RETRYABLE_PREFIXES = ("InternalError", "RequestLimitExceeded", "ResourceUnavailable")
RETRYABLE_CODES = {
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "LimitExceeded.DeliveryFrequencyLimit",
    "FailedOperation.JsonParseFail",
    "AuthFailure.SignatureExpire",  # our clock or a slow retry: signed again on the next attempt
}


def signature(secret_key: str, date: str, service: str, to_sign: str) -> str:
    def step(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = step(step(step(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()


def string_to_sign(host: str, payload: bytes, timestamp: int, service: str = SERVICE) -> tuple[str, str]:
    """(string to sign, credential scope)."""
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n"
        + hashlib.sha256(payload).hexdigest()
    )
    scope = f"{date}/{service}/tc3_request"
    return f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}", scope


def authorization(secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    to_sign, scope = string_to_sign(host, payload, timestamp)
    sig = signature(secret_key, scope.split("/")[0], SERVICE, to_sign)
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}"


def _retryable(code: str) -> bool:
    return code in RETRYABLE_CODES or code.startswith(RETRYABLE_PREFIXES)


class TencentSmsAdapter(ChannelAdapter):
    provider = "tencent"
    address_kind = "phone"
    clock = staticmethod(time.time)

    def __init__(self, settings: dict, secrets: dict):
        super().__init__(settings, secrets)
        self.http = HttpClient(settings.get("base_url") or DEFAULT_BASE_URL)
        self.host = settings.get("host") or "sms.tencentcloudapi.com"

    def call(self, payload: dict) -> dict:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.settings.get("region") or "ap-guangzhou",
            "Authorization": authorization(
                self.settings.get("secret_id", ""),
                self.secrets.get("secret_key", ""),
                self.host,
                body,
                timestamp,
            ),
        }
        response = self.http.request("POST", "/", body=body, headers=headers)
        if response.status >= 500:
            raise ProviderError(
                f"Tencent Cloud answered HTTP {response.status}", True, response.retry_after()
            )
        answer = response.json().get("Response", {})
        error = answer.get("Error")
        if error:
            code = error.get("Code", "")
            raise ProviderError(f"Tencent Cloud {code}: {error.get('Message', '')}", _retryable(code))
        return answer

    def deliver(self, messages: list[Outgoing]) -> dict[int, Outcome]:
        """One SendSms per template and parameter set, up to 200 numbers each."""
        out: dict[int, Outcome] = {}
        groups = defaultdict(list)
        for m in messages:
            if not m.template:
                out[m.send_id] = failed("a Tencent Cloud SMS needs a TemplateId (template)", False)
                continue
            params = tuple(str(v) for v in (m.variables.get("params") or list(m.variables.values())))
            groups[(m.template, params)].append(m)
        for (template, params), members in groups.items():
            # Statuses come back per number: one number appears at most once per request.
            batches: list[tuple[set, list]] = []
            for m in members:
                batch = next(
                    (b for b in batches if len(b[1]) < BATCH and m.address["phone"] not in b[0]), None
                )
                if batch is None:
                    batch = (set(), [])
                    batches.append(batch)
                batch[0].add(m.address["phone"])
                batch[1].append(m)
            for _, group in batches:
                out.update(self._send_group(template, params, group))
        return out

    def _send_group(self, template: str, params: tuple, group: list[Outgoing]) -> dict[int, Outcome]:
        phones = [
            m.address["phone"] if m.address["phone"].startswith("+") else "+86" + m.address["phone"]
            for m in group
        ]
        try:
            answer = self.call(
                {
                    "PhoneNumberSet": phones,
                    "SmsSdkAppId": self.settings.get("sdk_app_id", ""),
                    "SignName": self.settings.get("sign_name", ""),
                    "TemplateId": template,
                    "TemplateParamSet": list(params),
                    "SessionContext": ",".join(str(m.send_id) for m in group)[:512],
                }
            )
        except ProviderError as exc:
            return {m.send_id: exc.outcome() for m in group}
        by_phone = {s.get("PhoneNumber"): s for s in answer.get("SendStatusSet", [])}
        out = {}
        for m, phone in zip(group, phones, strict=True):
            status = by_phone.get(phone)
            if status is None:
                out[m.send_id] = failed("no SendStatus for this number", True)
            elif status.get("Code") == "Ok":
                out[m.send_id] = sent(status.get("SerialNo", ""))
            else:
                code = status.get("Code", "")
                out[m.send_id] = failed(
                    f"Tencent Cloud {code}: {status.get('Message', '')}", _retryable(code)
                )
        return out

    def close(self) -> None:
        self.http.close()
