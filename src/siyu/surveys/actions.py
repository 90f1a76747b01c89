"""Every state change of surveys: declaring profile attributes, making and changing surveys (their questions,
options, branching and mappings), opening and closing them, and recording a member's response (which applies
the answers' mappings to attributes and tags).

A survey's questions are given as a list of plain dicts (the API's, the console builder's and the tests'):

    {"text": "您的肤质是？", "kind": "single" | "multiple" | "scale" | "text", "required": True,
     "scale_max": 5,                  # a scale question's N (answers 1…N)
     "attribute": "肤质" | None,       # a declared ProfileAttribute the answer sets
     "tag_group": "肤质" | "",         # the group of the options' tags
     "options": [{"label": "油性", "tag": "油皮" | "", "jump": None | 4 | "end"}, …]}

`jump` (single choice only): the number (1-based) of a LATER question, or "end". Jumps only go forward, so a
survey has no cycle; a jump backwards or onto its own question is refused in words.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.customers.actions import add_tag
from siyu.customers.queries import CUSTOMER_ID_MAX, require_customers
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.surveys.errors import AlreadyAnswered, SurveyError, SurveyNotFound
from siyu.surveys.models import CustomerAttribute, Option, ProfileAttribute, Question, Survey, SurveyResponse

# Who may make, change, open and close surveys and declare attributes.
SURVEY_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
MAX_QUESTIONS = 100
MAX_OPTIONS = 50
MAX_SCALE = 10
MAX_TEXT_ANSWER = 2000
END = "end"
CHOICE_KINDS = (Question.Kind.SINGLE, Question.Kind.MULTIPLE)


def _require_editor(actor) -> None:
    if actor is not None and not has_role(actor, SURVEY_ROLES):
        raise PermissionDenied(_("Only admins and operators may make and change surveys."))


def _text(value, limit: int, what: str, *, required: bool = True) -> str:
    text = str(value or "").replace("\x00", "")
    # a long text keeps its lines; a short one (a title, a label) is one line
    text = text.strip() if limit > 300 else " ".join(text.split())
    if required and not text:
        raise SurveyError(_("%(what)s is empty.") % {"what": what})
    if len(text) > limit:
        raise SurveyError(_("%(what)s is longer than %(limit)s characters.") % {"what": what, "limit": limit})
    return text


def get_survey(survey_id) -> Survey:
    try:
        return Survey.objects.get(pk=int(survey_id))
    except (Survey.DoesNotExist, ValueError, TypeError, OverflowError):
        raise SurveyNotFound(_("There is no survey %(id)s.") % {"id": survey_id}) from None


# --- profile attributes ------------------------------------------------------------------------------


def declare_attribute(actor, name: str, description: str = "") -> ProfileAttribute:
    """Declare a profile attribute answers can set (idempotent on the name)."""
    _require_editor(actor)
    name = _text(name, 50, _("The attribute's name"))
    description = _text(description, 200, _("The description"), required=False)
    attribute, created = ProfileAttribute.objects.get_or_create(name=name, defaults={"description": description})
    if not created and description and attribute.description != description:
        attribute.description = description
        attribute.save(update_fields=["description"])
    if created:
        record_audit(actor, "declare_profile_attribute", name)
    return attribute


# --- questions: checking a survey's definition -------------------------------------------------------


def _jump(value, number: int, count: int, option: str) -> int | str | None:
    """A checked jump of option `option` of question `number` (of `count`)."""
    if value in (None, "", "next"):
        return None
    if value == END:
        return END
    try:
        target = int(value)
    except (TypeError, ValueError):
        raise SurveyError(
            _("Question %(n)s, option “%(option)s”: a jump goes to a question number or to the end.")
            % {"n": number, "option": option}
        ) from None
    if target <= number:
        raise SurveyError(
            _("Question %(n)s, option “%(option)s” jumps to question %(target)s: a jump can only go to a "
              "later question (or to the end), so that no member goes round in a circle.")
            % {"n": number, "option": option, "target": target}
        )  # fmt: skip
    if target > count:
        raise SurveyError(
            _("Question %(n)s, option “%(option)s” jumps to question %(target)s, but the survey has %(count)s "
              "questions.") % {"n": number, "option": option, "target": target, "count": count}
        )  # fmt: skip
    return target


def clean_questions(questions) -> list[dict]:
    """The questions checked and normalised (see the module docstring); SurveyError in words naming the
    question and option at fault."""
    if not isinstance(questions, list | tuple):
        raise SurveyError(_("The questions must be a list."))
    if len(questions) > MAX_QUESTIONS:
        raise SurveyError(_("A survey has at most %(max)s questions.") % {"max": MAX_QUESTIONS})
    attributes = {a.name: a for a in ProfileAttribute.objects.all()}
    count = len(questions)
    out = []
    for number, spec in enumerate(questions, start=1):
        if not isinstance(spec, dict):
            raise SurveyError(_("Question %(n)s is not a question.") % {"n": number})
        kind = spec.get("kind")
        if kind not in Question.Kind.values:
            raise SurveyError(_("Question %(n)s: choose single choice, multiple choice, scale or text.") % {"n": number})
        text = _text(spec.get("text"), 300, _("The text of question %(n)s") % {"n": number})
        attribute = (spec.get("attribute") or "").strip() if isinstance(spec.get("attribute") or "", str) else None
        if attribute is None or (attribute and attribute not in attributes):
            raise SurveyError(
                _("Question %(n)s maps to the attribute “%(name)s”, which is not declared: declare it under "
                  "profile attributes first.") % {"n": number, "name": spec.get("attribute")}
            )  # fmt: skip
        tag_group = _text(spec.get("tag_group"), 100, _("The tag group"), required=False)
        if ":" in tag_group:
            raise SurveyError(_("Question %(n)s: a tag group's name has no colon.") % {"n": number})
        try:
            scale_max = int(spec.get("scale_max") or 5)
        except (TypeError, ValueError):
            scale_max = 0
        if kind == Question.Kind.SCALE and not 2 <= scale_max <= MAX_SCALE:
            raise SurveyError(_("Question %(n)s: a scale goes from 1 to between 2 and %(max)s.") % {"n": number, "max": MAX_SCALE})
        options = spec.get("options") or []
        if not isinstance(options, list | tuple):
            raise SurveyError(_("Question %(n)s: the options must be a list.") % {"n": number})
        if kind in CHOICE_KINDS and not 2 <= len(options) <= MAX_OPTIONS:
            raise SurveyError(
                _("Question %(n)s: a choice question has between 2 and %(max)s options.") % {"n": number, "max": MAX_OPTIONS}
            )
        if kind not in CHOICE_KINDS and options:
            raise SurveyError(_("Question %(n)s: only choice questions have options.") % {"n": number})
        cleaned_options, labels = [], set()
        for option in options:
            if not isinstance(option, dict):
                raise SurveyError(_("Question %(n)s: an option is not an option.") % {"n": number})
            option_label = _text(option.get("label"), 100, _("An option of question %(n)s") % {"n": number})
            if option_label in labels:
                raise SurveyError(_("Question %(n)s has the option “%(option)s” twice.") % {"n": number, "option": option_label})
            labels.add(option_label)
            tag = _text(option.get("tag"), 100, _("A tag"), required=False)
            if ":" in tag:
                raise SurveyError(_("Question %(n)s: a tag's name has no colon; give the group as the tag group.") % {"n": number})
            jump = _jump(option.get("jump"), number, count, option_label)
            if jump is not None and kind != Question.Kind.SINGLE:
                raise SurveyError(
                    _("Question %(n)s: only the options of a single-choice question can jump.") % {"n": number}
                )
            cleaned_options.append({"label": option_label, "tag": tag, "jump": jump})
        out.append({
            "text": text, "kind": kind, "required": bool(spec.get("required", True)),
            "scale_max": scale_max if kind == Question.Kind.SCALE else 5,
            "attribute": attribute or None, "tag_group": tag_group, "options": cleaned_options,
        })  # fmt: skip
    return out


def _write_questions(survey: Survey, questions: list[dict]) -> None:
    """Replace the survey's questions (checked by clean_questions)."""
    survey.questions.all().delete()
    attributes = {a.name: a for a in ProfileAttribute.objects.filter(name__in={q["attribute"] for q in questions if q["attribute"]})}
    made = [
        Question.objects.create(
            survey=survey, position=number, kind=q["kind"], text=q["text"], required=q["required"],
            scale_max=q["scale_max"], attribute=attributes.get(q["attribute"]), tag_group=q["tag_group"],
        )
        for number, q in enumerate(questions, start=1)
    ]  # fmt: skip
    Option.objects.bulk_create(
        Option(
            question=question, position=position, label=o["label"], tag=o["tag"],
            jump_to=made[o["jump"] - 1] if isinstance(o["jump"], int) else None, ends_survey=o["jump"] == END,
        )
        for question, q in zip(made, questions, strict=True)
        for position, o in enumerate(q["options"], start=1)
    )  # fmt: skip


