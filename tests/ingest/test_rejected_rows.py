"""Rejected rows: one sealed file per imported file (a re-import replaces it), readable in clear or masked,
deleted after the retention period."""

import csv
import io
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from test_import import taobao_row, write_taobao

from siyu.ingest import rejected
from siyu.ingest.actions import import_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    """A folder of uploads of this test's own."""
    settings.UPLOADS_DIR = tmp_path / "uploads"
    return settings.UPLOADS_DIR


def _csv(path, masked=False) -> list[str]:
    return "".join(rejected.rejected_csv(Path(path), masked=masked)).lstrip("\ufeff").splitlines()


def _bad_file(tmp_path, name="bad.csv", order="-"):
    row = taobao_row(order=order, name="张伟", phone="'13812345678", address="上海市 静安区 南京西路1号")
    return write_taobao(tmp_path / name, [taobao_row(order="1"), row])


def test_the_rejected_rows_are_sealed_and_read_back_in_clear(warehouse, tmp_path):
    report = import_files([_bad_file(tmp_path)], "tmall")
    stored = Path(report.files[0].rejected_file)
    assert stored.parent == rejected.folder() and stored.stat().st_mode & 0o777 == 0o600
    on_disk = stored.read_bytes()
    for clear in ("13812345678", "张伟", "南京西路", "tb_buyer1"):
        assert clear.encode() not in on_disk
    lines = _csv(stored)
    assert lines[0].startswith("file,row,column,reason,订单编号,买家会员名,买家支付宝账号")
    # the cells as the importer read them ("-" is empty, the apostrophe guard gone)
    assert lines[1].startswith("bad.csv,3,订单编号,missing record id,,tb_buyer1")
    assert "13812345678" in lines[1] and "张伟" in lines[1]


def test_the_masked_reading_masks_pii_and_leaves_out_what_nobody_mapped(warehouse, tmp_path):
    report = import_files([_bad_file(tmp_path)], "tmall")
    header, row = _csv(report.files[0].rejected_file, masked=True)
    # 宝贝标题 is a product (clear), 买家会员名 an identifier (masked), the trailing unnamed column unmapped
    assert header == "file,row,column,reason,订单编号,买家会员名,买家支付宝账号,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量,店铺名称"
    cells = dict(zip(header.split(","), next(csv.reader([row])), strict=True))
    assert cells["收货人姓名"] == "张*" and cells["联系手机"] == "138****5678"
    assert cells["收货地址"] == "上海市 静安****" and cells["买家会员名"] == "tb****r1"
    assert cells["宝贝标题"] == "面霜" and cells["订单状态"] == "交易成功"


def test_one_file_per_imported_file_a_reimport_replaces_it(warehouse, tmp_path):
    bad = _bad_file(tmp_path)
    other = _bad_file(tmp_path, "other.csv", order="")
    first = import_files([bad], "tmall").files[0].rejected_file
    again = import_files([bad], "tmall").files[0].rejected_file
    assert first == again
    assert len(list(rejected.folder().iterdir())) == 1
    both = import_files([bad, other], "tmall")
    assert len({f.rejected_file for f in both.files}) == 2
    assert len(list(rejected.folder().iterdir())) == 2
    # the same file under another label is another import of it
    assert import_files([bad], "tmall-2").files[0].rejected_file != first
    # a file that imports cleanly has none
    clean = write_taobao(tmp_path / "clean.csv", [taobao_row(order="9")])
    assert import_files([clean], "tmall").files[0].rejected_file is None


def test_rejected_rows_are_deleted_after_the_retention_period(warehouse, tmp_path, settings):
    settings.REJECTED_ROWS_RETENTION_DAYS = 30
    old = Path(import_files([_bad_file(tmp_path)], "old").files[0].rejected_file)
    young = Path(import_files([_bad_file(tmp_path)], "young").files[0].rejected_file)
    day = 86_400
    os.utime(old, (time.time() - 31 * day, time.time() - 31 * day))
    os.utime(young, (time.time() - 29 * day, time.time() - 29 * day))
    assert rejected.expired()
    assert rejected.purge_expired() == {"deleted": 1, "sealed": 0, "files": [old.name]}
    assert not old.exists() and young.exists()
    assert not rejected.expired()
    settings.REJECTED_ROWS_RETENTION_DAYS = 7
    # every import purges too, so that the retention holds without a server
    import_files([write_taobao(tmp_path / "ok.csv", [taobao_row(order="5")])], "x")
    assert not young.exists()


