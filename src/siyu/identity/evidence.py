"""What the evidence of a match says: the kind of each comparison level, the evidence pattern a review
entry is grouped by, the automatic rules, and how a customer's records were joined.

A comparison level (the label Splink's model gives it, siyu.identity.probabilistic.comparisons) is one of
- MISSING: one side has nothing to compare ("no phone");
- AGREES: the two records agree on something one person has and the people they live with do not (a
  phone, a full name, a birthday, a WeChat nickname, a generic field);
- SHARED: the two records agree on something a household shares (a surname, an address, a region, a
  gender): it says "same family or same person", never which;
- DIFFERS: the two records disagree.
A pair whose evidence has no AGREES level ("only shared evidence") cannot be told apart from two members
of one household by anyone looking at the records; it is kept apart and not queued for review
(docs/architecture.md, "Review queue").

Automatic rules (MatchSettings.auto_rules): a pair scored below the match threshold whose levels satisfy
a rule, with no level that DIFFERS and at least the rule's probability, is linked like a pair above the
threshold (the household and ambiguity guards still apply). Each default rule is kept only while its
precision measured against the demo brand's ground truth is at least 0.995 (`siyu bench review`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

MISSING, AGREES, SHARED, DIFFERS = "missing", "agrees", "shared", "differs"

# Every level label of siyu.identity.probabilistic.comparisons; a label not listed (a generic field's
# levels, a level added later) is classified by its first word: "no …" MISSING, "different …" DIFFERS,
# anything else AGREES (so that an unknown agreement is queued for a person, never kept apart).
LEVEL_KINDS = {
    "no phone": MISSING,
    "different full phones": DIFFERS,
    "same phone (visible prefix and tail)": AGREES,
    "same phone tail": AGREES,
    "different phones": DIFFERS,
    "no name": MISSING,
    "same full name": AGREES,
    "same name in pinyin": AGREES,
    "full names alike": AGREES,
    "different given names": DIFFERS,
    "same surname and length": SHARED,
    "same surname": SHARED,
    "different surnames": DIFFERS,
    "no address": MISSING,
    "same street (visible part)": SHARED,
    "same district": SHARED,
    "same city": SHARED,
    "different cities": DIFFERS,
    "no birthday": MISSING,
    "same birthday": AGREES,
    "different birthdays": DIFFERS,
    "no gender": MISSING,
    "same gender": SHARED,
    "different genders": DIFFERS,
    "no nickname": MISSING,
    "same nickname": AGREES,
    "different nicknames": DIFFERS,
}


def level_kind(label: str | None) -> str:
    if not label:
        return MISSING
    known = LEVEL_KINDS.get(label)
    if known:
        return known
    first = label.split(" ", 1)[0].lower()
    if first == "no":
        return MISSING
    if first in ("different", "not"):
        return DIFFERS
    return AGREES


def only_shared_evidence(fields: dict[str, str]) -> bool:
    """True when nothing in the pair's evidence belongs to one person only: two members of a household
    would look the same."""
    return not any(level_kind(level) == AGREES for level in fields.values())


def only_shared(pairs: pl.DataFrame, field_cols: list[str]) -> pl.Series:
    """only_shared_evidence of each scored pair (columns field_<comparison>; without any, none is)."""
    agreeing = pl.lit(not field_cols)
    for c in field_cols:  # a column holds a handful of distinct labels: classify those, not every row
        labels = [lv for lv in pairs.get_column(c).drop_nulls().unique().to_list() if level_kind(lv) == AGREES]
        agreeing = agreeing | pl.col(c).is_in(labels).fill_null(False)
    return pairs.select((~agreeing).alias("shared")).to_series()


# --- evidence patterns: what a review entry is grouped by -------------------------------------------

BELOW, AMBIGUOUS, CONFLICT = "below", "ambiguous", "conflict"
SHARED_ONLY = "shared"  # kept apart: only what a household shares agrees


def reason_class(reason: str) -> str:
    """The stored reason sentence of a review row (siyu.identity.probabilistic.join_clusters) as a short
    code: below, ambiguous, conflict:<field>, or the sentence itself when it is none of these."""
    if reason.startswith("below"):
        return BELOW
    if reason.startswith("ambiguous"):
        return AMBIGUOUS
    if reason.startswith("conflict: "):
        return f"{CONFLICT}:{reason[len('conflict: '):]}"
    return reason


def evidence_pattern(fields: dict[str, str], reason: str) -> str:
    """A stable key of a pair's evidence: its reason (shared when only shared evidence agrees and the pair
    is below the threshold) and every comparison level that is not missing, e.g.
    `below|name=same full name;nickname=same nickname`."""
    kind = reason_class(reason)
    if kind == BELOW and only_shared_evidence(fields):
        kind = SHARED_ONLY
    levels = ";".join(f"{c}={lv}" for c, lv in sorted(fields.items()) if level_kind(lv) != MISSING)
    return f"{kind}|{levels}"


def parse_pattern(pattern: str) -> tuple[str, list[tuple[str, str]]]:
    """(reason code, [(comparison, level)…]) of an evidence_pattern key."""
    kind, _, levels = pattern.partition("|")
    pairs = [tuple(part.split("=", 1)) for part in levels.split(";") if "=" in part]
    return kind, [(c, lv) for c, lv in pairs]


def pattern_id(pattern: str) -> str:
    """A short opaque name of a pattern for pages and links (the pattern itself holds the model's codes)."""
    return hashlib.blake2b(pattern.encode(), digest_size=6).hexdigest()


def is_queued(pattern: str) -> bool:
    """Pairs of a pattern wait for a reviewer unless only shared evidence agrees."""
    return not pattern.startswith(SHARED_ONLY + "|")


# --- automatic rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoRule:
    """Link a pair below the match threshold when each named comparison is at one of its levels, no
    comparison differs, the match probability is at least `min_probability`, and the two customers'
    records never disagree on a `consistent` field (siyu.identity.features columns: records of one side in
    one city, of the other in another, keep them apart however well the pair agrees)."""

    name: str
    levels: tuple[tuple[str, tuple[str, ...]], ...]
    min_probability: float = 0.9
    consistent: tuple[str, ...] = ("city",)
    # the largest base (records resolved) its precision was measured on: chance agreements grow with the
    # base faster than Splink's probability falls, so beyond it the rule is off (siyu.identity.actions)
    max_records: int | None = None

    @classmethod
    def from_value(cls, value) -> AutoRule:
        """From the settings' form {"name": …, "levels": {"name": ["same full name"], …},
        "min_probability": 0.9} (or an AutoRule)."""
        if isinstance(value, AutoRule):
            return value
        levels = value["levels"]
        items = levels.items() if isinstance(levels, dict) else levels
        return cls(
            name=str(value["name"]),
            levels=tuple(sorted((str(c), tuple(lv) if not isinstance(lv, str) else (lv,)) for c, lv in items)),
            min_probability=float(value.get("min_probability", 0.9)),
            consistent=tuple(value.get("consistent", ("city",))),
            max_records=value.get("max_records"),
        )

    def matches(self, fields: dict[str, str], probability: float) -> bool:
        if probability < self.min_probability:
            return False
        if any(level_kind(lv) == DIFFERS for lv in fields.values()):
            return False
        return all(fields.get(c) in accepted for c, accepted in self.levels)


# Measured with `siyu bench review` on the demo brand (docs/benchmarks.md): at 20,000 people (66,000 records),
# seeds 3, 5, 7 and 11, no link of any of these rules was wrong (3,269 links); at 100,000 people (330,000
# records, seed 7) full name and nickname was 0.992 (8 of 1,011 wrong: two WeCom contacts of one name and
# nickname), so it stops at 100,000 records, and the others were 0.9976-1.0, so they stop at 400,000.
# (Same masked phone and same district, no name, was dropped: 2 of 75 wrong on seed 3 at 20,000 people. Same
# masked phone with the same surname and name length from 0.95 went when the match threshold became 0.95.)
DEFAULT_AUTO_RULES: tuple[AutoRule, ...] = (
    AutoRule(
        "full_name_and_nickname",
        (("name", ("same full name",)), ("nickname", ("same nickname",))),
        max_records=100_000,
    ),
    AutoRule(
        "full_name_and_street",
        (("address", ("same street (visible part)",)), ("name", ("same full name",))),
        max_records=400_000,
    ),
    AutoRule(
        "full_name_and_phone_tail",
        (("name", ("same full name",)), ("phone", ("same phone tail",))),
        max_records=400_000,
    ),
)


def rules_for_base(rules: Iterable[AutoRule], records: int) -> tuple[AutoRule, ...]:
    """The rules measured on a base of at least `records` records."""
    return tuple(r for r in rules if r.max_records is None or records <= r.max_records)


def auto_rule_column(pairs: pl.DataFrame, rules: Iterable[AutoRule]) -> pl.Series:
    """The name of the first rule each scored pair (columns match_probability and field_<comparison>)
    satisfies, null when none."""
    rules = list(rules)
    fields = [c for c in pairs.columns if c.startswith("field_")]
    if not rules or not pairs.height:
        return pl.Series("auto_rule", [None] * pairs.height, dtype=pl.String)
    differs = pl.lit(False)
    for c in fields:  # a column holds a handful of distinct labels: classify those, not every row
        differing = [label for label in pairs.get_column(c).drop_nulls().unique().to_list() if level_kind(label) == DIFFERS]
        differs = differs | pl.col(c).is_in(differing).fill_null(False)
    expr = None
    for rule in reversed(rules):  # the first rule that matches wins
        ok = (pl.col("match_probability") >= rule.min_probability) & ~differs
        for comparison, accepted in rule.levels:
            column = f"field_{comparison}"
            ok = ok & (pl.col(column).is_in(list(accepted)).fill_null(False) if column in fields else pl.lit(False))
        expr = pl.when(ok).then(pl.lit(rule.name)).otherwise(expr if expr is not None else pl.lit(None, pl.String))
    return pairs.select(expr.alias("auto_rule")).to_series()


# --- how a customer's records were joined ------------------------------------------------------------

IDENTIFIER, MATCH, AUTO_RULE, DECISION = "identifier", "match", "auto_rule", "decision"
_PRIORITY = {IDENTIFIER: 0, DECISION: 1, AUTO_RULE: 2, MATCH: 2}


def join_tree(records: list[str], identifiers: list[tuple[str, str, str]], links: list[dict]) -> dict[str, dict]:
    """How each record joined the others, as a tree rooted at the first of `records` (oldest first).

    `identifiers`: (record_key, id_type, value_hash) rows that may link (strong, not quarantined);
    `links`: {record_key_l, record_key_r, how, …} rows of the links that joined clusters (match_links).
    Returns record_key -> {"parent": record_key, "how": …, "id_types": [...] or the link row} for every
    record but the root; a record no evidence reaches is absent (records joined before evidence was kept).
    Identifier edges are preferred to decisions and those to scored links, each chain as short as it can be:
    the edges are taken in that order (Kruskal), then the tree is walked from the root."""
    index = {key: i for i, key in enumerate(records)}
    by_value: dict[tuple[str, str], list[str]] = {}
    for key, id_type, value in identifiers:
        if key in index:
            by_value.setdefault((id_type, value), []).append(key)
    shared: dict[tuple[str, str], set[str]] = {}
    for (id_type, _), keys in by_value.items():
        keys = sorted(set(keys), key=index.__getitem__)
        for other in keys[1:]:  # a star to the oldest record carrying the value
            shared.setdefault((keys[0], other), set()).add(id_type)
    edges = [(0, a, b, {"how": IDENTIFIER, "id_types": sorted(t)}) for (a, b), t in shared.items()]
    for link in links:
        a, b = link["record_key_l"], link["record_key_r"]
        if a in index and b in index and a != b:
            edges.append((_PRIORITY.get(link["how"], 3), a, b, link))
    edges.sort(key=lambda e: (e[0], min(index[e[1]], index[e[2]]), max(index[e[1]], index[e[2]])))

    parent = {key: key for key in records}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    adjacency: dict[str, list[tuple[str, dict]]] = {}
    for _, a, b, how in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        parent[rb] = ra
        adjacency.setdefault(a, []).append((b, how))
        adjacency.setdefault(b, []).append((a, how))
    tree: dict[str, dict] = {}
    if not records:
        return tree
    seen, frontier = {records[0]}, [records[0]]
    while frontier:
        nxt = []
        for node in sorted(frontier, key=index.__getitem__):
            for other, how in sorted(adjacency.get(node, []), key=lambda e: index[e[0]]):
                if other not in seen:
                    seen.add(other)
                    tree[other] = {"parent": node, **how}
                    nxt.append(other)
        frontier = nxt
    # Parts no edge joins to the root (evidence of an older version) are walked from their own oldest
    # record so that the records inside them still say how they joined each other.
    for key in records:
        if key in seen:
            continue
        seen.add(key)
        frontier = [key]
        while frontier:
            nxt = []
            for node in frontier:
                for other, how in adjacency.get(node, []):
                    if other not in seen:
                        seen.add(other)
                        tree[other] = {"parent": node, **how}
                        nxt.append(other)
            frontier = nxt
    return tree


def fields_of(value: str | None) -> dict[str, str]:
    return json.loads(value) if value else {}
