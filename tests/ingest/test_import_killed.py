"""A real kill (SIGKILL, no cleanup) in the middle of writing a batch leaves nothing of that batch."""

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

pytestmark = pytest.mark.django_db

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "siyu.project.settings"
    import django
    django.setup()
    import siyu.ingest.actions as actions

    real = actions.append_new

    def killed_mid_batch(con, table, rows, key):
        if table == "orders":  # raw rows and records are written by now, inside the open transaction
            os.kill(os.getpid(), signal.SIGKILL)
        return real(con, table, rows, key)

    actions.append_new = killed_mid_batch
    actions.import_files([sys.argv[1]], "tmall")
    """
)


def test_killed_import_leaves_no_partial_batch(tmp_path):
    export = tmp_path / "tb.csv"
    export.write_bytes(
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间\r\n".encode("gb18030")
        + "".join(f'="{1000 + i}",buyer{i},10.00,交易成功,2025-03-01 10:00:00\r\n' for i in range(500)).encode("gb18030")
    )
    env = {**os.environ, "SIYU_HOME": str(tmp_path / "home"), "SIYU_WAREHOUSE": str(tmp_path / "wh.duckdb")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", KILLER, str(export)], env=env, capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    for table in ("raw_rows", "raw_chunks", "records", "identifiers", "orders", "import_batches"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
