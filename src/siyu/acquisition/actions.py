"""Every change to live codes: making, changing and archiving a code (each a WeCom contact way: nothing
changes in Siyu when WeCom refuses, and the printed QR code never changes), reading what WeCom's QR picture
of a code holds (what posters print), store codes and a guide's own
code, pushing staff routing to WeCom, and what an add through a code sets off."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from siyu.acquisition import queries
from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.models import LiveCode, LiveCodeAdd, LiveCodeStaff
from siyu.acquisition.qr_reading import QrPictureError, read_qr_picture
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.signals import records_landed
from siyu.core.tasks import schedule_once
from siyu.engagement.content.queries import attachable_material
from siyu.engagement.errors import EngagementError
from siyu.engagement.messaging import channel_actions
from siyu.engagement.messaging.actions import append_events, deliver_due_sends, enqueue_send
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom_contact_ways import MAX_USERS, download_qr_picture
from siyu.engagement.messaging.models import Channel, Send, WeComCorpTag
from siyu.engagement.messaging.policy import SendRequest
from siyu.staff.models import Role, StaffProfile, Store
from siyu.staff.queries import has_role

log = logging.getLogger(__name__)

ROUTING_EVERY = dt.timedelta(minutes=15)
EDITABLE = {"name", "channel", "campaign", "store", "staff", "skip_verify", "verify_skip_from",
            "verify_skip_until", "welcome_text", "welcome_material", "auto_tags", "daily_limit", "cost"}  # fmt: skip


# --- checks --------------------------------------------------------------------------------------------


# Who may make, change and read live codes (the API's routes declare it: siyu.staff.roles).
EDITOR_ROLES = (Role.ADMIN, Role.OPERATOR)


def _require_editor(actor) -> None:
    if actor is not None and not has_role(actor, EDITOR_ROLES):
        raise PermissionDenied("only an admin or operator account can make or change live codes")


def _time(value, what: str) -> dt.time | None:
    if value in (None, ""):
        return None
    try:
        value = value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    except ValueError:
        raise AcquisitionError(f"{what}: {value!r} is not a time of day (HH:MM)") from None
    if value.tzinfo is not None:  # the window is in the brand's local time (TIME_ZONE), never another zone's
        raise AcquisitionError(f"{what}: give a local time of day without a time zone")
    return value.replace(microsecond=0)


def _hours(hours, where: str) -> list[list[str]]:
    if not isinstance(hours, list):
        raise AcquisitionError(f"{where}: hours are a list of [start, end] pairs")
    out = []
    for pair in hours:
        try:
            start, end = pair
            if queries.minutes_of_day(start) >= queries.minutes_of_day(end):
                raise ValueError
        except (TypeError, ValueError):
            raise AcquisitionError(f"{where}: {pair!r} is not a [start, end] pair of times, start first") from None
        out.append([str(start), str(end)])
    return out


def clean_schedule(schedule) -> dict:
    """{ISO weekday "1".."7": [["HH:MM", "HH:MM"], …]}; empty means any time."""
    if not schedule:
        return {}
    if not isinstance(schedule, dict):
        raise AcquisitionError("a schedule maps weekdays 1 (Monday) to 7 to hours")
    out = {}
    for day, hours in schedule.items():
        if str(day) not in {str(d) for d in range(1, 8)}:
            raise AcquisitionError(f"schedule: {day!r} is not a weekday 1 (Monday) to 7")
        out[str(day)] = _hours(hours, f"schedule day {day}")
    return out


def clean_special_periods(periods) -> list[dict]:
    out = []
    for period in periods or []:
        try:
            start = dt.date.fromisoformat(str(period["start"]))
            end = dt.date.fromisoformat(str(period["end"]))
        except (KeyError, TypeError, ValueError):
            raise AcquisitionError("a special period has a start and an end date (YYYY-MM-DD)") from None
        if start > end:
            raise AcquisitionError(f"special period {start} – {end}: the start is after the end")
        if period.get("off"):
            out.append({"start": start.isoformat(), "end": end.isoformat(), "off": True})
        else:
            out.append({"start": start.isoformat(), "end": end.isoformat(),
                        "hours": _hours(period.get("hours") or [], f"special period {start}")})  # fmt: skip
    return out


def _limit(value, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AcquisitionError(f"{what} must be a whole number") from None
    if not 1 <= number <= 100_000:
        raise AcquisitionError(f"{what} must be between 1 and 100,000")
    return number


def _staff_profile(value) -> StaffProfile:
    if isinstance(value, StaffProfile):
        return value
    if hasattr(value, "staff"):  # a user
        return value.staff
    try:
        return StaffProfile.objects.select_related("user").get(pk=int(value))
    except (StaffProfile.DoesNotExist, TypeError, ValueError):
        raise AcquisitionError(f"no staff member {value}") from None


def clean_staff(staff, single: bool = False) -> list[dict]:
    """Each entry a StaffProfile (or its id, or a user) or {"staff", "backup", "daily_limit", "schedule",
    "special_periods"}; every staff member needs a WeCom userid."""
    out, seen = [], set()
    for entry in staff or []:
        spec = entry if isinstance(entry, dict) else {"staff": entry}
        profile = _staff_profile(spec.get("staff"))
        if not profile.wecom_userid:
            raise AcquisitionError(f"{profile} has no WeCom userid")
        if profile.pk in seen:
            raise AcquisitionError(f"{profile} is listed twice")
        seen.add(profile.pk)
        out.append({"staff": profile, "backup": bool(spec.get("backup", False)),
                    "daily_limit": _limit(spec.get("daily_limit"), f"{profile}'s daily limit"),
                    "schedule": clean_schedule(spec.get("schedule")),
                    "special_periods": clean_special_periods(spec.get("special_periods"))})  # fmt: skip
    if not out:
        raise AcquisitionError("a live code needs at least one staff member")
    if len(out) > MAX_USERS:
        raise AcquisitionError(f"a live code has at most {MAX_USERS} staff members (WeCom's limit)")
    if single and len(out) != 1:
        raise AcquisitionError("a guide's personal code has exactly one staff member")
    if all(s["backup"] for s in out):
        raise AcquisitionError("a live code needs a staff member who is not a backup")
    return out


def _corp_tags(labels) -> list[WeComCorpTag]:
    wanted = [str(label).strip() for label in labels or [] if str(label).strip()]
    known = {t.label: t for t in WeComCorpTag.objects.filter(deleted=False)}
    missing = [label for label in wanted if label not in known]
    if missing:
        raise AcquisitionError(f"not WeCom corporate tags (sync WeCom contacts first): {', '.join(missing)}")
    return [known[label] for label in wanted]


def _clean_fields(values: dict) -> dict:
    """The plain fields of a code from what was given (only those given)."""
    out = {}
    if "name" in values:
        out["name"] = str(values["name"] or "").strip()
        if not out["name"] or len(out["name"]) > 100:
            raise AcquisitionError("a live code needs a name of at most 100 characters")
    if "channel" in values:
        if values["channel"] not in LiveCode.Channel.values:
            raise AcquisitionError(f"unknown channel {values['channel']!r}")
        out["channel"] = values["channel"]
    if "campaign" in values:
        out["campaign"] = str(values["campaign"] or "").strip()[:100]
    if "store" in values:
        store = values["store"]
        if store not in (None, "") and not isinstance(store, Store):
            store = Store.objects.filter(pk=store).first() if str(store).isdigit() else None
            if store is None:
                raise AcquisitionError(f"no store {values['store']}")
        out["store"] = store or None
    if "skip_verify" in values:
        out["skip_verify"] = bool(values["skip_verify"])
    for name in ("verify_skip_from", "verify_skip_until"):
        if name in values:
            out[name] = _time(values[name], name.replace("_", " "))
    if "welcome_text" in values:
        out["welcome_text"] = str(values["welcome_text"] or "").strip()
        if len(out["welcome_text"]) > 4000:
            raise AcquisitionError("the welcome text is at most 4,000 characters")
    if "welcome_material" in values:
        material = values["welcome_material"]
        try:
            out["welcome_material_id"] = (
                None if material in (None, "") else attachable_material(getattr(material, "pk", material), "wecom",
                                                                        "the welcome material")
            )  # fmt: skip
        except EngagementError as exc:
            raise AcquisitionError(str(exc)) from exc
    if "daily_limit" in values:
        out["daily_limit"] = _limit(values["daily_limit"], "the daily add limit")
    if "cost" in values:
        try:
            cost = None if values["cost"] in (None, "") else Decimal(str(values["cost"])).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise AcquisitionError("the cost is an amount in yuan") from None
        if cost is not None and not Decimal(0) <= cost < Decimal(10) ** 16:
            raise AcquisitionError("the cost is an amount in yuan, not negative")
        out["cost"] = cost
    return out


def _check_window(code: LiveCode) -> None:
    if (code.verify_skip_from is None) != (code.verify_skip_until is None):
        raise AcquisitionError("the window without verification needs both a start and an end")
    if code.verify_skip_from is not None and code.verify_skip_from == code.verify_skip_until:
        raise AcquisitionError("the window without verification starts and ends at the same time")


# --- WeCom ---------------------------------------------------------------------------------------------


def _client():
    account, secrets_ = channel_actions.wecom_account()
    return channel_actions.contact_client(account, secrets_)


def _refused(exc: ProviderError) -> AcquisitionError:
    return AcquisitionError(f"WeCom refused: {exc}")


def _set_staff(code: LiveCode, members: list[dict]) -> None:
    code.staff.all().delete()
    LiveCodeStaff.objects.bulk_create([
        LiveCodeStaff(code=code, staff=m["staff"], backup=m["backup"], daily_limit=m["daily_limit"],
                      schedule=m["schedule"], special_periods=m["special_periods"], position=i)
        for i, m in enumerate(members)
    ])  # fmt: skip


def _offer(code: LiveCode, now: dt.datetime) -> list[str]:
    """Whom WeCom offers: the routing; when nobody can take adds now, whom it offered before (those still
    on the code), or else the primaries — WeCom needs somebody, and the next refresh corrects it."""
    users = queries.route_code(code, now)
    if not users:
        on_code = [r.staff.wecom_userid for r in code.staff.select_related("staff")]
        users = [u for u in code.routed_users if u in on_code] or [
            r.staff.wecom_userid for r in code.staff.select_related("staff") if not r.backup
        ]
    return users[:1] if code.kind == LiveCode.Kind.GUIDE else users


def _new_state() -> str:
    while True:
        state = f"lc-{secrets.token_hex(8)}"  # 19 characters of WeCom's 30
        if not LiveCode.objects.filter(state=state).exists():
            return state


def create_live_code(actor, *, name: str, staff: list, channel: str = LiveCode.Channel.OTHER, campaign: str = "",
                     store=None, kind: str = LiveCode.Kind.STAFF, skip_verify: bool = True,
                     verify_skip_from=None, verify_skip_until=None, welcome_text: str = "",
                     welcome_material=None, auto_tags=(), daily_limit=None, cost=None,
                     now: dt.datetime | None = None) -> LiveCode:  # fmt: skip
    """A new live code: a WeCom contact way (QR) for these staff, whom WeCom offers as routing says. WeCom's
    picture of its QR is read at once (read_code_qr); when that fails the code is made without a printable
    QR, and reading is tried again when the code's QR or a poster is asked for."""
    _require_editor(actor)
    if kind not in LiveCode.Kind.values:
        raise AcquisitionError(f"unknown kind of code {kind!r}")
    now = now or timezone.now()
    fields = _clean_fields({"name": name, "channel": channel, "campaign": campaign, "store": store,
                            "skip_verify": skip_verify, "verify_skip_from": verify_skip_from,
                            "verify_skip_until": verify_skip_until, "welcome_text": welcome_text,
                            "welcome_material": welcome_material, "daily_limit": daily_limit, "cost": cost})  # fmt: skip
    members = clean_staff(staff, single=kind == LiveCode.Kind.GUIDE)
    tags = _corp_tags(auto_tags)
    client = _client()
    try:
        with transaction.atomic():
            code = LiveCode(**fields, kind=kind, state=_new_state(),
                            created_by=actor if getattr(actor, "is_authenticated", False) else None)  # fmt: skip
            _check_window(code)
            code.save()
            _set_staff(code, members)
            code.auto_tags.set(tags)
            users, skip = _offer(code, now), queries.skip_verify_now(code, now)
            code.config_id, code.qr_url = client.add_contact_way(
                users, code.state, multi=kind != LiveCode.Kind.GUIDE, skip_verify=skip, remark=code.name[:30]
            )
            code.routed_users, code.routed_skip_verify, code.routed_at = users, skip, now
            code.save()
    except ProviderError as exc:
        raise _refused(exc) from exc
    finally:
        client.http.close()
    read_code_qr(code)
    record_audit(actor, "create_live_code", target=code.pk, staff=len(members), channel=code.channel)
    schedule_routing_refresh(now + ROUTING_EVERY)
    return code


