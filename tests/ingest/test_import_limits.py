"""Import limits (settings IMPORT_MAX_*, siyu.ingest.readers.limits): zip bombs, sheets of too many rows or
columns and huge cells are refused with a message naming the file and the limit, and nothing of the file
lands."""

from __future__ import annotations

import struct
import zipfile

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from siyu.ingest.actions import import_files
from siyu.ingest.errors import ImportFailed
from siyu.ingest.readers import limits as limits_module
from siyu.ingest.readers import read_table
from siyu.ingest.readers.limits import LimitExceeded, import_limits

pytestmark = pytest.mark.django_db

HEADER = "会员卡号,手机,姓名"


def write_xlsx(path, rows: list[list], header=("会员卡号", "手机", "姓名")):
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, list(header))
    for i, row in enumerate(rows, start=1):
        sheet.write_row(i, 0, row)
    book.close()
    return path


def stored_sheet_xlsx(path, sheet_xml: bytes, compression=zipfile.ZIP_DEFLATED):
    """A minimal workbook whose first sheet is `sheet_xml` (as a zip bomb would be built)."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')  # noqa: E501
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')  # noqa: E501
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')  # noqa: E501
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')  # noqa: E501
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def sheet(rows: int, cell: str = "x") -> bytes:
    row = f'<row><c t="inlineStr"><is><t>{cell}</t></is></c><c t="inlineStr"><is><t>1</t></is></c></row>'.encode()
    head = b'<row><c t="inlineStr"><is><t>name</t></is></c><c t="inlineStr"><is><t>n</t></is></c></row>'
    return (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b"<sheetData>" + head + row * rows + b"</sheetData></worksheet>")  # fmt: skip


def refused(path) -> str:
    with pytest.raises(LimitExceeded) as caught:
        read_table(path)
    return str(caught.value)


def test_a_zip_bomb_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    # 600,000 identical rows: 40 MB of XML deflate to well under 1 % of that
    path = stored_sheet_xlsx(tmp_path / "订单.xlsx", sheet(600_000))
    info = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size / info.compress_size > 100
    parsed = []
    monkeypatch.setattr("siyu.ingest.readers.table._read_xlsx_columnar", lambda *a: parsed.append(a))
    monkeypatch.setattr("siyu.ingest.readers.table._read_workbook", lambda *a: parsed.append(a))
    message = refused(path)
    assert "订单.xlsx" in message and "压缩" in message and "100" in message
    assert parsed == []  # neither reader saw it


def test_a_zip_declaring_a_huge_part_is_refused_from_its_directory(tmp_path):
    path = write_xlsx(tmp_path / "big.xlsx", [["M1", "13812345678", "张伟"]])
    data = bytearray(path.read_bytes())
    # the central directory's record of the sheet: its uncompressed size says 4 GB
    name = b"xl/worksheets/sheet1.xml"
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    message = refused(path)
    assert "big.xlsx" in message and "4,096 MB" in message and "解压后" in message


def test_a_sheet_of_too_many_rows_is_refused_before_it_is_parsed(tmp_path, settings, monkeypatch):
    settings.IMPORT_MAX_ROWS = 100
    path = write_xlsx(tmp_path / "members.xlsx", [[f"M{i}", "13812345678", "张伟"] for i in range(101)])
    monkeypatch.setattr("siyu.ingest.readers.table._read_xlsx_columnar", lambda *a: pytest.fail("parsed"))
    message = refused(path)
    assert "members.xlsx" in message and "100" in message and "最多导入" in message
    monkeypatch.undo()
    # exactly at the limit: read
    write_xlsx(tmp_path / "ok.xlsx", [[f"M{i}", "13812345678", "张伟"] for i in range(100)])
    assert read_table(tmp_path / "ok.xlsx").frame.height == 100


def test_a_sheet_of_more_rows_than_excel_holds_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_COMPRESSION_RATIO = 1e9  # the ratio would refuse it first
    path = stored_sheet_xlsx(tmp_path / "forged.xlsx", sheet(1_048_576))
    message = refused(path)
    assert "forged.xlsx" in message and "1,048,576" in message


def test_the_calamine_path_counts_rows_while_it_reads(tmp_path, settings, monkeypatch):
    settings.IMPORT_MAX_ROWS = 100
    path = write_xlsx(tmp_path / "members.xlsx", [[f"M{i}", "13812345678", "张伟"] for i in range(150)])
    monkeypatch.setattr("siyu.ingest.readers.table.check_archive", lambda *a: None)  # only the reader
    monkeypatch.setattr("siyu.ingest.readers.table._XLSX_BATCH", 40)
    monkeypatch.setattr("siyu.ingest.readers.table._read_xlsx_columnar", lambda *a: None)
    assert "members.xlsx" in refused(path)


def test_a_csv_of_too_many_rows_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 100
    path = tmp_path / "pos.csv"
    path.write_text(HEADER + "\n" + "".join(f"M{i},13812345678,张伟\n" for i in range(101)))
    message = refused(path)
    assert "pos.csv" in message and "100" in message
    path.write_text(HEADER + "\n" + "".join(f"M{i},13812345678,张伟\n" for i in range(100)))
    assert read_table(path).frame.height == 100


def test_a_csv_of_20000_columns_is_refused_from_its_header_line(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{j}" for j in range(20_000))
    path.write_text(header + "\n" + "\n".join(",".join("1" for _ in range(20_000)) for _ in range(100)))
    monkeypatch.setattr("polars.read_csv", lambda *a, **k: pytest.fail("parsed"))
    message = refused(path)
    assert "wide.csv" in message and "20,000" in message and "1,000" in message


def test_quoted_separators_in_a_header_do_not_count_as_columns(tmp_path, settings):
    settings.IMPORT_MAX_COLUMNS = 3
    path = tmp_path / "quoted.csv"
    path.write_text('"a,b,c,d",phone,name\n1,2,3\n')
    assert read_table(path).columns == ["a,b,c,d", "phone", "name"]


def test_a_workbook_of_too_many_columns_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_COLUMNS = 50
    path = write_xlsx(tmp_path / "wide.xlsx", [list(range(60))], header=[f"c{j}" for j in range(60)])
    message = refused(path)
    assert "wide.xlsx" in message and "60" in message and "50" in message


def test_a_huge_cell_is_refused_with_its_row(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text(HEADER + "\nM1,13812345678,张伟\nM2,13812345679," + "长" * 40_000 + "\n")
    message = refused(path)
    assert "notes.csv" in message and "3" in message and "40,000" in message and "32,767" in message


def test_a_huge_cell_in_a_workbook_is_refused(tmp_path, settings):
    settings.IMPORT_MAX_CELL_CHARS = 100
    path = write_xlsx(tmp_path / "notes.xlsx", [["M1", "13812345678", "x" * 101]])
    message = refused(path)
    assert "notes.xlsx" in message and "101" in message


def test_a_part_that_lies_about_its_size_is_refused_as_broken(tmp_path):
    path = stored_sheet_xlsx(tmp_path / "liar.xlsx", sheet(2_000))
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    struct.pack_into("<I", data, at + 24, 1000)  # says 1,000 bytes; inflates to far more
    path.write_bytes(bytes(data))
    with pytest.raises(ImportFailed) as caught:
        read_table(path)
    assert "liar.xlsx" in str(caught.value) and "损坏" in str(caught.value)


def test_nothing_of_a_refused_file_lands_and_the_other_files_do(warehouse, tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 5
    big = tmp_path / "big.csv"
    big.write_text("会员卡号,手机,姓名\n" + "".join(f"M{i},1381234{i:04d},张伟\n" for i in range(6)))
    small = tmp_path / "small.csv"
    small.write_text("会员卡号,手机,姓名\n" + "".join(f"S{i},1391234{i:04d},李娜\n" for i in range(5)))
    report = import_files([big, small], "pos", "generic", {"会员卡号": "record_id", "手机": "phone", "姓名": "name"})
    first, second = report.files
    assert first.error and "big.csv" in first.error and "最多导入 5 行" in first.error
    assert second.error is None and second.imported == 5
    rows = warehouse.backend().raw_sql("SELECT record_id FROM records ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [f"S{i}" for i in range(5)]


def test_the_limits_are_settings(settings):
    settings.IMPORT_MAX_ROWS = 7
    settings.IMPORT_MAX_UNCOMPRESSED_MB = 2
    limits = import_limits()
    assert limits.rows == 7 and limits.uncompressed_bytes == 2 << 20


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(0, 60), limit=st.integers(1, 50), chunk=st.integers(1, 200))
def test_the_row_scan_counts_every_row_whatever_the_chunk_size(tmp_path, rows, limit, chunk):
    """The scan reads the sheet in chunks: a <row> tag cut by a chunk's end is counted once."""
    path = stored_sheet_xlsx(tmp_path / "s.xlsx", sheet(rows))
    limits = import_limits()
    limits = type(limits)(**{**limits.__dict__, "rows": limit})
    original = limits_module._SCAN_CHUNK
    limits_module._SCAN_CHUNK = chunk
    try:
        archive = zipfile.ZipFile(path)
        info = archive.getinfo("xl/worksheets/sheet1.xml")
        if rows > limit:
            with pytest.raises(LimitExceeded):
                limits_module._scan_sheet("s.xlsx", archive, info, limits)
        else:
            limits_module._scan_sheet("s.xlsx", archive, info, limits)
    finally:
        limits_module._SCAN_CHUNK = original
