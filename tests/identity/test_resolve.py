import json

from conftest import h
from siyu.identity.actions import GuardRule, resolve_identities
from siyu.identity.queries import customer_id_for, merge_history, quarantined, records_of


def test_a_phone_links_a_youzan_order_and_a_pos_member(rows):
    rows.record("youzan|Y1", kind="order", seen=3)
    rows.ident("youzan|Y1", "phone", "+8613800000001")
    rows.record("store-pos|M1", kind="member", seen=1)
    rows.ident("store-pos|M1", "phone", "+8613800000001")
    rows.ident("store-pos|M1", "member_no", "M1")
    rows.record("store-pos|S9", kind="sale", seen=4)  # a sale carries the member card only
    rows.ident("store-pos|S9", "member_no", "M1")
    rows.record("youzan|Y2", kind="order", seen=2)
    rows.ident("youzan|Y2", "phone", "+8613900000002")

    report = resolve_identities()

    assert (report.records, report.customers, report.new_customers, report.merges) == (4, 2, 2, 0)
    member = customer_id_for("store-pos|M1")
    assert customer_id_for("youzan|Y1") == member == customer_id_for("store-pos|S9")
    assert customer_id_for("youzan|Y2") != member
    # ids are minted in order of each customer's earliest record
    assert member == 1 and customer_id_for("youzan|Y2") == 2
    assert [r["record_key"] for r in records_of(member)] == ["store-pos|M1", "youzan|Y1", "store-pos|S9"]


def test_a_buyer_id_links_repeat_taobao_orders(rows):
    for n, buyer in enumerate(["tb_alice", "tb_alice", "tb_bob", "tb_alice"]):
        rows.record(f"tmall|T{n}", seen=n)
        rows.ident(f"tmall|T{n}", "taobao_buyer", buyer)
    resolve_identities()
    alice = {customer_id_for(f"tmall|T{n}") for n in (0, 1, 3)}
    assert len(alice) == 1
    assert customer_id_for("tmall|T2") not in alice


def test_masked_phones_never_link(rows):
    # Two Taobao orders of different people whose masked phones look the same; the importer either
    # leaves masked phones out of identifiers or writes them with strong = false.
    rows.record("tmall|A", seen=0, phone_masked="138****5678", phone_tail="5678", phone_kind="masked")
    rows.record("tmall|B", seen=1, phone_masked="138****5678", phone_tail="5678", phone_kind="masked")
    rows.ident("tmall|A", "phone", "138****5678", strong=False)
    rows.ident("tmall|B", "phone", "138****5678", strong=False)
    rows.record("douyin|C", seen=2, phone_masked="170****1234-5678", phone_kind="virtual")
    rows.ident("douyin|C", "phone", "17012341234-5678", strong=False)
    report = resolve_identities()
    assert report.customers == 3
    assert len({customer_id_for(k) for k in ("tmall|A", "tmall|B", "douyin|C")}) == 3


def test_a_store_landline_on_ten_pos_members_is_quarantined(rows):
    for n in range(10):
        rows.record(f"store-pos|M{n}", kind="member", seen=n, name_hash=h(f"name{n}"))
        rows.ident(f"store-pos|M{n}", "phone", "+862188880000")
        rows.ident(f"store-pos|M{n}", "member_no", f"M{n}")
    # One real person with the landline on a web order too: still not merged with anyone.
    rows.record("youzan|Y", kind="order", seen=20, name_hash=h("name0"))
    rows.ident("youzan|Y", "phone", "+862188880000")

    report = resolve_identities()

    assert report.customers == 11
    assert report.quarantined == 1
    assert len({customer_id_for(f"store-pos|M{n}") for n in range(10)}) == 10
    [row] = quarantined()
    assert (row["id_type"], row["value_hash"], row["records"]) == ("phone", h("+862188880000"), 11)
    assert row["sources"] == "store-pos,youzan"
    assert "10 member/contact records with 10 different names (limit 5)" in row["reason"]
    assert (row["rule"], row["names"], row["rule_limit"]) == ("member_names", 10, 5)
    assert row["run_id"] == report.run_id


def test_one_person_with_many_member_cards_is_not_quarantined(rows):
    # Six cards of one member (same name) are the same person, not a shared phone.
    for n in range(6):
        rows.record(f"store-pos|M{n}", kind="member", seen=n, name_hash=h("same person"))
        rows.ident(f"store-pos|M{n}", "phone", "+8613800000001")
    report = resolve_identities()
    assert (report.customers, report.quarantined) == (1, 0)