def questions_spec(survey: Survey) -> list[dict]:
    """The survey's questions in the form make_survey and change_survey take (the builder edits this)."""
    questions = list(survey.questions.select_related("attribute").prefetch_related("options__jump_to"))
    return [
        {
            "text": q.text, "kind": q.kind, "required": q.required, "scale_max": q.scale_max,
            "attribute": q.attribute.name if q.attribute_id else None, "tag_group": q.tag_group,
            "options": [
                {"label": o.label, "tag": o.tag,
                 "jump": END if o.ends_survey else (o.jump_to.position if o.jump_to_id else None)}
                for o in q.options.all()
            ],
        }
        for q in questions
    ]  # fmt: skip


# --- surveys -----------------------------------------------------------------------------------------


def _window(opens_at, closes_at) -> None:
    for value in (opens_at, closes_at):
        if value is not None and (not isinstance(value, datetime) or timezone.is_naive(value)):
            raise SurveyError(_("A survey's window is given in times with a time zone."))
    if opens_at and closes_at and closes_at <= opens_at:
        raise SurveyError(_("The survey closes before it opens."))


SETTINGS = ("title", "intro", "reward_note", "opens_at", "closes_at", "allow_multiple")


def _apply_settings(survey: Survey, changes: dict) -> None:
    if "title" in changes:
        survey.title = _text(changes["title"], 100, _("The title"))
    if "intro" in changes:
        survey.intro = _text(changes["intro"], 2000, _("The introduction"), required=False)
    if "reward_note" in changes:
        survey.reward_note = _text(changes["reward_note"], 200, _("The reward note"), required=False)
    for name in ("opens_at", "closes_at"):
        if name in changes:
            setattr(survey, name, changes[name])
    if "allow_multiple" in changes:
        survey.allow_multiple = bool(changes["allow_multiple"])
    _window(survey.opens_at, survey.closes_at)


