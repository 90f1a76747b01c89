"""Every state change of member sign-in: SMS one-time codes (sent, checked), WeChat official-account web
authorisation (snsapi_base), signed links, and the record landed for a person the identity graph does not
know yet.

SMS codes: 6 digits, stored as an HMAC of phone and code with the server's key; valid CODE_LIFETIME, for
MAX_ATTEMPTS tries, once. Sending is limited per phone (one a minute, PHONE_DAILY a day) and per IP
(IP_HOURLY an hour), counted on the stored codes so that every server process sees the same counts.
Checking is limited too: PHONE_WRONG_DAILY wrong codes for one number in a day (across its codes) lock the
number for the day (no code sent, none checked), IP_WRONG_HOURLY wrong codes from one address in an hour
lock checking from it. Every refusal and every wrong code is in the audit log ("member_code_refused",
"member_code_wrong"; the address, never the phone or the code), which is also what the address lock counts.

Who the person is: a phone or an openid/unionid the warehouse holds gives its customer (the identity
graph's; several customers for one number — a number the guard keeps from linking — is treated as not
known). A person not known lands one record of their own through the same path as the API's pushes
(siyu.ingest.actions.ingest_api_records, source `member_centre`), and the pipeline resolves it with what
lands around it (siyu.core.signals.records_landed); meanwhile the session holds the record."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.models import AuditLog
from siyu.core.signals import records_landed
from siyu.engagement.errors import ChannelNotConfigured
from siyu.engagement.messaging import queries as messaging_queries
from siyu.engagement.messaging.actions import send_service_sms
from siyu.engagement.messaging.channel_actions import customers_with_phone
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wechat import WeChatClient, WeChatError, web_authorize_url
from siyu.identity.queries import customers_with_identifier
from siyu.ingest.actions import ingest_api_records
from siyu.ingest.normalise.phone import normalise_phone
from siyu.members.errors import SignInRefused
from siyu.members.models import MemberSignIn, SmsCode

log = logging.getLogger(__name__)

CODE_LIFETIME = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
PHONE_GAP = dt.timedelta(minutes=1)
PHONE_DAILY = 10
IP_HOURLY = 30
PHONE_WRONG_DAILY = 10
IP_WRONG_HOURLY = 20
SOURCE = "member_centre"  # the import source of the records landed for new members
STATE_SALT = "siyu.members.wechat_state"
STATE_MAX_AGE = 600  # seconds between leaving for WeChat's page and coming back


@dataclass(frozen=True)
class Person:
    """Who signed in: the customer when known, else the record landed for them."""

    customer_id: int | None
    record_key: str = ""


# --- who is this -------------------------------------------------------------------------------------


def _one(customer_ids: list[int]) -> int | None:
    return customer_ids[0] if len(customer_ids) == 1 else None


def land_member_record(kind: str, values: dict, now: dt.datetime | None = None) -> str:
    """Land one record for a person the warehouse does not know (kind: phone | wechat), as the API lands a
    pushed event (`member_signed_up`), keyed by a keyed hash of what identifies them so a second sign-in
    lands nothing new. Returns the record key; the pipeline resolves it (records_landed)."""
    now = now or timezone.now()
    ident = values.get("phone") or values.get("unionid") or values.get("openid") or ""
    record_id = f"{kind}-{pii.keyed_hash(ident)[:24]}"
    row = {"record_id": record_id, "event_id": record_id, "event_type": "member_signed_up",
           "occurred_at": now.astimezone(dt.UTC), "properties": {"method": kind}}  # fmt: skip
    if values.get("phone"):
        row["phone"] = values["phone"]
    for id_type in ("openid", "unionid"):
        if values.get(id_type):
            row[f"id:{id_type}"] = values[id_type]
    result = ingest_api_records(SOURCE, "event", [row])
    if result.get("records_new"):
        records_landed.send(sender="members", records_new=result["records_new"])
    return f"{SOURCE}|{record_id}"


def person_with_phone(phone: str) -> Person:
    customer_ids, _ = customers_with_phone(phone)
    customer_id = _one(customer_ids)
    if customer_id is not None:
        return Person(customer_id)
    return Person(None, land_member_record("phone", {"phone": phone}))


def person_with_wechat(openid: str, unionid: str | None, follower_source: str = "") -> Person:
    """By unionid first (one person across the brand's apps), then the openid (an identifier, or the record
    of the account's follower export, whose record ids are openids)."""
    found: list[int] = []
    if unionid:
        found = customers_with_identifier("unionid", unionid)
    if not found:
        found = customers_with_identifier("openid", openid, record_keys=[f"{follower_source}|{openid}"]
                                          if follower_source else ())  # fmt: skip
    customer_id = _one(found)
    if customer_id is not None:
        return Person(customer_id)
    return Person(None, land_member_record("wechat", {"openid": openid, "unionid": unionid}))


def record_sign_in(person: Person, method: str, ip: str | None) -> MemberSignIn:
    return MemberSignIn.objects.create(customer_id=person.customer_id, record_key=person.record_key,
                                       method=method, ip=ip or None, signed_in_at=timezone.now())  # fmt: skip


# --- SMS one-time codes ------------------------------------------------------------------------------


def mobile(phone: str) -> str:
    """The normalised mobile number (+86…), or SignInRefused('bad_phone')."""
    normal = normalise_phone((phone or "").strip()[:32])
    if normal is None or normal.kind != "mobile":
        raise SignInRefused("bad_phone")
    return normal.value


def _code_hash(phone: str, code: str) -> str:
    return salted_hmac("siyu.members.sms_code", f"{phone}:{code}", algorithm="sha256").hexdigest()


def _code_template(account) -> str:
    return (account.settings.get("code_template") or "").strip() if account else ""


def _refusal(reason: str, ip: str | None, phone_hash: str, wrong: bool = False, **values) -> SignInRefused:
    """The refusal, audited: the address and a prefix of the phone's keyed hash (enough to see one number
    tried from many addresses), never the number or the code."""
    record_audit(None, "member_code_wrong" if wrong else "member_code_refused", target=ip or "",
                 reason=reason, phone=phone_hash[:12])  # fmt: skip
    return SignInRefused(reason, **values)


def _wrong_codes_for_phone(phone_hash: str, now: dt.datetime) -> int:
    """Wrong codes typed for one number in the last day, across its codes (a spent code's last try was right)."""
    tries = SmsCode.objects.filter(phone_hash=phone_hash, created_at__gt=now - dt.timedelta(days=1))
    return sum(attempts - (1 if used_at else 0) for attempts, used_at in tries.values_list("attempts", "used_at"))


def _wrong_codes_from(ip: str | None, now: dt.datetime) -> int:
    if not ip:
        return 0
    recent = AuditLog.objects.filter(action="member_code_wrong", target=ip, at__gt=now - dt.timedelta(hours=1))
    return recent.count()


def send_sign_in_code(phone: str, ip: str | None, now: dt.datetime | None = None) -> SmsCode:
    """Send a new 6-digit code to `phone` (limits in the module docstring). Raises SignInRefused."""
    now = now or timezone.now()
    phone = mobile(phone)
    phone_hash = pii.keyed_hash(phone)
    account = messaging_queries.account_of("sms")
    template = _code_template(account)
    if account is None or not account.enabled or not template:
        raise SignInRefused("not_configured")
    with transaction.atomic():
        recent = SmsCode.objects.select_for_update().filter(phone_hash=phone_hash, created_at__gt=now - dt.timedelta(days=1))
        times = [c.created_at for c in recent]
        if any(t > now - PHONE_GAP for t in times):
            refused = "too_soon"
        elif len(times) >= PHONE_DAILY:
            refused = "phone_daily_limit"
        elif _wrong_codes_for_phone(phone_hash, now) >= PHONE_WRONG_DAILY:
            refused = "phone_locked"
        elif ip and SmsCode.objects.filter(ip=ip, created_at__gt=now - dt.timedelta(hours=1)).count() >= IP_HOURLY:
            refused = "ip_limit"
        else:
            refused = ""
            code = f"{secrets.randbelow(10**6):06d}"
            row = SmsCode.objects.create(phone_hash=phone_hash, code_hash=_code_hash(phone, code), ip=ip or None,
                                         created_at=now, expires_at=now + CODE_LIFETIME)  # fmt: skip
    if refused:  # audited outside the transaction the refusal ends
        raise _refusal(refused, ip, phone_hash)
    known, _ = customers_with_phone(phone)
    try:
        send, outcome = send_service_sms(
            f"member-code:{row.pk}", phone, template, {"code": code}, customer_id=_one(known),
            source_id="member_sign_in", recorded_variables={"code": "******"}, now=now,
        )  # fmt: skip
    except (ChannelNotConfigured, ProviderError) as exc:
        raise SignInRefused("not_configured", str(exc)) from exc
    SmsCode.objects.filter(pk=row.pk).update(sent=outcome.ok, send_id=send.pk)
    if not outcome.ok:
        log.warning("sign-in code %s not sent: %s", row.pk, outcome.error)
        raise SignInRefused("not_sent", outcome.error)
    row.sent, row.send_id = True, send.pk
    return row


def check_sign_in_code(phone: str, code: str, now: dt.datetime | None = None, ip: str | None = None) -> str:
    """Use the latest code sent to `phone`: returns the normalised phone when `code` is right (the code is
    spent), else SignInRefused (no_code, too_many_attempts, wrong_code with the tries left, phone_locked,
    ip_locked)."""
    now = now or timezone.now()
    phone = mobile(phone)
    phone_hash = pii.keyed_hash(phone)
    if _wrong_codes_from(ip, now) >= IP_WRONG_HOURLY:
        raise _refusal("ip_locked", ip, phone_hash)
    if _wrong_codes_for_phone(phone_hash, now) >= PHONE_WRONG_DAILY:
        raise _refusal("phone_locked", ip, phone_hash)
    latest = (
        SmsCode.objects.filter(phone_hash=phone_hash, sent=True, used_at=None, expires_at__gt=now)
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest is None:
        raise SignInRefused("no_code")
    # count the try first, atomically: parallel guesses cannot exceed MAX_ATTEMPTS
    counted = SmsCode.objects.filter(pk=latest.pk, attempts__lt=MAX_ATTEMPTS, used_at=None).update(
        attempts=F("attempts") + 1
    )
    if not counted:
        raise _refusal("too_many_attempts", ip, phone_hash)
    given = "".join(ch for ch in str(code or "") if ch.isdigit())[:6]
    if not hmac.compare_digest(_code_hash(phone, given), latest.code_hash):
        left = MAX_ATTEMPTS - (latest.attempts + 1)
        if left <= 0:
            raise _refusal("too_many_attempts", ip, phone_hash, wrong=True)
        raise _refusal("wrong_code", ip, phone_hash, wrong=True, left=left)
    if not SmsCode.objects.filter(pk=latest.pk, used_at=None).update(used_at=now):
        raise SignInRefused("no_code")  # spent by a parallel request
    return phone


def sign_in_with_code(phone: str, code: str, ip: str | None) -> Person:
    phone = check_sign_in_code(phone, code, ip=ip)
    person = person_with_phone(phone)
    record_sign_in(person, MemberSignIn.Method.SMS, ip)
    return person


# --- WeChat official-account web authorisation (snsapi_base) -----------------------------------------


def _oa_account():
    account = messaging_queries.account_of("official_account")
    if account is None or not account.enabled or not account.settings.get("appid"):
        raise SignInRefused("wechat_unavailable")
    secret = messaging_queries.account_secrets(account).get("app_secret")
    if not secret:
        raise SignInRefused("wechat_unavailable")
    return account, secret


def wechat_available() -> bool:
    try:
        _oa_account()
    except SignInRefused:
        return False
    return True


def wechat_sign_in_url(redirect_uri: str, next_path: str) -> str:
    """WeChat's authorisation page for the official account, coming back to `redirect_uri` with a signed
    state (where to go next, and a nonce) that the callback checks."""
    account, _ = _oa_account()
    state = signing.dumps({"n": next_path, "r": secrets.token_hex(4)}, salt=STATE_SALT, compress=True)
    return web_authorize_url(account.settings["appid"], redirect_uri, state, scope="snsapi_base")


def read_wechat_state(state: str) -> str:
    """The next path a state carries; SignInRefused('bad_state') when it was tampered with or is old."""
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature as exc:
        raise SignInRefused("bad_state") from exc
    if not isinstance(data, dict):
        raise SignInRefused("bad_state")
    return str(data.get("n") or "/m/")


def sign_in_with_wechat(code: str, ip: str | None) -> Person:
    """Exchange the code WeChat gave the browser for the openid (+ unionid), and find the person."""
    account, secret = _oa_account()
    client = WeChatClient(account.settings["appid"], secret, account.settings.get("base_url") or "")
    try:
        answer = client.oauth_access_token(code)
    except WeChatError as exc:
        raise SignInRefused("bad_code", str(exc)) from exc
    except ProviderError as exc:
        raise SignInRefused("wechat_unavailable", str(exc)) from exc
    finally:
        client.http.close()
    person = person_with_wechat(answer["openid"], answer.get("unionid"), account.settings.get("source") or "")
    record_sign_in(person, MemberSignIn.Method.WECHAT, ip)
    return person


def sign_in_with_link(customer_id: int, ip: str | None) -> Person:
    person = Person(int(customer_id))
    record_sign_in(person, MemberSignIn.Method.LINK, ip)
    return person



def erase_person(person, request) -> dict:
    """The member centre's part of erasing a person (siyu.privacy.erasure): their SMS codes (by the phone's
    keyed hash) go and their sign-ins lose the address they came from; the sign-ins themselves stay as the
    record of when the member centre was used (method and time: no PII)."""
    codes = SmsCode.objects.filter(phone_hash__in=sorted(person.value_hashes)).delete()[0]
    sign_ins = _sign_ins_of(person).exclude(ip=None).update(ip=None)
    return {"sms_codes": codes, "sign_in_addresses": sign_ins}


def _sign_ins_of(person):
    from django.db.models import Q

    return MemberSignIn.objects.filter(Q(customer_id=person.customer_id) | Q(record_key__in=person.record_keys))


def erasure_leftovers(person) -> int:
    """What erase_person removes that is still there (the erasure scan)."""
    return (SmsCode.objects.filter(phone_hash__in=sorted(person.value_hashes)).count()
            + _sign_ins_of(person).exclude(ip=None).count())  # fmt: skip
