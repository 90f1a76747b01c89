"""`siyu bench scale`: how a stage's time grows with the number of people, as the printout says it."""

import pytest
from django.core.management import CommandError, call_command

from siyu.benchmarks.scale import growth


def _size(people: int, seconds: dict) -> dict:
    return {"people": people, "stages": {stage: {"seconds": s} for stage, s in seconds.items()}}


def test_growth_reads_the_exponent_of_time_against_people():
    sizes = [
        _size(100_000, {"resolve": 10.0, "traits": 5.0}),
        _size(1_000_000, {"resolve": 100.0, "traits": 50.0}),
        _size(3_000_000, {"resolve": 900.0, "traits": 150.0}),
    ]
    grows = growth(sizes)
    assert grows["traits"] == {"between_sizes": [1.0, 1.0], "fitted": 1.0}  # linear
    assert grows["resolve"]["between_sizes"] == [1.0, 2.0]  # quadratic from 1M to 3M
    assert 1.0 < grows["resolve"]["fitted"] < 2.0


def test_a_stage_that_did_not_run_at_every_size_is_fitted_on_the_sizes_it_ran():
    sizes = [_size(100_000, {"import": 1.0}), _size(1_000_000, {"import": 10.0}), _size(3_000_000, {})]
    assert growth(sizes)["import"] == {"between_sizes": [1.0], "fitted": 1.0}
    assert growth(sizes[:1]) == {}  # one size says nothing about growth


def test_engine_and_several_sizes_belong_to_the_scale_benchmark_only():
    with pytest.raises(CommandError, match="--engine is for ingest, components, scale"):
        call_command("bench", "traits", "--engine", "spark")
    with pytest.raises(CommandError, match="siyu bench scale"):
        call_command("bench", "traits", "--people", "1000", "2000")