@transaction.atomic
def make_survey(actor, *, title: str, questions=(), **settings) -> Survey:
    """A new draft survey with its questions (see the module docstring)."""
    _require_editor(actor)
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise SurveyError(f"unknown survey settings: {', '.join(sorted(unknown))}")
    cleaned = clean_questions(list(questions))
    survey = Survey(created_by=actor if actor is not None and actor.is_authenticated else None)
    _apply_settings(survey, {"title": title, **settings})
    survey.save()
    _write_questions(survey, cleaned)
    record_audit(actor, "make_survey", survey.title, survey_id=survey.pk, questions=len(cleaned))
    return survey


@transaction.atomic
def change_survey(actor, survey_id, *, questions=None, **changes) -> Survey:
    """Change a survey's settings and/or replace its questions. The questions can change only while nobody
    has answered (their answers name the questions)."""
    _require_editor(actor)
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise SurveyError(f"unknown survey settings: {', '.join(sorted(unknown))}")
    survey = Survey.objects.select_for_update().filter(pk=get_survey(survey_id).pk).get()
    _apply_settings(survey, changes)
    survey.save()
    if questions is not None:
        if survey.responses.exists():
            raise SurveyError(
                _("Members have answered this survey, so its questions can no longer change; make a new survey.")
            )
        cleaned = clean_questions(list(questions))
        if survey.status == Survey.Status.OPEN and not cleaned:
            raise SurveyError(_("An open survey needs at least one question."))
        _write_questions(survey, cleaned)
    record_audit(actor, "change_survey", survey.title, survey_id=survey.pk)
    return survey


@transaction.atomic
def open_survey(actor, survey_id) -> Survey:
    """Start collecting answers (within the survey's window)."""
    _require_editor(actor)
    survey = Survey.objects.select_for_update().filter(pk=get_survey(survey_id).pk).get()
    if not survey.questions.exists():
        raise SurveyError(_("A survey needs at least one question before it opens."))
    if survey.closes_at and survey.closes_at <= timezone.now():
        raise SurveyError(_("The survey's closing time has passed; change it before opening the survey."))
    if survey.status != Survey.Status.OPEN:
        survey.status = Survey.Status.OPEN
        survey.save(update_fields=["status", "updated_at"])
        record_audit(actor, "open_survey", survey.title, survey_id=survey.pk)
    return survey


@transaction.atomic
def close_survey(actor, survey_id) -> Survey:
    """Stop collecting answers; the answers stay."""
    _require_editor(actor)
    survey = Survey.objects.select_for_update().filter(pk=get_survey(survey_id).pk).get()
    if survey.status != Survey.Status.CLOSED:
        survey.status = Survey.Status.CLOSED
        survey.save(update_fields=["status", "updated_at"])
        record_audit(actor, "close_survey", survey.title, survey_id=survey.pk)
    return survey


