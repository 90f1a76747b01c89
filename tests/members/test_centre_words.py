"""Every member centre page speaks Chinese (no English words but ids and the glossary's terms) and, switched to
English, shows no codes or field names: the console's words test (tests/console/test_console_words.py) run
over every /m/ page a member sees, in the states that show the most words."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from centre_helpers import ADDRESS, programme, sign_in
from django.urls import get_resolver
from django.utils import translation

from siyu.loyalty.checkin import actions as checkin_actions
from siyu.staff.actions import create_user

sys.path.insert(0, str(Path(__file__).parents[1] / "console"))  # the console's words test lives there
from test_console_words import codes_in_english, english_in_chinese, visible_text  # noqa: E402

pytestmark = pytest.mark.django_db
DATA = {"shop"}  # the brand's own words: the source its orders were landed under (members_helpers.land_brand)


def _pages(shop, redemption: str) -> list[tuple[str, str, dict]]:
    coupon = shop["coupons"]["one"]
    return [
        ("get", "/m/", {}), ("get", "/m/points/", {}), ("get", "/m/checkin/", {}), ("get", "/m/mall/", {}),
        ("get", f"/m/mall/{shop['gift'].pk}/", {}), ("get", f"/m/mall/{shop['coupon_item'].pk}/", {}),
        ("post", f"/m/mall/{shop['gift'].pk}/", {"token": "0" * 32, "quantity": "9", **ADDRESS}),
        ("get", redemption, {}), ("get", "/m/coupons/", {}), ("get", f"/m/coupons/{coupon.pk}/", {}),
        ("get", "/m/surveys/", {}), ("get", f"/m/surveys/{shop['branching'].pk}/", {}),
        ("get", f"/m/surveys/{shop['flat'].pk}/", {}), ("post", f"/m/surveys/{shop['flat'].pk}/", {"token": "1" * 32}),
        ("get", "/m/privacy/", {}), ("get", "/m/mall/999999/", {}),
    ]  # fmt: skip


def test_every_member_page_is_listed_here():
    names = {p.name for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "members"
             for p in p.url_patterns}  # fmt: skip
    visited = {"home", "points", "checkin", "mall", "mall_item", "redemption", "coupons", "coupon", "surveys",
               "survey", "privacy"}  # fmt: skip
    sign_in_and_posts = {"sign_in", "sign_out", "wechat", "wechat_callback", "link", "privacy_consent",
                         "privacy_request"}  # fmt: skip  (the sign-in pages: tests/members/test_sign_in_*)
    assert names - visited - sign_in_and_posts == set(), "a member page this test does not visit"


def test_every_member_page_speaks_chinese_and_shows_no_codes(client, brand):
    ops = create_user("ops", "pw-ops-1", "operator", display_name="运营小张")
    shop = programme(ops, brand)
    one = brand["one"]
    sign_in(client, one)
    checkin_actions.check_in(one)
    checkin_actions.grant_makeup_cards(ops, one, 1)
    from siyu.loyalty.mall import actions as mall_actions

    redemption = mall_actions.redeem_item(one, shop["gift"].pk, key="words", address=ADDRESS)
    problems = []
    for method, path, data in _pages(shop, f"/m/mall/redemptions/{redemption.pk}/"):
        for language in ("zh-hans", "en"):
            client.cookies["django_language"] = language
            response = getattr(client, method)(path, data, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code in (200, 400, 404, 409), (path, response.status_code)
            texts = visible_text(response.content.decode())
            if language == "zh-hans":
                assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), path
            found = english_in_chinese(texts, DATA) if language == "zh-hans" else codes_in_english(texts, DATA)
            problems += [f"{path} {language}: {p}" for p in found]
    translation.activate("zh-hans")
    assert problems == [], f"{len(problems)} words:\n" + "\n".join(dict.fromkeys(problems))
