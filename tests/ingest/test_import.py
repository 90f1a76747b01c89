"""The importer end to end: files on disk → warehouse tables, through the real readers."""

import csv
import io
import json
from pathlib import Path

import pytest
import xlsxwriter
from django.core.management import call_command

from siyu.ingest.actions import import_files
from siyu.warehouse.raw import raw_row

pytestmark = pytest.mark.django_db

TAOBAO_HEADER = "订单编号,买家会员名,买家支付宝账号,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量,店铺名称,"


def write_taobao(path, rows, header=TAOBAO_HEADER):
    """Like the seller centre: GB18030, CRLF, a trailing comma, quotes only where a value needs them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header.rstrip(",").split(",") + [""])
    for row in rows:
        writer.writerow(row + [""])
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    return path


def taobao_row(order="1001", buyer="tb_buyer1", amount="¥1,288.00", status="交易成功", name="张*",
               address="广东省 深圳市 南山区", phone="'138****5678", created="2025-03-01 10:00:00"):
    return [f'="{order}"', buyer, "", amount, status, name, address, phone, created, "", "面霜", "1", "旗舰店"]


def q(warehouse, sql):
    return warehouse.raw_connection().execute(sql).fetchall()


def test_taobao_gbk_export_lands_with_lineage_and_clean_ids(warehouse, tmp_path):
    path = write_taobao(tmp_path / "tb.csv", [taobao_row(), taobao_row(order="1002", status="交易关闭", amount="")])
    report = import_files([path], "tmall")
    assert report.totals()["rows_read"] == 2 and report.totals()["imported"] == 2
    assert report.files[0].encoding == "gb18030"
    assert q(warehouse, "SELECT record_id, phone_masked, phone_kind FROM records ORDER BY 1") == [
        ("1001", "138****5678", "masked"),
        ("1002", "138****5678", "masked"),
    ]
    assert q(warehouse, "SELECT order_id, status_class, amount FROM orders ORDER BY 1") == [
        ("1001", "purchase", pytest.approx(1288)),
        ("1002", "not_purchase", None),
    ]
    # every raw row is kept with its file and row number, its original columns encrypted
    rows = q(warehouse, "SELECT file_name, row_number FROM raw_rows ORDER BY row_number")
    assert rows == [("tb.csv", 2), ("tb.csv", 3)]
    batch_id = q(warehouse, "SELECT DISTINCT batch_id FROM raw_rows")[0][0]
    assert raw_row(batch_id, 2)["买家会员名"] == "tb_buyer1"
    payload = q(warehouse, "SELECT payload FROM raw_chunks")[0][0]
    assert b"tb_buyer1" not in payload
    # masked phones are not strong identifiers; the buyer id is, and so is the order (one order, one buyer)
    assert {r[0] for r in q(warehouse, "SELECT id_type FROM identifiers")} == {"taobao_buyer", "order"}


def test_reimport_adds_nothing_and_a_later_export_updates_status(warehouse, tmp_path):
    first = write_taobao(tmp_path / "a.csv", [taobao_row(status="等待买家付款", amount="99")])
    import_files([first], "tmall")
    again = import_files([first], "tmall").totals()
    assert (again["imported"], again["duplicates"]) == (0, 1)
    later = write_taobao(tmp_path / "b.csv", [taobao_row(status="交易成功", amount="99"), taobao_row(order="2002")])
    totals = import_files([later], "tmall").totals()
    assert (totals["orders_new"], totals["orders_updated"]) == (1, 1)
    assert q(warehouse, "SELECT count(*), count(DISTINCT order_key) FROM orders") == [(2, 2)]
    assert q(warehouse, "SELECT status_class FROM orders WHERE order_id='1001'") == [("purchase",)]
    assert q(warehouse, "SELECT count(*) FROM import_batches") == [(3,)]
    sha = __import__("hashlib").sha256(first.read_bytes()).hexdigest()
    assert q(warehouse, f"SELECT count(*) FROM import_batches WHERE file_sha256 = '{sha}'") == [(2,)]


def test_malformed_rows_are_rejected_with_row_and_reason_while_good_rows_land(warehouse, tmp_path):
    path = write_taobao(
        tmp_path / "bad.csv",
        [
            taobao_row(order="1"),
            taobao_row(order="-"),
            taobao_row(order="3", created="2025-02-30 10:00:00"),
            taobao_row(order="4", amount="abc"),
            taobao_row(order="5"),
        ],
    )
    report = import_files([path], "tmall")
    f = report.files[0]
    assert (f.rows_read, f.imported, f.rejected) == (5, 2, 3)
    assert [(r["row"], r["column"]) for r in f.rejections] == [(3, "订单编号"), (4, "订单创建时间"), (5, "买家实际支付金额")]
    assert q(warehouse, "SELECT record_id FROM records ORDER BY 1") == [("1",), ("5",)]
    from siyu.ingest.rejected import rejected_csv

    rejected = "".join(rejected_csv(Path(f.rejected_file), masked=False)).lstrip("\ufeff").splitlines()
    assert rejected[0].startswith("file,row,column,reason,订单编号")
    assert len(rejected) == 4 and "abc" in rejected[3]


def test_unrecognised_or_unreadable_file_writes_nothing(warehouse, tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n", encoding="utf-8")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"\x00\x01not a spreadsheet" * 10)
    report = import_files([odd, junk], "x")
    assert "match no known platform" in report.files[0].error
    assert report.files[1].error and "junk.xlsx" in report.files[1].error
    assert q(warehouse, "SELECT count(*) FROM raw_rows") == [(0,)]
    assert q(warehouse, "SELECT count(*) FROM import_batches") == [(0,)]


def test_an_import_killed_half_way_leaves_no_partial_batch(warehouse, tmp_path, monkeypatch):
    import siyu.ingest.actions as actions

    path = write_taobao(tmp_path / "tb.csv", [taobao_row(), taobao_row(order="1002")])
    real = actions.append_new

    def dies_on_items(con, table, rows, key):
        if table == "order_items":
            raise KeyboardInterrupt("killed")
        return real(con, table, rows, key)

    monkeypatch.setattr(actions, "append_new", dies_on_items)
    with pytest.raises(KeyboardInterrupt):
        import_files([path], "tmall")
    for table in ("raw_rows", "records", "orders", "identifiers", "import_batches"):
        assert q(warehouse, f"SELECT count(*) FROM {table}") == [(0,)], table
    monkeypatch.setattr(actions, "append_new", real)
    assert import_files([path], "tmall").totals()["imported"] == 2


def test_jd_lines_become_one_order_with_items(warehouse, tmp_path):
    path = tmp_path / "jd.csv"
    path.write_text(
        "订单号,商品ID,商品名称,订购数量,下单时间,应付金额,京东价,订单状态,下单帐号,客户姓名,客户地址,联系电话\n"
        "9001,11,精华,1,2025/3/5 9:07,300.00,200.00,已完成,jd_user,李四,北京朝阳区建国路1号,13900001111\n"
        "9001,12,面膜,2,2025/3/5 9:07,300.00,50.00,已完成,jd_user,李四,北京朝阳区建国路1号,13900001111\n",
        encoding="utf-8",
    )
    import_files([path], "jd")
    assert q(warehouse, "SELECT order_id, amount FROM orders") == [("9001", pytest.approx(300))]
    # 京东价 is a unit price: the line amount is price × quantity
    assert q(warehouse, "SELECT item_key, product, quantity, amount FROM order_items ORDER BY item_key") == [
        ("#1", "精华", 1, pytest.approx(200)),
        ("#2", "面膜", 2, pytest.approx(100)),
    ]
    assert q(warehouse, "SELECT province, city, district, phone_kind FROM records") == [
        ("北京市", "北京市", "朝阳区", "mobile")
    ]
    assert {r[0] for r in q(warehouse, "SELECT id_type FROM identifiers")} == {"jd_account", "phone", "order"}


def test_douyin_bom_and_tab_guarded_ids(warehouse, tmp_path):
    path = tmp_path / "dy.csv"
    path.write_bytes(
        "\ufeff主订单编号,子订单编号,选购商品,商品数量,订单应付金额,收件人,收件人手机号,省,市,区,街道,详细地址,订单提交时间,订单状态\n"
        '"\t6917926768823643751","\t6917926768823643752",口红,1,¥89.90,王*,176****0000-5678,浙江省,杭州市,西湖区,,***,2025-06-18 20:00:00,已完成\n'
        '"\t6917926768823643751","\t6917926768823643753",眼影,1,¥10.10,王*,176****0000-5678,浙江省,杭州市,西湖区,,***,2025-06-18 20:00:00,已完成\n'.encode()
    )
    import_files([path], "douyin")
    assert q(warehouse, "SELECT record_id FROM records") == [("6917926768823643751",)]
    assert q(warehouse, "SELECT amount FROM orders") == [(pytest.approx(100.0),)]
    assert q(warehouse, "SELECT count(*) FROM order_items") == [(2,)]


def _xlsx(path, rows):
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.close()
    return path


def test_wecom_contacts_bring_tags_owner_and_strong_ids(warehouse, tmp_path):
    path = _xlsx(
        tmp_path / "wecom.xlsx",
        [
            ["客户名称", "客户备注", "性别", "添加人", "添加人账号", "添加时间", "标签", "备注手机号", "external_userid", "unionid"],
            ["小鱼", "赵敏", "女", "王导购", "guide01", "2025-01-02 08:00:00", "客户等级:VIP，兴趣:护肤", "13812345678", "wmA1", "oU1"],
        ],
    )
    import_files([path], "wecom")
    assert q(warehouse, "SELECT record_kind, tags, owner_staff, gender FROM records") == [
        ("contact", ["客户等级:VIP", "兴趣:护肤"], "guide01", "F")
    ]
    assert {r[0] for r in q(warehouse, "SELECT id_type FROM identifiers")} == {"external_userid", "unionid", "phone"}
    assert q(warehouse, "SELECT event_type FROM events") == [("wecom_contact_added",)]


def test_pos_members_and_sales_share_member_numbers(warehouse, tmp_path):
    members = tmp_path / "members.csv"
    members.write_text("会员卡号,会员姓名,手机号,性别,生日,门店\nM001,陈一,13800000001,男,1990-05-01,深圳湾店\n", encoding="utf-8")
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "单号,会员卡号,门店,销售时间,商品名称,数量,金额\r\nS1,M001,深圳湾店,2025-05-01 12:00:00,面霜,1,500\r\n",
        encoding="utf-8",
    )
    import_files([members, sales], "pos", "pos")
    rows = q(warehouse, "SELECT id_type, count(DISTINCT value_hash), count(*) FROM identifiers WHERE id_type='member_no' GROUP BY 1")
    assert rows == [("member_no", 1, 2)]
    assert q(warehouse, "SELECT birthday::VARCHAR FROM records WHERE record_kind='member'") == [("1990-05-01",)]


def test_pos_sales_statuses_normal_is_a_purchase_and_a_return_is_not(warehouse, tmp_path):
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "单号,会员卡号,门店,销售时间,商品名称,数量,金额,单据状态\r\n"
        "S1,M001,深圳湾店,2025-05-01 12:00:00,面霜,1,500,正常\r\n"
        "S2,M001,深圳湾店,2025-05-02 12:00:00,面霜,1,500,退货\r\n",
        encoding="utf-8",
    )
    import_files([sales], "pos", "pos")
    assert q(warehouse, "SELECT order_id, status_class FROM orders ORDER BY 1") == [
        ("S1", "purchase"),
        ("S2", "not_purchase"),
    ]


def test_generic_mapping_with_custom_identifier_and_record_id(warehouse, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "rec_id,given_name,surname,date_of_birth,address_1,suburb,postcode,soc_sec_id\n"
        "rec-1-org,john,smith,19800101,1 main st,kingston,2600,4830196\n"
        "rec-1-dup-0,jon,smith,19800101,1 main st,kingston,2600,4830196\n"
        "rec-2-org,mia,jones,19750303,9 high st,kingston,2600,7215830\n",
        encoding="utf-8",
    )
    mapping = {"rec_id": "record_id", "given_name": "first_name", "surname": "last_name",
               "date_of_birth": "birthday", "address_1": "address", "postcode": "postcode", "soc_sec_id": "id:ssn"}
    import_files([path], "febrl", "generic", mapping)
    assert q(warehouse, "SELECT record_id FROM records ORDER BY 1") == [("rec-1-dup-0",), ("rec-1-org",), ("rec-2-org",)]
    assert q(warehouse, "SELECT id_type, count(*), count(DISTINCT value_hash) FROM identifiers GROUP BY 1") == [("ssn", 3, 2)]


def test_generic_columns_mapped_to_one_address_are_joined_and_ids_kept_for_comparison(warehouse, tmp_path):
    from siyu.core.pii import decrypt_json

    path = tmp_path / "census.csv"
    path.write_text(
        "id,first,last,dob,number,street,unit,ssn\n"
        "c1,Diana,Kofron,05/31/1994,5112,145th st,,584-16-0130\n"
        "c2,Eric,Alonso,10/27/1979,1501,interlake ave n,apt 2,\n",
        encoding="utf-8",
    )
    mapping = {"id": "record_id", "first": "first_name", "last": "last_name", "dob": "birthday",
               "number": "address", "street": "address", "unit": "address", "ssn": "id:ssn"}  # fmt: skip
    import_files([path], "census", "generic", mapping)
    rows = warehouse.raw_connection().execute("SELECT record_id, birthday::VARCHAR, pii FROM records ORDER BY 1").fetchall()
    kept = {record: (birthday, decrypt_json(blob)) for record, birthday, blob in rows}
    # the house number, street and unit in the order of --map; a US birthday read month first
    assert kept["c1"][1]["address"] == "5112 145th st" and kept["c1"][0] == "1994-05-31"
    assert kept["c2"][1]["address"] == "1501 interlake ave n apt 2"
    # the SSN links (a keyed hash) and is kept, encrypted, for `siyu resolve --compare id:ssn`
    assert kept["c1"][1]["id:ssn"] == "584-16-0130" and kept["c2"][1]["id:ssn"] is None
    # two columns to one name is a mistake the user hears about; nothing of the file lands
    report = import_files([path], "census2", "generic", {"id": "record_id", "first": "first_name", "last": "first_name"})
    assert "only address, street can take several columns" in report.files[0].error
    assert warehouse.raw_connection().execute("SELECT count(*) FROM records WHERE source = 'census2'").fetchone() == (0,)


def test_a_purchase_history_of_customer_date_and_amount_alone_becomes_orders(warehouse, tmp_path):
    """CDNOW's shape: no order id, dates written 19970101, the same purchase line twice on one day."""
    from siyu.identity.actions import resolve_identities

    path = tmp_path / "cdnow.csv"
    path.write_text(
        "customer,date,cds,dollars\n"
        "00001,19970101,1,11.77\n"
        "00002,19970112,1,12.00\n"
        "00002,19970112,1,12.00\n"
        "00002,19970312,2,77.00\n",
        encoding="utf-8",
    )
    # the customer as the record (one record per customer) or as an identifier (one record per line)
    for source, customer in (("cdnow", "record_id"), ("cdnow-ids", "id:customer")):
        mapping = {"customer": customer, "date": "order_time", "cds": "quantity", "dollars": "amount"}
        report = import_files([path], source, "generic", mapping)
        assert report.files[0].error is None and report.totals()["rejected"] == 0
        orders = f"FROM orders WHERE order_key LIKE 'source:{source}|%'"
        assert q(warehouse, f"SELECT count(*), sum(amount)::VARCHAR {orders}") == [(4, "112.77")]
        assert q(warehouse, f"SELECT epoch(min(order_time))::BIGINT {orders}") == [(852048000,)]  # 1997-01-01, Shanghai
        # a re-import adds nothing twice, the two identical lines included
        import_files([path], source, "generic", mapping)
        assert q(warehouse, f"SELECT count(*) {orders}") == [(4,)]
    assert q(warehouse, "SELECT source, count(*) FROM records GROUP BY 1 ORDER BY 1") == [("cdnow", 2), ("cdnow-ids", 4)]
    resolve_identities()
    customers = "SELECT count(DISTINCT customer_id) FROM customer_map JOIN records USING (record_key) WHERE source = ?"
    assert [warehouse.raw_connection().execute(customers, [s]).fetchone()[0] for s in ("cdnow", "cdnow-ids")] == [2, 2]


