"""The member centre's surveys: the list of surveys a member may answer, and answering one without JavaScript.

How a survey is asked (the choice this page makes):
- a survey without branching (no option jumps or ends the survey) is one form with all its questions, sent
  once;
- a survey with branching is asked one question a page: each page posts its answer with the answers so far
  (a signed, tamper-proof `state`: survey, member, the form token, the answers, the next question), and the
  page works out the next question from the option chosen, so a member only sees the questions on their
  path. Nothing is stored until the last page.
The last post calls surveys.actions.record_response (idempotent by the form's token, so a double tap records
once) and then loyalty's earning.actions.award_for_activity(customer_id, "survey", key="survey:<response>")
(idempotent too), and shows the points earned."""

from __future__ import annotations

import uuid

from django.core import signing
from django.shortcuts import render
from django.utils.translation import gettext as _

from siyu.loyalty.earning import actions as earning_actions
from siyu.members import queries
from siyu.members.auth import member_required
from siyu.members.loyalty_views import TOKEN, member_not_found
from siyu.surveys import actions as survey_actions
from siyu.surveys import queries as survey_queries
from siyu.surveys.errors import AlreadyAnswered, SurveyError, SurveyNotFound
from siyu.surveys.models import Question

STATE_SALT = "siyu.members.survey"
STATE_MAX_AGE = 6 * 3600  # a survey left open longer starts again


@member_required
def surveys(request):
    return render(request, "siyu/members/surveys.html",
                  {"surveys": survey_queries.open_surveys_for(request.member_id)})  # fmt: skip


def branches(questions) -> bool:
    return any(o.jump_to_id or o.ends_survey for q in questions for o in q.options_list)


def _answer_from(post, question) -> object:
    """The member's answer to `question` as the form sent it (surveys.actions checks it)."""
    name = f"q{question.pk}"
    if question.kind == Question.Kind.MULTIPLE:
        return [v for v in post.getlist(name) if v]
    return (post.get(name) or "").strip()


def _next_position(question, answer, questions) -> int | None:
    """The position of the question after `question` answered with `answer` (None: the survey ends)."""
    if question.kind == Question.Kind.SINGLE and str(answer).isdigit():
        chosen = next((o for o in question.options_list if o.pk == int(answer)), None)
        if chosen is not None and chosen.ends_survey:
            return None
        if chosen is not None and chosen.jump_to_id:
            return next(q.position for q in questions if q.pk == chosen.jump_to_id)
    later = [q.position for q in questions if q.position > question.position]
    return min(later) if later else None


def _empty(answer) -> bool:
    return answer in ("", None, [])


def _page(request, member_survey, *, questions, token, answers=None, state="", error="", status=200):
    return render(request, "siyu/members/survey.html", {
        "ms": member_survey, "survey": member_survey.survey, "questions": questions, "token": token,
        "answers": answers or {}, "state": state, "error": error, "one_at_a_time": bool(state),
        "scales": {q.pk: range(1, q.scale_max + 1) for q in questions if q.kind == Question.Kind.SCALE},
    }, status=status)  # fmt: skip


def _response_key(member_id: int, token: str) -> str:
    return f"member:{member_id}:{token}"


def _posted_token(request, member_survey) -> str:
    """The form token of a post: the whole form's `token`, or the one inside a question page's state."""
    state = _read_state(request.POST.get("state") or "", member_survey.survey.pk, request.member_id)
    token = str(state.get("t")) if state else (request.POST.get("token") or "")
    return token if TOKEN.match(token) else ""


def _thanks(request, member_survey, response):
    """Pay the survey's points (once per response: the award is keyed by it) and say thank you."""
    entry = earning_actions.award_for_activity(request.member_id, "survey", key=f"survey:{response.pk}",
                                               source_ref=f"survey:{response.pk}")  # fmt: skip
    return render(request, "siyu/members/survey_done.html",
                  {"survey": member_survey.survey, "points": entry.points if entry is not None else 0})  # fmt: skip


