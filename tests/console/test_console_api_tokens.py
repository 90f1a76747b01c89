"""The console's API token page (settings → API tokens): an admin lists every token with its owner and its
permissions in words, creates one for a staff member (the token shown on that answer only) and revokes one,
after which the API refuses it; every other role gets 403 on every address of the page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from siyu.api.actions import create_token
from siyu.api.models import ApiToken
from siyu.core.models import AuditLog

pytestmark = pytest.mark.django_db

PAGE = "/settings/api-tokens/"
SECRET = re.compile(r"siyu_[A-Za-z0-9_-]{20,}")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _create(client, user, **form):
    data = {"name": "商城系统", "user": str(user.pk), "scopes": ["privacy:read", "customers:write"],
            "expires_in": "90d", **form}  # fmt: skip
    return client.post(PAGE, data)


def test_an_admin_creates_a_token_sees_it_once_and_it_works_against_the_api(staff):
    admin = _client(staff["admin"])
    answer = _create(admin, staff["operator"])
    assert answer.status_code == 200
    text = answer.content.decode()
    (secret,) = set(SECRET.findall(text))
    assert "只显示这一次" in text  # the note that it will not be shown again
    assert answer["Cache-Control"].startswith("max-age=0") and "no-store" in answer["Cache-Control"]
    stored = ApiToken.objects.get()
    assert stored.user == staff["operator"] and stored.name == "商城系统"
    assert stored.scopes == ["customers:write", "privacy:read"]
    assert dt.timedelta(days=89) < stored.expires_at - timezone.now() <= dt.timedelta(days=90)
    audit = AuditLog.objects.get(action="create_api_token")
    assert audit.actor == staff["admin"] and audit.target == "operator"

    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/privacy/requests").status_code == 200
    assert api.get("/api/segments").status_code == 403  # no scope for segments

    listing = admin.get(PAGE).content.decode()
    assert secret not in listing and not SECRET.search(listing)  # never shown again
    assert "商城系统" in listing and "运营" in listing  # its name and owner (with the role)
    assert "客户：查看和修改" in listing and "个人信息申请：查看" in listing  # scopes in words
    table = listing[listing.index('<table class="table api-tokens">') : listing.index("</table>")]
    assert "customers:write" not in table and "privacy:read" not in table  # never the codes
    assert "尚未使用" not in listing  # it was used just now
    assert "有效" in listing


def test_the_list_shows_every_token_with_its_state_in_words(staff):
    create_token(staff["guide1"], "小程序", scopes=["*:read"], expires_in=dt.timedelta(days=7))
    create_token(staff["admin"], "old", scopes=["*"], expires_in=dt.timedelta(hours=1))
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    create_token(staff["operator"], "forever", scopes=["loyalty:read"])
    page = _client(staff["admin"]).get(PAGE).content.decode()
    assert "小王（导购）" in page and "全部（仅查看）" in page
    assert "全部（查看和修改）" in page and "已过期" in page
    assert "会员权益：查看" in page and "永不过期" in page and "尚未使用" in page
    assert "API 令牌" in page  # the menu entry and the title
    english = _client(staff["admin"])
    english.cookies["django_language"] = "en"
    page = english.get(PAGE).content.decode()
    assert "Member benefits: view" in page and "Never expires" in page and "Everything (view only)" in page


def test_an_admin_revokes_a_token_and_the_api_refuses_it_from_then_on(staff):
    admin = _client(staff["admin"])
    secret = SECRET.search(_create(admin, staff["operator"]).content.decode())[0]
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/privacy/requests").status_code == 200
    token = ApiToken.objects.get()
    page = admin.get(PAGE).content.decode()
    assert f"/settings/api-tokens/{token.pk}/revoke/" in page and "data-confirm" in page
    assert admin.get(f"{PAGE}{token.pk}/revoke/").status_code == 405  # a button, never a link
    answer = admin.post(f"{PAGE}{token.pk}/revoke/", follow=True)
    assert "令牌已吊销" in answer.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api.get("/api/privacy/requests").status_code == 401
    audit = AuditLog.objects.get(action="revoke_api_token")
    assert audit.actor == staff["admin"] and audit.target == "operator" and audit.detail["name"] == "商城系统"
    page = admin.get(PAGE).content.decode()
    assert "已吊销" in page and f"/settings/api-tokens/{token.pk}/revoke/" not in page
    again = admin.post(f"{PAGE}{token.pk}/revoke/", follow=True).content.decode()
    assert "这个令牌已经吊销" in again and AuditLog.objects.filter(action="revoke_api_token").count() == 1


def test_revoking_needs_the_csrf_token(staff):
    token_id = ApiToken.objects.get(pk=_token_id(staff)).pk
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff["admin"])
    assert strict.post(f"{PAGE}{token_id}/revoke/").status_code == 403
    assert ApiToken.objects.get(pk=token_id).revoked_at is None


def _token_id(staff) -> int:
    create_token(staff["operator"], "shop", scopes=["customers:read"])
    return ApiToken.objects.get(name="shop").pk


def test_a_form_without_name_or_permission_is_refused_in_words(staff):
    admin = _client(staff["admin"])
    answer = _create(admin, staff["operator"], name=" ", scopes=[])
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "请给令牌起一个说明用途的名称" in text and "请至少勾选一项权限" in text
    assert not SECRET.search(text) and not ApiToken.objects.exists()
    refused = _create(admin, staff["operator"], expires_in="99y")
    assert refused.status_code == 400 and "请选择令牌的有效期" in refused.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("role", ["operator", "manager", "guide1"])
def test_every_other_role_gets_403_on_every_address_of_the_page(staff, role):
    token_id = _token_id(staff)
    client = _client(staff[role])
    assert client.get(PAGE).status_code == 403
    assert _create(client, staff[role]).status_code == 403
    assert client.post(f"{PAGE}{token_id}/revoke/").status_code == 403
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None
    assert "/settings/api-tokens/" not in client.get("/").content.decode()  # no menu entry either


def test_anonymous_visitors_are_sent_to_the_login_page(staff):
    answer = Client().get(PAGE)
    assert answer.status_code == 302 and "/login/" in answer["Location"]
