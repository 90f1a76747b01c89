"""Gender, birthday, email, amount and local time: examples, properties, and bulk == scalar."""

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.normalise import (
    normalise_email,
    normalise_emails,
    normalise_gender,
    normalise_genders,
    parse_amount,
    parse_amounts,
    parse_birthday,
    parse_birthday_column,
    parse_birthdays,
    parse_local_time,
    parse_local_times,
)
from siyu.ingest.normalise.values import day_month_order

UTC = dt.UTC


def outcome(fn, value):
    try:
        return fn(value), None
    except ValueError as e:
        return None, str(e)


# --- gender ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("男", "M"), ("男性", "M"), ("先生", "M"), ("M", "M"), ("male", "M"), (" Male ", "M"), ("1", "M"),
        ("女", "F"), ("女性", "F"), ("女士", "F"), ("f", "F"), ("FEMALE", "F"), ("2", "F"), ("Ｆ", "F"),
        ("0", None), ("未知", None), ("保密", None), ("-", None), ("", None), (None, None),
    ],
)  # fmt: skip
def test_gender_examples(raw, expected):
    assert normalise_gender(raw) == expected


def test_genders_bulk():
    s = pl.Series(["男", "女士", "unknown", None, "2"])
    assert normalise_genders(s).to_list() == [normalise_gender(v) for v in s] == ["M", "F", None, None, "F"]


# --- birthday --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-05-06", dt.date(1990, 5, 6)),
        ("1990/5/6", dt.date(1990, 5, 6)),
        ("19900506", dt.date(1990, 5, 6)),
        ("1990年5月6日", dt.date(1990, 5, 6)),
        ("1990-05-06 00:00:00", dt.date(1990, 5, 6)),  # a date cell from Excel
        ("05-06", None),  # no year: nothing to store
        ("5月6日", None),
        ("", None),
        (None, None),
    ],
)
def test_birthday_examples(raw, expected):
    assert parse_birthday(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2023-02-30", "not a real date"),
        ("1899-12-31", "before 1900"),
        ("2999-01-01", "in the future"),
        ("soon", "not a date"),
    ],
)
def test_birthday_rejections_explain_themselves(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_birthday(raw)


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()),
    shape=st.sampled_from(
        ["{:%Y-%m-%d}", "{d.year}/{d.month}/{d.day}", "{:%Y%m%d}", "{d.year}年{d.month}月{d.day}日"]
    ),
)
def test_any_past_date_in_any_shape_round_trips(day, shape):
    assert parse_birthday(shape.format(day, d=day)) == day


def test_birthdays_bulk_reports_errors_per_row():
    values, errors = parse_birthdays(pl.Series("生日", ["1990-05-06", "2023-02-30", "05-06", None]))
    assert values.to_list() == [dt.date(1990, 5, 6), None, None, None]
    assert errors.to_list() == [None, "not a real date: '2023-02-30'", None, None]


# --- email -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Alice.Wang@Example.COM ", "alice.wang@example.com"),
        ("12345@qq.com", "12345@qq.com"),
        ("ａｂｃ＠１６３．ｃｏｍ", "abc@163.com"),
        ("no-at-sign", None),
        ("a@b", None),
        ("a b@c.com", None),
        ("-", None),
        (None, None),
    ],
)
def test_email_examples(raw, expected):
    assert normalise_email(raw) == expected


emails = st.one_of(st.emails(), st.text(alphabet="aB1@.-_ ＠", max_size=12), st.text(max_size=8))


@settings(max_examples=200, deadline=None)
@given(raw=emails)
def test_email_is_idempotent(raw):
    e = normalise_email(raw)
    if e is not None:
        assert normalise_email(e) == e == e.lower()


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), emails), max_size=30))
def test_emails_bulk_agrees_with_scalar(values):
    assert normalise_emails(pl.Series(values, dtype=pl.String)).to_list() == [
        normalise_email(v) for v in values
    ]


# --- amount ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("¥1,234.50", Decimal("1234.50")),
        ("￥ 99", Decimal("99.00")),
        ("RMB 12.3", Decimal("12.30")),
        ("88元", Decimal("88.00")),
        ("-12.5", Decimal("-12.50")),
        ("0.005", Decimal("0.01")),  # half up
        ("", None),
        ("-", None),
        (None, None),
    ],
)
def test_amount_examples(raw, expected):
    assert parse_amount(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"), [("abc", "not an amount"), ("12.3.4", "not an amount"), ("1e20", "not")]
)
def test_amount_rejections_explain_themselves(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_amount(raw)


@settings(max_examples=200, deadline=None)
@given(
    value=st.decimals(min_value=-(10**12), max_value=10**12, places=2),
    currency=st.sampled_from(["", "¥", "￥", "RMB ", "¥ "]),
    suffix=st.sampled_from(["", "元", " "]),
    thousands=st.booleans(),
)
def test_formatted_amounts_round_trip(value, currency, suffix, thousands):
    text = f"{value:,.2f}" if thousands else f"{value:.2f}"
    assert parse_amount(currency + text + suffix) == value


amounts = st.one_of(
    st.decimals(min_value=-(10**17), max_value=10**17, places=3).map(str),
    st.text(alphabet="0123456789.,-+ ¥￥元RMB", max_size=12),
    st.text(max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), amounts), max_size=30))
