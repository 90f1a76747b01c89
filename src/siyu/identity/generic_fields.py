"""Generic fields, compared by kind the way Splink's comparison library compares that kind.

The built-in comparisons of siyu.identity.probabilistic read what Chinese platform exports carry (masked
phones, one-character surnames, 街道 addresses). A generic import of other person data (`siyu import
--format generic --map …`) carries first and last names, birthdays, postcodes, street addresses, cities
and identifiers of any type: each is compared by the kind its `--map` target has
(siyu.ingest.sources.formats.field_kind), with comparison levels built from Splink's comparison level
library (`splink.comparison_level_library`, the levels its NameComparison, DateOfBirthComparison and
…AtThresholds comparisons are made of), as Splink dictionaries:

- name: exact (term-frequency adjusted), first and last name swapped, Jaro-Winkler ≥ 0.92 / 0.88 / 0.7;
- date: exact, one typo (Damerau-Levenshtein 1 on YYYY-MM-DD), day and month swapped, same day and
  month in another year, within a year;
- address: exact (term-frequency adjusted), same house numbers and street alike, street alike, shared
  words (token overlap);
- postcode, id: exact (term-frequency adjusted for postcodes), one edit;
- place (city, province, district): exact (term-frequency adjusted), Jaro-Winkler ≥ 0.9.

A field's feature column is `extra_<field>` (`extra_id_ssn` for `id:ssn`). AUTO_FIELDS are compared
whenever a generic import carries them in Latin script; `siyu resolve --compare` adds others (a province,
`id:<type>`). Names and addresses in Chinese stay with the built-in comparisons, which know Chinese names.

Candidates (blocking): two rows agreeing exactly on one of BLOCKING_PAIRS (two fields each, as Splink's
`block_on(a, b)`), or on an identifier. Training without labels: expectation maximisation sessions blocked
on fields chosen so that every comparison is trained in one (em_sessions). The household guard (`differ`):
two people at one address with different first names, or different birthdays, are not joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from siyu.identity.errors import IdentityError
from siyu.ingest.sources.formats import FIELDS, ID_FIELD_PREFIX, field_kind

# Compared for every generic import that carries them (in Latin script).
AUTO_FIELDS = ("first_name", "last_name", "birthday", "postcode", "address", "city")
# Kinds and fields the built-in comparisons already cover for every record: naming them in --compare
# changes nothing.
BUILT_IN = frozenset({"name", "nickname", "phone", "email", "gender"})
# Candidate pairs agree on both fields of one of these (when a dataset has both).
BLOCKING_PAIRS = (
    ("first_name", "last_name"),
    ("last_name", "birthday"),
    ("first_name", "birthday"),
    ("birthday", "postcode"),
    ("last_name", "postcode"),
    ("first_name", "postcode"),
    ("last_name", "address"),
    ("first_name", "address"),
    ("birthday", "address"),
)
# The household guard: clusters whose values of these fields are all far apart are different people.
GUARD_FIELDS = ("first_name", "birthday")
# ...in data that has households: where at least this share of the candidate pairs with one last name at one
# address have first names far apart. Measured (bench resolve --dataset): FEBRL, where no two people share
# an address and a duplicate's first name is sometimes replaced, 0.12; the census with tax forms, 0.76.
HOUSEHOLD_RATE = 0.25
HOUSEHOLD_SAMPLE = 200_000  # pairs of rows the rate is measured on, at most
HOUSEHOLD_MAX_ROWS = 30
NAME_ALIKE = 0.8  # Jaro-Winkler from which two first names may be one person's (a typo, not another name)
HAN = r"\p{Han}"
COLUMN_PREFIX = "extra_"


@dataclass(frozen=True)
class GenericField:
    field: str  # the --map target: first_name, birthday, id:ssn…
    kind: str

    @property
    def column(self) -> str:
        return COLUMN_PREFIX + re.sub(r"\W+", "_", self.field)

    @property
    def columns(self) -> tuple[str, ...]:
        """The feature column and those derived from it (an address's house numbers and street words,
        computed once per record instead of once per compared pair)."""
        if self.kind == "address":
            return (self.column, f"{self.column}_numbers", f"{self.column}_street")
        return (self.column,)


def feature_column_names(fields: tuple[GenericField, ...]) -> list[str]:
    return [c for f in fields for c in f.columns]


def compared_fields(compare: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fields of `compare` that are compared as generic fields (not by the built-in comparisons).
    Raises IdentityError for a name that is neither a person field nor `id:<type>`."""
    out = []
    for name in compare:
        kind = field_kind(name)
        if kind is None:
            person = [f for f in FIELDS if field_kind(f)]
            raise IdentityError(
                f"cannot compare {name!r}: choose person fields ({', '.join(person)}) or id:<type>"
            )
        if name not in BUILT_IN and name not in out:
            out.append(name)
    return tuple(out)


