"""The member centre speaks Chinese (English when switched): the sign-in page, home and 我的隐私 show no
English word in Chinese and no raw code in English (the console's words checks, on the member pages)."""

from __future__ import annotations

import pytest

from siyu.members import links

pytestmark = pytest.mark.django_db


def _words():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "console"))
    import test_console_words as words  # the console's reader of visible text

    return words


@pytest.mark.parametrize("path", ["/m/sign-in/", "/m/", "/m/privacy/"])
def test_member_pages_speak_chinese_and_show_no_codes(client, brand, aliyun, wechat, path):
    from siyu.customers.actions import add_tag, record_consent
    from siyu.privacy.actions import open_request

    words = _words()
    add_tag(None, [brand["one"]], "敏感肌", group_name="肤质")
    record_consent(None, brand["one"], "wecom", "opt_out", "客户回复退订")
    open_request(customer_id=brand["one"], kind="access", source="member_centre", verification="短信验证码")
    if path != "/m/sign-in/":
        client.get(links.sign_in_url(brand["one"]))
    data = {"shop", "oa"}  # the brand's own import source names
    zh = words.visible_text(words._visit(client, "zh-hans", "get", path, {}))
    en = words.visible_text(words._visit(client, "en", "get", path, {}))
    assert words.english_in_chinese(zh, data) == []
    assert words.codes_in_english(en, data) == []
    assert "English" in words._visit(client, "zh-hans", "get", path, {})  # the switch, marked lang="en"
