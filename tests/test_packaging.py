"""`pip install .` must give a working siyu: the wheel carries templates, translations, static files, data
and migrations, and declares the `siyu` command."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_the_wheel_carries_everything_siyu_needs_at_run_time(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("siyu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "siyu/locale/zh_Hans/LC_MESSAGES/django.mo",
        "siyu/ingest/normalise/data/divisions.tsv",
        "siyu/console/static/siyu/vendor/htmx.min.js",
        "siyu/customers/migrations/0001_initial.py",
        "siyu/ingest/management/commands/import.py",
        "siyu/benchmarks/data/febrl_dataset3.csv.gz",  # siyu bench resolve --dataset, after a plain install
        "siyu/benchmarks/data/pseudopeople_census_2020.csv.gz",
    ):
        assert needed in names, needed
    assert any(n.startswith("siyu/console/templates/") and n.endswith(".html") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "siyu = siyu.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
