"""`siyu bench predictions --dataset cdnow`: predictions on a public order history nobody here generated,
compared in the same run with the reference implementation.

The data: CDNOW's full transaction file (`CDNOW_master.txt`, 69,659 purchases of the 23,570 customers who
first bought from the CD retailer in 1997 Q1, followed to 1998-06-30: customer id, date, number of CDs,
dollar value), as bundled in the `lifetimes` 0.11.3 wheel (MIT). It is written as the CSV a user would
make of it (the file's own columns and its dates as written, 19970101; no order id: each line is a
purchase) and imported through the real importer with `--format generic --map customer_id=record_id
--map date=order_time --map dollar_value=amount --map number_of_cds=quantity`, then `siyu resolve`, `siyu traits --as-of
1997-09-30` and `siyu predict --as-of 1997-09-30`: the calibration period of Fader, Hardie & Lee (39
weeks), the last 9 months the holdout.

The reference, fitted in the same run on the same purchases before 1997-09-30 (days): `lifetimes`'
BetaGeoFitter and GammaGammaFitter (a dev/bench dependency only: docs/architecture.md "Predictions" says why
it is not a runtime one). Compared on the holdout read from the file itself (not from the warehouse):
- AUC of the purchase probability against "bought in the 30 days after the cut-off" (Siyu's served
  horizon; lifetimes' score: its conditional expected purchases in those 30 days) and against "bought in
  the 9 months" (lifetimes: expected purchases in the 273 days);
- Spearman's rank correlation of the CLV with each customer's spend in the 9 months (Siyu: the served
  `clv`, 12 months; lifetimes: expected purchases in the 273 days × Gamma-Gamma's expected value).
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

CUTOFF = date(1997, 9, 30)
HOLDOUT_END = date(1998, 7, 1)  # exclusive: the file ends on 1998-06-30
SHORT_DAYS = 30
MAP = ["customer_id=record_id", "date=order_time", "dollar_value=amount", "number_of_cds=quantity"]


def master_file() -> Path:
    from importlib.resources import files

    try:
        return Path(str(files("lifetimes") / "datasets" / "CDNOW_master.txt"))
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "the CDNOW comparison needs the dev dependency lifetimes 0.11.3 (make install-dev)"
        ) from exc


def transactions(path: Path) -> list[tuple[int, str, str, date, int, str]]:
    """(line, customer id as in the file, ISO date, date, CDs, dollars) per purchase."""
    rows = []
    with open(path) as f:
        for line, text in enumerate(f, 1):
            parts = text.split()
            if len(parts) != 4 or not parts[0].isdigit():
                continue
            day = date(int(parts[1][:4]), int(parts[1][4:6]), int(parts[1][6:]))
            rows.append((line, parts[0], day.isoformat(), day, int(parts[2]), parts[3]))
    return rows


def write_csv(rows, out: Path) -> Path:
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_id", "date", "number_of_cds", "dollar_value"])
        writer.writerows((cid, day.strftime("%Y%m%d"), cds, dollars) for _, cid, _, day, cds, dollars in rows)
    return out


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="siyu-bench-cdnow-") as tmp:
        env = {"SIYU_HOME": str(Path(tmp) / "home"), "SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        path = write_csv(transactions(master_file()), Path(tmp) / "cdnow.csv")
        siyu = run_child("siyu.benchmarks.predictions_cdnow", {"step": "siyu", "path": str(path)}, env=env)
        reference = run_child("siyu.benchmarks.predictions_cdnow", {"step": "lifetimes"}, env=env)
    rows = []
    for name, key in (
        (f"AUC, bought in the {SHORT_DAYS} days after the cut-off", "auc_30d"),
        ("AUC, bought in the 9-month holdout", "auc_9m"),
        ("Spearman of CLV with the 9-month holdout spend", "spearman_clv"),
    ):
        rows.append({"metric": name, "siyu": siyu["compare"][key], "lifetimes": reference["compare"][key],
                     "no_worse": siyu["compare"][key] >= reference["compare"][key] - 5e-4})  # fmt: skip
    return {
        "benchmark": "predictions",
        "dataset": "CDNOW_master (lifetimes 0.11.3 wheel): 23,570 customers, 69,659 purchases",
        "as_of": CUTOFF.isoformat(),
        "machine": machine(),
        "comparison": rows,
        "siyu": siyu,
        "lifetimes": reference,
        "target": "AUC and CLV Spearman on the 9-month holdout no worse than lifetimes' BG/NBD + Gamma-Gamma "
        "(issue 13, point 10)",
    }


def _holdout(rows) -> dict[str, dict]:
    """Per customer id of the file: bought in the 30 days after the cut-off, purchase days and spend in
    the 9 months."""
    from datetime import timedelta

    short_end = CUTOFF + timedelta(days=SHORT_DAYS)
    out: dict[str, dict] = {}
    for _, cid, _, day, _, dollars in rows:
        entry = out.setdefault(cid, {"short": False, "days": set(), "spend": 0.0})
        if CUTOFF <= day < HOLDOUT_END:
            entry["days"].add(day)
            entry["spend"] += float(dollars)
            entry["short"] = entry["short"] or day < short_end
    return out


def _compare(ids: list[str], p_short, p_long, clv, holdout) -> dict:
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    short = np.array([holdout[c]["short"] for c in ids])
    long = np.array([bool(holdout[c]["days"]) for c in ids])
    spend = np.array([holdout[c]["spend"] for c in ids])
    return {
        "customers": len(ids),
        "base_rate_30d": round(float(short.mean()), 4),
        "base_rate_9m": round(float(long.mean()), 4),
        "auc_30d": round(float(roc_auc_score(short, p_short)), 4),
        "auc_9m": round(float(roc_auc_score(long, p_long)), 4),
        "spearman_clv": round(float(spearmanr(clv, spend).statistic), 4),
    }


def _siyu(path: str) -> dict:
    import numpy as np
    from django.core.management import call_command

    from siyu.cli import migrate_quietly
    from siyu.segments.prediction_queries import calibration
    from siyu.segments.traits import cutoff_of
    from siyu.warehouse import backend

    migrate_quietly()
    timings = {}
    started = time.perf_counter()
    call_command("import", path, source="cdnow", format="generic", map=MAP, json=True, stdout=io.StringIO())
    timings["import"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    call_command("resolve", json=True, stdout=io.StringIO())
    timings["resolve"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    call_command("traits", as_of=CUTOFF, json=True, stdout=io.StringIO())
    timings["traits"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    call_command("predict", as_of=CUTOFF, json=True, stdout=io.StringIO())
    timings["predict"] = round(time.perf_counter() - started, 2)

    con = backend()
    records = con.table("records").select("record_key", "record_id")
    cmap = con.table("customer_map").select("record_key", "customer_id")
    predictions = con.table("customer_predictions")
    predictions = predictions.filter(predictions.as_of == cutoff_of(CUTOFF))
    joined = records.join(cmap, "record_key").join(predictions, "customer_id")
    table = joined.select("record_id", "customer_id", "p_purchase", "clv").to_pyarrow().to_pylist()
    customers = len({r["customer_id"] for r in table})
    rows = transactions(master_file())
    holdout = _holdout(rows)
    ids = [r["record_id"] for r in table]
    p = np.array([r["p_purchase"] for r in table], dtype="float64")
    clv = np.array([float(r["clv"]) if r["clv"] is not None else 0.0 for r in table])
    run = calibration(CUTOFF)
    report = run["report"]
    return {
        "timings": timings,
        "records": len(table),
        "customers": customers,
        "one_customer_per_cdnow_id": customers == len(holdout) == len(table),
        "served": {k: v.get("served") for k, v in report.get("quality", {}).items()},
        "features_dropped": report["training"]["features_dropped"],
        "own_holdout": {
            k: report["calibration"].get(k) for k in ("score", "auc", "auc_low", "brier", "brier_of_base_rate")
        },
        "bgnbd": report.get("bgnbd"),
        "gamma_gamma": report.get("gamma_gamma"),
        "model_version": run["model_version"],
        "compare": _compare(ids, p, p, clv, holdout),
    }


def _lifetimes() -> dict:
    import numpy as np
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import summary_data_from_transaction_data

    rows = transactions(master_file())
    holdout = _holdout(rows)
    frame = pd.DataFrame(
        [(cid, pd.Timestamp(day), float(d)) for _, cid, _, day, _, d in rows if day < CUTOFF],
        columns=["customer_id", "date", "amount"],
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summary_data_from_transaction_data(
            frame, "customer_id", "date", monetary_value_col="amount",
            observation_period_end=pd.Timestamp(CUTOFF), freq="D",
        )  # fmt: skip
        bgf = BetaGeoFitter(penalizer_coef=0.0)
        bgf.fit(summary["frequency"], summary["recency"], summary["T"])
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        ggf = GammaGammaFitter(penalizer_coef=0.0)
        ggf.fit(repeat["frequency"], repeat["monetary_value"])
        f, r, T = summary["frequency"], summary["recency"], summary["T"]
        long_days = (HOLDOUT_END - CUTOFF).days
        short = bgf.conditional_expected_number_of_purchases_up_to_time(SHORT_DAYS, f, r, T).to_numpy()
        long = bgf.conditional_expected_number_of_purchases_up_to_time(long_days, f, r, T).to_numpy()
        value = ggf.conditional_expected_average_profit(f, summary["monetary_value"]).to_numpy()
    seconds = round(time.perf_counter() - started, 2)
    ids = list(summary.index)
    return {
        "seconds": seconds,
        "bgnbd_days": {k: round(float(v), 6) for k, v in bgf.params_.items()},
        "gamma_gamma": {k: round(float(v), 6) for k, v in ggf.params_.items()},
        "compare": _compare(ids, short, long, np.asarray(long) * value, holdout),
    }


def _measure(step: str, path: str = "") -> dict:
    return _siyu(path) if step == "siyu" else _lifetimes()


if __name__ == "__main__":
    child_main(_measure)
