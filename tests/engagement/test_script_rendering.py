"""Filling a script's placeholders: examples, and properties over arbitrary templates and values."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.engagement.content.scripts import customer_placeholders, fill_message, placeholders, render, visible

NAMES = st.from_regex(r"[A-Za-z_\u4e00-\u9fa5][A-Za-z0-9_\u4e00-\u9fa5]{0,10}", fullmatch=True)
VALUES = st.one_of(
    st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


class Unprintable:
    def __str__(self):
        raise RuntimeError("no")


def test_fills_known_placeholders_and_reports_the_rest():
    out = render("{name}您好，我是{guide}。{product}用得怎么样？", {"name": "张女士", "guide": "小王"})
    assert out.text == "张女士您好，我是小王。{product}用得怎么样？"
    assert out.missing == ("product",)


def test_braces_attribute_access_and_values_with_placeholders_stay_text():
    out = render("{{name}} {name.__class__} {0} { name } {name}", {"name": "{guide}", "guide": "x"})
    # {{ }} are literal braces; only {identifier} is a placeholder; a value is never expanded again
    assert out.text == "{name} {name.__class__} {0} { name } {guide}"
    assert out.missing == ("0",)  # {0} is a placeholder nobody filled: reported, not silently left


def test_empty_and_unprintable_values_count_as_missing():
    out = render("{a}|{b}|{c}|{a}", {"a": "", "b": None, "c": Unprintable()})
    assert out.text == "{a}|{b}|{c}|{a}" and out.missing == ("a", "b", "c")


def test_control_characters_of_values_are_dropped():
    assert render("{x}", {"x": "a\x00b\x1bc\x7f\x9fd\te"}).text == "abcd\te"
    # a value of control characters only is no value: the customer is reported as missing it
    assert fill_message("", "{name}", {}, {"name": "\x1b"})[3] == ("name",)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=8), NAMES.map(lambda n: "{" + n + "}"), st.sampled_from(["{", "}", "{{", "}}"])), max_size=12),
    st.dictionaries(NAMES, st.one_of(VALUES, st.just(Unprintable())), max_size=6),
)  # fmt: skip
def test_rendering_never_raises_and_never_hides_an_unfilled_placeholder(pieces, values):
    template = "".join(pieces)
    out = render(template, values)  # must not raise
    assert isinstance(out.text, str)
    used = placeholders(template)
    assert set(out.missing) <= set(used)
    for name in used:
        value = values.get(name)
        try:
            printable = value is not None and str(value).strip() != ""
        except RuntimeError:
            printable = False
        printable = printable and "".join(c for c in str(value) if c in "\n\t" or c >= " ").strip() != ""
        if not printable:
            # reported, and still visible in the text for the guide to see
            assert name in out.missing and "{" + name + "}" in out.text
        else:
            assert name not in out.missing


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.dictionaries(st.text(max_size=5), VALUES, max_size=4))
def test_arbitrary_text_and_values_never_raise(template, values):
    out = render(template, values)
    assert all(re.fullmatch(r"\w{1,64}", name) for name in out.missing)
    assert render(None, values).text == "" and render(template, None).missing == tuple(placeholders(template))


def test_a_message_is_filled_from_the_customer_and_reports_what_had_no_value():
    assert customer_placeholders("{name}", "{tip} {product}", {"tip": "x", "name": "y"}) == {"product"}
    assert customer_placeholders("", "{guide}", {"tip": "{name}", "n": 3}) == {"name"}
    subject, content, variables, unfilled = fill_message(
        "{name}", "{name}: {tip} {product}", {"tip": "{name}买过{product}", "n": 3}, {"name": "张女士", "guide": "x"}
    )
    assert (subject, content) == ("张女士", "张女士: 张女士买过{product} {product}")
    assert variables == {"tip": "张女士买过{product}", "n": 3} and unfilled == ("product",)
    # a variable given by the step wins over the customer's value in the texts
    assert fill_message("", "{name}", {"name": "会员"}, {"name": "张女士"})[1] == "会员"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=6), st.sampled_from(["{name}", "{product}", "{x}", "{{", "}}"])), max_size=8),
    st.dictionaries(st.sampled_from(["name", "product", "guide"]), st.text(max_size=6), max_size=3),
)  # fmt: skip
def test_filling_never_raises_and_reports_exactly_the_needed_values_that_are_blank(pieces, customer):
    text = "".join(pieces)
    subject, content, variables, unfilled = fill_message(text, text, {"v": text}, customer)
    needed = customer_placeholders(text, text, {"v": text})
    # a value with nothing to show once control characters are dropped counts as missing
    assert set(unfilled) == {n for n in needed if not visible(customer.get(n) or "").strip()}
    assert isinstance(subject, str) and isinstance(content, str) and set(variables) == {"v"}
