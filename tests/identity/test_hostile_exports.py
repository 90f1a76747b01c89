"""Hostile variants of the demo brand's real-shaped exports, resolved by the whole pipeline: placeholders and
masks in every identifier column, one phone shared by a third of the members, constant buyer columns, a
channel missing. None may join records of different people that the clean files keep apart (wrong pairs:
pairs of records put in one customer that belong to two people); none may make a customer of many people.

(Precision itself is not the measure here: a variant that overwrites real buyer ids loses true links, and
precision falls when true pairs go while the clean files' few wrong pairs stay.)"""

from __future__ import annotations

import random

import polars as pl
import pytest

from siyu.benchmarks.resolve import pairwise_scores
from siyu.demo.generate import generate_brand
from siyu.identity.actions import resolve_identities
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.actions import import_files
from siyu.ingest.readers import read_table

PEOPLE = 600
# the identifier columns of each format (siyu.ingest.sources.formats)
ID_COLUMNS = ["买家会员名", "买家支付宝账号", "下单帐号", "买家手机号", "external_userid", "unionid", "会员卡号", "手机号",
              "联系手机", "联系电话", "收件人手机号", "备注手机号", "邮箱"]  # fmt: skip
FILLERS = ["**", "-", "***", "无", "0", "null", "000000", "138****5678", "＊＊", "未知", "n/a", "11111111"]


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    return generate_brand(tmp_path_factory.mktemp("hostile") / "brand", people=PEOPLE, seed=3)


def _frame(path) -> pl.DataFrame:
    frame = read_table(path).frame
    return frame.select([c for c in frame.columns if not c.startswith("__")])


def _fillers(frame: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    """Half the values of every identifier column replaced by placeholders and masks (never an order id or
    a member's record id: those are the records' own keys)."""
    keep = {"会员卡号"} if "会员姓名" in frame.columns else set()
    keep |= {"external_userid"}
    out = frame
    for column in set(ID_COLUMNS) & set(frame.columns) - keep:
        values = [
            rng.choice(FILLERS) if rng.random() < 0.5 else v for v in frame.get_column(column).to_list()
        ]
        out = out.with_columns(pl.Series(column, values, dtype=pl.String))
    return out


def _shared_phone(frame: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    """The store's landline typed into a third of the rows' phone columns."""
    out = frame
    for column in {"手机号", "买家手机号", "备注手机号"} & set(frame.columns):
        values = [("021-66668888" if rng.random() < 0.33 else v) for v in frame.get_column(column).to_list()]
        out = out.with_columns(pl.Series(column, values, dtype=pl.String))
    return out


def _constant(frame: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    """One value on every row of the buyer and account columns (a shop exporting its own account)."""
    out = frame
    for column in {"买家会员名", "买家支付宝账号", "下单帐号", "unionid"} & set(frame.columns):
        out = out.with_columns(pl.lit("shop_account_01", dtype=pl.String).alias(column))
    return out


VARIANTS = {
    "fillers in every identifier column": (_fillers, set()),
    "a landline on a third of the members": (_shared_phone, set()),
    "constant buyer and account columns": (_constant, set()),
    "no WeCom export": (None, {"wecom"}),
    "empty identifier columns": (lambda f, rng: f.with_columns(pl.lit(None, pl.String).alias(c) for c in set(ID_COLUMNS) & set(f.columns) if c not in ("会员卡号", "external_userid")), set()),
}  # fmt: skip


def _resolve_variant(brand, folder, change, missing) -> tuple[dict, dict, int]:
    rng = random.Random(5)
    for f in brand.files:
        if f.source in missing:
            continue
        path = f.path
        if change is not None:
            path = folder / f"{f.path.stem}.csv"
            change(_frame(f.path), rng).write_csv(path)
        import_files([path], source=f.source, format=f.format)
    from siyu.warehouse import raw_connection

    con = raw_connection()
    resolve_identities(match=MatchSettings(enabled=False))
    deterministic = pairwise_scores(con, str(brand.ground_truth))
    resolve_identities(full=True)
    both = pairwise_scores(con, str(brand.ground_truth))
    largest = con.execute(
        "SELECT max(n) FROM (SELECT count(DISTINCT name_hash) n FROM customer_map JOIN records USING (record_key) GROUP BY customer_id)"
    ).fetchone()[0]
    return deterministic, both, largest


@pytest.fixture(scope="module")
def clean(brand, tmp_path_factory):
    from django.test import override_settings

    from siyu.warehouse import connection

    connection.close()
    with override_settings(WAREHOUSE_PATH=tmp_path_factory.mktemp("clean") / "wh.duckdb"):
        yield _resolve_variant(brand, None, None, set())
        connection.close()


@pytest.mark.django_db
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_exports_cost_no_precision(brand, clean, warehouse, tmp_path, variant):
    change, missing = VARIANTS[variant]
    deterministic, both, largest = _resolve_variant(brand, tmp_path, change, missing)
    clean_deterministic, clean_both, clean_largest = clean
    print(
        variant,
        _wrong(deterministic),
        _wrong(clean_deterministic),
        _wrong(both),
        _wrong(clean_both),
        largest,
        clean_largest,
    )
    assert _wrong(deterministic) <= _wrong(clean_deterministic), (variant, deterministic)
    assert _wrong(both) <= _wrong(clean_both) + 0.005 * both["predicted_pairs"], (variant, both)
    assert largest <= max(clean_largest, 8), (variant, largest)


def _wrong(scores: dict) -> int:
    return scores["predicted_pairs"] - scores["correct_pairs"]
