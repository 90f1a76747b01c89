import os
import time
from pathlib import Path

from django.apps import AppConfig


def nap(job, progress) -> dict:
    """Job kind "nap": note this run (job id, pid) in params["marker"], then sleep params["seconds"]."""
    with Path(job.params["marker"]).open("a") as marker:
        marker.write(f"{job.pk} {os.getpid()}\n")
    seconds = float(job.params.get("seconds", 0))
    steps = max(int(seconds / 0.1), 1)
    for step in range(steps):
        time.sleep(seconds / steps)
        progress(step + 1, steps, "napping", force=True)
    return {"pid": os.getpid()}


def no_warehouse():
    raise RuntimeError("the test workers have no warehouse (siyu_workers_testapp)")


class TestAppConfig(AppConfig):
    name = "siyu_workers_testapp"
    label = "siyu_workers_testapp"

    def ready(self):
        from siyu.core.jobs import register_job
        from siyu.warehouse import spark

        register_job("nap", nap)
        spark.session = no_warehouse  # the Spark engine is set, and never started
