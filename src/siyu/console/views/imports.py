"""Import channel files, run identity resolution, follow jobs and fetch an import's rejected rows."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console import labels
from siyu.console.forms import ImportForm
from siyu.console.templatetags.siyu_console import day
from siyu.core.actions import record_audit, settle_lost_jobs
from siyu.core.labels import label
from siyu.core.models import Job
from siyu.core.owner import submit_job
from siyu.ingest import rejected
from siyu.ingest.normalise.identifiers import not_identifier_words
from siyu.staff.queries import can_import, can_view_pii
from siyu.web.views import console_view, forbidden, not_found


def _require_import(request):
    if not can_import(request.user):
        return forbidden(request, _("Only administrators and operators can import data."))
    return None


def save_uploads(files) -> list[str]:
    """Store uploads under UPLOADS_DIR/<uuid>/ with their own (sanitised) names; return the paths."""
    folder = Path(settings.UPLOADS_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    paths = []
    for index, upload in enumerate(files):
        name = get_valid_filename(Path(upload.name).name) or f"upload-{index}"
        target = folder / name
        if target.exists():
            target = folder / f"{target.stem}-{index}{target.suffix}"
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        paths.append(str(target))
    return paths


@console_view
def import_page(request):
    refusal = _require_import(request)
    if refusal:
        return refusal
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            params = {
                "paths": save_uploads(form.cleaned_data["files"]),
                "source": form.cleaned_data["source"],
                "format": form.cleaned_data["format"],
                "mapping": form.cleaned_data["mapping"],
            }
            job = submit_job("import", params, request.user, in_process=False)
            return redirect("console:job", job_id=job.pk)
        status = 400
    else:
        form = ImportForm()
        status = 200
    settle_lost_jobs()  # a job whose process died shows failed, with the reason
    recent = Job.objects.filter(kind__in=["import", "resolve"]).select_related("created_by")[:5]
    return render(request, "siyu/console/import.html", {"form": form, "recent": recent}, status=status)


@console_view
@require_POST
def resolve(request):
    refusal = _require_import(request)
    if refusal:
        return refusal
    job = submit_job("resolve", {}, request.user, in_process=False)
    return redirect("console:job", job_id=job.pk)


@console_view
def job_list(request):
    refusal = _require_import(request)
    if refusal:
        return refusal
    settle_lost_jobs()  # a job whose process died shows failed, with the reason
    jobs = Job.objects.select_related("created_by")
    status = request.GET.get("status") if request.GET.get("status") in Job.Status.values else None
    if status:  # the home links the failed jobs here
        jobs = jobs.filter(status=status)
    return render(request, "siyu/console/job_list.html", {"jobs": jobs[:200], "status": status})


def _job_for(request, job_id):
    if not can_import(request.user):
        return None, forbidden(request, _("Only administrators and operators can follow import jobs."))
    settle_lost_jobs()
    return get_object_or_404(Job.objects.select_related("created_by"), pk=job_id), None


def _rejected_paths(job: Job) -> list[Path | None]:
    """The rejected-rows file of each imported file of the job (None: none, or expired); a job from before
    files had their own names one for the whole import."""
    result = job.result if isinstance(job.result, dict) else {}
    if _is_whole_job(result):
        named = [result["rejected_file"]]
    else:
        named = [f.get("rejected_file") if isinstance(f, dict) else None for f in result.get("files") or []]
    folder = rejected.folder().resolve()
    paths = []
    for value in named:
        path = Path(value).resolve() if value else None
        paths.append(path if path is not None and path.is_relative_to(folder) and path.is_file() else None)
    return paths


def _is_whole_job(result: dict) -> bool:
    return bool(result.get("rejected_file")) and "rejected_files" not in result


REPORT_KEYS = {
    "rows_read",
    "imported",
    "duplicates",
    "rejected",
    "files",
    "batches",
    "rejected_file",
    "rejected_files",
    "rejected_retention_days",
    "failed_files",
}


def _file_lines(result: dict, rejected_paths: list[Path | None]) -> list[dict]:
    """One line per imported file, whatever the importer called its fields."""
    lines = []
    for index, item in enumerate(result.get("files") or []):
        if not isinstance(item, dict):
            item = {"file": str(item)}
        path = item.get("file_name") or item.get("file") or item.get("name") or item.get("path") or ""
        lines.append(
            {
                "name": Path(str(path)).name,
                "format": item.get("format") or "",
                "encoding": item.get("encoding") or "",
                "batch_id": item.get("batch_id") or "",
                "rows_read": item.get("rows_read"),
                "imported": item.get("imported"),
                "duplicates": item.get("duplicates"),
                "rejected": item.get("rejected"),
                "error": item.get("error") or "",
                "rejected_index": index if index < len(rejected_paths) and rejected_paths[index] else None,
            }
        )
    return lines


def _batch_ids(result: dict, files: list[dict]) -> list[str]:
    batches = result.get("batches")
    if isinstance(batches, list):
        return [str(b.get("batch_id") if isinstance(b, dict) else b) for b in batches]
    return [f["batch_id"] for f in files if f["batch_id"]]


def _job_context(request, job: Job) -> dict:
    result = job.result if isinstance(job.result, dict) else {}
    rejected_paths = _rejected_paths(job)
    files = _file_lines(result, [] if _is_whole_job(result) else rejected_paths)
    return {
        "job": job,
        "result": result,
        "files": files,
        "batch_ids": _batch_ids(result, files),
        "failed_count": sum(1 for f in files if f["error"]),
        "not_identifiers": _not_identifiers(result),
        "file_names": [Path(str(p)).name for p in (job.params or {}).get("paths") or []],
        # a job from before each file had its own rejected rows: one file for the whole import
        "whole_job_rejected": _is_whole_job(result) and bool(rejected_paths) and rejected_paths[0] is not None,
        "rejected_count": sum(1 for p in rejected_paths if p is not None),
        "rejected_in_clear": can_view_pii(request.user),
        "rejected_retention_days": settings.REJECTED_ROWS_RETENTION_DAYS,
        "other_result": result_rows(result),
    }


def result_rows(result: dict) -> list[tuple[str, str, object]]:
    """(key, words, value) of the parts of a job's result an operator reads (labels.RESULT_KEYS), values
    in words: a resolution's mode, yes or no, a day. The rest (timings, diagnostics) is left to the API."""
    rows = []
    for key, value in result.items():
        if key in REPORT_KEYS or key not in labels.RESULT_KEYS or not isinstance(value, str | int | float):
            continue
        if isinstance(value, bool):
            value = _("yes") if value else _("no")
        elif key == "mode":
            value = label(labels.RESOLUTION_MODES, value)
        elif key == "as_of":
            value = day(value)
        elif key == "mean_p_purchase":
            value = f"{value:.1%}"
        rows.append((key, labels.RESULT_KEYS[key], value))
    return rows