def generic_fields(compare: tuple[str, ...] = ()) -> tuple[GenericField, ...]:
    """AUTO_FIELDS, then the other fields `compare` names, with their kinds."""
    names = [*AUTO_FIELDS, *(f for f in compared_fields(compare) if f not in AUTO_FIELDS)]
    if "street" in names:  # a street is imported into the address
        names = [f for f in names if f != "street"] + ([] if "address" in names else ["address"])
    return tuple(GenericField(f, field_kind(f)) for f in names)


# --- features ----------------------------------------------------------------------------------------


def _text(expr: pl.Expr) -> pl.Expr:
    """Lower case, single spaces, no punctuation around words (a comparison sees the words)."""
    cleaned = (
        expr.str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}'\- ]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" '-")
    )
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned)


def _code(expr: pl.Expr) -> pl.Expr:
    """Letters and digits only, lower case: 584-16-0130 and 584160130 are one SSN; 3000 and 3 000 one postcode."""
    cleaned = expr.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned)


def feature_columns(frame: pl.DataFrame, fields: tuple[GenericField, ...]) -> list[pl.Expr]:
    """The extra_<field> column of each field from a frame of records (columns format, name, first_name,
    last_name, postcode, address, city, province, district, birthday and any `id:<type>` decoded from the
    PII). AUTO_FIELDS come only from generic imports, and names and addresses only in Latin script."""
    generic = pl.col("format") == "generic"
    latin_name = ~pl.col("name").fill_null("").str.contains(HAN)
    latin_address = ~pl.col("address").fill_null("").str.contains(HAN) & ~pl.col("city").fill_null(
        ""
    ).str.contains(HAN)

    def value(f: GenericField) -> pl.Expr:
        if f.field not in frame.columns:
            return pl.lit(None, dtype=pl.String)
        raw = pl.col(f.field).cast(pl.String)
        if f.kind in ("id", "postcode"):
            return _code(raw)
        if f.kind == "date":
            return raw
        return _text(raw)

    exprs = []
    for f in fields:
        expr = value(f)
        if f.field in AUTO_FIELDS:
            only = generic & (
                latin_name if f.kind == "name" else latin_address if f.field in ("address", "city") else True
            )
            expr = pl.when(only).then(expr)
        exprs.append(expr.alias(f.column))
    return exprs


def derived_columns(fields: tuple[GenericField, ...]) -> list[pl.Expr]:
    """Columns derived from the feature columns (GenericField.columns)."""
    exprs = []
    for f in fields:
        if f.kind == "address":
            numbers = pl.col(f.column).str.extract_all(r"\d+").list.join(" ")
            street = (
                pl.col(f.column).str.replace_all(r"\d+", " ").str.replace_all(r"\s+", " ").str.strip_chars()
            )
            exprs += [
                pl.when(numbers.str.len_chars() > 0).then(numbers).alias(f.columns[1]),
                pl.when(street.str.len_chars() > 0).then(street).alias(f.columns[2]),
            ]
    return exprs


# --- comparisons ----------------------------------------------------------------------------------------


def comparison(f: GenericField, fields: tuple[GenericField, ...]) -> dict:
    """The Splink comparison (as a settings dictionary) of one generic field, by its kind."""
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    col, noun = f.column, f.field.replace(ID_FIELD_PREFIX, "").replace("_", " ")
    exact = cll.ExactMatchLevel(col).configure(label_for_charts=f"same {noun}")
    levels = [cll.NullLevel(col).configure(label_for_charts=f"no {noun}")]
    if f.kind == "name":
        levels.append(exact.configure(tf_adjustment_column=col))
        other = {"first_name": "last_name", "last_name": "first_name"}.get(f.field)
        if other and other in {g.field for g in fields}:
            levels.append(
                cll.ColumnsReversedLevel(col, GenericField(other, "name").column, symmetrical=True).configure(
                    label_for_charts="first and last name swapped"
                )
            )
        for threshold in (0.92, 0.88, 0.7):
            levels.append(
                cll.JaroWinklerLevel(col, threshold).configure(label_for_charts=f"{noun} alike ({threshold})")
            )
    elif f.kind == "date":
        left, right = f'"{col}_l"', f'"{col}_r"'
        levels += [
            exact,
            _one_edit(col).configure(label_for_charts=f"{noun}: one typo"),
            cll.CustomLevel(
                f"substr({left}, 1, 4) = substr({right}, 1, 4) AND substr({left}, 6, 2) = substr({right}, 9, 2) "
                f"AND substr({left}, 9, 2) = substr({right}, 6, 2)",
                label_for_charts=f"{noun}: day and month swapped",
            ),
            cll.CustomLevel(
                f"substr({left}, 6, 5) = substr({right}, 6, 5)", label_for_charts=f"{noun}: year off"
            ),
            cll.CustomLevel(
                f"abs(date_diff('day', try_cast({left} AS DATE), try_cast({right} AS DATE))) <= 366",
                label_for_charts=f"{noun}: within a year",
            ),
        ]
    elif f.kind == "address":
        numbers, street = f.columns[1:]
        levels += [
            exact.configure(tf_adjustment_column=col),
            cll.And(cll.ExactMatchLevel(numbers), cll.JaroWinklerLevel(street, 0.9)).configure(
                label_for_charts=f"{noun}: same number, street alike"
            ),
            cll.JaroWinklerLevel(street, 0.9).configure(label_for_charts=f"{noun}: street alike"),
            cll.CustomLevel(
                f"list_has_any(string_split(\"{street}_l\", ' '), string_split(\"{street}_r\", ' '))",
                label_for_charts=f"{noun}: words in common",
            ),
        ]
    elif f.kind in ("postcode", "id"):
        levels += [
            exact.configure(tf_adjustment_column=col) if f.kind == "postcode" else exact,
            _one_edit(col).configure(label_for_charts=f"{noun}: one edit"),
        ]
    elif f.kind == "place":
        levels += [
            exact.configure(tf_adjustment_column=col),
            cll.JaroWinklerLevel(col, 0.9).configure(label_for_charts=f"{noun} alike"),
        ]
    else:
        levels.append(exact)
    levels.append(cll.ElseLevel().configure(label_for_charts=f"different {noun}"))
    return CustomComparison(levels, output_column_name=col).get_comparison("duckdb").as_dict()


