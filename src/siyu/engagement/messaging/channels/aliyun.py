"""Aliyun SMS (短信服务 Dysmsapi, API version 2017-05-25), RPC style, as documented in 签名机制 (RPC V1)
and SendSms:

- Common parameters: AccessKeyId, Action, Format=JSON, RegionId, SignatureMethod=HMAC-SHA1,
  SignatureNonce (unique per request: the server refuses a repeat, SignatureNonceUsed),
  SignatureVersion=1.0, Timestamp (UTC, ISO 8601, within 15 minutes of the server's), Version.
- Signature: sort the parameters by name, percent-encode names and values (RFC 3986: space %20, `*` %2A,
  `~` kept), join as `k=v&…`; StringToSign = METHOD + "&" + encode("/") + "&" + encode(that string);
  Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
- SendSms: PhoneNumbers, SignName, TemplateCode, TemplateParam (JSON of the template's variables), OutId
  (ours: the send id, echoed in delivery receipts). Answer `{"Code": "OK", "BizId": …}` or an error Code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from urllib.parse import quote, urlencode

from siyu.engagement.messaging.channels.base import (
    ChannelAdapter,
    Outcome,
    Outgoing,
    ProviderError,
    failed,
    sent,
)
from siyu.engagement.messaging.channels.http import HttpClient

DEFAULT_BASE_URL = "https://dysmsapi.aliyuncs.com"
# flow control and the provider's own failures: try again later
RETRYABLE_CODES = {
    "isv.BUSINESS_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR",
    "isp.RAM_PERMISSION_DENY",
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
    "SignatureNonceUsed",
}


def percent_encode(value: str) -> str:
    return quote(str(value), safe="-_.~")


def string_to_sign(method: str, params: dict) -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(method: str, params: dict, access_key_secret: str) -> str:
    digest = hmac.new(
        (access_key_secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1
    )
    return base64.b64encode(digest.digest()).decode()


class AliyunSmsAdapter(ChannelAdapter):
    provider = "aliyun"
    address_kind = "phone"

    def __init__(self, settings: dict, secrets: dict):
        super().__init__(settings, secrets)
        self.http = HttpClient(settings.get("base_url") or DEFAULT_BASE_URL)

    def signed_params(
        self, action_params: dict, now: dt.datetime | None = None, nonce: str | None = None
    ) -> dict:
        params = {
            "AccessKeyId": self.settings.get("access_key_id", ""),
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.settings.get("region") or "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            **action_params,
        }
        params["Signature"] = sign("POST", params, self.secrets.get("access_key_secret", ""))
        return params

    def deliver_one(self, message: Outgoing) -> Outcome:
        phone = message.address.get("phone", "")
        if not message.template:
            return failed("an Aliyun SMS needs a TemplateCode (template)", False)
        params = self.signed_params(
            {
                "PhoneNumbers": phone[3:] if phone.startswith("+86") else phone.lstrip("+"),
                "SignName": self.settings.get("sign_name", ""),
                "TemplateCode": message.template,
                "TemplateParam": json.dumps(message.variables, ensure_ascii=False, separators=(",", ":")),
                "OutId": str(message.send_id),
            }
        )
        response = self.http.request(
            "POST",
            "/",
            body=urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        body = response.json()
        code = body.get("Code", "")
        if response.status == 200 and code == "OK":
            return sent(body.get("BizId", ""))
        retryable = code in RETRYABLE_CODES or response.status >= 500 or response.status == 429
        return failed(
            f"Aliyun {code or response.status}: {body.get('Message', '')}", retryable, response.retry_after()
        )

    def close(self) -> None:
        self.http.close()


__all__ = ["AliyunSmsAdapter", "ProviderError", "percent_encode", "sign", "string_to_sign"]
