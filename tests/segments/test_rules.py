"""The rule format of computed tags and stage sets: checking, evaluation on the hand-computed brand, and
who may change the definitions."""

import pytest

from segments.traits_data import AS_OF, write_brand
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditLog
from siyu.segments.actions import delete_computed_tag, save_computed_tag, save_stage_set
from siyu.segments.errors import NotFound, RuleError
from siyu.segments.models import ComputedTag, StageSet
from siyu.segments.rules import check_condition, check_stages, compile_condition
from siyu.segments.traits import TraitSettings, base_traits_expr, cutoff_of, facts_before


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "colour", "op": "=", "value": "red"}, "unknown field 'colour'"),
        ({"field": "rfm_layer", "op": ">", "value": "x"}, "rfm_layer takes the operators"),
        ({"field": "monetary", "op": ">=", "value": "100"}, "needs a number"),
        ({"field": "monetary", "op": ">=", "value": True}, "needs a number"),
        ({"field": "monetary", "op": "between", "value": [1]}, "between takes [low, high]"),
        ({"field": "value_layer", "op": "in", "value": []}, "non-empty list of texts"),
        ({"field": "monetary", "op": ">", "value": 1, "extra": 1}, "unexpected key(s) extra"),
        ({"all": []}, "rule.all: give a non-empty list"),
        (
            {"any": [{"field": "frequency", "op": ">", "value": 1}, {"nope": 1}]},
            "rule.any[1]: unknown condition",
        ),
        ({"bought": {"within_days": 0}}, "within_days: a whole number of days"),
        ({"event": {"type": "visit", "at_least": 0}}, "at_least: a whole number from 1"),
        ({"event": {"product_id": "x"}}, "unexpected key(s) product_id"),
        ("frequency > 1", "a condition is one object"),
    ],
)
def test_bad_conditions_are_refused_with_where_and_why(condition, message):
    with pytest.raises(RuleError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        check_condition(condition)


def test_conditions_are_normalised():
    assert check_condition({"field": "r_score", "op": " >= ", "value": 4}) == {
        "field": "r_score",
        "op": ">=",
        "value": 4,
    }
    assert check_condition({"not": {"field": "due_in_days", "op": "IS NULL"}}) == {
        "not": {"field": "due_in_days", "op": "is null"}
    }
    assert check_condition({"bought": {"product_name": "精华"}}) == {
        "bought": {"product_name": "精华", "at_least": 1}
    }


def test_nesting_is_bounded():
    condition = {"field": "frequency", "op": ">", "value": 0}
    for _ in range(25):
        condition = {"not": condition}
    with pytest.raises(RuleError, match="nested more than 20"):
        check_condition(condition)


def test_stage_lists_are_checked():
    with pytest.raises(RuleError, match="listed twice"):
        check_stages([{"stage": "a", "when": {"field": "frequency", "op": ">", "value": 0}}] * 2)
    with pytest.raises(RuleError, match=r"stages\[0\]: give"):
        check_stages([{"stage": "a"}])
    with pytest.raises(RuleError, match="non-empty list of stages"):
        check_stages([])


@pytest.fixture
def matching(warehouse):
    """The customer ids (as of AS_OF on the hand-computed brand) for which a condition holds."""
    con = warehouse.backend()
    write_brand(con)
    facts = facts_before(con, cutoff_of(AS_OF))
    base = base_traits_expr(facts, TraitSettings())

    def run(condition) -> list[int]:
        hits = base.filter(compile_condition(check_condition(condition), base, facts.rule_context()))
        return sorted(hits.customer_id.to_pyarrow().to_pylist())

    return run


@pytest.mark.django_db
def test_behaviour_conditions(matching):
    assert matching({"bought": {"within_days": 40, "at_least": 2}}) == []
    assert matching({"bought": {"within_days": 70, "at_least": 2}}) == [1]  # 2025-11-01 and 12-01
    assert matching({"bought": {"product_name": "P1", "at_least": 2}}) == [1, 7]  # orders, not lines
    assert matching({"bought": {"product_id": "P1"}}) == []  # the lines carry names only
    assert matching({"bought": {}}) == [1, 2, 3, 4, 7, 10]
    assert matching({"event": {"type": "member_registered"}}) == [4]
    assert matching({"event": {"within_days": 30}}) == [5]


@pytest.mark.django_db
def test_field_conditions_and_missing_values(matching):
    assert matching({"field": "value_layer", "op": "in", "value": ["top", "waist"]}) == [1, 2, 7]
    assert matching({"field": "value_layer", "op": "not in", "value": ["top", "waist"]}) == [3, 10]
    assert matching({"field": "value_layer", "op": "is null"}) == [4, 5, 6, 8]
    assert matching({"not": {"field": "r_score", "op": ">=", "value": 3}}) == [3, 4, 5, 6, 7, 8]
    assert matching({"field": "purchase_cycle_days", "op": "between", "value": [10, 20]}) == [3]
    assert matching({"all": [{"field": "lifecycle_stage", "op": "=", "value": "dormant"},
                             {"field": "orders_total", "op": ">=", "value": 3}]}) == [3, 7]  # fmt: skip


@pytest.mark.django_db
def test_only_admins_and_operators_change_definitions_and_it_is_audited(db):
    from siyu.staff.actions import create_user, ensure_store

    store = ensure_store("SH01", "上海店", "上海")
    guide = create_user("g1", "pw-guide-1", "guide", store=store)
    operator = create_user("op1", "pw-oper-1", "operator")
    rule = {"field": "frequency", "op": ">=", "value": 2}
    with pytest.raises(PermissionDenied):
        save_computed_tag(guide, "复购", rule)
    tag = save_computed_tag(operator, " 复购 ", rule, description="两单及以上")
    assert (tag.name, tag.rule, tag.updated_by) == ("复购", rule, operator)
    with pytest.raises(RuleError, match="cannot use computed_tags"):
        save_computed_tag(operator, "x", {"field": "computed_tags", "op": "contains", "value": "复购"})
    with pytest.raises(RuleError, match="without '|'"):
        save_computed_tag(operator, "a|b", rule)
    with pytest.raises(RuleError, match="letters, digits"):
        save_stage_set(operator, "a b", [{"stage": "s", "when": rule}])
    save_stage_set(operator, "学员", [{"stage": "在学", "when": rule}], default_stage="其他")
    assert StageSet.objects.get(name="学员").default_stage == "其他"
    delete_computed_tag(operator, "复购")
    assert not ComputedTag.objects.exists()
    with pytest.raises(NotFound, match="no computed tag '复购'"):
        delete_computed_tag(operator, "复购")
    actions = list(AuditLog.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["computed_tag_saved", "stage_set_saved", "computed_tag_deleted"]


def test_the_user_guide_examples_are_valid_rules():
    """The rules and the training school's stage set shown in the user guides pass the checks."""
    import json
    from pathlib import Path

    for guide in ("user-guide.en.md", "user-guide.zh-Hans.md"):
        text = (Path(__file__).parents[2] / "docs" / guide).read_text(encoding="utf-8")
        section = text[text.index('{"all": [') :]
        lines = [line for line in section[: section.index("```")].splitlines()[1:] if line]
        assert len(lines) == 6
        for line in lines:  # a rule, then maybe a remark
            check_condition(json.JSONDecoder().raw_decode(line)[0])
        example = section[section.index("```json") + len("```json") :]
        stage_set = json.loads(example[: example.index("```")])
        stages = check_stages(stage_set["stages"], stage_set["default_stage"])
        assert stages[0]["stage"] == "已拿证"
