"""The PII key ring: ciphertexts written before rotation existed still read, each ciphertext names its key,
keys can come from a file outside SIYU_HOME (refused when every user can read it)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siyu.core import keyfiles, pii

# ring_file: tests/conftest.py


def _legacy_ciphertext(key_hex: str, plaintext: bytes) -> bytes:
    # exactly what pii.encrypt wrote before key rotation: nonce + AES-GCM output, no key id
    nonce = os.urandom(12)
    return nonce + AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, plaintext, None)


def _legacy_sealed(path: Path, key_hex: str, chunks: list[bytes]) -> None:
    aead, out = AESGCM(bytes.fromhex(key_hex)), bytearray(b"SIYU-SEALED-1\n")
    for i, chunk in enumerate(chunks):
        aad = b"SIYU-SEALED-1\n" + i.to_bytes(8, "big") + (b"\x01" if i == len(chunks) - 1 else b"\x00")
        nonce = os.urandom(12)
        sealed = nonce + aead.encrypt(nonce, chunk, aad)
        out += len(sealed).to_bytes(4, "big") + sealed
    path.write_bytes(bytes(out))


def test_a_ciphertext_written_before_rotation_existed_reads_as_key_0(ring_file, settings):
    key0 = settings.PII_KEY_RING[0]
    old = _legacy_ciphertext(key0, "张伟 13812345678".encode())
    assert pii.key_id_of(old) == 0
    assert pii.decrypt(old).decode() == "张伟 13812345678"
    assert pii.decrypt_json(_legacy_ciphertext(key0, b'{"phone":"138"}')) == {"phone": "138"}
    sealed = ring_file.parent / "old.sealed"
    _legacy_sealed(sealed, key0, [b"header", b"rows"])
    assert pii.sealed_key_id(sealed) == 0 and list(pii.read_sealed(sealed)) == [b"header", b"rows"]


def test_new_ciphertexts_carry_the_newest_key_and_old_ones_still_read(ring_file, settings):
    key0 = settings.PII_KEY_RING[0]
    old = _legacy_ciphertext(key0, b"old")
    under_0 = pii.encrypt(b"zero")
    key1 = secrets.token_hex(32)
    keyfiles.write_ring(ring_file, {0: key0, 1: key1})
    pii.reload_keys()
    assert pii.current_key_id() == 1
    new = pii.encrypt(b"one")
    assert [pii.key_id_of(c) for c in (old, under_0, new)] == [0, 0, 1]
    assert [pii.decrypt(c) for c in (old, under_0, new)] == [b"old", b"zero", b"one"]
    assert pii.key_id_of(pii.reencrypt(old)) == 1 and pii.decrypt(pii.reencrypt(old)) == b"old"
    arrays = pii.encrypt_array(__import__("pyarrow").array(["a", None, "bc"]))
    assert [None if v is None else pii.decrypt(v) for v in arrays.to_pylist()] == [b"a", None, b"bc"]
    assert pii.decrypt(pii.encrypt_many(["x"])[0]) == b"x"


def test_a_process_started_before_a_key_was_added_reads_what_the_new_key_wrote(ring_file, settings):
    key0, key1 = settings.PII_KEY_RING[0], secrets.token_hex(32)
    pii.use_keys(
        {"PII_KEY_RING": keyfiles.format_ring({0: key0, 1: key1}), "MATCH_KEY_HEX": settings.MATCH_KEY_HEX}
    )
    written_elsewhere = pii.encrypt(b"from the server")
    pii.use_keys({})
    keyfiles.write_ring(ring_file, {0: key0, 1: key1})  # the ring file as the rotating server left it
    # this process still knows only key 0: it reads the ring again when a ciphertext names key 1
    assert pii.current_key_id() == 0
    assert pii.decrypt(written_elsewhere) == b"from the server"


def test_a_spark_executor_gets_the_whole_ring(ring_file, settings):
    key1 = secrets.token_hex(32)
    keyfiles.write_ring(ring_file, {0: settings.PII_KEY_RING[0], 1: key1})
    pii.reload_keys()
    old, new = _legacy_ciphertext(settings.PII_KEY_RING[0], b"old"), pii.encrypt(b"new")
    keys = pii.keys_hex()
    assert keys["PII_KEY_HEX"] == key1
    pii._reloaded_ring.clear()
    pii.use_keys(keys)  # what spark_features does in the executor's Python worker
    try:
        assert pii.decrypt(old) == b"old" and pii.decrypt(new) == b"new" and pii.current_key_id() == 1
    finally:
        pii.use_keys({})


def test_a_retired_key_is_named_in_the_error(ring_file, settings):
    pii.use_keys({"PII_KEY_RING": f"7:{secrets.token_hex(32)}\n", "MATCH_KEY_HEX": settings.MATCH_KEY_HEX})
    written = pii.encrypt(b"x")
    pii.use_keys({"PII_KEY_RING": f"8:{secrets.token_hex(32)}\n", "MATCH_KEY_HEX": settings.MATCH_KEY_HEX})
    try:
        with pytest.raises(KeyError, match="key 7"):
            pii.decrypt(written)
    finally:
        pii.use_keys({})


def test_ring_text_is_checked():
    key = "ab" * 32
    assert keyfiles.parse_ring(key, "x") == {0: key}
    assert keyfiles.parse_ring(f"# rotated\n0:{key}\n3:{'cd' * 32}\n", "x") == {0: key, 3: "cd" * 32}
    for bad in ("", "0:abc", f"0:{key}\n0:{key}", f"300:{key}", f"{key}\n{key}"):
        with pytest.raises(keyfiles.KeyFileError):
            keyfiles.parse_ring(bad, "x")


def _settings_with(env: dict, home: Path) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.PII_KEY_HEX, settings.MATCH_KEY_HEX)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"SIYU_HOME": str(home), "DJANGO_SETTINGS_MODULE": "siyu.project.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_pii_key_is_read_from_a_file_outside_siyu_home_and_refused_when_world_readable(tmp_path):
    key = secrets.token_hex(32)
    mounted = tmp_path / "run-secrets" / "siyu_pii_key"
    mounted.parent.mkdir()
    mounted.write_text(key + "\n")
    mounted.chmod(0o640)
    match_key = secrets.token_hex(32)
    (mounted.parent / "siyu_match_key").write_text(match_key)
    (mounted.parent / "siyu_match_key").chmod(0o600)
    home = tmp_path / "home"
    files = {"SIYU_PII_KEY_FILE": str(mounted), "SIYU_MATCH_KEY_FILE": str(mounted.parent / "siyu_match_key")}
    ok = _settings_with(files, home)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [key, match_key]
    assert not (home / "secrets" / "pii_key").exists() and not (home / "secrets" / "match_key").exists()
    mounted.chmod(0o644)
    refused = _settings_with({"SIYU_PII_KEY_FILE": str(mounted)}, home)
    assert refused.returncode != 0
    assert "readable or writable by every user" in refused.stderr and "chmod 600" in refused.stderr
    missing = _settings_with({"SIYU_PII_KEY_FILE": str(tmp_path / "nope")}, home)
    assert missing.returncode != 0 and "cannot read the key file" in missing.stderr


def test_an_audit_log_retention_below_pipl_minimum_is_refused_at_start(tmp_path):
    refused = _settings_with({"SIYU_AUDIT_LOG_RETENTION_DAYS": "365"}, tmp_path / "home")
    assert refused.returncode != 0 and "minimum of 1095 days" in refused.stderr


def test_a_ciphertext_under_a_retired_key_says_so_even_while_key_0_is_held(ring_file, settings):
    key0 = settings.PII_KEY_RING[0]
    pii.use_keys({"PII_KEY_RING": f"0:{key0}\n5:{secrets.token_hex(32)}\n", "MATCH_KEY_HEX": settings.MATCH_KEY_HEX})
    written = pii.encrypt(b"x")
    pii.use_keys({"PII_KEY_RING": f"0:{key0}\n", "MATCH_KEY_HEX": settings.MATCH_KEY_HEX})
    try:
        with pytest.raises(KeyError, match="key 5"):
            pii.decrypt(written)
    finally:
        pii.use_keys({})
