"""Fake Aliyun and Tencent Cloud SMS endpoints. Each recomputes the request signature from what it received
and refuses a mismatch with the provider's own error; both apply per-number flow control."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from siyu.engagement.messaging.channels import aliyun, tencent
from siyu.engagement.messaging.fakes import FakeServer

MOBILE = re.compile(r"^1[3-9]\d{9}$")


class FakeAliyunSms(FakeServer):
    def __init__(self, access_key_id="LTAI-test", access_key_secret="aliyun-secret", sign_name="私域测试",
                 templates=None, per_number_per_minute=1):  # fmt: skip
        super().__init__()
        self.keys = {access_key_id: access_key_secret}
        self.sign_names = {sign_name}
        self.templates = templates or {"SMS_100001": ["name"]}  # template -> required variables
        self.per_number_per_minute = per_number_per_minute
        self.nonces: set[str] = set()
        self.by_number: dict[str, list[float]] = defaultdict(list)
        self.delivered: list[dict] = []
        self._ids = itertools.count(1)

    @staticmethod
    def _error(status: int, code: str, message: str = ""):
        return status, {}, {"Code": code, "Message": message or code, "RequestId": "fake"}

    def answer(self, request):
        if request["method"] == "POST":
            params = dict(parse_qsl(request["body"].decode(), keep_blank_values=True))
        else:
            params = dict(request["query"])
        secret = self.keys.get(params.get("AccessKeyId", ""))
        if secret is None:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        expected = aliyun.sign(request["method"], params, secret)
        if not hmac.compare_digest(expected, params.get("Signature", "")):
            return self._error(
                400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format")
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return self._error(400, "InvalidTimeStamp.Expired")
        if params.get("SignatureNonce") in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(params.get("SignatureNonce"))
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._error(400, "InvalidAction.NotFound")
        phone = params.get("PhoneNumbers", "")
        if not MOBILE.match(phone):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL")
        if params.get("SignName") not in self.sign_names:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL")
        required = self.templates.get(params.get("TemplateCode", ""))
        if required is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL")
        try:
            variables = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self._error(200, "isv.INVALID_JSON_PARAM")
        if any(name not in variables for name in required):
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS")
        now = time.time()
        recent = [t for t in self.by_number[phone] if t > now - 60]
        if len(recent) >= self.per_number_per_minute:
            return self._error(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        self.by_number[phone] = recent + [now]
        self.delivered.append({"phone": phone, "template": params["TemplateCode"], "variables": variables,
                               "out_id": params.get("OutId")})  # fmt: skip
        return 200, {}, {"Code": "OK", "Message": "OK", "BizId": f"{next(self._ids)}^0", "RequestId": "fake"}


class FakeTencentSms(FakeServer):
    def __init__(self, secret_id="AKID-test", secret_key="tencent-secret", sdk_app_id="1400000001",
                 templates=None, per_number_per_30s=1):  # fmt: skip
        super().__init__()
        self.keys = {secret_id: secret_key}
        self.sdk_app_id = sdk_app_id
        self.templates = templates or {"100001": 1}  # template id -> number of parameters
        self.per_number_per_30s = per_number_per_30s
        self.by_number: dict[str, list[float]] = defaultdict(list)
        self.delivered: list[dict] = []
        self.requests_signed_ok = 0
        self._ids = itertools.count(1)

    @staticmethod
    def _error(code: str, message: str = ""):
        return (
            200,
            {},
            {"Response": {"Error": {"Code": code, "Message": message or code}, "RequestId": "fake"}},
        )

    def answer(self, request):
        headers, body = request["headers"], request["body"]
        match = re.match(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/(\w+)/tc3_request, "
            r"SignedHeaders=content-type;host, Signature=([0-9a-f]{64})$",
            headers.get("authorization", ""),
        )
        if not match:
            return self._error("AuthFailure.InvalidAuthorization")
        secret_id, date, service, given = match.groups()
        secret = self.keys.get(secret_id)
        if secret is None:
            return self._error("AuthFailure.SecretIdNotFound")
        try:
            stamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            return self._error("InvalidParameter", "X-TC-Timestamp")
        if abs(time.time() - stamp) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired, timestamp is out of range.")
        if headers.get("content-type") != tencent.CONTENT_TYPE:
            return self._error("AuthFailure.SignatureFailure", "content-type differs from the signed one")
        to_sign, scope = tencent.string_to_sign(headers.get("host", ""), body, stamp, service)
        if scope.split("/")[0] != date or not hmac.compare_digest(
            tencent.signature(secret, date, service, to_sign), given
        ):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        self.requests_signed_ok += 1
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction")
        payload = json.loads(body or b"{}")
        if payload.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail")
        params_needed = self.templates.get(str(payload.get("TemplateId")))
        if params_needed is None:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved")
        if len(payload.get("TemplateParamSet") or []) != params_needed:
            return self._error("InvalidParameterValue.TemplateParameterFormatError")
        numbers = payload.get("PhoneNumberSet") or []
        if not numbers or len(numbers) > 200:
            return self._error("LimitExceeded.PhoneNumberCountLimit")
        statuses, now = [], time.time()
        for number in numbers:
            local = number[3:] if number.startswith("+86") else number
            recent = [t for t in self.by_number[number] if t > now - 30]
            if not MOBILE.match(local):
                code = "InvalidParameterValue.IncorrectPhoneNumber"
            elif len(recent) >= self.per_number_per_30s:
                code = "LimitExceeded.PhoneNumberThirtySecondLimit"
            else:
                code = "Ok"
                self.by_number[number] = recent + [now]
                self.delivered.append({"phone": number, "template": payload["TemplateId"],
                                       "params": payload["TemplateParamSet"]})  # fmt: skip
            statuses.append({"SerialNo": f"2019:{next(self._ids)}", "PhoneNumber": number, "Fee": 1,
                             "SessionContext": payload.get("SessionContext", ""), "Code": code,
                             "Message": "send success" if code == "Ok" else code, "IsoCode": "CN"})  # fmt: skip
        return 200, {}, {"Response": {"SendStatusSet": statuses, "RequestId": "fake"}}