def test_cli_import_json_report_is_the_last_line(warehouse, tmp_path):
    path = write_taobao(tmp_path / "tb.csv", [taobao_row(), taobao_row(order="x", created="not a date")])
    out = io.StringIO()
    call_command("import", str(path), "--source", "tmall", "--json", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {k: report[k] for k in ("rows_read", "imported", "duplicates", "rejected")} == {
        "rows_read": 2, "imported": 1, "duplicates": 0, "rejected": 1
    }


def _warehouse_contents(connection):
    """Every fact table, sorted, without what differs between two imports of the same files by design
    (batch ids, import times, the random nonces of the ciphertexts: those are compared decrypted)."""
    from siyu.core import pii

    volatile = {"batch_id", "imported_at", "started_at", "finished_at", "updated_at", "seen_at", "pii", "payload"}
    con = connection.raw_connection()
    contents = {}
    for table in ("raw_rows", "raw_chunks", "records", "identifiers", "orders", "order_items", "events", "import_batches"):
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        kept = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns if c not in volatile)  # no pytz here
        contents[table] = con.execute(f"SELECT {kept} FROM {table} ORDER BY ALL").fetchall()
    contents["pii"] = sorted(
        (key, pii.decrypt(bytes(blob))) for key, blob in con.execute("SELECT record_key, pii FROM records").fetchall()
    )
    contents["payload"] = sorted(
        (name, chunk, pii.decrypt(bytes(blob)))
        for name, chunk, blob in con.execute(
            "SELECT b.file_name, c.chunk_no, c.payload FROM raw_chunks c JOIN import_batches b USING (batch_id)"
        ).fetchall()
    )
    return contents


