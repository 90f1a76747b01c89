"""Read side of surveys: what a member may answer, a survey's results, the persona report (answers and
traits side by side for a segment or everyone) and its export, the link a message carries, and the rows the
warehouse mirror of answers reads (answers_since)."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

import ibis
import pyarrow as pa
import xlsxwriter
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.spreadsheet import formula_safe, formula_safe_writer
from siyu.segments.errors import PredictionsNotComputed, TraitsNotComputed
from siyu.segments.prediction_queries import predictions_of
from siyu.segments.queries import get_segment, member_ids, traits_of
from siyu.surveys import labels
from siyu.surveys.actions import accepting, get_survey
from siyu.surveys.errors import SurveyError, SurveyNotFound
from siyu.surveys.models import CustomerAttribute, Option, Question, Survey, SurveyResponse

# --- the link any channel sends ---------------------------------------------------------------------------

MEMBER_SURVEY_PATH = "/m/surveys/{id}/"  # the member centre's survey page (siyu.members, mounted at /m/)
LINK_VARIABLE = "survey_link"


def survey_path(survey_id: int) -> str:
    """The member centre's page of a survey: the link a WeCom message, an SMS or a QR code carries."""
    return MEMBER_SURVEY_PATH.format(id=int(survey_id))


def survey_variables(survey_id: int, base_url: str = "") -> dict[str, str]:
    """The send variables that carry a survey's link: a message whose text says `{survey_link}` and whose
    send is given these variables (a send's `variables`, siyu.engagement.messaging) shows the link.
    `base_url`: the member centre's address as the customer's phone reaches it (https://m.brand.cn)."""
    return {LINK_VARIABLE: base_url.rstrip("/") + survey_path(survey_id)}


# --- the traits kept with a response -----------------------------------------------------------------------

SNAPSHOT_TRAITS = (
    "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_layer", "value_layer",
    "lifecycle_stage", "aipl_stage", "orders_total", "spend_total", "purchase_cycle_days", "due_in_days",
)  # fmt: skip
SNAPSHOT_PREDICTIONS = ("p_purchase", "p_alive", "expected_transactions", "clv")


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def traits_snapshot(customer_id: int) -> dict:
    """The traits the warehouse holds for the customer now (the current traits snapshot: RFM, value layer,
    lifecycle and AIPL stages, computed tags, custom stages; the current predictions: purchase propensity,
    CLV), JSON-ready; {} when neither has been computed or neither holds the customer."""
    out: dict = {}
    try:
        traits = traits_of(customer_id)
    except TraitsNotComputed:
        traits = None
    if traits:
        out["traits_as_of"] = _jsonable(traits["as_of"])
        out.update({name: _jsonable(traits.get(name)) for name in SNAPSHOT_TRAITS})
        out["computed_tags"] = list(traits.get("computed_tags") or [])
        out["stages"] = dict(traits.get("stages") or {})
    try:
        predictions = predictions_of(customer_id)
    except PredictionsNotComputed:
        predictions = None
    if predictions:
        out["predictions_as_of"] = _jsonable(predictions["as_of"])
        out.update({name: _jsonable(predictions.get(name)) for name in SNAPSHOT_PREDICTIONS})
    return out


# --- what a member sees ------------------------------------------------------------------------------------


def _answered(survey_ids, customer_id: int) -> set[int]:
    return set(
        SurveyResponse.objects.filter(survey_id__in=survey_ids, customer_id=customer_id).values_list(
            "survey_id", flat=True
        )
    )


def open_surveys_for(customer_id: int, now: datetime | None = None) -> list[Survey]:
    """The surveys this member may answer now: open, within their window, and not yet answered (unless the
    survey takes more than one response per member). Newest first."""
    now = now or timezone.now()
    candidates = [s for s in Survey.objects.filter(status=Survey.Status.OPEN) if accepting(s, now)]
    answered = _answered([s.pk for s in candidates], int(customer_id))
    return [s for s in candidates if s.allow_multiple or s.pk not in answered]


@dataclass
class MemberSurvey:
    survey: Survey
    questions: list[Question]  # with .options_list: the options in order
    answered: bool  # the member has answered it before
    can_answer: bool  # taking answers now, and this member may give one
    reason: str = ""  # why not, in words

    @property
    def path(self) -> str:
        return survey_path(self.survey.pk)


