"""Person names: masks, full-width input, surnames (compound, Latin), and bulk agreeing with scalar."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.normalise import NAME_COLUMNS, Name, normalise_name, normalise_names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", Name("张三", False, "张三", "张", "三")),
        ("  张 三 ", Name("张三", False, "张三", "张", "三")),
        ("欧阳娜娜", Name("欧阳娜娜", False, "欧阳娜娜", "欧阳", "娜娜")),
        ("欧阳", Name("欧阳", False, "欧阳", "欧", "阳")),  # two characters: 欧 plus a given name
        ("诸葛*", Name("诸葛*", True, "诸葛", "诸葛", "*")),
        ("张*", Name("张*", True, "张", "张", "*")),
        ("*三", Name("*三", True, "三", None, None)),  # the surname is what the mask hides
        ("张", Name("张", False, "张", None, None)),
        ("买买提•艾力", Name("买买提·艾力", False, "买买提·艾力", None, None)),
        ("阿卜杜・热合曼", Name("阿卜杜·热合曼", False, "阿卜杜·热合曼", None, None)),
        ("Ｊｏｈｎ　Ｓｍｉｔｈ", Name("John Smith", False, "John Smith", "Smith", "John")),
        ("Mary  Anne   Lee", Name("Mary Anne Lee", False, "Mary Anne Lee", "Lee", "Mary Anne")),
        ("Tom", Name("Tom", False, "Tom", None, None)),
        ("小明同学🐱", Name("小明同学🐱", False, "小明同学🐱", None, None)),
        ("null", None),
        ("-", None),
        (None, None),
    ],
)
def test_examples(raw, expected):
    assert normalise_name(raw) == expected


cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
names = st.one_of(
    st.text(alphabet=cjk, min_size=1, max_size=4),
    st.builds(
        lambda s, g: s + g,
        st.sampled_from(["欧阳", "司马", "上官", "诸葛", "张", "王"]),
        st.text(cjk, max_size=2),
    ),
    st.text(alphabet=st.one_of(cjk, st.just("*")), min_size=1, max_size=4),
    st.text(alphabet="abcXYZ *·•・ 　Ｊｏ", max_size=12),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(raw=names)
def test_normalising_a_normalised_name_changes_nothing(raw):
    n = normalise_name(raw)
    if n is not None:
        assert normalise_name(n.value) == n


@settings(max_examples=200, deadline=None)
@given(raw=st.text(alphabet=st.one_of(cjk, st.just("*")), min_size=1, max_size=5))
def test_masked_names_keep_their_visible_characters(raw):
    n = normalise_name(raw)
    assert n.masked == ("*" in raw)
    assert n.visible == raw.replace("*", "")
    if n.surname is not None:
        assert raw.startswith(n.surname) and "*" not in n.surname
        assert n.surname + n.given == n.value


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), names), max_size=30))
def test_bulk_agrees_with_scalar(values):
    frame = normalise_names(pl.Series(values, dtype=pl.String))
    assert frame.columns == list(NAME_COLUMNS)
    expected = [
        (None, None, None) if (n := normalise_name(v)) is None else (n.value, n.masked, n.surname)
        for v in values
    ]
    assert frame.rows() == expected


def test_bulk_on_a_typical_column():
    frame = normalise_names(pl.Series(["张三", "李*", "*四", "欧阳娜娜", None, "Ｌｉ Ｌｅｉ"]))
    assert frame.rows() == [
        ("张三", False, "张"),
        ("李*", True, "李"),
        ("*四", True, None),
        ("欧阳娜娜", False, "欧阳"),
        (None, None, None),
        ("Li Lei", False, "Lei"),
    ]
