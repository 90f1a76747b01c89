import json
from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

JOBS = ("ingest", "resolve", "traits", "predictions", "analytics", "segments", "dispatch", "wecom_sync")


class Command(BaseCommand):
    help = "Measure a job on the demo brand: throughput, peak memory and, in the same run, its reference."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=JOBS)
        parser.add_argument("--people", type=int, default=100_000)
        parser.add_argument(
            "--orders-per-person", type=float, default=None,
            help="traits and segments (synthetic warehouse): orders per customer (traits 3.5, segments 10: "
                 "the ~10M orders at 1M people of the segments target)",
        )  # fmt: skip
        parser.add_argument(
            "--orders-per-buyer", type=float, default=None,
            help="analytics (demo brand): mean orders of each platform buyer (default 2, about 2.8M orders at "
                 "1M people; 7.2 gives about 10M)",
        )  # fmt: skip
        parser.add_argument(
            "--dataset", choices=("cdnow",), default=None,
            help="predictions only: instead of the synthetic warehouse, the public CDNOW order history imported "
                 "through --format generic, predicted as of 1997-09-30 and compared with the lifetimes package's "
                 "BG/NBD + Gamma-Gamma fitted in the same run (a dev dependency)",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--stages",
            action="store_true",
            help="ingest only: import once more with every stage run one after the other, and report the "
            "wall and CPU seconds and rows/s of each stage",
        )

    def handle(self, *args, **options):
        extra = {}
        if options["stages"]:
            if options["job"] != "ingest":
                raise CommandError("--stages applies to `siyu bench ingest` only")
            extra["stages"] = True
        if options["orders_per_person"] is not None:
            if options["job"] not in ("traits", "segments"):
                raise CommandError("--orders-per-person is for traits and segments")
            extra["orders_per_person"] = options["orders_per_person"]
        if options["orders_per_buyer"] is not None:
            if options["job"] != "analytics":
                raise CommandError("--orders-per-buyer is for analytics")
            extra["orders_per_buyer"] = options["orders_per_buyer"]
        if options["dataset"]:
            if options["job"] != "predictions":
                raise CommandError("--dataset is for predictions")
            result = import_module("siyu.benchmarks.predictions_cdnow").run()
        else:
            result = import_module(f"siyu.benchmarks.{options['job']}").run(options["people"], **extra)
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
            return
        for key, value in result.items():
            if isinstance(value, list):
                self.stdout.write(f"{key}:")
                for item in value:
                    self.stdout.write(f"  {item}")
            else:
                self.stdout.write(f"{key}: {value}")