def test_a_clear_csv_of_an_earlier_version_is_sealed_in_place_and_still_readable(warehouse, settings):
    rejected.folder().mkdir(parents=True, exist_ok=True)
    legacy = rejected.folder() / "rejected-20261101-101010-abcd1234.csv"
    legacy.write_text("file,row,column,reason,收货人姓名,联系手机\ntb.csv,3,订单编号,missing record id,张伟,13812345678\n",
                      encoding="utf-8-sig")  # fmt: skip
    written = time.time() - 86_400
    os.utime(legacy, (written, written))
    assert rejected.purge_expired()["sealed"] == 1
    assert b"13812345678" not in legacy.read_bytes() and abs(legacy.stat().st_mtime - written) < 1
    assert _csv(legacy) == ["file,row,column,reason,收货人姓名,联系手机", "tb.csv,3,订单编号,missing record id,张伟,13812345678"]
    assert _csv(legacy, masked=True) == ["file,row,column,reason", "tb.csv,3,订单编号,missing record id"]


def test_the_cli_reports_the_file_and_decrypts_it_on_request(warehouse, tmp_path):
    out = io.StringIO()
    call_command("import", str(_bad_file(tmp_path)), "--source", "tmall", stdout=out)
    text = out.getvalue()
    line = next(x for x in text.splitlines() if x.strip().startswith("rejected rows:"))
    path = line.split("rejected rows:", 1)[1].strip()
    assert Path(path).is_file() and "siyu export rejected" in text and "30 days" in text
    target = tmp_path / "out.csv"
    done = io.StringIO()
    call_command("export", "rejected", path, str(target), stdout=done)
    assert "Wrote 1 rejected rows" in done.getvalue()
    assert "13812345678" in target.read_text(encoding="utf-8-sig")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a rejected-rows file"):
        call_command("export", "rejected", str(tmp_path / "bad.csv"), str(tmp_path / "x.csv"))


def test_rejected_rows_are_formula_safe_and_import_back_as_they_were(warehouse, tmp_path):
    """Rejected rows are opened in a spreadsheet to be fixed: a cell starting with = + - @ gets a leading
    apostrophe (siyu.core.spreadsheet), which the importer strips, so the fixed file imports the original
    values; numbers stay numbers."""
    injection = '=HYPERLINK("http://evil.example","点我")'
    bad = taobao_row(order="-", buyer=injection, name="@SUM(A1)", amount="-12.50")
    path = write_taobao(tmp_path / "bad.csv", [taobao_row(order="1"), bad])
    stored = Path(import_files([path], "tmall").files[0].rejected_file)
    text = "".join(rejected.rejected_csv(stored, masked=False)).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    cells = rows[1]
    assert "'" + injection in cells and "'@SUM(A1)" in cells
    assert not [c for c in cells if c[:1] in ("=", "@", "+", "\t", "\r") or (c[:1] == "-" and c != "-12.50")]
    # fixed (an order number filled in) and imported again: the values as they were, without the apostrophe
    header, fixed = rows[0][4:], rows[1][4:]
    fixed[header.index("订单编号")] = "2"
    again = tmp_path / "fixed.csv"
    with again.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, fixed])
    report = import_files([again], "tmall")
    assert report.files[0].imported == 1
    records = warehouse.backend().raw_sql("SELECT batch_id FROM raw_rows WHERE file_name = 'fixed.csv'").fetchall()
    from siyu.warehouse.raw import raw_row

    row = raw_row(records[0][0], 2)
    assert row["买家会员名"] == injection and row["收货人姓名"] == "@SUM(A1)"


def test_a_legacy_clear_file_is_formula_safe_too(warehouse):
    rejected.folder().mkdir(parents=True, exist_ok=True)
    legacy = rejected.folder() / "rejected-20261101-101010-abcd1235.csv"
    legacy.write_text("file,row,column,reason,收货人姓名\ntb.csv,3,订单编号,missing record id,=1+1\n", encoding="utf-8-sig")
    assert _csv(legacy) == ["file,row,column,reason,收货人姓名", "tb.csv,3,订单编号,missing record id,'=1+1"]
