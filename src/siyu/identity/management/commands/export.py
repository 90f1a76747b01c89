"""`siyu export identities|customers OUT.csv|xlsx`."""

import json

from django.core.management.base import BaseCommand, CommandError

from siyu.core.errors import SiyuError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.identity.actions import EXPORTS
from siyu.identity.queries import export_path


class Command(BaseCommand):
    help = (
        "Export identities (source,record_id,customer_id: one row per imported record) or customers "
        "(customer_summary without clear PII) to CSV or XLSX."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=EXPORTS)
        parser.add_argument("out", help="output file, .csv or .xlsx")
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args, what, out, **options):
        try:
            path = export_path(out)
        except SiyuError as exc:
            raise CommandError(str(exc)) from exc
        # Runs here, or inside `siyu serve` when it owns the warehouse.
        job = run_with_progress("export", {"what": what, "path": str(path)}, quiet=options["json"])
        exit_unless_done(job, "export", self.stderr)
        result = job.result
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
        else:
            self.stdout.write(f"Wrote {result['rows']:,} {what} rows to {result['path']}.")
