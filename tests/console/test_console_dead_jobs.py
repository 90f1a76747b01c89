"""The console's job pages mark a job whose process died as failed before showing it, and say why in the
operator's language (Chinese first)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.utils import timezone

from siyu.core import leases
from siyu.core.actions import create_job
from siyu.core.models import Job, ProcessLease

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def _job_of_a_dead_process() -> tuple[Job, int]:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    now = timezone.now()
    ProcessLease.objects.create(
        id="command-dead", role=ProcessLease.Role.COMMAND, host=leases.this_host(), pid=child.pid,
        started_at=now, renewed_at=now,
    )  # fmt: skip
    job = create_job("import", {"paths": [], "source": "tmall"})
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, worker="command-dead", started_at=now)
    return job, child.pid


def test_the_job_list_shows_a_dead_processs_job_failed(operator_client):
    job, _pid = _job_of_a_dead_process()
    page = text_of(operator_client.get("/jobs/"))
    job.refresh_from_db()
    assert job.status == "failed"
    assert "status-failed" in page and "status-running" not in page


def test_the_job_page_says_in_chinese_that_its_process_stopped(operator_client):
    job, pid = _job_of_a_dead_process()
    page = text_of(operator_client.get(f"/jobs/{job.pk}/"))
    assert f"{leases.this_host()} 上的进程 {pid}）在作业完成前已停止" in page