def test_a_phone_on_orders_with_too_many_names_is_quarantined(rows):
    # A shop phone typed as the buyer phone on walk-in orders: eleven different names.
    for n in range(11):
        rows.record(f"youzan|Y{n}", kind="order", seen=n, name_hash=h(f"buyer{n}"))
        rows.ident(f"youzan|Y{n}", "phone", "+8657188886666")
    report = resolve_identities()
    assert (report.customers, report.quarantined) == (11, 1)
    assert "11 different names (limit 10)" in quarantined()[0]["reason"]


def test_the_guard_is_configurable(rows, settings):
    settings.IDENTITY_GUARD = {"max_member_records": 2}
    for n in range(3):
        rows.record(f"store-pos|M{n}", kind="member", seen=n, name_hash=h(f"name{n}"))
        rows.ident(f"store-pos|M{n}", "email", "shop@example.com")
    assert resolve_identities().customers == 3


def _state(rows):
    return {
        name: sorted(rows.table(name), key=lambda r: json.dumps(r, default=str, sort_keys=True))
        for name in ("customer_map", "merge_log", "quarantined_identifiers")
    }


def test_re_running_on_unchanged_data_changes_nothing(rows):
    for n in range(6):
        rows.record(f"src|R{n}", kind="member", seen=n, name_hash=h(f"n{n}"))
        rows.ident(f"src|R{n}", "email", f"e{n // 2}")
        rows.ident(f"src|R{n}", "phone", "+8621000")  # quarantined landline
    first = resolve_identities()
    before = _state(rows)
    second = resolve_identities()
    assert (second.new_customers, second.merges, second.splits) == (0, 0, 0)
    assert (second.customers, second.quarantined) == (first.customers, first.quarantined) == (3, 1)
    assert _state(rows) == before  # resolved_at and the quarantine's run_id included
    assert len(rows.table("identity_runs")) == 2


def test_a_bridging_record_merges_into_the_smaller_id_with_a_merge_log_row(rows):
    rows.record("wecom|W1", kind="contact", seen=0)
    rows.ident("wecom|W1", "unionid", "u1")
    rows.record("store-pos|M1", kind="member", seen=1)
    rows.ident("store-pos|M1", "email", "a@example.com")
    resolve_identities()
    assert (customer_id_for("wecom|W1"), customer_id_for("store-pos|M1")) == (1, 2)

    rows.record("generic|G1", seen=5)
    rows.ident("generic|G1", "unionid", "u1")
    rows.ident("generic|G1", "email", "a@example.com")
    report = resolve_identities()

    assert (report.customers, report.merges, report.new_customers) == (1, 1, 0)
    assert {customer_id_for(k) for k in ("wecom|W1", "store-pos|M1", "generic|G1")} == {1}
    [log] = rows.table("merge_log")
    assert (log["survivor_id"], log["absorbed_id"], log["run_id"]) == (1, 2, report.run_id)
    assert log["rule"] == "deterministic:email"
    assert json.loads(log["evidence"]) == {
        "shared_id_types": ["email"],
        "absorbed_records": 1,
        "customer_records": 3,
        "survivor_record": "wecom|W1",
        "absorbed_record": "store-pos|M1",
    }
    assert [r["absorbed_id"] for r in merge_history(1)] == [2]
    assert [r["survivor_id"] for r in merge_history(2)] == [1]
    # the summary follows the map
    summary = rows.table("customer_summary")
    assert [(s["customer_id"], s["record_count"]) for s in summary] == [(1, 3)]


def test_the_oldest_id_survives_even_when_it_is_not_the_smallest_record(rows):
    # Ids are minted by age, so the smallest id is the oldest cluster; a later merge keeps it.
    rows.record("a|1", seen=10)
    rows.ident("a|1", "phone", "p1")
    rows.record("b|1", seen=0)
    rows.ident("b|1", "phone", "p2")
    resolve_identities()
    assert (customer_id_for("b|1"), customer_id_for("a|1")) == (1, 2)
    rows.record("c|1", seen=20)
    rows.ident("c|1", "phone", "p1")
    rows.ident("c|1", "phone", "p2")
    resolve_identities()
    assert {customer_id_for(k) for k in ("a|1", "b|1", "c|1")} == {1}


