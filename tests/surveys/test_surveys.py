"""Making surveys (branching only forward, in words), answering them (checked against the questions and the
branching, idempotent, once per member), the mappings to tags and profile attributes, the traits kept with a
response, and what a member may answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from survey_data import answers

from siyu.core.errors import PermissionDenied
from siyu.customers.models import CustomerTag
from siyu.customers.queries import tags_of
from siyu.surveys import actions, queries
from siyu.surveys.errors import AlreadyAnswered, SurveyError
from siyu.surveys.models import CustomerAttribute, SurveyResponse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """The refusals' words checked here are the English ones (the console defaults to Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield


# --- branching -------------------------------------------------------------------------------------------


def _choice(label, jump=None):
    return {"label": label, "jump": jump}


@st.composite
def forward_graphs(draw):
    """A survey of 2–8 single-choice questions whose options jump only forward (or end, or follow on)."""
    n = draw(st.integers(2, 8))
    questions = []
    for number in range(1, n + 1):
        targets = st.one_of(st.none(), st.just("end"), *([st.integers(number + 1, n)] if number < n else []))
        jumps = draw(st.lists(targets, min_size=2, max_size=4))
        questions.append({"text": f"题{number}", "kind": "single",
                          "options": [_choice(f"选项{i}", j) for i, j in enumerate(jumps)]})  # fmt: skip
    return questions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(questions=forward_graphs())
def test_any_forward_branching_is_accepted_and_kept(operator, questions):
    survey = actions.make_survey(operator, title="前进", questions=questions)
    assert actions.questions_spec(survey) == [
        {**q, "required": True, "scale_max": 5, "attribute": None, "tag_group": "",
         "options": [{**o, "tag": ""} for o in q["options"]]}
        for q in questions
    ]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(questions=forward_graphs(), data=st.data())
def test_any_backward_or_self_jump_is_refused_in_words(operator, questions, data):
    number = data.draw(st.integers(1, len(questions)))
    target = data.draw(st.integers(1, number))  # backwards, or onto itself: a cycle
    questions[number - 1]["options"][0]["jump"] = target
    with override("zh-hans"), pytest.raises(SurveyError) as refused:
        actions.make_survey(operator, title="回跳", questions=questions)
    assert f"第 {number} 题" in str(refused.value) and f"第 {target} 题" in str(refused.value)
    assert "只能跳到后面的题" in str(refused.value)


def test_definition_mistakes_are_named(operator):
    one = lambda **q: [{"text": "题", "kind": "single", "options": [_choice("甲"), _choice("乙")], **q}]  # noqa: E731
    cases = [
        (one(kind="ranking"), "choose single choice"),
        (one(options=[_choice("甲")]), "between 2 and"),
        (one(options=[_choice("甲"), _choice("甲")]), "twice"),
        (one(attribute="星座"), "not declared"),
        (one(options=[_choice("甲", 5), _choice("乙")]), "the survey has 1 questions"),
        ([{"text": "几分", "kind": "scale", "scale_max": 11}], "scale"),
        ([{"text": "多选", "kind": "multiple", "options": [_choice("甲", "end"), _choice("乙")]},
          {"text": "下一题", "kind": "text"}], "only the options of a single-choice question can jump"),
        ([{"text": "写", "kind": "text", "options": [_choice("甲")]}], "only choice questions"),
    ]  # fmt: skip
    for questions, words in cases:
        with pytest.raises(SurveyError, match=words):
            actions.make_survey(operator, title="错", questions=questions)


def test_only_admins_and_operators_make_surveys(guide):
    with pytest.raises(PermissionDenied):
        actions.make_survey(guide, title="导购的问卷")


def test_a_survey_opens_with_questions_and_its_questions_freeze_once_answered(operator, skin, people):
    empty = actions.make_survey(operator, title="空")
    with pytest.raises(SurveyError, match="at least one question"):
        actions.open_survey(operator, empty.pk)
    actions.change_survey(operator, skin.pk, questions=actions.questions_spec(skin))  # no answers yet: fine
    skin.q = {q.position: q for q in skin.questions.all()}
    skin.o = {(q.position, o.label): o.pk for q in skin.questions.all() for o in q.options.all()}
    actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="k1")
    with pytest.raises(SurveyError, match="can no longer change"):
        actions.change_survey(operator, skin.pk, questions=[])
    actions.change_survey(operator, skin.pk, title="肤质调查（新）")  # the settings still can


