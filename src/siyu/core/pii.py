"""PII at rest: AES-GCM ciphertext for display, keyed BLAKE2b hashes for matching, masks for roles
without the PII permission.

Keys live in SIYU_HOME/secrets (see settings). A hash is only comparable with hashes made with the same
MATCH_KEY; losing the key means re-importing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_NONCE_BYTES = 12
_TAG_BYTES = 16


# Keys handed to a process that has no Django settings (a Spark executor's Python worker computing the
# comparison features, siyu.identity.spark_features): used instead of the settings' when set.
_given_keys: dict[str, str] = {}


def _key_hex(name: str) -> str:
    return _given_keys.get(name) or getattr(settings, name)


def keys_hex() -> dict[str, str]:
    """The PII and match keys, for use_keys in a process without this one's settings."""
    return {"PII_KEY_HEX": _key_hex("PII_KEY_HEX"), "MATCH_KEY_HEX": _key_hex("MATCH_KEY_HEX")}


def use_keys(keys: dict[str, str]) -> None:
    """Use these keys (keys_hex of the process that sent them) instead of Django's settings."""
    if keys != _given_keys:
        _given_keys.clear()
        _given_keys.update(keys)
        _aead.cache_clear()
        _match_key.cache_clear()


@lru_cache(maxsize=1)
def _aead() -> AESGCM:
    return AESGCM(bytes.fromhex(_key_hex("PII_KEY_HEX")))


@lru_cache(maxsize=1)
def _match_key() -> bytes:
    return bytes.fromhex(_key_hex("MATCH_KEY_HEX"))


def encrypt(plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _aead().encrypt(nonce, plaintext, None)


def decrypt(ciphertext: bytes) -> bytes:
    return _aead().decrypt(ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], None)


# --- sealed files: PII written to disk outside the warehouse (rejected rows) ------------------------

SEALED_MAGIC = b"SIYU-SEALED-1\n"
_FRAME_LENGTH = 4


class SealedFileError(ValueError):
    """A sealed file was cut short, altered, or sealed with another PII key."""


