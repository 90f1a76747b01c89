"""Job runners standing in for the importer and the resolver, so the console's own part of the flow
(upload -> job -> progress -> report -> rejected rows) is tested on its own."""

from __future__ import annotations

import csv
from pathlib import Path

from django.conf import settings

CALLS: list[dict] = []


def run_import(job, progress) -> dict:
    CALLS.append(dict(job.params))
    paths = job.params["paths"]
    progress(0, len(paths), "reading", force=True)
    files = []
    for index, path in enumerate(paths):
        files.append(
            {
                "file_name": Path(path).name,
                "format": "taobao",
                "rows_read": 3,
                "imported": 2,
                "duplicates": 0,
                "rejected": 1,
            }
        )
        progress(index + 1, len(paths), f"read {Path(path).name}", force=True)
    rejected = Path(settings.SIYU_HOME) / "rejected" / f"{job.pk}.csv"
    rejected.parent.mkdir(parents=True, exist_ok=True)
    with rejected.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "row", "reason", "联系手机"])
        writer.writerow([files[0]["file_name"], 4, "no order id", "13812345678"])
    n = len(paths)
    return {
        "rows_read": 3 * n,
        "imported": 2 * n,
        "duplicates": 0,
        "rejected": n,
        "files": files,
        "batches": [{"batch_id": f"batch-{i}", "file_name": f["file_name"]} for i, f in enumerate(files)],
        "rejected_file": str(rejected),
    }


def run_resolve(job, progress) -> dict:
    progress(1, 1, "done", force=True)
    return {"records": 4, "customers": 3, "new_customers": 3, "merges": 1}
