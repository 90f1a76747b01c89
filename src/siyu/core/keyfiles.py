"""Where the PII and match keys come from, read by the settings (no Django here: settings import it).

A key comes from an environment variable (SIYU_PII_KEY), from a file a secrets manager mounts
(SIYU_PII_KEY_FILE: outside SIYU_HOME, so that a copy of SIYU_HOME — a backup — holds no key), or from
SIYU_HOME/secrets (created on first use). The PII key is a *ring*: one key per line as `ID:HEX`, the newest
(highest id) encrypting new data, the others only reading what was written under them until `siyu keys
rotate` has re-encrypted it (siyu.core.pii). A ring of one bare `HEX` line is key 0: every installation
before key rotation.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured  # needs no settings


class KeyFileError(ImproperlyConfigured):
    """A key file that must not be used: readable by every user, unreadable, or not a key."""


def parse_ring(text: str, origin: str) -> dict[int, str]:
    """{key id: hex} of a ring's text (lines `ID:HEX`, or one bare `HEX` = key 0; `#` starts a comment)."""
    ring: dict[int, str] = {}
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        key_id, sep, value = line.rpartition(":")
        if not sep and len(lines) == 1:
            key_id = "0"
        if not key_id.isdigit() or not 0 <= int(key_id) <= 255:
            raise KeyFileError(f"{origin}: a key line is `ID:HEX` with an id from 0 to 255, got {line[:8]}…")
        try:
            if len(bytes.fromhex(value)) != 32:
                raise ValueError
        except ValueError:
            raise KeyFileError(
                f"{origin}: key {key_id} is not 64 hexadecimal digits (a 256-bit key)"
            ) from None
        if int(key_id) in ring:
            raise KeyFileError(f"{origin}: key {key_id} appears twice")
        ring[int(key_id)] = value.lower()
    if not ring:
        raise KeyFileError(f"{origin} holds no key")
    return ring


def format_ring(ring: dict[int, str]) -> str:
    return "".join(f"{key_id}:{value}\n" for key_id, value in sorted(ring.items()))


def check_private(path: Path) -> None:
    """Refuse a key file every user of the machine can read (or write): a clear error instead of a leak."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise KeyFileError(
            f"the key file {path} is readable or writable by every user of this machine "
            f"(mode {stat.S_IMODE(mode):o}); make it private: chmod 600 {path} (or 640 for a group)"
        )


def key_source(name: str, default: Path) -> tuple[str, str | Path]:
    """("env", text) when SIYU_<NAME> is set, ("file", path) when SIYU_<NAME>_FILE is, else ("home", the
    default file in SIYU_HOME/secrets: created 0600 on first use, in a 0700 folder)."""
    text = os.environ.get(f"SIYU_{name}")
    path = os.environ.get(f"SIYU_{name}_FILE")
    if text and path:
        raise KeyFileError(f"set SIYU_{name} or SIYU_{name}_FILE, not both")
    if text:
        return "env", text
    if path:
        return "file", Path(path).expanduser()
    if not default.exists():
        fd = os.open(default, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return "home", default


def read_ring(source: tuple[str, str | Path], name: str) -> dict[int, str]:
    kind, where = source
    if kind == "env":
        return parse_ring(str(where), f"SIYU_{name}")
    path = Path(where)
    if kind == "file":  # a mounted file: its own mode is all that guards it
        check_private(path)
    return parse_ring(path.read_text(), str(path))


def write_ring(path: Path, ring: dict[int, str]) -> None:
    """Replace the ring file at once (a reader sees the old ring or the new one), 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(format_ring(ring))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