def read_code_qr(code: LiveCode) -> bool:
    """Fetch WeCom's picture of the code's QR (`qr_url`) and keep what its QR holds (`qr_content`, WeCom's
    add link) — what the console's QR and posters print. True when the code has it; False when the picture
    cannot be fetched or read (logged; nothing is printed then, never a QR of the picture's URL). An
    archived code's way is deleted in WeCom: it is not read any more."""
    if code.qr_content:
        return True
    if code.archived or not code.qr_url:
        return False
    try:
        content = read_qr_picture(download_qr_picture(code.qr_url))
    except (ProviderError, QrPictureError) as exc:
        log.warning("live code %s: WeCom's QR picture could not be read: %s", code.pk, exc)
        return False
    code.qr_content = content
    code.save(update_fields=["qr_content", "updated_at"])
    return True


def update_live_code(actor, code_id, now: dt.datetime | None = None, **changes) -> LiveCode:
    """Change a code; who WeCom offers and whether adds skip verification are pushed to the same contact
    way (update_contact_way), so the printed QR code keeps working. Nothing changes when WeCom refuses."""
    _require_editor(actor)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise AcquisitionError(f"a live code has no {', '.join(sorted(unknown))} to change")
    now = now or timezone.now()
    code = queries.get_code(code_id)
    if code.archived:
        raise AcquisitionError("an archived live code cannot change")
    fields = _clean_fields(changes)
    members = clean_staff(changes["staff"], single=code.kind == LiveCode.Kind.GUIDE) if "staff" in changes else None
    tags = _corp_tags(changes["auto_tags"]) if "auto_tags" in changes else None
    client = _client()
    try:
        with transaction.atomic():
            for name, value in fields.items():
                setattr(code, name, value)
            _check_window(code)
            code.save()
            if members is not None:
                _set_staff(code, members)
            if tags is not None:
                code.auto_tags.set(tags)
            _push(client, code, now, remark="name" in fields)
    except ProviderError as exc:
        raise _refused(exc) from exc
    finally:
        client.http.close()
    record_audit(actor, "update_live_code", target=code.pk, changed=sorted(changes))
    return code