def _not_identifiers(result: dict) -> list[dict]:
    """Each file's values of identifier columns that were not taken as identifiers, in words."""

    return [
        {**entry, "file": Path(str(f.get("file") or "")).name,
         "reason_words": not_identifier_words(entry["reason"])}  # fmt: skip
        for f in result.get("files") or []
        for entry in f.get("not_identifiers") or []
    ]


@console_view
def job_detail(request, job_id):
    job, refusal = _job_for(request, job_id)
    if refusal:
        return refusal
    return render(request, "siyu/console/job_detail.html", _job_context(request, job))


@console_view
def job_progress(request, job_id):
    """The HTMX fragment polled every 500 ms until the job finishes."""
    job, refusal = _job_for(request, job_id)
    if refusal:
        return refusal
    return render(request, "siyu/console/partials/job_progress.html", _job_context(request, job))


@console_view
def rejected_rows(request, job_id):
    """The rejected rows of one imported file of the job (`?file=N`, default the first), decrypted as they
    are sent: in clear for those with the PII permission, masked for the others. Audited."""
    job, refusal = _job_for(request, job_id)
    if refusal:
        return refusal
    try:
        index = int(request.GET.get("file", 0))
    except ValueError:
        index = -1
    paths = _rejected_paths(job)
    path = paths[index] if 0 <= index < len(paths) else None
    if path is None:
        return not_found(request, _("This import has no rejected rows file, or it was deleted after %(days)s days.")
                         % {"days": f"{settings.REJECTED_ROWS_RETENTION_DAYS:g}"})  # fmt: skip
    clear = can_view_pii(request.user)
    record_audit(
        request.user,
        "download_rejected_rows",
        target=f"job:{job.pk}",
        file=path.name,
        clear=clear,
        rejected=(job.result or {}).get("rejected"),
    )
    name = f"rejected-{str(job.pk)[:8]}-{index + 1}{'' if clear else '-masked'}.csv"
    response = StreamingHttpResponse(
        (text.encode() for text in rejected.rejected_csv(path, masked=not clear)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
