"""`siyu backup` / `siyu restore` with real processes: a backup taken while `siyu serve` owns the warehouse
restores into a fresh SIYU_HOME with every count and checksum equal; a restore refuses keys that cannot read
the backup and a home that holds data; a backup killed half-way leaves no archive and nothing changed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time

import pytest

pytestmark = pytest.mark.slow

PII_KEY = "a1" * 32
MATCH_KEY = "b2" * 32
BUYERS = 20


def _env(home, **extra) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "SIYU_HOME": str(home),
            "DJANGO_SETTINGS_MODULE": "siyu.project.settings",
            "PYTHONUNBUFFERED": "1",
            "SIYU_PII_KEY": PII_KEY,
            "SIYU_MATCH_KEY": MATCH_KEY,
        }
    )
    env.update(extra)
    return env


def _siyu(home, *args, **extra):
    return subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", *args], env=_env(home, **extra), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _python(home, code: str, *args, **extra):
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], env=_env(home, **extra), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _export(tmp_path):
    path = tmp_path / "tmall.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,收货人手机\n")
        for i in range(60):
            out.write(
                f"{7000 + i},buyer{i % BUYERS},{10 + i}.00,交易成功,2025-03-01 10:00:00,139{i % BUYERS:08d}\n"
            )
    return path


IMPORT_AND_SERVE = """
import sys
from siyu.cli import main
main(["import", sys.argv[1], "--source", "tmall"])
main(["resolve"])
from pathlib import Path
(Path(sys.argv[3]) / "rejected-or-upload.txt").write_text("an uploaded file")
main(["serve", "--port", sys.argv[2]])
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(home, server):
    deadline = time.monotonic() + 300
    while not (home / "server.json").exists():
        if server.poll() is not None:
            pytest.fail(f"siyu serve did not come up: {server.stderr.read()}")
        assert time.monotonic() < deadline, "siyu serve did not come up"
        time.sleep(0.2)


@pytest.mark.own_home
def test_a_backup_taken_while_serving_restores_into_a_fresh_home_with_equal_counts_and_checksums(tmp_path):
    home = tmp_path / "home"
    (home / "uploads").mkdir(parents=True)
    archive = tmp_path / "backup.tar"
    server = _python(home, IMPORT_AND_SERVE, _export(tmp_path), _free_port(), home / "uploads")
    try:
        _wait_for_server(home, server)
        # handed to the server (it owns the warehouse), then restored into a temporary home and compared
        code, out, err = _finish(_siyu(home, "backup", str(archive), "--verify", "--json"))
        assert code == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report["verify"]["verified"], report["verify"]["differences"]
        # a restore over the served home is refused, saying why
        code, _out, err = _finish(_siyu(home, "restore", str(archive)))
        assert code != 0 and "stop it before restoring" in err
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert not any("secrets" in name or "key" in name for name in names)  # keys never travel with the data
    assert manifest["warehouse"]["tables"]["raw_rows"]["rows"] == 60
    assert manifest["warehouse"]["tables"]["customer_summary"]["rows"] == BUYERS
    assert manifest["control_plane"]["tables"]["core_job"]["rows"] >= 3  # import, resolve, this backup
    assert "rejected-or-upload.txt" in manifest["uploads"]

    # a fresh home with other keys: refused before anything is touched
    code, _out, err = _finish(_siyu(tmp_path / "other", "restore", str(archive), SIYU_PII_KEY="c3" * 32))
    assert code != 0 and "PII key of this installation cannot read this backup" in err
    # the right keys: restored, verified, and the data reads back (customers with their clear PII)
    fresh = tmp_path / "fresh"
    code, out, err = _finish(
        _python(
            fresh,
            "from siyu.cli import main; main(['restore', __import__('sys').argv[1], '--json']);"
            "from siyu.warehouse import backend; t = backend().table('customer_summary');"
            "print(t.count().execute())",
            archive,
        )
    )
    assert code == 0, err
    restored, customers = out.strip().splitlines()[-2:]
    assert json.loads(restored)["verified"]
    assert int(customers) == BUYERS
    # restoring again over it asks for --force
    code, _out, err = _finish(_siyu(fresh, "restore", str(archive)))
    assert code != 0 and "--force" in err


KILLED_BACKUP = """
import os, signal, sys
from siyu.cli import main
main(["import", sys.argv[1], "--source", "tmall"])
from siyu.core.leases import enable_for_commands
enable_for_commands()  # as `siyu backup` from a shell: its job holds a lease
import siyu.core.backup as files
def killed(folder):
    os.kill(os.getpid(), signal.SIGKILL)  # the warehouse and control plane are copied, the locks held
files.snapshot_uploads = killed
main(["backup", sys.argv[2]])
"""

AFTER_KILLED_BACKUP = """
import json, sys
from siyu.cli import main
main(["jobs"])  # the next look settles the killed job
from siyu.core.models import Job
from siyu.warehouse import backend
killed = Job.objects.get(kind="backup")
main(["backup", sys.argv[1], "--json"])
print(json.dumps({"status": killed.status, "error": killed.error[:200],
                  "raw_rows": int(backend().table("raw_rows").count().execute())}))
"""