def _push(client, code: LiveCode, now: dt.datetime, remark: bool = False) -> bool:
    """Send WeCom the routing when it changed; True when it did."""
    users, skip = _offer(code, now), queries.skip_verify_now(code, now)
    if users == code.routed_users and skip == code.routed_skip_verify and not remark:
        return False
    client.update_contact_way(code.config_id, users=users, skip_verify=skip,
                              remark=code.name[:30] if remark else None)  # fmt: skip
    code.routed_users, code.routed_skip_verify, code.routed_at = users, skip, now
    code.save(update_fields=["routed_users", "routed_skip_verify", "routed_at", "updated_at"])
    return True


def archive_live_code(actor, code_id) -> LiveCode:
    """Delete the contact way in WeCom (the printed code stops adding) and keep the code and its adds."""
    _require_editor(actor)
    code = queries.get_code(code_id)
    if code.archived:
        return code
    client = _client()
    try:
        if code.config_id:
            client.del_contact_way(code.config_id)
    except ProviderError as exc:
        raise _refused(exc) from exc
    finally:
        client.http.close()
    code.archived = True
    code.routed_users = []
    code.save(update_fields=["archived", "routed_users", "updated_at"])
    record_audit(actor, "archive_live_code", target=code.pk)
    return code


# --- store codes and a guide's own code -----------------------------------------------------------------


