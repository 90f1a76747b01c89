"""Property: resolution is exactly the partition of records into components of the graph of strong,
non-quarantined identifiers; it is idempotent; ids stay stable as data arrives."""

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import T0, h
from siyu.identity import actions
from siyu.identity.actions import GuardRule, resolve_identities
from siyu.identity.graph import HashCollision, record_components
from siyu.identity.probabilistic import MatchSettings
from siyu.warehouse.schema import TABLES

GUARD = GuardRule(max_member_names=1, max_member_records=3, max_distinct_names=3, max_records=6)
DETERMINISTIC = MatchSettings(enabled=False)
KINDS = ["member", "contact", "order", "sale"]
TYPES = ["phone", "email", "member_no"]

record_st = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["pos", "tmall", "wecom"]),
        "kind": st.sampled_from(KINDS),
        "seen": st.integers(0, 4),  # ties on purpose: record_key breaks them
        "name": st.one_of(st.none(), st.integers(0, 3)),
    }
)
ident_st = st.tuples(st.integers(0, 11), st.sampled_from(TYPES), st.integers(0, 3), st.booleans())


def _reset(warehouse):
    con = warehouse.raw_connection()
    for table in TABLES:
        con.execute(f'DELETE FROM "{table}"')


def _load(rows, records, idents, offset=0):
    keys = []
    for i, rec in enumerate(records, start=offset):
        key = f"{rec['source']}|r{i}"
        keys.append(key)
        name = None if rec["name"] is None else h(f"name{rec['name']}")
        rows.record(key, kind=rec["kind"], seen=rec["seen"], name_hash=name)
    for index, id_type, value, strong in idents:
        if index < len(keys):
            rows.ident(keys[index], id_type, f"v{value}", strong=strong)
    return keys


