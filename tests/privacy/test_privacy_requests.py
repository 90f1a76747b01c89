"""The privacy request queue: requests from the member centre, from staff on a customer's behalf and
through the API land in one queue, due in 15 days, with how the requester proved who they are; every step
is kept and audited; the queue is for admins and operators (a guide may open a request for their own
customer, and sees no queue); overdue requests stand out."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from siyu.api.actions import create_token
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditLog
from siyu.privacy import actions, queries
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest

pytestmark = pytest.mark.django_db


def test_a_request_is_due_in_15_days_and_every_step_is_kept_and_audited(people):
    now = timezone.now()
    # an access request: a deletion is closed as done only after its erasure's scan (tests/privacy/test_erasure.py)
    opened = actions.open_request(customer_id=people["one"], kind="access", source="member_centre",
                                  verification="短信验证码（会员中心登录）", now=now)  # fmt: skip
    assert opened.due_at == now + dt.timedelta(days=15) and opened.status == "open"
    actions.assign_request(people["ops"], opened.pk, people["ops"], "我来处理")
    actions.advance_request(people["ops"], opened.pk, "in_progress")
    with pytest.raises(PrivacyError):
        actions.advance_request(people["ops"], opened.pk, "done")  # closing needs a note
    actions.close_request(people["ops"], opened.pk, done=True, note="已交付副本")
    with pytest.raises(PrivacyError):
        actions.advance_request(people["ops"], opened.pk, "in_progress")  # closed stays closed
    steps = [(s.action, s.status, s.note) for s in queries.steps_of(DataRequest.objects.get(pk=opened.pk))]
    assert steps == [("opened", "open", ""), ("assigned", "open", "我来处理"), ("status", "in_progress", ""),
                     ("status", "done", "已交付副本")]  # fmt: skip
    audited = list(AuditLog.objects.filter(action__startswith="privacy_request_").order_by("pk").values_list("action", flat=True))
    assert audited == ["privacy_request_opened", "privacy_request_assigned", "privacy_request_status",
                       "privacy_request_status"]  # fmt: skip
    assert DataRequest.objects.get(pk=opened.pk).closed_at is not None


def test_staff_open_requests_for_customers_they_may_act_on(people):
    mine = actions.open_request(customer_id=people["one"], kind="access", source="staff",
                                verification="到店核对预留手机号", requested_by=people["g1"])  # fmt: skip
    assert mine.requested_by == people["g1"]
    with pytest.raises(PermissionDenied):
        actions.open_request(customer_id=people["two"], kind="access", source="staff", verification="电话",
                             requested_by=people["g1"])  # fmt: skip
    with pytest.raises(PermissionDenied):
        actions.open_request(customer_id=people["one"], kind="access", source="staff", verification="电话")
    with pytest.raises(PrivacyError):
        actions.open_request(customer_id=people["one"], kind="access", source="staff", verification=" ",
                             requested_by=people["ops"])  # fmt: skip
    with pytest.raises(PermissionDenied):  # a guide works no queue
        actions.advance_request(people["g1"], mine.pk, "in_progress")


def test_the_queue_page_filters_by_status_and_highlights_overdue_requests(client, people):
    late = actions.open_request(customer_id=people["one"], kind="access", source="member_centre",
                                verification="微信网页授权", now=timezone.now() - dt.timedelta(days=16))  # fmt: skip
    fresh = actions.open_request(customer_id=people["two"], kind="deletion", source="member_centre",
                                 verification="短信验证码")  # fmt: skip
    actions.advance_request(people["ops"], fresh.pk, "in_progress")
    client.force_login(people["ops"])
    page = client.get("/privacy/requests/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'data-request="{late.pk}" class="overdue"' in page and f'data-request="{fresh.pk}">' in page
    assert "已逾期" in page
    only = client.get("/privacy/requests/", {"status": "in_progress"}).content.decode()
    assert f'data-request="{fresh.pk}"' in only and f'data-request="{late.pk}"' not in only
    overdue = client.get("/privacy/requests/", {"overdue": "1"}).content.decode()
    assert f'data-request="{late.pk}"' in overdue and f'data-request="{fresh.pk}"' not in overdue
    detail = client.get(f"/privacy/requests/{late.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "微信网页授权" in detail and 'data-step="opened"' in detail
    client.post(f"/privacy/requests/{late.pk}/move/", {"action": "refused", "note": ""})
    assert DataRequest.objects.get(pk=late.pk).status == "open"  # no note, no close
    client.post(f"/privacy/requests/{late.pk}/move/", {"action": "refused", "note": "无法核验身份"})
    assert DataRequest.objects.get(pk=late.pk).status == "refused"


def test_a_guide_sees_no_queue_but_opens_a_request_for_their_customer(client, people):
    opened = actions.open_request(customer_id=people["two"], kind="access", source="member_centre",
                                  verification="短信验证码")  # fmt: skip
    client.force_login(people["g1"])
    assert client.get("/privacy/requests/").status_code == 403
    assert client.get(f"/privacy/requests/{opened.pk}/").status_code == 403
    assert client.post(f"/privacy/requests/{opened.pk}/move/", {"action": "in_progress"}).status_code == 403
    assert client.get("/privacy/requests/new/", {"customer": people["one"]}).status_code == 200
    answer = client.post("/privacy/requests/new/", {"customer": people["one"], "kind": "deletion",
                                                   "verification": "到店核对预留手机号"})  # fmt: skip
    assert answer.status_code == 302 and answer["Location"] == f"/customers/{people['one']}/"
    assert client.post("/privacy/requests/new/", {"customer": people["two"], "kind": "access",
                                                  "verification": "电话"}).status_code == 403  # fmt: skip
    assert DataRequest.objects.filter(source="staff").count() == 1


def _api(client, user, method, path, body=None, key="k1"):
    headers = {"Authorization": f"Bearer {create_token(user, 'tests')}", "Idempotency-Key": key}
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, data=json.dumps(body or {}), content_type="application/json", headers=headers)


def test_the_api_lists_opens_and_moves_requests_with_the_same_permissions(client, people):
    made = _api(client, people["ops"], "post", "/api/privacy/requests",
                {"customer_id": people["one"], "kind": "correction", "verification": "客服电话核对身份证后四位"})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["source"] == "api" and body["status"] == "open" and body["steps"][0]["action"] == "opened"
    replay = _api(client, people["ops"], "post", "/api/privacy/requests",
                  {"customer_id": people["one"], "kind": "correction", "verification": "客服电话核对身份证后四位"})
    assert replay.json()["id"] == body["id"] and DataRequest.objects.count() == 1  # idempotent
    listed = _api(client, people["ops"], "get", "/api/privacy/requests?status=open")
    assert [r["id"] for r in listed.json()] == [body["id"]]
    moved = _api(client, people["ops"], "post", f"/api/privacy/requests/{body['id']}/status",
                 {"status": "done", "note": "已更正"}, key="k2")  # fmt: skip
    assert moved.status_code == 200 and moved.json()["status"] == "done"
    bad = _api(client, people["ops"], "post", f"/api/privacy/requests/{body['id']}/status",
               {"status": "in_progress"}, key="k3")  # fmt: skip
    assert bad.status_code == 400
    assert _api(client, people["g1"], "get", "/api/privacy/requests").status_code == 403
    assert _api(client, people["g1"], "post", "/api/privacy/requests",
                {"customer_id": people["two"], "kind": "access", "verification": "电话"}, key="k4").status_code == 403
    assert _api(client, people["g1"], "post", "/api/privacy/requests",
                {"customer_id": people["one"], "kind": "access", "verification": "电话"}, key="k5").status_code == 201
    assert _api(client, people["ops"], "get", "/api/privacy/requests/999999").status_code == 404
    assert _api(client, people["ops"], "post", "/api/privacy/requests",
                {"customer_id": 999999, "kind": "access", "verification": "电话"}, key="k6").status_code == 404
