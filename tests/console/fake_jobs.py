"""Job runners standing in for the importer and the resolver, so the console's own part of the flow
(upload -> job -> progress -> report -> rejected rows) is tested on its own."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import polars as pl

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
                "rejected_file": None,
                "format": "taobao",
                "rows_read": 3,
                "imported": 2,
                "duplicates": 0,
                "rejected": 1,
            }
        )
        progress(index + 1, len(paths), f"read {Path(path).name}", force=True)
    rejected_file = _sealed_rejected_rows(job, paths[0])
    files[0]["rejected_file"] = rejected_file
    n = len(paths)
    return {
        "rows_read": 3 * n,
        "imported": 2 * n,
        "duplicates": 0,
        "rejected": n,
        "files": files,
        "batches": [{"batch_id": f"batch-{i}", "file_name": f["file_name"]} for i, f in enumerate(files)],
        "rejected_files": [rejected_file],
    }


def run_resolve(job, progress) -> dict:
    progress(1, 1, "done", force=True)
    return {"records": 4, "customers": 3, "new_customers": 3, "merges": 1}


def _sealed_rejected_rows(job, path) -> str:
    """One rejected row of the first file, sealed by the real writer (siyu.ingest.rejected)."""
    from siyu.ingest.prepare import Rejection
    from siyu.ingest.rejected import write_rejected

    columns = ["订单编号", "收货人姓名", "联系手机", "买家留言"]
    prepared = SimpleNamespace(
        source=job.params["source"], file_sha256=str(job.pk), path=Path(path), format="taobao", columns=columns,
        rejected=[Rejection(4, "订单编号", "missing record id")],
        rejected_frame=pl.DataFrame({"__row__": [4], "订单编号": [None], "收货人姓名": ["张伟"],
                                     "联系手机": ["13812345678"], "买家留言": ["送到上海静安区南京西路1号"]}),
        column_fields={"订单编号": "order_id", "收货人姓名": "name", "联系手机": "phone"},
    )  # fmt: skip
    return str(write_rejected(prepared))
