"""An installation written by an earlier release opens with this code: the control plane migrates, the
warehouse upgrades itself (siyu.warehouse.upgrades), the console lists its customers and an import works.

The fixture (tests/fixtures/previous_release: a tiny brand of 12 orders by 8 buyers, imported and resolved)
was written by the commit in its COMMIT file with the fixed test keys below; make.sh there regenerates it."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.own_home]

FIXTURE = Path(__file__).parent.parent / "fixtures" / "previous_release"
PII_KEY = "1" * 64  # the fixture's keys (make.sh)
MATCH_KEY = "2" * 64

OPEN_WITH_THIS_RELEASE = """
import json, re, sys
from siyu.cli import main
main(["jobs"])  # what any command does first: bring the control plane's schema up to date
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from siyu.staff.actions import create_user
from siyu.warehouse import raw_connection
executor = MigrationExecutor(connection)
pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
con = raw_connection()  # opening it applies the warehouse's upgrades
upgrades = [r[0] for r in con.execute("SELECT name FROM warehouse_upgrades ORDER BY name").fetchall()]
client = Client()
client.force_login(create_user("upgrader", "pw-upgrade-1", "admin"))
page = client.get("/customers/")
listed = sorted(set(re.findall(r'href="/customers/(\\d+)/"', page.content.decode())))
main(["import", sys.argv[1], "--source", "tmall"])
main(["resolve"])
print(json.dumps({
    "pending_migrations": len(pending), "upgrades": upgrades, "status": page.status_code, "listed": listed,
    "customers": con.execute("SELECT count(*) FROM customer_summary").fetchone()[0],
    "orders": con.execute("SELECT count(*) FROM orders").fetchone()[0],
}))
"""


def test_an_installation_of_the_previous_release_migrates_upgrades_lists_customers_and_imports(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    for name in ("siyu.sqlite3", "warehouse.duckdb"):
        with gzip.open(FIXTURE / f"{name}.gz") as packed, open(home / name, "wb") as out:
            shutil.copyfileobj(packed, out)
    newer = tmp_path / "newer.csv"
    newer.write_text(
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,收货人手机\n"
        "9001,newbuyer1,20.00,交易成功,2025-04-01 10:00:00,13800000001\n"
        "9002,newbuyer2,30.00,交易成功,2025-04-02 10:00:00,13800000002\n",
        encoding="utf-8",
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "SIYU_HOME": str(home),
            "SIYU_PII_KEY": PII_KEY,
            "SIYU_MATCH_KEY": MATCH_KEY,
            "SIYU_SECRET_KEY": "upgrade-test",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", OPEN_WITH_THIS_RELEASE, str(newer)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout.strip().splitlines()[-1])
    assert opened["pending_migrations"] == 0
    assert "summary_pii" in opened["upgrades"]  # an upgrade the earlier release did not have
    assert opened["status"] == 200
    assert len(opened["listed"]) == 8  # the earlier release's customers, all listed
    assert opened["customers"] == 10  # and the two new buyers of the import
    assert opened["orders"] == 14
