"""siyu.demo.generate: files in the platforms' formats, and a ground truth that covers every record."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

from siyu.demo import writers
from siyu.demo.generate import generate_brand, load_manifest

PEOPLE = 2000

# Headers as the reference documents list them (shared/reference/channel-exports.md, docs/import-formats.md).
REFERENCE_HEADERS = {
    "taobao_orders.csv": (
        "订单编号, 买家会员名, 买家支付宝账号, 买家应付货款, 买家应付邮费, 买家支付积分, 总金额, 返点积分, "
        "买家实际支付金额, 买家实际支付积分, 订单状态, 买家留言, 收货人姓名, 收货地址, 运送方式, 联系电话, 联系手机, "
        "订单创建时间, 订单付款时间, 宝贝标题, 宝贝种类, 物流单号, 物流公司, 订单备注, 宝贝总数量, 店铺Id, 店铺名称, "
        "订单关闭原因, 卖家服务费, 买家服务费, 发票抬头, 是否手机订单, 分阶段订单信息, 定金排名, 修改后的sku, "
        "修改后的收货地址, 异常信息"
    ),
    "jd_orders.xlsx": (
        "订单号, 商品ID, 商品名称, 订购数量, 支付方式, 下单时间, 京东价, 订单金额, 结算金额, 余额支付, 应付金额, "
        "订单状态, 订单类型, 下单帐号, 客户姓名, 客户地址, 联系电话, 订单备注, 发票类型, 发票抬头, 发票内容, 商家备注, "
        "商家备注等级（等级1-5为由高到低）, 运费金额, 付款确认时间, 增值税发票, 货号, 订单完成时间, 订单来源, 订单渠道"
    ),
    "douyin_orders.csv": (
        "主订单编号, 子订单编号, 选购商品, 商品规格, 商品数量, 商品ID, 商家编码, 商品单价, 商品金额, 订单应付金额, 运费, "
        "收件人, 收件人手机号, 省, 市, 区, 街道, 详细地址, 订单提交时间, 商家备注, 订单完成时间, 订单状态, 售后状态, "
        "取消原因, 发货时间, 支付方式, 达人ID, 达人昵称, 流量体裁, 流量渠道, 流量来源, 流量类型, "
        "平台实际承担优惠金额, 商家实际承担优惠金额, 达人实际承担优惠金额"
    ),
    "youzan_orders.xlsx": (
        "订单号, 销售渠道, 归属店铺, 订单类型, 订单状态, 推广方式, 订单来源, 订单创建时间, 买家付款时间, 交易成功时间, "
        "付款方式, 支付流水号, 商品金额合计, 运费, 店铺优惠合计, 应收订单金额, 订单实付金额, 支付优惠合计, 订单实收金额, "
        "订单抵用积分数, 全部商品名称, 商品种类数, 订单配送方式, 收货人省份, 收货人城市, 收货人地区, "
        "详细收货地址/提货地址, 收货人/提货人, 收货人手机号/提货人手机号, 买家备注, 买家昵称, 买家是否会员, 买家手机号, "
        "下单网点, 收银员, 分销员, 销售导购, 专属导购, 订单退款状态, 订单已退款金额, 商家订单备注, 分销员手机号, "
        "优惠券码名称"
    ),
    "wecom_contacts.xlsx": (
        "客户名称, 客户备注, 类型, 性别, 添加人, 添加人账号, 添加时间, 添加渠道, 标签, 企业标签, 备注手机号, 描述, "
        "备注企业, external_userid, unionid"
    ),
    "pos_members.csv": "会员卡号, 会员姓名, 手机号, 性别, 生日, 邮箱, 省, 市, 区, 地址, 注册门店, 注册时间, 专属导购",
    "pos_sales.csv": "单号, 会员卡号, 门店, 销售时间, 商品编码, 商品名称, 数量, 金额, 导购, 单据状态",
}
REFERENCE_HEADERS = {k: [h.strip() for h in v.split(",")] for k, v in REFERENCE_HEADERS.items()}
RECORD_ID = {
    "taobao_orders.csv": ("tmall", "订单编号"),
    "jd_orders.xlsx": ("jd", "订单号"),
    "douyin_orders.csv": ("douyin", "主订单编号"),
    "youzan_orders.xlsx": ("youzan", "订单号"),
    "wecom_contacts.xlsx": ("wecom", "external_userid"),
    "pos_members.csv": ("pos", "会员卡号"),
    "pos_sales.csv": ("pos", "单号"),
}


def clean(value) -> str | None:
    """What the importer does to a cell: strip Excel guards, apostrophes, tabs; '-', 'null' are missing."""
    if value is None:
        return None
    s = str(value)
    m = re.fullmatch(r'="(.*)"', s)
    if m:
        s = m.group(1)
    s = s.lstrip("'\t ").strip()
    return None if s in ("", "-", "null", "NULL", "None") else s


def read_rows(path: Path) -> list[dict]:
    """Parse a generated file the way a reader would (csv for CSV in its encoding, calamine for XLSX)."""
    if path.suffix == ".xlsx":
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header = sheet[0]
        return [dict(zip(header, row, strict=True)) for row in sheet[1:]]
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if path.name != "taobao_orders.csv" else raw.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    out = tmp_path_factory.mktemp("brand")
    manifest = generate_brand(out, people=PEOPLE, seed=7)
    return out, manifest


@pytest.fixture(scope="module")
def parsed(brand):
    out, _ = brand
    return {name: read_rows(out / name) for name in REFERENCE_HEADERS}


@pytest.fixture(scope="module")
def truth(brand):
    out, manifest = brand
    return pl.read_csv(manifest.ground_truth, infer_schema=False)


@pytest.fixture(scope="module")
def persons(brand):
    out, manifest = brand
    return pl.read_csv(manifest.persons, infer_schema=False)


def test_files_exist_and_manifest_round_trips(brand):
    out, manifest = brand
    names = sorted(f.path.name for f in manifest.files)
    assert names == sorted(REFERENCE_HEADERS)
    assert {f.format for f in manifest.files} == {"taobao", "jd", "douyin", "youzan", "wecom", "pos"}
    assert {f.source for f in manifest.files} == {"tmall", "jd", "douyin", "youzan", "wecom", "pos"}
    for f in manifest.files:
        assert f.path.is_file() and f.rows > 0
    loaded = load_manifest(out)
    assert loaded == manifest
    assert load_manifest(out / "manifest.json") == manifest
    assert manifest.people == PEOPLE
    assert {"code", "name", "city"} <= set(manifest.stores[0])
    assert {"name", "wecom_userid", "store_code"} <= set(manifest.guides[0])
    assert len({g["name"] for g in manifest.guides}) == len(manifest.guides)
    store_codes = {s["code"] for s in manifest.stores}
    assert all(g["store_code"] in store_codes for g in manifest.guides if g["store_code"] is not None)
    # Roughly 3–5 rows per person in all.
    total = sum(f.rows for f in manifest.files)
    assert 3 * PEOPLE <= total <= 5 * PEOPLE


def test_taobao_is_gb18030_with_crlf_and_trailing_comma(brand):
    out, _ = brand
    raw = (out / "taobao_orders.csv").read_bytes()
    text = raw.decode("gb18030")
    assert re.search(r"[\u4e00-\u9fff]", text)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = raw.split(b"\r\n")
    assert lines[-1] == b""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(line.endswith(b",") for line in lines[:-1])
    body = text.split("\r\n")[1:-1]
    assert all(re.match(r'="\d{19}",', line) for line in body)


def test_douyin_has_bom_and_tab_guarded_ids(brand):
    out, _ = brand
    raw = (out / "douyin_orders.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    second = raw.decode("utf-8-sig").split("\r\n")[1]
    assert re.match(r'"\t69\d{17}","\t69\d{17}",', second)


def test_headers_match_the_references(parsed, brand):
    out, _ = brand
    for name, expected in REFERENCE_HEADERS.items():
        if name.endswith(".xlsx"):
            header = CalamineWorkbook.from_path(str(out / name)).get_sheet_by_index(0).to_python(nrows=1)[0]
        else:
            raw = (out / name).read_bytes()
            text = raw.decode("gb18030") if name.startswith("taobao") else raw.decode("utf-8-sig")
            header = next(csv.reader(io.StringIO(text)))
        if name.startswith("taobao"):
            assert header[-1] == ""  # the trailing empty column
            header = header[:-1]
        assert header == expected, name


def test_ground_truth_has_one_row_per_record_and_covers_every_file(parsed, truth):
    assert truth.columns == ["source", "record_id", "person_id"]
    assert truth.select("source", "record_id").is_unique().all()
    assert truth["record_id"].null_count() == 0 and truth["person_id"].null_count() == 0
    in_files: dict[str, set[str]] = defaultdict(set)
    for name, (source, column) in RECORD_ID.items():
        ids = [clean(row[column]) for row in parsed[name]]
        assert all(ids), name
        in_files[source].update(ids)
    for source, ids in in_files.items():
        expected = set(truth.filter(pl.col("source") == source)["record_id"].to_list())
        assert ids == expected, source
    # Record ids carry no quoting artefacts.
    assert not truth.filter(pl.col("record_id").str.contains(r'[="\t\' ]')).height


def test_multi_line_orders_share_their_order_id(parsed):
    jd = Counter(clean(r["订单号"]) for r in parsed["jd_orders.xlsx"])
    assert max(jd.values()) > 1
    douyin = Counter(clean(r["主订单编号"]) for r in parsed["douyin_orders.csv"])
    assert max(douyin.values()) > 1
    sub = [clean(r["子订单编号"]) for r in parsed["douyin_orders.csv"]]
    assert len(set(sub)) == len(sub)


def test_taobao_masks_buyers(parsed):
    rows = parsed["taobao_orders.csv"]
    phones = [r["联系手机"] for r in rows]
    assert all(p.startswith("'") for p in phones)
    masked = sum(bool(re.fullmatch(r"'1\d\d\*{4}\d{4}", p)) for p in phones)
    virtual = sum(bool(re.fullmatch(r"'1\d{10}-\d{4}", p)) for p in phones)
    full = sum(bool(re.fullmatch(r"'1\d{10}", p)) for p in phones)
    assert masked + virtual + full == len(rows)
    assert masked > len(rows) / 2 and 0 < virtual < masked and 0 < full < masked
    names = [r["收货人姓名"] for r in rows]
    assert sum("*" in n for n in names) > len(names) / 2
    statuses = Counter(r["订单状态"] for r in rows)
    assert (
        {"交易成功", "交易关闭", "退款成功"}
        <= set(statuses)
        <= {"交易成功", "交易关闭", "等待买家付款", "退款成功"}
    )
    assert statuses["交易成功"] > len(rows) / 2
    amounts = [r["总金额"] for r in rows]
    assert any(a.startswith(("¥", "￥")) for a in amounts) and any("," in a for a in amounts)


def test_repeat_buyers_share_their_platform_id(parsed, truth):
    person = dict(truth.filter(pl.col("source") == "tmall").select("record_id", "person_id").iter_rows())
    nick_people: dict[str, set[str]] = defaultdict(set)
    for r in parsed["taobao_orders.csv"]:
        nick_people[r["买家会员名"]].add(person[clean(r["订单编号"])])
    assert all(len(p) == 1 for p in nick_people.values())  # a nickname is one person
    assert len(nick_people) < len(parsed["taobao_orders.csv"])  # …with repeat orders


def test_full_phones_belong_to_the_ground_truth_person(parsed, truth, persons):
    phone_of = dict(persons.select("person_id", "phone").iter_rows())
    person = dict(truth.filter(pl.col("source") == "youzan").select("record_id", "person_id").iter_rows())
    rows = [r for r in parsed["youzan_orders.xlsx"] if clean(r["买家手机号"])]
    assert len(rows) > len(parsed["youzan_orders.xlsx"]) / 2
    same = sum(phone_of[person[r["订单号"]]] == clean(r["买家手机号"]) for r in rows)
    assert same >= 0.97 * len(rows)  # the rest are typos
    members = {clean(r["会员卡号"]) for r in parsed["pos_members.csv"]}
    pos = dict(truth.filter(pl.col("source") == "pos").select("record_id", "person_id").iter_rows())
    for r in parsed["pos_sales.csv"]:
        assert clean(r["会员卡号"]) in members
        assert pos[clean(r["单号"])] == pos[clean(r["会员卡号"])]


def test_households_share_address_and_surname_but_are_different_people(persons, truth):
    key = ["province", "city", "district", "address", "surname"]
    shared = persons.group_by(key).agg(pl.col("person_id").n_unique().alias("n")).filter(pl.col("n") > 1)
    assert shared.height >= PEOPLE * 0.02
    # Both members of some households appear in the channel data.
    seen = set(truth["person_id"].to_list())
    households = persons.filter(pl.col("household").is_not_null()).group_by("household").agg("person_id")
    assert any(all(p in seen for p in ps) for ps in households["person_id"].to_list())


def test_store_landlines_are_shared_by_several_members(parsed, truth):
    pos = dict(truth.filter(pl.col("source") == "pos").select("record_id", "person_id").iter_rows())
    by_phone: dict[str, set[str]] = defaultdict(set)
    for r in parsed["pos_members.csv"]:
        if re.fullmatch(r"0\d{2,3}-\d{7,8}", r["手机号"]):
            by_phone[r["手机号"]].add(pos[r["会员卡号"]])
    assert by_phone
    assert max(len(p) for p in by_phone.values()) >= 3  # several different people behind one landline


def test_same_seed_gives_the_same_bytes(brand, tmp_path):
    out, _ = brand
    again = generate_brand(tmp_path / "again", people=PEOPLE, seed=7)
    for name in (
        "taobao_orders.csv",
        "douyin_orders.csv",
        "pos_sales.csv",
        "jd_orders.xlsx",
        "ground_truth.csv",
    ):
        assert (out / name).read_bytes() == (again.ground_truth.parent / name).read_bytes(), name
    other = generate_brand(tmp_path / "other", people=PEOPLE, seed=8)
    assert (out / "taobao_orders.csv").read_bytes() != (
        other.ground_truth.parent / "taobao_orders.csv"
    ).read_bytes()


def test_large_xlsx_is_split_without_splitting_an_order(tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 150)
    manifest = generate_brand(tmp_path, people=300, seed=3)
    jd = [f for f in manifest.files if f.format == "jd"]
    assert len(jd) > 1
    assert [f.path.name for f in jd] == [f"jd_orders_{i}.xlsx" for i in range(1, len(jd) + 1)]
    owners: dict[str, set[str]] = defaultdict(set)
    for f in jd:
        rows = read_rows(f.path)
        assert len(rows) == f.rows <= 150
        for r in rows:
            owners[r["订单号"]].add(f.path.name)
    assert all(len(files) == 1 for files in owners.values())
    truth = pl.read_csv(manifest.ground_truth, infer_schema=False).filter(pl.col("source") == "jd")
    assert set(owners) == set(truth["record_id"].to_list())


def test_douyin_line_amounts_add_up_to_what_the_buyer_paid(parsed):
    """订单应付金额 is per sub-order: summed over an order's lines (as the importer does) it is the goods
    amount less the platform's discount, never the order total once per line."""
    rows = parsed["douyin_orders.csv"]
    goods, payable, off = Counter(), Counter(), Counter()
    for r in rows:
        order = clean(r["主订单编号"])
        goods[order] += round(float(r["商品金额"]) * 100)
        payable[order] += round(float(r["订单应付金额"]) * 100)
        off[order] += round(float(r["平台实际承担优惠金额"]) * 100)
    assert all(payable[o] == goods[o] - off[o] for o in goods)
    assert any(off[o] > 0 for o in goods)
    assert all(round(float(r["订单应付金额"]) * 100) >= 0 for r in rows)