def survey_for_member(survey_id, customer_id: int, now: datetime | None = None) -> MemberSurvey:
    """A survey as a member sees it: its questions and options in order (branching on the options:
    `jump_to_id`, `ends_survey`), and whether this member can answer it now. A draft is no member's:
    SurveyNotFound."""
    survey = get_survey(survey_id)
    if survey.status == Survey.Status.DRAFT:
        raise SurveyNotFound(_("There is no survey %(id)s.") % {"id": survey_id})
    questions = list(survey.questions.prefetch_related("options"))
    for question in questions:
        question.options_list = list(question.options.all())
    answered = SurveyResponse.objects.filter(survey=survey, customer_id=int(customer_id)).exists()
    reason = ""
    if not accepting(survey, now):
        reason = _("This survey is not taking answers now.")
    elif answered and not survey.allow_multiple:
        reason = _("You have already answered this survey. Thank you!")
    return MemberSurvey(survey, questions, answered, not reason, reason)


# --- the console's lists ------------------------------------------------------------------------------------


def surveys_list() -> list[Survey]:
    """Every survey, newest first, with `.question_count` and `.response_count`."""
    return list(
        Survey.objects.annotate(
            question_count=Count("questions", distinct=True), response_count=Count("responses", distinct=True)
        )
    )


def responses_of(survey_id, page: int = 1, page_size: int = 50) -> dict:
    """One page of a survey's responses, the newest first."""
    survey = get_survey(survey_id)
    found = SurveyResponse.objects.filter(survey=survey).order_by("-submitted_at", "-id")
    total = found.count()
    items = list(found[(page - 1) * page_size : page * page_size])
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def attributes_of(customer_id: int) -> list[CustomerAttribute]:
    """The member's profile attributes set by answers, with the response each came from."""
    return list(CustomerAttribute.objects.filter(customer_id=int(customer_id)).select_related("attribute", "response"))


# --- results --------------------------------------------------------------------------------------------

MAX_TEXTS = 200  # text answers shown per question


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _question_rows(question: Question, values: list) -> dict:
    """The distribution of one question's answers (`values`: the answers of those who answered it)."""
    answered = len(values)
    out = {
        "question_id": question.pk, "position": question.position, "text": question.text, "kind": question.kind,
        "kind_label": labels.kind_label(question.kind), "answered": answered, "rows": [], "mean": None, "texts": [],
    }  # fmt: skip
    if question.kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE):
        counts = Counter(i for v in values for i in (v if isinstance(v, list) else [v]))
        out["rows"] = [
            {"answer": o.pk, "label": o.label, "count": counts[o.pk], "share": _share(counts[o.pk], answered)}
            for o in question.options.all()
        ]
    elif question.kind == Question.Kind.SCALE:
        counts = Counter(int(v) for v in values)
        out["rows"] = [
            {"answer": n, "label": str(n), "count": counts[n], "share": _share(counts[n], answered)}
            for n in range(1, question.scale_max + 1)
        ]
        out["mean"] = round(sum(int(v) for v in values) / answered, 2) if answered else None
    else:
        out["texts"] = [str(v) for v in values[-MAX_TEXTS:]][::-1]
    return out


def _questions(survey: Survey) -> list[Question]:
    return list(survey.questions.prefetch_related("options"))


def results(survey_id) -> dict:
    """Per question: how many answered, the count and share of each option (multiple choice: shares of those
    who answered the question, so they add up to more than 1) or scale value with the mean, the text answers
    (newest first). Every response counts."""
    survey = get_survey(survey_id)
    responses = list(SurveyResponse.objects.filter(survey=survey).order_by("id").values_list("answers", flat=True))
    questions = [
        _question_rows(q, [a[str(q.pk)] for a in responses if str(q.pk) in a]) for q in _questions(survey)
    ]
    members = SurveyResponse.objects.filter(survey=survey).values("customer_id").distinct().count()
    return {"survey_id": survey.pk, "title": survey.title, "responses": len(responses), "members": members,
            "questions": questions}  # fmt: skip


# --- the persona report -------------------------------------------------------------------------------------

