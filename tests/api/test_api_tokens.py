"""API tokens with scopes and an expiry: refused in words before the body is read; a scope never widens what
the token's user's role allows; old tokens (no scopes recorded) keep every scope."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from siyu.api.actions import create_token, parse_lifetime
from siyu.api.models import ApiToken
from siyu.api.scopes import ScopeError, allows, parse_scopes

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(db):
    from siyu.staff.actions import create_user

    return create_user("ops", "right-pass-2026", "operator")


def bearer(token):
    return Client(headers={"Authorization": f"Bearer {token}"})


def post(client, path, body, key="k1"):
    return client.post(path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key})


def test_a_token_without_the_scope_gets_403_in_words_before_its_body_is_validated(ops):
    reader = bearer(create_token(ops, "crm", scopes=["customers:read"]))
    refused = post(reader, "/api/privacy/requests", {"customer_id": "not a number"})
    assert refused.status_code == 403  # not 422: the body was never parsed
    assert refused.json()["detail"] == "This API token may not change privacy; it needs the scope privacy:write."
    assert reader.get("/api/privacy/requests").status_code == 403
    # the same invalid body with the scope reaches validation
    writer = bearer(create_token(ops, "dpo", scopes=["privacy:write"]))
    assert post(writer, "/api/privacy/requests", {"customer_id": "not a number"}).status_code == 422
    assert writer.get("/api/privacy/requests").status_code == 200  # write includes read


def test_an_expired_token_gets_401_saying_so_and_is_not_counted_as_a_guess(ops, settings):
    token = create_token(ops, "old", expires_in=dt.timedelta(days=1))
    assert bearer(token).get("/api/privacy/requests").status_code == 200
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        answer = bearer(token).get("/api/privacy/requests")
        assert answer.status_code == 401 and "expired on" in answer.json()["detail"]


def test_a_scope_never_widens_the_role(ops, warehouse):
    from siyu.staff.actions import create_user, ensure_store

    guide = create_user("g1", "right-pass-2026", "guide", store=ensure_store("s1", "一店"))
    everything = bearer(create_token(guide, "all", scopes=["*"]))
    assert everything.get("/api/privacy/requests").status_code == 403  # guides do not see the queue
    assert bearer(create_token(ops, "all")).get("/api/privacy/requests").status_code == 200


def test_tokens_made_before_scopes_keep_every_scope(ops):
    from importlib import import_module

    from django.apps import apps

    from siyu.api.actions import hash_token

    ApiToken.objects.create(user=ops, key_hash=hash_token("siyu_legacy"), name="l")  # as 0002 left it
    assert bearer("siyu_legacy").get("/api/privacy/requests").status_code == 403
    import_module("siyu.api.migrations.0003_token_scopes_and_expiry").every_scope_for_existing_tokens(apps, None)
    legacy = ApiToken.objects.get(name="l")
    assert legacy.scopes == ["*"] and legacy.expires_at is None
    assert bearer("siyu_legacy").get("/api/privacy/requests").status_code == 200


def test_scopes_and_lifetimes_are_parsed_in_words():
    assert parse_scopes(["Customers:Read", "privacy:write,ingest:read"]) == [
        "customers:read", "ingest:read", "privacy:write"]  # fmt: skip
    assert parse_scopes(["customers:read", "all"]) == ["*"]
    with pytest.raises(ScopeError, match="unknown area 'orders'"):
        parse_scopes(["orders:read"])
    with pytest.raises(ScopeError, match="AREA:read or AREA:write"):
        parse_scopes(["customers:delete"])
    assert parse_lifetime("90d") == dt.timedelta(days=90) and parse_lifetime("12h") == dt.timedelta(hours=12)
    with pytest.raises(ScopeError):
        parse_lifetime("soon")
    assert allows(["*:read"], "loyalty", "read") and not allows(["*:read"], "loyalty", "write")
    assert not allows(["customers:write"], None, "read")


def test_token_command_creates_lists_and_revokes(ops, capsys):
    call_command("token", "create", "ops", "--scope", "customers:read", "--scope", "ingest:write",
                 "--expires-in", "90d", "--label", "shop")  # fmt: skip
    token = capsys.readouterr().out.strip()
    assert token.startswith("siyu_")
    stored = ApiToken.objects.get(name="shop")
    assert stored.scopes == ["customers:read", "ingest:write"]
    assert dt.timedelta(days=89) < stored.expires_at - timezone.now() <= dt.timedelta(days=90)
    call_command("token", "list", "--json")
    listed = json.loads(capsys.readouterr().out)
    assert [(t["user"], t["label"], t["scopes"]) for t in listed] == [("ops", "shop", ["customers:read", "ingest:write"])]
    call_command("token", "revoke", "ops", "shop")
    assert bearer(token).get("/api/privacy/requests").status_code == 401  # revoked: no longer works
    assert ApiToken.objects.get(name="shop").revoked_at is not None  # kept, marked revoked
    capsys.readouterr()
    call_command("token", "list")
    assert "revoked" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown area"):
        call_command("token", "create", "ops", "--scope", "orders:read")


def test_an_admin_manages_tokens_through_the_api_and_the_token_is_never_stored(ops):
    from siyu.staff.actions import create_user
    from siyu.web.models import IdempotencyKey

    admin = bearer(create_token(create_user("boss", "right-pass-2026", "admin"), "root"))
    body = {"user_id": ops.pk, "name": "shop", "scopes": ["privacy:read"], "expires_in": "30d"}
    made = post(admin, "/api/tokens", body, key="mint-1")
    assert made.status_code == 201, made.content
    secret = made.json()["token"]
    assert secret.startswith("siyu_") and made.json()["scopes"] == ["privacy:read"]
    assert made.json()["expires_at"] is not None
    # a replay answers the token as null: the secret is in no table (only its hash is kept)
    again = post(admin, "/api/tokens", body, key="mint-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["token"] is None and again.json()["id"] == made.json()["id"]
    assert not any(secret in json.dumps(k.response) for k in IdempotencyKey.objects.all())
    assert ApiToken.objects.filter(name="shop").count() == 1
    # the new token works within its scope only, and the list shows it
    shop = bearer(secret)
    assert shop.get("/api/privacy/requests").status_code == 200
    assert shop.get("/api/customers").status_code == 403
    listed = {t["name"]: t for t in admin.get("/api/tokens").json()}
    assert listed["shop"]["token"] is None and listed["shop"]["username"] == "ops"
    # a token limited to areas cannot reach the tokens (it could mint a wider one); nor can a non-admin
    assert shop.get("/api/tokens").status_code == 403
    assert post(bearer(create_token(ops, "ops-all")), "/api/tokens", body, key="mint-2").status_code == 403
    assert post(admin, "/api/tokens", {**body, "scopes": ["nowhere:read"]}, key="mint-3").status_code == 400
    # revoked: refused at once
    revoked = post(admin, f"/api/tokens/{made.json()['id']}/revoke", {}, key="revoke-1")
    assert revoked.status_code == 200 and revoked.json() == {"id": made.json()["id"], "revoked": True}
    assert shop.get("/api/privacy/requests").status_code == 401
    assert post(admin, f"/api/tokens/{made.json()['id']}/revoke", {}, key="revoke-2").status_code == 404
