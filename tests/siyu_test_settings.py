"""Settings for the test suite: a throw-away SIYU_HOME, tasks run immediately in the test process."""

import os
import tempfile

os.environ.setdefault("SIYU_HOME", tempfile.mkdtemp(prefix="siyu-test-"))

from siyu.project.settings import *  # noqa: E402,F403

TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests resolve when they mean to: the resolve `siyu serve` runs after each import and API batch
# (siyu.pipeline) is switched on by the tests of that behaviour (tests/pipeline).
RESOLVE_AFTER_IMPORT = False
# A page shows the figures of the current data at once (siyu.web.cache's stale figures: tests/web)
STALE_FIGURES_SECONDS = 0