@pytest.mark.parametrize("records_part_rows", [250_000, 97])
def test_overlapped_import_writes_what_the_serial_prepare_then_write_does(
    settings, tmp_path, monkeypatch, records_part_rows
):
    """import_files writes each part of a batch while the rest is prepared (records in parts); the plain
    prepare_file + write_prepared path must leave the same warehouse (first import and a re-import alike)."""
    from siyu.demo.generate import generate_brand
    from siyu.ingest import prepare
    from siyu.ingest.prepare import prepare_file
    from siyu.warehouse import connection

    monkeypatch.setattr(prepare, "RECORDS_PART_ROWS", records_part_rows)

    manifest = generate_brand(tmp_path / "brand", people=400, seed=3)
    files = [(f.path, f.source, f.format) for f in manifest.files]
    contents = []
    for mode in ("overlapped", "serial"):
        connection.close()
        settings.WAREHOUSE_PATH = tmp_path / f"{mode}.duckdb"
        reports = []
        for path, source, fmt in files + files[:2]:  # the repeats are re-imports: duplicates only
            if mode == "overlapped":
                report = import_files([path], source, fmt).files[0]
            else:
                from siyu.ingest.actions import write_prepared

                report = write_prepared(prepare_file(path, source, fmt))
            reports.append({k: v for k, v in report.__dict__.items() if k not in ("batch_id", "seconds")})
        contents.append((reports, _warehouse_contents(connection)))
        connection.close()
    assert contents[0][0] == contents[1][0]
    assert contents[0][1] == contents[1][1]
    assert contents[0][1]["records"] and contents[0][1]["orders"]


