"""`siyu backup OUT [--verify] [--json]`: a consistent backup of both planes and the uploads (siyu.pipeline.backup)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.backup import BackupError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.pipeline import backup


class Command(BaseCommand):
    help = (
        "Write a backup of the control plane, the warehouse and the uploads, all at one point, to OUT (a tar "
        "file). Runs inside `siyu serve` when it runs. The keys are not in it: back up SIYU_HOME/secrets (or "
        "your SIYU_*_KEY variables) separately."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="the archive to write (e.g. siyu-2026-12-07.tar)")
        parser.add_argument(
            "--verify",
            action="store_true",
            help="then restore it into a temporary SIYU_HOME and compare counts and checksums with its manifest",
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, out: str, verify: bool, **options):
        target = Path(out).expanduser().resolve()
        if target.is_dir():
            raise CommandError(f"{target} is a folder: give the archive's file name")
        job = run_with_progress("backup", {"out": str(target)}, quiet=options["json"])
        exit_unless_done(job, "backup", self.stderr)
        report = dict(job.result)
        if verify:
            try:
                report["verify"] = backup.verify(target)
            except BackupError as exc:
                raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
        else:
            self.stdout.write(
                f"Backed up {report['control_plane_rows']:,} control-plane rows ({report['control_plane_tables']} "
                f"tables), {report['warehouse_rows']:,} warehouse rows ({report['warehouse_tables']} tables) and "
                f"{report['files']:,} files to {report['out']} ({report['bytes']:,} bytes) in {report['seconds']:.1f} s."
            )
            self.stdout.write(
                "The keys are not in the archive: keep SIYU_HOME/secrets (or your key variables) safe separately."
            )
            if verify:
                self._say_verified(report["verify"])
        if verify and not report["verify"]["verified"]:
            raise SystemExit(1)

    def _say_verified(self, checked: dict) -> None:
        if checked["verified"]:
            self.stdout.write(
                "Verified: restored into a temporary SIYU_HOME, every count and checksum matches."
            )
        else:
            self.stderr.write("The restored copy differs from the backup:")
            for line in checked["differences"]:
                self.stderr.write(f"  {line}")