def guides_of(store: Store) -> list[StaffProfile]:
    return list(StaffProfile.objects.filter(store=store).exclude(wecom_userid="").select_related("user").order_by("pk"))


def create_store_codes(actor, stores, **options) -> dict:
    """One code per store with the store's guides (staff of the store with a WeCom userid); a store that
    has its code already gets its guides brought up to date. {"created", "updated", "skipped": {store: why}}."""
    _require_editor(actor)
    report: dict = {"created": [], "updated": [], "skipped": {}}
    channel = options.pop("channel", LiveCode.Channel.STORE)
    for store in stores:
        store = store if isinstance(store, Store) else Store.objects.filter(pk=store).first()
        if store is None:
            continue
        guides = guides_of(store)
        if not guides:
            report["skipped"][store.code] = "no staff of the store has a WeCom userid"
            continue
        try:
            existing = queries.store_code_of(store.pk)
            if existing is not None:
                if sorted(r.staff_id for r in existing.staff.all()) != sorted(g.pk for g in guides):
                    keep = {r.staff_id: r for r in existing.staff.all()}
                    staff = [_kept(keep.get(g.pk), g) for g in guides]
                    update_live_code(actor, existing.pk, staff=staff)
                    report["updated"].append(existing.pk)
                continue
            code = create_live_code(actor, name=store.name, staff=guides, store=store, kind=LiveCode.Kind.STORE,
                                    channel=channel, **options)  # fmt: skip
            report["created"].append(code.pk)
        except AcquisitionError as exc:
            report["skipped"][store.code] = str(exc)
    return report


