"""Probabilistic stage: Splink links deterministic clusters that share no strong identifier.

Inputs are the comparison features of siyu.identity.features (one row per distinct record variant of a
deterministic cluster). Splink (DuckDB backend) scores candidate pairs of rows from *different* clusters;
the model is trained without labels from the data itself:
- u-probabilities from random sampling of pairs;
- m-probabilities from the deterministic links: two rows of one deterministic cluster are the same person
  (they share a full phone, a buyer id, a member number…), so their field agreements are what a match
  looks like;
- the prior (probability that two random rows match) from the same clusters, assuming deterministic
  linking finds `deterministic_recall` of the true pairs.

Splink runs on its own in-memory DuckDB connection, not the warehouse's: the features hold decrypted names
and addresses, which must never land in the warehouse file (Splink materialises its working tables in the
connection's database). See docs/architecture.md.

Pairs scoring at least `match_threshold` merge their clusters, in order of probability, unless the merge
would put conflicting evidence into one customer (the household guard, `conflicts`), or the cluster matches
two clusters that conflict with each other (the ambiguity guard: a masked order at a household's address);
pairs between `review_threshold` and `match_threshold`, and refused merges above it, go to the review queue.
"""

from __future__ import annotations

import logging
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from django.conf import settings

from siyu.identity import generic_fields as generic
from siyu.identity.evidence import DEFAULT_AUTO_RULES, AutoRule, auto_rule_column, only_shared

log = logging.getLogger(__name__)


class SplinkUntrainable(Exception):
    """Too little data to train a model (a handful of records): the stage is skipped."""


