"""`siyu retention [--dry-run] [--json]`: remove each kind of data past its retention period
(siyu.core.retention), with a report; `siyu serve` runs it daily."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from siyu.core.progress import exit_unless_done, run_with_progress


class Command(BaseCommand):
    help = (
        "Remove raw rows, touches, chat archive messages, rejected-rows files and audit entries older than "
        "their retention period (SIYU_<KIND>_RETENTION_DAYS; unset: kept forever) and report what went."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be removed; remove nothing"
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, dry_run=False, **options):
        job = run_with_progress("retention", {"dry_run": dry_run}, quiet=options["json"])
        exit_unless_done(job, "retention", self.stderr)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        verb = "would remove" if report["dry_run"] else "removed"
        for row in report["kinds"]:
            if row["retention_days"] is None:
                self.stdout.write(f"{row['label']}: kept forever")
            else:
                self.stdout.write(
                    f"{row['label']}: kept {row['retention_days']:g} days (before {row['cut_off'][:16]}): "
                    f"{verb} {row['removed']:,}"
                )
