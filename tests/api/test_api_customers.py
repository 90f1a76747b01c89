import hashlib
import json

import pytest
from django.test import Client

from customers.sample_brand import make_brand
from siyu.api.actions import create_token
from siyu.api.models import ApiToken
from siyu.core.models import AuditLog
from siyu.customers.models import CustomerTag

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def client_for(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def post(client, path, body, key, method="post"):
    return getattr(client, method)(
        path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_a_token_is_needed_and_only_its_hash_is_stored(brand):
    assert Client().get("/api/customers").status_code == 401
    bad = Client(headers={"Authorization": "Bearer siyu_not-a-real-token"})
    assert bad.get("/api/customers").status_code == 401
    token = create_token(brand.operator, "shop")
    stored = ApiToken.objects.get(name="shop")
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.key_hash
    ok = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/customers")
    assert ok.status_code == 200 and ok.json()["total"] == 4
    brand.operator.is_active = False
    brand.operator.save()
    assert Client(headers={"Authorization": f"Bearer {token}"}).get("/api/customers").status_code == 401


def test_the_console_session_works_and_writes_need_csrf(brand):
    client = Client(enforce_csrf_checks=True)
    client.force_login(brand.operator)
    assert client.get("/api/customers/1001").json()["name"] == "张三"
    refused = post(client, "/api/customers/1001/tags", {"tag": "x"}, "k1")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_list_search_filter_and_page(brand):
    client = client_for(brand.operator)
    body = client.get("/api/customers", {"q": "5678", "order": "id"}).json()
    assert [r["customer_id"] for r in body["items"]] == [1001, 1003]
    assert body["items"][0]["phone"] == "13812345678" and body["items"][0]["spend"] == "200.50"
    body = client.get("/api/customers", {"province": "浙江", "source": "douyin"}).json()
    assert [r["customer_id"] for r in body["items"]] == [1003]
    body = client.get("/api/customers", {"page": 2, "page_size": 3}).json()
    assert (body["total"], body["pages"], body["page"], len(body["items"])) == (4, 2, 2, 1)
    assert client.get("/api/customers", {"page_size": 1000}).status_code == 422


def test_guide_gets_masked_rows_and_403_on_another_guides_customer(brand):
    client = client_for(brand.guide1)
    rows = client.get("/api/customers").json()["items"]
    assert [(r["customer_id"], r["name"], r["phone"]) for r in rows] == [(1001, "张*", "138****5678")]
    refused = client.get("/api/customers/1002")
    assert refused.status_code == 403 and "not one of your customers" in refused.json()["detail"]
    assert client.get("/api/customers/1001").json()["phone"] == "138****5678"
    assert client.get("/api/customers/77777").status_code == 404
    assert post(client, "/api/customers/1002/tags", {"tag": "x"}, "k-guide").status_code == 403


def test_profile_in_clear_is_audited(brand):
    client = client_for(brand.operator)
    profile = client.get("/api/customers/1001").json()
    assert profile["name"] == "张三" and profile["totals"]["spend"] == "200.50"
    assert profile["orders"][1]["items"][0]["product"] == "精华"
    assert AuditLog.objects.filter(action="view_pii", target="1001", actor=brand.operator).count() == 1
    missing = client.get("/api/customers/999")
    assert missing.status_code == 404 and missing.json() == {"detail": "no customer 999"}


def test_tagging_with_idempotency_keys(brand):
    client = client_for(brand.operator)
    first = post(client, "/api/customers/1001/tags", {"tag": "会员等级:金卡"}, "tag-1001-gold")
    assert first.status_code == 200
    assert first.json()["changed"] == 1 and [t["label"] for t in first.json()["tags"]] == ["会员等级:金卡"]

    replay = post(client, "/api/customers/1001/tags", {"tag": "会员等级:金卡"}, "tag-1001-gold")
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert CustomerTag.objects.filter(customer_id=1001).count() == 1

    conflict = post(client, "/api/customers/1001/tags", {"tag": "会员等级:银卡"}, "tag-1001-gold")
    assert conflict.status_code == 409 and "different request body" in conflict.json()["detail"]
    assert CustomerTag.objects.filter(customer_id=1001).count() == 1

    missing_key = client.post("/api/customers/1001/tags", data={"tag": "x"}, content_type="application/json")
    assert missing_key.status_code == 422

    # a new key with the same body is a new request: still idempotent, nothing changes
    again = post(client, "/api/customers/1001/tags", {"tag": "金卡", "group": "会员等级"}, "tag-1001-gold-2")
    assert again.json()["changed"] == 0

    removed = client.delete(
        "/api/customers/1001/tags?tag=会员等级:金卡", headers={"Idempotency-Key": "untag-1001-gold"}
    )
    assert removed.status_code == 200 and removed.json() == {"changed": 1, "tags": []}
    assert (
        client.delete("/api/customers/77777/tags?tag=x", headers={"Idempotency-Key": "u2"}).status_code == 404
    )


def test_a_failed_write_can_be_retried_with_the_same_key(brand):
    client = client_for(brand.operator)
    failed = post(client, "/api/customers/1001/tags", {"tag": "   "}, "retry-me")
    assert failed.status_code == 400 and "empty" in failed.json()["detail"]
    # nothing was stored for the failure: the corrected request runs under the same key
    fixed = post(client, "/api/customers/1001/tags", {"tag": "高价值"}, "retry-me")
    assert fixed.status_code == 200 and fixed.json()["changed"] == 1
    assert "Idempotent-Replayed" not in fixed.headers
    assert post(client, "/api/customers/1001/tags", {"tag": "高价值"}, "retry-me").headers[
        "Idempotent-Replayed"
    ]


def test_an_idempotency_key_is_forgotten_after_its_ttl(brand, settings):
    from datetime import timedelta

    from django.utils import timezone

    from siyu.web.actions import purge_expired_idempotency_keys
    from siyu.web.models import IdempotencyKey

    client = client_for(brand.operator)
    assert post(client, "/api/customers/1001/tags", {"tag": "高价值"}, "old-key").json()["changed"] == 1
    post(client, "/api/customers/1001/tags", {"tag": "新客"}, "fresh-key")
    IdempotencyKey.objects.filter(key="old-key").update(created_at=timezone.now() - timedelta(hours=25))

    # past the 24 h TTL the key is a new request: a different body runs instead of a 409
    again = post(client, "/api/customers/1001/tags", {"tag": "复购"}, "old-key")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert again.json()["changed"] == 1

    IdempotencyKey.objects.filter(key="fresh-key").update(created_at=timezone.now() - timedelta(hours=23))
    assert purge_expired_idempotency_keys(now=timezone.now() + timedelta(hours=2)) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["old-key"]


def test_bulk_tags(brand):
    client = client_for(brand.operator)
    body = {"action": "add", "customer_ids": [1001, 1002, 1003], "tag": "618活动", "group": "活动"}
    done = post(client, "/api/tags/bulk", body, "bulk-1")
    assert done.json() == {"action": "add", "tag": "活动:618活动", "customers": 3, "changed": 3}
    assert post(client, "/api/tags/bulk", body, "bulk-2").json()["changed"] == 0
    groups = client.get("/api/tags").json()
    assert groups[0]["name"] == "活动" and groups[0]["tags"][0]["customers"] == 3
    removed = post(
        client, "/api/tags/bulk", {**body, "action": "remove", "customer_ids": [1001, 1002]}, "bulk-3"
    )
    assert removed.json()["changed"] == 2
    unknown = post(client, "/api/tags/bulk", {**body, "customer_ids": [1001, 5555]}, "bulk-4")
    assert unknown.status_code == 404
    guide = client_for(brand.guide1)
    assert post(guide, "/api/tags/bulk", body, "bulk-g").status_code == 403


def test_notes_and_consent(brand):
    client = client_for(brand.guide1)
    note = post(client, "/api/customers/1001/notes", {"text": "周末来店"}, "note-1")
    assert note.status_code == 201 and note.json()["author"] == "王导购"
    consent = post(
        client,
        "/api/customers/1001/consents",
        {"channel": "sms", "status": "opt_out", "source": "wecom_chat", "at": "2024-06-01T10:00:00"},
        "consent-1",
    )
    assert consent.status_code == 201
    assert consent.json()["recorded_at"] == "2024-06-01T02:00:00Z"  # a time without zone is China time
    profile = client.get("/api/customers/1001").json()
    assert profile["consent"]["sms"]["status"] == "opt_out"
    assert profile["notes"][0]["text"] == "周末来店"
    # every channel has its own consent (the webhook one was refused with 422 before), and the choice
    # about personalised marketing is recorded the same way
    for n, channel in enumerate(("webhook", "personalised")):
        answer = post(client, "/api/customers/1001/consents",
                      {"channel": channel, "status": "opt_out", "source": "会员热线"}, f"consent-c{n}")  # fmt: skip
        assert answer.status_code == 201, answer.content
    profile = client.get("/api/customers/1001").json()
    assert profile["consent"]["webhook"]["status"] == profile["consent"]["personalised"]["status"] == "opt_out"


def test_openapi_schema_and_docs_are_served(db):
    schema = Client().get("/api/openapi.json").json()
    assert {
        "/api/customers",
        "/api/customers/{customer_id}",
        "/api/tags",
        "/api/orders",
        "/api/events",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiTokenAuth"] == {"type": "http", "scheme": "bearer"}
    tag_post = schema["paths"]["/api/customers/{customer_id}/tags"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in tag_post["parameters"])
    assert Client().get("/api/docs").status_code == 200


def test_createtoken_command_prints_a_working_token(brand):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("createtoken", "g1", "--label", "crm", stdout=out)
    client = Client(headers={"Authorization": f"Bearer {out.getvalue().strip()}"})
    assert [r["customer_id"] for r in client.get("/api/customers").json()["items"]] == [1001]