@dataclass(frozen=True)
class MatchSettings:
    enabled: bool = True
    # Calibrated on the demo brand (docs/benchmarks.md): precision 0.9992 at 100k and 1M people. 0.99 left
    # true pairs with a masked phone, or a full name and nickname, below it (1M recall 0.788 → 0.808).
    match_threshold: float = 0.95
    review_threshold: float = 0.8
    # A pair whose evidence is only what a household shares (a masked name at an address, no phone) is
    # linked from this probability, and only at a place whose records show one person of the surname;
    # None: never. A household member known only from such records looks exactly like the other member, so
    # linking them merges some households (docs/benchmarks.md, "Recall against what the records allow").
    shared_evidence_threshold: float | None = None
    deterministic_recall: float = 0.6
    u_sample_pairs: int = 2_000_000
    # Evidence that keeps two clusters apart however well the rest agrees: the household guard (same
    # address and surname, different given name or birthday) and one phone per person unless confirmed.
    conflicts: tuple[str, ...] = ("given", "birthday", "phone_full", "gender")
    # a cluster matching two clusters that conflict with each other joins neither (it goes to review)
    ambiguity_guard: bool = True
    # fields compared by kind beside those of generic imports (siyu.identity.generic_fields): a province,
    # `id:<type>`…; the fields the built-in comparisons cover (name, phone, email…) are left out
    compare: tuple[str, ...] = ()
    labels: str | None = None  # a CSV of record pairs known to be one person: m is learnt from them
    # pairs below match_threshold that one of these rules decides are linked too (siyu.identity.evidence)
    auto_rules: tuple[AutoRule, ...] = DEFAULT_AUTO_RULES
    threads: int = 2
    memory_limit: str = "3GB"

    def __post_init__(self):
        object.__setattr__(self, "compare", generic.compared_fields(tuple(self.compare)))
        object.__setattr__(self, "auto_rules", tuple(AutoRule.from_value(r) for r in self.auto_rules))

    @property
    def lowest_threshold(self) -> float:
        """Pairs scored below this are of no use: neither linked nor reviewed."""
        return min(self.review_threshold, self.shared_evidence_threshold or 1.0)

    @property
    def weighed_ids(self) -> tuple[str, ...]:
        """Identifier types named in `compare` (`id:ssn`): while the probabilistic stage runs, their values
        are evidence it weighs (exact, one edit, under the household guard) instead of links: a number
        typed by hand may be a family member's."""
        if not self.enabled:
            return ()
        return tuple(f.field.removeprefix("id:") for f in generic.generic_fields(self.compare) if f.kind == "id")

    @classmethod
    def from_settings(cls, **overrides) -> MatchSettings:
        values = dict(getattr(settings, "IDENTITY_MATCHING", {}) or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("conflicts", "compare"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass
class TrainedModel:
    """Splink's trained settings and the term-frequency table of each column that has one."""

    settings: dict
    term_frequencies: dict[str, pa.Table] = field(default_factory=dict)
    # per column, how many rows the frequencies were counted over (a value's count is its tf times this):
    # erasing a person takes their rows out of the counts (siyu.identity.incremental.without_values)
    tf_totals: dict[str, int] = field(default_factory=dict)


@dataclass
class ProbabilisticResult:
    labels: np.ndarray  # new component label per record (clusters joined)
    merges: dict[int, dict] = field(default_factory=dict)  # absorbed label -> evidence of the best link
    # every join made, (cluster a, cluster b, link): the link's record pair ("pair", unique ids) and
    # evidence, "auto_rule" when a rule linked it below the threshold, "forced" for a decision
    links: list[tuple[int, int, dict]] = field(default_factory=list)
    auto_linked: int = 0
    # (cluster a, cluster b) of each forced join -> the record keys of the decision (siyu.identity.actions)
    decided_pairs: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    review: list[dict] = field(default_factory=list)
    pairs_scored: int = 0
    links_above_threshold: int = 0
    blocked_by_guard: int = 0
    ambiguous: int = 0
    household_places: int = 0  # pairs held back: only shared evidence, at a place where two people live
    model: TrainedModel | None = None
    keys: pl.DataFrame | None = None  # blocking keys of the compared rows (unique_id, key)
    seconds: float = 0.0


def _level(sql: str, label: str, null: bool = False, tf: str | None = None, m: float | None = None) -> dict:
    level = {"sql_condition": sql, "label_for_charts": label}
    if m is not None:  # a prior m that training keeps: too few labelled pairs carry this field
        level.update(m_probability=m, fix_m_probability=True)
    if null:
        level["is_null_level"] = True
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


def _both(column: str) -> str:
    return f"{column}_l IS NOT NULL AND {column}_r IS NOT NULL"


def _exact(column: str, noun: str, nouns: str, m: tuple[float, float] | None = None, tf: bool = False) -> dict:
    """A three-level comparison: missing on a side / equal / different."""
    return {
        "output_column_name": column,
        "comparison_levels": [
            _level(f"{column}_l IS NULL OR {column}_r IS NULL", f"no {noun}", null=True),
            _level(f"{column}_l = {column}_r", f"same {noun}", tf=column if tf else None, m=m and m[0]),
            _level("ELSE", f"different {nouns}", m=m and m[1]),
        ],
    }


def comparisons(compare: tuple[str, ...] = ()) -> list[dict]:
    # Levels count what both sides can show: a masked side can agree only on its visible digits, so "same
    # full phone" is not a level of its own (it would leave the masked agreement with a too small m).
    phone = {
        "output_column_name": "phone",
        "comparison_levels": [
            _level("phone_key_l IS NULL AND phone_tail_l IS NULL OR phone_key_r IS NULL AND phone_tail_r IS NULL",
                   "no phone", null=True),
            _level(f"{_both('phone_full')} AND phone_full_l <> phone_full_r", "different full phones"),
            _level("phone_key_l = phone_key_r", "same phone (visible prefix and tail)"),
            # only a WeCom remark tail meets a phone here, which deterministic clusters never show: fixed m
            _level("phone_tail_l = phone_tail_r", "same phone tail", m=0.1),
            _level("ELSE", "different phones"),
        ],
    }  # fmt: skip
    name = {
        "output_column_name": "name",
        "comparison_levels": [
            _level("surname_l IS NULL AND name_full_l IS NULL OR surname_r IS NULL AND name_full_r IS NULL",
                   "no name", null=True),
            _level("name_full_l = name_full_r", "same full name", tf="name_full"),
            # an IME typo picks a character that sounds the same; too few deterministic pairs show one to
            # learn m from: 1% of the true pairs
            _level("name_pinyin_l = name_pinyin_r", "same name in pinyin", m=0.01),
            _level(f"{_both('name_full')} AND jaro_winkler_similarity(name_full_l, name_full_r) >= 0.9",
                   "full names alike"),
            _level(_both("given"), "different given names"),
            _level("surname_l = surname_r AND name_len_l = name_len_r", "same surname and length"),
            _level("surname_l = surname_r", "same surname"),
            _level("ELSE", "different surnames"),
        ],
    }  # fmt: skip
    address = {
        "output_column_name": "address",
        "comparison_levels": [
            _level("city_l IS NULL OR city_r IS NULL", "no address", null=True),
            _level("street_key_l = street_key_r AND district_l = district_r", "same street (visible part)"),
            _level("district_l = district_r", "same district", tf="district"),
            _level("city_l = city_r", "same city"),
            _level("ELSE", "different cities"),
        ],
    }  # fmt: skip
    birthday = _exact("birthday", "birthday", "birthdays", m=(0.95, 0.05))
    gender = _exact("gender", "gender", "genders", m=(0.98, 0.02))
    nickname = _exact("nickname", "nickname", "nicknames", tf=True)
    fields = generic.generic_fields(compare)
    extra = [generic.comparison(f, fields) for f in fields]
    return [phone, name, address, birthday, gender, nickname, *extra]


OTHER_CLUSTER = "l.cluster <> r.cluster"

# Where people live: a surname at a street of a district (a blocking key, and the place whose records
# tell whether a pair with only shared evidence may be one person, _two_people_at).
PLACE = ("district", "street_key", "surname")
# Candidate pairs agree on every column of one of these keys (plus one key per compared generic field).
BLOCKING_KEYS = (
    ("phone_key",),
    ("phone_tail", "surname"),
    PLACE,
    ("nickname", "surname"),
)
BLOCKING_RULES = tuple(" AND ".join(f"l.{c} = r.{c}" for c in key) for key in BLOCKING_KEYS)
# In an incremental run only pairs with a new row are scored: the others were scored by an earlier run.
WITH_NEW_ROW = "(l.is_new OR r.is_new)"


def blocking_keys(features: pl.DataFrame, match: MatchSettings) -> pl.DataFrame:
    """(unique_id, key) for every blocking key a feature row has all columns of: two rows can be a
    candidate pair only if they share a key. An incremental run looks the keys of new rows up among the
    stored keys of existing ones (warehouse table match_keys, as keyed hashes)."""
    keys = (*BLOCKING_KEYS, *generic.blocking_keys(generic.generic_fields(match.compare)))
    parts = [
        features.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in key)).select(
            "unique_id", key=pl.concat_str([pl.lit(str(i)), *key], separator="\x1f")
        )
        for i, key in enumerate(keys)
    ]
    return pl.concat(parts)


