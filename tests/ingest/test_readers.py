"""read_table on real files as the platforms write them."""

import csv
import datetime as dt
import io
import zipfile

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.ingest.readers import ROW_COLUMN, UnreadableFile, clean_cell, read_table


def rows_of(result):
    return result.frame.drop(ROW_COLUMN).rows()


def test_taobao_gbk_csv_with_crlf_trailing_comma_and_excel_guards(tmp_path):
    text = (
        "订单编号,买家会员名,联系手机,收货地址,买家实际支付金额,订单备注,\r\n"
        '="0012345678901234567",张三,\'13812345678,"广东省 深圳市 南山区 粤海街道","￥1,234.50",-,\r\n'
        '="2234567890123456789",李*,\'138****5678,"北京 北京市 朝阳区",null,N/A,\r\n'
    )
    path = tmp_path / "taobao.csv"
    path.write_bytes(text.encode("gbk"))

    result = read_table(path)

    assert result.encoding == "gb18030"
    assert result.columns == [
        "订单编号",
        "买家会员名",
        "联系手机",
        "收货地址",
        "买家实际支付金额",
        "订单备注",
    ]
    assert result.frame.schema[ROW_COLUMN] == pl.Int64
    assert all(result.frame.schema[c] == pl.String for c in result.columns)
    assert rows_of(result) == [
        # leading zeros of the order id survive: ids are never numbers
        ("0012345678901234567", "张三", "13812345678", "广东省 深圳市 南山区 粤海街道", "￥1,234.50", None),
        ("2234567890123456789", "李*", "138****5678", "北京 北京市 朝阳区", None, None),
    ]
    assert result.frame[ROW_COLUMN].to_list() == [2, 3]


def test_douyin_utf8_bom_with_tab_guarded_ids(tmp_path):
    path = tmp_path / "douyin.csv"
    path.write_bytes(
        "\ufeff主订单编号,子订单编号,收件人手机号,省,市,区\n"
        '"\t6917926768823643751","\t6917926768823643752",\t13812345678 ,广东省,深圳市,南山区\n'.encode()
    )
    result = read_table(path)
    assert result.encoding == "utf-8-sig"
    assert result.columns[0] == "主订单编号"  # no BOM glued to the first header
    assert rows_of(result) == [
        ("6917926768823643751", "6917926768823643752", "13812345678", "广东省", "深圳市", "南山区")
    ]


