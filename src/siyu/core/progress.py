"""Following a Job from the CLI: a rich progress bar fed from the Job row, whoever runs it."""

from __future__ import annotations

import time

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siyu.core.models import Job
from siyu.core.owner import running_server, submit_job


class StepClock:
    """Numbered steps of a job reported to a progress callback `progress(done, total, message)`, each timed:
    `step(i, message, finished=name)` also records how long the step `name` before it took."""

    def __init__(self, progress, total: int):
        self.progress, self.total = progress, total
        self.timings: dict[str, float] = {}
        self._since = time.monotonic()

    def __call__(self, done: int, message: str, finished: str | None = None) -> None:
        if finished:
            self.finish(finished)
        if self.progress is not None:
            self.progress(done, self.total, message)

    def finish(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = round(now - self._since, 3)
        self._since = now


class RunnerGone(CommandError):
    """The process a CLI command handed its job to stopped answering (`siyu ...` exits 1 saying so)."""


def follow_job(job: Job, *, quiet: bool = False, poll: float = 0.3, settle_every: float = 1.0) -> Job:
    """Wait for a job run by another process (the server, or the workers), drawing its progress on stderr.
    Every `settle_every` seconds it also checks that someone is there to finish it: a job whose process
    died is marked failed (siyu.core.actions.settle_lost_jobs — at once when that process was on this host,
    once its lease expired when on another); a job left waiting with no `siyu serve`/`siyu worker` alive to
    take it raises RunnerGone, which ends the command with a message and exit status 1, instead of waiting
    forever."""
    from siyu.core import leases
    from siyu.core.actions import settle_lost_jobs

    console = Console(stderr=True, quiet=quiet)
    server = running_server() if not leases.shared_data_plane() else None
    last_settled = time.monotonic()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{job.kind} ({_runner()})", total=None)
        while True:
            job.refresh_from_db()
            bar.update(
                task,
                completed=job.progress_done,
                total=job.progress_total or None,
                description=f"{job.kind}: {job.message or job.status}",
            )
            if job.finished:
                return job
            if time.monotonic() - last_settled >= settle_every:
                last_settled = time.monotonic()
                settle_lost_jobs()
                job.refresh_from_db()
                if job.finished:
                    return job
                gone = _runner_gone(job, server)
                if gone:
                    raise RunnerGone(gone)
            time.sleep(poll)


def _runner_gone(job: Job, server: dict | None) -> str:
    """Why nobody will finish `job` now ("" while someone may): with DuckDB, the `siyu serve`/`siyu worker`
    owning the warehouse is gone; with Spark, no worker holds a live lease."""
    from siyu.core import leases

    state = (
        "it is queued again and runs when one starts"
        if job.status == Job.Status.QUEUED
        else "it is left as it is until a worker takes back its work"
    )
    if leases.shared_data_plane():
        if leases.live_workers().exists() or job.status == Job.Status.RUNNING and _worker_alive(job.worker):
            return ""
        return (
            f"no siyu worker is running any more (none renewed its lease in the last "
            f"{int(leases.lease_seconds())} s): stopped waiting for {job.kind} job {job.pk}; {state}"
        )
    if running_server() is not None:
        return ""
    who = f"siyu {(server or {}).get('role', 'serve')}" + (f" (pid {server['pid']})" if server else "")
    return (
        f"{who} stopped answering — its process is gone: stopped waiting for {job.kind} job {job.pk}; "
        f"{state.replace('one starts', 'siyu serve or siyu worker starts again')}"
    )


def _worker_alive(lease_id: str) -> bool:
    from siyu.core import leases

    return leases.live_leases().filter(pk=lease_id).exists()


def _runner() -> str:
    """Who runs a handed-over job: the process owning the DuckDB warehouse, or the workers (Spark)."""
    from siyu.core import leases

    if leases.shared_data_plane():
        return "siyu workers"
    return f"siyu {(running_server() or {}).get('role', 'serve')}"


def _handed(kind: str) -> str:
    runner = _runner()
    if runner == "siyu workers":
        return f"siyu workers are running: handed {kind} to them"
    return f"{runner} is running: handed {kind} to it"


class ProgressBar:
    """A listener for in-process jobs: same look as follow_job."""

    def __init__(self, description: str, *, quiet: bool = False):
        self.description = description
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True, quiet=quiet),
            transient=True,
        )
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task(self.description, total=None)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, done, total=None, message=None):
        self.progress.update(
            self.task,
            completed=done,
            total=total if total else None,
            description=f"{self.description}: {message}" if message else self.description,
        )


def run_with_progress(kind: str, params: dict, *, quiet: bool = False, created_by=None) -> Job:
    """What a CLI command calls: in-process with a bar, or handed to `siyu serve` and followed."""

    with ProgressBar(kind, quiet=quiet) as bar:
        job = submit_job(kind, params, created_by, listener=bar)
    if not job.finished:
        Console(stderr=True, quiet=quiet).print(f"[dim]{_handed(kind)}[/dim]")
        job = follow_job(job, quiet=quiet)
    return job


def exit_unless_done(job: Job, command: str, stderr) -> None:
    """A CLI command's ending for a job that did not finish: the error on stderr, exit status 1."""
    if job.status != Job.Status.DONE:
        stderr.write(f"siyu {command} failed: {job.error or job.status}")
        raise SystemExit(1)
