"""A live code's printed QR is WeCom's own: add_contact_way answers the URL of a picture of the QR, Siyu reads
the picture once (zxing-cpp) and keeps what it holds, the add link; the console's QR, its posters (PNG and
PDF) and the API (test_live_codes_api) carry that link — scanned, the printed poster adds the staff member. A picture that cannot
be had or read leaves the code without a QR, and the pages say so in words rather than printing a wrong one;
it is read again when the QR or a poster is asked for."""

from __future__ import annotations

import io

import pytest
from acquisition_helpers import decoded, pdf_page_image, post_callback
from PIL import Image

from siyu.acquisition import actions
from siyu.acquisition.models import LiveCode, LiveCodeAdd
from siyu.acquisition.qr_reading import QrPictureError, read_qr_picture
from siyu.engagement.messaging.fakes.wecom_contact_ways import qr_picture

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
NOT_YET = "二维码暂不可用"


@pytest.fixture
def ops(client, team):
    client.force_login(team["ops"])
    client.cookies["django_language"] = "zh-hans"
    return client


def _code(team, name="门口") -> LiveCode:
    return actions.create_live_code(team["ops"], name=name, staff=[team["g1"], team["g2"]], store=team["sh"])


def test_making_a_code_keeps_the_add_link_wecoms_picture_holds(warehouse, account, fake, team):
    code = _code(team)
    assert code.qr_url == fake.contact_ways[code.config_id]["qr_code"]  # the picture, kept as WeCom gave it
    assert code.qr_content == fake.add_links[code.config_id] != code.qr_url
    assert LiveCode.objects.get(pk=code.pk).qr_content == code.qr_content
    # read once: asking again does not fetch the picture again
    fetched = [r for r in fake.requests if r["path"].startswith("/wwpic/")]
    assert len(fetched) == 1
    assert actions.read_code_qr(code) and len([r for r in fake.requests if r["path"].startswith("/wwpic/")]) == 1


def test_a_printed_poster_scanned_adds_the_staff_member(warehouse, account, fake, team, ops):
    code = _code(team, "收银台")
    link = fake.add_links[code.config_id]
    qr = ops.get(f"/acquisition/{code.pk}/qr.png")
    assert qr.status_code == 200 and decoded(Image.open(io.BytesIO(qr.content))) == [link]
    png = ops.get(f"/acquisition/{code.pk}/poster/", {"preset": "receipt_58", "format": "png", "title": "扫码领券"})
    assert decoded(Image.open(io.BytesIO(png.content))) == [link]
    pdf = ops.get(f"/acquisition/{code.pk}/poster/", {"preset": "bag_card", "format": "pdf"})
    (scanned,) = decoded(pdf_page_image(pdf.content))
    assert scanned == link
    # what the phone read adds the customer through the code, attributed to it
    assert post_callback(ops, fake.scan(code.config_id, "wm-poster", "小满", scanned=scanned)).status_code == 200
    assert LiveCodeAdd.objects.get(external_userid="wm-poster").code == code


def _png_of_no_qr() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (430, 430), "white").save(out, format="PNG")
    return out.getvalue()


PICTURE_FAULTS = {
    "missing": (404, {"Content-Type": "text/plain"}, b"not found"),
    "garbled": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 200),
    "no QR in it": (200, {"Content-Type": "image/png"}, _png_of_no_qr()),
    "a QR of no link": (200, {"Content-Type": "image/png"}, qr_picture("WIFI:S:store;P:12345678;;")),
    "over 2 MB": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 2**20)),
    "not an image": (200, {"Content-Type": "text/html"}, b"<html>busy</html>"),
}


@pytest.mark.parametrize("fault", list(PICTURE_FAULTS))
def test_without_wecoms_picture_nothing_is_printed_and_the_pages_say_so(warehouse, account, fake, team, ops, fault):
    fake.picture_answer = PICTURE_FAULTS[fault]
    code = _code(team)
    assert code.config_id and code.qr_content == ""  # the code is made; it has no QR to print yet
    page = ops.get(f"/acquisition/{code.pk}/", **ZH).content.decode()
    assert NOT_YET in page and f"/acquisition/{code.pk}/qr.png" not in page and 'data-section="posters"' not in page
    for answer in (ops.get(f"/acquisition/{code.pk}/qr.png", **ZH),
                   ops.get(f"/acquisition/{code.pk}/poster/", {"preset": "shelf_a6", "format": "pdf"}, **ZH)):  # fmt: skip
        assert answer.status_code == 503 and answer["Content-Type"].startswith("text/html")
        assert NOT_YET in answer.content.decode() and answer["Retry-After"] == "60"
    # WeCom's picture back: the next poster asked for reads it and prints the add link
    fake.picture_answer = None
    png = ops.get(f"/acquisition/{code.pk}/poster/", {"preset": "shelf_a6", "format": "png"})
    assert png.status_code == 200 and decoded(Image.open(io.BytesIO(png.content))) == [fake.add_links[code.config_id]]
    assert LiveCode.objects.get(pk=code.pk).qr_content == fake.add_links[code.config_id]
    assert NOT_YET not in ops.get(f"/acquisition/{code.pk}/", **ZH).content.decode()


def test_a_guides_phone_says_their_qr_is_not_available_yet(warehouse, account, fake, team, client):
    fake.picture_answer = PICTURE_FAULTS["missing"]
    client.force_login(team["g1"])
    page = client.get("/acquisition/my-code/", **ZH).content.decode()
    mine = LiveCode.objects.get(kind="guide")
    assert "你的二维码暂不可用" in page and f"/acquisition/{mine.pk}/qr.png" not in page
    unavailable = client.get(f"/acquisition/{mine.pk}/poster/", {"preset": "shelf_a6", "format": "png"}, **ZH)
    assert unavailable.status_code == 503 and "/acquisition/my-code/" in unavailable.content.decode()
    fake.picture_answer = None
    page = client.get("/acquisition/my-code/", **ZH).content.decode()
    assert "你的二维码暂不可用" not in page and f"/acquisition/{mine.pk}/qr.png" in page


def test_in_english_the_pages_say_it_in_english(warehouse, account, fake, team, ops):
    fake.picture_answer = PICTURE_FAULTS["garbled"]
    code = _code(team)
    ops.cookies["django_language"] = "en"
    page = ops.get(f"/acquisition/{code.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The QR code is not available yet" in page


def test_a_picture_is_read_only_when_it_holds_one_qr_of_a_link():
    link = "https://work.weixin.qq.com/ca/cawcde00112233aabbccdd"
    assert read_qr_picture(qr_picture(link)) == link
    # a small file of a huge picture (a decompression bomb) is refused before it is decoded
    huge = io.BytesIO()
    Image.new("1", (5000, 5000), 1).save(huge, format="PNG")
    with pytest.raises(QrPictureError, match="5000 × 5000"):
        read_qr_picture(huge.getvalue())
    # two different codes: which one WeCom meant is not known
    pair = Image.new("RGB", (860, 430), "white")
    pair.paste(Image.open(io.BytesIO(qr_picture(link))), (0, 0))
    pair.paste(Image.open(io.BytesIO(qr_picture(link + "ff"))), (430, 0))
    both = io.BytesIO()
    pair.save(both, format="PNG")
    with pytest.raises(QrPictureError, match="2 different QR codes"):
        read_qr_picture(both.getvalue())