def _finish(request, member_survey, answers: dict, token: str):
    try:
        response = survey_actions.record_response(member_survey.survey.pk, request.member_id, answers,
                                                  key=_response_key(request.member_id, token))  # fmt: skip
    except AlreadyAnswered:
        return render(request, "siyu/members/survey_done.html",
                      {"survey": member_survey.survey, "points": 0, "already": True})  # fmt: skip
    return _thanks(request, member_survey, response)


def _state(survey_id: int, member_id: int, token: str, answers: dict, position: int) -> str:
    return signing.dumps({"s": survey_id, "c": member_id, "t": token, "a": answers, "p": position}, salt=STATE_SALT)


def _read_state(text: str, survey_id: int, member_id: int) -> dict | None:
    try:
        state = signing.loads(text, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(state, dict) or state.get("s") != survey_id or state.get("c") != member_id:
        return None
    return state


@member_required
def survey(request, survey_id: int):
    try:
        member_survey = survey_queries.survey_for_member(survey_id, request.member_id)
    except SurveyNotFound:
        return member_not_found(request)
    questions = member_survey.questions
    if not member_survey.can_answer or not questions:
        if request.method == "POST":  # a double tap on the last page: the first response stands
            done = queries.own_survey_response(request.member_id, _response_key(request.member_id, _posted_token(request, member_survey)))
            if done is not None:
                return _thanks(request, member_survey, done)
        return render(request, "siyu/members/survey.html", {"ms": member_survey, "survey": member_survey.survey})
    if not branches(questions):
        return _whole_form(request, member_survey, questions)
    return _one_at_a_time(request, member_survey, questions)


def _whole_form(request, member_survey, questions):
    if request.method != "POST":
        return _page(request, member_survey, questions=questions, token=uuid.uuid4().hex)
    token = request.POST.get("token") or ""
    answers = {str(q.pk): _answer_from(request.POST, q) for q in questions}
    if not TOKEN.match(token):
        return _page(request, member_survey, questions=questions, token=uuid.uuid4().hex, answers=answers,
                     error=_("This page has expired. Please try again."), status=400)  # fmt: skip
    try:
        return _finish(request, member_survey, {k: v for k, v in answers.items() if not _empty(v)}, token)
    except SurveyError as exc:
        return _page(request, member_survey, questions=questions, token=token, answers=answers, error=str(exc),
                     status=400)  # fmt: skip


def _one_at_a_time(request, member_survey, questions):
    by_position = {q.position: q for q in questions}
    first = min(by_position)
    state = _read_state(request.POST.get("state") or "", member_survey.survey.pk, request.member_id) \
        if request.method == "POST" else None  # fmt: skip
    if state is None or not TOKEN.match(str(state.get("t"))) or state.get("p") not in by_position:
        token = uuid.uuid4().hex
        text = _state(member_survey.survey.pk, request.member_id, token, {}, first)
        error = _("This page has expired. Please try again.") if request.method == "POST" else ""
        return _page(request, member_survey, questions=[by_position[first]], token=token, state=text, error=error,
                     status=400 if error else 200)  # fmt: skip
    question, answers, token = by_position[state["p"]], dict(state["a"]), state["t"]
    answer = _answer_from(request.POST, question)
    if _empty(answer) and question.required:
        return _page(request, member_survey, questions=[question], token=token, state=request.POST["state"],
                     error=_("Please answer this question."), status=400)  # fmt: skip
    if not _empty(answer):
        answers[str(question.pk)] = answer
    following = _next_position(question, answer, questions)
    if following is None:
        try:
            return _finish(request, member_survey, answers, token)
        except SurveyError as exc:  # an answer the survey refuses: ask the question again
            return _page(request, member_survey, questions=[question], token=token, state=request.POST["state"],
                         error=str(exc), status=400)  # fmt: skip
    text = _state(member_survey.survey.pk, request.member_id, token, answers, following)
    return _page(request, member_survey, questions=[by_position[following]], token=token, state=text)