def _one_edit(col: str):
    """Damerau-Levenshtein distance at most 1, computed only for pairs that can be that close (equal
    lengths and at most two characters apart, or lengths one apart): DuckDB's damerau_levenshtein costs
    30 times its hamming, and nearly every pair of a random sample is far apart."""
    import splink.comparison_level_library as cll

    left, right = f'"{col}_l"', f'"{col}_r"'
    # hamming refuses strings of unequal lengths: CASE evaluates it only for rows of equal lengths
    close = (
        f"CASE WHEN length({left}) = length({right}) THEN hamming({left}, {right}) <= 2 "
        f"ELSE abs(length({left}) - length({right})) = 1 END"
    )
    return cll.And(cll.CustomLevel(close), cll.DamerauLevenshteinLevel(col, 1))


def blocking_keys(fields: tuple[GenericField, ...]) -> tuple[tuple[str, ...], ...]:
    """Column tuples on which candidate pairs agree: BLOCKING_PAIRS, then each identifier alone."""
    by_field = {f.field: f.column for f in fields}
    pairs = [(by_field[a], by_field[b]) for a, b in BLOCKING_PAIRS if a in by_field and b in by_field]
    return (*pairs, *((f.column,) for f in fields if f.kind == "id"))


def western_names(compared: set[str]) -> bool:
    """Whether generic first or last names are compared: person data that is not a Chinese platform's, whose
    model is trained by expectation maximisation (a Chinese till export imported as generic data adds a
    birthday or postcode to the built-in comparisons, which keep learning from the deterministic links)."""
    return bool({GenericField(f, "name").column for f in ("first_name", "last_name")} & compared)


