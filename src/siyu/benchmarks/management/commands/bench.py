import json
from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

JOBS = ("ingest", "resolve", "traits", "analytics", "segments", "dispatch", "wecom_sync")


class Command(BaseCommand):
    help = "Measure a job on the demo brand: throughput, peak memory and, in the same run, its reference."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=JOBS)
        parser.add_argument("--people", type=int, default=100_000)
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
