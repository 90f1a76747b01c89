"""Phone numbers: full, masked, virtual and landline forms, and the vectorised path agreeing with the scalar."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.normalise import PHONE_COLUMNS, Phone, normalise_phone, normalise_phones


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", Phone("mobile", "+8613812345678", "5678", "138")),
        ("+86 138-1234-5678", Phone("mobile", "+8613812345678", "5678", "138")),
        ("0086 13812345678", Phone("mobile", "+8613812345678", "5678", "138")),
        ("１３８１２３４５６７８", Phone("mobile", "+8613812345678", "5678", "138")),
        ("138****5678", Phone("masked", "138****5678", "5678", "138")),
        ("138xxxx5678", Phone("masked", "138****5678", "5678", "138")),
        ("138*****5678", Phone("masked", "138****5678", "5678", "138")),  # re-padded to 11 characters
        ("*******5678", Phone("masked", "*******5678", "5678", None)),
        ("1381234****", Phone("masked", "1381234****", None, "1381234")),
        ("17012345678-1234", Phone("virtual", "+8617012345678-1234", "1234", None)),
        ("17012345678转1234", Phone("virtual", "+8617012345678-1234", "1234", None)),
        ("13812345678#56", Phone("virtual", "+8613812345678-56", "56", None)),
        ("010-12345678", Phone("landline", "+861012345678", "5678", None)),
        ("0755 8888 8888", Phone("landline", "+8675588888888", "8888", None)),
        ("(0755)88888888", Phone("landline", "+8675588888888", "8888", None)),
        ("021-6666 6666-123", Phone("landline", "+862166666666;ext=123", "6666", None)),
        ("021-66666666转8001", Phone("landline", "+862166666666;ext=8001", "6666", None)),
        ("12345678", Phone("invalid", "12345678")),  # a landline without area code cannot be placed
        ("400-810-8888", Phone("invalid", "400-810-8888")),
        ("无  电话", Phone("invalid", "无 电话")),
        ("***", Phone("invalid", "***")),
        ("-", None),
        ("", None),
        (None, None),
    ],
)
def test_examples(raw, expected):
    assert normalise_phone(raw) == expected


def test_a_masked_number_compares_with_the_full_one_by_prefix_and_tail():
    full, masked = normalise_phone("13812345678"), normalise_phone("138****5678")
    assert (full.prefix, full.tail) == (masked.prefix, masked.tail)


def test_virtual_numbers_on_one_base_differ_by_extension():
    a, b = normalise_phone("17012345678-1111"), normalise_phone("17012345678-2222")
    assert a.value != b.value and (a.tail, b.tail) == ("1111", "2222")


digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
mobiles = st.builds(lambda second, rest: f"1{second}{rest}", st.sampled_from("3456789"), digits)


def decorate(number: str, country: str, sep: str, fullwidth: bool) -> str:
    text = country + sep.join([number[:3], number[3:7], number[7:]])
    if fullwidth:
        text = text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789+"})
    return text


@settings(max_examples=150, deadline=None)
@given(
    number=mobiles,
    country=st.sampled_from(["", "+86", "+86 ", "0086", "86", "+86-"]),
    sep=st.sampled_from(["", " ", "-"]),
    fullwidth=st.booleans(),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_mobile_round_trip_from_any_decoration(number, country, sep, fullwidth, pad):
    p = normalise_phone(pad + decorate(number, country, sep, fullwidth) + pad)
    assert p == Phone("mobile", "+86" + number, number[-4:], number[:3])


@settings(max_examples=150, deadline=None)
@given(
    head=st.text(alphabet="0123456789", max_size=3).map(lambda s: "1" + s if s else s),
    stars=st.text(alphabet="*xX", min_size=1, max_size=8),
    tail=st.text(alphabet="0123456789", max_size=4),
)
def test_masked_stays_masked_with_its_visible_digits(head, stars, tail):
    if not head and not tail:
        return
    p = normalise_phone(head + stars + tail)
    assert p.kind == "masked"
    assert len(p.value) == 11  # mobile masks are re-padded to a mobile's length
    assert p.value.startswith(head) and p.value.endswith(tail)
    assert set(p.value[len(head) : 11 - len(tail)]) == {"*"}
    assert p.tail == (tail if len(tail) == 4 else None)
    assert p.prefix == (head or None)


@settings(max_examples=100, deadline=None)
@given(
    number=mobiles,
    ext=st.text(alphabet="0123456789", min_size=1, max_size=6),
    sep=st.sampled_from(["-", "转"]),
)
def test_virtual_keeps_the_extension_as_tail(number, ext, sep):
    assert normalise_phone(f"{number}{sep}{ext}") == Phone("virtual", f"+86{number}-{ext}", ext, None)


phone_like = st.one_of(
    mobiles,
    st.builds(
        decorate,
        mobiles,
        st.sampled_from(["", "+86", "0086 "]),
        st.sampled_from(["", " ", "-"]),
        st.booleans(),
    ),
    st.builds(
        lambda m, e, s: f"{m}{s}{e}",
        mobiles,
        st.text("0123456789", min_size=1, max_size=7),
        st.sampled_from("-转#"),
    ),
    st.builds(
        lambda area, local, ext: f"0{area}-{local}" + (f"-{ext}" if ext else ""),
        st.sampled_from(["10", "21", "755", "571", "20", "999", "311"]),
        st.text("0123456789", min_size=6, max_size=9),
        st.text("0123456789", max_size=4),
    ),
    st.text(alphabet="0123456789+-*xX转() #", max_size=18),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(raw=phone_like)
def test_normalising_a_normalised_value_changes_nothing(raw):
    p = normalise_phone(raw)
    if p is not None:
        assert normalise_phone(p.value) == p


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), phone_like), max_size=40))
def test_bulk_agrees_with_scalar(values):
    frame = normalise_phones(pl.Series(values, dtype=pl.String))
    assert frame.columns == list(PHONE_COLUMNS)
    expected = [
        (None, None, None, None) if (p := normalise_phone(v)) is None else (p.value, p.kind, p.tail, p.prefix)
        for v in values
    ]
    assert frame.rows() == expected


def test_bulk_on_a_typical_column():
    frame = normalise_phones(
        pl.Series(["13812345678", "138****5678", "17012345678-1234", "010-12345678", None, "x"])
    )
    assert frame["phone_kind"].to_list() == ["mobile", "masked", "virtual", "landline", None, "invalid"]
    assert frame["phone"].to_list() == [
        "+8613812345678",
        "138****5678",
        "+8617012345678-1234",
        "+861012345678",
        None,
        "x",
    ]
