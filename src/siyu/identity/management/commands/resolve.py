"""`siyu resolve [--json] [--full]`: resolve identities into customers (in-process, or inside `siyu serve`)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.identity.errors import IdentityError
from siyu.identity.probabilistic import MatchSettings


class Command(BaseCommand):
    help = "Resolve every imported record into a customer (stable ids, merge log) and rebuild the summary."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the run report as one JSON object")
        parser.add_argument(
            "--compare",
            nargs="+",
            metavar="FIELD",
            help="also compare these mapped fields, each by its kind (e.g. province, or id:ssn: an identifier "
            "named here is weighed as evidence, one edit allowed, instead of joining records by itself); first "
            "and last names, birthday, postcode, address and city of generic imports are compared anyway; "
            "default: the setting IDENTITY_MATCHING['compare']",
        )
        parser.add_argument(
            "--labels",
            metavar="FILE",
            help="CSV of record pairs known to be one person (record_key_a,record_key_b or "
            "source_a,record_id_a,source_b,record_id_b): the model learns from them",
        )
        parser.add_argument(
            "--match-threshold", type=float, help="match probability that merges (default 0.95)"
        )
        parser.add_argument("--review-threshold", type=float, help="lowest probability sent to review (0.8)")
        parser.add_argument(
            "--shared-evidence-threshold",
            type=float,
            help="merge pairs that agree only on what a household shares (a masked name at an address, no "
            "phone) from this probability, where the records show one person of the surname at the address; "
            "some household members get merged (default: never)",
        )
        parser.add_argument(
            "--deterministic-only",
            action="store_true",
            help="skip the probabilistic stage (strong identifiers only)",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="resolve every record again and retrain the model (default: only the records imported since "
            "the last run and the customers they touch, when nothing else changed)",
        )

    def handle(self, *args, **options):
        try:  # a field that cannot be compared is said before any work starts
            MatchSettings(compare=tuple(options["compare"] or ()))
        except IdentityError as exc:
            raise CommandError(str(exc)) from exc
        match = {
            "compare": options["compare"],
            "labels": str(Path(options["labels"]).resolve()) if options["labels"] else None,
            "match_threshold": options["match_threshold"],
            "review_threshold": options["review_threshold"],
            "shared_evidence_threshold": options["shared_evidence_threshold"],
            "enabled": False if options["deterministic_only"] else None,
        }
        params = {"match": {k: v for k, v in match.items() if v is not None}, "full": options["full"]}
        job = run_with_progress("resolve", params)
        exit_unless_done(job, "resolve", self.stderr)
        report = job.result
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        if report.get("mode") == "incremental":
            how = f"incrementally ({report['compared_records']:,} new or touched records)"
        else:
            how = f"in a full run ({report['full_reason']})" if report.get("full_reason") else "in a full run"
        self.stdout.write(
            f"Resolved {report['records']:,} records into {report['customers']:,} customers {how} "
            f"in {report['seconds']:.1f} s: {report['new_customers']:,} new, {report['merges']:,} merged"
            + (f", {report['splits']:,} split" if report.get("splits") else "")
            + "."
        )
        matched = report.get("probabilistic") or {}
        if matched.get("ran"):
            review = report.get("review") or {}
            self.stdout.write(
                f"Probabilistic stage: {matched['clusters_joined']:,} clusters joined by "
                f"{matched['links']:,} links at p >= {matched['match_threshold']} and "
                f"{matched.get('auto_linked', 0):,} by automatic rules, "
                f"{matched['blocked_by_guard']:,} blocked by the household guard; "
                f"{review.get('waiting', 0):,} pairs of customers wait for review in the console "
                f"({review.get('kept_apart', 0):,} kept apart: only what a household shares agrees)."
            )
        traits = report.get("traits") or {}
        if traits.get("error"):
            self.stderr.write(f"Traits were not refreshed: {traits['error']}")
        elif traits:
            self.stdout.write(
                f"Traits of {traits['customers']:,} customers refreshed in {traits['seconds']:.1f} s (siyu traits)."
            )
            predicted = traits.get("predictions") or {}
            if predicted.get("error"):
                self.stderr.write(f"Predictions were not refreshed: {predicted['error']}")
            elif predicted.get("skipped"):
                self.stdout.write(f"Predictions skipped: {predicted['skipped']}.")
            elif predicted:
                self.stdout.write(
                    f"Predictions of {predicted['customers']:,} customers refreshed in "
                    f"{predicted['seconds']:.1f} s (siyu predict)."
                )
        if report["quarantined"]:
            self.stdout.write(
                f"{report['quarantined']:,} identifier values are shared by records that cannot all be one person "
                "and were not used for linking (the console's Quarantined identifiers page lists them):"
            )
            shown = report.get("quarantined_identifiers") or []
            for q in shown[:10]:
                self.stdout.write(
                    f"  {q['id_type']} {q['value_hint'] or '(no hint)'}: {q['records']:,} records, "
                    f"{q['names'] or 0:,} names, {', '.join(q['sources'])}: {q['reason']}"
                )
            if report["quarantined"] > 10:
                self.stdout.write(f"  … {report['quarantined'] - 10:,} more")
