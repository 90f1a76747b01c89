"""The job registry: every kind of job Siyu starts has a runner, registered by its app."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from siyu.core import jobs


def test_every_job_kind_the_code_starts_has_its_runner():
    # the kinds `submit_job`/`execute_job` are called with across the apps and the commands
    started = {"import", "resolve", "export", "traits", "scheduled_refresh", "predict", "wecom_sync",
               "retention"}  # fmt: skip
    assert started <= set(jobs.job_kinds())
    assert all(callable(jobs.job_runner(kind)) for kind in started)


def test_a_kind_registered_twice_or_never_is_refused(monkeypatch):
    monkeypatch.setattr(jobs, "_RUNNERS", dict(jobs._RUNNERS))
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        jobs.register_job("resolve", lambda job, progress: {})
    with pytest.raises(ImproperlyConfigured, match="no runner"):
        jobs.job_runner("no_such_kind")
