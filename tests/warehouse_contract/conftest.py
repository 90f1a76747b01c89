"""The warehouse contract suite's brand: the demo brand built on DuckDB through the real pipeline, then
every warehouse table copied into a Spark warehouse (the test session's local[2] Spark) through the
product's own Spark writes, with its column types.

The brand lives for this package (its control-plane rows are flushed when the package's tests are done);
`on(engine)` switches the warehouse between the two copies.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest

from siyu.warehouse import backend

PEOPLE = 800


@dataclass
class ContractBrand:
    duckdb_path: Path
    spark_location: Path
    tables: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # read on DuckDB once built: what the scenarios ask about
    now: datetime | None = None  # the current traits' cut-off: rules are evaluated at it
    customers: int = 0
    sample_customers: list[int] = field(default_factory=list)
    last_day: date | None = None
    stores: tuple[str, ...] = ()
    probe: dict = field(default_factory=dict)  # a customer to search for
    rules: dict[str, dict] = field(default_factory=dict)  # a rule of every kind, checked
    loyalty_rules: dict[str, dict] = field(default_factory=dict)


def _clear_caches() -> None:
    from django.core.cache import cache

    cache.clear()


@contextmanager
def on(brand: ContractBrand, engine: str):
    """The warehouse is the brand's DuckDB file or its Spark copy while inside."""
    from django.test import override_settings

    from siyu.warehouse import connection

    values = {"WAREHOUSE_ENGINE": engine, "WAREHOUSE_PATH": brand.duckdb_path}
    if engine == "spark":
        values |= {"WAREHOUSE_SPARK_MASTER": "local[2]", "WAREHOUSE_LOCATION": str(brand.spark_location)}
    _clear_caches()
    with override_settings(**values):
        try:
            yield connection.backend()
        finally:
            _clear_caches()


def _build_on_duckdb(tmp: Path, seconds) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from siyu.core.progress import run_with_progress
    from siyu.segments.actions import save_computed_tag, save_segment, save_stage_set

    t0 = time.perf_counter()
    call_command("demo", people=PEOPLE, seed=7, no_serve=True, stdout=io.StringIO())
    seconds["demo"] = time.perf_counter() - t0
    admin = get_user_model().objects.get(username="admin")
    save_computed_tag(admin, "高价值", {"field": "m_score", "op": ">=", "value": 4}, description="消费金额高")
    save_stage_set(admin, "会员阶段", [{"stage": "老客", "when": {"bought": {}}}], default_stage="新客")
    for kind in ("traits", "predict"):
        job = run_with_progress(kind, {}, quiet=True, created_by=admin)
        assert job.status == "done", job.error
    # segments with stored members (the export and the segment pages read them)
    save_segment(admin, "买过两次", rule={"bought": {"at_least": 2}}, description="至少两单")
    save_segment(admin, "高价值或天猫", rule={"any": [{"field": "value_layer", "op": "=", "value": "top"},
                                                   {"bought": {"source": "tmall"}}]})  # fmt: skip
    summary = backend().table("customer_summary")
    first = summary.order_by("customer_id").limit(5).customer_id.to_pyarrow().to_pylist()
    save_segment(admin, "指定客户", customer_ids=first, description="手工名单")