def test_new_customers_never_renumber_old_ones_and_absorbed_ids_are_not_reused(rows):
    rows.record("s|A", seen=5)
    rows.ident("s|A", "phone", "pa")
    rows.record("s|B", seen=6)
    rows.ident("s|B", "phone", "pb")
    resolve_identities()
    old = {k: customer_id_for(k) for k in ("s|A", "s|B")}
    assert old == {"s|A": 1, "s|B": 2}

    rows.record("s|bridge", seen=7)  # merges 2 into 1
    rows.ident("s|bridge", "phone", "pa")
    rows.ident("s|bridge", "phone", "pb")
    rows.record("s|early", seen=0)  # older than everything, but new: gets a new id, not 1
    rows.ident("s|early", "email", "x")
    rows.record("s|late", seen=9)
    report = resolve_identities()

    assert report.new_customers == 2
    assert customer_id_for("s|A") == customer_id_for("s|B") == customer_id_for("s|bridge") == 1
    # id 2 was absorbed: new customers start above it, in age order
    assert (customer_id_for("s|early"), customer_id_for("s|late")) == (3, 4)


def test_a_split_keeps_the_id_on_the_part_with_the_oldest_record(rows):
    for n in range(6):
        rows.record(f"store-pos|M{n}", kind="member", seen=n, name_hash=h(f"name{n}"))
        rows.ident(f"store-pos|M{n}", "phone", "+862188880000")
    rows.ident("store-pos|M4", "member_no", "C45")
    rows.ident("store-pos|M5", "member_no", "C45")
    lenient = GuardRule(max_member_names=100)
    assert resolve_identities(guard=lenient).customers == 1

    report = resolve_identities()  # default guard: 6 names on member records > 5 -> quarantined, the cluster splits

    assert (report.customers, report.quarantined, report.splits, report.new_customers) == (5, 1, 4, 4)
    assert customer_id_for("store-pos|M0") == 1
    assert [customer_id_for(f"store-pos|M{n}") for n in range(1, 6)] == [2, 3, 4, 5, 5]
    # each split is logged with rule "split" (customer 1 kept its id, records moved to 2..5)
    splits = sorted((r["survivor_id"], r["absorbed_id"], r["rule"]) for r in rows.table("merge_log"))
    assert splits == [(1, 2, "split"), (1, 3, "split"), (1, 4, "split"), (1, 5, "split")]


def test_records_dropped_from_the_warehouse_leave_the_map(rows, warehouse):
    rows.record("s|A", seen=0)
    rows.record("s|B", seen=1)
    resolve_identities()
    warehouse.raw_connection().execute("DELETE FROM records WHERE record_key = 's|B'")
    report = resolve_identities()
    assert report.customers == 1
    assert [r["record_key"] for r in rows.table("customer_map")] == ["s|A"]


def test_an_empty_warehouse_resolves_to_nothing(rows):
    report = resolve_identities()
    assert (report.records, report.customers, report.new_customers) == (0, 0, 0)
    assert rows.table("customer_summary") == []


def test_a_failed_run_leaves_no_partial_writes(rows, monkeypatch):
    rows.record("s|A", seen=0)
    import siyu.identity.actions as actions

    def broken(**kwargs):
        raise RuntimeError("killed while rebuilding the summary")

    monkeypatch.setattr(actions, "rebuild_customer_summary", broken)
    try:
        resolve_identities()
    except RuntimeError:
        pass
    assert rows.table("customer_map") == [] and rows.table("identity_runs") == []
    monkeypatch.undo()
    assert resolve_identities().new_customers == 1


def test_merge_history_follows_chains(rows):
    rows.record("s|A", seen=0)
    rows.ident("s|A", "phone", "a")
    rows.record("s|B", seen=1)
    rows.ident("s|B", "phone", "b")
    rows.record("s|C", seen=2)
    rows.ident("s|C", "phone", "c")
    resolve_identities()  # 1, 2, 3
    rows.record("s|BC", seen=3)
    rows.ident("s|BC", "phone", "b")
    rows.ident("s|BC", "phone", "c")
    resolve_identities()  # 3 -> 2
    rows.record("s|AB", seen=4)
    rows.ident("s|AB", "phone", "a")
    rows.ident("s|AB", "phone", "b")
    resolve_identities()  # 2 -> 1
    assert [(r["survivor_id"], r["absorbed_id"]) for r in merge_history(1)] == [(2, 3), (1, 2)]
    assert [(r["survivor_id"], r["absorbed_id"]) for r in merge_history(3)] == [(2, 3)]
    assert {customer_id_for(k) for k in ("s|A", "s|B", "s|C", "s|BC", "s|AB")} == {1}