TRAIT_BUCKETS = ("rfm_layer", "value_layer", "lifecycle_stage", "aipl_stage", "clv_band")
CLV_EDGES = ((Decimal(200), "0-200"), (Decimal(1000), "200-1000"), (Decimal(5000), "1000-5000"))


def clv_band(value) -> str | None:
    """The band of a predicted CLV (yuan): 0-200, 200-1000, 1000-5000, 5000+ (lower bound included)."""
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    for edge, band in CLV_EDGES:
        if amount < edge:
            return band
    return "5000+"


def bucket_of(traits: dict, trait: str) -> str | None:
    """The bucket of a response's traits snapshot for `trait` (None: not known)."""
    if trait == "clv_band":
        return clv_band(traits.get("clv"))
    value = traits.get(trait)
    return str(value) if value not in (None, "") else None


def _in_segment(customer_ids: list[int], segment_id: int) -> set[int]:
    """Those of `customer_ids` who are members of the segment (its stored members)."""
    if not customer_ids:
        return set()
    ids = ibis.memtable(pa.table({"customer_id": pa.array(sorted(customer_ids), pa.int64())}))
    found = ids.semi_join(member_ids(segment_id), "customer_id")
    return set(found.customer_id.to_pyarrow().to_pylist())


@dataclass
class PersonaReport:
    survey_id: int
    title: str
    segment_id: int | None
    segment_name: str
    respondents: int
    traits: list[dict] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def persona_report(survey_id, segment_id: int | None = None) -> PersonaReport:
    """Answers and traits side by side for the respondents in a segment (None: everyone who answered). Each
    member counts once, with their latest response and the traits kept with it (what they were when they
    answered). `traits`: each trait's distribution over the respondents; `questions`: each question's
    distribution (as `results`), and for each answer `by_trait` {trait: {bucket: respondents}}, the
    respondents who gave that answer, by bucket. Buckets: the traits' codes, None → "" (not known)."""
    survey = get_survey(survey_id)
    segment_name = ""
    if segment_id is not None:
        segment_name = get_segment(segment_id).name
    latest: dict[int, SurveyResponse] = {}
    for response in SurveyResponse.objects.filter(survey=survey).order_by("id").only("customer_id", "answers", "traits"):
        latest[response.customer_id] = response
    if segment_id is not None:
        members = _in_segment(list(latest), segment_id)
        latest = {cid: r for cid, r in latest.items() if cid in members}
    responses = [latest[cid] for cid in sorted(latest)]
    total = len(responses)
    traits = []
    for trait in TRAIT_BUCKETS:
        counts = Counter(bucket_of(r.traits or {}, trait) or "" for r in responses)
        traits.append({
            "trait": trait, "label": labels.trait_label(trait),
            "rows": [{"bucket": b, "label": labels.trait_value_label(trait, b), "count": c, "share": _share(c, total)}
                     for b, c in sorted(counts.items(), key=lambda bc: (-bc[1], bc[0]))],
        })  # fmt: skip
    questions = []
    for question in _questions(survey):
        key = str(question.pk)
        answering = [r for r in responses if key in r.answers]
        out = _question_rows(question, [r.answers[key] for r in answering])
        by_answer: dict = defaultdict(lambda: defaultdict(Counter))
        for r in answering:
            value = r.answers[key]
            for answer in value if isinstance(value, list) else [value]:
                for trait in TRAIT_BUCKETS:
                    by_answer[answer][trait][bucket_of(r.traits or {}, trait) or ""] += 1
        for row in out["rows"]:
            row["by_trait"] = {t: dict(by_answer[row["answer"]][t]) for t in TRAIT_BUCKETS}
        questions.append(out)
    return PersonaReport(survey.pk, survey.title, segment_id, segment_name, total, traits, questions)


