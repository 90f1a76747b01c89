import json
from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

JOBS = ("ingest", "resolve", "review", "traits", "predictions", "analytics", "segments", "dispatch", "wecom_sync", "community", "loyalty", "components", "scale", "load")


class Command(BaseCommand):
    help = "Measure a job on the demo brand: throughput, peak memory and, in the same run, its reference."

    def add_arguments(self, parser):
        parser.add_argument("job", choices=JOBS)
        parser.add_argument(
            "--people", type=int, nargs="+", default=None,
            help="people in the demo brand (100,000); scale: several sizes (100000 1000000 3000000)",
        )  # fmt: skip
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
        parser.add_argument("--seed", type=int, default=None, help="review only: the demo brand's seed (default 7)")
        parser.add_argument(
            "--dataset", nargs="+", metavar="NAME",
            help="resolve: labelled public person data shipped with Siyu, imported with --format generic, "
                 "against Splink alone at its best threshold (febrl1 febrl2 febrl3 febrl4 census, or generic "
                 "for febrl3 febrl4 census) instead of the demo brand; without it `siyu bench resolve` runs the "
                 "demo brand and then generic; `--dataset none` skips the datasets. predictions: `cdnow`, the "
                 "public CDNOW order history imported through --format generic, predicted as of 1997-09-30 and "
                 "compared with the lifetimes package's BG/NBD + Gamma-Gamma fitted in the same run (a dev "
                 "dependency)",
        )  # fmt: skip
        parser.add_argument(
            "--groups", type=int, default=None, help="community: customer groups in the fake WeCom (10,000)"
        )
        parser.add_argument(
            "--members", type=int, default=None,
            help="community: group memberships in all (1,000,000); loyalty: members, one order each today (1,000,000)",
        )
        parser.add_argument(
            "--entries", type=int, default=None, help="loyalty: earn entries already in the ledger (20,000,000)"
        )
        parser.add_argument(
            "--engine", choices=("duckdb", "spark"), default=None,
            help="ingest, components and scale: the data plane to run on (duckdb, or spark in local mode; default duckdb)",
        )  # fmt: skip
        parser.add_argument("--records", type=int, default=None, help="components: records in the graph (1,000,000)")
        parser.add_argument("--users", type=int, default=None, help="load: console operators browsing (50)")
        parser.add_argument(
            "--api-users", type=int, default=None, help="load: API clients posting batches back to back (2)"
        )
        parser.add_argument("--batch", type=int, default=None, help="load: events per API request (5000, at most 10,000; 0: none)")
        parser.add_argument("--duration", type=float, default=None, help="load: seconds of load (60)")
        parser.add_argument("--threads", type=int, default=None, help="load: the server's web threads (serve's default)")
        parser.add_argument(
            "--database-url", default=None,
            help="load: the PostgreSQL control plane of the server under load (default "
                 "postgres://postgres@127.0.0.1:5432/siyu_bench_load, created when missing)",
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
        if options["job"] == "scale":
            options["people"] = options["people"] or [100_000, 1_000_000, 3_000_000]
        elif options["people"] and len(options["people"]) > 1:
            raise CommandError("several --people sizes are for `siyu bench scale`")
        else:
            options["people"] = (options["people"] or [100_000])[0]
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
        for name, jobs in (("groups", ("community",)), ("members", ("community", "loyalty", "load")),
                           ("entries", ("loyalty",))):  # fmt: skip
            if options[name] is not None:
                if options["job"] not in jobs:
                    raise CommandError(f"--{name} is for {', '.join(jobs)}")
                extra[name] = options[name]
        for name, jobs in (("engine", ("ingest", "components", "scale")), ("records", ("components",))):
            if options[name] is not None:
                if options["job"] not in jobs:
                    raise CommandError(f"--{name} is for {', '.join(jobs)}")
                extra[name] = options[name]
        if options["job"] == "components":
            extra.setdefault("records", 1_000_000)
        for name in ("users", "api_users", "batch", "duration", "threads", "database_url"):
            if options[name] is not None:
                if options["job"] != "load":
                    raise CommandError(f"--{name.replace('_', '-')} is for load")
                extra[name] = options[name]
        if options["seed"] is not None:
            if options["job"] != "review":
                raise CommandError("--seed is for review")
            extra["seed"] = options["seed"]
        if options["job"] == "predictions" and options["dataset"]:
            if options["dataset"] != ["cdnow"]:
                raise CommandError("`siyu bench predictions --dataset` takes cdnow")
            options["dataset"] = None  # printed like the other jobs' results
            result = import_module("siyu.benchmarks.predictions_cdnow").run()
        else:
            datasets = None
            if options["dataset"] == ["none"]:
                options["dataset"] = None
            elif options["job"] == "resolve" and not options["dataset"]:
                datasets = ["generic"]  # the demo brand, then the public person data (issue 13)
            if options["dataset"]:
                result = self._datasets(options)
            else:
                result = import_module(f"siyu.benchmarks.{options['job']}").run(options["people"], **extra)
                if datasets:
                    result["generic_datasets"] = self._datasets({**options, "dataset": datasets})
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
            return
        if options["dataset"]:
            self._print_datasets(result)
            return
        if options["job"] == "scale":
            self._print_scale(result)
            return
        generic = result.pop("generic_datasets", None)
        for key, value in result.items():
            if isinstance(value, list):
                self.stdout.write(f"{key}:")
                for item in value:
                    self.stdout.write(f"  {item}")
            else:
                self.stdout.write(f"{key}: {value}")
        if generic:
            self.stdout.write("generic datasets (labelled public person data, --format generic):")
            self._print_datasets(generic)

    def _datasets(self, options) -> dict:
        from siyu.benchmarks import resolve_datasets
        from siyu.benchmarks.datasets import DATASETS, GENERIC

        if options["job"] != "resolve":
            raise CommandError("--dataset applies to `siyu bench resolve` only")
        names = [n for name in options["dataset"] for n in (GENERIC if name == "generic" else [name])]
        unknown = [n for n in names if n not in DATASETS]
        if unknown:
            raise CommandError(f"unknown dataset {', '.join(unknown)}; choose from {', '.join(DATASETS)} or generic")
        return resolve_datasets.run(names)

    def _print_datasets(self, result: dict) -> None:
        self.stdout.write(f"machine: {result['machine']}")
        header = f"{'dataset':<8} {'records':>7}  {'':<22} {'precision':>9} {'recall':>8} {'F1':>8} {'seconds':>8} {'peak MB':>8}"
        self.stdout.write(header)
        for row in result["datasets"]:
            best = row["splink_alone"]["best"]
            lines = (
                ("Siyu (whole resolution)", row["resolve"]["scores"], row["resolve"]),
                ("deterministic alone", row["deterministic_alone"]["scores"], row["deterministic_alone"]),
                (f"Splink alone @ {best['threshold']:g}", best, row["splink_alone"]),
            )
            for i, (label, s, run) in enumerate(lines):
                name, records = (row["dataset"], f"{row['records']:,}") if i == 0 else ("", "")
                self.stdout.write(
                    f"{name:<8} {records:>7}  {label:<22} {s['precision']:>9.5f} {s['recall']:>8.5f} {s['f1']:>8.5f} "
                    f"{run['seconds']:>8.1f} {run['peak_rss_mb']:>8.0f}"
                )
            verdict = "met" if row["met"] else "NOT met"
            self.stdout.write(f"{'':<8} {'':>7}  F1 difference {row['f1_difference']:+.5f} ({row['target']}: {verdict})")

    def _print_scale(self, result: dict) -> None:
        from siyu.benchmarks.scale import STAGES

        self.stdout.write(f"engine: {result['engine']}   machine: {result['machine']}   load: {result['load_average']}")
        self.stdout.write(f"{'people':>10} {'rows':>11}  " + "  ".join(f"{s + ' s / MB':>20}" for s in STAGES))
        for size in result["sizes"]:
            cells = []
            for stage in STAGES:
                done = size["stages"].get(stage)
                cells.append(f"{done['seconds']:>10.1f} / {done['peak_rss_mb']:>7.0f}" if done else f"{'-':>20}")
            self.stdout.write(f"{size['people']:>10,} {size['rows']:>11,}  " + "  ".join(cells))
            if size["failed"]:
                failed = size["failed"]
                self.stdout.write(f"{'':>10} not run on {result['engine']} from {failed['stage']}: {failed['error']}")
        for stage, grows in result["growth"].items():
            cpu = result["cpu_growth"].get(stage, {})
            self.stdout.write(
                f"growth of {stage}: wall time ∝ N^{grows['fitted']} (between sizes {grows['between_sizes']}), "
                f"CPU time ∝ N^{cpu.get('fitted')} ({cpu.get('between_sizes')})"
            )