# The feature columns a comparison reads: it is left out when all of them are empty (a generic dataset
# has no masked phones, nicknames or Chinese addresses), as a level never seen cannot be trained.
COMPARISON_COLUMNS = {
    "phone": ("phone_key", "phone_tail"),
    "name": ("surname", "name_full"),
    "address": ("city",),
    "birthday": ("birthday",),
    "gender": ("gender",),
    "nickname": ("nickname",),
}


def splink_settings(match: MatchSettings, features: pl.DataFrame | None = None) -> dict:
    generic_keys = generic.blocking_keys(generic.generic_fields(match.compare))
    extra_rules = [" AND ".join(f"l.{c} = r.{c}" for c in key) for key in generic_keys]
    chosen = comparisons(match.compare)
    if features is not None:
        filled = {c for c in features.columns if features.get_column(c).null_count() < features.height}
        chosen = [
            c for c in chosen
            if not filled.isdisjoint(COMPARISON_COLUMNS.get(c["output_column_name"], (c["output_column_name"],)))
        ]  # fmt: skip
    if features is not None:
        # a generic key on columns no row has finds no pair (no join for it); one on a value thousands share
        # (a constant postcode) would ask for too many pairs, as Splink's own blocking analysis warns
        extra_rules = [
            r for r, key in zip(extra_rules, generic_keys, strict=True)
            if filled.issuperset(key) and generic.pairs_within(features, key) <= generic.MAX_BLOCK_PAIRS
        ]  # fmt: skip
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": chosen,
        "blocking_rules_to_generate_predictions": [
            f"{rule} AND {OTHER_CLUSTER}" for rule in (*BLOCKING_RULES, *extra_rules)
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,  # the mw_ columns: which level each field hit
        "additional_columns_to_retain": ["cluster"],
    }


# The feature columns comparisons, blocking rules and training read: only these go to Splink, whose join
# of the candidate pairs with both rows' features holds them in memory (at 1M people the wider table went
# over the 3 GB limit).
SPLINK_COLUMNS = (
    "phone_full", "phone_key", "phone_tail", "surname", "name_len", "name_full", "given", "name_pinyin",
    "city", "district", "street_key", "birthday", "gender", "nickname",
)  # fmt: skip


# The label column m is learnt from: the deterministic cluster, or, when reviewers decided pairs of rows
# are one person, those clusters joined (siyu.identity.actions._with_training_clusters).
TRAINING_LABEL = "train_cluster"


def _splink_input(features: pl.DataFrame, match: MatchSettings, training: bool = False) -> pa.Table:
    """The feature columns Splink reads. In training, generic columns no row has are left out: no
    comparison or blocking rule then reads them (splink_settings), and Splink carries every input column
    through its working tables. A stored model may read them, so scoring with one keeps them all."""
    fields = generic.generic_fields(match.compare)
    if training:  # a field's derived columns go with it (an address without house numbers still has them)
        fields = [f for f in fields if f.column in features.columns and features.get_column(f.column).null_count() < features.height]
    extra = generic.feature_column_names(tuple(fields))
    wanted = ["unique_id", "cluster", TRAINING_LABEL, "is_new", *SPLINK_COLUMNS, *extra]
    return features.select([c for c in wanted if c in features.columns]).to_arrow()


MIN_ROWS = 20
PREDICT_ROWS_PER_CHUNK = 750_000
MIN_LABELLED_PAIRS = 50
HOUSEHOLD_RATE_KEY = "siyu_household_rate"


def has_households(model: TrainedModel | None) -> bool:
    """Whether the data a model was trained on has households (siyu.identity.generic_fields.household_rate):
    then the household guard holds generic first names and birthdays apart. Unknown: it does."""
    rate = model.settings.get(HOUSEHOLD_RATE_KEY) if model is not None else None
    return rate is None or rate >= generic.HOUSEHOLD_RATE


def _estimate_prior(linker, from_clusters: bool, match: MatchSettings) -> None:
    """The probability that two random rows match: from the deterministic clusters (assuming they hold
    `deterministic_recall` of the true pairs), else from exact name + birthday agreement; when neither rule
    finds a pair, Splink's default (1e-4) stays."""
    rule = (
        "l.cluster = r.cluster" if from_clusters else "l.name_full = r.name_full AND l.birthday = r.birthday"
    )
    recall = match.deterministic_recall if from_clusters else 0.6
    default = linker._settings_obj._probability_two_random_records_match
    try:
        linker.training.estimate_probability_two_random_records_match([rule], recall=recall)
    except ValueError:  # no pair satisfies the rule (log of zero)
        pass
    if not linker._settings_obj._probability_two_random_records_match > 0:
        log.info("no pair for the prior rule %s: keeping the default prior", rule)
        linker._settings_obj._probability_two_random_records_match = default


