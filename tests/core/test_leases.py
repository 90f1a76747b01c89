"""Process leases and the recovery of lost work (siyu.core.leases, siyu.core.actions.recover_lost_work), in
one process: what a worker finds when it starts or renews its lease. The same with real processes killed
mid-job: tests/workers."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from siyu.core import leases
from siyu.core.actions import create_job, recover_lost_work
from siyu.core.models import Job, ProcessLease
from siyu.core.tasks import run_job_task

pytestmark = pytest.mark.django_db


def _lease(lease_id: str, age_seconds: float, role=ProcessLease.Role.WORKER) -> ProcessLease:
    at = timezone.now() - timedelta(seconds=age_seconds)
    return ProcessLease.objects.create(id=lease_id, role=role, host="h", pid=1, started_at=at, renewed_at=at)


def _claimed_run(job: Job, *workers: str) -> DBTaskResult:
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, worker=workers[-1], attempts=len(workers))
    return DBTaskResult.objects.create(
        task_path=run_job_task.module_path, args_kwargs={"args": [str(job.pk)], "kwargs": {}}, status="RUNNING",
        worker_ids=list(workers), backend_name="default", run_after=timezone.now(), exception_class_path="",
        traceback="",
    )  # fmt: skip


def test_a_run_of_a_live_worker_is_left_alone(settings):
    settings.WORKER_LEASE = 60
    _lease("alive", 5)
    job = create_job("resolve", {})
    run = _claimed_run(job, "alive")
    report = recover_lost_work()
    assert report == {"requeued": [], "failed": [], "interrupted": [], "leases_expired": 0}
    run.refresh_from_db()
    job.refresh_from_db()
    assert (run.status, job.status, job.worker) == ("RUNNING", "running", "alive")
    assert leases.live_workers().count() == 1


def test_a_run_of_a_lost_worker_goes_back_to_the_queue_saying_so(settings):
    settings.WORKER_LEASE, settings.WORKER_MAX_ATTEMPTS = 60, 3
    _lease("gone", 300)
    job = create_job("resolve", {})
    run = _claimed_run(job, "gone")
    report = recover_lost_work()
    assert report["requeued"] == [str(run.pk)] and report["leases_expired"] == 1
    run.refresh_from_db()
    job.refresh_from_db()
    assert run.status == "READY" and run.worker_ids == ["gone"]  # the attempt stays counted
    assert job.status == "queued" and job.worker == ""
    assert "the worker gone running it stopped renewing its lease" in job.message
    assert "attempt 1 of 3 lost" in job.message
    assert not ProcessLease.objects.filter(pk="gone").exists()


def test_a_run_lost_as_often_as_the_limit_fails_with_the_reason(settings):
    settings.WORKER_LEASE, settings.WORKER_MAX_ATTEMPTS = 60, 2
    job = create_job("import", {})
    run = _claimed_run(job, "first", "second")  # both leases long gone
    report = recover_lost_work()
    assert report["failed"] == [str(run.pk)]
    run.refresh_from_db()
    job.refresh_from_db()
    assert run.status == "FAILED" and run.exception_class_path == "siyu.core.errors.WorkerLost"
    assert job.status == "failed" and job.finished_at is not None
    assert "lost 2 times, the limit (SIYU_WORKER_MAX_ATTEMPTS=2)" in job.error
    assert job.error.startswith("interrupted: the worker second running it stopped renewing its lease")


def test_a_job_run_in_process_by_a_process_now_gone_is_marked_interrupted(settings):
    settings.WORKER_LEASE = 60
    _lease("command-x", 300, ProcessLease.Role.COMMAND)
    _lease("command-y", 1, ProcessLease.Role.COMMAND)
    lost, alive, unknown = create_job("traits", {}), create_job("traits", {}), create_job("traits", {})
    Job.objects.filter(pk=lost.pk).update(status=Job.Status.RUNNING, worker="command-x")
    Job.objects.filter(pk=alive.pk).update(status=Job.Status.RUNNING, worker="command-y")
    Job.objects.filter(pk=unknown.pk).update(status=Job.Status.RUNNING, worker="")  # run with no lease
    report = recover_lost_work()
    assert sorted(report["interrupted"]) == sorted([str(lost.pk), str(unknown.pk)])
    lost.refresh_from_db()
    assert lost.status == "failed" and "the process running it (command-x: pid 1 on host h) stopped" in lost.error
    alive.refresh_from_db()
    assert alive.status == "running"
    assert leases.live_workers().count() == 0  # a command is not a worker to hand jobs to
    assert list(leases.live_leases().values_list("id", flat=True)) == ["command-y"]


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_job_whose_process_is_gone_from_this_host_fails_at_once_when_anyone_looks(settings):
    """A fresh lease of this host whose pid is gone: failed now, with the pid and host, without waiting for
    the lease to expire; a looker (settle_lost_jobs) leaves jobs run without a lease alone."""
    from siyu.core.actions import settle_lost_jobs

    settings.WORKER_LEASE = 3600
    now = timezone.now()
    pid = _dead_pid()
    ProcessLease.objects.create(
        id="command-here", role=ProcessLease.Role.COMMAND, host=leases.this_host(), pid=pid, started_at=now,
        renewed_at=now,
    )  # fmt: skip
    lost, unowned = create_job("traits", {}), create_job("traits", {})
    Job.objects.filter(pk=lost.pk).update(status=Job.Status.RUNNING, worker="command-here")
    Job.objects.filter(pk=unowned.pk).update(status=Job.Status.RUNNING, worker="")
    report = settle_lost_jobs()
    assert report["interrupted"] == [str(lost.pk)]
    lost.refresh_from_db()
    assert lost.status == "failed"
    assert f"its process is gone (pid {pid} on host {leases.this_host()})" in lost.error
    assert Job.objects.get(pk=unowned.pk).status == "running"
    assert not ProcessLease.objects.filter(pk="command-here").exists()


def test_a_job_of_another_host_is_not_judged_by_a_local_pid(settings):
    """The same dead pid on another host means nothing here: its job runs on while the lease is renewed,
    and fails (naming pid and host) only once the lease expired."""
    from siyu.core.actions import settle_lost_jobs

    settings.WORKER_LEASE = 60
    pid = _dead_pid()
    at = timezone.now()
    ProcessLease.objects.create(
        id="command-there", role=ProcessLease.Role.COMMAND, host="another-host", pid=pid, started_at=at,
        renewed_at=at,
    )  # fmt: skip
    job = create_job("traits", {})
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, worker="command-there")
    assert settle_lost_jobs()["interrupted"] == []
    assert Job.objects.get(pk=job.pk).status == "running"
    ProcessLease.objects.filter(pk="command-there").update(renewed_at=at - timedelta(seconds=61))
    assert settle_lost_jobs()["interrupted"] == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "failed" and f"pid {pid} on host another-host) stopped renewing its lease" in job.error


def test_a_worker_gone_from_this_host_has_its_run_queued_again_at_once(settings):
    settings.WORKER_LEASE = 3600
    now = timezone.now()
    pid = _dead_pid()
    ProcessLease.objects.create(
        id="worker-here", role=ProcessLease.Role.WORKER, host=leases.this_host(), pid=pid, started_at=now,
        renewed_at=now,
    )  # fmt: skip
    job = create_job("resolve", {})
    _claimed_run(job, "worker-here")
    report = recover_lost_work()
    assert len(report["requeued"]) == 1
    job.refresh_from_db()
    assert job.status == "queued" and f"its process is gone (pid {pid} on host" in job.message