def _describe(brand: ContractBrand) -> None:
    """What the scenarios ask about, read from the DuckDB warehouse."""
    from siyu.analytics.facts import filter_choices
    from siyu.analytics.queries import latest_day
    from siyu.segments.queries import snapshot_cutoff
    from siyu.segments.rules import SEGMENT_SCOPE, check_condition

    con = backend()
    brand.now = snapshot_cutoff()
    summary = con.table("customer_summary")
    brand.customers = int(summary.count().execute())
    top = summary.order_by([summary.record_count.desc(), summary.orders.desc(), summary.customer_id])
    buyers = summary.filter(summary.orders > 0).order_by("customer_id")
    nobody = summary.filter(summary.orders == 0).order_by("customer_id")
    sample = [*_ids(top.limit(3)), *_ids(buyers.limit(2)), *_ids(nobody.limit(1))]
    brand.sample_customers = list(dict.fromkeys(sample))
    brand.last_day = latest_day()
    brand.stores = tuple(filter_choices()["stores"])
    probe = summary.filter(summary.phone_tail.notnull(), summary.name_masked.notnull(), summary.province.notnull())
    probe = probe.order_by("customer_id").limit(1).to_pyarrow().to_pylist()[0]
    brand.probe = {"customer_id": probe["customer_id"], "phone_tail": probe["phone_tail"],
                   "name": probe["name_masked"][0], "province": probe["province"]}  # fmt: skip
    rules = {
        "score": {"field": "m_score", "op": ">=", "value": 4},
        "layer_in": {"field": "value_layer", "op": "in", "value": ["top", "waist"]},
        "recent": {"field": "recency_days", "op": "between", "value": [0, 120]},
        "no_cycle": {"field": "purchase_cycle_days", "op": "is null"},
        "computed_tag": {"field": "computed_tags", "op": "contains", "value": "高价值"},
        "stage": {"field": "lifecycle_stage", "op": "!=", "value": "new"},
        "discounts": {"field": "discount_order_share", "op": ">", "value": 0},
        "province": {"field": "province", "op": "=", "value": brand.probe["province"]},
        "sources": {"field": "sources", "op": "contains", "value": "tmall"},
        "prediction": {"field": "p_purchase", "op": ">=", "value": 0.05},
        "clv": {"field": "clv", "op": ">", "value": 0},
        "bought_twice_in_a_year": {"bought": {"within_days": 365, "at_least": 2}},
        "bought_product": {"bought": {"product_name": _a_product(con)}},
        "bought_at_store": {"bought": {"store": _a_store(con)}},
        "lapsed": {"not": {"bought": {"within_days": 60}}},
        "spent": {"spent": {"at_least": 300}},
        "spent_on_tmall": {"spent": {"at_least": 100, "within_days": 365, "source": "tmall"}},
        "event": {"event": {"within_days": 3650}},
        "in_group": {"customer_group": {}},
        "no_owner": {"owner": ""},
        "combined": {"all": [{"bought": {}}, {"any": [{"field": "gender", "op": "=", "value": "女"},
                                                      {"not": {"field": "r_score", "op": "<", "value": 3}}]}]},
    }  # fmt: skip
    brand.rules = {name: check_condition(rule, scope=SEGMENT_SCOPE) for name, rule in rules.items()}
    loyalty = {}
    members = con.table("loyalty_members")
    if int(members.count().execute()):
        m = members.aggregate(points=members.points_available.max(), rank=members.tier_rank.max(),
                              last=members.last_checkin_on.max()).to_pyarrow().to_pylist()[0]  # fmt: skip
        coupons = con.table("loyalty_coupons").order_by("coupon_id").limit(1).to_pyarrow().to_pylist()[0]
        answer = con.table("survey_answers").order_by(["survey_id", "question_id", "answer"]).limit(1)
        answer = answer.to_pyarrow().to_pylist()[0]
        days = (brand.now.date() - m["last"]).days + 2
        loyalty = {
            "points": {"points": {"at_least": max(1, m["points"] // 3)}},
            "tier": {"tier": {"rank_at_least": m["rank"]}},
            "coupon": {"coupon": {"template_id": coupons["template_id"], "status": "held"}},
            "coupon_used": {"coupon": {"status": "used"}},
            "checkin": {"checkin": {"within_days": days}},
            "survey_answer": {"survey_answer": {"survey_id": answer["survey_id"],
                                                "question_id": answer["question_id"],
                                                "answers": [answer["answer"]]}},
        }  # fmt: skip
    brand.loyalty_rules = {name: check_condition(rule, scope=SEGMENT_SCOPE) for name, rule in loyalty.items()}


def _ids(expr) -> list[int]:
    return expr.customer_id.to_pyarrow().to_pylist()


def _a_store(con) -> str:
    orders = con.table("orders")
    stored = orders.filter(orders.store.notnull(), orders.status_class == "purchase")
    top = stored.group_by("store").aggregate(n=stored.count())
    return top.order_by([top.n.desc(), top.store]).limit(1).store.to_pyarrow().to_pylist()[0]


def _a_product(con) -> str:
    items = con.table("order_items")
    named = items.filter(items.product.notnull())
    top = named.group_by("product").aggregate(n=named.count())
    return top.order_by([top.n.desc(), top.product]).limit(1).product.to_pyarrow().to_pylist()[0][:4]


def _copy_to_spark(duck, spark_ibis) -> list[str]:
    """Every table of the DuckDB warehouse into the Spark warehouse through the product's own writes (one
    transaction of siyu.warehouse.spark_store), each with its declared column types (siyu.warehouse.schema)."""
    from siyu.warehouse import connection
    from siyu.warehouse.schema import TABLES

    copied = []
    with connection.transaction():
        for name in sorted(set(duck.list_tables()) & set(TABLES)):
            schema = TABLES[name]
            data = duck.table(name).select(*schema.names).to_pyarrow().cast(schema.to_pyarrow())
            spark_ibis.create_table(name, data, overwrite=True)
            copied.append(name)
    return copied


_timings: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_line(
            "warehouse contract brand: " + ", ".join(f"{k} {v:.1f} s" for k, v in _timings.items())
        )


@pytest.fixture(scope="package")
def contract_brand(tmp_path_factory, django_db_setup, django_db_blocker, spark_session):
    from django.test import override_settings

    from siyu.warehouse import connection

    tmp = tmp_path_factory.mktemp("contract")
    brand = ContractBrand(tmp / "warehouse.duckdb", tmp / "warehouse-spark", [])
    with django_db_blocker.unblock():
        try:
            with override_settings(WAREHOUSE_ENGINE="duckdb", WAREHOUSE_PATH=brand.duckdb_path,
                                   UPLOADS_DIR=tmp / "uploads"):  # fmt: skip
                connection.close()
                t0 = time.perf_counter()
                _build_on_duckdb(tmp, brand.seconds)
                brand.seconds["duckdb brand"] = time.perf_counter() - t0
                _describe(brand)
                duck = connection.backend()
                with on(brand, "spark") as spark_ibis:
                    t0 = time.perf_counter()
                    brand.tables = _copy_to_spark(duck, spark_ibis)
                    brand.seconds["spark copy"] = time.perf_counter() - t0
                _timings.update(brand.seconds)
            yield brand
        finally:
            connection.close()
            from django.core.management import call_command

            call_command("flush", interactive=False, verbosity=0)
