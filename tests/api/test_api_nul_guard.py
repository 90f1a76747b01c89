"""The API's one NUL guard (siyu.api.auth.refuse_nul_text): neither PostgreSQL nor the warehouse's SQL
takes a NUL character in a text, so a request carrying one is answered 422, as a field the validation
refused. It runs in the authentication, after the user and the route's role are admitted: a caller who
may not use the route learns that (401/403), never anything about the texts it sent."""

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from customers.sample_brand import make_brand
from siyu.api.actions import create_token
from siyu.api.api import api
from siyu.api.auth import ApiTokenAuth, ConsoleSessionAuth
from siyu.api.models import ApiToken

pytestmark = [pytest.mark.django_db]

RULES = "/api/community/sensitive-rules"  # operators' route: admin and operator yes, manager and guide no
NUL_RULE = json.dumps({"name": "规则", "kind": "regex", "pattern": "a\x00b", "group_types": ["all"]})
NUL_MESSAGE = "文字中不能含有空字符（NUL）。"


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def bearer(user, name="t") -> Client:
    return Client(
        raise_request_exception=False, headers={"Authorization": f"Bearer {create_token(user, name)}"}
    )


def post(client, path, body, key, content_type="application/json"):
    return client.post(path, body, content_type=content_type, headers={"Idempotency-Key": key})


def test_a_nul_body_without_a_valid_token_or_session_is_401(brand):
    assert "\\u0000" in NUL_RULE
    expired = create_token(brand.admin, "expired")
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for client in (Client(), Client(headers={"Authorization": "Bearer wrong"}),
                   Client(headers={"Authorization": f"Bearer {expired}"})):  # fmt: skip
        answer = post(client, RULES, NUL_RULE, "k1")
        assert answer.status_code == 401, answer.content
        assert "NUL" not in answer.content.decode()
    answer = Client().get("/api/community/silent-members", {"room_id": "a\x00b"})
    assert answer.status_code == 401


def test_a_nul_body_from_a_refused_role_is_403_in_words(brand):
    session = Client(raise_request_exception=False)
    session.force_login(brand.guide1)
    for who, client in (
        ("manager", bearer(brand.manager)),
        ("guide", bearer(brand.guide1)),
        ("session", session),
    ):
        answer = post(client, RULES, NUL_RULE, f"k-{who}")
        assert answer.status_code == 403, (who, answer.content)
        assert "只有" in answer.json()["detail"]
    # a token without the route's scope: 403 too, before its texts are looked at
    unscoped = create_token(brand.admin, "unscoped", scopes=["customers:write"])
    answer = post(Client(headers={"Authorization": f"Bearer {unscoped}"}), RULES, NUL_RULE, "k-scope")
    assert answer.status_code == 403 and "community" in answer.json()["detail"]


def test_a_nul_body_from_an_allowed_role_is_422_as_a_refused_field(brand):
    session = Client(raise_request_exception=False)
    session.force_login(brand.operator)
    for who, client in (("token", bearer(brand.operator)), ("session", session)):
        answer = post(client, RULES, NUL_RULE, f"k-{who}")
        assert answer.status_code == 422, (who, answer.content)
        assert answer.json() == {"detail": [{"loc": ["body"], "msg": NUL_MESSAGE, "type": "value_error"}]}
    # a NUL in a key, deep in the body, counts as well
    answer = post(bearer(brand.admin), "/api/sends",
                  {"channel": "webhook", "customer_id": 1001, "variables": {"k\x00": "v"}}, "k-key")  # fmt: skip
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body"]


def test_a_nul_in_a_query_parameter_is_422_when_allowed(brand):
    answer = bearer(brand.operator).get("/api/community/silent-members", {"room_id": "a\x00b", "days": "7"})
    assert answer.status_code == 422
    assert answer.json() == {
        "detail": [{"loc": ["query", "room_id"], "msg": NUL_MESSAGE, "type": "value_error"}]
    }
    # in a parameter's name too; a guide may not read the route at all: 403 whatever the query
    assert bearer(brand.operator).get("/api/community/silent-members?a%00=1").json()["detail"][0]["loc"] == [
        "query", "a\x00"]  # fmt: skip
    assert bearer(brand.guide1).get("/api/community/silent-members", {"room_id": "a\x00b"}).status_code == 403