# --- the persona report as a file ---------------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
def persona_table(report: PersonaReport) -> tuple[list[str], list[list]]:
    """The report as one long table a person pivots: a row per answer (all respondents), per answer and trait
    bucket, and per trait bucket (the respondents' traits); text answers one per row."""
    header = [_("Question no."), _("Question"), _("Answer"), _("Trait"), _("Bucket"), _("Respondents"), _("Share")]
    everyone = _("All respondents")
    rows: list[list] = []
    for q in report.questions:
        for row in q["rows"]:
            rows.append([q["position"], q["text"], row["label"], everyone, "", row["count"], row["share"]])
            for trait, buckets in row["by_trait"].items():
                for bucket, count in sorted(buckets.items()):
                    rows.append([q["position"], q["text"], row["label"], labels.trait_label(trait),
                                 labels.trait_value_label(trait, bucket), count, _share(count, row["count"])])  # fmt: skip
        for text in q["texts"]:
            rows.append([q["position"], q["text"], text, everyone, "", 1, None])
    for trait in report.traits:
        for row in trait["rows"]:
            rows.append(["", "", "", trait["label"], row["label"], row["count"], row["share"]])
    return [formula_safe(c) for c in header], [[formula_safe(c) for c in row] for row in rows]


def export_persona(report: PersonaReport, fmt: str) -> tuple[bytes, str]:
    """(file bytes, file name) of a persona report: CSV (UTF-8 with BOM so Excel reads Chinese) or XLSX;
    no cell is a formula."""
    header, rows = persona_table(report)
    stem = f"siyu-survey-{report.survey_id}-persona" + (f"-segment-{report.segment_id}" if report.segment_id else "")
    if fmt == "csv":
        out = io.StringIO()
        writer = formula_safe_writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8"), f"{stem}.csv"
    if fmt == "xlsx":
        buffer = io.BytesIO()
        book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
        sheet = book.add_worksheet(_("Persona")[:31])
        sheet.write_row(0, 0, header)
        for number, row in enumerate(rows, start=1):
            sheet.write_row(number, 0, row)
        book.close()
        return buffer.getvalue(), f"{stem}.xlsx"
    raise SurveyError(_("Export as CSV or XLSX."))


# --- the rows the warehouse mirror of answers reads ---------------------------------------------------------

MIRROR_BATCH = 10_000


def answers_since(watermark: int = 0, limit: int = MIRROR_BATCH) -> list[dict]:
    """One row per answer of the responses with an id above `watermark` (at most `limit` responses, in id
    order; the next watermark is the largest `response_id` returned): response_id, customer_id, survey_id,
    question_id, kind, option_ids (choice questions), values (the option labels, the scale number or the
    text, as texts), submitted_at (UTC)."""
    responses = list(
        SurveyResponse.objects.filter(pk__gt=int(watermark)).order_by("pk")[: max(int(limit), 1)]
    )
    question_ids = {int(k) for r in responses for k in r.answers}
    kinds = dict(Question.objects.filter(pk__in=question_ids).values_list("pk", "kind"))
    options = dict(Option.objects.filter(question_id__in=question_ids).values_list("pk", "label"))
    rows = []
    for r in responses:
        for key, value in r.answers.items():
            kind = kinds.get(int(key))
            if kind is None:
                continue
            choice = kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE)
            ids = [int(i) for i in (value if isinstance(value, list) else [value])] if choice else []
            rows.append({
                "response_id": r.pk, "customer_id": r.customer_id, "survey_id": r.survey_id,
                "question_id": int(key), "kind": kind, "option_ids": ids,
                "values": [options.get(i, "") for i in ids] if choice else [str(value)],
                "submitted_at": r.submitted_at,
            })  # fmt: skip
    return rows



def person_answers(customer_id: int) -> list[dict]:
    """Every answer the customer gave, oldest first, with the survey's title and the question's words, for
    the person's copy of their data (siyu.privacy.registry)."""
    responses = list(SurveyResponse.objects.filter(customer_id=int(customer_id)).select_related("survey").order_by("pk"))
    question_ids = {int(k) for r in responses for k in r.answers if str(k).isdigit()}
    questions = {q.pk: q for q in Question.objects.filter(pk__in=question_ids)}
    options = dict(Option.objects.filter(question_id__in=question_ids).values_list("pk", "label"))
    rows = []
    for r in responses:
        for key, value in r.answers.items():
            question = questions.get(int(key)) if str(key).isdigit() else None
            if question is None:
                continue
            if question.kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE):
                chosen = value if isinstance(value, list) else [value]
                answer = "、".join(options.get(int(i), str(i)) for i in chosen)
            else:
                answer = str(value)
            rows.append({"survey": r.survey.title, "question": question.text, "answer": answer,
                         "submitted_at": r.submitted_at})  # fmt: skip
    return rows
