"""`siyu backup` and `siyu restore`: both planes and the uploads at one point, while the server runs.

The backup is a job, so it runs in the process that owns the DuckDB warehouse (the `siyu serve` when one
runs, else the command itself) and the worker runs no other job meanwhile (one job at a time). Inside it,
batches from the API and the writers' turn (resolve, imports of orders) are held while the warehouse, the
control plane and the uploads are copied, so that what one plane says happened the other holds too. On Spark
the writers' turn is also the table location's lock file, which every process writing it takes, so no commit
lands between the warehouse's copy (the newest commit's files) and the control plane's.
File mechanics: siyu.core.backup; the warehouse's copy: siyu.warehouse.snapshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from siyu import __version__
from siyu.core import backup as files
from siyu.core.actions import finish_job
from siyu.core.jobs import claim_data_plane
from siyu.core.models import Job
from siyu.core.owner import running_server
from siyu.core.progress import StepClock
from siyu.ingest.actions import batches_held
from siyu.warehouse import engine, exclusive_writes
from siyu.warehouse import snapshot as warehouse_snapshot


def run_backup_job(job, progress) -> dict:
    started = time.monotonic()
    out = Path(job.params["out"])
    step = StepClock(progress, 5)
    if not out.parent.is_dir():
        raise files.BackupError(f"the folder {out.parent} does not exist")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".siyu-backup-") as tmp:
        folder = Path(tmp)
        step(0, "waiting for imports and resolves to end")
        with batches_held(), exclusive_writes(wait=3600):
            step(1, "copying the warehouse")
            copy = warehouse_snapshot.copy_name()
            warehouse_snapshot.copy_warehouse(folder / copy)
            # Spark's counts are of the live commit just copied, read before any writer may commit again
            tables = warehouse_snapshot.table_checksums() if engine() == "spark" else None
            step(2, "copying the control plane", "warehouse")
            control = files.snapshot_control_plane(folder)
            step(3, "copying the uploads", "control_plane")
            uploads = files.snapshot_uploads(folder)
        step(4, "writing the archive", "uploads")
        manifest = {
            "format": files.FORMAT,
            "siyu_version": __version__,
            "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "job": str(job.pk),
            "control_plane": control,
            "warehouse": {
                "file": copy,
                "engine": engine(),
                "tables": tables if tables is not None else warehouse_snapshot.file_checksums(folder / copy),
            },
            "uploads": uploads,
            "keys": files.key_check(),
        }
        files.write_archive(folder, manifest, out)
        step.finish("archive")
    return {
        "out": str(out),
        "bytes": out.stat().st_size,
        "control_plane_tables": len(control["tables"]),
        "control_plane_rows": sum(t["rows"] for t in control["tables"].values()),
        "warehouse_tables": len(manifest["warehouse"]["tables"]),
        "warehouse_rows": sum(t["rows"] for t in manifest["warehouse"]["tables"].values()),
        "files": len(uploads),
        "seconds": round(time.monotonic() - started, 2),
        "timings": step.timings,
    }


def holds_data() -> list[str]:
    """What this installation already holds (a restore replaces it only when told to)."""
    found = []
    with connection.cursor() as cursor:
        migrated = Job._meta.db_table in connection.introspection.table_names(cursor)
    if migrated and Job.objects.exists():
        found.append(f"{Job.objects.count()} jobs")
    if migrated and get_user_model().objects.exists():
        found.append(f"{get_user_model().objects.count()} accounts")
    rows = sum(  # a fresh warehouse records only the upgrades it needs none of
        t["rows"] for name, t in warehouse_snapshot.table_checksums().items() if name != "warehouse_upgrades"
    )
    if rows:
        found.append(f"{rows} warehouse rows")
    uploads = files.folder_files(Path(settings.UPLOADS_DIR))
    if uploads:
        found.append(f"{len(uploads)} uploaded files")
    return found


def restore(archive: Path, *, force: bool = False) -> dict:
    """Put the backup `archive` in place of this installation's data, then compare what is there with its
    manifest. Refuses while a server runs, under keys that cannot read it, and over data unless `force`."""
    started = time.monotonic()
    if running_server() is not None:
        raise files.BackupError(
            "siyu serve (or siyu worker) is running on this SIYU_HOME: stop it before restoring"
        )
    claim_data_plane()  # raises when another command has the warehouse
    with tempfile.TemporaryDirectory(dir=settings.SIYU_HOME, prefix=".restore-") as tmp:
        folder = Path(tmp)
        manifest = files.read_archive(archive, folder)
        files.check_keys(manifest["keys"])
        warehouse_snapshot.check_same_engine(manifest["warehouse"].get("engine", "duckdb"))
        held = holds_data()
        if held and not force:
            raise files.BackupError(
                f"this SIYU_HOME ({settings.SIYU_HOME}) is not empty ({', '.join(held)}): restore into a fresh "
                "one, or pass --force to replace what it holds"
            )
        files.restore_control_plane(folder, manifest["control_plane"])
        warehouse = manifest["warehouse"]
        warehouse_snapshot.put_back(folder / warehouse["file"], warehouse.get("engine", "duckdb"))
        files.restore_uploads(folder)
    problems = compare(manifest)
    if not problems:
        _finish_backup_job(manifest)
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)  # a backup of an older release
    return {
        "archive": str(archive),
        "made_at": manifest["made_at"],
        "siyu_version": manifest["siyu_version"],
        "verified": not problems,
        "differences": problems,
        "control_plane_rows": sum(t["rows"] for t in manifest["control_plane"]["tables"].values()),
        "warehouse_rows": sum(t["rows"] for t in manifest["warehouse"]["tables"].values()),
        "files": len(manifest["uploads"]),
        "seconds": round(time.monotonic() - started, 2),
    }


def compare(manifest: dict) -> list[str]:
    """What this installation holds that differs from the manifest (counts and checksums), in words."""
    if engine() == "spark":
        found_warehouse = warehouse_snapshot.table_checksums()
    else:
        found_warehouse = warehouse_snapshot.file_checksums(Path(settings.WAREHOUSE_PATH))
    return (
        files.differences(
            manifest["control_plane"]["tables"], files.control_plane_tables(), "control-plane table"
        )
        + files.differences(manifest["warehouse"]["tables"], found_warehouse, "warehouse table")
        + files.differences(manifest["uploads"], files.folder_files(Path(settings.UPLOADS_DIR)), "file")
    )


def _finish_backup_job(manifest: dict) -> None:
    """The backup's own job was running when its snapshot was taken: in the restored installation it is
    the backup this data came from, done."""
    job = Job.objects.filter(pk=manifest["job"], status=Job.Status.RUNNING).first()
    if job is not None:
        finish_job(job, {"restored_from_this_backup": True, "made_at": manifest["made_at"]})


def verify(archive: Path) -> dict:
    """Restore `archive` into a temporary SIYU_HOME (and, for PostgreSQL, a scratch database) in a child
    process and return its report."""
    from siyu.core import pii

    keys = pii.keys_hex()
    with tempfile.TemporaryDirectory(prefix="siyu-verify-") as home:
        env = {
            **os.environ,
            "SIYU_HOME": home,
            # a Spark warehouse is restored into a location in the temporary home, on the same master
            "SIYU_WAREHOUSE": settings.WAREHOUSE_SPARK_MASTER if engine() == "spark" else "",
            "SIYU_WAREHOUSE_LOCATION": str(Path(home) / "warehouse-spark"),
            "SIYU_PII_KEY": keys["PII_KEY_HEX"],
            "SIYU_MATCH_KEY": keys["MATCH_KEY_HEX"],
        }
        scratch = None
        if connection.vendor == "postgresql":
            scratch = f"{settings.DATABASES['default']['NAME']}_verify_{uuid.uuid4().hex[:8]}"
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{scratch}"')
            env["DATABASE_URL"] = _database_url(scratch)
        else:
            env.pop("DATABASE_URL", None)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "siyu.cli", "restore", str(archive), "--json"],
                env=env,
                capture_output=True,
                text=True,
            )
        finally:
            if scratch:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    if done.returncode != 0:
        raise files.BackupError(
            f"restoring the backup into a temporary SIYU_HOME failed: {done.stderr.strip()[-2000:]}"
        )
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth + '@' if auth else ''}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
