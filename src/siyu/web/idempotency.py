"""Idempotency keys on every write.

A client sends `Idempotency-Key: <its own unique value>` with a POST/DELETE. The first request runs and its
successful response is stored; a replay with the same key and the same body gets that stored response (and
header `Idempotent-Replayed: true`) without a second effect; the same key with a different body is a 409.
A failed request (4xx/5xx) stores nothing, so the client can fix it and retry with the same key.
A key is remembered for `settings.IDEMPOTENCY_KEY_TTL` (24 hours by default, like the payment APIs clients
know): later the same key is a new request, and expired keys are purged at most once an hour per process.
"""

from __future__ import annotations

import hashlib
import json
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
SETTLE_TRIES, SETTLE_PAUSE_SECONDS = 10, 0.5
_last_purge = 0.0


def _jsonable(value):
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    # pydantic's own conversion first: it writes what Django's encoder refuses (a time with a zone)
    return json.loads(json.dumps(to_jsonable_python(value, fallback=str), cls=NinjaJSONEncoder, ensure_ascii=False))


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


def run_once(request, response, key: str, payload, handler, status: int = 200):
    """Run `handler()` (returning the response body) once per (user, key, endpoint); see module doc."""
    user = request.auth
    key = (key or "").strip()
    if not key:
        raise HttpError(400, f"the {HEADER} header is empty")
    endpoint = f"{request.method} {request.path}"[:200]
    request_hash = request_fingerprint(payload)
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
        _on_a_live_connection(IdempotencyKey.objects.filter(pk=record.pk).delete)  # the retry runs
        raise
    answered = IdempotencyKey.objects.filter(pk=record.pk)
    _on_a_live_connection(lambda: answered.update(status_code=status, response=body))
    return Status(status, body)


def _on_a_live_connection(write) -> None:
    """Settle the key (forget it when the request failed, store the answer when it succeeded). When the
    control plane dropped the connection under the request (PostgreSQL restarting), this is tried again on a
    new connection for a few seconds: a key left in progress would answer 409 to every retry for a day."""
    for attempt in range(SETTLE_TRIES):
        try:
            write()
            return
        except (OperationalError, InterfaceError):
            if attempt == SETTLE_TRIES - 1 or connection.in_atomic_block:
                raise
            connection.close()
            time.sleep(SETTLE_PAUSE_SECONDS)


def _purge_expired_keys_hourly() -> None:
    global _last_purge
    now = timezone.now().timestamp()
    if now - _last_purge >= PURGE_EVERY_SECONDS:
        _last_purge = now
        purge_expired_idempotency_keys()