def _kept(row: LiveCodeStaff | None, guide: StaffProfile) -> dict:
    if row is None:
        return {"staff": guide}
    return {"staff": guide, "backup": row.backup, "daily_limit": row.daily_limit, "schedule": row.schedule,
            "special_periods": row.special_periods}  # fmt: skip


def guide_code(user, actor=None) -> LiveCode:
    """A guide's personal code (a single-person way), made the first time it is asked for."""
    profile = getattr(user, "staff", None)
    if profile is None or not profile.wecom_userid:
        raise AcquisitionError("this account has no WeCom userid")
    if actor is not None and actor != user:
        _require_editor(actor)
    existing = queries.guide_code_of(profile.pk)
    if existing is not None:
        return existing
    return create_live_code(None, name=str(profile)[:100], staff=[profile], kind=LiveCode.Kind.GUIDE,
                            store=profile.store, channel=LiveCode.Channel.STORE if profile.store else LiveCode.Channel.OTHER)  # fmt: skip


# --- routing -------------------------------------------------------------------------------------------


def refresh_code_routing(code: LiveCode, now: dt.datetime | None = None, client=None) -> bool:
    """Push this code's routing to WeCom if it changed; True when it did."""
    if code.archived or not code.config_id:
        return False
    own = client is None
    client = client or _client()
    try:
        return _push(client, code, now or timezone.now())
    finally:
        if own:
            client.http.close()


