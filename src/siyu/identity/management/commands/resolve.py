"""`siyu resolve [--json]`: resolve identities into customers (in-process, or inside `siyu serve`)."""

import json
import sys

from django.core.management.base import BaseCommand

from siyu.core.progress import run_with_progress


class Command(BaseCommand):
    help = "Resolve every imported record into a customer (stable ids, merge log) and rebuild the summary."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the run report as one JSON object")

    def handle(self, *args, **options):
        job = run_with_progress("resolve", {})
        if job.status != job.Status.DONE:
            self.stderr.write(f"siyu resolve failed: {job.error or job.status}")
            sys.exit(1)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        self.stdout.write(
            f"Resolved {report['records']:,} records into {report['customers']:,} customers "
            f"in {report['seconds']:.1f} s: {report['new_customers']:,} new, {report['merges']:,} merged"
            + (f", {report['splits']:,} split" if report.get("splits") else "")
            + "."
        )
        if report["quarantined"]:
            self.stdout.write(
                f"{report['quarantined']:,} identifier values are shared by too many people and were not used "
                "for linking (see quarantined_identifiers)."
            )
