import subprocess
import sys

import pytest

from siyu.warehouse.schema import TABLES


def test_schema_is_created_and_transactions_roll_back(warehouse):
    con = warehouse.raw_connection()
    tables = set(warehouse.backend().list_tables())
    assert set(TABLES) <= tables
    with pytest.raises(RuntimeError):
        with warehouse.transaction() as tx:
            tx.execute("INSERT INTO events (event_key) VALUES ('e1')")
            raise RuntimeError("killed half-way")
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


def test_a_second_process_sees_the_warehouse_busy(warehouse, settings):
    warehouse.raw_connection()
    code = (
        "import duckdb,sys\n"
        "try:\n duckdb.connect(sys.argv[1])\nexcept duckdb.IOException as e:\n print('busy' if 'lock' in str(e).lower() else e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(settings.WAREHOUSE_PATH)], capture_output=True, text=True)
    assert out.stdout.strip() == "busy"
