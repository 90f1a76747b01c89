"""Results and the persona report worked out by hand on four members, and the export (no formula cells).

The four responses to the skin survey (traits from conftest.TRAITS; 105 has none):

    member  RFM layer          Q1     Q2  Q3          Q4  Q5
    101     important_value    干性   是  保湿, 美白   5   "=HYPERLINK(…)"
    102     important_value    油性   —   美白         3
    103     general_develop    干性   否  保湿         —
    105     (not known)        不清楚 —   —           —   (不清楚 ends the survey)

Q1 (4 answered): 干性 2 (0.5), 油性 1 (0.25), 不清楚 1 (0.25). Q3 (3 answered): 保湿 2, 美白 2, 抗老 0 (shares of
the 3: 0.6667 each). Q4 (2 answered): 3 → 1, 5 → 1, mean 4. 干性 by RFM layer: important_value 1,
general_develop 1. Segment {101, 103}: Q1 干性 2 (1.0); RFM layers: important_value 1, general_develop 1."""

from __future__ import annotations

import csv
import io

import pytest
import python_calamine
from survey_data import answers

from siyu.segments.actions import save_segment
from siyu.surveys import actions, queries

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """The refusals' words checked here are the English ones (the console defaults to Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield

INJECTION = '=HYPERLINK("http://evil","点我")'


@pytest.fixture
def answered(skin, people, operator):
    given = {
        101: {1: "干性", 2: "是", 3: ["保湿", "美白"], 4: 5, 5: INJECTION},
        102: {1: "油性", 3: ["美白"], 4: 3},
        103: {1: "干性", 2: "否", 3: ["保湿"]},
        105: {1: "不清楚"},
    }
    for cid, by_number in given.items():
        actions.record_response(skin.pk, cid, answers(skin, by_number), key=f"r{cid}")
    return skin


def _rows(question):
    return {r["label"]: (r["count"], r["share"]) for r in question["rows"]}


def test_results_count_every_answer(answered):
    found = queries.results(answered.pk)
    assert (found["responses"], found["members"]) == (4, 4)
    q1, q2, q3, q4, q5 = found["questions"]
    assert (q1["answered"], _rows(q1)) == (4, {"干性": (2, 0.5), "油性": (1, 0.25), "不清楚": (1, 0.25)})
    assert (q2["answered"], _rows(q2)) == (2, {"是": (1, 0.5), "否": (1, 0.5)})
    assert _rows(q3) == {"保湿": (2, 0.6667), "美白": (2, 0.6667), "抗老": (0, 0.0)}
    assert _rows(q4) == {"1": (0, 0.0), "2": (0, 0.0), "3": (1, 0.5), "4": (0, 0.0), "5": (1, 0.5)}
    assert q4["mean"] == 4.0
    assert q5["texts"] == [INJECTION]


def test_persona_of_everyone_puts_answers_beside_traits(answered):
    report = queries.persona_report(answered.pk)
    assert report.respondents == 4
    rfm = next(t for t in report.traits if t["trait"] == "rfm_layer")
    assert {r["bucket"]: (r["count"], r["share"]) for r in rfm["rows"]} == {
        "important_value": (2, 0.5), "general_develop": (1, 0.25), "": (1, 0.25)}  # fmt: skip
    q1 = report.questions[0]
    dry = next(r for r in q1["rows"] if r["label"] == "干性")
    assert dry["by_trait"]["rfm_layer"] == {"important_value": 1, "general_develop": 1}
    assert dry["by_trait"]["value_layer"] == {"top": 1, "tail": 1}
    unsure = next(r for r in q1["rows"] if r["label"] == "不清楚")
    assert unsure["by_trait"]["rfm_layer"] == {"": 1}
    whitening = next(r for r in report.questions[2]["rows"] if r["label"] == "美白")
    assert whitening["by_trait"]["lifecycle_stage"] == {"loyal": 1, "repeat": 1}


def test_persona_of_a_segment_counts_its_members_only(answered, operator):
    segment = save_segment(operator, "两位会员", customer_ids=[101, 103, 104])
    report = queries.persona_report(answered.pk, segment.pk)
    assert (report.respondents, report.segment_name) == (2, "两位会员")
    assert _rows(report.questions[0]) == {"干性": (2, 1.0), "油性": (0, 0.0), "不清楚": (0, 0.0)}
    rfm = next(t for t in report.traits if t["trait"] == "rfm_layer")
    assert {r["bucket"]: r["count"] for r in rfm["rows"]} == {"important_value": 1, "general_develop": 1}


def test_a_member_who_answered_twice_counts_once_with_the_latest(answered, operator, people):
    actions.change_survey(operator, answered.pk, allow_multiple=True)
    actions.record_response(answered.pk, 101, answers(answered, {1: "油性", 3: ["抗老"]}), key="again")
    report = queries.persona_report(answered.pk)
    assert report.respondents == 4
    assert _rows(report.questions[0])["油性"] == (2, 0.5)
    assert queries.results(answered.pk)["responses"] == 5


def test_the_export_neutralises_formula_cells(answered):
    report = queries.persona_report(answered.pk)
    data, name = queries.export_persona(report, "csv")
    assert name.endswith(".csv") and data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    cells = [c for row in rows for c in row]
    assert "'" + INJECTION in cells and INJECTION not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert ["1", "您的肤质是？", "干性", "All respondents", "", "2", "0.5"] in rows
    data, name = queries.export_persona(report, "xlsx")
    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    cells = [c for row in sheet for c in row]
    assert "'" + INJECTION in cells and not [c for c in cells if isinstance(c, str) and c[:1] in ("=", "+", "-", "@")]


def test_neutralised_cells():
    """The persona file's cells follow siyu.core.spreadsheet.formula_safe: numbers (and plain numeric
    text such as -3) stay numbers."""
    from siyu.core.spreadsheet import formula_safe

    assert [formula_safe(v) for v in ("=1+1", "+86", "-3", "-3+1", "@SUM", "\tx", "干性", 5, None)] == [
        "'=1+1", "+86", "-3", "'-3+1", "'@SUM", "'\tx", "干性", 5, None]  # fmt: skip
