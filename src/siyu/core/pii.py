"""PII at rest: AES-GCM ciphertext for display, keyed BLAKE2b hashes for matching, masks for roles
without the PII permission.

Keys come from the settings (SIYU_HOME/secrets, an environment variable or a mounted file:
siyu.core.keyfiles). The PII key is a ring: each ciphertext names the key it was written with, new ones use
the newest key, and `siyu keys rotate` re-encrypts the rest (siyu.core.rotation). A hash is only comparable with hashes made with the same
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
# A ciphertext is KEY_MARK + key id (one byte) + nonce + AES-GCM output. Ciphertexts written before key
# rotation existed are nonce + output, without a mark: they are read with key 0. A random nonce starts with
# the four mark bytes once in 2^32 ciphertexts; decrypt then falls back to reading it as unmarked.
KEY_MARK = b"\xa5SYK"
_HEADER_BYTES = len(KEY_MARK) + 1


# Keys handed to a process that has no Django settings (a Spark executor's Python worker computing the
# comparison features, siyu.identity.spark_features): used instead of the settings' when set.
_given_keys: dict[str, str] = {}
# The ring read again from its source when a ciphertext names a key this process does not know yet (a key
# added by `siyu keys rotate` in another process) or when a rotation starts (reload_keys).
_reloaded_ring: dict[int, str] = {}


def _key_hex(name: str) -> str:
    return _given_keys.get(name) or getattr(settings, name)


def _ring_hex() -> dict[int, str]:
    if "PII_KEY_RING" in _given_keys:
        from siyu.core.keyfiles import parse_ring

        return parse_ring(_given_keys["PII_KEY_RING"], "the keys given to this process")
    if "PII_KEY_HEX" in _given_keys:
        return {0: _given_keys["PII_KEY_HEX"]}
    return _reloaded_ring or settings.PII_KEY_RING


def keys_hex() -> dict[str, str]:
    """The PII key ring and the match key, for use_keys in a process without this one's settings."""
    from siyu.core.keyfiles import format_ring

    ring = _ring_hex()
    return {
        "PII_KEY_HEX": ring[max(ring)],
        "PII_KEY_RING": format_ring(ring),
        "MATCH_KEY_HEX": _key_hex("MATCH_KEY_HEX"),
    }


def use_keys(keys: dict[str, str]) -> None:
    """Use these keys (keys_hex of the process that sent them) instead of Django's settings."""
    if keys != _given_keys:
        _given_keys.clear()
        _given_keys.update(keys)
        _clear_caches()


def _clear_caches() -> None:
    _keyring.cache_clear()
    _match_key.cache_clear()


def reload_keys() -> dict[int, str]:
    """Read the PII key ring again from where the settings found it (a key added or retired since this
    process started); the ring in force afterwards."""
    from siyu.core.keyfiles import read_ring

    if not _given_keys:
        _reloaded_ring.clear()
        _reloaded_ring.update(read_ring(settings.PII_KEY_SOURCE, "PII_KEY"))
        _keyring.cache_clear()
    return dict(_ring_hex())


@lru_cache(maxsize=1)
def _keyring() -> tuple[int, dict[int, AESGCM]]:
    ring = _ring_hex()
    return max(ring), {key_id: AESGCM(bytes.fromhex(value)) for key_id, value in ring.items()}


def current_key_id() -> int:
    """The id of the key new ciphertexts are written with (the newest of the ring)."""
    return _keyring()[0]


def _aead() -> AESGCM:
    newest, keys = _keyring()
    return keys[newest]


def _aead_of(key_id: int) -> AESGCM:
    keys = _keyring()[1]
    if key_id not in keys and not _given_keys:
        reload_keys()  # written by a process that knew a newer key
        keys = _keyring()[1]
    try:
        return keys[key_id]
    except KeyError:
        raise KeyError(f"PII key {key_id} is not in this process's key ring (retired, or not given)") from None


@lru_cache(maxsize=1)
def _match_key() -> bytes:
    return bytes.fromhex(_key_hex("MATCH_KEY_HEX"))


def _header(key_id: int) -> bytes:
    return KEY_MARK + bytes((key_id,))


def key_id_of(ciphertext: bytes) -> int:
    """The id of the key a ciphertext was written with (0 for one written before key rotation existed)."""
    if len(ciphertext) >= _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES and ciphertext[: len(KEY_MARK)] == KEY_MARK:
        return ciphertext[len(KEY_MARK)]
    return 0


def encrypt(plaintext: bytes) -> bytes:
    newest, keys = _keyring()
    nonce = os.urandom(_NONCE_BYTES)
    return _header(newest) + nonce + keys[newest].encrypt(nonce, plaintext, None)