def test_ingest_benchmark_measures_every_file_with_wall_and_cpu_seconds(warehouse, tmp_path):
    from siyu.benchmarks.ingest import _measure
    from siyu.demo.generate import generate_brand

    manifest = generate_brand(tmp_path / "brand", people=200, seed=5)
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    result = _measure(files)
    assert result["seconds"] > 0 and result["cpu_seconds"] > 0
    assert [r["rows_read"] for r in result["files"]] == [f["rows"] for f in files]


def test_several_files_land_in_order_with_the_next_prepared_while_the_last_is_written(warehouse, tmp_path):
    """import_files prepares file n+1 while file n's last inserts and COMMIT run: reports stay in file
    order, a bad file in between is reported, and every good file lands as its own batch."""
    first = write_taobao(tmp_path / "a.csv", [taobao_row(order="1"), taobao_row(order="2")])
    junk = tmp_path / "junk.csv"
    junk.write_text("x,y\n1,2\n")
    second = write_taobao(tmp_path / "b.csv", [taobao_row(order="3")])
    report = import_files([first, tmp_path / "missing.csv", junk, second, first], "tmall")
    assert [f.file.rsplit("/", 1)[-1] for f in report.files] == ["a.csv", "missing.csv", "junk.csv", "b.csv", "a.csv"]
    assert [f.imported for f in report.files] == [2, 0, 0, 1, 0]
    assert [bool(f.error) for f in report.files] == [False, True, True, False, False]
    assert report.files[4].duplicates == 2
    assert all(f.seconds > 0 for f in report.files if not f.error)
    assert q(warehouse, "SELECT count(*) FROM import_batches") == [(3,)]
    assert q(warehouse, "SELECT order_id FROM orders ORDER BY 1") == [("1",), ("2",), ("3",)]


