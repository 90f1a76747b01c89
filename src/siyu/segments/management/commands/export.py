"""`siyu export identities|customers OUT.csv|xlsx` and `siyu export segment ID OUT.csv|xlsx`."""

import json

from django.core.management.base import BaseCommand, CommandError

from siyu.core.errors import SiyuError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.ingest.actions import export_rejected
from siyu.segments.exports import EXPORTS
from siyu.warehouse.exports import export_path


class Command(BaseCommand):
    help = (
        "Export identities (source,record_id,customer_id: one row per imported record) or customers "
        "(customer_summary without clear PII) or a segment's members (siyu export segment ID OUT) to CSV or XLSX; "
        "or decrypt an import's rejected rows (siyu export rejected FILE OUT.csv, FILE as `siyu import` "
        "reported it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=(*EXPORTS, "rejected"))
        parser.add_argument(
            "target", nargs="+", metavar="[ID] OUT", help="segment id (segment only), output .csv or .xlsx"
        )
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args, what, target, **options):
        if what == "rejected":
            self._rejected(target, options["json"])
            return
        params = {"what": what}
        if what == "segment":
            if len(target) != 2 or not target[0].isdigit():
                raise CommandError("usage: siyu export segment ID OUT.csv|xlsx")
            params["segment_id"] = int(target[0])
        elif len(target) != 1:
            raise CommandError(f"usage: siyu export {what} OUT.csv|xlsx")
        try:
            path = export_path(target[-1])
        except SiyuError as exc:
            raise CommandError(str(exc)) from exc
        params["path"] = str(path)
        # Runs here, or inside `siyu serve` when it owns the warehouse.
        job = run_with_progress("export", params, quiet=options["json"])
        exit_unless_done(job, "export", self.stderr)
        result = job.result
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
        else:
            self.stdout.write(f"Wrote {result['rows']:,} {what} rows to {result['path']}.")

    def _rejected(self, target, as_json: bool) -> None:
        """Rejected rows need no warehouse: decrypted here, whether or not a server runs."""

        if len(target) != 2:
            raise CommandError("usage: siyu export rejected FILE OUT.csv")
        try:
            result = export_rejected(target[0], target[1])
        except SiyuError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result, ensure_ascii=False, sort_keys=True))
        else:
            self.stdout.write(f"Wrote {result['rows']} rejected rows to {result['path']}.")
