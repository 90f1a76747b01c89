"""PII key rotation without downtime (`siyu keys`).

Every place that keeps PII ciphertext registers itself here in its AppConfig.ready() (core knows no domain):
how many ciphertexts it holds under each key id, and how to re-encrypt one batch of those not under the
newest key. The rotation job ("rotate_keys", run by the process that owns the warehouse, so `siyu serve`
keeps serving) walks every store batch by batch, each batch committed on its own: a killed rotation resumes
where it stopped, since what is left is exactly what is not under the newest key yet. Reads never stop:
pii.decrypt reads a ciphertext with the key it names, old or new.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from siyu.core import keyfiles, pii
from siyu.core.errors import SiyuError

BATCH = 500


class KeyRotationError(SiyuError):
    """A key cannot be added or retired (the ring comes from the environment, ciphertexts remain…)."""


@dataclass(frozen=True)
class CiphertextStore:
    name: str
    # {key id: ciphertexts (or sealed files) written with it}
    count_by_key: Callable[[], dict[int, int]]
    # (newest key id, at most this many) -> (ciphertexts re-encrypted, their bytes), committed; (0, 0) when
    # none is left under an older key
    reencrypt_batch: Callable[[int, int], tuple[int, int]]


_stores: dict[str, CiphertextStore] = {}


def register_ciphertexts(
    name: str,
    count_by_key: Callable[[], dict[int, int]],
    reencrypt_batch: Callable[[int, int], tuple[int, int]],
) -> None:
    if name in _stores:
        raise ImproperlyConfigured(f"ciphertext store {name!r} registered twice")
    _stores[name] = CiphertextStore(name, count_by_key, reencrypt_batch)


def stores() -> list[CiphertextStore]:
    return list(_stores.values())


def key_status() -> dict:
    """The ring (ids, which one is current, where it comes from) and how many ciphertexts each store holds
    under each key."""
    ring = pii.reload_keys()
    per_store = {store.name: {k: n for k, n in store.count_by_key().items() if n} for store in stores()}
    under: dict[int, int] = {key_id: 0 for key_id in ring}
    for counts in per_store.values():
        for key_id, n in counts.items():
            under[key_id] = under.get(key_id, 0) + n
    kind, where = settings.PII_KEY_SOURCE
    return {
        "current": max(ring),
        "keys": sorted(ring),
        "source": "environment variable SIYU_PII_KEY" if kind == "env" else str(where),
        "under_key": {str(k): n for k, n in sorted(under.items())},
        "missing_keys": sorted(k for k, n in under.items() if n and k not in ring),
        "stores": {name: {str(k): n for k, n in sorted(c.items())} for name, c in per_store.items()},
    }


def _ring_file() -> Path:
    kind, where = settings.PII_KEY_SOURCE
    if kind == "env":
        raise KeyRotationError(
            "the PII key ring comes from the environment variable SIYU_PII_KEY: add the new key there as a "
            "line `ID:HEX` (an id above the current one), restart, then run `siyu keys rotate --resume`"
        )
    return Path(where)


def add_key() -> int:
    """Add a new newest key to the ring file; its id. New writes use it from now on."""
    import secrets

    path = _ring_file()
    ring = keyfiles.read_ring(settings.PII_KEY_SOURCE, "PII_KEY")
    new_id = max(ring) + 1
    if new_id > 255:
        raise KeyRotationError("the key ring holds ids up to 255; retire old keys' ids cannot be reused")
    try:
        keyfiles.write_ring(path, ring | {new_id: secrets.token_hex(32)})
    except OSError as exc:
        raise KeyRotationError(
            f"cannot write the key ring {path} ({exc.strerror}): a secrets manager's mount is read-only; add a "
            "line `ID:HEX` there, then run `siyu keys rotate --resume`"
        ) from exc
    pii.reload_keys()
    return new_id


def retire_key(key_id: int) -> dict:
    """Remove an old key from the ring; refused while any ciphertext remains under it."""
    ring = pii.reload_keys()
    if key_id not in ring:
        raise KeyRotationError(f"key {key_id} is not in the ring (keys: {', '.join(map(str, sorted(ring)))})")
    if key_id == max(ring):
        raise KeyRotationError(f"key {key_id} is the current key; rotate to a new one first")
    status = key_status()
    left = status["under_key"].get(str(key_id), 0)
    if left:
        raise KeyRotationError(
            f"{left:,} ciphertexts are still under key {key_id}: run `siyu keys rotate --resume` first"
        )
    path = _ring_file()
    ring.pop(key_id)
    keyfiles.write_ring(path, ring)
    pii.reload_keys()
    return {"retired": key_id, "keys": sorted(ring)}


def reencrypt_all(progress=None, *, batch: int = BATCH, stop: Callable[[], bool] | None = None) -> dict:
    """Re-encrypt every ciphertext not under the newest key, store by store, batch by batch (each
    committed). `stop` is asked between batches (a rotation told to pause ends cleanly and resumes later)."""
    newest = max(pii.reload_keys())
    started = time.monotonic()
    done = {}
    total = nbytes = 0
    stopped = False
    for i, store in enumerate(stores()):
        count = 0
        while not stopped:
            n, size = store.reencrypt_batch(newest, batch)
            if not n:
                break
            count, total, nbytes = count + n, total + n, nbytes + size
            if progress is not None:
                progress(i, len(stores()), f"{store.name}: {count:,} re-encrypted")
            stopped = stop is not None and stop()
        done[store.name] = count
    seconds = time.monotonic() - started
    return {
        "key": newest,
        "reencrypted": total,
        "bytes": nbytes,
        "seconds": round(seconds, 3),
        "per_second": round(total / seconds, 1) if seconds and total else None,
        "mb_per_second": round(nbytes / seconds / 1e6, 2) if seconds and total else None,
        "stores": done,
        "stopped": stopped,
    }


def run_rotation_job(job, progress) -> dict:
    """Job runner for kind "rotate_keys": params {"add_key": bool}."""
    added = add_key() if job.params.get("add_key") else None
    report = reencrypt_all(progress)
    left = {k: n for k, n in key_status()["under_key"].items() if int(k) != report["key"] and n}
    progress(1, 1, f"{report['reencrypted']:,} re-encrypted")
    return report | {"added_key": added, "left_under_old_keys": left}


def register_model_field(model, field: str) -> None:
    """Register a control-plane BinaryField holding pii.encrypt/encrypt_json ciphertext (a domain's model,
    passed in by that domain's AppConfig.ready())."""
    from django.db import transaction

    def count_by_key() -> dict[int, int]:
        counts: dict[int, int] = {}
        for value in model.objects.exclude(**{field: None}).values_list(field, flat=True).iterator():
            key_id = pii.key_id_of(bytes(value))
            counts[key_id] = counts.get(key_id, 0) + 1
        return counts

    def reencrypt_batch(newest: int, limit: int) -> tuple[int, int]:
        done = size = 0
        rows = model.objects.exclude(**{field: None}).order_by("pk").values_list("pk", field)
        for pk, value in rows.iterator():
            if done >= limit:
                break
            value = bytes(value)  # memoryview on PostgreSQL
            if pii.key_id_of(value) == newest:
                continue
            with transaction.atomic():
                # only if unchanged since read: a write made meanwhile is already under the newest key
                fresh = pii.reencrypt(value)
                updated = model.objects.filter(pk=pk, **{field: value}).update(**{field: fresh})
            if updated:
                done, size = done + 1, size + len(fresh)
        return done, size

    register_ciphertexts(f"{model._meta.label} {field}", count_by_key, reencrypt_batch)


def run_status_job(job, progress) -> dict:
    """Job runner for kind "key_status" (run by the warehouse's owner, which can count its ciphertexts)."""
    progress(1, 1, "counted")
    return key_status()


def run_retire_job(job, progress) -> dict:
    """Job runner for kind "retire_key": params {"key": id}."""
    report = retire_key(int(job.params["key"]))
    progress(1, 1, f"key {report['retired']} retired")
    return report
