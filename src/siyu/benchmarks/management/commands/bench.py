import json
from importlib import import_module

from django.core.management.base import BaseCommand

JOBS = ("ingest", "resolve", "traits", "predictions", "analytics", "segments", "dispatch")


class Command(BaseCommand):
    help = "Measure a job on the demo brand: throughput, peak memory and, in the same run, its reference."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=JOBS)
        parser.add_argument("--people", type=int, default=100_000)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        result = import_module(f"siyu.benchmarks.{options['job']}").run(options["people"])
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