def test_amounts_bulk_agrees_with_scalar(values):
    result, errors = parse_amounts(pl.Series("金额", values, dtype=pl.String))
    assert result.dtype == pl.Decimal(18, 2)
    assert list(zip(result.to_list(), errors.to_list(), strict=True)) == [
        outcome(parse_amount, v) for v in values
    ]


# --- local time ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02 08:30:00", dt.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)),
        ("2024/1/2 8:30", dt.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)),
        ("2024/01/02 08:30:15", dt.datetime(2024, 1, 2, 0, 30, 15, tzinfo=UTC)),
        ("2024-01-02", dt.datetime(2024, 1, 1, 16, 0, tzinfo=UTC)),
        ("2024-01-02T08:30:00", dt.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)),
        ("2024-01-02T08:30:00Z", dt.datetime(2024, 1, 2, 8, 30, tzinfo=UTC)),  # an explicit zone wins
        ("2024-01-02 08:30:00.250", dt.datetime(2024, 1, 2, 0, 30, 0, 250000, tzinfo=UTC)),
        ("2024年1月2日 8:30", dt.datetime(2024, 1, 2, 0, 30, tzinfo=UTC)),
        ("19970101", dt.datetime(1996, 12, 31, 16, 0, tzinfo=UTC)),  # CDNOW's dates
        ("19970101 08:30:00", dt.datetime(1997, 1, 1, 0, 30, tzinfo=UTC)),
        ("", None),
        ("-", None),
        (None, None),
    ],
)
def test_local_time_examples(raw, expected):
    assert parse_local_time(raw) == expected


@pytest.mark.parametrize(
    "raw", ["2023-02-30 10:00:00", "2024-01-02 24:00:00", "2024-13-01", "yesterday", "19971301", "1997010"]
)
def test_impossible_times_raise(raw):
    with pytest.raises(ValueError, match="date/time"):
        parse_local_time(raw)


local_times = st.datetimes(min_value=dt.datetime(1992, 1, 1), max_value=dt.datetime(2099, 12, 31))
shapes = [
    "{:%Y-%m-%d %H:%M:%S}",
    "{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}",
    "{:%Y/%m/%d %H:%M:%S}",
    "{:%Y%m%d %H:%M:%S}",
]


@settings(max_examples=150, deadline=None)
@given(local=local_times, shape=st.sampled_from(shapes))
def test_china_local_time_is_eight_hours_ahead_of_utc(local, shape):
    text = shape.format(local, t=local)
    expected = local.replace(microsecond=0) - dt.timedelta(hours=8)
    if "%S" not in shape:
        expected = expected.replace(second=0)
    assert parse_local_time(text) == expected.replace(tzinfo=UTC)


time_like = st.one_of(
    st.builds(
        lambda t, s: s.format(t, t=t),
        st.datetimes(min_value=dt.datetime(1900, 1, 1)),
        st.sampled_from(shapes),
    ),
    st.builds(
        lambda y, m, d, h, mi, s: f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}",
        st.integers(0, 2100),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    ),  # fmt: skip
    st.text(alphabet="0123456789-/: T.年月日Z+", max_size=22),
    st.text(max_size=6),
)


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.one_of(st.none(), time_like), max_size=30))
def test_local_times_bulk_agrees_with_scalar(values):
    result, errors = parse_local_times(pl.Series("下单时间", values, dtype=pl.String))
    assert result.dtype == pl.Datetime("us", "UTC")
    assert list(zip(result.to_list(), errors.to_list(), strict=True)) == [
        outcome(parse_local_time, v) for v in values
    ]


# --- birthdays written day/month/year or month/day/year --------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    days=st.lists(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)), min_size=1, max_size=30),
    order=st.sampled_from(["mdy", "dmy"]),
    separator=st.sampled_from(["/", "-", "."]),
)
def test_a_column_of_western_dates_is_read_in_its_own_order_or_not_at_all(days, order, separator):
    def written(d: dt.date) -> str:
        parts = (d.month, d.day) if order == "mdy" else (d.day, d.month)
        return f"{parts[0]:02d}{separator}{parts[1]:02d}{separator}{d.year}"

    parsed = parse_birthday_column(pl.Series([written(d) for d in days])).to_list()
    if any(d.day > 12 and d.day != d.month for d in days):  # some value tells the order
        assert day_month_order([written(d) for d in days]) == order
        assert parsed == days
    else:  # 05/06/1994 alone is May 6th or 5 June: never stored as a guess
        assert parsed == [d if d.day == d.month else None for d in days]


def test_a_few_swapped_dates_do_not_hide_the_columns_order():
    # pseudopeople writes US dates and swaps day and month in a few rows: those stay unread
    column = ["05/31/1990"] * 20 + ["31/05/1990"] + ["02/03/1990"]
    assert day_month_order(column) == "mdy"
    assert parse_birthday_column(pl.Series(column)).to_list() == [dt.date(1990, 5, 31)] * 20 + [None, dt.date(1990, 2, 3)]
    # a column that says both in equal measure is read not at all
    assert day_month_order(["05/31/1990", "31/05/1990"]) is None
    # year-first shapes never need an order
    assert parse_birthday_column(pl.Series(["1990-05-06", None])).to_list() == [dt.date(1990, 5, 6), None]
