"""`siyu restore IN [--force] [--json]`: put a backup in place and verify it (siyu.pipeline.backup)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.backup import BackupError
from siyu.core.errors import DataPlaneBusy
from siyu.pipeline import backup


class Command(BaseCommand):
    help = (
        "Restore a backup made by `siyu backup` into this SIYU_HOME (refused when it holds data, unless "
        "--force), then compare every table's count and checksum and every file with the backup's manifest. "
        "Put the keys the backup was made with in place first (SIYU_HOME/secrets or SIYU_*_KEY)."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the backup file")
        parser.add_argument("--force", action="store_true", help="replace what this SIYU_HOME holds")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, archive: str, force: bool, **options):
        try:
            report = backup.restore(Path(archive).expanduser().resolve(), force=force)
        except (BackupError, DataPlaneBusy) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
        elif report["verified"]:
            self.stdout.write(
                f"Restored the backup of {report['made_at']} (Siyu {report['siyu_version']}): "
                f"{report['control_plane_rows']:,} control-plane rows, {report['warehouse_rows']:,} warehouse rows, "
                f"{report['files']:,} files; every count and checksum matches its manifest."
            )
        if not report["verified"]:
            if not options["json"]:
                self.stderr.write("The restored data differs from the backup's manifest:")
                for line in report["differences"]:
                    self.stderr.write(f"  {line}")
            raise SystemExit(1)
