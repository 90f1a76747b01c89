"""The community API: sensitive-word rules (a bad regex answered with 400 and the reason), an archive
uploaded and imported as a job, alerts listed and handled, the archive's figures, and handovers listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.api.actions import create_token
from siyu.staff.actions import create_user

SAMPLE = Path(__file__).parent / "data" / "archive_sample.jsonl"
pytestmark = [pytest.mark.django_db, pytest.mark.urls("community_api_urls")]


def _client(user):
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def _post(api, url, body, key):
    return api.post(url, body, content_type="application/json", headers={"Idempotency-Key": key})


def test_rules_import_alerts_and_figures_through_the_api(warehouse, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    operator = create_user("op", "pw-op-12345", "operator")
    api = _client(operator)
    bad = _post(api, "/api/community/sensitive-rules", {"name": "坏", "kind": "regex", "pattern": "(a+)+",
                                                        "group_types": ["all"]}, "r0")  # fmt: skip
    assert bad.status_code == 400 and "repeats a part that itself repeats" in bad.json()["detail"]
    made = _post(api, "/api/community/sensitive-rules",
                 {"name": "兼职", "pattern": "兼职", "group_types": ["all"]}, "r1")  # fmt: skip
    assert made.status_code == 201 and made.json()["kind"] == "keyword"

    upload = SimpleUploadedFile("archive.jsonl", SAMPLE.read_bytes(), content_type="application/jsonl")
    answer = api.post("/api/community/chat-archive/imports", {"file": upload}, headers={"Idempotency-Key": "i1"})
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "done" and answer.json()["result"]["imported"] == 28

    alerts = api.get("/api/community/sensitive-alerts?status=open").json()
    assert alerts["total"] == 1 and alerts["items"][0]["msgid"] == "msg011"
    handled = _post(api, f"/api/community/sensitive-alerts/{alerts['items'][0]['id']}/handle", {"note": "已处理"}, "h1")
    assert handled.json()["status"] == "handled" and handled.json()["handled_by"] == "op"
    assert _post(api, "/api/community/sensitive-alerts/999/handle", {}, "h2").status_code == 404

    silent = api.get("/api/community/silent-members?days=1&as_of=2025-11-26T16:00:00Z").json()
    assert [(r["room_id"], r["silent"]) for r in silent["rooms"]] == [("wrRoom1", 2), ("wrRoom2", 2)]
    times = {r["staff"]: r["replies"] for r in api.get("/api/community/response-times").json()}
    assert times == {"guide1": 4, "guide2": 1}
    counts = api.get("/api/community/message-counts?room_id=wrRoom2").json()
    assert counts == [{"room_id": "wrRoom2", "day": "2025-11-25", "messages": 4, "customer_messages": 2,
                       "speakers": 2}]  # fmt: skip
    assert api.get("/api/community/handovers").json() == []


def test_a_guide_may_not_read_or_change_the_archive(db):
    guide = _client(create_user("g", "pw-g-123456", "guide", wecom_userid="g1"))
    assert guide.get("/api/community/sensitive-alerts").status_code == 403
    assert _post(guide, "/api/community/sensitive-rules", {"name": "x", "pattern": "x", "one_on_one": True},
                 "k").status_code == 403  # fmt: skip
    assert guide.get("/api/community/handovers").status_code == 403
