"""Surveys' warehouse mirror: answers become survey_answers rows (one per chosen option), responses become
survey_answered events once; a segment then finds who answered what; the builder offers the questions' words."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from survey_data import answers

from siyu.segments.actions import checked_rule
from siyu.segments.membership import rule_members
from siyu.surveys import actions
from siyu.surveys.mirror import builder_surveys, mirror_surveys

pytestmark = pytest.mark.django_db



def test_answers_reach_segments_and_responses_reach_events_once(people, skin, warehouse):
    con = warehouse.raw_connection()
    for cid in people:
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [f"member|m{cid}", cid])
    actions.record_response(skin.pk, 101, answers(skin, {1: "干性", 2: "是", 3: ["保湿", "美白"], 4: 5}), key="a")
    actions.record_response(skin.pk, 102, answers(skin, {1: "油性", 3: ["美白"]}), key="b")
    actions.record_response(skin.pk, 103, answers(skin, {1: "不清楚"}), key="c")
    first = mirror_surveys()
    assert first["events_written"] == 3
    assert mirror_surveys()["events_written"] == 0  # each response once

    def who(question, *labels) -> list[int]:
        options = [str(skin.o[(question, label)]) for label in labels]
        rule = {"survey_answer": {"survey_id": skin.pk, "question_id": str(skin.q[question].pk), "answers": options}}
        return sorted(rule_members(warehouse.backend(), checked_rule(rule)).customer_id.to_pyarrow().to_pylist())

    assert who(3, "美白") == [101, 102]
    assert who(3, "保湿") == [101]
    assert who(1, "油性", "不清楚") == [102, 103]
    scale = {"survey_answer": {"survey_id": skin.pk, "question_id": str(skin.q[4].pk), "answers": [5]}}
    assert sorted(rule_members(warehouse.backend(), checked_rule(scale)).customer_id.to_pyarrow().to_pylist()) == [101]
    (offered,) = builder_surveys()
    assert offered["name"] == "肤质小调查"
    interests = next(q for q in offered["questions"] if q["id"] == str(skin.q[3].pk))
    assert [label for _, label in interests["options"]] == ["保湿", "美白", "抗老"]


def test_a_response_recorded_late_or_before_its_customer_is_known_reaches_the_events(people, skin, warehouse):
    con = warehouse.raw_connection()
    con.execute("INSERT INTO customer_map VALUES ('member|m101', 101, now())")
    mirror_surveys(now=timezone.now() + dt.timedelta(hours=2))  # a run later than what the responses will say
    actions.record_response(skin.pk, 101, answers(skin, {1: "干性", 2: "是", 3: ["保湿"], 4: 5}), key="a")
    actions.record_response(skin.pk, 102, answers(skin, {1: "油性", 3: ["美白"]}), key="b")  # 102: not resolved yet
    first = mirror_surveys(now=timezone.now() + dt.timedelta(hours=3))
    assert (first["events_written"], first["waiting"]) == (1, 1)
    con.execute("INSERT INTO customer_map VALUES ('member|m102', 102, now())")
    again = mirror_surveys(now=timezone.now() + dt.timedelta(hours=4))
    assert (again["events_written"], again["waiting"]) == (1, 0)
    answered = con.execute("SELECT m.customer_id FROM events e JOIN customer_map m USING (record_key) "
                           "WHERE e.event_type = 'survey_answered' ORDER BY 1").fetchall()  # fmt: skip
    assert answered == [(101,), (102,)]