def _frame_aad(index: int, last: bool) -> bytes:
    # each chunk's position and whether it ends the file are authenticated: chunks cannot be reordered,
    # and a file cut after a whole chunk fails instead of reading as shorter
    return SEALED_MAGIC + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def write_sealed(path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `path` as one sealed file (mode 0600): AES-GCM with the PII key, chunk by chunk,
    so that neither writing nor reading holds more than a chunk. Replaces `path` at once (a reader sees the
    old file or the new one)."""
    from pathlib import Path

    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(SEALED_MAGIC)
            iterator = iter(chunks)
            current = next(iterator, b"")
            index = 0
            while True:
                following = next(iterator, None)
                nonce = os.urandom(_NONCE_BYTES)
                sealed = nonce + _aead().encrypt(nonce, current, _frame_aad(index, following is None))
                out.write(len(sealed).to_bytes(_FRAME_LENGTH, "big") + sealed)
                if following is None:
                    break
                current, index = following, index + 1
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def is_sealed(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(SEALED_MAGIC)) == SEALED_MAGIC


def read_sealed(path):
    """The chunks of a sealed file, decrypted one at a time; SealedFileError when it was altered or cut."""
    from cryptography.exceptions import InvalidTag

    with open(path, "rb") as handle:
        if handle.read(len(SEALED_MAGIC)) != SEALED_MAGIC:
            raise SealedFileError(f"{path} is not a sealed file")
        index = 0
        header = handle.read(_FRAME_LENGTH)
        while True:
            if len(header) != _FRAME_LENGTH:
                raise SealedFileError(f"{path} is cut short")
            sealed = handle.read(int.from_bytes(header, "big"))
            header = handle.read(_FRAME_LENGTH)
            last = not header
            try:
                yield _aead().decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _frame_aad(index, last))
            except InvalidTag as exc:
                raise SealedFileError(f"{path} was altered, cut short or sealed with another key") from exc
            if last:
                return
            index += 1


def encrypt_json(value) -> bytes:
    return encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def decrypt_json(ciphertext: bytes | None):
    if ciphertext is None:
        return None
    return json.loads(decrypt(bytes(ciphertext)))


def encrypt_many(values: list[str | bytes | None]) -> list[bytes | None]:
    """Encrypt each value with its own random nonce (one urandom call for all of them)."""
    encrypt_one = _aead().encrypt
    pool = os.urandom(_NONCE_BYTES * len(values))
    out: list[bytes | None] = []
    append = out.append
    for i, value in enumerate(values):
        if value is None:
            append(None)
            continue
        nonce = pool[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
        append(nonce + encrypt_one(nonce, value.encode() if isinstance(value, str) else value, None))
    return out


def _binary_parts(values: pa.Array) -> tuple[list[int], memoryview, np.ndarray]:
    """(offsets, data buffer, validity) of a string or binary Arrow array, so that each value is read in
    place as a memoryview slice."""
    values = values.cast(pa.large_binary())  # the bytes of a string array as they are (UTF-8); no copy
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64, count=n + 1, offset=values.offset * 8)
    data = values.buffers()[2]
    valid = values.is_valid().to_numpy(zero_copy_only=False) if values.null_count else np.ones(n, dtype=bool)
    # format "B": Arrow exports its buffers as signed chars, which cryptography does not take
    return offsets.tolist(), memoryview(data if data is not None else b"").cast("B"), valid


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _array(kind: pa.DataType, valid: np.ndarray, offsets: np.ndarray, data) -> pa.Array:
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(kind, len(valid), [validity, pa.py_buffer(offsets), pa.py_buffer(data)])


def encrypt_array(values: pa.Array) -> pa.Array:
    """encrypt() of each value of a string or binary Arrow array, as a large_binary array (nulls stay null):
    the ciphertexts are written in place into one buffer, without a Python object per value."""
    offsets, data, valid = _binary_parts(values)
    rows = np.flatnonzero(valid).tolist()
    sizes = np.diff(np.asarray(offsets, dtype=np.int64)) + _NONCE_BYTES + _TAG_BYTES
    out_offsets = _offsets(np.where(valid, sizes, 0))
    out = bytearray(int(out_offsets[-1]))
    view = memoryview(out)
    starts = out_offsets.tolist()
    nonces = os.urandom(_NONCE_BYTES * len(rows))
    aead = _aead()
    encrypt_into = getattr(aead, "encrypt_into", None)  # cryptography >= 46
    for j, i in enumerate(rows):
        nonce = nonces[j * _NONCE_BYTES : (j + 1) * _NONCE_BYTES]
        at, value = starts[i], data[offsets[i] : offsets[i + 1]]
        view[at : at + _NONCE_BYTES] = nonce
        if encrypt_into is not None:
            encrypt_into(nonce, value, None, view[at + _NONCE_BYTES : starts[i + 1]])
        else:
            view[at + _NONCE_BYTES : starts[i + 1]] = aead.encrypt(nonce, value, None)
    return _array(pa.large_binary(), valid, out_offsets, out)


def keyed_hash(value: str | None) -> str | None:
    """Hex keyed hash of an already-normalised identifier value (None stays None)."""
    if value is None or value == "":
        return None
    return hashlib.blake2b(value.encode(), key=_match_key(), digest_size=16).hexdigest()


def keyed_hash_many(values: Iterable[str | None]) -> list[str | None]:
    # Copying one keyed hasher skips hashing the key block again (≈25% less time per value); the loop is
    # inlined because it runs for every identifier of every import.
    copy = hashlib.blake2b(key=_match_key(), digest_size=16).copy
    out: list[str | None] = []
    append = out.append
    for v in values:
        if v is None or v == "":
            append(None)
            continue
        h = copy()
        h.update(v.encode())
        append(h.hexdigest())
    return out


def keyed_hash64_many(values: Iterable[str]) -> list[int]:
    """A signed 64-bit keyed hash of each value: compact lookup keys (the match keys of siyu.identity),
    where a rare collision only costs an extra comparison."""
    copy = hashlib.blake2b(key=_match_key(), digest_size=8).copy
    out: list[int] = []
    append = out.append
    for v in values:
        h = copy()
        h.update(v.encode())
        append(int.from_bytes(h.digest(), "little", signed=True))
    return out


def keyed_hash_array(values: pa.Array) -> pa.Array:
    """keyed_hash of each value of a string Arrow array, as a large_string array (null and "" give null):
    read in place from the Arrow buffers and hex-encoded in one pass, without a Python str per value."""
    offsets, data, valid = _binary_parts(values)
    valid &= np.diff(np.asarray(offsets, dtype=np.int64)) > 0
    copy = hashlib.blake2b(key=_match_key(), digest_size=16).copy
    digests: list[bytes] = []
    append = digests.append
    for i in np.flatnonzero(valid).tolist():
        h = copy()
        h.update(data[offsets[i] : offsets[i + 1]])
        append(h.digest())
    hexed = b"".join(digests).hex().encode("ascii")  # hexdigest() is this lower-case hex
    return _array(pa.large_string(), valid, _offsets(np.where(valid, 32, 0)), hexed)


# --- masking -------------------------------------------------------------------------------------


def mask_phone(phone: str | None) -> str | None:
    """`+8613812345678` / `13812345678` -> `138****5678`; already-masked values pass through."""
    if not phone:
        return phone
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if "*" in digits:
        return digits
    base, _, ext = digits.partition("-")
    if len(base) >= 7:
        masked = base[:3] + "*" * (len(base) - 7) + base[-4:]
    else:
        masked = "*" * max(len(base) - 2, 0) + base[-2:]
    return masked + ("-" + ext if ext else "")


def mask_name(name: str | None) -> str | None:
    """`张三` -> `张*`, `欧阳娜娜` -> `欧***`, `John Smith` -> `J*** S****`."""
    if not name:
        return name
    if name.isascii():
        return " ".join(part[:1] + "*" * (len(part) - 1) for part in name.split())
    return name[0] + "*" * (len(name) - 1)


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return local[:1] + "***@" + domain


def mask_identifier(value: str | None) -> str | None:
    """An account or id: the first and last two characters of a long one, nothing of a short one."""
    if not value:
        return value
    return value[:2] + "****" + value[-2:] if len(value) >= 8 else "****"


def mask_address(address: str | None) -> str | None:
    """Keep the first six characters (province/city level), hide the rest."""
    if not address:
        return address
    return address[:6] + "****" if len(address) > 6 else address
