"""The console's survey pages: make a survey, add questions with options, a jump and a tag through plain
forms, refuse a backward jump in words, open it, and read its results and persona report (with charts and the
export)."""

from __future__ import annotations

import pytest
from survey_data import answers

from siyu.surveys import actions
from siyu.surveys.models import Survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client, operator):
    client.force_login(operator)
    return client


def _zh(console, path, data=None, method="get"):
    return getattr(console, method)(path, data or {}, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_build_a_survey_with_forms(console, operator, people):
    actions.declare_attribute(operator, "肤质")
    made = _zh(console, "/surveys/", {"title": "新品调查"}, "post")
    survey = Survey.objects.get(title="新品调查")
    assert made.status_code == 302 and made["Location"] == f"/surveys/{survey.pk}/"
    first = {"text": "您的肤质？", "kind": "single", "required": "on", "attribute": "肤质", "tag_group": "肤质",
             "option_rows": "3", "option_label_0": "干性", "option_tag_0": "干皮", "option_label_1": "油性",
             "option_jump_1": "end", "option_label_2": ""}  # fmt: skip
    assert _zh(console, f"/surveys/{survey.pk}/questions/new/", first, "post").status_code == 302
    second = {"text": "打几分？", "kind": "scale", "scale_max": "5", "option_rows": "0"}
    assert _zh(console, f"/surveys/{survey.pk}/questions/new/", second, "post").status_code == 302
    spec = actions.questions_spec(survey)
    assert spec[0]["options"] == [{"label": "干性", "tag": "干皮", "jump": None}, {"label": "油性", "tag": "", "jump": "end"}]
    assert spec[0]["attribute"] == "肤质" and spec[1]["kind"] == "scale" and not spec[1]["required"]

    # question 2's option cannot jump back to question 1: the form comes back with the reason in Chinese
    back = {"text": "您的肤质？", "kind": "single", "required": "on", "option_rows": "2",
            "option_label_0": "甲", "option_label_1": "乙", "option_jump_1": "1"}  # fmt: skip
    refused = _zh(console, f"/surveys/{survey.pk}/questions/2/", back, "post")
    assert refused.status_code == 400 and "只能跳到后面的题" in refused.content.decode()
    # the page offers only later questions to jump to
    page = _zh(console, f"/surveys/{survey.pk}/questions/1/").content.decode()
    assert 'name="option_jump_0"' in page and "2. 打几分？" in page
    assert "2. 打几分？" not in _zh(console, f"/surveys/{survey.pk}/questions/2/").content.decode()

    assert _zh(console, f"/surveys/{survey.pk}/", {"do": "open"}, "post").status_code == 302
    survey.refresh_from_db()
    assert survey.status == "open"
    builder = _zh(console, f"/surveys/{survey.pk}/").content.decode()
    assert f"/m/surveys/{survey.pk}/" in builder and "{survey_link}" in builder and "结束问卷" in builder

    assert _zh(console, f"/surveys/{survey.pk}/questions/2/delete/", {}, "post").status_code == 302
    assert len(actions.questions_spec(survey)) == 1


def test_results_persona_and_export_pages(console, skin, people, operator):
    actions.record_response(skin.pk, 101, answers(skin, {1: "干性", 2: "是", 3: ["保湿"], 5: "=1+1"}), key="c1")
    actions.record_response(skin.pk, 103, answers(skin, {1: "油性", 3: ["美白"], 4: 2}), key="c2")
    results = _zh(console, f"/surveys/{skin.pk}/results/").content.decode()
    assert "2 份回答" in results and 'data-chart="chart-q1-option"' in results and "=1+1" in results
    persona = _zh(console, f"/surveys/{skin.pk}/persona/", {"trait": "value_layer"}).content.decode()
    assert 'data-chart="chart-persona-q1-option"' in persona and "价值分层" in persona
    exported = _zh(console, f"/surveys/{skin.pk}/persona/export/", {"format": "xlsx"})
    assert exported.status_code == 200 and exported["Content-Disposition"].endswith('.xlsx"')
    csv_text = _zh(console, f"/surveys/{skin.pk}/persona/export/", {"format": "csv"}).content.decode("utf-8-sig")
    assert "'=1+1" in csv_text and "\n=1+1" not in csv_text and ",=1+1" not in csv_text


def test_guides_do_not_reach_survey_pages(client, guide, skin):
    client.force_login(guide)
    for path in ("/surveys/", f"/surveys/{skin.pk}/", f"/surveys/{skin.pk}/persona/", "/surveys/attributes/"):
        assert client.get(path).status_code == 403, path


def test_attributes_page_declares(console):
    assert _zh(console, "/surveys/attributes/", {"name": "年龄段"}, "post").status_code == 302
    assert "年龄段" in _zh(console, "/surveys/attributes/").content.decode()
