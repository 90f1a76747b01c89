"""/api/tokens: API tokens (admins only), as on the console's token page — list, create (the token is in that
answer only, never stored: a replay of the request answers it as null), revoke. Mounted outside every area,
so only a console session or a token with every scope (`*`) reaches it: a token limited to some areas
cannot mint a wider one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.api import actions, queries
from siyu.core.errors import NotFound
from siyu.staff.models import Role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS

router = Router(tags=["tokens"])

TokenIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="token id")]


class TokenIn(Schema):
    user_id: int = Field(ge=1, le=2**63 - 1, description="the active staff member the token acts as")
    name: str = Field(min_length=1, max_length=100, description="what it is for, e.g. the shop system")
    scopes: list[str] = Field(min_length=1, description="AREA:read or AREA:write (siyu.api.scopes), or *")
    expires_in: str | None = Field(None, max_length=10, description="90d, 12h, 4w or 1y; null: never expires")


class TokenOut(Schema):
    id: int
    username: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    token: str | None = Field(None, description="the token: in the answer that created it only (null in a replay)")


class TokenRevokedOut(Schema):
    id: int
    revoked: bool


def _token_dict(token, secret: str | None = None) -> dict:
    return {"id": token.pk, "username": token.user.get_username(), "name": token.name, "scopes": token.scopes,
            "created_at": token.created_at, "expires_at": token.expires_at, "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at, "token": secret}  # fmt: skip


@router.get("/tokens", response={200: list[TokenOut], **READ_ERRORS}, summary="API tokens, newest first")
@roles(Role.ADMIN)
def list_tokens(request):
    return [_token_dict(t) for t in queries.tokens(request.auth)]


@router.post("/tokens", response={201: TokenOut, **WRITE_ERRORS}, summary="Create an API token (shown once)")
@roles(Role.ADMIN)
def create_token(request, response: HttpResponse, body: TokenIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        lifetime = actions.parse_lifetime(body.expires_in) if body.expires_in else None
        token, secret = actions.issue_token(request.auth, body.user_id, body.name, body.scopes, lifetime)
        return _token_dict(token, secret)

    return run_once(request, response, idempotency_key, body, run, status=201, not_kept=("token",))


@router.post("/tokens/{int:token_id}/revoke", response={200: TokenRevokedOut, **WRITE_ERRORS},
             summary="Revoke a live API token (kept, marked revoked; 404 when none is live)")  # fmt: skip
@roles(Role.ADMIN)
def revoke_token(request, response: HttpResponse, token_id: TokenIdPath, idempotency_key: IdempotencyKeyHeader):
    def run():
        if not actions.revoke_token_by_id(request.auth, token_id):
            raise NotFound(f"no live API token {token_id}")
        return {"id": token_id, "revoked": True}

    return run_once(request, response, idempotency_key, {"id": token_id}, run)
