"""Chinese addresses: platform formats, short forms, municipalities, given columns, tiers, bulk == scalar."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.normalise import ADDRESS_COLUMNS, Address, city_tier, parse_address, parse_addresses
from siyu.ingest.normalise.address import _gazetteer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Taobao: full names separated by spaces
        (
            "广东省 深圳市 南山区 粤海街道 科技园1号",
            Address("广东省", "深圳市", "南山区", "粤海街道 科技园1号", 1),
        ),
        # Taobao mask: cut after the district
        ("广东省 深圳市 南山区 ****", Address("广东省", "深圳市", "南山区", None, 1)),
        # JD: short province glued to the rest
        ("广东深圳市南山区科技园1号", Address("广东省", "深圳市", "南山区", "科技园1号", 1)),
        ("广东深圳南山区", Address("广东省", "深圳市", "南山区", None, 1)),
        # municipalities: city = province
        ("北京市朝阳区建国路88号", Address("北京市", "北京市", "朝阳区", "建国路88号", 1)),
        ("北京朝阳区", Address("北京市", "北京市", "朝阳区", None, 1)),
        ("上海上海市徐汇区虹漕路461号", Address("上海市", "上海市", "徐汇区", "虹漕路461号", 1)),
        ("重庆市渝中区解放碑", Address("重庆市", "重庆市", "渝中区", "解放碑", 2)),
        # a unique district is enough
        ("徐汇区虹漕路461号", Address("上海市", "上海市", "徐汇区", "虹漕路461号", 1)),
        # an ambiguous district alone is not (北京 and 长春 both have 朝阳区)
        ("朝阳区建国路", Address(None, None, None, "朝阳区建国路", None)),
        ("吉林省长春市朝阳区", Address("吉林省", "长春市", "朝阳区", None, 3)),
        ("吉林吉林市船营区", Address("吉林省", "吉林市", "船营区", None, 4)),
        # streets named after places stay streets
        ("湖南路8号", Address(None, None, None, "湖南路8号", None)),
        ("东方红路1号", Address(None, None, None, "东方红路1号", None)),
        ("上海市南京东路1号", Address("上海市", "上海市", None, "南京东路1号", 1)),
        ("深圳市南山区深南大道", Address("广东省", "深圳市", "南山区", "深南大道", 1)),
        # autonomous regions, prefectures, province-run county-level cities, towns of Dongguan
        ("广西南宁市青秀区民族大道", Address("广西壮族自治区", "南宁市", "青秀区", "民族大道", 3)),
        ("内蒙古呼和浩特市", Address("内蒙古自治区", "呼和浩特市", None, None, 4)),
        ("黔南州都匀市", Address("贵州省", "黔南布依族苗族自治州", "都匀市", None, 4)),
        ("湖北省仙桃市干河街道", Address("湖北省", "仙桃市", None, "干河街道", 5)),
        ("广东省东莞市虎门镇", Address("广东省", "东莞市", "虎门镇", None, 2)),
        ("香港特别行政区 九龙", Address("香港特别行政区", "香港特别行政区", None, "九龙", None)),
        # country prefix, full-width characters, separators
        ("中国 浙江省 杭州市 西湖区 文一路", Address("浙江省", "杭州市", "西湖区", "文一路", 2)),
        ("江苏省，苏州市，工业园区　星湖街１号", Address("江苏省", "苏州市", None, "工业园区 星湖街1号", 2)),
        ("江西 南昌 红谷滩", Address("江西省", "南昌市", None, "红谷滩", 3)),
        ("", Address()),
        (None, Address()),
    ],
)
def test_examples(raw, expected):
    assert parse_address(raw) == expected


def test_douyin_separate_columns():
    assert parse_address("科技园1号", "广东省", "深圳市", "南山区") == Address(
        "广东省", "深圳市", "南山区", "科技园1号", 1
    )
    # short forms in columns and the names repeated in the detail text
    assert parse_address("广东省深圳市南山区科技园1号", "广东", "深圳", "南山") == Address(
        "广东省", "深圳市", "南山区", "科技园1号", 1
    )
    assert parse_address(None, "北京市", "市辖区", "朝阳区") == Address("北京市", "北京市", "朝阳区", None, 1)
    # the column decides between the two 朝阳区
    assert parse_address("朝阳区人民大街", "吉林省", "长春市", None).district == "朝阳区"
    # a district newer than our data is kept as the platform gave it
    assert parse_address("xx路", "广东省", "深圳市", "前海新区") == Address(
        "广东省", "深圳市", "前海新区", "xx路", 1
    )


def test_city_tiers():
    assert [city_tier(c) for c in ["上海市", "杭州市", "厦门市", "绵阳市", "石河子市", "台北市", None]] == [
        1,
        2,
        3,
        4,
        5,
        None,
        None,
    ]


g = _gazetteer()
places = sorted((g.province_of_city[c], c, d) for c, ds in g.districts.items() for d in ds)
streets = st.text(alphabet="0123456789号栋室路街", min_size=1, max_size=6).map(lambda s: "幸福" + s)


@settings(max_examples=200, deadline=None)
@given(place=st.sampled_from(places), street=streets, sep=st.sampled_from(["", " "]))
def test_full_names_always_come_back(place, street, sep):
    province, city, district = place
    a = parse_address(sep.join([province, city, district, street]))
    assert (a.province, a.city, a.district, a.street) == (province, city, district, street)
    assert a.city_tier == city_tier(city)


@settings(max_examples=200, deadline=None)
@given(place=st.sampled_from(places), street=streets)
def test_given_columns_and_text_agree(place, street):
    province, city, district = place
    assert parse_address(street, province, city, district) == parse_address(
        province + city + district + street
    )


address_like = st.one_of(
    st.builds(
        lambda p, parts, street: "".join(x for x, keep in zip(p, parts, strict=True) if keep) + street,
        st.sampled_from(places),
        st.tuples(st.booleans(), st.booleans(), st.booleans()),
        streets,
    ),
    st.text(alphabet="广东省深圳市南山区北京朝阳上海中国湖南路号 ,，　１*", max_size=16),
    st.text(max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(raw=address_like)
def test_parsing_the_parsed_result_changes_nothing(raw):
    a = parse_address(raw)
    assert parse_address(a.street, a.province, a.city, a.district) == a


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), address_like), max_size=30))
def test_bulk_agrees_with_scalar(values):
    frame = parse_addresses(pl.Series(values, dtype=pl.String))
    assert frame.columns == list(ADDRESS_COLUMNS)
    assert frame.rows() == [tuple(getattr(parse_address(v), k) for k in ADDRESS_COLUMNS) for v in values]


given_values = st.one_of(
    st.none(), st.sampled_from(["广东", "广东省", "北京市", "海外", "深圳", "市辖区", "南山", "朝阳区"])
)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), address_like), given_values, given_values, given_values), max_size=20
    )
)
def test_bulk_with_given_columns_agrees_with_scalar(rows):
    cols = [pl.Series([r[i] for r in rows], dtype=pl.String) for i in range(4)]
    frame = parse_addresses(*cols)
    assert frame.rows() == [tuple(getattr(parse_address(*r), k) for k in ADDRESS_COLUMNS) for r in rows]