def _train_generic(linker, features: pl.DataFrame, match: MatchSettings, compared: set[str]) -> None:
    """Data with generic names (siyu.identity.generic_fields: first and last names in Latin script) is
    trained as Splink's own guides train it, whether or not identifiers linked some records: the prior from
    rules whose pairs are nearly all matches, u by random sampling, m by expectation maximisation sessions that together train every
    comparison. (Deterministic clusters of such data are few and often carry no birthday or address, so
    they do not show what a match looks like on every field.)"""
    fields = generic.generic_fields(match.compare)
    rules = generic.prior_rules(fields, compared)
    if rules:
        try:
            linker.training.estimate_probability_two_random_records_match(rules, recall=0.6)
        except ValueError:  # no pair satisfies the rules (log of zero): Splink's default stays
            pass
    # in one pass over the sample: rare levels (swapped names, an id one edit apart) never reach Splink's
    # minimum count per level, so its early stop after one of ten chunks never comes
    linker.training.estimate_u_using_random_sampling(max_pairs=match.u_sample_pairs, seed=7, num_chunks=1)
    for columns in generic.em_sessions(features, fields, compared):
        rule = " AND ".join(f"l.{c} = r.{c}" for c in columns)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError:  # a level EM never observed (log of zero): train on the next rule
            continue


def _train_unlabelled(linker, features: pl.DataFrame, match: MatchSettings) -> None:
    """m by EM sessions blocked on different fields so that every comparison is trained in at least one."""
    candidates = ["l.birthday = r.birthday", "l.name_full = r.name_full", "l.phone_key = r.phone_key"]
    candidates += [f"l.{f.column} = r.{f.column}" for f in generic.generic_fields(match.compare)]
    sessions = 0
    for rule in candidates:
        column = rule.split("=")[0].strip()[2:]
        if column in features.columns and features.get_column(column).drop_nulls().is_duplicated().any():
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(rule)
            except ValueError:  # a level EM never observed (log of zero): train on the next rule
                continue
            sessions += 1
        if sessions == 2:
            return