def refresh_routing(now: dt.datetime | None = None) -> dict:
    """Every active code's routing pushed where it changed (run every 15 minutes and after each add).
    A code WeCom refuses is reported and the others still go."""
    now = now or timezone.now()
    report: dict = {"codes": 0, "updated": 0, "failed": {}}
    codes = list(LiveCode.objects.filter(archived=False).exclude(config_id=""))
    if not codes:
        return report
    client = _client()
    try:
        for code in codes:
            report["codes"] += 1
            try:
                report["updated"] += refresh_code_routing(code, now, client)
            except ProviderError as exc:
                report["failed"][code.pk] = str(exc)
    finally:
        client.http.close()
    return report


def schedule_routing_refresh(at: dt.datetime | None = None) -> bool:
    """Make sure the routing refresh runs at `at` (now when None) while any code is active."""
    from siyu.acquisition.tasks import refresh_live_code_routing  # the task module imports this one

    if not LiveCode.objects.filter(archived=False).exists():
        return False
    return schedule_once(refresh_live_code_routing, at)


# --- an add through a code ---------------------------------------------------------------------------


def handle_live_code_add(event: dict, account) -> None:
    """The WeCom callback handler (registered in AcquisitionConfig.ready): an add whose state is a code's."""
    if event.get("event_type") != "wecom_contact_added":
        return
    code = queries.code_of_state((event.get("properties") or {}).get("state", ""))
    if code is not None:
        record_code_add(code, event, account)


def record_code_add(code: LiveCode, event: dict, account, now: dt.datetime | None = None) -> LiveCodeAdd:
    """An add through `code`: recorded once (WeCom resends callbacks), the code's welcome message sent at
    once through the contact policy (the WelcomeCode lasts 20 seconds; it is then taken off the event so
    the account's default welcome is not sent as well), a `code_scanned` event written for journeys and
    segments, and the rest (auto tags in WeCom, the contact landed, routing) left to a background task."""
    now = now or timezone.now()
    source = account.settings.get("source") or "wecom"
    properties = event.get("properties") or {}
    staff, external_userid = (properties.get("staff") or "")[:64], event["external_userid"]
    added_at = dt.datetime.fromtimestamp(event.get("created") or now.timestamp(), dt.UTC)
    record_key = f"{source}|{external_userid}"
    add, created = LiveCodeAdd.objects.get_or_create(
        code=code, staff_userid=staff, external_userid=external_userid, added_at=added_at,
        defaults={"customer_id": channel_actions.customer_of_record(record_key)},
    )  # fmt: skip
    has_welcome = bool(code.welcome_text or code.welcome_material_id)
    welcome_code = event.get("welcome_code") or ""
    if has_welcome:
        event.pop("welcome_code", None)
    if not created:
        return add
    if has_welcome and welcome_code:
        send = _send_welcome(code, add, welcome_code)
        add.send_id = send.pk
        add.welcome = {Send.Status.SENT: LiveCodeAdd.Welcome.SENT,
                       Send.Status.SUPPRESSED: LiveCodeAdd.Welcome.SUPPRESSED}.get(send.status, LiveCodeAdd.Welcome.FAILED)  # fmt: skip
        add.save(update_fields=["send_id", "welcome"])
    append_events([{
        "event_key": f"{record_key}:code_scanned:{code.pk}:{int(added_at.timestamp())}",
        "source": source,
        "record_key": record_key,
        "event_type": "code_scanned",
        "occurred_at": added_at,
        "properties": code_properties(code, staff),
    }])  # fmt: skip
    _follow_later(add.pk)
    return add


def code_properties(code: LiveCode, staff: str) -> dict:
    """What a `code_scanned` event says about the code (a journey trigger's and a segment's filters)."""
    return {"code_id": code.pk, "code_name": code.name, "channel": code.channel, "campaign": code.campaign,
            "store": code.store.code if code.store else "", "staff": staff, "kind": code.kind}  # fmt: skip