def pairs_within(features: pl.DataFrame, columns: tuple[str, ...]) -> int:
    """How many pairs of rows agree on all `columns` (none of them null)."""
    if any(c not in features.columns for c in columns):
        return 0
    sizes = (
        features.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in columns)).group_by(columns).len()
    )
    n = sizes.get_column("len").cast(pl.Int64)
    return int((n * (n - 1) // 2).sum())


# Expectation maximisation sessions, in order of preference: each trains every comparison but its own.
EM_BLOCKS = (
    ("first_name", "last_name"),
    ("birthday",),
    ("address",),
    ("postcode", "birthday"),
    ("last_name", "postcode"),
)
EM_MAX_PAIRS = 5_000_000
MAX_BLOCK_PAIRS = 20_000_000  # a blocking pair of fields asking for more pairs than this is left out  # a session blocking on more pairs than this is skipped (time and memory)


def em_sessions(
    features: pl.DataFrame, fields: tuple[GenericField, ...], compared: set[str]
) -> list[tuple[str, ...]]:
    """Blocking columns of the EM sessions to run: first each identifier (pairs sharing one are nearly all
    matches: the cleanest view of what a match looks like on every other field), then EM_BLOCKS in order,
    each session with pairs (and not too many), until every compared generic column has been trained in a
    session not blocked on it."""
    by_field = {f.field: f.column for f in fields}
    wanted = {f.column for f in fields if f.column in compared}
    trained: set[str] = set()
    sessions = []
    for block in (*((f.field,) for f in fields if f.kind == "id"), *EM_BLOCKS):
        columns = tuple(by_field[f] for f in block if f in by_field)
        if len(columns) != len(block) or not set(columns) <= compared:
            continue
        if not (wanted - set(columns)) - trained:
            continue
        if 0 < pairs_within(features, columns) <= EM_MAX_PAIRS:
            sessions.append(columns)
            trained |= wanted - set(columns)
        if trained >= wanted:
            break
    return sessions


def prior_rules(fields: tuple[GenericField, ...], compared: set[str]) -> list[str]:
    """Deterministic rules whose pairs are nearly all matches (for the prior): same first and last name
    and the same birthday or address, or the same identifier."""
    by_field = {f.field: f.column for f in fields if f.column in compared}
    rules = []
    if "first_name" in by_field and "last_name" in by_field:
        names = f"l.{by_field['first_name']} = r.{by_field['first_name']} AND l.{by_field['last_name']} = r.{by_field['last_name']}"
        rules += [
            f"{names} AND l.{by_field[f]} = r.{by_field[f]}" for f in ("birthday", "address") if f in by_field
        ]
    rules += [f"l.{f.column} = r.{f.column}" for f in fields if f.kind == "id" and f.column in compared]
    return rules


# --- household guard ------------------------------------------------------------------------------------


def _names_differ(a: frozenset, b: frozenset, a_last: frozenset, b_last: frozenset) -> bool:
    from rapidfuzz.distance import JaroWinkler

    def alike(xs, ys) -> bool:
        return any(JaroWinkler.similarity(x, y) >= NAME_ALIKE for x in xs for y in ys)

    # a first name found as the other's last name is a swap, not another person
    return not (alike(a, b | b_last) or alike(b, a | a_last))


def _dates_differ(a: frozenset, b: frozenset) -> bool:
    from rapidfuzz.distance import DamerauLevenshtein

    def close(x: str, y: str) -> bool:
        return (
            DamerauLevenshtein.distance(x, y) <= 2
            or x[5:] == y[5:]  # the year off
            or (x[:4] == y[:4] and x[5:7] == y[8:10] and x[8:10] == y[5:7])  # day and month swapped
        )

    return not any(close(x, y) for x in a for y in b)


def household_rate(features: pl.DataFrame, fields: tuple[GenericField, ...]) -> float | None:
    """The share of pairs of rows from different clusters, with one last name at one address, whose first
    names are far apart (no Jaro-Winkler of NAME_ALIKE): near 0 where such pairs are duplicates of one
    person, high where families live together. None when the data has no such pair."""
    from rapidfuzz.distance import JaroWinkler

    by_field = {f.field: f.column for f in fields}
    key = [by_field.get("last_name"), by_field.get("address")]
    first = by_field.get("first_name")
    if None in key or first is None or any(c not in features.columns for c in (*key, first)):
        return None
    rows = features.select("cluster", *key, first).drop_nulls()
    # a household is a few people: a surname and address shared by more rows is a filler, not a home
    rows = rows.filter(pl.len().over(key) <= HOUSEHOLD_MAX_ROWS)
    pairs = (
        rows.join(rows, on=key, suffix="_r")
        .filter(pl.col("cluster") < pl.col("cluster_r"))
        .head(HOUSEHOLD_SAMPLE)
    )
    if not pairs.height:
        return None
    apart = sum(
        JaroWinkler.similarity(a, b) < NAME_ALIKE
        for a, b in zip(
            pairs.get_column(first).to_list(), pairs.get_column(f"{first}_r").to_list(), strict=True
        )
    )
    return apart / pairs.height


def guard_columns(fields: tuple[GenericField, ...], households: bool = True) -> tuple[str, ...]:
    """Evidence columns of the household guard (with the last name, which tells a swap from a conflict);
    none where the data has no households (HOUSEHOLD_RATE): there a first name or birthday far apart is a
    typing error the comparisons weigh, and everything else agreeing outweighs it."""
    if not households:
        return ()
    by_field = {f.field: f.column for f in fields}
    return tuple(by_field[f] for f in (*GUARD_FIELDS, "last_name") if f in by_field)


_FIRST, _LAST, _BIRTHDAY = (COLUMN_PREFIX + f for f in ("first_name", "last_name", "birthday"))


def differ(column: str, a: dict, b: dict) -> bool | None:
    """Whether two clusters' values of a generic guard column say they are different people; None when
    `column` is not one (the caller compares exactly)."""
    if not column.startswith(COLUMN_PREFIX):
        return None
    if column == _FIRST:
        return _names_differ(a[column], b[column], a.get(_LAST, frozenset()), b.get(_LAST, frozenset()))
    if column == _BIRTHDAY:
        return _dates_differ(a[column], b[column])
    if column == _LAST:
        return False  # surnames change (marriage) and are shared within a household: evidence, not a guard
    return None