def test_plain_utf8_ragged_rows_blank_lines_and_multiline_cells(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(
        "会员卡号,会员姓名,备注\n"
        "A001,王五,ok,extra,fields\n"  # too many fields: the extras are dropped, not a crash
        "\n"  # a blank line: skipped, but row numbers keep counting like a spreadsheet
        "A002\n"  # too few fields: padded with nulls
        'A003,赵六,"two\nlines"\n',
        encoding="utf-8",
    )
    result = read_table(path)
    assert result.encoding == "utf-8"
    assert rows_of(result) == [("A001", "王五", "ok"), ("A002", None, None), ("A003", "赵六", "two\nlines")]
    assert result.frame[ROW_COLUMN].to_list() == [2, 4, 5]


def test_duplicate_headers_get_suffixes_and_headerless_data_columns_get_a_name(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("电话,电话, 电话 ,,备注,\n1,2,3,x,-,\n", encoding="utf-8")
    result = read_table(path)
    assert result.columns == ["电话", "电话_2", "电话_3", "column_4", "备注"]
    assert rows_of(result) == [("1", "2", "3", "x", None)]


def test_tab_separated_utf16_from_excel_unicode_text(tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes("姓名\t手机\r\n张三\t13812345678\r\n".encode("utf-16"))
    result = read_table(path)
    assert result.encoding == "utf-16"
    assert result.columns == ["姓名", "手机"]
    assert rows_of(result) == [("张三", "13812345678")]


def test_xlsx_first_non_empty_sheet_cells_as_text(tmp_path):
    path = tmp_path / "youzan.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("说明")  # empty first sheet
    sheet = book.add_worksheet("订单")
    sheet.write_row(
        0, 0, ["订单号", "订单实付金额", "订单创建时间", "生日", "买家手机号", "是否会员", "备注"]
    )
    sheet.write_string(1, 0, "E20240101000012345678")
    sheet.write_number(1, 1, 12.0)
    sheet.write_datetime(
        1, 2, dt.datetime(2024, 1, 2, 3, 4, 5), book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    )
    sheet.write_datetime(1, 3, dt.datetime(1990, 5, 6), book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_number(1, 4, 13812345678)
    sheet.write_boolean(1, 5, True)
    sheet.write_string(1, 6, "  '0012 ")
    sheet.write_number(2, 1, 99.5)
    sheet.write_string(2, 6, "-")
    book.close()

    result = read_table(path)

    assert result.encoding == "xlsx"
    assert result.columns == [
        "订单号",
        "订单实付金额",
        "订单创建时间",
        "生日",
        "买家手机号",
        "是否会员",
        "备注",
    ]
    assert rows_of(result) == [
        ("E20240101000012345678", "12", "2024-01-02 03:04:05", "1990-05-06", "13812345678", "TRUE", "0012"),
        (None, "99.5", None, None, None, None, None),
    ]
    assert result.frame[ROW_COLUMN].to_list() == [2, 3]


def test_xlsx_table_not_starting_at_a1_keeps_sheet_row_numbers(tmp_path):
    path = tmp_path / "offset.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(2, 1, ["会员卡号", "会员姓名"])
    sheet.write_row(3, 1, ["A001", "王五"])
    sheet.write_row(5, 1, ["A002", "赵六"])
    book.close()
    result = read_table(path)
    assert rows_of(result) == [("A001", "王五"), ("A002", "赵六")]
    assert result.frame[ROW_COLUMN].to_list() == [4, 6]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv is empty"),
        ("blank.csv", b"\r\n\r\n  \n", "blank.csv is empty"),
        ("garbage.csv", bytes(range(256)) * 50, "garbage.csv is not a CSV or Excel file"),
        ("noheader.csv", b",,,\n1,2,3\n", "noheader.csv has no header row"),
    ],
)
def test_unreadable_files_say_what_is_wrong_and_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as info:
        read_table(path)
    assert message in str(info.value)
    assert isinstance(info.value, SiyuError)


def test_zip_that_is_not_a_workbook_is_unreadable(tmp_path):
    path = tmp_path / "orders.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    with pytest.raises(UnreadableFile, match="orders.xlsx is a zip archive but not an Excel workbook"):
        read_table(path)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFile, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_clean_cell_strips_every_export_quirk():
    assert clean_cell('="00123"') == "00123"
    assert clean_cell("'13812345678") == "13812345678"
    assert clean_cell("\t6917926768823643751") == "6917926768823643751"
    assert clean_cell("  张三  ") == "张三"
    for missing in ["", " ", "-", "--", "null", "NULL", "None", "N/A", '=""']:
        assert clean_cell(missing) is None


plain_text = st.text(
    alphabet=st.sampled_from(list("0123456789abcXYZ张三李四广东省深圳*-_.@ ,=\"'\n¥\t")), max_size=12
)
cell_text = st.one_of(
    plain_text,
    plain_text.map(lambda s: f'="{s}"'),  # Taobao's Excel guard
    plain_text.map(lambda s: f"'{s}"),  # the apostrophe guard
    plain_text.map(lambda s: f"\t{s} "),  # Douyin's leading tab
    st.sampled_from(["-", "null", "N/A", "None", ""]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_any_csv_written_by_a_spreadsheet_reads_back_as_its_cleaned_cells(tmp_path, table, encoding):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([["单号", "姓名", "备注"], *table])
    path = tmp_path / f"t-{encoding}.csv"
    path.write_bytes(buf.getvalue().encode(encoding))

    result = read_table(path)

    expected = [tuple(clean_cell(v) for v in row) for row in table]
    numbered = [(i + 2, row) for i, row in enumerate(expected) if any(v is not None for v in row)]
    assert result.encoding == encoding
    assert rows_of(result) == [row for _, row in numbered]
    assert result.frame[ROW_COLUMN].to_list() == [n for n, _ in numbered]


# --- XLSX: the columnar (fastexcel) path must give exactly what the calamine path gives ---------------------


def _both_paths(path, monkeypatch):
    """read_table through the columnar path (asserting it was taken or not) and through calamine."""
    from siyu.ingest.readers import table

    taken = []
    columnar = table._read_xlsx_columnar

    def spy(*args):
        result = columnar(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(table, "_read_xlsx_columnar", spy)
    fast = read_table(path)
    monkeypatch.setattr(table, "_read_xlsx_columnar", lambda *args: None)
    slow = read_table(path)
    return taken[0], fast, slow


def _assert_same(fast, slow):
    assert fast.columns == slow.columns
    assert fast.encoding == slow.encoding
    assert fast.frame.equals(slow.frame), (fast.frame, slow.frame)


def _book(path, rows, start=(0, 0), formats=None):
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(start[0] + i, start[1] + j, value, book.add_format({"num_format": "yyyy-mm-dd"}))
            else:
                sheet.write(start[0] + i, start[1] + j, value)
    book.close()
    return path


def test_xlsx_columnar_path_equals_calamine_for_text_numbers_and_booleans(tmp_path, monkeypatch):
    path = _book(
        tmp_path / "a.xlsx",
        [
            ["订单号", "手机", "金额", "数量", "会员", "备注", "空列"],
            ["'0012", 13812345678.0, 12.5, 3, True, " 有空格 ", None],
            ["0013", 13912345678.0, 1e-05, -0.0, False, "-", None],
            [None, None, None, None, None, None, None],
            ["0014", 1.5e20, 0.30000000000000004, 7, True, "#N/A", None],
        ],
        start=(2, 1),  # leading empty rows and column: sheet row numbers must survive
    )
    taken, fast, slow = _both_paths(path, monkeypatch)
    assert taken
    _assert_same(fast, slow)
    assert fast.frame.get_column(ROW_COLUMN).to_list() == [4, 5, 7]
    assert fast.frame.row(1, named=True)["金额"] == "1e-05"


@pytest.mark.parametrize(
    "rows",
    [
        [["a", "b"], ["x", 1.0], [2.0, "y"]],  # a column holding numbers and text
        [["a", "a"], ["x", "y"]],  # duplicate headers (fastexcel renames them)
        [["a", None], ["x", "y"]],  # a column with data and no header
        [["a", "b"], ["x", dt.datetime(2024, 5, 1)]],  # a date cell
        [["a", True], ["x", "y"]],  # a boolean header
    ],
    ids=["mixed-types", "duplicate-headers", "empty-header", "date-cell", "boolean-header"],
)
def test_xlsx_columnar_path_falls_back_to_calamine_when_it_could_differ(tmp_path, monkeypatch, rows):
    path = _book(tmp_path / "b.xlsx", rows)
    taken, fast, slow = _both_paths(path, monkeypatch)
    assert not taken
    _assert_same(fast, slow)


def test_xlsx_first_used_row_counts_rows_without_a_reference(tmp_path, monkeypatch):
    """Some exporters write <row> and <c> without r="…"; calamine numbers them on from the previous row."""
    path = _book(tmp_path / "c.xlsx", [["a", "b"], ["x", "1"], ["y", "2"]], start=(3, 0))
    with zipfile.ZipFile(path) as source:
        parts = {n: source.read(n) for n in source.namelist()}
    import re

    sheet = parts["xl/worksheets/sheet1.xml"]
    # keep r on the first row only: the rows after it count on from it
    first = sheet.index(b"<row")
    head, rest = sheet[: first + 4], sheet[first + 4 :]
    rest = re.sub(rb' r="[A-Z]+\d+"', b"", rest)
    rest = rest[: rest.index(b">")] + re.sub(rb'<row r="\d+"', b"<row", rest[rest.index(b">") :])
    parts["xl/worksheets/sheet1.xml"] = head + rest
    unref = tmp_path / "d.xlsx"
    with zipfile.ZipFile(unref, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    taken, fast, slow = _both_paths(unref, monkeypatch)
    assert taken
    _assert_same(fast, slow)
    assert fast.frame.get_column(ROW_COLUMN).to_list() == [5, 6]


# --- XLSX: a large sheet parsed in two halves must read exactly as the whole sheet -------------------------


def _three_reads(path, monkeypatch, chunk=None):
    """read_table with every sheet split in halves (and whether it was), read whole, and through calamine;
    `chunk`: how many bytes of sheet XML the splitter inflates at a time."""
    from siyu.ingest.readers import table

    split = []
    halves = table._sheet_halves

    def spy(*args):
        result = halves(*args)
        split.append(result is not None)
        return result

    with monkeypatch.context() as patch:  # undone at once: hypothesis calls a test many times
        patch.setattr(table, "_sheet_halves", spy)
        patch.setattr(table, "_SPLIT_MIN_BYTES", 0)
        if chunk:
            patch.setattr(table, "_SPLIT_CHUNK", chunk)
        in_halves = read_table(path)
        patch.setattr(table, "_SPLIT_MIN_BYTES", 1 << 62)
        whole = read_table(path)
        patch.setattr(table, "_read_xlsx_columnar", lambda *args: None)
        calamine = read_table(path)
    return split[0], in_halves, whole, calamine


def _demo_book(path, frame):
    """A sheet as the demo brand (and streaming exporters) write it: rows and cells without references."""
    from siyu.demo.writers import write_xlsx

    write_xlsx(path, frame)
    return path


xlsx_text = st.one_of(st.none(), st.sampled_from(["-", "'0012", "  a b ", "#N/A", "张三", "x&y<z"]), plain_text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.tuples(xlsx_text, xlsx_text), min_size=2, max_size=12),
    numbers=st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)), min_size=12, max_size=12),
    chunk=st.sampled_from([None, 23, 64, 4096]),  # tags across the ends of the inflated chunks
)
def test_xlsx_in_halves_reads_as_the_whole_sheet_and_as_calamine(tmp_path, monkeypatch, texts, numbers, chunk):
    frame = pl.DataFrame(
        {
            "订单号": [f"o{i}" for i in range(len(texts))],
            "姓名": [a for a, _ in texts],
            "备注": [b for _, b in texts],
            "金额": numbers[: len(texts)],
        },
        schema={"订单号": pl.String, "姓名": pl.String, "备注": pl.String, "金额": pl.Float64},
    )
    path = _demo_book(tmp_path / "demo.xlsx", frame)
    split, in_halves, whole, calamine = _three_reads(path, monkeypatch, chunk)
    _assert_same(in_halves, calamine)
    _assert_same(whole, calamine)
    assert not list(tmp_path.glob(".siyu-halves-*"))  # the halves' folder is gone
    # every row holds an order id: the halves apply, unless a cell reads "r=" (taken for a reference)
    assert split or any("r=" in (v or "") for row in texts for v in row)


def test_xlsx_split_at_an_empty_row_reads_whole_and_keeps_row_numbers(tmp_path, monkeypatch):
    """calamine ends a sheet at its last used row: a first half ending in an empty row would lose it."""
    frame = pl.DataFrame({"a": ["x", *[None] * 30, "z"], "b": ["1", *[None] * 30, "2"]})
    path = _demo_book(tmp_path / "gap.xlsx", frame)
    split, in_halves, whole, calamine = _three_reads(path, monkeypatch)
    assert not split
    _assert_same(in_halves, calamine)
    assert in_halves.frame.get_column(ROW_COLUMN).to_list() == [2, 33]


def test_xlsx_halves_of_different_cell_types_fall_back_to_calamine(tmp_path, monkeypatch):
    """Numbers in one half and text in the other: one read would fail strict coercion, so must the halves."""
    frame = pl.DataFrame({"id": [f"{i}" for i in range(8)], "v": ["1", "2", "3", "4", "a", "b", "c", "d"]})
    path = tmp_path / "mixed.xlsx"
    from siyu.demo import writers

    cells = writers._xlsx_cells

    def numbers_first(chunk):  # the first half of column v written as numbers
        exprs = cells(chunk)
        return exprs[:1] + [
            pl.when(pl.int_range(pl.len()) < 4)
            .then(pl.lit("<c><v>") + pl.col("v") + pl.lit("</v></c></row>"))
            .otherwise(exprs[1])
            .alias("c1")
        ]

    monkeypatch.setattr(writers, "_xlsx_cells", numbers_first)
    writers.write_xlsx(path, frame)
    monkeypatch.setattr(writers, "_xlsx_cells", cells)
    split, in_halves, whole, calamine = _three_reads(path, monkeypatch)
    assert split
    _assert_same(in_halves, calamine)
    _assert_same(whole, calamine)
    assert in_halves.frame.get_column("v").to_list() == ["1", "2", "3", "4", "a", "b", "c", "d"]


def test_xlsx_with_cell_references_is_read_whole(tmp_path, monkeypatch):
    """Excel (and xlsxwriter) write r="A2" on every cell: the halves would place their rows far down."""
    path = _book(tmp_path / "refs.xlsx", [["a", "b"], *[[f"x{i}", i] for i in range(10)]])
    split, in_halves, whole, calamine = _three_reads(path, monkeypatch)
    assert not split
    _assert_same(in_halves, calamine)


# --- XLS (Excel 97–2003), through calamine ------------------------------------------------------------------


def _xls(path, rows, start_row=0):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    when = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write(start_row + r, c, value, when)
            else:
                sheet.write(start_row + r, c, value)
    book.save(str(path))
    return path


def test_xls_cells_as_text_with_sheet_row_numbers(tmp_path):
    path = _xls(
        tmp_path / "wecom.xls",
        [
            ["客户名称", "备注手机号", "添加时间", "金额", "标签"],
            ["小鱼", 13812345678.0, dt.datetime(2025, 1, 2, 8, 0, 0), 12.5, " VIP "],
            ["-", None, None, 3.0, "'0012"],
        ],
        start_row=1,
    )
    result = read_table(path)
    assert result.encoding == "xls"
    assert result.columns == ["客户名称", "备注手机号", "添加时间", "金额", "标签"]
    assert rows_of(result) == [
        ("小鱼", "13812345678", "2025-01-02 08:00:00", "12.5", "VIP"),
        (None, None, None, "3", "0012"),
    ]
    assert result.frame.get_column(ROW_COLUMN).to_list() == [3, 4]


def test_a_broken_xls_is_unreadable_and_named(tmp_path):
    path = tmp_path / "broken.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(UnreadableFile, match="broken.xls"):
        read_table(path)
