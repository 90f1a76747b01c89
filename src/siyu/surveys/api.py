"""/api/surveys…: surveys (list, get, make, change), their responses (list; submit one on a member's behalf,
with an Idempotency-Key), results and the persona report, profile attributes. Mounted by siyu.api."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema
from pydantic import field_validator

from siyu.staff.roles import roles
from siyu.surveys import actions, queries
from siyu.surveys.models import ProfileAttribute, Survey, SurveyResponse
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS, refuse_odd_offset

router = Router(tags=["surveys"])

ID_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=ID_MAX)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]
KindName = Literal["single", "multiple", "scale", "text"]


class SurveyOptionIO(Schema):
    label: str = Field(..., min_length=1, max_length=100)
    tag: str = Field("", max_length=100, description="the tag a member who chooses it gets (in the question's tag group)")
    jump: int | Literal["end"] | None = Field(
        None, description="single choice: the number (1-based) of a later question to go to, or \"end\""
    )

    @field_validator("jump")
    @classmethod
    def _small(cls, value):
        if isinstance(value, int) and not 0 <= value <= 1_000:
            raise ValueError("a question number is between 1 and the number of questions")
        return value


class SurveyQuestionIO(Schema):
    text: str = Field(..., min_length=1, max_length=300)
    kind: KindName
    required: bool = True
    scale_max: int = Field(5, ge=2, le=actions.MAX_SCALE, description="a scale question's N (answers 1…N)")
    attribute: str | None = Field(None, max_length=50, description="a declared profile attribute the answer sets")
    tag_group: str = Field("", max_length=100)
    options: list[SurveyOptionIO] = Field(default_factory=list, max_length=actions.MAX_OPTIONS)


class SurveyOut(Schema):
    id: int
    title: str
    intro: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    reward_note: str
    allow_multiple: bool
    path: str = Field(description="the member centre's page of the survey: the link any channel sends")
    responses: int
    questions: list[SurveyQuestionIO]
    question_ids: list[int] = Field(description="the ids answers are keyed by, in the questions' order")
    option_ids: list[list[int]] = Field(description="per question, its options' ids in order")
    created_at: datetime
    updated_at: datetime


class SurveyIn(Schema):
    title: str = Field(..., min_length=1, max_length=100)
    intro: str = Field("", max_length=2000)
    reward_note: str = Field("", max_length=200)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    allow_multiple: bool = False
    questions: list[SurveyQuestionIO] = Field(default_factory=list, max_length=actions.MAX_QUESTIONS)

    _offset = field_validator("opens_at", "closes_at")(refuse_odd_offset)


class SurveyChangeIn(Schema):
    title: str | None = Field(None, min_length=1, max_length=100)
    intro: str | None = Field(None, max_length=2000)
    reward_note: str | None = Field(None, max_length=200)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    allow_multiple: bool | None = None
    status: Literal["open", "closed"] | None = Field(None, description="open it (collect answers) or close it")
    questions: list[SurveyQuestionIO] | None = Field(None, max_length=actions.MAX_QUESTIONS)

    _offset = field_validator("opens_at", "closes_at")(refuse_odd_offset)


class SurveyResponseOut(Schema):
    id: int
    survey_id: int
    customer_id: int
    answers: dict[str, Any]
    traits: dict[str, Any] = Field(description="the member's traits when they answered")
    submitted_at: datetime


class SurveyResponsePageOut(Schema):
    items: list[SurveyResponseOut]
    total: int
    page: int
    page_size: int


class SurveyResponseIn(Schema):
    customer_id: int = Field(..., ge=1, le=ID_MAX)
    answers: dict[Annotated[str, Field(max_length=20)], Any] = Field(
        ..., description="question id → option id | [option ids] | scale number | text"
    )


class SurveyAnswerRowOut(Schema):
    answer: int | str
    label: str
    count: int
    share: float | None
    by_trait: dict[str, dict[str, int]] | None = None


class SurveyQuestionResultOut(Schema):
    question_id: int
    position: int
    text: str
    kind: str
    kind_label: str
    answered: int
    rows: list[SurveyAnswerRowOut]
    mean: float | None
    texts: list[str]


class SurveyResultsOut(Schema):
    survey_id: int
    title: str
    responses: int
    members: int
    questions: list[SurveyQuestionResultOut]


class SurveyTraitRowOut(Schema):
    bucket: str
    label: str
    count: int
    share: float | None


class SurveyTraitOut(Schema):
    trait: str
    label: str
    rows: list[SurveyTraitRowOut]


class SurveyPersonaOut(Schema):
    survey_id: int
    title: str
    segment_id: int | None
    segment_name: str
    respondents: int
    traits: list[SurveyTraitOut]
    questions: list[SurveyQuestionResultOut]


class ProfileAttributeOut(Schema):
    id: int
    name: str
    description: str


class ProfileAttributeIn(Schema):
    name: str = Field(..., min_length=1, max_length=50)
    description: str = Field("", max_length=200)


def survey_dict(survey: Survey) -> dict:
    questions = list(survey.questions.prefetch_related("options"))
    return {
        "id": survey.pk, "title": survey.title, "intro": survey.intro, "status": survey.status,
        "opens_at": survey.opens_at, "closes_at": survey.closes_at, "reward_note": survey.reward_note,
        "allow_multiple": survey.allow_multiple, "path": queries.survey_path(survey.pk),
        "responses": survey.responses.count(), "questions": actions.questions_spec(survey),
        "question_ids": [q.pk for q in questions], "option_ids": [[o.pk for o in q.options.all()] for q in questions],
        "created_at": survey.created_at, "updated_at": survey.updated_at,
    }  # fmt: skip


def response_dict(response: SurveyResponse) -> dict:
    return {"id": response.pk, "survey_id": response.survey_id, "customer_id": response.customer_id,
            "answers": response.answers, "traits": response.traits, "submitted_at": response.submitted_at}  # fmt: skip


def _questions(body) -> list[dict] | None:
    return None if body.questions is None else [q.dict() for q in body.questions]


@router.get("/surveys", response={200: list[SurveyOut], **READ_ERRORS}, summary="Surveys, newest first")
@roles(*actions.SURVEY_ROLES)
def list_surveys(request):
    return [survey_dict(s) for s in queries.surveys_list()]


@router.post("/surveys", response={201: SurveyOut, **WRITE_ERRORS}, summary="Make a survey (a draft)")
@roles(*actions.SURVEY_ROLES)
def make_survey(request, response: HttpResponse, body: SurveyIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        data = body.dict()
        questions = data.pop("questions")
        return survey_dict(actions.make_survey(request.auth, questions=questions, **data))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/surveys/attributes", response={200: list[ProfileAttributeOut], **READ_ERRORS},
            summary="The profile attributes answers can set")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def list_attributes(request):
    return list(ProfileAttribute.objects.order_by("name").values("id", "name", "description"))


@router.post("/surveys/attributes", response={201: ProfileAttributeOut, **WRITE_ERRORS},
             summary="Declare a profile attribute answers can set")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def declare_attribute(request, response: HttpResponse, body: ProfileAttributeIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        a = actions.declare_attribute(request.auth, body.name, body.description)
        return {"id": a.pk, "name": a.name, "description": a.description}

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/surveys/{survey_id}", response={200: SurveyOut, **LOOKUP_ERRORS}, summary="A survey")
@roles(*actions.SURVEY_ROLES)
def get_survey(request, survey_id: Id):
    return survey_dict(actions.get_survey(survey_id))


@router.post("/surveys/{survey_id}", response={200: SurveyOut, **WRITE_ERRORS},
             summary="Change a survey: its settings, its questions (until someone answers), open or close it")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def change_survey(request, response: HttpResponse, survey_id: Id, body: SurveyChangeIn,
                  idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        changes = body.dict(exclude_unset=True)
        status = changes.pop("status", None)
        changes.pop("questions", None)
        survey = actions.change_survey(request.auth, survey_id, questions=_questions(body), **changes)
        if status == "open":
            survey = actions.open_survey(request.auth, survey.pk)
        elif status == "closed":
            survey = actions.close_survey(request.auth, survey.pk)
        return survey_dict(survey)

    return run_once(request, response, idempotency_key, body, run)


@router.get("/surveys/{survey_id}/responses", response={200: SurveyResponsePageOut, **LOOKUP_ERRORS},
            summary="A survey's responses, newest first")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def list_responses(request, survey_id: Id, page: Page = 1, page_size: PageSize = 50):
    found = queries.responses_of(survey_id, page, page_size)
    return {**found, "items": [response_dict(r) for r in found["items"]]}


@router.post("/surveys/{survey_id}/responses", response={201: SurveyResponseOut, **WRITE_ERRORS},
             summary="Submit a member's answers on their behalf (checked against the questions and branching)")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def submit_response(request, response: HttpResponse, survey_id: Id, body: SurveyResponseIn,
                    idempotency_key: IdempotencyKeyHeader):  # fmt: skip

    def run():
        key = f"api:{request.auth.pk}:{idempotency_key.strip()}"[:200]
        return response_dict(actions.record_response(survey_id, body.customer_id, body.answers, key=key))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/surveys/{survey_id}/results", response={200: SurveyResultsOut, **LOOKUP_ERRORS},
            summary="Per question: counts and shares, scale means, text answers")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def survey_results(request, survey_id: Id):
    return queries.results(survey_id)


@router.get("/surveys/{survey_id}/persona", response={200: SurveyPersonaOut, **LOOKUP_ERRORS},
            summary="Persona report: answers and traits side by side for a segment (or everyone who answered)")  # fmt: skip
@roles(*actions.SURVEY_ROLES)
def persona(request, survey_id: Id, segment_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None):
    return queries.persona_report(survey_id, segment_id).as_dict()
