"""Incremental resolution: after an import only the new records and the customers they touch are resolved,
every existing id is kept, and the result is what a full run on the same data gives."""

from __future__ import annotations

import pytest

from conftest import h
from siyu.benchmarks.resolve import pairwise_scores
from siyu.demo.generate import generate_brand
from siyu.identity.actions import decide_match, resolve_identities
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.actions import import_files
from siyu.staff.actions import create_user
from siyu.staff.models import Role

PEOPLE = 3000
LATER = "douyin"  # imported after the first resolve: masked orders that only matching can link


@pytest.fixture
def brand(tmp_path_factory):
    return generate_brand(tmp_path_factory.mktemp("brand"), people=PEOPLE, seed=5)


def _map(con) -> dict[str, int]:
    return dict(con.execute("SELECT record_key, customer_id FROM customer_map").fetchall())


def test_a_new_import_is_resolved_incrementally_like_a_full_run(warehouse, brand):
    con = warehouse.raw_connection()
    for f in brand.files:
        if f.source != LATER:
            import_files([f.path], source=f.source, format=f.format)
    first = resolve_identities()
    assert (first.mode, first.full_reason) == ("full", "no earlier run")
    before = _map(con)

    later = [f for f in brand.files if f.source == LATER]
    import_files([f.path for f in later], source=LATER, format=later[0].format)
    report = resolve_identities()
    assert report.mode == "incremental", report.full_reason
    new_records = report.records - first.records
    assert new_records > 0
    # only the new records and the customers they touch were compared
    assert new_records <= report.compared_records < report.records
    assert report.probabilistic["ran"] and report.probabilistic["clusters_joined"] > 0

    after = _map(con)
    assert set(after) == set(before) | set(after) and len(after) == report.records
    absorbed = dict(con.execute("SELECT absorbed_id, survivor_id FROM merge_log").fetchall())
    # every existing record keeps its customer, or follows its customer into a logged merge
    moved = {k for k, cid in before.items() if after[k] != cid}
    assert all(absorbed.get(before[k]) == after[k] for k in moved)
    # new customers get ids above every existing one
    fresh = set(after.values()) - set(before.values())
    assert min(fresh) > max(before.values())
    incremental = pairwise_scores(con, str(brand.ground_truth))
    customers_after = con.execute("SELECT count(*) FROM customer_summary").fetchone()[0]
    assert customers_after == report.customers == len(set(after.values()))

    # A full run on the same data (its model trained again, on all records) agrees.
    full = resolve_identities(full=True)
    assert full.mode == "full"
    rerun = pairwise_scores(con, str(brand.ground_truth))
    assert incremental["precision"] >= rerun["precision"] - 0.002
    assert abs(incremental["f1"] - rerun["f1"]) <= 0.01


def test_without_new_records_nothing_is_written(rows):
    rows.record("pos|m1", kind="member")
    rows.ident("pos|m1", "phone", "13800000001")
    resolve_identities(match=MatchSettings(enabled=False))
    before = rows.table("customer_map")
    report = resolve_identities(match=MatchSettings(enabled=False))
    assert (report.mode, report.compared_records, report.new_customers) == ("incremental", 0, 0)
    assert rows.table("customer_map") == before


def test_changed_settings_a_decision_or_removed_records_need_a_full_run(rows, warehouse, db):
    deterministic = MatchSettings(enabled=False)
    for i in range(3):
        rows.record(f"pos|m{i}", kind="member", seen=i)
        rows.ident(f"pos|m{i}", "phone", f"1380000000{i}")
    assert resolve_identities(match=deterministic).full_reason == "no earlier run"
    rows.record("pos|m9", kind="member", seen=9)
    report = resolve_identities()  # the probabilistic stage is switched on: another model
    assert (report.mode, report.full_reason) == ("full", "the matching or guard settings changed since the last full run")

    assert resolve_identities(match=deterministic).mode == "full"
    admin = create_user("boss", "pw-boss-1", Role.ADMIN)
    decide_match(admin, "pos|m0", "pos|m1", "same", reason="same person, two cards")
    report = resolve_identities(match=deterministic)
    assert (report.mode, report.full_reason) == ("full", "decisions were made since the last run")
    # decisions apply without the probabilistic stage too
    assert rows.customer_of("pos|m0") == rows.customer_of("pos|m1")
    assert [r["rule"] for r in rows.table("merge_log")] == ["manual:decision"]

    warehouse.raw_connection().execute("DELETE FROM records WHERE record_key = 'pos|m2'")
    rows.record("pos|m3", kind="member", seen=3)
    report = resolve_identities(match=deterministic)
    assert (report.mode, report.full_reason) == ("full", "records were removed since the last run")


def test_a_new_record_bridging_two_customers_merges_them_incrementally(rows):
    deterministic = MatchSettings(enabled=False)
    for i in range(8):
        rows.record(f"pos|m{i}", kind="member", seen=i)
        rows.ident(f"pos|m{i}", "phone", f"1380000000{i}")
    resolve_identities(match=deterministic)
    a, b = rows.customer_of("pos|m2"), rows.customer_of("pos|m5")
    untouched = {k: rows.customer_of(k) for k in ("pos|m0", "pos|m7")}
    rows.record("youzan|o1", seen=20)
    rows.ident("youzan|o1", "phone", "13800000002")
    rows.ident("youzan|o1", "phone", "13800000005")
    report = resolve_identities(match=deterministic)
    assert (report.mode, report.compared_records, report.merges) == ("incremental", 3, 1)
    assert rows.customer_of("youzan|o1") == rows.customer_of("pos|m5") == min(a, b)
    assert [(r["survivor_id"], r["absorbed_id"], r["rule"]) for r in rows.table("merge_log")] == [
        (min(a, b), max(a, b), "deterministic:phone")
    ]
    assert {k: rows.customer_of(k) for k in untouched} == untouched
    summary = {r["customer_id"]: r["record_count"] for r in rows.table("customer_summary")}
    assert summary[min(a, b)] == 3 and max(a, b) not in summary and len(summary) == 7


def test_the_guard_quarantining_a_value_of_new_records_forces_a_full_run(rows):
    deterministic = MatchSettings(enabled=False)
    for i in range(5):
        rows.record(f"pos|m{i}", kind="member", seen=i, name_hash=h(f"n{i}"))
        rows.ident(f"pos|m{i}", "phone", "057488880000")
    resolve_identities(match=deterministic)
    assert len({rows.customer_of(f"pos|m{i}") for i in range(5)}) == 1  # five cards, at the limit
    rows.record("pos|m5", kind="member", seen=5, name_hash=h("n5"))
    rows.ident("pos|m5", "phone", "057488880000")
    report = resolve_identities(match=deterministic)
    assert (report.mode, report.full_reason) == ("full", "the new records put an identifier value into quarantine")
    assert len({rows.customer_of(f"pos|m{i}") for i in range(6)}) == 6
