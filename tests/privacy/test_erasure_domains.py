"""Erasure (PIPL art. 47) in the domains above privacy: the person of the copy test (two sources merged,
points, a survey answer, a send, a guide task, chat messages) is erased, every registered eraser leaves
nothing of them that its scan finds, the other person's data stays, and the aggregates (message counts,
points balances, survey counts) do not change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from siyu.core.models import Job
from siyu.privacy import actions
from siyu.warehouse.connection import raw_connection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_copy_and_correction import OTHER_WECOM_ID, WECOM_ID, person  # noqa: E402, F401  (the fixture)

pytestmark = pytest.mark.django_db


def _erase(subject) -> Job:
    request = actions.open_request(customer_id=subject["cid"], kind="deletion", source="staff",
                                   verification="到店核对身份证", requested_by=subject["ops"])  # fmt: skip
    job = actions.request_erasure(subject["ops"], request.pk)
    assert job.status == Job.Status.DONE, job.error
    return job


def _messages() -> list[tuple]:
    return raw_connection().execute(
        "SELECT msgid, sender, recipients, text FROM chat_messages ORDER BY msgid").fetchall()  # fmt: skip


def test_the_chat_archive_keeps_the_messages_but_not_who_wrote_them_or_what(person):  # noqa: F811
    before = _messages()
    job = _erase(person)
    assert job.result["clean"], job.result["found"]
    assert job.result["erased"]["chat_archive"]["messages"] == 2
    after = {m[0]: m for m in _messages()}
    assert len(after) == len(before)  # counts and response times keep their messages
    everything = repr(after)
    assert WECOM_ID not in everything and "精华水" not in everything and "张姐" not in everything
    assert after["m1"][1] == after["m2"][2][0] and after["m1"][1].startswith("wm")  # one pseudonym, a customer's
    assert after["m3"][1] == OTHER_WECOM_ID and after["m3"][3] == "李娜的消息"  # the other person's stays
