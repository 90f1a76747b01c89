"""Console pages of surveys (/surveys/): the list, the builder (settings; one question at a time with its
options, branching and mappings: plain forms, no JavaScript needed), results, the persona report with its
charts and export, and the profile attributes. Thin: changes go through siyu.surveys.actions, reads come from
siyu.surveys.queries."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import PermissionDenied, SiyuError
from siyu.segments.models import Segment
from siyu.staff.queries import has_role
from siyu.surveys import actions, labels, queries
from siyu.surveys.models import ProfileAttribute
from siyu.web.charts import PALETTE
from siyu.web.views import console_view

EXTRA_OPTION_ROWS = 3  # empty option rows a question form offers


def _require(user) -> None:
    if not has_role(user, actions.SURVEY_ROLES):
        raise PermissionDenied("surveys are for admins and operators")


def _local_input(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def _parse_local(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return timezone.make_aware(datetime.fromisoformat(text))
    except ValueError:
        raise actions.SurveyError(_("Give times as 2026-03-01 09:00.")) from None


@console_view
def surveys(request):
    _require(request.user)
    if request.method == "POST":
        try:
            survey = actions.make_survey(request.user, title=request.POST.get("title", ""))
        except SiyuError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Survey made. Add its questions."))
            return redirect("console:survey", survey.pk)
    rows = [{"survey": s, "status": labels.status_label(s.status)} for s in queries.surveys_list()]
    return render(request, "siyu/surveys/list.html", {"rows": rows})


def _jump_words(option) -> str:
    if option.ends_survey:
        return _("ends the survey")
    if option.jump_to_id:
        return _("jumps to question %(n)s") % {"n": option.jump_to.position}
    return ""


@console_view
def survey(request, survey_id: int):
    _require(request.user)
    found = actions.get_survey(survey_id)
    if request.method == "POST":
        try:
            what = request.POST.get("do")
            if what == "open":
                actions.open_survey(request.user, found.pk)
                messages.success(request, _("The survey is collecting answers."))
            elif what == "close":
                actions.close_survey(request.user, found.pk)
                messages.success(request, _("The survey is closed; its answers stay."))
            else:
                actions.change_survey(
                    request.user, found.pk, title=request.POST.get("title", ""), intro=request.POST.get("intro", ""),
                    reward_note=request.POST.get("reward_note", ""), allow_multiple=bool(request.POST.get("allow_multiple")),
                    opens_at=_parse_local(request.POST.get("opens_at", "")),
                    closes_at=_parse_local(request.POST.get("closes_at", "")),
                )  # fmt: skip
                messages.success(request, _("Survey saved."))
        except SiyuError as exc:
            messages.error(request, str(exc))
        return redirect("console:survey", found.pk)
    questions = list(found.questions.select_related("attribute").prefetch_related("options__jump_to"))
    rows = [
        {"question": q, "kind": labels.kind_label(q.kind),
         "options": [{"option": o, "jump": _jump_words(o)} for o in q.options.all()]}
        for q in questions
    ]  # fmt: skip
    return render(request, "siyu/surveys/builder.html", {
        "survey": found, "status": labels.status_label(found.status), "rows": rows,
        "editable": not found.responses.exists(), "opens_at": _local_input(found.opens_at),
        "closes_at": _local_input(found.closes_at), "path": queries.survey_path(found.pk),
        "link_variable": "{" + queries.LINK_VARIABLE + "}",
    })  # fmt: skip


def _question_from_post(post, option_rows: int) -> dict:
    options = []
    for i in range(option_rows):
        label = (post.get(f"option_label_{i}") or "").strip()
        if not label:
            continue
        jump = post.get(f"option_jump_{i}") or None
        options.append({"label": label, "tag": post.get(f"option_tag_{i}", ""),
                        "jump": int(jump) if jump and jump.isdigit() else jump})  # fmt: skip
    kind = post.get("kind", "")
    try:
        scale_max = int(post.get("scale_max") or 5)
    except ValueError:
        scale_max = 0
    return {
        "text": post.get("text", ""), "kind": kind, "required": bool(post.get("required")), "scale_max": scale_max,
        "attribute": post.get("attribute") or None, "tag_group": post.get("tag_group", ""),
        "options": options if kind in actions.CHOICE_KINDS else [],
    }  # fmt: skip


def _question_page(request, found, number: int | None):
    _require(request.user)
    spec = actions.questions_spec(found)
    if number is not None and not 1 <= number <= len(spec):
        raise actions.SurveyNotFound(_("There is no question %(n)s.") % {"n": number})
    current = spec[number - 1] if number else {"text": "", "kind": "single", "required": True, "scale_max": 5,
                                               "attribute": None, "tag_group": "", "options": []}  # fmt: skip
    option_rows = len(current["options"]) + EXTRA_OPTION_ROWS
    if request.method == "POST":
        option_rows = min(int(request.POST.get("option_rows") or option_rows), actions.MAX_OPTIONS + EXTRA_OPTION_ROWS) \
            if (request.POST.get("option_rows") or "").isdigit() else option_rows  # fmt: skip
        current = _question_from_post(request.POST, option_rows)
        changed = [*spec]
        if number:
            changed[number - 1] = current
        else:
            changed.append(current)
        try:
            actions.change_survey(request.user, found.pk, questions=changed)
        except SiyuError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Question saved."))
            return redirect("console:survey", found.pk)
    position = number or len(spec) + 1
    later = [(n, f"{n}. {q['text']}") for n, q in enumerate(spec, start=1) if n > position]
    options = [*current["options"], *({"label": "", "tag": "", "jump": None} for _ in range(EXTRA_OPTION_ROWS))]
    return render(request, "siyu/surveys/question.html", {
        "survey": found, "number": number, "position": position, "q": current, "options": options,
        "option_rows": len(options), "later": later, "kinds": list(labels.KINDS.items()),
        "attributes": list(ProfileAttribute.objects.order_by("name")), "editable": not found.responses.exists(),
    }, status=400 if request.method == "POST" else 200)  # fmt: skip


@console_view
def survey_question(request, survey_id: int, number: int):
    return _question_page(request, actions.get_survey(survey_id), number)


@console_view
def survey_question_new(request, survey_id: int):
    return _question_page(request, actions.get_survey(survey_id), None)


@console_view
@require_POST
def survey_question_delete(request, survey_id: int, number: int):
    _require(request.user)
    found = actions.get_survey(survey_id)
    spec = actions.questions_spec(found)
    if 1 <= number <= len(spec):
        del spec[number - 1]
        # jumps past the removed question move up one; a jump onto it goes to the question after it
        for q in spec:
            for o in q["options"]:
                if isinstance(o["jump"], int) and o["jump"] > number:
                    o["jump"] -= 1
                elif o["jump"] == number:
                    o["jump"] = number if number <= len(spec) else actions.END
        try:
            actions.change_survey(request.user, found.pk, questions=spec)
        except SiyuError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Question removed."))
    return redirect("console:survey", found.pk)


# --- results and persona ------------------------------------------------------------------------------------


def _bar_chart(chart_id: str, title: str, categories: list[str], series: dict[str, list], *, stack=False) -> dict:
    option = {
        "color": PALETTE, "tooltip": {"trigger": "axis"}, "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 48, "right": 24, "top": 40, "bottom": 60, "containLabel": True},
        "xAxis": {"type": "category", "data": categories, "axisLabel": {"interval": 0, "rotate": 20 if len(categories) > 4 else 0}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"name": name, "type": "bar", "data": values, **({"stack": "all"} if stack else {})}
                   for name, values in series.items()],
    }  # fmt: skip
    return {"id": chart_id, "option_id": f"{chart_id}-option", "title": title, "option": option}


@console_view
def survey_results(request, survey_id: int):
    _require(request.user)
    found = queries.results(survey_id)
    charts = {
        q["question_id"]: _bar_chart(f"chart-q{q['position']}", f"{q['position']}. {q['text']}",
                                     [r["label"] for r in q["rows"]], {_("Answers"): [r["count"] for r in q["rows"]]})
        for q in found["questions"] if q["rows"]
    }  # fmt: skip
    for q in found["questions"]:
        q["chart"] = charts.get(q["question_id"])
    return render(request, "siyu/surveys/results.html", {"survey": actions.get_survey(survey_id), "results": found})


def _segment_id(request) -> int | None:
    value = request.GET.get("segment") or ""
    return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None


@console_view
def survey_persona(request, survey_id: int):
    _require(request.user)
    found = actions.get_survey(survey_id)
    segment_id = _segment_id(request)
    report = queries.persona_report(found.pk, segment_id)
    trait = request.GET.get("trait") if request.GET.get("trait") in queries.TRAIT_BUCKETS else "rfm_layer"
    trait_charts = [
        _bar_chart(f"chart-trait-{t['trait']}", t["label"], [r["label"] for r in t["rows"]],
                   {_("Respondents"): [r["count"] for r in t["rows"]]})
        for t in report.traits
    ]  # fmt: skip
    buckets = next(t for t in report.traits if t["trait"] == trait)["rows"]
    question_charts = []
    for q in report.questions:
        if not q["rows"]:
            continue
        series = {b["label"]: [r["by_trait"][trait].get(b["bucket"], 0) for r in q["rows"]] for b in buckets}
        question_charts.append(_bar_chart(f"chart-persona-q{q['position']}", f"{q['position']}. {q['text']}",
                                          [r["label"] for r in q["rows"]], series, stack=True))  # fmt: skip
    return render(request, "siyu/surveys/persona.html", {
        "survey": found, "report": report, "trait_charts": trait_charts, "question_charts": question_charts,
        "segments": list(Segment.objects.order_by("name").values("pk", "name")), "segment_id": segment_id,
        "traits": [(t, labels.trait_label(t)) for t in queries.TRAIT_BUCKETS], "trait": trait,
        "trait_label": labels.trait_label(trait),
    })  # fmt: skip


@console_view
def survey_persona_export(request, survey_id: int):
    _require(request.user)
    fmt = request.GET.get("format") if request.GET.get("format") in queries.EXPORT_FORMATS else "csv"
    report = queries.persona_report(survey_id, _segment_id(request))
    data, name = queries.export_persona(report, fmt)
    response = HttpResponse(data, content_type=queries.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@console_view
def survey_attributes(request):
    _require(request.user)
    if request.method == "POST":
        try:
            actions.declare_attribute(request.user, request.POST.get("name", ""), request.POST.get("description", ""))
        except SiyuError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Profile attribute added."))
        return redirect("console:survey_attributes")
    return render(request, "siyu/surveys/attributes.html", {"attributes": ProfileAttribute.objects.order_by("name")})

