"""Surveys' warehouse mirror: every submitted answer becomes rows of `survey_answers` (replaced whole: one row
per chosen option — its id as text — or the scale number or the text), and every response written since the
last run (by id, siyu.warehouse.mirrors; one of a customer not resolved yet waits for them) a `survey_answered` event against the customer's anchor record (keyed by the response, so a re-run
adds nothing twice). Segments read the answers ("answered X to question Q"), journeys the events.

Job kind "surveys_mirror"; the pipeline runs it after resolves and `siyu serve` every MIRROR_EVERY.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from siyu.engagement.messaging.actions import append_events
from siyu.surveys.models import Question, Survey
from siyu.surveys.queries import MIRROR_BATCH, answers_since
from siyu.warehouse.mirrors import Position, arrow_rows, mirror_part, positions, replace_state

STREAM = "surveys"
SOURCE = "surveys"
PART = "responses"  # its position: the largest response id read (siyu.warehouse.mirrors)
MIRROR_EVERY = dt.timedelta(hours=1)


def all_answers() -> list[dict]:
    """Every answer (surveys.queries.answers_since, read in batches)."""
    rows, mark = [], 0
    while True:
        batch = answers_since(mark, MIRROR_BATCH)
        if not batch:
            return rows
        rows.extend(batch)
        mark = max(r["response_id"] for r in batch)


def answer_rows(answers: list[dict]) -> list[dict]:
    out = []
    for a in answers:
        values = [str(i) for i in a["option_ids"]] if a["option_ids"] else a["values"]
        out.extend({"customer_id": a["customer_id"], "survey_id": a["survey_id"], "question_id": str(a["question_id"]),
                    "answer": value, "submitted_at": a["submitted_at"]} for value in values)  # fmt: skip
    return out


def response_events(answers: list[dict], position: Position) -> list[dict]:
    """survey_answered per response written after `position` (by id: a response imported with an old
    submitted_at is read all the same) or waiting for its customer."""
    again = set(position.again())
    responses = {a["response_id"]: a for a in answers if a["response_id"] > position.last_id or a["response_id"] in again}
    return [{"event_key": f"{SOURCE}|response:{rid}", "source": SOURCE, "customer_id": a["customer_id"],
             "row_id": rid, "event_type": "survey_answered", "occurred_at": a["submitted_at"],
             "properties": {"survey_id": a["survey_id"]}} for rid, a in sorted(responses.items())]  # fmt: skip


def mirror_surveys(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    position = positions(STREAM).get(PART, Position())
    answers = all_answers()
    position, done = mirror_part(position, [response_events(answers, position)], append_events, now)
    state = replace_state(STREAM, {"survey_answers": arrow_rows("survey_answers", answer_rows(answers))}, now,
                          {PART: position})  # fmt: skip
    return {"responses_seen": done["seen"], "events_written": done["written"], "waiting": done["waiting"],
            "dropped": done["dropped"], **state}


def run_mirror_job(job, progress) -> dict:
    """Job runner of kind `surveys_mirror`."""
    return mirror_surveys()


def schedule_mirror(at: dt.datetime | None = None) -> bool:
    from siyu.core.tasks import schedule_once
    from siyu.surveys.tasks import mirror_surveys_task  # the task module imports this one

    return schedule_once(mirror_surveys_task, at)


def builder_surveys() -> list[dict]:
    """What the segment builder offers for a survey-answer condition (registered in SurveysConfig.ready):
    surveys with their choice and scale questions and the answers' words (an option's code is its id)."""
    out = []
    for survey in Survey.objects.prefetch_related("questions__options").order_by("-created_at")[:200]:
        questions = []
        for q in survey.questions.all():
            if q.kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE):
                options = [[str(o.pk), o.label] for o in q.options.all()]
            elif q.kind == Question.Kind.SCALE:
                options = [[str(i), str(i)] for i in range(1, q.scale_max + 1)]
            else:
                options = []
            questions.append({"id": str(q.pk), "text": q.text, "options": options})
        if questions:
            out.append({"id": survey.pk, "name": survey.title, "questions": questions})
    return out