# --- answering ---------------------------------------------------------------------------------------


def accepting(survey: Survey, now: datetime | None = None) -> bool:
    """Does the survey take answers now: open, and within its window."""
    now = now or timezone.now()
    return (
        survey.status == Survey.Status.OPEN
        and (survey.opens_at is None or survey.opens_at <= now)
        and (survey.closes_at is None or now < survey.closes_at)
    )


def _option_ids(value, question: Question, options: dict[int, Option]) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    ids = []
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).strip().isdigit():
            raise SurveyError(_("Question %(n)s: choose one of its options.") % {"n": question.position})
        option_id = int(item)
        if option_id not in options:
            raise SurveyError(_("Question %(n)s: that is not one of its options.") % {"n": question.position})
        if option_id not in ids:
            ids.append(option_id)
    return ids


def _answer(question: Question, value, options: dict[int, Option]):
    """The checked answer to one question (None: not answered)."""
    if value is None or value == "" or value == []:
        return None
    if question.kind == Question.Kind.SINGLE:
        if isinstance(value, list | tuple):
            if len(value) != 1:
                raise SurveyError(_("Question %(n)s takes one option.") % {"n": question.position})
            value = value[0]
        return _option_ids(value, question, options)[0]
    if question.kind == Question.Kind.MULTIPLE:
        return sorted(_option_ids(value, question, options), key=lambda i: options[i].position)
    if question.kind == Question.Kind.SCALE:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise SurveyError(_("Question %(n)s: give a number from 1 to %(max)s.") % {"n": question.position, "max": question.scale_max})
        number = int(value)
        if not 1 <= number <= question.scale_max:
            raise SurveyError(_("Question %(n)s: give a number from 1 to %(max)s.") % {"n": question.position, "max": question.scale_max})
        return number
    if not isinstance(value, str):
        raise SurveyError(_("Question %(n)s takes a text answer.") % {"n": question.position})
    text = value.replace("\x00", "").strip()
    if len(text) > MAX_TEXT_ANSWER:
        raise SurveyError(_("Question %(n)s: at most %(max)s characters.") % {"n": question.position, "max": MAX_TEXT_ANSWER})
    return text or None


def check_answers(survey: Survey, answers) -> dict[str, object]:
    """The answers on the member's path, checked: {question id (text): answer}. Answers are keyed by question
    id; the path starts at question 1 and follows the chosen options' jumps. An answer to a question the
    path skips is dropped (the member was not asked it); a required question on the path must be answered."""
    if not isinstance(answers, dict):
        raise SurveyError(_("The answers must map question ids to answers."))
    questions = list(survey.questions.prefetch_related("options"))
    by_id = {str(q.pk): q for q in questions}
    unknown = [k for k in answers if str(k) not in by_id]
    if unknown:
        raise SurveyError(_("Question %(id)s is not a question of this survey.") % {"id": unknown[0]})
    given = {str(k): v for k, v in answers.items()}
    checked: dict[str, object] = {}
    position = 1
    by_position = {q.position: q for q in questions}
    while position in by_position:
        question = by_position[position]
        options = {o.pk: o for o in question.options.all()}
        value = _answer(question, given.get(str(question.pk)), options)
        if value is None:
            if question.required:
                raise SurveyError(_("Question %(n)s needs an answer.") % {"n": question.position})
            position += 1
            continue
        checked[str(question.pk)] = value
        if question.kind == Question.Kind.SINGLE:
            chosen = options[value]
            if chosen.ends_survey:
                break
            if chosen.jump_to_id:
                position = next(q.position for q in questions if q.pk == chosen.jump_to_id)
                continue
        position += 1
    if not checked:
        raise SurveyError(_("Answer at least one question."))
    return checked


def _key(key) -> str:
    key = str(key or "").strip()
    if not key or len(key) > 200 or "\x00" in key:
        raise SurveyError(_("A response needs a key of 1 to 200 characters."))
    return key


def _snapshot(customer_id: int) -> dict:
    # the traits the warehouse holds for the member now (siyu.surveys.queries reads them)
    from siyu.surveys.queries import traits_snapshot

    return traits_snapshot(customer_id)


