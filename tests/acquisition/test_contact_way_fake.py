"""The fake WeCom's 联系我 API checks requests as WeCom documents them, and the client speaks it: a code
keeps its config_id and QR code when its staff change, its `qr_code` is a picture of a QR holding the way's
add link, and a scan makes the customer a contact of one of the code's staff with the code's state."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom import WeComError, parse_callback_event
from siyu.engagement.messaging.channels.wecom_contact_ways import download_qr_picture

pytestmark = pytest.mark.django_db(databases=[])


def _errcode(call, *args, **kwargs) -> int:
    with pytest.raises(WeComError) as refused:
        call(*args, **kwargs)
    return refused.value.errcode


def test_state_over_30_characters_and_101_users_are_refused(fake, wecom_client):
    assert _errcode(wecom_client.add_contact_way, ["guide1"], "s" * 31) == 40058
    fake.members.update(f"u{i}" for i in range(101))
    assert _errcode(wecom_client.add_contact_way, [f"u{i}" for i in range(101)], "ok") == 40058
    config_id, qr = wecom_client.add_contact_way([f"u{i}" for i in range(100)], "s" * 30)
    assert config_id and qr.startswith(f"{fake.url}/wwpic/")  # a picture on (the fake's) picture host
    assert fake.contact_ways == {config_id: fake.contact_ways[config_id]}  # nothing kept of the refused


def test_a_single_person_way_has_exactly_one_user_and_users_must_exist(fake, wecom_client):
    assert _errcode(wecom_client.add_contact_way, ["guide1", "guide2"], "x", multi=False) == 40058
    assert _errcode(wecom_client.add_contact_way, [], "x", multi=False) == 40058
    assert _errcode(wecom_client.add_contact_way, [], "x") == 40058  # a multi-person way needs users or a party
    assert _errcode(wecom_client.add_contact_way, ["nobody"], "x") == 40003
    assert _errcode(wecom_client.add_contact_way, ["guide1"], "x", party=[9]) == 60123
    config_id, _ = wecom_client.add_contact_way(["guide1"], "x", multi=False)
    assert wecom_client.get_contact_way(config_id)["type"] == 1


def test_update_keeps_config_id_and_qr_code_and_changes_users_state_and_verification(fake, wecom_client):
    config_id, qr = wecom_client.add_contact_way(["guide1", "guide2"], "code-1", remark="门店")
    wecom_client.update_contact_way(config_id, users=["guide3"], state="code-1b", skip_verify=False, remark="小票")
    way = wecom_client.get_contact_way(config_id)
    assert (way["config_id"], way["qr_code"]) == (config_id, qr)
    assert (way["user"], way["state"], way["skip_verify"], way["remark"]) == (["guide3"], "code-1b", False, "小票")
    # what the way cannot become is refused and leaves it as it was
    assert _errcode(wecom_client.update_contact_way, config_id, users=["guide1"] * 2) == 40058
    assert _errcode(wecom_client.update_contact_way, config_id, state="t" * 31) == 40058
    assert _errcode(wecom_client.update_contact_way, "no-such-way", users=["guide1"]) == 40058
    assert wecom_client.get_contact_way(config_id)["user"] == ["guide3"]
    single, _ = wecom_client.add_contact_way(["guide1"], "single", multi=False)
    assert _errcode(wecom_client.update_contact_way, single, users=["guide1", "guide2"]) == 40058


def test_list_pages_every_way_and_delete_removes_one(fake, wecom_client):
    made = [wecom_client.add_contact_way(["guide1"], f"c{i}")[0] for i in range(5)]
    import siyu.engagement.messaging.channels.wecom_contact_ways as ways

    ways.LIST_PAGE, saved = 2, ways.LIST_PAGE
    try:
        assert wecom_client.list_contact_ways() == made
    finally:
        ways.LIST_PAGE = saved
    wecom_client.del_contact_way(made[0])
    assert wecom_client.list_contact_ways() == made[1:]
    assert _errcode(wecom_client.get_contact_way, made[0]) == 40058


def test_a_scan_adds_the_customer_to_the_code_staff_in_turn_with_the_state(fake, wecom_client):
    config_id, _ = wecom_client.add_contact_way(["guide1", "guide2"], "code-7")
    first = parse_callback_event(fake.scan(config_id, "wm-a", "阿花", unionid="u-a"))
    second = parse_callback_event(fake.scan(config_id, "wm-b"))
    assert (first["properties"]["staff"], second["properties"]["staff"]) == ("guide1", "guide2")
    assert first["properties"]["state"] == "code-7" and first["welcome_code"] in fake.welcome_codes
    assert "wm-a" in fake.contacts["guide1"] and fake.follow("guide1", "wm-a")["state"] == "code-7"
    assert wecom_client.get_external_contact("wm-a")["unionid"] == "u-a"


def test_the_qr_code_is_a_picture_of_a_qr_holding_the_ways_own_add_link(fake, wecom_client):
    one, picture_url = wecom_client.add_contact_way(["guide1"], "code-8")
    two, _ = wecom_client.add_contact_way(["guide2"], "code-9")
    picture = Image.open(io.BytesIO(download_qr_picture(picture_url)))
    assert picture.format == "PNG" and picture.size == (430, 430)  # as big as WeCom's
    (read,) = zxingcpp.read_barcodes(picture)
    assert read.format == zxingcpp.BarcodeFormat.QRCode
    assert read.text == fake.add_links[one] and read.text.startswith("https://work.weixin.qq.com/ca/cawcde")
    assert fake.add_links[two] != fake.add_links[one]  # one link per way
    # the picture host needs no access token, and a picture of no way is not there
    with pytest.raises(ProviderError, match="HTTP 404"):
        download_qr_picture(f"{fake.url}/wwpic/nothing.png")


def test_a_scan_of_anything_but_the_ways_add_link_adds_nobody(fake, wecom_client):
    config_id, picture_url = wecom_client.add_contact_way(["guide1"], "code-10")
    with pytest.raises(ValueError, match="not the add link"):
        fake.scan(config_id, "wm-c", scanned=picture_url)  # the picture's own URL, encoded in a new QR
    assert "wm-c" not in fake.contacts["guide1"]
    fake.scan(config_id, "wm-c", scanned=fake.add_links[config_id])
    assert "wm-c" in fake.contacts["guide1"]


def test_a_picture_over_the_size_limit_or_not_an_image_is_refused(fake, wecom_client):
    _, picture_url = wecom_client.add_contact_way(["guide1"], "code-11")
    fake.picture_answer = (200, {"Content-Type": "image/png"}, b"\x89PNG" + b"\0" * (2 * 2**20))
    with pytest.raises(ProviderError, match="more than 2097152 bytes"):
        download_qr_picture(picture_url)
    fake.picture_answer = (200, {"Content-Type": "text/html"}, b"<html>busy</html>")
    with pytest.raises(ProviderError, match="no image"):
        download_qr_picture(picture_url)
    with pytest.raises(ProviderError, match="not a web address"):
        download_qr_picture("file:///etc/passwd")
