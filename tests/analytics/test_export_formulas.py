"""An analytics page's file (siyu.analytics.exports.export_page): CSV cells a spreadsheet will not run,
numbers as numbers, and XLSX text cells never written as formulas."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from python_calamine import CalamineWorkbook

from siyu.analytics.exports import export_page

RESULT = {
    "page": "channels",
    "filters": {"date_from": "2026-03-01", "date_to": "2026-03-31"},
    "tables": {
        "rows": [
            {"channel": '=HYPERLINK("http://evil.example")', "gmv": Decimal("-12.50"), "note": "-5"},
            {"channel": "@SUM(A1)", "gmv": 3, "note": "+1+1"},
            {"channel": "天猫", "gmv": 1.5, "note": None},
        ]
    },
}


def test_the_csv_neutralises_formulas_and_keeps_numbers():
    body, name = export_page(RESULT, "csv")
    assert name.endswith("-rows.csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["channel", "gmv", "note"]
    assert rows[1] == ['\'=HYPERLINK("http://evil.example")', "-12.50", "-5"]
    assert rows[2] == ["'@SUM(A1)", "3", "'+1+1"]
    assert rows[3] == ["天猫", "1.5", ""]


def test_the_xlsx_holds_text_not_formulas():
    body, _ = export_page(RESULT, "xlsx")
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(body)).get_sheet_by_index(0).to_python()
    assert sheet[1][0] == '=HYPERLINK("http://evil.example")'  # a text cell; as a formula calamine reads ""
    assert sheet[1][1] == -12.5
    import zipfile

    xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml


def test_a_zip_bomb_as_a_customer_list_is_refused_before_calamine_reads_it(tmp_path, monkeypatch, db):
    """The analytics page's customer-list upload reads XLSX itself: it passes the same workbook checks."""
    import pytest

    from siyu.analytics.errors import InvalidCustomerList
    from siyu.analytics.groups import group_from_file

    row = b'<row><c t="inlineStr"><is><t>1001</t></is></c></row>'
    sheet = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b"<sheetData>" + row * 400_000 + b"</sheetData></worksheet>")  # fmt: skip
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "ingest"))
    from test_import_limits import stored_sheet_xlsx

    path = stored_sheet_xlsx(tmp_path / "名单.xlsx", sheet)
    monkeypatch.setattr("python_calamine.CalamineWorkbook.from_filelike", lambda *a: pytest.fail("parsed"))
    with pytest.raises(InvalidCustomerList) as caught:
        group_from_file("名单.xlsx", path.read_bytes())
    assert "名单.xlsx" in str(caught.value) and "压缩" in str(caught.value)
