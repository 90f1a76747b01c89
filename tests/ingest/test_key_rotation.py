"""`siyu keys rotate`: every ciphertext an import leaves (raw chunks, records' PII, sealed rejected rows) is
re-encrypted under a new key in committed batches while reads go on; a stopped rotation resumes; the old key
is retired only once nothing is left under it."""

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from test_import import taobao_row, write_taobao

from siyu.core import keyfiles, pii, rotation
from siyu.core.owner import submit_job
from siyu.ingest import rejected
from siyu.ingest.actions import import_files
from siyu.warehouse.raw import raw_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"


def _imported(warehouse, tmp_path, settings):
    rows = [taobao_row(order=str(1000 + i), buyer=f"tb_{i}", phone=f"'1381234{i:04d}") for i in range(12)]
    rows.append(taobao_row(order="-", name="张伟", phone="'13812345678"))  # rejected: a sealed file
    import_files([write_taobao(tmp_path / "orders.csv", rows)], "tmall")
    con = warehouse.raw_connection()
    # one record's PII as the code before key rotation wrote it: nonce + AES-GCM output, no key id
    nonce = os.urandom(12)
    legacy = nonce + AESGCM(bytes.fromhex(settings.PII_KEY_RING[0])).encrypt(nonce, b'{"name":"old"}', None)
    con.execute(
        "UPDATE records SET pii = ? WHERE record_key = (SELECT min(record_key) FROM records)", [legacy]
    )
    batch_id, first = con.execute("SELECT batch_id, min(row_number) FROM raw_rows GROUP BY 1").fetchone()
    return batch_id, first


def _under(key_id: int) -> int:
    return rotation.key_status()["under_key"].get(str(key_id), 0)


def test_rotation_stopped_midway_resumes_and_reads_never_fail(warehouse, tmp_path, settings, ring_file):
    batch_id, first = _imported(warehouse, tmp_path, settings)
    before = raw_row(batch_id, first)
    status = rotation.key_status()
    assert status["current"] == 0 and status["stores"]["rejected-rows files"] == {"0": 1}
    total = _under(0)
    assert total == 14  # 12 records' PII, a raw chunk, a sealed file

    assert rotation.add_key() == 1
    assert keyfiles.read_ring(settings.PII_KEY_SOURCE, "PII_KEY").keys() == {0, 1}
    reads = []

    def read_between_batches(*_):
        reads.append(raw_row(batch_id, first))  # a decrypt while the rotation runs
        return len(reads) >= 3  # then stop, as a killed rotation would (each batch is committed)

    report = rotation.reencrypt_all(batch=2, stop=read_between_batches)
    done = report["reencrypted"]  # three batches of at most 2: the raw chunk, then 2 and 2 records
    assert report["stopped"] and done == 5
    assert reads == [before] * 3
    assert _under(0) == total - done and _under(1) == done
    with pytest.raises(rotation.KeyRotationError, match="still under key 0"):
        rotation.retire_key(0)

    job = submit_job("rotate_keys", {"add_key": False})  # siyu keys rotate --resume
    assert job.status == "done", job.error
    assert job.result["reencrypted"] == total - done and job.result["left_under_old_keys"] == {}
    assert _under(0) == 0 and _under(1) == total
    assert raw_row(batch_id, first) == before
    names = {r[0] for r in warehouse.raw_connection().execute("SELECT pii FROM records").fetchall()}
    assert {pii.key_id_of(bytes(n)) for n in names} == {1}

    assert rotation.retire_key(0) == {"retired": 0, "keys": [1]}
    assert keyfiles.read_ring(settings.PII_KEY_SOURCE, "PII_KEY").keys() == {1}
    assert raw_row(batch_id, first) == before  # everything reads without key 0
    sealed = next((settings.UPLOADS_DIR / "rejected").iterdir())
    assert pii.sealed_key_id(sealed) == 1
    assert any("张伟" in line for line in rejected.rejected_csv(sealed, masked=False))
    with pytest.raises(rotation.KeyRotationError, match="current key"):
        rotation.retire_key(1)


def test_keys_commands_report_and_a_ring_from_the_environment_is_not_written(
    warehouse, settings, ring_file, capsys
):
    call_command("keys", "status", "--json")
    assert '"current": 0' in capsys.readouterr().out
    settings.PII_KEY_SOURCE = ("env", f"0:{settings.PII_KEY_RING[0]}")
    with pytest.raises(rotation.KeyRotationError, match="SIYU_PII_KEY"):
        rotation.add_key()
