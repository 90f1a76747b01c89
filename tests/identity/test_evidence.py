"""Match evidence in words and kinds, evidence patterns, automatic rules, and the tree of how a customer's
records were joined."""

from __future__ import annotations

import re

import polars as pl
import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.identity import evidence as ev
from siyu.identity import labels
from siyu.identity.evidence import DEFAULT_AUTO_RULES
from siyu.identity.probabilistic import MatchSettings, comparisons

HAN = re.compile(r"[\u4e00-\u9fff]")


def _levels(compare=()):
    return [
        (c["output_column_name"], lv["label_for_charts"]) for c in comparisons(compare) for lv in c["comparison_levels"]
    ]


GENERIC = ("postcode", "id:ssn", "first_name", "last_name", "birthday", "address", "city", "province", "district")


@pytest.mark.parametrize("compare", [(), GENERIC])
def test_every_comparison_level_has_chinese_words_and_a_kind(compare):
    with translation.override("zh-hans"):
        for comparison, label in _levels(compare):
            words = labels.level_words(comparison, label)
            assert HAN.search(words) and label not in words and "compared" not in words, (comparison, label, words)
            assert HAN.search(labels.field_words(comparison)), comparison
    for comparison, label in _levels(compare):
        if not comparison.startswith("extra_"):  # the built-in comparisons' levels are classified one by one
            assert label in ev.LEVEL_KINDS, f"{label!r} has no kind: add it to siyu.identity.evidence.LEVEL_KINDS"
        first = label.split(" ", 1)[0]
        expected = {"no": ev.MISSING, "different": ev.DIFFERS}.get(first)
        assert ev.level_kind(label) in ({expected} if expected else {ev.AGREES, ev.SHARED}), label


def test_the_default_automatic_rules_name_levels_the_model_has():
    known = set(_levels())
    for rule in DEFAULT_AUTO_RULES:
        for comparison, levels in rule.levels:
            for level in levels:
                assert (comparison, level) in known, f"rule {rule.name}: no level {comparison}={level}"


def test_every_reason_and_rule_reads_as_chinese():
    with translation.override("zh-hans"):
        reasons = ["below the match threshold", "ambiguous: matches people who differ", "conflict: given",
                   "conflict: phone_full", "conflict: birthday", "conflict: gender", "conflict: something new", "shared"]  # fmt: skip
        for reason in reasons:
            words = labels.reason_words(reason)
            assert HAN.search(words) and "conflict" not in words and "_" not in words, words
        pattern = ev.evidence_pattern({"name": "same full name", "nickname": "same nickname", "phone": "no phone"},
                                      "below the match threshold")  # fmt: skip
        assert pattern == "below|name=same full name;nickname=same nickname"
        assert labels.rule_words(pattern) == "全名相同、微信昵称相同"
        assert labels.id_type_words("member_no") == "会员卡号" and labels.id_type_words("id:ssn") == "标识“ssn”"


def test_a_pair_with_only_what_a_household_shares_is_kept_apart():
    household = {"name": "same surname and length", "address": "same street (visible part)", "phone": "no phone",
                 "gender": "same gender"}  # fmt: skip
    assert ev.only_shared_evidence(household)
    pattern = ev.evidence_pattern(household, "below the match threshold")
    assert pattern.startswith("shared|") and not ev.is_queued(pattern)
    # one thing only a person has (a masked phone, a nickname, a generic field) and a reviewer has a case
    for agrees in ({"phone": "same phone (visible prefix and tail)"}, {"nickname": "same nickname"},
                   {"extra_postcode": "same postcode"}):  # fmt: skip
        assert ev.is_queued(ev.evidence_pattern({**household, **agrees}, "below the match threshold"))
    # a guard's refusal is never kept apart: it waits whatever the evidence
    assert ev.is_queued(ev.evidence_pattern(household, "ambiguous: matches people who differ"))


