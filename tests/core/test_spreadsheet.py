"""siyu.core.spreadsheet: the one rule for cells a spreadsheet must not run."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from siyu.core.spreadsheet import FORMULA_STARTS, formula_safe, formula_safe_writer


def test_the_owasp_characters_are_neutralised_and_numbers_stay_numbers():
    assert formula_safe('=CMD|" /C calc"!A0') == '\'=CMD|" /C calc"!A0'
    assert [formula_safe(v) for v in ("+1+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "-", "+86 138")] == [
        "'+1+1", "'-1+2", "'@SUM(A1)", "'\tx", "'\rx", "'-", "'+86 138"]  # fmt: skip
    # numbers, and text that is a plain number, are written as they are
    assert [formula_safe(v) for v in (-12.5, -3, Decimal("-8.00"), "-12.50", "+8613800000000", "-1e5", "-.5")] == [
        -12.5, -3, Decimal("-8.00"), "-12.50", "+8613800000000", "-1e5", "-.5"]  # fmt: skip
    assert [formula_safe(v) for v in (None, "", "张三", "a=b", " =x", "'=x")] == [None, "", "张三", "a=b", " =x", "'=x"]


@given(st.text())
def test_no_text_starts_a_formula_after_it_and_one_apostrophe_gives_it_back(text):
    safe = formula_safe(text)
    if safe != text:
        assert safe == "'" + text and text.startswith(FORMULA_STARTS)
    else:
        assert not text.startswith(FORMULA_STARTS) or float(text) == float(text)  # a plain number
    assert formula_safe(safe) == safe  # applying it twice changes nothing


@given(st.lists(st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=5), max_size=5))
def test_the_writer_writes_every_cell_through_the_rule(rows):
    out, plain = io.StringIO(), io.StringIO()
    formula_safe_writer(out).writerows(rows)
    csv.writer(plain).writerows([[formula_safe(c) for c in row] for row in rows])
    assert out.getvalue() == plain.getvalue()
    for row in csv.reader(io.StringIO(out.getvalue())):
        assert not [c for c in row if c.startswith(FORMULA_STARTS) and formula_safe(c) != c]