def _expected(all_records, all_idents, keys):
    """Union-find over strong identifiers that the guard (re-implemented here) lets through."""
    by_value: dict[tuple, set[int]] = {}
    for index, id_type, value, strong in all_idents:
        if strong and index < len(keys):
            by_value.setdefault((id_type, value), set()).add(index)
    quarantined = set()
    for (id_type, value), members in by_value.items():
        member_like = {i for i in members if all_records[i]["kind"] in GUARD.member_kinds}
        member_names = {all_records[i]["name"] for i in member_like} - {None}
        names = {all_records[i]["name"] for i in members} - {None}
        if (
            len(member_names) > GUARD.max_member_names
            or len(member_like) > GUARD.max_member_records
            or len(names) > GUARD.max_distinct_names
            or len(members) > GUARD.max_records
        ):
            quarantined.add((id_type, value))
    parent = list(range(len(keys)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for value, members in by_value.items():
        if value in quarantined:
            continue
        first, *rest = sorted(members)
        for other in rest:
            parent[find(other)] = find(first)
    return [find(i) for i in range(len(keys))], quarantined


def _customer_ids(rows, keys):
    mapping = {r["record_key"]: r["customer_id"] for r in rows.table("customer_map")}
    return [mapping[k] for k in keys]


def _same_partition(a, b):
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(record_st, min_size=1, max_size=12),
    idents=st.lists(ident_st, max_size=24),
    cut=st.integers(0, 12),
)
def test_resolution_is_the_partition_of_strong_links_and_is_stable(rows, warehouse, records, idents, cut):
    _reset(warehouse)
    cut = min(cut, len(records))
    first_idents = [x for x in idents if x[0] < cut]
    later_idents = [x for x in idents if cut <= x[0] < len(records)]

    # First batch.
    keys = _load(rows, records[:cut], first_idents)
    resolve_identities(guard=GUARD, match=DETERMINISTIC)
    old = dict(zip(keys, _customer_ids(rows, keys), strict=True))
    if keys:
        expected, _ = _expected(records[:cut], first_idents, keys)
        assert _same_partition(list(old.values()), expected)
        # fresh ids: 1..k in order of each customer's earliest record (seen, then record_key)
        order = sorted(range(len(keys)), key=lambda i: (records[i]["seen"], keys[i]))
        firsts = []
        for i in order:
            if old[keys[i]] not in firsts:
                firsts.append(old[keys[i]])
        assert firsts == list(range(1, len(firsts) + 1))

    # Second batch: more records and identifiers.
    for i, rec in enumerate(records[cut:], start=cut):
        key = f"{rec['source']}|r{i}"
        keys.append(key)
        name = None if rec["name"] is None else h(f"name{rec['name']}")
        rows.record(key, kind=rec["kind"], seen=rec["seen"], name_hash=name)
    for index, id_type, value, strong in later_idents:
        rows.ident(keys[index], id_type, f"v{value}", strong=strong)
    # the second run is incremental unless the guard quarantines a value of the new records
    report = resolve_identities(guard=GUARD, match=DETERMINISTIC)
    assert report.mode == "incremental" or report.full_reason
    ids = _customer_ids(rows, keys)
    expected, quarantined = _expected(records, idents, keys)
    assert _same_partition(ids, expected)
    assert report.customers == len(set(ids))
    assert {(r["id_type"], r["value_hash"]) for r in rows.table("quarantined_identifiers")} == {
        (t, h(f"v{v}")) for t, v in quarantined
    }
    # Every old id is still in use or was recorded as absorbed; new ids are above all old ones.
    log = rows.table("merge_log")
    assert all(r["rule"].startswith("deterministic:") for r in log)
    absorbed = {r["absorbed_id"] for r in log}
    assert set(old.values()) <= set(ids) | absorbed
    assert all(i in old.values() or i > max(old.values(), default=0) for i in ids)

    # Idempotent, and a full run agrees with the incremental one.
    before = rows.table("customer_map")
    for full in (False, True):
        again = resolve_identities(guard=GUARD, match=DETERMINISTIC, full=full)
        assert (again.new_customers, again.merges, again.splits) == (0, 0, 0)
        assert sorted(rows.table("customer_map"), key=lambda r: r["record_key"]) == sorted(
            before, key=lambda r: r["record_key"]
        )


def test_record_components_detects_hash_collisions():
    rid = np.array([0, 1, 2])
    value = np.array([7, 7, 9], dtype=np.uint64)
    labels = record_components(3, rid, value, check=np.array([1, 1, 5], dtype=np.uint64))
    assert labels[0] == labels[1] != labels[2]
    with pytest.raises(HashCollision):
        record_components(3, rid, value, check=np.array([1, 2, 5], dtype=np.uint64))


def test_a_hash_collision_falls_back_to_exact_codes(rows, monkeypatch):
    rows.record("s|A", seen=0)
    rows.ident("s|A", "phone", "p1")
    rows.record("s|B", seen=1)
    rows.ident("s|B", "phone", "p1")
    rows.record("s|C", seen=2)
    rows.ident("s|C", "phone", "p2")
    real = actions.record_components
    calls = []

    def colliding(n, rid, value, check=None):
        calls.append(check is not None)
        if check is not None:
            raise HashCollision
        return real(n, rid, value)

    monkeypatch.setattr(actions, "record_components", colliding)
    assert resolve_identities().customers == 2
    assert calls == [True, False]


def test_duplicate_record_rows_are_resolved_once(rows):
    rows.record("s|A", seen=3)
    rows.record("s|A", seen=1)  # the same record written twice
    rows.ident("s|A", "phone", "p")
    rows.record("s|B", seen=2)
    rows.ident("s|B", "phone", "p")
    report = resolve_identities()
    assert (report.records, report.customers) == (2, 1)
    assert sorted(r["record_key"] for r in rows.table("customer_map")) == ["s|A", "s|B"]


def test_seen_at_ties_and_missing_times_order_new_ids_deterministically(rows):
    rows.record("b|1", seen=0)
    rows.record("a|1", seen=0)
    rows.insert("records", [{"record_key": "0|none", "source": "0", "record_id": "none", "seen_at": None}])
    rows.record("c|1", seen=-1)
    resolve_identities()
    assert [rows.customer_of(k) for k in ("c|1", "a|1", "b|1", "0|none")] == [1, 2, 3, 4]
    assert T0 - timedelta(days=1) == min(r["seen_at"] for r in rows.table("records") if r["seen_at"])


def test_the_engines_components_are_the_drivers_labels(rows):
    """What resolution on Spark collects from the engine (actions._components_in_engine, here on DuckDB):
    the same label per record as the driver's graph, numbered alike, and the same components with too many
    distinct values to rule out of the giant split."""
    from siyu.identity.guard import crowded_components
    from siyu.identity.guard import quarantine as find_quarantine
    from siyu.warehouse import backend

    rng = np.random.default_rng(3)
    for n in range(80):
        rows.record(f"s|{n}", seen=int(rng.integers(0, 5)), name_hash=h(f"name{n % 7}"))
        for _ in range(int(rng.integers(0, 3))):
            rows.ident(f"s|{n}", str(rng.choice(TYPES)), f"v{int(rng.integers(0, 60))}")
    for n in range(12):  # one component of many values
        rows.ident("s|0", "email", f"e{n}")
    con = backend()
    staged, n_records, hk_unique = actions._stage_records(con)
    strong = actions._linking(con, find_quarantine(con, GuardRule(), "test"), DETERMINISTIC)
    labels, links = actions._components(con, staged, n_records, hk_unique, strong)

    in_engine, crowded = actions._components_in_engine(con, staged, n_records, strong, limit=8)

    assert 1 < len(np.unique(labels)) < n_records  # some records linked, not all
    assert np.array_equal(in_engine, labels)
    assert np.array_equal(crowded, crowded_components(labels, links, 8)) and len(crowded) >= 1