def _splink_connection(match: MatchSettings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {int(match.threads)}")
    # Splink's joins spill to disk beyond this instead of taking the machine's memory
    con.execute(f"SET memory_limit = '{match.memory_limit}'")
    spill = Path(settings.SIYU_HOME) / "tmp" / "splink"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def predict_pairs(
    features: pl.DataFrame, match: MatchSettings, labelled: pa.Table | None = None
) -> tuple[pa.Table, TrainedModel]:
    """Scored pairs with a probability of at least the review threshold (unique_id_l, unique_id_r,
    cluster_l, cluster_r, match_probability, and field_<comparison>: the label of the level each field hit),
    and the trained model (train_model).
    `labelled`: pairs (unique_id_l, unique_id_r) known to be one person, to learn m from instead of the
    deterministic clusters. A `train_cluster` column in `features` (the clusters joined by reviewers'
    `same` decisions) is learnt from instead of `cluster`."""
    with _trained_linker(features, match, labelled) as linker:
        # Splink scores the left rows in chunks so that its join of pairs with both rows' features fits
        # the memory limit (one chunk held 3 GB too few at 1M people)
        chunks = max(1, math.ceil(features.height / PREDICT_ROWS_PER_CHUNK))
        pairs = linker.inference.predict(
            threshold_match_probability=match.lowest_threshold,
            num_chunks_left=chunks,
            num_chunks_right=1,
            warning_mode="never",
        )
        model = _trained_model(linker, features, match)
        return _scored(pairs, model.settings), model


def train_model(features: pl.DataFrame, match: MatchSettings, labelled: pa.Table | None = None) -> TrainedModel:
    """The model predict_pairs trains (on its in-memory DuckDB), without scoring any pair: on Spark the
    pairs are scored by predict_pairs_on_spark."""
    with _trained_linker(features, match, labelled) as linker:
        return _trained_model(linker, features, match)


@contextmanager
def _trained_linker(features: pl.DataFrame, match: MatchSettings, labelled: pa.Table | None):
    """A Splink linker on a DuckDB connection of its own, trained on `features` (predict_pairs)."""
    from splink import DuckDBAPI, Linker
    from splink.internals.exceptions import SplinkException

    if features.height < MIN_ROWS:
        raise SplinkUntrainable(f"only {features.height} records to compare")
    label = TRAINING_LABEL if TRAINING_LABEL in features.columns else "cluster"
    sizes = features.get_column(label).value_counts().get_column("count")
    labelled_pairs = int((sizes * (sizes - 1) // 2).sum())
    con = _splink_connection(match)
    try:
        db_api = DuckDBAPI(connection=con)
        table = db_api.register(_splink_input(features, match, training=True), dataset_display_name="records")
        settings_ = splink_settings(match, features)
        compared = {c["output_column_name"] for c in settings_["comparisons"]}
        linker = Linker(table, settings_, log_level=logging.WARNING)
        try:
            if labelled is not None and labelled.num_rows:
                _estimate_prior(linker, labelled_pairs >= MIN_LABELLED_PAIRS, match)
                linker.training.estimate_u_using_random_sampling(max_pairs=match.u_sample_pairs, seed=7)
                linker.training.estimate_m_from_pairwise_labels(db_api.register(labelled, table_name="labels"))
            elif generic.western_names(compared):
                _train_generic(linker, features, match, compared)
            else:
                _estimate_prior(linker, labelled_pairs >= MIN_LABELLED_PAIRS, match)
                linker.training.estimate_u_using_random_sampling(max_pairs=match.u_sample_pairs, seed=7)
                if labelled_pairs >= MIN_LABELLED_PAIRS:
                    linker.training.estimate_m_from_label_column(label)
                else:  # no identifier links to learn from: expectation maximisation
                    _train_unlabelled(linker, features, match)
        except SplinkException as exc:
            raise SplinkUntrainable(str(exc)) from exc
        yield linker
    finally:
        con.close()


def _trained_model(linker, features: pl.DataFrame, match: MatchSettings) -> TrainedModel:
    """A trained linker's settings and the term-frequency tables of its columns."""
    model = TrainedModel(linker.misc.save_model_to_json())
    # kept with the model (Splink's settings refuse keys of their own: predict_new_pairs drops it)
    model.settings[HOUSEHOLD_RATE_KEY] = generic.household_rate(features, generic.generic_fields(match.compare))
    for column in _tf_columns(model.settings):
        tf = linker.table_management.compute_tf_table(column)
        model.term_frequencies[column] = tf.as_duckdbpyrelation().fetch_arrow_table()
        # Splink divides by the rows with a value in the column it was trained on (these features)
        if column in features.columns:
            model.tf_totals[column] = int(features.get_column(column).is_not_null().sum())
    return model


def predict_new_pairs(features: pl.DataFrame, model: TrainedModel, match: MatchSettings) -> pa.Table:
    """Like predict_pairs, with a model trained by an earlier run and only the pairs that hold a row
    whose `is_new` is true (the rows of records that earlier run did not see)."""
    from splink import DuckDBAPI, Linker

    con = _splink_connection(match)
    try:
        db_api = DuckDBAPI(connection=con)
        table = db_api.register(_splink_input(features, match), dataset_display_name="records")
        settings_ = {
            **{k: v for k, v in model.settings.items() if k != HOUSEHOLD_RATE_KEY},
            "blocking_rules_to_generate_predictions": [
                f"{rule} AND {WITH_NEW_ROW}"
                for rule in splink_settings(match, features)["blocking_rules_to_generate_predictions"]
            ],
        }
        linker = Linker(table, settings_, log_level=logging.WARNING)
        for column, frequencies in model.term_frequencies.items():
            linker.table_management.register_term_frequency_lookup(db_api.register(frequencies), column)
        pairs = linker.inference.predict_within(
            table, threshold_match_probability=match.lowest_threshold, warning_mode="never"
        )
        return _scored(pairs, model.settings)
    finally:
        con.close()


def predict_pairs_on_spark(
    features, model: TrainedModel, match: MatchSettings, new_only: bool = False, session=None, as_frame=False
):
    """The scored pairs of predict_pairs (or, `new_only`, of predict_new_pairs), computed by Splink's Spark
    backend with a model trained earlier: the same features, blocking rules, trained parameters and
    term-frequency tables, on the warehouse's Spark session (siyu.warehouse.spark: Splink's jar for
    Jaro-Winkler, a checkpoint directory) unless `session` is given. Splink's working tables are
    temporary views and checkpoints of that session, so the decrypted features stay out of the warehouse's
    tables as they do on DuckDB.
    `features`: a polars frame (sent to Spark from the driver) or the features computed on the executors
    (siyu.identity.spark_features.EngineFeatures), which never come to the driver.
    `as_frame`: return the pairs as a checkpointed Spark DataFrame (field levels named by the engine,
    _spark_level_labels) instead of collecting them to the driver."""
    from splink import Linker, SparkAPI

    if session is None:
        from siyu.warehouse import spark

        session = spark.session()
    # a child session (the same SparkContext): its own temporary views, so Splink's input table "records"
    # does not meet the warehouse's view of that name (siyu.warehouse.spark_store registers the tables)
    session = session.newSession()
    db_api = SparkAPI(spark_session=session, break_lineage_method="persist")
    if isinstance(features, pl.DataFrame):
        frame = session.createDataFrame(_splink_input(features, match))
        rules = splink_settings(match, features)["blocking_rules_to_generate_predictions"]
    else:  # the engine's features, read through a global temporary view (a child session sees it)
        from siyu.identity.spark_features import generic_rules

        frame = session.table(features.view())
        extra = generic.feature_column_names(generic.generic_fields(match.compare))
        wanted = ["unique_id", "cluster", TRAINING_LABEL, "is_new", *SPLINK_COLUMNS, *extra]
        frame = frame.select(*[c for c in wanted if c in frame.columns])
        rules = [f"{rule} AND {OTHER_CLUSTER}" for rule in (*BLOCKING_RULES, *generic_rules(features, match))]
    table = db_api.register(frame, dataset_display_name="records")
    if new_only:
        rules = [f"{rule} AND {WITH_NEW_ROW}" for rule in rules]
    settings_ = spark_model_settings({**model.settings, "blocking_rules_to_generate_predictions": rules})
    linker = Linker(table, settings_, log_level=logging.WARNING)
    for column, frequencies in model.term_frequencies.items():
        lookup = db_api.register(session.createDataFrame(frequencies), table_name=f"tf_{column}")
        linker.table_management.register_term_frequency_lookup(lookup, column)
    if new_only:
        pairs = linker.inference.predict_within(
            table, threshold_match_probability=match.lowest_threshold, warning_mode="never"
        )
    else:
        pairs = linker.inference.predict(
            threshold_match_probability=match.lowest_threshold, warning_mode="never"
        )
    weights = [c for c in _column_names(pairs) if c.startswith("mw_") and not c.startswith("mw_tf_adj_")]
    columns = ["unique_id_l", "unique_id_r", "cluster_l", "cluster_r", "match_probability", *weights]
    if as_frame:
        scored = pairs.as_spark_dataframe().select(*columns)
        # cut from Splink's lineage (its tables are dropped next), and read from the warehouse's session
        # through a global temporary view (the pairs belong to Splink's child session)
        scored = _spark_level_labels(scored, model.settings).localCheckpoint(eager=True)
        pairs.drop_table_from_database_and_remove_from_cache()
        return scored
    scored = pairs.as_spark_dataframe().select(*columns).toArrow()
    pairs.drop_table_from_database_and_remove_from_cache()
    return _name_levels(scored, model.settings)


# DuckDB functions in the SQL of Siyu's comparisons (comparisons(), siyu.identity.generic_fields) and what
# Spark says instead: Splink's jar names its Jaro-Winkler `jaro_winkler` (its Damerau-Levenshtein keeps
# the name); date_diff and list_has_any have Spark forms.
_SPARK_SQL = (
    (re.compile(r"\bjaro_winkler_similarity\("), "jaro_winkler("),
    (re.compile(r"\bdate_diff\('day',\s*([^,]+),\s*([^)]+\)?)\)"), r"datediff(\2, \1)"),
    (re.compile(r"\blist_has_any\(string_split\("), "arrays_overlap(split("),
    (re.compile(r"string_split\("), "split("),
    # hamming only spares DuckDB a costly damerau_levenshtein <= 1 that always follows it (siyu.identity.
    # generic_fields._one_edit): strings of equal length one edit apart are at most two substitutions apart
    (re.compile(r"\bhamming\([^()]*\) <= 2"), "TRUE"),
    # Splink's own levels (the generic fields' ExactMatchLevel…) quote column names as DuckDB does; in
    # Spark's SQL "x" is a string: `x` names the column (and lets Splink find the exact level a
    # term-frequency adjustment needs)
    (re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"'), r"`\1`"),
)


def spark_model_settings(model: dict) -> dict:
    """A trained model's Splink settings (DuckDB's SQL) in Spark's SQL."""

    def spark_sql(sql: str) -> str:
        for pattern, replacement in _SPARK_SQL:
            sql = pattern.sub(replacement, sql)
        return sql

    out = {k: v for k, v in model.items() if k != HOUSEHOLD_RATE_KEY}
    out["sql_dialect"] = "spark"
    out["comparisons"] = [
        {
            **comparison,
            "comparison_levels": [
                {**level, "sql_condition": spark_sql(level["sql_condition"])}
                for level in comparison["comparison_levels"]
            ],
        }
        for comparison in model["comparisons"]
    ]
    out["blocking_rules_to_generate_predictions"] = [
        {**rule, "blocking_rule": spark_sql(rule["blocking_rule"]), "sql_dialect": "spark"}
        if isinstance(rule, dict)
        else spark_sql(rule)
        for rule in model.get("blocking_rules_to_generate_predictions", [])
    ]
    return out


def _tf_columns(model: dict) -> list[str]:
    return sorted(
        {
            level["tf_adjustment_column"]
            for comparison in model["comparisons"]
            for level in comparison["comparison_levels"]
            if level.get("tf_adjustment_column")
        }
    )


def _scored(pairs, model: dict) -> pa.Table:
    weights = [c for c in _column_names(pairs) if c.startswith("mw_") and not c.startswith("mw_tf_adj_")]
    columns = ["unique_id_l", "unique_id_r", "cluster_l", "cluster_r", "match_probability", *weights]
    result = pairs.as_duckdbpyrelation().select(", ".join(columns)).fetch_arrow_table()
    return _name_levels(result, model)


def _column_names(frame) -> list[str]:
    return [c.unquote().name for c in frame.columns]


def _weighted_levels(comparison: dict) -> list[tuple[float, str]]:
    """(match weight, label) of each level of a trained comparison (0 for its null level)."""
    return [(0.0, lv["label_for_charts"]) if lv.get("is_null_level") else
            (math.log2(lv["m_probability"] / lv["u_probability"]), lv["label_for_charts"])
            for lv in comparison["comparison_levels"]
            if lv.get("is_null_level") or (lv.get("m_probability") and lv.get("u_probability"))]  # fmt: skip


def _spark_level_labels(pairs, model: dict):
    """_name_levels computed by Spark on a DataFrame of scored pairs: the nearest level's label, the first
    of equally near ones (numpy's argmin)."""
    from pyspark.sql import functions as F

    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if f"mw_{name}" not in pairs.columns:
            continue
        observed = F.coalesce(F.col(f"mw_{name}").cast("double"), F.lit(0.0))
        candidates = [
            F.struct(F.abs(observed - F.lit(w)).alias("d"), F.lit(i).alias("i"), F.lit(label).alias("label"))
            for i, (w, label) in enumerate(_weighted_levels(comparison))
        ]
        label = F.array_min(F.array(*candidates))["label"]
        pairs = pairs.withColumn(f"field_{name}", label).drop(f"mw_{name}")
    return pairs


def _name_levels(pairs: pa.Table, model: dict) -> pa.Table:
    """Replace each comparison's match weight (mw_<name>, before term-frequency adjustment) by the label
    of the level it came from (field_<name>): the evidence a reviewer reads."""
    frame = pl.from_arrow(pairs)
    assert isinstance(frame, pl.DataFrame)
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if f"mw_{name}" not in frame.columns:
            continue
        levels = _weighted_levels(comparison)
        weights = np.array([w for w, _ in levels])
        labels = np.array([label for _, label in levels], dtype=object)
        observed = frame.get_column(f"mw_{name}").fill_null(0.0).to_numpy()
        nearest = np.abs(observed[:, None] - weights[None, :]).argmin(axis=1)
        frame = frame.drop(f"mw_{name}").with_columns(
            pl.Series(f"field_{name}", labels[nearest], dtype=pl.String)
        )
    return frame.to_arrow()


def join_clusters(
    labels: np.ndarray,
    features: pl.DataFrame,
    pairs: pa.Table | None,
    match: MatchSettings,
    forced: list[tuple[int, int]] = (),
    forbidden: set[tuple[int, int]] = frozenset(),
    households: bool = True,
    filled: set[str] | None = None,
) -> ProbabilisticResult:
    """Merge deterministic clusters along the scored pairs, best first, under the household guard.

    `forced` / `forbidden` are pairs of clusters a reviewer said are the same person / different people;
    they win over scores and over the guard. `households`: whether the data has households
    (has_households), which decides whether generic first names and birthdays are guarded.

    `features` need only hold the rows of the clusters in `pairs`, `forced` and `forbidden` and, when
    match.shared_evidence_threshold is set, every row at the place (PLACE) of a pair's left row: the
    result is the same as with all rows (what Spark collects, siyu.identity.actions._match_on_spark),
    given `filled`, the columns any row of all has a value in (default: those of `features`)."""
    guarded = generic.guard_columns(generic.generic_fields(match.compare), households)
    if filled is None:
        filled = {c for c in features.columns if features.get_column(c).null_count() < features.height}
    conflicts = (*match.conflicts, *(c for c in guarded if c in filled))
    # and the fields automatic rules need consistent (their values accumulate as clusters join, like the guard's)
    consistent = tuple(dict.fromkeys(c for rule in match.auto_rules for c in rule.consistent))
    evidence = _cluster_evidence(features, tuple(dict.fromkeys((*conflicts, *consistent))))
    rules = {rule.name: rule for rule in match.auto_rules}
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    apart: dict[int, set[int]] = {}
    for a, b in forbidden:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent.get(x, x)
        return root

    result = ProbabilisticResult(labels=labels)
    merged_pairs: list[tuple[int, int, dict]] = []

    def union(a: int, b: int, link: dict) -> bool:
        ra, rb = find(a), find(b)
        if ra == rb:
            return True
        in_a, in_b = members.get(ra, {ra}), members.get(rb, {rb})
        if apart.get(ra, set()) & in_b or apart.get(rb, set()) & in_a:
            link["blocked_by"] = "decision: different people"
            return False
        conflict = _conflict(evidence.get(ra), evidence.get(rb), conflicts)
        if conflict and not link.get("forced"):
            link["blocked_by"] = conflict
            return False
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        parent[gone] = keep
        members[keep] = in_a | in_b
        members.pop(gone, None)
        apart[keep] = apart.get(ra, set()) | apart.get(rb, set())
        apart.pop(gone, None)
        evidence[keep] = _union_evidence(evidence.get(keep), evidence.pop(gone, None))
        merged_pairs.append((a, b, link))
        return True

    for a, b in forced:
        union(int(a), int(b), {"forced": True})

    if pairs is not None and pairs.num_rows:
        frame = pl.from_arrow(pairs)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(
            a=pl.min_horizontal("cluster_l", "cluster_r"), b=pl.max_horizontal("cluster_l", "cluster_r")
        )
        best = frame.sort("match_probability", descending=True).unique(subset=["a", "b"], keep="first")
        best = best.sort(["match_probability", "a", "b"], descending=[True, False, False])
        field_cols = [c for c in frame.columns if c.startswith("field_")]
        best = best.with_columns(auto_rule=auto_rule_column(best, match.auto_rules))
        # a pair with only shared evidence has a threshold of its own (none: never linked), and is held
        # back where the place's records show two people
        shared = only_shared(best, field_cols)
        if match.shared_evidence_threshold is None:
            threshold, held = pl.when(shared).then(None).otherwise(match.match_threshold), pl.lit(False)
        else:
            threshold = pl.when(shared).then(match.shared_evidence_threshold).otherwise(match.match_threshold)
            held = shared & _two_people_at(best, features) & (pl.col("match_probability") >= threshold)
        best = best.with_columns(
            held=held,
            linkable=(pl.col("match_probability") >= threshold).fill_null(False) | pl.col("auto_rule").is_not_null(),
        ).with_columns(linkable=pl.col("linkable") & ~pl.col("held"))
        result.pairs_scored = frame.height
        result.household_places = int(best.get_column("held").sum())
        ambiguous = _ambiguous_clusters(best, evidence, conflicts) if match.ambiguity_guard else set()
        for row in best.iter_rows(named=True):
            a, b, p = row["a"], row["b"], row["match_probability"]
            if not row["linkable"]:
                if find(a) != find(b) and p >= match.review_threshold:
                    result.review.append(_review_row(row, field_cols, "below the match threshold"))
                continue
            if a in ambiguous or b in ambiguous:
                result.ambiguous += 1
                result.review.append(_review_row(row, field_cols, "ambiguous: matches people who differ"))
                continue
            result.links_above_threshold += int(p >= match.match_threshold)
            link = {"match_probability": round(p, 6), "fields": {c[len("field_") :]: row[c] for c in field_cols},
                    "pair": (row["unique_id_l"], row["unique_id_r"])}  # fmt: skip
            if row["auto_rule"] and p < match.match_threshold:
                # a rule never joins customers whose records disagree on its `consistent` fields (a city)
                if _conflict(evidence.get(find(a)), evidence.get(find(b)), rules[row["auto_rule"]].consistent):
                    result.review.append(_review_row(row, field_cols, "below the match threshold"))
                    continue
                link["auto_rule"] = row["auto_rule"]
            if not union(a, b, link) and link.get("blocked_by"):
                result.blocked_by_guard += 1
                result.review.append(_review_row(row, field_cols, "conflict: " + link["blocked_by"]))

    if parent:
        unique_labels = np.unique(labels)
        roots = np.array([find(int(x)) for x in unique_labels], dtype=np.int64)
        result.labels = roots[np.searchsorted(unique_labels, labels)]
        for a, b, link in merged_pairs:
            result.merges.setdefault(b, link)
            result.merges.setdefault(a, link)
    result.links = merged_pairs
    result.auto_linked = sum(1 for _, _, link in merged_pairs if link.get("auto_rule"))
    return result


# Values two people of one surname at one place differ on and one person's records do not.
PERSON_VALUES = ("given", "name_len", "phone_key", "phone_full", "birthday")


def _two_people_at(best: pl.DataFrame, features: pl.DataFrame) -> pl.Series:
    """Per scored pair: whether its place (PLACE of its left row) shows two people of the surname, two
    given names, name lengths, masked or full phones or birthdays among its records. A record there that
    shows only what they share may be either of them."""
    if not set(PLACE).issubset(features.columns):
        return pl.Series("two_people", [False] * best.height)
    at = features.drop_nulls(list(PLACE))
    values = [c for c in PERSON_VALUES if c in at.columns]
    two = at.group_by(PLACE).agg([pl.col(c).drop_nulls().n_unique().alias(c) for c in values]).filter(
        pl.any_horizontal(pl.col(c) > 1 for c in values)
    )
    places = features.join(two, on=PLACE, how="semi").select(unique_id_l="unique_id", two_people=pl.lit(True))
    flagged = best.select("unique_id_l").join(places, on="unique_id_l", how="left", maintain_order="left")
    return flagged.get_column("two_people").fill_null(False)


def _ambiguous_clusters(best: pl.DataFrame, evidence: dict, fields: tuple[str, ...]) -> set[int]:
    """Clusters that would be linked (above the threshold or by an automatic rule) to two clusters which
    conflict with each other (a masked order at a household's address matches both members): which one it
    belongs to is a guess."""
    strong = best.filter(pl.col("linkable")).select("a", "b")
    both = pl.concat([strong, strong.select(a="b", b="a")]).group_by("a").agg(pl.col("b"))
    out = set()
    for cluster, partners in both.filter(pl.col("b").list.len() > 1).iter_rows():
        # a partner the cluster itself conflicts with is no alternative: the household guard refuses that
        # link anyway (a tax form of one household member scores high against the others too)
        own = evidence.get(cluster)
        known = [evidence.get(p) for p in partners]
        known = [e for e in known if e and not _conflict(own, e, fields)]
        if any(_conflict(x, y, fields) for i, x in enumerate(known) for y in known[i + 1 :]):
            out.add(cluster)
    return out


def _review_row(row: dict, field_cols: list[str], reason: str) -> dict:
    return {
        "unique_id_l": row["unique_id_l"],
        "unique_id_r": row["unique_id_r"],
        "cluster_l": row["a"],
        "cluster_r": row["b"],
        "match_probability": row["match_probability"],
        "fields": {c[len("field_") :]: row[c] for c in field_cols},
        "reason": reason,
    }


def _cluster_evidence(features: pl.DataFrame, conflicts: tuple[str, ...]) -> dict[int, dict[str, frozenset]]:
    """Per cluster, the distinct values of each conflict field."""
    if not conflicts:
        return {}
    grouped = features.group_by("cluster").agg(
        [pl.col(c).drop_nulls().unique().alias(c) for c in conflicts if c in features.columns]
    )
    out: dict[int, dict[str, frozenset]] = {}
    for row in grouped.iter_rows(named=True):
        values = {c: frozenset(v) for c, v in row.items() if c != "cluster" and v}
        if values:
            out[row["cluster"]] = values
    return out


def _conflict(a: dict | None, b: dict | None, fields: tuple[str, ...]) -> str | None:
    """The first of `fields` on which the two clusters hold values and share none (for a generic field: none
    alike, siyu.identity.generic_fields.differ)."""
    if not a or not b:
        return None
    for column in fields:
        values, other = a.get(column), b.get(column)
        if not values or not other:
            continue
        fuzzy = generic.differ(column, a, b)
        if fuzzy if fuzzy is not None else not (values & other):
            return column
    return None


def _union_evidence(a: dict | None, b: dict | None) -> dict:
    out = dict(a or {})
    for column, values in (b or {}).items():
        out[column] = out.get(column, frozenset()) | values
    return out

