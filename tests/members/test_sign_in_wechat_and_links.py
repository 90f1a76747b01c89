"""Sign-in with WeChat official-account web authorisation (snsapi_base) against the fake WeChat API, and
with signed one-click links: the authorisation URL as WeChat documents it, the code exchanged once (40029
after), a tampered state refused, a known openid and a known unionid finding their customer, an unknown
openid landing a record; links valid, expired, tampered."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from members_helpers import OPENID_ONE, OPENID_TWO, UNIONID_TWO

from siyu.members import links
from siyu.members.auth import MEMBER_KEY
from siyu.members.models import MemberSignIn

pytestmark = pytest.mark.django_db


def start(client, next_path="/m/privacy/"):
    answer = client.get("/m/auth/wechat/", {"next": next_path})
    assert answer.status_code == 302
    return answer["Location"]


def test_the_authorisation_url_is_wechats_with_a_signed_state(client, brand, wechat):
    url = start(client)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://open.weixin.qq.com/connect/oauth2/authorize"
    assert parts.fragment == "wechat_redirect"
    query = parse_qs(parts.query)
    assert query["appid"] == [wechat.appid] and query["response_type"] == ["code"]
    assert query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == ["http://testserver/m/auth/wechat/callback/"]
    assert list(parse_qs(parts.query, keep_blank_values=True)) == ["appid", "redirect_uri", "response_type", "scope", "state"]
    assert query["state"][0]


def test_a_known_openid_signs_in_and_the_code_works_once(client, brand, wechat):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = wechat.authorise(OPENID_ONE)
    answer = client.get("/m/auth/wechat/callback/", {"code": code, "state": state})
    assert answer.status_code == 302 and answer["Location"] == "/m/privacy/"
    assert client.session[MEMBER_KEY] | {"at": None} == {"customer_id": brand["one"], "record_key": "",
                                                         "method": "wechat", "at": None}  # fmt: skip
    exchange = [r for r in wechat.requests if r["path"] == "/sns/oauth2/access_token"][0]
    assert exchange["query"] == {"appid": wechat.appid, "secret": wechat.secret, "code": code,
                                 "grant_type": "authorization_code"}  # fmt: skip
    # the same code again (a reload, a replay): WeChat answers 40029 and nobody is signed in
    client.post("/m/sign-out/")
    again = client.get("/m/auth/wechat/callback/", {"code": code, "state": state})
    assert again.status_code == 302 and "refused=bad_code" in again["Location"]
    assert MEMBER_KEY not in client.session
    assert "微信未能确认您的身份" in client.get(again["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_an_expired_code_is_refused(client, brand, wechat):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = wechat.authorise(OPENID_ONE)
    wechat.oauth_codes[code] = (*wechat.oauth_codes[code][:2], time.time() - 1)
    answer = client.get("/m/auth/wechat/callback/", {"code": code, "state": state})
    assert "refused=bad_code" in answer["Location"] and MEMBER_KEY not in client.session


def test_a_tampered_or_foreign_state_is_refused_before_wechat_is_asked(client, brand, wechat):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = wechat.authorise(OPENID_ONE)
    for bad in (state[:-2] + ("AA" if not state.endswith("AA") else "BB"), "", signing.dumps({"n": "/m/"})):
        answer = client.get("/m/auth/wechat/callback/", {"code": code, "state": bad})
        assert "refused=bad_state" in answer["Location"]
    assert not [r for r in wechat.requests if r["path"] == "/sns/oauth2/access_token"]
    assert MEMBER_KEY not in client.session


def test_a_unionid_finds_the_customer_across_the_brands_apps(client, brand, wechat):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    client.get("/m/auth/wechat/callback/", {"code": wechat.authorise(OPENID_TWO, UNIONID_TWO), "state": state})
    assert client.session[MEMBER_KEY]["customer_id"] == brand["two"]


def test_an_unknown_openid_lands_a_record_resolved_later(client, brand, wechat):
    from siyu.identity.actions import resolve_identities

    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    client.get("/m/auth/wechat/callback/", {"code": wechat.authorise("oNewPersonNewPersonNewPerson9"), "state": state})
    assert client.session[MEMBER_KEY]["customer_id"] is None
    assert client.session[MEMBER_KEY]["record_key"].startswith("member_centre|wechat-")
    resolve_identities()
    assert client.get("/m/").status_code == 200
    assert client.session[MEMBER_KEY]["customer_id"] not in (None, brand["one"], brand["two"])


def test_without_an_official_account_the_wechat_button_is_not_offered(client, brand):
    assert "微信登录" not in client.get("/m/sign-in/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "refused=wechat_unavailable" in client.get("/m/auth/wechat/")["Location"]


def test_a_signed_link_signs_in_and_goes_where_it_says(client, brand):
    url = links.sign_in_url(brand["one"], "/m/privacy/")
    answer = client.get(url)
    assert answer.status_code == 302 and answer["Location"] == "/m/privacy/"
    assert client.session[MEMBER_KEY]["customer_id"] == brand["one"]
    assert MemberSignIn.objects.get().method == "link"
    # a link never sends anyone off the member centre
    assert client.get(links.sign_in_url(brand["one"], "https://evil.example/"))["Location"] == "/m/"
    assert client.get(links.sign_in_url(brand["one"], "/customers/"))["Location"] == "/m/"


def test_an_expired_or_tampered_link_is_refused(client, brand, settings):
    url = links.sign_in_url(brand["one"])
    token = url.split("t=", 1)[1]
    tampered = client.get(f"/m/auth/link/?t={token[:-3]}xyz")
    assert "refused=link_invalid" in tampered["Location"] and MEMBER_KEY not in client.session
    other = signing.dumps({"c": brand["two"], "n": "/m/"}, salt="another")
    assert "refused=link_invalid" in client.get(f"/m/auth/link/?t={other}")["Location"]
    settings.MEMBER_LINK_MAX_AGE = -1
    expired = client.get(url)
    assert "refused=link_expired" in expired["Location"] and MEMBER_KEY not in client.session
    assert "登录链接已过期" in client.get(expired["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