def _apply_mappings(response: SurveyResponse, survey: Survey) -> None:
    questions = survey.questions.select_related("attribute").prefetch_related("options")
    for question in questions:
        value = response.answers.get(str(question.pk))
        if value is None:
            continue
        options = {o.pk: o for o in question.options.all()}
        chosen = [options[i] for i in (value if isinstance(value, list) else [value])] if question.kind in CHOICE_KINDS else []
        if question.attribute_id:
            shown = "、".join(o.label for o in chosen) if chosen else str(value)
            CustomerAttribute.objects.update_or_create(
                customer_id=response.customer_id, attribute=question.attribute,
                defaults={"value": shown[:500], "response": response},
            )  # fmt: skip
        for option in chosen:
            if option.tag:
                add_tag(None, [response.customer_id], option.tag, group_name=question.tag_group or None, source="survey")


def record_response(survey_id, customer_id, answers: dict, *, key: str, now: datetime | None = None) -> SurveyResponse:
    """Record a member's answers (checked against the questions and the branching, see check_answers), with
    a snapshot of their traits; apply the answers' mappings (attributes, tags). Idempotent on `key`: a replay
    returns the first response and changes nothing. AlreadyAnswered when the survey takes one response per
    member and this member has given it (under another key)."""
    key = _key(key)
    try:
        customer_id = int(customer_id)
    except (TypeError, ValueError):
        raise SurveyError(_("A customer id is a whole number.")) from None
    if not 0 < customer_id <= CUSTOMER_ID_MAX:
        raise SurveyError(_("A customer id is a positive whole number."))
    existing = SurveyResponse.objects.filter(key=key).first()
    if existing is not None:
        return _replayed(existing, survey_id, customer_id)
    survey = get_survey(survey_id)
    now = now or timezone.now()
    if not accepting(survey, now):
        raise SurveyError(_("This survey is not taking answers now."))
    checked = check_answers(survey, answers)
    require_customers([customer_id])
    traits = _snapshot(customer_id)
    once = not survey.allow_multiple
    try:
        with transaction.atomic():
            if once and SurveyResponse.objects.filter(survey=survey, customer_id=customer_id, once=True).exists():
                raise AlreadyAnswered(_("This member has already answered this survey."))
            response = SurveyResponse.objects.create(
                survey=survey, customer_id=customer_id, answers=checked, traits=traits, key=key, once=once,
                submitted_at=now,
            )  # fmt: skip
            _apply_mappings(response, survey)
    except IntegrityError:
        existing = SurveyResponse.objects.filter(key=key).first()
        if existing is not None:
            return _replayed(existing, survey_id, customer_id)
        raise AlreadyAnswered(_("This member has already answered this survey.")) from None
    return response


def _replayed(existing: SurveyResponse, survey_id, customer_id: int) -> SurveyResponse:
    if str(existing.survey_id) != str(survey_id) or existing.customer_id != customer_id:
        raise SurveyError(_("This key was already used for another response."))
    return existing


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _text_answers(response: SurveyResponse, text_questions: set[str]) -> list[str]:
    return [q for q, value in (response.answers or {}).items() if q in text_questions and value not in ("", None)]


def _person_responses(person):
    responses = list(SurveyResponse.objects.filter(customer_id=person.customer_id))
    ids = {q for r in responses for q in (r.answers or {})}
    text_questions = {str(pk) for pk in Question.objects.filter(pk__in=[int(q) for q in ids if str(q).isdigit()],
                                                                 kind=Question.Kind.TEXT).values_list("pk", flat=True)}  # fmt: skip
    return responses, text_questions


def erase_person_answers(person, request) -> dict:
    """Surveys' part of erasing a person: the words they wrote (text answers) and the traits kept with their
    responses go, and so do their profile attributes; the responses and the options they chose stay, so a
    survey's counts do not change (the customer id behind them can no longer be read as anyone). The
    warehouse's copy of the answers is mirrored again when anything changed."""
    responses, text_questions = _person_responses(person)
    texts = changed = 0
    with transaction.atomic():
        for response in responses:
            written = _text_answers(response, text_questions)
            if written or response.traits:
                response.answers = {**response.answers, **dict.fromkeys(written, "")}
                response.traits = {}
                response.save(update_fields=["answers", "traits"])
                texts += len(written)
                changed += 1
        attributes = CustomerAttribute.objects.filter(customer_id=person.customer_id).delete()[0]
    if texts:
        # imported here for a cycle: the mirror imports queries, which import this module
        from siyu.surveys.mirror import mirror_surveys

        mirror_surveys()
    return {"responses": changed, "text_answers": texts, "attributes": attributes}


def person_answers_left(person) -> int:
    """What erase_person_answers removes that is still there (the erasure scan)."""
    responses, text_questions = _person_responses(person)
    return (sum(len(_text_answers(r, text_questions)) + bool(r.traits) for r in responses)
            + CustomerAttribute.objects.filter(customer_id=person.customer_id).count())  # fmt: skip