def decrypt(ciphertext: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    ciphertext = bytes(ciphertext)
    if len(ciphertext) >= _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES and ciphertext[: len(KEY_MARK)] == KEY_MARK:
        body = ciphertext[_HEADER_BYTES:]
        try:
            return _aead_of(ciphertext[len(KEY_MARK)]).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], None)
        except (InvalidTag, KeyError) as exc:
            if 0 not in _keyring()[1]:
                raise
            # perhaps an unmarked ciphertext whose random nonce happens to start with the mark
            try:
                return _aead_of(0).decrypt(ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], None)
            except InvalidTag:
                raise exc from None
    return _aead_of(0).decrypt(ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], None)


def reencrypt(ciphertext: bytes) -> bytes:
    """The same plaintext under the newest key (key rotation)."""
    return encrypt(decrypt(ciphertext))


# --- sealed files: PII written to disk outside the warehouse (rejected rows) ------------------------

SEALED_MAGIC = b"SIYU-SEALED-1\n"  # a file sealed before key rotation existed: key 0
SEALED_MAGIC_KEYED = b"SIYU-SEALED-2\n"  # followed by the id of the key (one byte)
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
    newest, keys = _keyring()
    aead = keys[newest]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(SEALED_MAGIC_KEYED + bytes((newest,)))
            iterator = iter(chunks)
            current = next(iterator, b"")
            index = 0
            while True:
                following = next(iterator, None)
                nonce = os.urandom(_NONCE_BYTES)
                sealed = nonce + aead.encrypt(nonce, current, _frame_aad(index, following is None))
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
        return handle.read(len(SEALED_MAGIC)) in (SEALED_MAGIC, SEALED_MAGIC_KEYED)


def sealed_key_id(path) -> int | None:
    """The id of the key a sealed file was written with; None when it is not a sealed file."""
    with open(path, "rb") as handle:
        magic = handle.read(len(SEALED_MAGIC))
        if magic == SEALED_MAGIC:
            return 0
        if magic == SEALED_MAGIC_KEYED:
            key = handle.read(1)
            return key[0] if key else None
    return None


def reseal(path) -> None:
    """Seal a sealed file again under the newest key, keeping its modification time (the retention of
    rejected rows counts from it)."""
    times = os.stat(path)
    write_sealed(path, read_sealed(path))  # streamed: the old file is read while the new one is written aside
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))


def read_sealed(path):
    """The chunks of a sealed file, decrypted one at a time; SealedFileError when it was altered or cut."""
    from cryptography.exceptions import InvalidTag

    with open(path, "rb") as handle:
        magic = handle.read(len(SEALED_MAGIC))
        if magic == SEALED_MAGIC:
            key_id = 0
        elif magic == SEALED_MAGIC_KEYED and (key := handle.read(1)):
            key_id = key[0]
        else:
            raise SealedFileError(f"{path} is not a sealed file")
        try:
            aead = _aead_of(key_id)
        except KeyError as exc:
            raise SealedFileError(f"{path} was sealed with PII key {key_id}, which this process does not hold") from exc
        index = 0
        header = handle.read(_FRAME_LENGTH)
        while True:
            if len(header) != _FRAME_LENGTH:
                raise SealedFileError(f"{path} is cut short")
            sealed = handle.read(int.from_bytes(header, "big"))
            header = handle.read(_FRAME_LENGTH)
            last = not header
            try:
                yield aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _frame_aad(index, last))
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
    newest, keys = _keyring()
    encrypt_one, header = keys[newest].encrypt, _header(newest)
    pool = os.urandom(_NONCE_BYTES * len(values))
    out: list[bytes | None] = []
    append = out.append
    for i, value in enumerate(values):
        if value is None:
            append(None)
            continue
        nonce = pool[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
        append(header + nonce + encrypt_one(nonce, value.encode() if isinstance(value, str) else value, None))
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
    sizes = np.diff(np.asarray(offsets, dtype=np.int64)) + _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES
    out_offsets = _offsets(np.where(valid, sizes, 0))
    out = bytearray(int(out_offsets[-1]))
    view = memoryview(out)
    starts = out_offsets.tolist()
    nonces = os.urandom(_NONCE_BYTES * len(rows))
    newest, keys = _keyring()
    aead, header = keys[newest], _header(newest)
    encrypt_into = getattr(aead, "encrypt_into", None)  # cryptography >= 46
    for j, i in enumerate(rows):
        nonce = nonces[j * _NONCE_BYTES : (j + 1) * _NONCE_BYTES]
        at, value = starts[i], data[offsets[i] : offsets[i + 1]]
        view[at : at + _HEADER_BYTES] = header
        at += _HEADER_BYTES
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