def test_a_nul_in_a_path_parameter_is_422_when_allowed(brand):
    answer = bearer(brand.operator).get("/api/loyalty/coupons/a%00b")
    assert answer.status_code == 422
    assert answer.json() == {"detail": [{"loc": ["path", "code"], "msg": NUL_MESSAGE, "type": "value_error"}]}
    assert bearer(brand.guide1).get("/api/loyalty/coupons/a%00b").status_code == 403


def test_an_escaped_backslash_then_u0000_is_text_not_a_nul(brand):
    client = bearer(brand.operator)
    for n, pattern in enumerate(["a\\u0000b", "\\\\u0000", "x\\\\"]):
        # json.dumps writes the backslash as \\ : the body holds \\u0000, an escaped backslash then "u0000"
        body = json.dumps({"name": f"规则{n}", "kind": "regex", "pattern": pattern, "group_types": ["all"]})
        answer = post(client, RULES, body, f"k{n}")
        assert answer.status_code == 201, answer.content
        assert answer.json()["pattern"] == pattern
    # an escaped backslash, then the escape of a NUL: a NUL
    body = '{"name": "r", "kind": "regex", "pattern": "a\\\\\\u0000", "group_types": ["all"]}'
    assert json.loads(body)["pattern"] == "a\\\x00"
    assert post(client, RULES, body, "k9").status_code == 422


def test_every_body_ninja_reads_as_json_is_checked_whatever_its_type_or_encoding(brand):
    client = bearer(brand.operator)
    # Ninja parses a body as JSON whatever its Content-Type, and json.loads reads UTF-16 and UTF-32 as well
    for n, (body, content_type) in enumerate([(NUL_RULE, "text/plain"), (NUL_RULE.encode("utf-16"), "application/json"),
                                              (NUL_RULE.encode("utf-32-le"), "application/json")]):  # fmt: skip
        answer = post(client, RULES, body, f"k{n}", content_type=content_type)
        assert answer.status_code == 422, (content_type, answer.content)
    # what passes the guard is still a rule: the same body without the NUL, in UTF-16
    body = NUL_RULE.replace("\\u0000", "-").encode("utf-16")
    assert post(client, RULES, body, "k-ok").status_code == 201


def test_a_nul_in_a_form_field_is_422(brand):
    client = bearer(brand.operator)
    upload = SimpleUploadedFile("chat.jsonl", b"{}\n", content_type="application/octet-stream")
    answer = client.post("/api/community/chat-archive/imports", {"file": upload, "note": "a\x00b"},
                         headers={"Idempotency-Key": "i1"})  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"loc": ["form", "note"], "msg": NUL_MESSAGE, "type": "value_error"}]
    # a guide may not import: 403, whatever the form holds
    upload.seek(0)
    answer = bearer(brand.guide1).post("/api/community/chat-archive/imports", {"file": upload, "note": "a\x00b"},
                                       headers={"Idempotency-Key": "i2"})  # fmt: skip
    assert answer.status_code == 403


def test_every_api_route_is_guarded_by_an_authentication_that_runs_the_check():
    """The guard runs in ApiTokenAuth and ConsoleSessionAuth: a route without them (auth=None, or another
    authentication) would take a NUL to the database unchecked."""
    api.get_openapi_schema()  # binds the routers
    unguarded = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                callbacks = operation.auth_callbacks
                if not callbacks or not all(
                    isinstance(c, ApiTokenAuth | ConsoleSessionAuth) for c in callbacks
                ):
                    unguarded.append((operation.methods, path))
    assert unguarded == []