# --- answering -------------------------------------------------------------------------------------------


def test_branching_decides_which_answers_are_needed_and_kept(skin, people):
    # 油性 jumps to 3: question 2 is skipped, so its answer is dropped and not needed
    response = actions.record_response(skin.pk, 101, answers(skin, {1: "油性", 2: "是", 3: ["美白"]}), key="a")
    assert set(response.answers) == {str(skin.q[1].pk), str(skin.q[3].pk)}
    # 干性 goes on to 2, which is required
    with pytest.raises(SurveyError, match="Question 2 needs an answer"):
        actions.record_response(skin.pk, 102, answers(skin, {1: "干性", 3: ["保湿"]}), key="b")
    # 不清楚 ends the survey: nothing else needed, anything else dropped
    ended = actions.record_response(skin.pk, 102, answers(skin, {1: "不清楚", 3: ["保湿"], 5: "好"}), key="c")
    assert ended.answers == {str(skin.q[1].pk): skin.o[(1, "不清楚")]}


def test_answers_are_checked_against_the_questions(skin, people):
    good = {1: "干性", 2: "否", 3: ["保湿"]}
    bad = [
        ({**answers(skin, good), str(skin.q[4].pk): 6}, "from 1 to 5"),
        ({**answers(skin, good), str(skin.q[4].pk): True}, "from 1 to 5"),
        ({**answers(skin, good), str(skin.q[1].pk): skin.o[(2, "是")]}, "not one of its options"),
        ({**answers(skin, good), str(skin.q[1].pk): [skin.o[(1, "干性")], skin.o[(1, "油性")]]}, "takes one option"),
        ({**answers(skin, good), str(skin.q[5].pk): 42}, "text answer"),
        ({**answers(skin, good), "999999": "x"}, "not a question of this survey"),
        ({}, "Question 1 needs an answer"),
        (["not", "a", "dict"], "must map question ids"),
    ]
    for given_answers, words in bad:
        with pytest.raises(SurveyError, match=words):
            actions.record_response(skin.pk, 101, given_answers, key="bad")
    assert not SurveyResponse.objects.exists()
    ok = actions.record_response(skin.pk, 101, {**answers(skin, good), str(skin.q[4].pk): "5"}, key="ok")
    assert ok.answers[str(skin.q[4].pk)] == 5


def test_a_response_is_idempotent_and_one_per_member(skin, people):
    given_answers = answers(skin, {1: "干性", 2: "是", 3: ["保湿", "美白"]})
    first = actions.record_response(skin.pk, 101, given_answers, key="member-centre:1")
    again = actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="member-centre:1")
    assert again.pk == first.pk and again.answers == first.answers
    assert SurveyResponse.objects.count() == 1 and CustomerTag.objects.filter(customer_id=101).count() == 3
    with pytest.raises(AlreadyAnswered):
        actions.record_response(skin.pk, 101, given_answers, key="member-centre:2")
    with pytest.raises(SurveyError, match="another response"):
        actions.record_response(skin.pk, 102, given_answers, key="member-centre:1")


def test_a_survey_that_allows_more_takes_more(operator, skin, people):
    actions.change_survey(operator, skin.pk, allow_multiple=True)
    for key in ("x", "y"):
        actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key=key)
    assert SurveyResponse.objects.filter(customer_id=101).count() == 2
    assert [s.pk for s in queries.open_surveys_for(101)] == [skin.pk]


def test_only_open_surveys_within_their_window_take_answers(operator, skin, people):
    now = timezone.now()
    actions.change_survey(operator, skin.pk, opens_at=now + timedelta(days=1))
    with pytest.raises(SurveyError, match="not taking answers"):
        actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="early")
    assert queries.open_surveys_for(101) == []
    actions.change_survey(operator, skin.pk, opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=1))
    assert [s.pk for s in queries.open_surveys_for(101)] == [skin.pk]
    actions.close_survey(operator, skin.pk)
    with pytest.raises(SurveyError, match="not taking answers"):
        actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="late")


def test_an_unknown_customer_cannot_answer(skin, people):
    from siyu.customers.errors import CustomerNotFound

    with pytest.raises(CustomerNotFound):
        actions.record_response(skin.pk, 999, answers(skin, {1: "不清楚"}), key="nobody")


# --- mappings and traits -----------------------------------------------------------------------------------