def _send_welcome(code: LiveCode, add: LiveCodeAdd, welcome_code: str) -> Send:
    variables = {"welcome_code": welcome_code, "external_userid": add.external_userid}
    if code.welcome_material_id:
        variables["material_id"] = int(code.welcome_material_id)
    send = enqueue_send(SendRequest(
        # the key the account's default welcome would use: one welcome per code, whichever comes first
        idempotency_key=f"wecom-welcome:{welcome_code}"[:200],
        channel=Channel.WECOM_WELCOME, customer_id=add.customer_id, member=add.staff_userid,
        content=code.welcome_text, variables=variables, marketing=False, priority=100,
    ))  # fmt: skip
    if send.status == Send.Status.QUEUED:
        deliver_due_sends(only=[send.pk])
        send.refresh_from_db()
    return send


def _follow_later(add_id: int) -> None:
    from siyu.acquisition.tasks import follow_code_add  # the task module imports this one

    follow_code_add.enqueue(add_id)


def follow_code_add(add_id: int, now: dt.datetime | None = None) -> dict:
    """After the welcome: the code's auto tags put on in WeCom (mark_tag, as the staff member sees the
    customer), the contact read from WeCom and landed as the sync lands contacts (a resolve then unifies
    it with the customer's other records by unionid / external_userid), and the code's routing pushed
    (the staff member's daily count just grew)."""
    now = now or timezone.now()
    add = LiveCodeAdd.objects.select_related("code").get(pk=add_id)
    account, secrets_ = channel_actions.wecom_account()
    source = account.settings.get("source") or "wecom"
    client = channel_actions.contact_client(account, secrets_)
    report: dict = {"add": add.pk, "tagged": 0}
    contact = None
    try:
        tag_ids = [t.wecom_id for t in add.code.auto_tags.filter(deleted=False)]
        if tag_ids:
            try:
                client.mark_tag(add.staff_userid, add.external_userid, add=tag_ids)
                report["tagged"] = len(tag_ids)
            except ProviderError as exc:
                report["tag_error"] = str(exc)
        try:
            contact = client.get_external_contact(add.external_userid)
        except ProviderError as exc:
            report["contact_error"] = str(exc)
        try:
            report["routing_pushed"] = refresh_code_routing(add.code, now, client)
        except ProviderError as exc:
            report["routing_error"] = str(exc)
    finally:
        client.http.close()
    if contact is not None:
        landed = channel_actions.land_wecom_contacts(
            channel_actions.wecom_items_of_contact(contact), source, now=now, file_name="wecom-live-code-add"
        )
        report.update(records_new=landed["records_new"], records_changed=landed["records_changed"],
                      batch_id=landed["batch_id"])  # fmt: skip
        if landed["records_new"]:
            records_landed.send(sender="acquisition", records_new=landed["records_new"])
    if add.customer_id is None:
        add.customer_id = channel_actions.customer_of_record(f"{source}|{add.external_userid}")
        if add.customer_id is not None:
            add.save(update_fields=["customer_id"])
    return report


def link_adds_to_customers(limit: int = 50_000) -> int:
    """Give the adds that had no customer yet (a new contact, landed but not resolved at the time) the
    customer their WeCom record now belongs to; for the pipeline to call after a resolve. Returns how many."""
    pending = list(LiveCodeAdd.objects.filter(customer_id=None).values_list("pk", "external_userid")[:limit])
    if not pending:
        return 0
    source = queries.wecom_source()
    found = queries.customers_of_records([f"{source}|{ext}" for _, ext in pending])
    linked = 0
    for pk, ext in pending:
        customer_id = found.get(f"{source}|{ext}")
        if customer_id is not None:
            linked += LiveCodeAdd.objects.filter(pk=pk, customer_id=None).update(customer_id=customer_id)
    return linked
