"""`siyu traits [--as-of YYYY-MM-DD] [--json]`: compute every customer's traits (in-process, or inside
`siyu serve` when it owns the warehouse)."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from siyu.core.errors import SiyuError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.segments.traits import cutoff_of


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--as-of {text!r}: give a date as YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = (
        "Compute RFM, value layers, price sensitivity, lifecycle and AIPL stages, purchase cycles, computed "
        "tags and custom stages for every customer, as of now or (--as-of) the start of a past day."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=_as_of,
            metavar="YYYY-MM-DD",
            help="use only orders and events before this day (kept as a snapshot; default: now, the current "
            "traits)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, as_of=None, **options):
        try:
            cutoff_of(as_of)  # a date in the future is refused before any work
        except SiyuError as exc:
            raise CommandError(str(exc)) from exc
        params = {"as_of": as_of.isoformat()} if as_of else {}
        job = run_with_progress("traits", params, quiet=options["json"])
        exit_unless_done(job, "traits", self.stderr)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        when = f"as of {as_of}" if as_of else "now"
        self.stdout.write(
            f"Traits of {report['customers']:,} customers {when} in {report['seconds']:.1f} s; "
            f"{report['buyers_in_window']:,} bought in the window."
        )
        for title, key in (
            ("RFM layers", "rfm_layers"),
            ("Value layers", "value_layers"),
            ("Lifecycle", "lifecycle_stages"),
            ("AIPL", "aipl_stages"),
            ("Computed tags", "computed_tags"),
        ):
            if report[key]:
                self.stdout.write(f"{title}: " + ", ".join(f"{k} {v:,}" for k, v in report[key].items()))
        for name, stages in report["stage_sets"].items():
            self.stdout.write(f"Stage set {name}: " + ", ".join(f"{k} {v:,}" for k, v in stages.items()))
