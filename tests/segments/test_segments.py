"""Segments on the hand-computed brand of traits_data.py (as of 2026-01-01 00:00 Asia/Shanghai): exact
members for AND/OR/NOT, each behaviour and control-plane condition, enter/exit history, static lists."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.traits_data import local, write_brand
from siyu.core.errors import PermissionDenied
from siyu.segments import queries
from siyu.segments.actions import (
    checked_rule,
    delete_segment,
    parse_customer_ids,
    refresh_segment,
    refresh_traits,
    save_segment,
)
from siyu.segments.errors import RuleError, SegmentError
from siyu.segments.membership import rule_members
from siyu.segments.models import Segment

pytestmark = pytest.mark.django_db
CUT = local("2026-01-01 00:00")
EVERYONE = list(range(1, 11))


@pytest.fixture
def brand(warehouse):
    """The brand with customer 1's first two orders at Tmall, store SH01, customers 1 and 2 in 上海, the
    customer summary built and the current traits computed at CUT."""
    from siyu.warehouse.summary import rebuild_customer_summary

    con = warehouse.backend()
    write_brand(con)
    raw = warehouse.raw_connection()
    raw.execute(
        "UPDATE orders SET source = 'tmall', store = 'SH01' WHERE order_key IN ('shop|o1-0', 'shop|o1-1')"
    )
    raw.execute("UPDATE records SET province = '上海' WHERE record_key IN ('shop|r1', 'shop|r2')")
    # stays in customer groups (siyu.community.groups writes them): 3 is in a welfare group; 6 left a VIP
    # group after 3 days, 7 after 20; 8 joins a welfare group after the cut; 9 left a welfare group after the cut
    stays = [("c1", "welfare", 3, "2025-12-01 10:00", None), ("c2", "vip", 6, "2025-11-01 10:00", "2025-11-04 09:00"),
             ("c2", "vip", 7, "2025-10-01 10:00", "2025-10-21 10:00"), ("c1", "welfare", 8, "2026-01-02 10:00", None),
             ("c1", "welfare", 9, "2025-12-20 10:00", "2026-01-03 10:00")]  # fmt: skip
    raw.executemany(
        "INSERT INTO group_members (chat_id, group_type, member_id, is_staff, customer_id, joined_at, left_at) "
        "VALUES (?, ?, ?, false, ?, ?, ?)",
        [(chat, kind, f"wm{cid}", cid, local(joined), local(left) if left else None)
         for chat, kind, cid, joined, left in stays],
    )
    # customer 5 added a guide on WeCom through live code 5 (siyu.acquisition writes such properties)
    raw.execute("""UPDATE events SET properties = '{"code_id": 5, "channel": "门店"}'
                   WHERE event_type = 'wecom_contact_added'""")
    rebuild_customer_summary(now=CUT)
    refresh_traits(now=CUT)
    return warehouse


@pytest.fixture
def members(brand):
    def run(rule) -> list[int]:
        expr = rule_members(brand.backend(), checked_rule(rule), CUT)
        return sorted(expr.customer_id.to_pyarrow().to_pylist())

    return run


def test_and_or_not(members):
    shanghai = {"field": "province", "op": "=", "value": "上海"}
    assert members(shanghai) == [1, 2]
    assert members({"all": [shanghai, {"bought": {"within_days": 10}}]}) == [2]
    top = {"field": "value_layer", "op": "=", "value": "top"}
    assert members({"any": [top, {"event": {"type": "member_registered"}}]}) == [2, 4]
    # no traits (4, 5, 6, 8) or not in the snapshot at all (9: first seen after the cut)
    assert members({"not": {"field": "value_layer", "op": "is not null"}}) == [4, 5, 6, 8, 9]
    assert members({"not": shanghai}) == [3, 4, 5, 6, 7, 8, 9, 10]


def test_behaviour_conditions(members):
    assert members({"bought": {"within_days": 70, "at_least": 2}}) == [1]
    assert members({"spent": {"at_least": 500}}) == [1, 2, 4]  # 600, 1000, 1000; 2's 500 is after the cut
    assert members({"spent": {"at_least": 500, "within_days": 365}}) == [1, 2]
    assert members({"spent": {"at_least": 150, "source": "tmall"}}) == [1]  # 100 + 100 at Tmall
    assert members({"spent": {"at_least": 201, "source": "tmall"}}) == []
    # no purchase in the last 180 days (since 2025-07-05): 7's last was 07-01
    assert members({"not": {"bought": {"within_days": 180}}}) == [3, 4, 5, 6, 7, 8, 9]
    assert members({"bought": {"source": "tmall", "at_least": 2}}) == [1]
    assert members({"bought": {"store": "SH01", "within_days": 100}}) == [1]  # 2025-10-02
    assert members({"bought": {"store": "SH01", "within_days": 60}}) == []
    assert members({"bought": {"product_name": "P2", "source": "shop"}}) == [2, 4]
    assert members({"field": "sources", "op": "contains", "value": "shop"}) == EVERYONE


def test_an_event_condition_can_name_the_events_properties(members):
    added = {"type": "wecom_contact_added"}
    assert members({"event": {**added, "with": {"code_id": "5"}}}) == [5]
    assert members({"event": {**added, "with": {"code_id": 5, "channel": "门店"}}}) == [5]
    assert members({"event": {**added, "with": {"code_id": "6"}}}) == []
    assert members({"event": {"type": "member_registered", "with": {"code_id": "5"}}}) == []


def test_group_conditions_read_the_stays_at_the_cut_off(members):
    assert members({"customer_group": {}}) == [3, 9]  # 9 was still in the group at the cut
    assert members({"customer_group": {"type": "welfare"}}) == [3, 9]
    assert members({"customer_group": {"type": "vip"}}) == []
    assert members({"customer_group": {"left_within_days": 7}}) == [6]
    assert members({"customer_group": {"type": "vip", "left_within_days": 30}}) == [6, 7]
    assert members({"customer_group": {"type": "welfare", "left_within_days": 30}}) == []  # 9 left after the cut
    assert members({"not": {"customer_group": {}}}) == [1, 2, 4, 5, 6, 7, 8, 10]


def test_control_plane_conditions(members, admin_user):
    from siyu.customers.actions import add_tag, assign_owner, record_consent
    from siyu.staff.actions import create_user, ensure_store

    add_tag(admin_user, [3, 5], "VIP")
    assert members({"tag": "VIP"}) == [3, 5]
    record_consent(admin_user, 3, "sms", "opt_out", "call", at=local("2025-01-01 10:00"))
    record_consent(admin_user, 5, "all", "opt_out", "call", at=local("2025-01-01 10:00"))
    record_consent(admin_user, 5, "sms", "opt_in", "form", at=local("2025-02-01 10:00"))  # later: wins
    record_consent(admin_user, 6, "all", "opt_out", "call", at=local("2025-01-01 10:00"))
    assert members({"consent": {"channel": "sms", "status": "opt_out"}}) == [3, 6]
    assert members({"consent": {"channel": "all", "status": "opt_out"}}) == [5, 6]
    store = ensure_store("SH01", "上海店", "上海")
    guide = create_user("g1", "pw-guide-1", "guide", store=store)
    assign_owner(admin_user, [1, 2], guide)
    assert members({"owner": "g1"}) == [1, 2]
    assert members({"owner": ""}) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert members({"store": "SH01"}) == [1, 2]
    assert members(
        {"all": [{"tag": "VIP"}, {"not": {"consent": {"channel": "sms", "status": "opt_out"}}}]}
    ) == [5]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "colour", "op": "=", "value": "x"}, "rule: unknown field 'colour'"),
        ({"all": [{"tag": ""}]}, r"rule.all\[0\].tag: give a tag"),
        ({"any": [{"spent": {"at_least": -1}}]}, r"rule.any\[0\].spent.at_least: an amount"),
        ({"consent": {"channel": "fax", "status": "opt_in"}}, "rule.consent.channel: one of"),
        ({"not": {"bought": {"store": 5}}}, "rule.not.bought.store: give a text"),
        ({"segment": 1}, "unknown condition 'segment'"),
        ({"event": {"with": {"Code-ID": "5"}}}, "rule.event.with: 'Code-ID' is not a property name"),
        ({"event": {"with": {"code_id": ["5"]}}}, "rule.event.with.code_id: give a text or a number"),
        ({"customer_group": {"left_within_days": 0}}, "rule.customer_group.left_within_days: a whole number"),
        ({"customer_group": {"kind": "vip"}}, "rule.customer_group: unexpected key"),
    ],
)
def test_bad_rules_name_the_bad_part(rule, message):
    with pytest.raises(RuleError, match=message):
        checked_rule(rule)


def test_segment_only_conditions_are_refused_in_computed_tags():
    from siyu.segments.rules import check_condition

    with pytest.raises(RuleError, match="for segments only"):
        check_condition({"tag": "VIP"})
    with pytest.raises(RuleError, match="unknown field 'province'"):
        check_condition({"field": "province", "op": "=", "value": "上海"})


def ids_of(segment_id) -> list[int]:
    return sorted(queries.member_ids(segment_id).customer_id.to_pyarrow().to_pylist())


def test_enter_and_exit_history_across_refreshes(brand, admin_user):
    from siyu.customers.actions import add_tag, remove_tag

    add_tag(admin_user, [3, 5], "VIP")
    segment = save_segment(admin_user, "VIP客户", rule={"tag": "VIP"}, materialise=False)
    first = refresh_segment(segment.pk, now=CUT)
    assert (first["members"], first["entered"], first["exited"]) == (2, 2, 0)
    assert ids_of(segment.pk) == [3, 5]
    remove_tag(admin_user, [5], "VIP")
    add_tag(admin_user, [7], "VIP")
    later = local("2026-01-02 00:00")
    second = refresh_segment(segment.pk, now=later)
    assert (second["members"], second["entered"], second["exited"]) == (2, 1, 1)
    assert ids_of(segment.pk) == [3, 7]
    history = queries.segment_changes_page(segment.pk)["items"]
    assert [(r["customer_id"], r["change"], r["changed_at"]) for r in history] == [
        (7, "enter", later), (5, "exit", later), (3, "enter", CUT), (5, "enter", CUT),
    ]  # fmt: skip
    entered = {
        r["customer_id"]: r["entered_at"]
        for r in brand.backend().table("segment_members").to_pyarrow().to_pylist()
    }
    assert entered == {3: CUT, 7: later}  # 3 stayed: its entry time is kept
    third = refresh_segment(segment.pk, now=later)
    assert (third["entered"], third["exited"]) == (0, 0)
    assert Segment.objects.get(pk=segment.pk).member_count == 2
    page = queries.segment_members_page(segment.pk, page=2, page_size=1)
    assert (page["total"], page["pages"], [r["customer_id"] for r in page["items"]]) == (2, 2, [7])
    delete_segment(admin_user, segment.pk)
    assert brand.backend().table("segment_changes").count().execute() == 0


def test_static_lists(brand, admin_user):
    with pytest.raises(SegmentError, match=r"line 3: 'abc', line 5: '-4'"):
        parse_customer_ids("customer_id\n1\nabc\n2\n-4\n")
    assert parse_customer_ids("\ufeff客户\n3\n1\n") == [3, 1]
    assert parse_customer_ids("name,customer_id\na,2\nb,4\n") == [2, 4]
    assert parse_customer_ids("姓名,客户ID\n张*,5\n") == [5]  # the heading the Chinese console names
    with pytest.raises(SegmentError, match="2 id\\(s\\) are not customers: 11, 99"):
        save_segment(admin_user, "名单", customer_ids=[1, 11, 99])
    segment = save_segment(admin_user, "名单", customer_ids=[4, 1, 1])
    assert (segment.kind, segment.static_ids) == ("static", [1, 4])
    assert refresh_segment(segment.pk, now=CUT)["members"] == 2
    assert ids_of(segment.pk) == [1, 4]


def test_saving_checks_the_definition_and_the_editor(brand, admin_user):
    from siyu.staff.actions import create_user

    guide = create_user("g2", "pw-guide-2", "guide")
    with pytest.raises(PermissionDenied):
        save_segment(guide, "x", rule={"tag": "VIP"})
    with pytest.raises(SegmentError, match="either a rule or a list"):
        save_segment(admin_user, "x", rule={"tag": "VIP"}, customer_ids=[1])
    with pytest.raises(SegmentError, match="refresh is one of"):
        save_segment(admin_user, "x", rule={"tag": "VIP"}, refresh="hourly")
    first = save_segment(admin_user, "a", rule={"tag": "VIP"})
    save_segment(admin_user, "b", rule={"tag": "VIP"})
    with pytest.raises(SegmentError, match="named 'b' exists"):
        save_segment(admin_user, "b", rule={"tag": "VIP"}, segment_id=first.pk)


def test_preview_counts_and_samples_without_writing(brand):
    result = queries.preview_segment({"field": "province", "op": "=", "value": "上海"})
    assert result["count"] == 2
    assert [r["customer_id"] for r in result["sample"]] == [1, 2]
    assert set(result["sample"][0]) >= {"name_masked", "phone_masked", "orders", "spend"}
    assert brand.backend().table("segment_members").count().execute() == 0


ATOMS = [
    {"field": "province", "op": "=", "value": "上海"},
    {"field": "value_layer", "op": "in", "value": ["top", "tail"]},
    {"field": "recency_days", "op": "<", "value": 100},
    {"bought": {"within_days": 200}},
    {"spent": {"at_least": 150}},
    {"event": {}},
    {"bought": {"source": "tmall"}},
    {"bought": {"within_days": 200, "at_least": 2}},
    {"spent": {"at_least": 50, "within_days": 400, "store": "SH01"}},
    {"event": {"type": "wecom_contact_added", "within_days": 400}},
    {"event": {"type": "wecom_contact_added", "with": {"code_id": "5"}}},
    {"customer_group": {"type": "welfare"}},
    {"customer_group": {"left_within_days": 7}},
    {"bought": {"product_name": "P1", "at_least": 2}},
]
rules_strategy = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules_strategy)
def test_a_rule_and_its_negation_split_everyone(members, rule):
    inside, outside = set(members(rule)), set(members({"not": rule}))
    assert not inside & outside
    assert inside | outside == set(EVERYONE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules_strategy)
def test_one_aggregation_per_fact_table_gives_what_a_subquery_per_condition_gave(brand, rule):
    """compile_rule (the preview's and refresh's path) against compile_condition alone."""
    from siyu.segments import rules
    from siyu.segments.membership import control_ids, universe
    from siyu.segments.traits import facts_before

    con = brand.backend()
    checked = checked_rule(rule)
    ctx = replace(facts_before(con, CUT).rule_context(), control=control_ids(checked))
    row = universe(con)
    one_pass, holds = rules.compile_rule(checked, row, ctx)
    fast = one_pass.filter(holds).customer_id.to_pyarrow().to_pylist()
    slow = row.filter(rules.compile_condition(checked, row, ctx)).customer_id.to_pyarrow().to_pylist()
    assert sorted(fast) == sorted(slow)


def test_export_segment_command(brand, admin_user, tmp_path):
    import csv
    from io import StringIO

    from django.core.management import CommandError, call_command

    segment = save_segment(admin_user, "上海", rule={"field": "province", "op": "=", "value": "上海"}, materialise=False)
    refresh_segment(segment.pk, now=CUT)
    out = StringIO()
    call_command("export", "segment", str(segment.pk), str(tmp_path / "seg.csv"), stdout=out)
    assert "Wrote 2 segment rows" in out.getvalue()
    rows = list(csv.DictReader((tmp_path / "seg.csv").open(encoding="utf-8")))
    assert [r["customer_id"] for r in rows] == ["1", "2"]
    assert rows[0]["entered_at"] == "2026-01-01 00:00:00"  # in settings.TIME_ZONE
    call_command("export", "segment", str(segment.pk), str(tmp_path / "seg.xlsx"), stdout=StringIO())
    assert (tmp_path / "seg.xlsx").stat().st_size > 0
    with pytest.raises(CommandError, match="usage: siyu export segment ID"):
        call_command("export", "segment", str(tmp_path / "seg.csv"), stdout=StringIO())
    with pytest.raises(SystemExit):
        call_command(
            "export", "segment", "999", str(tmp_path / "x.csv"), stdout=StringIO(), stderr=StringIO()
        )


def test_the_user_guide_segment_examples_are_valid_rules():
    import json
    import re
    from pathlib import Path

    for guide, heading in (("user-guide.en.md", "## Segments"), ("user-guide.zh-Hans.md", "## 人群")):
        text = (Path(__file__).parents[2] / "docs" / guide).read_text(encoding="utf-8")
        section = text[text.index(heading) :]
        section = section[: section.index("\n## ", 1)]
        lines = section[section.index("```\n") + 4 :].split("```")[0].splitlines()
        rules_shown = [line for line in lines if line.startswith("{")]  # a rule, then a remark
        assert len(rules_shown) == 9
        for line in rules_shown:
            checked_rule(json.JSONDecoder().raw_decode(line)[0])
        example = re.search(r"```json\n(.*?)```", section, re.S).group(1)
        assert checked_rule(json.loads(example))["all"][0]["field"] == "rfm_layer"


def test_the_end_of_a_resolve_refreshes_the_segments_scheduled_after_it(brand, admin_user):
    from siyu.pipeline.after_records import refresh_after_resolve

    shanghai = {"field": "province", "op": "=", "value": "上海"}
    save_segment(admin_user, "after", rule=shanghai, materialise=False)
    save_segment(admin_user, "manual", rule=shanghai, refresh="manual", materialise=False)
    report = refresh_after_resolve()
    assert report["segments"]["after"]["members"] == 2 and "manual" not in report["segments"]
    assert Segment.objects.get(name="manual").refreshed_at is None


def test_the_builders_gender_choices_find_the_customers_of_that_gender(brand, members):
    # the records store the normalised code (F/M), whatever the export said (女/男, female…)
    brand.raw_connection().execute("UPDATE records SET gender = 'F' WHERE record_key = 'shop|r1'")
    brand.raw_connection().execute("UPDATE records SET gender = 'M' WHERE record_key = 'shop|r2'")
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary(now=CUT)
    [gender] = [f for f in queries.builder_catalog()["fields"] if f["name"] == "gender"]
    [female, male] = [value for value, _ in gender["choices"]]
    assert members({"field": "gender", "op": "=", "value": female}) == [1]
    assert members({"field": "gender", "op": "=", "value": male}) == [2]
