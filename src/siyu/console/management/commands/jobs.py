"""`siyu jobs`: the latest jobs, newest first — what the console's job list shows. A job whose process died
is marked failed, with the reason, before the list is read (siyu.core.actions.settle_lost_jobs)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from siyu.core.actions import settle_lost_jobs
from siyu.core.models import Job


class Command(BaseCommand):
    help = "List the latest jobs (import, resolve, traits…) and how they ended; a job whose process died shows failed."

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=Job.Status.values, help="only jobs in this state")
        parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object per line")

    def handle(self, *args, status=None, limit=20, as_json=False, **options):
        settle_lost_jobs()
        jobs = Job.objects.all()
        if status:
            jobs = jobs.filter(status=status)
        for job in jobs[: max(limit, 0)]:
            error = job.error.splitlines()[0] if job.error else ""
            if as_json:
                self.stdout.write(_json({
                    "id": str(job.pk), "kind": job.kind, "status": job.status, "created_at": job.created_at.isoformat(),
                    "progress_done": job.progress_done, "progress_total": job.progress_total, "error": job.error,
                }))  # fmt: skip
                continue
            when = timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M:%S")
            progress = f"{job.progress_done}/{job.progress_total}" if job.progress_total else str(job.progress_done)
            self.stdout.write(f"{job.pk}  {when}  {job.kind:<10} {job.status:<8} {progress:>12}  {error}".rstrip())


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
