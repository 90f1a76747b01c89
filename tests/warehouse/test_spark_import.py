"""The import contract: the same exports imported on DuckDB and on Spark leave equal warehouse tables, a
re-import adds nothing twice, a malformed row is reported while the good rows land, and an import that fails
in the middle of its writes leaves nothing."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from ingest.test_import import _xlsx, taobao_row, write_taobao
from siyu.ingest.actions import import_files, ingest_api_records
from warehouse.engines import table_rows

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent.parent / "data"
# what differs between two imports of the same files on any engine: batch ids, import instants, ciphertext
VOLATILE = {"batch_id", "imported_at", "updated_at", "pii", "started_at", "finished_at", "file_sha256"}
COMPARED = ("records", "orders", "order_items", "events", "identifiers", "raw_rows", "customer_map",
            "customer_orders", "customer_channels")


def _cdnow(tmp_path: Path, lines: int = 1500) -> Path:
    out = tmp_path / "cdnow.csv"
    with open(DATA / "CDNOW_sample.txt") as f, open(out, "w", newline="") as w:
        writer = csv.writer(w)
        writer.writerow(["customer_id", "date", "number_of_cds", "dollar_value"])
        for _, text in zip(range(lines), f, strict=False):
            cid, _, day, cds, dollars = text.split()
            writer.writerow([cid, day, cds, dollars])
    return out


def _exports(tmp_path: Path) -> dict[str, Path]:
    jd = tmp_path / "jd.csv"
    jd.write_text(
        "订单号,商品ID,商品名称,订购数量,下单时间,应付金额,京东价,订单状态,下单帐号,客户姓名,客户地址,联系电话\n"
        "9001,11,精华,1,2025/3/5 9:07,300.00,200.00,已完成,jd_user,李四,北京朝阳区建国路1号,13900001111\n"
        "9001,12,面膜,2,2025/3/5 9:07,300.00,50.00,已完成,jd_user,李四,北京朝阳区建国路1号,13900001111\n",
        encoding="utf-8",
    )
    wecom = _xlsx(
        tmp_path / "wecom.xlsx",
        [
            ["客户名称", "客户备注", "性别", "添加人", "添加人账号", "添加时间", "标签", "备注手机号", "external_userid", "unionid"],
            ["小鱼", "赵敏", "女", "王导购", "guide01", "2025-01-02 08:00:00", "客户等级:VIP，兴趣:护肤", "13812345678", "wmA1", "oU1"],
        ],
    )  # fmt: skip
    taobao = write_taobao(
        tmp_path / "tb.csv",
        [
            taobao_row(status="等待买家付款", amount="99"),
            taobao_row(order="1002", buyer="tb_buyer2", phone="'13900002222"),
            taobao_row(order="1003", created="2025-02-30 10:00:00"),  # no such day: rejected, the rest lands
        ],
    )
    later = write_taobao(tmp_path / "tb-later.csv", [taobao_row(status="交易成功", amount="99"), taobao_row(order="2002")])
    return {"jd": jd, "wecom": wecom, "taobao": taobao, "later": later, "cdnow": _cdnow(tmp_path)}


def _import_everything(files: dict[str, Path]) -> dict:
    seen = {}
    seen["jd"] = import_files([files["jd"]], "jd").totals()
    seen["wecom"] = import_files([files["wecom"]], "wecom").totals()
    first = import_files([files["taobao"]], "tmall")
    seen["taobao"] = first.totals()
    seen["rejections"] = [(r["row"], r["column"]) for r in first.files[0].rejections]
    seen["again"] = import_files([files["taobao"]], "tmall").totals()  # a re-import adds nothing twice
    _resolve_by_hand()  # so that the next import keeps customer_orders (its orders' customers are known)
    seen["later"] = import_files([files["later"]], "tmall").totals()  # updates 1001's status, adds 2002
    mapping = {"customer_id": "record_id", "date": "order_time", "dollar_value": "amount", "number_of_cds": "quantity"}
    seen["cdnow"] = import_files([files["cdnow"]], "cdnow", "generic", mapping).totals()
    events = [
        {"event_id": f"e{i}", "record_id": "u1", "event_type": "page_view", "occurred_at": dt.datetime(2025, 3, 1, 2, tzinfo=dt.UTC),
         "properties": {"page": f"/p/{i}"}}
        for i in range(3)
    ]  # fmt: skip
    seen["api"] = ingest_api_records("app", "event", events)["imported"]
    seen["api_again"] = ingest_api_records("app", "event", events)["imported"]
    return seen


def _resolve_by_hand() -> None:
    """A customer per record, ids by record key: what a resolve would write to customer_map (the resolve
    itself is not this test's subject), and customer_orders rebuilt from it."""
    import pyarrow as pa

    from siyu.warehouse import backend, transaction
    from siyu.warehouse.append import append
    from siyu.warehouse.customer_orders import rebuild_customer_orders

    keys = sorted(r[0] for r in table_rows("records", ["record_key"]))
    with transaction() as con:
        append(con, "customer_map", pa.table({"record_key": keys, "customer_id": pa.array(range(1, len(keys) + 1), pa.int64())}))
        rebuild_customer_orders(backend())


def _tables() -> dict[str, list[tuple]]:
    from siyu.warehouse import backend
    from siyu.warehouse.schema import TABLES

    backend()
    out = {}
    for name in COMPARED:
        columns = [c for c in TABLES[name].names if c not in VOLATILE]
        out[name] = table_rows(name, columns)
    out["import_batches"] = table_rows("import_batches", ["source", "format", "file_name", "rows_read", "imported",
                                                          "duplicates", "rejected"])  # fmt: skip
    return out


def _on(settings, tmp_path: Path, engine: str) -> None:
    from siyu.warehouse import connection

    connection.close()
    settings.WAREHOUSE_ENGINE = engine
    settings.WAREHOUSE_PATH = tmp_path / f"{engine}.duckdb"
    settings.WAREHOUSE_SPARK_MASTER = "local[2]"
    settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")


@pytest.mark.spark
@pytest.mark.slow
def test_the_same_exports_leave_equal_tables_on_duckdb_and_on_spark(spark_session, settings, tmp_path):
    files = _exports(tmp_path)
    results = {}
    for engine in ("duckdb", "spark"):
        _on(settings, tmp_path, engine)
        results[engine] = (_import_everything(files), _tables())
    from siyu.warehouse import connection

    connection.close()
    (duck_report, duck), (spark_report, spark) = results["duckdb"], results["spark"]
    assert spark_report == duck_report
    # what a user notices, on both: the bad row reported with its row and column, the good rows landed, a
    # re-import adding nothing, the later export updating the earlier order
    assert spark_report["rejections"] == [(4, "订单创建时间")]
    assert (spark_report["taobao"]["imported"], spark_report["taobao"]["rejected"]) == (2, 1)
    assert (spark_report["again"]["imported"], spark_report["again"]["duplicates"]) == (0, 2)
    assert (spark_report["later"]["orders_new"], spark_report["later"]["orders_updated"]) == (1, 1)
    assert (spark_report["api"], spark_report["api_again"]) == (3, 0)
    for name in duck:
        assert len(spark[name]) == len(duck[name]), name
        for spark_row, duck_row in zip(spark[name], duck[name], strict=True):
            assert spark_row == duck_row, name
    assert len(spark["events"]) == 4  # the WeCom contact added and three page views
    # the later export's new order counts at once for its (already known) customer; 2002's is not known
    assert {r[1] for r in spark["customer_orders"]} >= {"taobao||1001", "taobao||1002"}


@pytest.mark.spark
def test_an_import_failing_in_the_middle_of_its_writes_leaves_nothing_on_spark(empty_spark_warehouse, tmp_path, monkeypatch):
    import siyu.ingest.actions as actions

    path = write_taobao(tmp_path / "tb.csv", [taobao_row(), taobao_row(order="1002")])
    real = actions.append_new

    def dies_on_items(con, table, rows, key):
        if table == "order_items":  # raw rows, orders (and their customer_orders) are staged by now
            raise RuntimeError("the disk filled up")
        return real(con, table, rows, key)

    monkeypatch.setattr(actions, "append_new", dies_on_items)
    with pytest.raises(RuntimeError, match="disk"):
        import_files([path], "tmall")
    for table in ("raw_rows", "raw_chunks", "records", "identifiers", "orders", "order_items", "customer_orders",
                  "import_batches"):  # fmt: skip
        assert table_rows(table) == [], table
    monkeypatch.setattr(actions, "append_new", real)
    assert import_files([path], "tmall").totals()["imported"] == 2  # and the next attempt lands whole
    assert len(table_rows("orders")) == 2


KILLER = """
import os, signal, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "siyu.project.settings"
import django
django.setup()
import siyu.ingest.actions as actions

real = actions.append_new

def killed_mid_batch(con, table, rows, key):
    if table == "order_items":  # raw rows and orders are staged by now, inside the open transaction
        os.kill(os.getpid(), signal.SIGKILL)
    return real(con, table, rows, key)

actions.append_new = killed_mid_batch
actions.import_files([sys.argv[1]], "tmall")
"""


@pytest.mark.spark
@pytest.mark.slow
def test_an_import_killed_mid_batch_on_spark_leaves_nothing_visible(empty_spark_warehouse, settings, tmp_path):
    import os
    import subprocess
    import sys

    from siyu.warehouse import backend, spark_store

    backend()  # the tables exist before the killed worker starts
    path = write_taobao(tmp_path / "tb.csv", [taobao_row(), taobao_row(order="1002")])
    env = {**os.environ, "SIYU_HOME": str(tmp_path / "home"), "SIYU_WAREHOUSE": "local[1]",
           "SIYU_WAREHOUSE_LOCATION": settings.WAREHOUSE_LOCATION}  # fmt: skip
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", KILLER, str(path)], env=env, capture_output=True, text=True)
    assert done.returncode == -9, done.stderr[-2000:]
    root = Path(settings.WAREHOUSE_LOCATION)
    assert list((root / "orders").glob("seg-*")), "the killed import had staged its orders"
    for table in ("raw_rows", "raw_chunks", "orders", "customer_orders", "import_batches"):
        assert table_rows(table) == [], table
    spark_store.vacuum(retain_seconds=0)  # what it staged is nobody's: cleaned up
    assert not list((root / "orders").glob("seg-*"))
