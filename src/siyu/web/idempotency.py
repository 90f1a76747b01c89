"""Idempotency keys on every write.

A client sends `Idempotency-Key: <its own unique value>` with a POST/DELETE. The first request runs and its
successful response is stored; a replay with the same key and the same body gets that stored response (and
header `Idempotent-Replayed: true`) without a second effect; the same key with a different body is a 409.
A failed request (4xx/5xx) stores nothing, so the client can fix it and retry with the same key.
A key is remembered for `settings.IDEMPOTENCY_KEY_TTL` (24 hours by default, like the payment APIs clients
know): later the same key is a new request, and expired keys are purged at most once an hour per process.

While a request runs its key is stored "in progress" (a second try meanwhile is a 409 "still being
processed"). When the control plane's database goes away under the request (PostgreSQL restarting or down),
the process cannot settle the key at once; it knows the outcome, though (the handler returned, or raised), so
it keeps that settlement in memory and writes it as soon as the database answers again: before its next
keyed request, and from a background thread retrying every few seconds (for as long as the key lives). The
settlement is the one the request would have written (the answer stored, or the key forgotten), so a retry
after the database is back replays or runs, never lands twice (docs/faults.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Annotated

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from ninja import Header
from ninja.errors import HttpError
from ninja.responses import NinjaJSONEncoder, Status
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from siyu.web.actions import purge_expired_idempotency_keys
from siyu.web.models import IdempotencyKey

HEADER = "Idempotency-Key"
# The header every write endpoint takes.
IdempotencyKeyHeader = Annotated[
    str,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=200,
        description="a value unique to this write; a retry with the same key and body replays the first answer",
    ),
]
IN_PROGRESS = 0
PURGE_EVERY_SECONDS = 3600
SETTLE_TRIES, SETTLE_PAUSE_SECONDS = 3, 0.3
RESETTLE_EVERY_SECONDS = 2.0
_last_purge = 0.0
log = logging.getLogger(__name__)

# Keys of this process whose settlement could not be written (the database gone): pk -> the settlement,
# ("forget",) or ("answer", status, body), and when it was decided (it is dropped once the key expired).
_unsettled: dict[int, tuple[tuple, float]] = {}
_unsettled_lock = threading.Lock()
_resettler: threading.Thread | None = None


def _jsonable(value):
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    # pydantic's own conversion first: it writes what Django's encoder refuses (a time with a zone)
    return json.loads(
        json.dumps(to_jsonable_python(value, fallback=str), cls=NinjaJSONEncoder, ensure_ascii=False)
    )


def request_fingerprint(payload) -> str:
    canonical = json.dumps(_jsonable(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _answer(record: IdempotencyKey, request_hash: str, response):
    if record.request_hash != request_hash:
        raise HttpError(409, f"{HEADER} {record.key!r} was already used with a different request body")
    if record.status_code == IN_PROGRESS:
        raise HttpError(
            409, f"a request with {HEADER} {record.key!r} is still being processed; retry shortly"
        )
    response["Idempotent-Replayed"] = "true"
    return Status(record.status_code, record.response)


def run_once(request, response, key: str, payload, handler, status: int = 200, not_kept: tuple[str, ...] = ()):
    """Run `handler()` (returning the response body) once per (user, key, endpoint); see module doc.
    `not_kept`: fields of the body that are secrets shown once (a new API token, a signing secret): they are
    not stored with the key, so a replay answers them as null."""
    user = request.auth
    key = (key or "").strip()
    if not key:
        raise HttpError(400, f"the {HEADER} header is empty")
    endpoint = f"{request.method} {request.path}"[:200]
    request_hash = request_fingerprint(payload)
    settle_left_over_keys()
    _purge_expired_keys_hourly()

    once = IdempotencyKey.objects.filter(user=user, key=key, endpoint=endpoint)
    once.filter(created_at__lt=timezone.now() - settings.IDEMPOTENCY_KEY_TTL).delete()
    existing = once.first()
    if existing is not None:
        return _answer(existing, request_hash, response)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                user=user,
                key=key,
                endpoint=endpoint,
                request_hash=request_hash,
                status_code=IN_PROGRESS,
                response={},
            )
    except IntegrityError:
        return _answer(
            IdempotencyKey.objects.get(user=user, key=key, endpoint=endpoint), request_hash, response
        )

    try:
        body = _jsonable(handler())
    except BaseException:
        _settle(record.pk, ("forget",))  # the retry runs
        raise
    kept = {k: (None if k in not_kept else v) for k, v in body.items()} if not_kept else body
    _settle(record.pk, ("answer", status, kept))  # the work is done: answered even if this waits for the DB
    return Status(status, body)


def _write(pk: int, settlement: tuple) -> None:
    pending = IdempotencyKey.objects.filter(pk=pk, status_code=IN_PROGRESS)
    if settlement[0] == "forget":
        pending.delete()
    else:
        pending.update(status_code=settlement[1], response=settlement[2])


def _settle(pk: int, settlement: tuple) -> None:
    """Settle the key: forget it when the request failed, store the answer when it succeeded. When the
    control plane dropped the connection under the request (PostgreSQL restarting), this is tried again on a
    new connection for a moment; when the database stays away, the settlement is kept and written once it is
    back (settle_left_over_keys): a key left in progress would answer 409 to every retry for a day."""
    for attempt in range(SETTLE_TRIES):
        try:
            _write(pk, settlement)
            return
        except (OperationalError, InterfaceError):
            if attempt == SETTLE_TRIES - 1 or connection.in_atomic_block:
                break
            connection.close()
            time.sleep(SETTLE_PAUSE_SECONDS)
    with _unsettled_lock:
        _unsettled[pk] = (settlement, time.time())
    log.warning(
        "Idempotency key %s could not be settled (the database does not answer); kept until it does", pk
    )
    _start_resettler()


def settle_left_over_keys() -> int:
    """Write the settlements this process kept while the database did not answer; how many are left.
    Quiet and quick when there are none or the database is still away (one try each)."""
    with _unsettled_lock:
        left = list(_unsettled.items())
    if not left:
        return 0
    ttl = settings.IDEMPOTENCY_KEY_TTL.total_seconds()
    for pk, (settlement, decided) in left:
        try:
            if time.time() - decided < ttl:  # an expired key is a new request anyway: nothing to settle
                _write(pk, settlement)
        except (OperationalError, InterfaceError):
            if not connection.in_atomic_block:
                connection.close()  # the next try opens a new connection
            break
        with _unsettled_lock:
            _unsettled.pop(pk, None)
    with _unsettled_lock:
        return len(_unsettled)


def _start_resettler() -> None:
    """One background thread per process writing the kept settlements every few seconds until none is left,
    so a key is settled when the database comes back even if this process gets no other keyed request."""
    global _resettler
    with _unsettled_lock:
        if _resettler is not None and _resettler.is_alive():
            return  # it checks for new ones under this lock before it ends
        _resettler = threading.Thread(target=_resettle, name="siyu-idempotency-resettle", daemon=True)
        _resettler.start()


def _resettle() -> None:
    global _resettler
    try:
        while True:
            time.sleep(RESETTLE_EVERY_SECONDS)
            try:
                settle_left_over_keys()
            except Exception:  # noqa: BLE001 - keep trying; the kept settlements stay
                log.exception("settling left-over idempotency keys failed")
            with _unsettled_lock:
                if not _unsettled:
                    _resettler = None
                    return
    finally:
        connection.close()


def _purge_expired_keys_hourly() -> None:
    global _last_purge
    now = timezone.now().timestamp()
    if now - _last_purge >= PURGE_EVERY_SECONDS:
        _last_purge = now
        purge_expired_idempotency_keys()
