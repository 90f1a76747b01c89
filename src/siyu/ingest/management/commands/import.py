import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from siyu.core.progress import run_with_progress
from siyu.ingest.normalise.identifiers import not_identifier_words
from siyu.ingest.sources.formats import FORMAT_CHOICES


class Command(BaseCommand):
    help = (
        "Import channel exports (CSV/XLSX/XLS). Each file is one batch; malformed rows are rejected with "
        "their row number and reason while the good rows land (kept encrypted for download, then deleted); "
        "re-importing adds nothing twice. While `siyu serve` runs, the import is handed to it and the server "
        "resolves the new records right after (customers, traits and segments follow without `siyu resolve`). "
        "With no server running the import runs here and the new records wait: run `siyu resolve`, or start "
        "`siyu serve`, which resolves waiting records when it starts."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--source", required=True, help="your name for where the files came from, e.g. tmall")
        parser.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="what a column is (see docs/import-formats.md); FIELD may be id:<type>",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object with the report last")

    def handle(self, *args, **options):
        mapping = {}
        for pair in options["map"]:
            column, sep, target = pair.rpartition("=")
            if not sep or not column or not target:
                raise CommandError(f"--map {pair!r}: expected COLUMN=FIELD")
            mapping[column] = target
        if options["format"] == "generic" and not mapping:
            raise CommandError("--format generic needs --map COLUMN=FIELD")
        params = {
            "paths": [str(Path(p).resolve()) for p in options["paths"]],
            "source": options["source"],
            "format": options["format"],
            "mapping": mapping,
        }
        job = run_with_progress("import", params, quiet=options["json"])
        if job.status != "done":
            raise CommandError(job.error or "import failed")
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, default=str))
        else:
            self._print_report(report)
        if report.get("failed_files"):
            raise CommandError(f"{len(report['failed_files'])} file(s) could not be imported")

    def _print_report(self, report):
        for f in report["files"]:
            if f["error"]:
                self.stderr.write(f"✗ {f['error']}")
                continue
            self.stdout.write(
                f"{Path(f['file']).name} [{f['format']}, {f['encoding']}]: rows_read={f['rows_read']} "
                f"imported={f['imported']} duplicates={f['duplicates']} rejected={f['rejected']} "
                f"(new records {f['records_new']}, new orders {f['orders_new']}, updated orders {f['orders_updated']})"
            )
            for n in f.get("not_identifiers") or []:
                with translation.override("en"):
                    why = not_identifier_words(n["reason"])
                self.stdout.write(f"  {n['records']} values in {n['column']} are not identifiers: {why}")
            for r in f["rejections"][:10]:
                self.stdout.write(f"  row {r['row']} [{r['column']}]: {r['reason']}")
            if f["rejected"] > 10:
                self.stdout.write(f"  … {f['rejected'] - 10} more")
            if f.get("rejected_file"):
                self.stdout.write(f"  rejected rows: {f['rejected_file']}")
            if f.get("suppressed"):
                self.stdout.write(f"  {f['suppressed']} rows of erased people left out (privacy suppression list)")
        t = report
        self.stdout.write(
            f"total: rows_read={t['rows_read']} imported={t['imported']} duplicates={t['duplicates']} "
            f"rejected={t['rejected']}"
        )
        self._print_resolve(report.get("resolve") or {})
        if report.get("rejected_files"):
            days = report.get("rejected_retention_days")
            self.stdout.write(
                f"The rejected rows files are encrypted and deleted after {days:g} days: read one with "
                "`siyu export rejected FILE OUT.csv`, or download it from the import's page in the console."
            )

    def _print_resolve(self, resolve: dict) -> None:
        """What happens to the new records next (siyu.pipeline.actions.run_import_job)."""
        if resolve.get("requested"):
            self.stdout.write(
                f"siyu serve resolves the new records next (job {resolve['job']}): customers, traits and "
                "segments follow in a moment."
            )
        elif resolve.get("reason") == "no_server":
            self.stdout.write(
                "The new records are not customers yet: run `siyu resolve` (no `siyu serve` is running; a "
                "running server resolves after every import, and resolves waiting records when it starts)."
            )
        elif resolve.get("reason") == "off":
            self.stdout.write(
                "Resolving after imports is switched off (SIYU_RESOLVE_AFTER_IMPORT=0): run `siyu resolve`."
            )