def test_a_failed_write_stops_the_import_before_the_next_file_commits(warehouse, tmp_path, monkeypatch):
    import siyu.ingest.actions as actions

    first = write_taobao(tmp_path / "a.csv", [taobao_row(order="1")])
    second = write_taobao(tmp_path / "b.csv", [taobao_row(order="2")])
    real = actions.append_new
    calls = []

    def fails_on_the_first_items(con, table, rows, key):
        if table == "order_items" and not calls:
            calls.append(table)
            raise RuntimeError("disk full")
        return real(con, table, rows, key)

    monkeypatch.setattr(actions, "append_new", fails_on_the_first_items)
    with pytest.raises(RuntimeError, match="disk full"):
        import_files([first, second], "tmall")
    for table in ("raw_rows", "records", "orders", "identifiers", "import_batches"):
        assert q(warehouse, f"SELECT count(*) FROM {table}") == [(0,)], table
    monkeypatch.setattr(actions, "append_new", real)
    assert import_files([first, second], "tmall").totals()["imported"] == 2


def test_wecom_xls_export_lands_like_the_xlsx_one(warehouse, tmp_path):
    import datetime as dt

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    rows = [
        ["客户名称", "客户备注", "性别", "添加人", "添加人账号", "添加时间", "标签", "备注手机号", "external_userid", "unionid"],
        ["小鱼", "赵敏", "女", "王导购", "guide01", dt.datetime(2025, 1, 2, 8, 0), "客户等级:VIP，兴趣:护肤", 13812345678.0, "wmA1", "oU1"],
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            style = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss") if isinstance(value, dt.datetime) else xlwt.Style.default_style
            sheet.write(r, c, value, style)
    path = tmp_path / "wecom.xls"
    book.save(str(path))

    report = import_files([path], "wecom")

    assert (report.files[0].encoding, report.files[0].imported, report.files[0].rejected) == ("xls", 1, 0)
    assert q(warehouse, "SELECT record_kind, tags, owner_staff, gender FROM records") == [
        ("contact", ["客户等级:VIP", "兴趣:护肤"], "guide01", "F")
    ]
    assert {r[0] for r in q(warehouse, "SELECT id_type FROM identifiers")} == {"external_userid", "unionid", "phone"}
    assert q(warehouse, "SELECT event_type, occurred_at::VARCHAR FROM events") == [
        ("wecom_contact_added", "2025-01-02 08:00:00+08")  # Asia/Shanghai, as written
    ]


def test_ingest_benchmark_stages_run_one_after_the_other_and_import_the_same(warehouse, tmp_path):
    """`siyu bench ingest --stages`: every stage recorded, and the sequential import lands what the
    overlapped one does."""
    from siyu.benchmarks.ingest import _measure
    from siyu.demo.generate import generate_brand

    manifest = generate_brand(tmp_path / "brand", people=150, seed=3)
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    result = _measure(files, stages=True)

    stages = result["stages"]
    for name in (
        "read: decode and parse the CSV", "read: parse the workbook", "read: clean cells", "file SHA-256",
        "content hashes (MD5 in DuckDB)", "validate: ids, times, amounts, rejections", "normalise: phones",
        "normalise: addresses", "build: records: AES-GCM", "build: raw chunks (IPC, zstd, AES-GCM)",
        "write: records", "write: identifiers", "write: raw_rows", "write: commit",
    ):  # fmt: skip
        assert name in stages, name
    assert all(t["seconds"] >= 0 and t["cpu_seconds"] >= 0 for t in stages.values())
    assert sum(t["seconds"] for t in stages.values()) <= result["seconds"]
    assert [r["rows_read"] for r in result["files"]] == [f["rows"] for f in files]
    imported = sum(r["imported"] for r in result["files"])
    assert q(warehouse, "SELECT count(*) FROM raw_rows") == [(imported,)]
    overlapped = _measure(files)  # again, overlapped: every row is now a duplicate
    assert overlapped["stages"] == {}
    assert sum(r["duplicates"] for r in overlapped["files"]) == imported


def test_placeholders_in_an_identifier_column_are_counted_and_never_identifiers(warehouse, tmp_path):
    rows = [taobao_row(order=str(1000 + n), buyer=f"tb_buyer{n}") for n in range(3)]
    for row, alipay in zip(rows, ["**", "无", "zhang@163.com"], strict=True):
        row[2] = alipay
    path = write_taobao(tmp_path / "tb.csv", rows)
    out = io.StringIO()
    call_command("import", str(path), "--source", "tmall", stdout=out)
    assert "2 values in 买家支付宝账号 are not identifiers: a placeholder or filler" in out.getvalue()
    assert "3 values in 联系手机 are not identifiers: masked by the platform" in out.getvalue()
    assert q(warehouse, "SELECT id_type, count(*) FROM identifiers WHERE id_type <> 'order' GROUP BY 1 ORDER BY 1") == [
        ("alipay", 1), ("taobao_buyer", 3),
    ]
    masked = q(warehouse, "SELECT value_masked FROM identifiers WHERE id_type = 'alipay'")
    assert masked == [("z******m",)]
    [(stored,)] = q(warehouse, "SELECT not_identifiers FROM import_batches")
    assert {(e["column"], e["reason"], e["records"]) for e in json.loads(stored)} == {
        ("买家支付宝账号", "placeholder", 2), ("联系手机", "masked", 3),
    }


def test_a_youzan_order_without_the_buyers_phone_takes_the_consignees(warehouse, tmp_path):
    # a buyer who is not a member leaves 买家手机号 empty; the consignee's phone is on every order (XLSX)
    path = _xlsx(
        tmp_path / "youzan.xlsx",
        [
            ["订单号", "订单状态", "订单创建时间", "订单实付金额", "收货人/提货人", "收货人手机号/提货人手机号", "买家手机号"],
            ["E1", "交易成功", "2025-03-01 10:00:00", "10", "李四", "13900000002", "13800000001"],
            ["E2", "交易成功", "2025-03-02 10:00:00", "10", "王五", "13700000003", ""],
        ],
    )
    import_files([path], "youzan")
    assert q(warehouse, "SELECT record_id, phone_tail FROM records ORDER BY 1") == [("E1", "0001"), ("E2", "0003")]
