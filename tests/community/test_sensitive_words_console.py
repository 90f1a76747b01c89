"""The sensitive-word console page: an operator saves rules (a bad regex is refused in Chinese), imports an
archive export (the import runs as a job), sees the alerts and marks one handled; a guide may not see it;
the handover page lists both kinds."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from siyu.community.archive.models import SensitiveAlert, SensitiveRule
from siyu.core.models import Job
from siyu.staff.actions import create_user

SAMPLE = Path(__file__).parent / "data" / "archive_sample.jsonl"
pytestmark = pytest.mark.django_db


def _page(client, url="/community/sensitive-words/", **params):
    answer = client.get(url, params, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 200
    return answer.content.decode()


def test_operator_saves_rules_imports_and_handles_alerts(client, warehouse, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    client.cookies["django_language"] = "zh-hans"
    client.force_login(create_user("op", "pw-op-12345", "operator"))
    answer = client.post("/community/sensitive-words/rules/", {"name": "坏规则", "kind": "regex", "pattern": "(a+)+",
                                                               "group_types": ["all"]}, follow=True)  # fmt: skip
    assert "匹配可能耗时过长" in answer.content.decode() and not SensitiveRule.objects.exists()
    client.post("/community/sensitive-words/rules/", {"name": "兼职", "kind": "keyword", "pattern": "兼职",
                                                      "group_types": ["all"]})  # fmt: skip
    assert SensitiveRule.objects.get().group_types == ["all"]

    upload = SimpleUploadedFile("archive.jsonl", SAMPLE.read_bytes())
    answer = client.post("/community/chat-archive/import/", {"file": upload})
    job = Job.objects.get(kind="chat_archive_import")
    assert answer.status_code == 302 and answer["Location"].endswith(f"/jobs/{job.pk}/")
    job.refresh_from_db()
    assert job.result["imported"] == 28 and job.result["rejected"] == 2

    page = _page(client)
    assert "刷单兼职，日结300" in page and "标记为已处理" in page and "archive.jsonl" in page
    alert = SensitiveAlert.objects.get()
    client.post(f"/community/sensitive-words/alerts/{alert.pk}/handle/", {"note": "已移出群"})
    alert.refresh_from_db()
    assert alert.status == "handled" and alert.note == "已移出群"
    assert "已移出群" in _page(client, status="handled")
    assert "还没有继承或转接记录" in _page(client, "/community/handovers/")

    # what the archive says about the chats: the sample's figures (test_archive_figures), in words
    insights = _page(client, "/community/chat-insights/", days=7)
    assert "已导入 28 条消息" in insights and "沉默群成员" in insights and "从未发言" in insights
    assert "导购响应时长（单聊）" in insights and "guide1" in insights


def test_a_guide_sees_neither_page(client, db):
    client.force_login(create_user("g", "pw-g-123456", "guide", wecom_userid="g1"))
    assert client.get("/community/sensitive-words/").status_code == 403
    assert client.get("/community/handovers/").status_code == 403
    assert client.get("/community/chat-insights/").status_code == 403
