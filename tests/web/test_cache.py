"""Figures cached per data version (siyu.web.cache): what an operator sees after data changed."""

import threading
import time

import pytest

from siyu.core.actions import create_job, finish_job
from siyu.web import cache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh(warehouse):
    cache.clear()
    yield
    cache.clear()


def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    return compute, calls


def test_a_figure_is_computed_once_per_data_version():
    compute, calls = counter()
    assert cache.cached("figure", compute) == 1
    assert cache.cached("figure", compute) == 1
    assert cache.cached("other figure", compute) == 2  # another name, another figure
    finish_job(create_job("import", {}), {})  # the data changed
    assert cache.cached("figure", compute) == 3
    assert len(calls) == 3


def test_operators_asking_at_once_wait_for_one_computation():
    started = threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return "figures"

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.cached("page", slow, version="v1")))
               for _ in range(5)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == ["figures"] * 5 and len(calls) == 1


def test_the_previous_figure_is_shown_briefly_while_the_new_one_is_computed(settings):
    settings.STALE_FIGURES_SECONDS = 30
    release = threading.Event()

    def new_figure():
        release.wait(5)
        return "new"

    assert cache.cached("page", lambda: "old", version="v1") == "old"
    # the data moved on: the click gets the old figure at once, the new one is computed meanwhile
    assert cache.cached("page", new_figure, version="v2") == "old"
    release.set()
    for _ in range(50):
        if cache.cached("page", lambda: "again", version="v2") == "new":
            break
        time.sleep(0.05)
    assert cache.cached("page", lambda: "again", version="v2") == "new"


def test_without_stale_figures_a_change_is_seen_at_once(settings):
    settings.STALE_FIGURES_SECONDS = 0
    assert cache.cached("page", lambda: "old", version="v1") == "old"
    assert cache.cached("page", lambda: "new", version="v2") == "new"
