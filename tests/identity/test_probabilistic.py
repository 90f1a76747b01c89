"""The probabilistic stage: features, the household guard, decisions (review, manual merge/split, undo),
and its quality on a generated brand against the ground truth."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core import pii
from siyu.core.errors import PermissionDenied
from siyu.identity.actions import (
    decide_match,
    merge_customers,
    resolve_identities,
    split_customers,
    undo_merge,
)
from siyu.identity.errors import IdentityError
from siyu.identity.evidence import SHARED_ONLY, evidence_pattern
from siyu.identity.features import record_features
from siyu.identity.probabilistic import MatchSettings, join_clusters
from siyu.identity.queries import customer_id_for
from siyu.staff.actions import create_user
from siyu.staff.models import Role


def _records(rows: list[dict]) -> pa.Table:
    columns = ("source", "phone_kind", "phone_masked", "phone_tail", "gender", "province", "city", "district")
    out = {"rid": pa.array(range(len(rows)), pa.int64())}
    for c in columns:
        out[c] = pa.array([r.get(c) for r in rows], pa.string())
    out["birthday"] = pa.array([r.get("birthday") for r in rows], pa.date32())
    out["pii"] = pa.array(
        [
            pii.encrypt_json({k: r.get(k) for k in ("name", "phone", "email", "address", "nickname")})
            for r in rows
        ],
        pa.binary(),
    )
    return pa.table(out)


def test_features_read_masks_remark_tails_and_the_street(settings):
    recs = _records(
        [
            {"source": "wecom", "name": "张伟 5678"},
            {"source": "tmall", "name": "李**", "phone_kind": "masked", "phone_masked": "138****5678",
             "phone_tail": "5678", "district": "海曙区", "city": "宁波市",
             "address": "浙江省 宁波市 海曙区 滨江街道 青年路63号景苑名苑26栋1101室(315000)"},
            {"source": "douyin", "name": "王*", "district": "美兰区", "city": "海口市", "address": "望海街道复兴中****"},
            {"source": "douyin", "name": "王*", "district": "美兰区", "city": "海口市", "address": "望海街道复兴中****"},
        ]
    )  # fmt: skip
    f = record_features(recs, np.array([0, 1, 2, 2])).sort("unique_id").to_dicts()
    assert len(f) == 3  # the two identical Douyin rows of one cluster are compared once
    assert (f[0]["surname"], f[0]["name_full"], f[0]["given"], f[0]["phone_tail"]) == (
        "张",
        "张伟",
        "伟",
        "5678",
    )
    assert (f[1]["surname"], f[1]["name_len"], f[1]["name_full"], f[1]["phone_key"]) == (
        "李",
        "3",
        None,
        "138****5678",
    )
    assert (f[1]["street_key"], f[1]["street_full"]) == ("青年路", "青年路63号景苑名苑26栋1101室")
    assert (f[2]["street_key"], f[2]["street_full"], f[2]["records"]) == ("复兴中", None, 2)


def test_a_homophone_typo_keeps_the_name_in_pinyin():
    recs = _records(
        [{"source": "pos", "name": "张伟"}, {"source": "tmall", "name": "章伟"}, {"source": "jd", "name": "张*"},
         {"source": "wecom", "name": "John Smith"}]
    )  # fmt: skip
    f = record_features(recs, np.array([0, 1, 2, 3])).sort("unique_id")
    assert f.get_column("name_pinyin").to_list() == ["zhangwei", "zhangwei", None, None]


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet="张章王汪李理伟玮芳方曾单", min_size=2, max_size=4))
def test_name_pinyin_spells_each_character_as_pypinyin_does(name):
    from pypinyin import Style, pinyin

    [row] = record_features(_records([{"source": "x", "name": name}]), np.array([0])).to_dicts()
    assert row["name_pinyin"] == "".join(pinyin(c, style=Style.NORMAL)[0][0] for c in name)


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet="张王李伟芳* 0123456789abc", max_size=8))
def test_features_of_any_name_keep_a_han_surname_or_none(name):
    f = record_features(_records([{"source": "x", "name": name, "city": "北京市"}]), np.array([0]))
    for row in f.to_dicts():
        assert row["surname"] is None or (len(row["surname"]) == 1 and row["surname"] in "张王李伟芳")
        assert row["name_full"] is None or "*" not in row["name_full"]


def _features(clusters: dict[int, dict]) -> pl.DataFrame:
    rows = [{"unique_id": c, "cluster": c, **values} for c, values in clusters.items()]
    return pl.DataFrame(
        rows, schema_overrides={"given": pl.String, "birthday": pl.String, "phone_full": pl.String}
    )


def _pairs(*pairs: tuple[int, int, float], phone: str = "same phone (visible prefix and tail)") -> pa.Table:
    return pa.table(
        {
            "unique_id_l": [a for a, _, _ in pairs],
            "unique_id_r": [b for _, b, _ in pairs],
            "cluster_l": [a for a, _, _ in pairs],
            "cluster_r": [b for _, b, _ in pairs],
            "match_probability": [p for _, _, p in pairs],
            "field_name": ["same surname and length" for _ in pairs],
            "field_phone": [phone for _ in pairs],
            "field_address": ["same street (visible part)" for _ in pairs],
        }
    )


def _place(cluster: int, **values) -> dict:
    return {"district": "海曙区", "street_key": "青年路", "surname": "王", "given": None, "name_len": "2",
            "phone_key": None, "phone_full": None, "birthday": None, **values}  # fmt: skip


def test_only_shared_evidence_links_from_its_own_threshold_where_one_person_lives():
    # 1 is 王伟, named, at Qingnian Road; 2 is a masked order 王* there with a virtual number (no phone):
    # only what a household shares agrees
    one_person = _features({1: _place(1, given="伟"), 2: _place(2)})
    masked = _pairs((1, 2, 0.97), phone="no phone")
    assert join_clusters(np.array([1, 2]), one_person, masked, MatchSettings()).labels.tolist() == [1, 2]
    linking = MatchSettings(shared_evidence_threshold=0.5)
    assert join_clusters(np.array([1, 2]), one_person, masked, linking).labels.tolist() == [1, 1]
    below = _pairs((1, 2, 0.4), phone="no phone")
    assert join_clusters(np.array([1, 2]), one_person, below, linking).labels.tolist() == [1, 2]

    # the place's records show a second 王 of the same name length (another masked phone): the masked order
    # may be either of them, so it joins neither and is not queued (nobody could decide it)
    for second in ({"phone_key": "138****5678"}, {"given": "芳"}, {"name_len": "3"}):
        two_people = _features({1: _place(1, given="伟", phone_key="139****1111"), 2: _place(2), 3: _place(3, **second)})
        result = join_clusters(np.array([1, 2, 3]), two_people, masked, linking)
        assert result.labels.tolist() == [1, 2, 3], second
        assert result.household_places == 1
        assert [evidence_pattern(r["fields"], r["reason"]).split("|")[0] for r in result.review] == [SHARED_ONLY]
    # evidence one person alone has (the same masked phone) is not held back there
    with_phone = _pairs((1, 2, 0.97))
    result = join_clusters(np.array([1, 2, 3]), two_people, with_phone, MatchSettings(match_threshold=0.95))
    assert result.labels.tolist() == [1, 1, 3]


def test_household_guard_keeps_same_address_different_given_names_apart():
    # 1 and 2 live at one address with one surname but different given names; 3 is a masked order.
    features = _features(
        {
            1: {"given": "伟", "birthday": None, "phone_full": None},
            2: {"given": "芳", "birthday": None, "phone_full": None},
            3: {"given": None, "birthday": None, "phone_full": None},
        }
    )
    labels = np.array([1, 2, 3])
    result = join_clusters(labels, features, _pairs((1, 2, 0.9999), (1, 3, 0.999)), MatchSettings())
    assert result.labels.tolist() == [1, 2, 1]
    assert result.blocked_by_guard == 1
    assert [(r["cluster_l"], r["cluster_r"], r["reason"]) for r in result.review] == [
        (1, 2, "conflict: given")
    ]

    # a masked order matching both members of the household joins neither: it goes to review
    result = join_clusters(labels, features, _pairs((1, 3, 0.9999), (2, 3, 0.999)), MatchSettings())
    assert result.labels.tolist() == [1, 2, 3]
    assert result.ambiguous == 2 and {r["reason"] for r in result.review} == {"ambiguous: matches people who differ"}
    # without the ambiguity guard it joins the likelier one, and the other link is blocked by the guard
    greedy = MatchSettings(ambiguity_guard=False)
    result = join_clusters(labels, features, _pairs((1, 3, 0.9999), (2, 3, 0.999)), greedy)
    assert result.labels.tolist() == [1, 2, 1] and result.blocked_by_guard == 1


def test_decisions_win_over_scores_and_the_guard():
    features = _features(
        {1: {"given": "伟", "birthday": "1990-01-01", "phone_full": None},
         2: {"given": "芳", "birthday": None, "phone_full": None},
         3: {"given": None, "birthday": None, "phone_full": None}}
    )  # fmt: skip
    labels = np.array([1, 2, 3])
    pairs = _pairs((1, 3, 0.9999))
    result = join_clusters(labels, features, pairs, MatchSettings(), forced=[(1, 2)], forbidden={(1, 3)})
    assert result.labels.tolist() == [1, 1, 3]
    below = join_clusters(labels, features, _pairs((1, 3, 0.9)), MatchSettings(match_threshold=0.99))
    assert below.labels.tolist() == [1, 2, 3] and below.review[0]["reason"] == "below the match threshold"


@pytest.fixture
def people(db):
    return {
        "admin": create_user("admin", "pw-admin-1", Role.ADMIN),
        "guide": create_user("g1", "pw-guide-1", Role.GUIDE),
    }


def test_manual_merge_then_undo_restores_the_absorbed_customer(rows, people):
    rows.record("wecom|W1", kind="contact", seen=0)
    rows.ident("wecom|W1", "unionid", "u1")
    rows.record("store-pos|M1", kind="member", seen=1)
    rows.ident("store-pos|M1", "member_no", "m1")
    rows.record("store-pos|S1", kind="sale", seen=2)
    rows.ident("store-pos|S1", "member_no", "m1")
    resolve_identities()
    assert [customer_id_for(k) for k in ("wecom|W1", "store-pos|M1", "store-pos|S1")] == [1, 2, 2]

    with pytest.raises(IdentityError, match="reason"):
        merge_customers(people["admin"], 1, 2, " ")
    with pytest.raises(PermissionDenied):
        merge_customers(people["guide"], 1, 2, "same person")
    merge_customers(people["admin"], 1, 2, "same person: confirmed on the phone")
    report = resolve_identities()
    assert report.merges == 1
    assert {customer_id_for(k) for k in ("wecom|W1", "store-pos|M1", "store-pos|S1")} == {1}
    merge = [r for r in rows.table("merge_log") if r["rule"] != "split"][-1]
    assert (merge["survivor_id"], merge["absorbed_id"], merge["rule"]) == (1, 2, "manual:decision")

    undo_merge(people["admin"], 2, "two people after all")
    report = resolve_identities()
    assert report.splits == 1 and report.new_customers == 0
    assert [customer_id_for(k) for k in ("wecom|W1", "store-pos|M1", "store-pos|S1")] == [1, 2, 2]
    split = rows.table("merge_log")[-1]
    assert (split["survivor_id"], split["absorbed_id"], split["rule"]) == (1, 2, "split")
    assert json.loads(split["evidence"]) == {"records_moved": 2}
    # decisions are history: the latest one on a pair is in force
    assert [d["verdict"] for d in rows.table("match_decisions")] == ["same", "different"]


def test_split_and_bad_decisions_are_refused_with_a_reason(rows, people):
    rows.record("wecom|W1", kind="contact", seen=0)
    rows.record("wecom|W2", kind="contact", seen=1)
    resolve_identities()
    with pytest.raises(IdentityError, match="no such record"):
        decide_match(people["admin"], "wecom|W1", "wecom|nope", "same")
    with pytest.raises(IdentityError, match="verdict"):
        decide_match(people["admin"], "wecom|W1", "wecom|W2", "maybe")
    with pytest.raises(IdentityError, match="does not belong"):
        split_customers(people["admin"], 1, "wecom|W2", "not her")
    with pytest.raises(IdentityError, match="never merged"):
        undo_merge(people["admin"], 1, "why")


def test_control_plane_state_follows_a_merge_and_its_undo(rows, people):
    from siyu.customers import actions as customers
    from siyu.customers.models import Consent, CustomerState, CustomerTag, Note
    from siyu.customers.queries import corrections_of

    rows.record("wecom|W1", kind="contact", seen=0)
    rows.record("store-pos|M1", kind="member", seen=1)
    resolve_identities()
    admin, guide = people["admin"], people["guide"]
    customers.add_tag(admin, [1], "VIP")
    customers.add_tag(admin, [2], "会员")
    customers.add_note(admin, 2, "prefers SMS")
    customers.record_consent(admin, 1, "sms", "opt_in", "store form")
    customers.record_consent(admin, 2, "sms", "opt_out", "replied TD")
    customers.assign_owner(admin, [2], guide)
    customers.correct_profile(admin, 1, {"name": "张伟"})
    customers.correct_profile(admin, 2, {"name": "张薇", "birthday": "1990-05-06"}, reason="privacy request 1")

    def state(cid):
        tags = sorted(CustomerTag.objects.filter(customer_id=cid).values_list("tag__name", flat=True))
        notes = list(Note.objects.filter(customer_id=cid).values_list("text", flat=True))
        consent = customers._consent_in_force(cid)
        owner = CustomerState.objects.filter(customer_id=cid).values_list("owner_id", flat=True).first()
        return tags, notes, consent, owner, corrections_of(cid)

    before = {1: state(1), 2: state(2)}
    merge_customers(admin, 1, 2, "same person")
    report = resolve_identities()
    assert customers.follow_merges(report.run_id) == {"merges_followed": 1, "merges_undone": 0}
    # tags united, notes kept, the strictest consent, the absorbed owner where the survivor had none
    # and the corrections (PIPL art. 46) kept: the latest of each field, made on either customer, in force
    assert state(1) == (["VIP", "会员"], ["prefers SMS"], {"sms": Consent.Status.OPT_OUT}, guide.pk,
                        {"name": "张薇", "birthday": "1990-05-06"})  # fmt: skip
    assert state(2) == before[2]

    undo_merge(admin, 2, "two people")
    report = resolve_identities()
    assert customers.follow_merges(report.run_id) == {"merges_followed": 0, "merges_undone": 1}
    assert {1: state(1), 2: state(2)} == before


def test_after_a_merge_the_owner_is_the_guide_of_the_most_recent_record_unless_locked(rows, people):
    """The resolve job (resolve, follow the merges, sync owners from the files): the merged customer's
    owner is the guide the most recent record names (a sale's 销售导购), unless an owner was locked."""
    from types import SimpleNamespace

    from siyu.customers import actions as customers
    from siyu.customers.models import CustomerState
    from siyu.pipeline.after_records import run_resolve_job

    li = create_user("li", "pw-guide-2", Role.GUIDE, display_name="李导购")
    wang = create_user("wang", "pw-guide-3", Role.GUIDE, display_name="王导购")

    def job():
        return run_resolve_job(SimpleNamespace(params={"match": {"enabled": False}}), lambda *a: None)

    def owner(key):
        return CustomerState.objects.get(customer_id=rows.customer_of(key)).owner_id

    rows.record("pos|M1", kind="member", seen=1, owner_staff="李导购")
    rows.ident("pos|M1", "phone", "13800000001")
    rows.record("pos|S1", kind="sale", seen=5, owner_staff="王导购")
    rows.ident("pos|S1", "member_no", "A1")
    job()
    assert (owner("pos|M1"), owner("pos|S1")) == (li.pk, wang.pk)

    rows.record("youzan|O1", seen=3)  # a bridging order, older than the sale
    rows.ident("youzan|O1", "phone", "13800000001")
    rows.ident("youzan|O1", "member_no", "A1")
    report = job()
    assert report["merges"] == 1 and rows.customer_of("pos|M1") == rows.customer_of("pos|S1")
    assert owner("pos|M1") == wang.pk  # the sale is the most recent record naming a guide

    customers.assign_owner(people["admin"], [rows.customer_of("pos|M1")], li, lock=True)
    rows.record("pos|S2", kind="sale", seen=9, owner_staff="王导购")
    rows.ident("pos|S2", "member_no", "A1")
    job()
    assert owner("pos|S2") == li.pk  # locked