def test_an_automatic_rule_needs_its_levels_its_probability_and_nothing_that_differs():
    rules = MatchSettings(
        auto_rules=[{"name": "a", "levels": {"name": ["same full name"], "nickname": ["same nickname"]}},
                    {"name": "b", "levels": {"name": ["same full name"]}, "min_probability": 0.97}]
    ).auto_rules  # fmt: skip
    assert rules[0] == ev.AutoRule("a", (("name", ("same full name",)), ("nickname", ("same nickname",)))) 
    pairs = pl.DataFrame(
        {
            "match_probability": [0.95, 0.95, 0.85, 0.98, 0.95],
            "field_name": ["same full name"] * 5,
            "field_nickname": ["same nickname", "same nickname", "same nickname", "no nickname", "no nickname"],
            "field_phone": ["no phone", "different full phones", "no phone", "no phone", "no phone"],
        }
    )
    assert ev.auto_rule_column(pairs, rules).to_list() == ["a", None, None, "b", None]
    assert ev.auto_rule_column(pairs, ()).to_list() == [None] * 5


def test_the_join_tree_prefers_identifiers_and_names_only_what_reaches_a_record():
    records = ["a", "b", "c", "d", "e"]
    identifiers = [("a", "phone", "p1"), ("b", "phone", "p1"), ("b", "member_no", "m"), ("c", "member_no", "m"),
                   ("a", "email", "x"), ("b", "email", "x")]  # fmt: skip
    links = [
        {"record_key_l": "a", "record_key_r": "c", "how": "match", "match_probability": 0.999},  # identifiers win
        {"record_key_l": "c", "record_key_r": "d", "how": "decision"},
    ]
    tree = ev.join_tree(records, identifiers, links)
    assert tree["b"] == {"parent": "a", "how": "identifier", "id_types": ["email", "phone"]}
    assert tree["c"] == {"parent": "b", "how": "identifier", "id_types": ["member_no"]}
    assert (tree["d"]["parent"], tree["d"]["how"]) == ("c", "decision")
    assert "e" not in tree and "a" not in tree  # the root, and a record no evidence reaches


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 9),
    ids=st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["phone", "email"]), st.integers(0, 3)), max_size=20),
    links=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=8),
)
def test_every_record_evidence_reaches_has_one_parent_on_a_path_to_the_root(n, ids, links):
    records = [f"r{i}" for i in range(n)]
    identifiers = [(f"r{i}", t, f"v{v}") for i, t, v in ids if i < n]
    link_rows = [{"record_key_l": f"r{a}", "record_key_r": f"r{b}", "how": "match"} for a, b in links if a < n and b < n and a != b]
    tree = ev.join_tree(records, identifiers, link_rows)
    shared = {}
    for key, t, v in identifiers:
        shared.setdefault((t, v), set()).add(key)
    edges = {frozenset((a["record_key_l"], a["record_key_r"])) for a in link_rows}
    edges |= {frozenset((x, y)) for keys in shared.values() for x in keys for y in keys if x != y}
    for child, join in tree.items():
        assert frozenset((child, join["parent"])) in edges
        seen, node = set(), child
        while node in tree:  # no cycle: parents lead out of the tree
            assert node not in seen
            seen.add(node)
            node = tree[node]["parent"]
    # every record connected to some other record has a parent, except one per connected group
    adjacency = {r: set() for r in records}
    for edge in edges:
        x, y = tuple(edge)
        adjacency[x].add(y)
        adjacency[y].add(x)
    groups, seen = 0, set()
    for r in records:
        if r not in seen:
            groups += 1
            stack = [r]
            while stack:
                node = stack.pop()
                if node not in seen:
                    seen.add(node)
                    stack.extend(adjacency[node] - seen)
    assert len(tree) == n - groups


def test_a_rule_runs_only_on_a_base_no_larger_than_it_was_measured_on():
    small = ev.AutoRule("small", (("name", ("same full name",)),), max_records=100)
    any_size = ev.AutoRule("any", (("name", ("same full name",)),))
    assert ev.rules_for_base((small, any_size), 100) == (small, any_size)
    assert ev.rules_for_base((small, any_size), 101) == (any_size,)
    assert MatchSettings(auto_rules=[{"name": "x", "levels": {"name": "same full name"}, "max_records": 5}]).auto_rules == (
        ev.AutoRule("x", (("name", ("same full name",)),), max_records=5),
    )
