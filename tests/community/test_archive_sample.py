"""The demo's synthetic archive: every line is a message the importer takes, the demo's rules catch the
flagged messages, most group members are silent and guides have response times."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.community.archive import queries
from siyu.community.archive.actions import import_chat_archive, save_rule
from siyu.community.archive.sample import SAMPLE_RULES, write_archive_sample

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_the_demo_sample_imports_cleanly_and_gives_every_figure(warehouse, tmp_path):
    for rule in SAMPLE_RULES:
        save_rule(None, **rule)
    contacts = {"sh01_01": [f"wmc{i:03d}" for i in range(20)], "sh01_02": [f"wmd{i:03d}" for i in range(10)]}
    rooms = {"wr001": ["sh01_01", *[f"wmr{i:03d}" for i in range(40)]], "wr002": ["sh01_02", "wmr001", "wmr002"]}
    path = write_archive_sample(tmp_path / "archive.jsonl", contacts, rooms, START)
    report = import_chat_archive(path)
    assert report["rejected"] == 0 and report["duplicates"] == 0 and report["imported"] > 100
    assert report["alerts"] == 2  # one flagged message in each group
    assert import_chat_archive(path)["imported"] == 0  # the same file again adds nothing
    silent = {r["room_id"]: r for r in queries.silent_members(7, START + dt.timedelta(days=14))["rooms"]}
    assert silent["wr001"]["members"] == 40 and silent["wr001"]["silent"] >= 30
    assert {r["staff"] for r in queries.response_times() if r["replies"]} == {"sh01_01", "sh01_02"}
    # the same seed gives the same file
    again = write_archive_sample(tmp_path / "again.jsonl", contacts, rooms, START)
    assert again.read_text() == path.read_text()