def test_answers_set_tags_and_profile_attributes(skin, people):
    response = actions.record_response(
        skin.pk, 101, answers(skin, {1: "干性", 2: "是", 3: ["美白", "保湿"], 4: 4}), key="m1"
    )
    tags = {(t["group"], t["name"]) for t in tags_of(101)}
    assert tags == {("肤质", "干皮"), ("肤质", "敏感肌"), (None, "关注美白")}
    assert set(CustomerTag.objects.filter(customer_id=101).values_list("source", flat=True)) == {"survey"}
    values = {a.attribute.name: (a.value, a.response_id) for a in queries.attributes_of(101)}
    assert values == {"肤质": ("干性", response.pk), "兴趣": ("保湿、美白", response.pk)}  # in the options' order


def test_a_later_answer_replaces_the_attribute_value(operator, skin, people):
    actions.change_survey(operator, skin.pk, allow_multiple=True)
    actions.record_response(skin.pk, 101, answers(skin, {1: "干性", 2: "否", 3: ["保湿"]}), key="m1")
    later = actions.record_response(skin.pk, 101, answers(skin, {1: "油性", 3: ["抗老"]}), key="m2")
    attribute = CustomerAttribute.objects.get(customer_id=101, attribute__name="肤质")
    assert (attribute.value, attribute.response_id) == ("油性", later.pk)


def test_the_members_traits_are_kept_with_the_response(skin, people):
    kept = actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="t1").traits
    assert kept["rfm_layer"] == "important_value" and kept["value_layer"] == "top"
    assert kept["lifecycle_stage"] == "loyal" and kept["aipl_stage"] == "loyalty"
    assert kept["monetary"] == "150.50" and kept["computed_tags"] == ["高价值"]
    assert kept["traits_as_of"].startswith("2026-11-01")
    # a customer the snapshot does not hold answers with no traits
    assert actions.record_response(skin.pk, 105, answers(skin, {1: "不清楚"}), key="t2").traits == {}


def test_a_member_sees_open_surveys_and_their_own_state(operator, skin, people):
    draft = actions.make_survey(operator, title="草稿", questions=[{"text": "写", "kind": "text"}])
    assert [s.pk for s in queries.open_surveys_for(101)] == [skin.pk]
    seen = queries.survey_for_member(skin.pk, 101)
    assert seen.can_answer and not seen.answered and seen.path == f"/m/surveys/{skin.pk}/"
    assert [o.label for o in seen.questions[0].options_list] == ["干性", "油性", "不清楚"]
    actions.record_response(skin.pk, 101, answers(skin, {1: "不清楚"}), key="s1")
    assert queries.open_surveys_for(101) == []
    seen = queries.survey_for_member(skin.pk, 101)
    assert seen.answered and not seen.can_answer and seen.reason
    from siyu.surveys.errors import SurveyNotFound

    with pytest.raises(SurveyNotFound):
        queries.survey_for_member(draft.pk, 101)


def test_the_link_is_a_send_variable(skin):
    assert queries.survey_path(skin.pk) == f"/m/surveys/{skin.pk}/"
    assert queries.survey_variables(skin.pk, "https://m.brand.cn/") == {
        "survey_link": f"https://m.brand.cn/m/surveys/{skin.pk}/"
    }
    from siyu.engagement.content.scripts import fill_message

    _, content, _, missing = fill_message("", "请填问卷：{survey_link}", queries.survey_variables(skin.pk, "https://m.brand.cn"), {})
    assert content == f"请填问卷：https://m.brand.cn/m/surveys/{skin.pk}/" and missing == ()


def test_answers_since_a_watermark_are_the_mirrors_rows(skin, people):
    first = actions.record_response(skin.pk, 101, answers(skin, {1: "油性", 3: ["保湿", "美白"], 5: "=1+1"}), key="w1")
    rows = queries.answers_since(0)
    assert [(r["question_id"], r["option_ids"], r["values"]) for r in rows] == [
        (skin.q[1].pk, [skin.o[(1, "油性")]], ["油性"]),
        (skin.q[3].pk, [skin.o[(3, "保湿")], skin.o[(3, "美白")]], ["保湿", "美白"]),
        (skin.q[5].pk, [], ["=1+1"]),
    ]
    assert {(r["response_id"], r["customer_id"], r["survey_id"]) for r in rows} == {(first.pk, 101, skin.pk)}
    assert queries.answers_since(first.pk) == []
    second = actions.record_response(skin.pk, 102, answers(skin, {1: "不清楚"}), key="w2")
    assert [r["response_id"] for r in queries.answers_since(first.pk)] == [second.pk]
