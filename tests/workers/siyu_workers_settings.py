"""Settings of the real processes tests/workers starts: Siyu's own, plus the test app's job kind."""

from siyu.project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "siyu_workers_testapp.apps.TestAppConfig"]  # noqa: F405
