"""Which values are identifiers: placeholders, masks, fillers and malformed values never are, per type; the
vectorised path agrees with the scalar on any text."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.normalise import normalise_phones
from siyu.ingest.normalise.identifiers import identifier_problem, identifier_problems, phone_problems


@pytest.mark.parametrize(
    ("id_type", "raw", "problem"),
    [
        # what platforms and people put in 买家支付宝账号 when there is no account to show
        *[
            ("alipay", v, "placeholder")
            for v in ("**", "***", "＊＊", "无", "0", "000000", "n.a.", "未知", "匿名", "test")
        ],
        *[("alipay", v, "empty") for v in ("", "  ", "-", "null", "None", "N/A", None)],
        ("alipay", "138****5678", "masked"),
        ("alipay", "138xxxx5678", "masked"),
        ("alipay", "ab***@163.com", "masked"),
        ("alipay", "zhangsan", "not_an_account"),
        ("alipay", "14012345678", "not_an_account"),  # no such mobile range
        ("alipay", "13812345678", None),
        ("alipay", "+86 138 1234 5678", None),
        ("alipay", "zhang.san@163.com", None),
        ("alipay", "2088102122458832", None),  # an Alipay user id
        ("alipay", "+85261234567", None),  # a Hong Kong mobile
        ("phone", "13812345678", None),
        ("phone", "021-66668888", None),
        ("phone", "138****5678", "masked"),
        ("phone", "17012345678-1234", "virtual_phone"),
        ("phone", "14012345678", "invalid_phone"),
        ("phone", "12345678", "invalid_phone"),
        ("phone", "13800138000", "placeholder"),
        ("phone", "13888888888", "repeated"),
        ("phone", "无", "placeholder"),
        ("phone", "**", "placeholder"),
        ("email", "zhang@163.com", None),
        ("email", "zhang", "invalid_email"),
        ("email", "zhang@", "invalid_email"),
        ("email", "zhang@localhost", "invalid_email"),
        ("email", "test@test.com", "placeholder"),
        ("email", "li@example.com", "placeholder"),
        ("email", "none@163.com", "placeholder"),
        ("email", "aaaa@qq.com", "repeated"),
        ("email", "z***@163.com", "masked"),
        ("taobao_buyer", "tb_alice", None),
        ("taobao_buyer", "张三", None),
        ("taobao_buyer", "xxx_lover", None),  # x runs mask only digits
        ("taobao_buyer", "t**1", "masked"),
        ("taobao_buyer", "a", "too_short"),
        ("taobao_buyer", "aaaaaa", "repeated"),
        ("jd_account", "jd_5a3b2c1d9e8f", None),
        ("jd_account", "j***5", "masked"),
        ("unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL", None),
        ("external_userid", "wmXX12abcdefghijklmnopqrstuvwxyz", None),
        ("external_userid", "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", None),
        ("unionid", "ab", "too_short"),
        ("unionid", "张三的微信", "not_an_account"),
        ("member_no", "8000123456", None),
        ("member_no", "M001", None),
        ("member_no", "M", "too_short"),
        ("member_no", "11", None),  # customer 11 of a sequential numbering
        ("ssn", "7", "too_short"),
        ("member_no", "11111111", "repeated"),
        ("member_no", "123456", "repeated"),
        ("member_no", "00000000", "placeholder"),
        ("ssn", "1000123", None),
        ("ssn", "---", "placeholder"),
    ],
)
def test_examples(id_type, raw, problem):
    assert identifier_problem(id_type, raw) == problem
    assert identifier_problems(id_type, pl.Series([raw], dtype=pl.String)).to_list() == [problem]


ID_TYPES = (
    "phone",
    "email",
    "alipay",
    "taobao_buyer",
    "jd_account",
    "unionid",
    "external_userid",
    "member_no",
    "ssn",
)
_ALPHABET = "0123456789xX*＊×@._-+ 　abcz张三无未知０１"
_SHAPES = st.one_of(
    st.text(alphabet=_ALPHABET, max_size=20),
    st.text(max_size=12),
    st.builds(lambda p, r: f"1{p}{r}", st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9)),
    st.builds(lambda a, b: f"{a}@{b}.com", st.text(alphabet="abc0_.", min_size=1, max_size=6), st.text(alphabet="abz-.", max_size=6)),
    st.builds(lambda s: "wm" + s, st.text(alphabet="AbXx09_-", min_size=6, max_size=34)),
    st.builds(lambda d: "2088" + d, st.text(alphabet="0123456789", min_size=10, max_size=14)),
    st.sampled_from(["**", "-", "***", "无", "0", "null", "none", "n/a", "未知", "匿名", "test", "000000", "13800138000"]),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ID_TYPES), st.lists(st.one_of(st.none(), _SHAPES), max_size=30))
def test_bulk_equals_scalar(id_type, values):
    bulk = identifier_problems(id_type, pl.Series(values, dtype=pl.String)).to_list()
    assert bulk == [identifier_problem(id_type, v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _SHAPES), max_size=30))
def test_phone_problems_from_normalised_phones_equal_the_scalar(values):
    raw = pl.Series(values, dtype=pl.String)
    assert phone_problems(raw, normalise_phones(raw)).to_list() == [
        identifier_problem("phone", v) for v in values
    ]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ID_TYPES), _SHAPES)
def test_a_value_with_a_mask_character_is_never_an_identifier(id_type, value):
    for mask in ("*", "＊"):
        assert identifier_problem(id_type, value[:3] + mask + value[3:]) is not None


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["alipay", "taobao_buyer", "member_no", "ssn"]),
    st.lists(st.one_of(st.none(), _SHAPES), max_size=20),
)
def test_the_bulk_identifier_mask_equals_the_scalar(id_type, values):
    from siyu.ingest.masks import mask_identifiers
    from siyu.ingest.normalise.identifiers import mask_identifier

    bulk = mask_identifiers(id_type, pl.Series(values, dtype=pl.String)).to_list()
    assert bulk == [mask_identifier(id_type, v) for v in values]


def test_masks_show_the_ends_of_an_id_and_placeholders_as_they_are():
    from siyu.ingest.normalise.identifiers import mask_identifier

    assert mask_identifier("taobao_buyer", "tb_zhangwei_1988") == "t******8"
    assert mask_identifier("alipay", "**") == "**"
    assert mask_identifier("phone", "+8613912345678") == "139****5678"
    assert mask_identifier("email", "zhang@163.com") == "z***@163.com"
