"""`siyu predict [--as-of YYYY-MM-DD] [--horizon-days N] [--json]`: every customer's purchase propensity and
CLV with their calibration (in-process, or inside `siyu serve` when it owns the warehouse)."""

import json

from django.core.management.base import BaseCommand, CommandError

from siyu.core.errors import SiyuError
from siyu.core.progress import exit_unless_done, run_with_progress
from siyu.segments import prediction_queries
from siyu.segments.management.commands.traits import _as_of
from siyu.segments.predictions import PredictionSettings
from siyu.segments.traits import cutoff_of


class Command(BaseCommand):
    help = (
        "Predict for every customer the probability of a purchase in the next N days (gradient boosting) and "
        "the CLV (BG/NBD + Gamma-Gamma), as of now or (--as-of) the start of a past day, and check both on "
        "the last horizon before it (calibration). When the check shows a model no better than the base rate "
        "or chance, or a degenerate BG/NBD fit, a simpler score is served instead and the output (and "
        "--json's `warnings`, `served`) says so."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=_as_of,
            metavar="YYYY-MM-DD",
            help="use only orders and events before this day (kept as a snapshot; default: now, the current "
            "predictions)",
        )
        parser.add_argument(
            "--horizon-days",
            type=int,
            metavar="N",
            help="predict a purchase in the next N days (default: settings PREDICTIONS, 30)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, as_of=None, horizon_days=None, **options):
        try:
            cutoff_of(as_of)  # a date in the future is refused before any work
            PredictionSettings.from_settings(horizon_days=horizon_days)
        except SiyuError as exc:
            raise CommandError(str(exc)) from exc
        params = {"as_of": as_of.isoformat()} if as_of else {}
        if horizon_days is not None:
            params["horizon_days"] = horizon_days
        job = run_with_progress("predict", params, quiet=options["json"])
        exit_unless_done(job, "predict", self.stderr)
        report = job.result
        # In the console's language (Chinese by default): the warnings are for operators.
        warnings = prediction_queries.quality_warnings(report, report["horizon_days"])
        served = prediction_queries.served_scores(report)
        if options["json"]:
            report = {**report, "warnings": warnings, "served": served}
            self.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=True))
            return
        when = f"as of {as_of}" if as_of else "now"
        self.stdout.write(
            f"Predictions for {report['customers']:,} customers {when} in {report['seconds']:.1f} s "
            f"(horizon {report['horizon_days']} days; mean probability of a purchase "
            f"{report['mean_p_purchase']:.1%})."
        )
        calibration = report.get("calibration") or {}
        if calibration.get("not_available"):
            self.stdout.write(f"Calibration not available: {calibration['not_available']}")
        elif calibration.get("auc") is None:
            self.stdout.write("Calibration: the holdout has buyers only or no buyers; AUC is not defined.")
        else:
            self.stdout.write(
                f"Calibration on the last {report['horizon_days']} days: AUC {calibration['auc']:.3f}, "
                f"Brier {calibration['brier']:.4f} (base rate {calibration['base_rate']:.1%}, "
                f"{calibration['customers']:,} customers); top decile lift "
                f"{(calibration['lift'][0]['lift'] or 0):.2f}."
            )
        self.stdout.write(
            "Served: purchase probability from "
            + ("the simple score (recency x purchase count)" if served["p_purchase"] == "simple" else "the model")
            + "; CLV from "
            + {"pace": "the simple estimate (past year's pace)", "bgnbd": "BG/NBD + Gamma-Gamma"}.get(
                served["clv"], "nothing (no buyer)"
            )
            + "."
        )
        for warning in warnings:
            self.stdout.write(f"! {warning}")
        if "bgnbd" in report:
            b, g = report["bgnbd"], report["gamma_gamma"]
            self.stdout.write(
                f"BG/NBD r={b['r']:.3f} α={b['alpha']:.3f} a={b['a']:.3f} b={b['b']:.3f}; "
                f"Gamma-Gamma p={g['p']:.3f} q={g['q']:.3f} γ={g['gamma']:.3f}."
            )
            check = report.get("clv_calibration") or {}
            if "predicted_total" in check:
                self.stdout.write(
                    f"BG/NBD on the last {check['holdout_days']} days: predicted "
                    f"{check['predicted_total']:,.0f} purchase days, actual {check['actual_total']:,.0f}."
                )
        else:
            self.stdout.write(f"CLV not available: {report.get('clv', {}).get('not_available')}")
