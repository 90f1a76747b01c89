"""The reference for `siyu bench resolve`: Splink alone, with sensible default settings, on the same records.

No deterministic graph, no household guard: every record with something to compare is a row; comparisons
come from Splink's own library (exact matches, Jaro-Winkler on names, term-frequency adjustment on
district and name); the model is trained the way Splink's tutorials do it (prior from a deterministic rule,
u by random sampling, m by expectation maximisation on two blocking rules); pairs are clustered by Splink
at a 0.95 match probability.
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa

THRESHOLD = 0.95
BLOCKING_RULES = (
    ("phone_key",),
    ("phone_full",),
    ("phone_tail", "surname"),
    ("district", "street_key", "surname"),
    ("nickname", "surname"),
)


def settings() -> dict:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": [
            cl.ExactMatch("phone_full"),
            cl.ExactMatch("phone_key"),
            cl.ExactMatch("phone_tail"),
            cl.NameComparison("name_full").configure(term_frequency_adjustments=True),
            cl.ExactMatch("surname"),
            cl.ExactMatch("name_len"),
            cl.ExactMatch("district").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("street_full", [0.9]),
            cl.ExactMatch("street_key"),
            cl.ExactMatch("birthday"),
            cl.ExactMatch("gender"),
            cl.ExactMatch("nickname").configure(term_frequency_adjustments=True),
        ],
        "blocking_rules_to_generate_predictions": [block_on(*cols) for cols in BLOCKING_RULES],
        "retain_matching_columns": False,
    }


def cluster_records(features, threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(unique_id, cluster) for every row of `features` (siyu.identity.features, one row per record)."""
    from splink import DuckDBAPI, Linker, block_on

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    try:
        db_api = DuckDBAPI(connection=con)
        table = db_api.register(features.drop("cluster", "source", "records").to_arrow(), dataset_display_name="recs")
        linker = Linker(table, settings(), log_level=logging.WARNING)
        linker.training.estimate_probability_two_random_records_match([block_on("phone_full")], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=2_000_000, seed=7)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone_key"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("district", "street_key"))
        pairs = linker.inference.predict(threshold_match_probability=0.5, warning_mode="never")
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, THRESHOLD)
        out: pa.Table = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").fetch_arrow_table()
        ids = out.column("unique_id").to_numpy()
        # cluster_id is a record's unique_id (string or int): code it as an integer
        _, codes = np.unique(out.column("cluster_id").to_numpy(), return_inverse=True)
        return ids, codes
    finally:
        con.close()