@pytest.mark.own_home
def test_a_backup_killed_half_way_leaves_no_archive_and_the_next_one_works(tmp_path):
    home = tmp_path / "home"
    archive = tmp_path / "backup.tar"
    code, _out, err = _finish(_python(home, KILLED_BACKUP, _export(tmp_path), archive))
    assert code == -signal.SIGKILL, err
    assert not archive.exists()
    assert not list(tmp_path.glob("backup.tar*"))  # not even a partial file under a similar name

    code, out, err = _finish(_python(home, AFTER_KILLED_BACKUP, archive))
    assert code == 0, err
    after = json.loads(out.strip().splitlines()[-1])
    assert after["status"] == "failed" and "process is gone" in after["error"]
    assert after["raw_rows"] == 60  # nothing committed was lost
    assert archive.exists()
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["warehouse"]["tables"]["raw_rows"]["rows"] == 60


POSTGRES_BACKUP = """
import json, sys
from siyu.cli import main
main(["import", sys.argv[1], "--source", "tmall"])
main(["backup", sys.argv[2], "--verify", "--json"])
"""


@pytest.mark.postgres
def test_a_postgresql_control_plane_is_backed_up_and_verified_in_a_scratch_database(tmp_path):
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("runs on PostgreSQL: DATABASE_URL names none (make test's PostgreSQL pass sets it)")
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'siyu'}_backup_{secrets.token_hex(3)}"
    admin = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db_url = urlunsplit(parts._replace(path=f"/{name}"))
        archive = tmp_path / "backup.tar"
        code, out, err = _finish(
            _python(tmp_path / "home", POSTGRES_BACKUP, _export(tmp_path), archive, DATABASE_URL=db_url)
        )
        assert code == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report["verify"]["verified"], report["verify"]["differences"]
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            manifest = json.load(tar.extractfile("manifest.json"))
        assert "control.pgdump" in names
        assert manifest["control_plane"]["engine"] == "postgresql"
        assert manifest["warehouse"]["tables"]["raw_rows"]["rows"] == 60
        # the scratch database of --verify is gone
        left = admin.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", [f"{name}_verify_%"]
        ).fetchone()
        assert left == (0,)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


SPARK_IMPORT_AND_BACKUP = """
import sys
from siyu.cli import main
main(["import", sys.argv[1], "--source", "tmall"])
main(["resolve"])
main(["backup", sys.argv[2], "--json"])
"""

SPARK_RESTORE_AND_COUNT = """
import sys
from siyu.cli import main
main(["restore", sys.argv[1], "--json"])
from siyu.warehouse import backend
print(backend().table("customer_summary").count().execute())
"""


@pytest.mark.spark
def test_a_spark_warehouse_is_in_the_backup_and_restores_into_a_fresh_home(tmp_path):
    """On Spark the archive holds the table location's newest commit (manifests and Parquet segments);
    restored into a fresh home on Spark, every count and checksum equals the manifest's and the customers
    read back; a DuckDB installation refuses it before touching anything."""
    import shutil

    if shutil.which("java") is None:
        pytest.fail("the Spark tests need Java 17 (`make java` installs it)")
    spark = {"SIYU_WAREHOUSE": "local[1]", "SIYU_SPARK_SHUFFLE_PARTITIONS": "2"}
    archive = tmp_path / "backup.tar"
    code, out, err = _finish(
        _python(tmp_path / "home", SPARK_IMPORT_AND_BACKUP, _export(tmp_path), archive, **spark)
    )
    assert code == 0, err
    made = json.loads(out.strip().splitlines()[-1])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["warehouse"]["engine"] == "spark" and manifest["warehouse"]["file"] == "warehouse-spark"
    assert any(n.startswith("warehouse-spark/raw_rows/seg-") and n.endswith(".parquet") for n in names)
    assert manifest["warehouse"]["tables"]["raw_rows"]["rows"] == 60
    assert manifest["warehouse"]["tables"]["customer_summary"]["rows"] == BUYERS
    assert made["warehouse_rows"] == sum(t["rows"] for t in manifest["warehouse"]["tables"].values())

    # an installation whose warehouse runs on DuckDB refuses it, saying why
    code, _out, err = _finish(_siyu(tmp_path / "duck", "restore", str(archive)))
    assert code != 0 and "spark warehouse" in err

    code, out, err = _finish(_python(tmp_path / "fresh", SPARK_RESTORE_AND_COUNT, archive, **spark))
    assert code == 0, err
    restored, customers = out.strip().splitlines()[-2:]
    report = json.loads(restored)
    assert report["verified"], report["differences"]
    assert report["warehouse_rows"] == made["warehouse_rows"]
    assert int(customers) == BUYERS
    assert list((tmp_path / "fresh" / "warehouse-spark" / "raw_rows").glob("seg-*/*.parquet"))
