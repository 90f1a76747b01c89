"""The printable assets of a live code: its QR (PNG, SVG) and posters (PNG, PDF) in every preset size.

What the QR holds is the code's add link (what WeCom's own QR picture holds). Each poster is read back with a
real decoder (zxing-cpp, as a phone's scanner reads it; for the PDF, the page's image as the PDF stores it),
and the printed modules are also compared one by one with the matrix segno makes for the link (and the
quiet zone around them white)."""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET

import pytest
import segno
from acquisition_helpers import decoded, pdf_page_image
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from siyu.acquisition import posters
from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.posters import PRESETS, PosterText

URL = "https://work.weixin.qq.com/ca/cawcde0a1b2c3d4e5f60718293a4b5c6d7"
WORDS = PosterText(
    title="扫码加入南京西路店福利群",
    lines=("每周三会员日，群内专享 ¥5 优惠券", "Wi-Fi 密码扫码即得"),
    store="南京西路店",
    staff="导购 王芳",
    footer="长按识别二维码 · 仅限本店使用",
)


@pytest.fixture(autouse=True)
def fresh_font_lookup():
    posters._find_cjk_font.cache_clear()
    posters._warn_no_cjk_font.cache_clear()
    yield
    posters._find_cjk_font.cache_clear()
    posters._warn_no_cjk_font.cache_clear()


def expected_matrix(url: str) -> list[list[bool]]:
    """What the code must print, made independently of siyu's own helpers."""
    return [[bool(m) for m in row] for row in segno.make(url, error="m", micro=False).matrix_iter(border=0)]


def dark(image: Image.Image, x: float, y: float) -> bool:
    return image.convert("L").getpixel((int(x), int(y))) < 128


def assert_qr_at(image: Image.Image, url: str, left: int, top: int, module: float, border: int = 4) -> None:
    """The modules at (left, top), `module` pixels each, are the URL's QR, inside a white quiet zone."""
    matrix = expected_matrix(url)
    n = len(matrix)
    wrong = [
        (r, c)
        for r in range(-border, n + border)
        for c in range(-border, n + border)
        if dark(image, left + (c + 0.5) * module, top + (r + 0.5) * module)
        != (0 <= r < n and 0 <= c < n and matrix[r][c])
    ]
    assert not wrong, f"{len(wrong)} modules differ from the QR of {url}, first {wrong[:5]}"


def test_the_qr_png_prints_the_links_modules_with_a_quiet_zone():
    image = Image.open(io.BytesIO(posters.qr_png(URL, scale=7)))
    n = len(expected_matrix(URL))
    assert image.size == ((n + 8) * 7, (n + 8) * 7)
    assert_qr_at(image, URL, 4 * 7, 4 * 7, 7)
    assert decoded(image) == [URL]


def test_another_url_prints_another_qr():
    image = Image.open(io.BytesIO(posters.qr_png(URL + "x", scale=5)))
    with pytest.raises(AssertionError, match="modules differ"):
        assert_qr_at(image, URL, 20, 20, 5)


def test_the_qr_svg_is_a_drawing_of_the_same_size():
    svg = posters.qr_svg(URL, scale=3)
    root = ET.fromstring(svg)
    n = len(expected_matrix(URL))
    assert root.tag.endswith("svg")
    assert float(root.get("width")) == (n + 8) * 3
    assert float(root.get("height")) == (n + 8) * 3
    assert root.find(".//{http://www.w3.org/2000/svg}path") is not None


def test_a_qr_needs_a_link_of_printable_length():
    with pytest.raises(AcquisitionError):
        posters.qr_png("  ")
    with pytest.raises(AcquisitionError):
        posters.qr_png("https://x/" + "a" * 1200)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_poster_size_prints_the_qr_at_its_size(preset):
    size = PRESETS[preset]
    poster = posters.render_poster(URL, WORDS, preset)
    image = Image.open(io.BytesIO(posters.poster_png(URL, WORDS, preset)))
    width, height = round(size.width_mm / 25.4 * 300), round(size.height_mm / 25.4 * 300)
    assert image.size == (width, height)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert_qr_at(image, URL, poster.qr_left, poster.qr_top, poster.module_px)
    assert decoded(image) == [URL]  # what a phone reads: exactly the add link
    # big enough to scan from a bag or a shelf
    assert poster.qr_side_px / 300 * 25.4 >= posters.MIN_QR_MM
    # every line of words is drawn, inside the margins
    inner = width - 2 * round(size.margin_mm / 25.4 * 300)
    assert all(line_width <= inner for _line, line_width in poster.text_lines)
    assert "".join(line for line, _w in poster.text_lines).replace(" ", "") == (
        "扫码加入南京西路店福利群每周三会员日，群内专享¥5优惠券Wi-Fi密码扫码即得南京西路店·导购王芳长按识别二维码·仅限本店使用"
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_pdfs_page_reads_back_as_the_add_link(preset):
    page = pdf_page_image(posters.poster_pdf(URL, WORDS, preset))
    assert page.size == PRESETS[preset].pixels
    assert decoded(page) == [URL]
    poster = posters.render_poster(URL, WORDS, preset)
    assert_qr_at(page, URL, poster.qr_left, poster.qr_top, poster.module_px)


@pytest.mark.parametrize("preset", ["receipt_58", "shelf_a5"])
def test_the_pdf_is_one_page_of_the_presets_size(preset):
    pdf = posters.poster_pdf(URL, WORDS, preset)
    assert pdf.startswith(b"%PDF-")
    assert re.findall(rb"/Type /Pages\b.*?/Count (\d+)", pdf, re.S) == [b"1"]
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 1
    (box,) = re.findall(rb"/MediaBox \[ ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) \]", pdf)
    size = PRESETS[preset]
    assert float(box[2]) == pytest.approx(size.width_mm / 25.4 * 72, abs=0.3)
    assert float(box[3]) == pytest.approx(size.height_mm / 25.4 * 72, abs=0.3)
    width, height = size.pixels
    assert re.search(rb"/Width %d\b" % width, pdf) and re.search(rb"/Height %d\b" % height, pdf)


def test_the_same_words_give_the_same_files():
    assert posters.poster_png(URL, WORDS, "bag_card") == posters.poster_png(URL, WORDS, "bag_card")
    pdf = posters.poster_pdf(URL, WORDS, "bag_card")
    assert pdf == posters.poster_pdf(URL, WORDS, "bag_card")
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf  # nor a second later
    assert posters.qr_svg(URL) == posters.qr_svg(URL)


def test_a_long_title_wraps_into_even_lines_within_the_width():
    words = PosterText(
        title="扫码加入南京西路店会员福利群，每周三会员日领取专属优惠券和新品试饮名额",
        lines=("Scan to join the store's members group for coupons and the Wi-Fi password",),
    )
    poster = posters.render_poster(URL, words, "receipt_80")
    size = PRESETS["receipt_80"]
    inner = size.pixels[0] - 2 * posters.mm_to_px(size.margin_mm)
    drawn = [line for line, _w in poster.text_lines]
    assert len(drawn) >= 4
    assert all(w <= inner for _l, w in poster.text_lines)
    # no word of the English line is cut, no line begins with a comma
    assert " ".join(drawn).count("password") == 1
    assert not any(line.startswith("，") for line in drawn)
    title_widths = [w for line, w in poster.text_lines if "群" in line or "券" in line or "店" in line]
    assert max(title_widths) - min(title_widths) < inner / 4  # balanced, no orphaned character


def test_store_or_staff_alone_and_no_words_at_all():
    assert PosterText(store="南京西路店").signature == "南京西路店"
    assert PosterText(staff="王芳").signature == "王芳"
    assert PosterText(store="南京西路店", staff="王芳").signature == "南京西路店 · 王芳"
    bare = posters.render_poster(URL, PosterText(), "receipt_58")
    assert bare.text_lines == []
    assert_qr_at(bare.image, URL, bare.qr_left, bare.qr_top, bare.module_px)


def test_the_words_are_refused_when_they_leave_no_room_for_a_scannable_qr():
    with pytest.raises(AcquisitionError, match="too many words"):
        posters.render_poster(URL, PosterText(title="很长的标题" * 60, lines=("说明" * 80,)), "receipt_58")
    with pytest.raises(AcquisitionError, match="at most 3 lines"):
        PosterText(lines=("一", "二", "三", "四"))
    with pytest.raises(AcquisitionError, match="unknown poster size"):
        posters.render_poster(URL, WORDS, "billboard")


def test_chinese_is_drawn_with_a_cjk_font_when_one_is_installed():
    found = posters.cjk_font()
    if found is None:
        pytest.skip("no font covering Chinese on this machine (fonts-noto-cjk: `make browser`)")
    font = posters.load_font(60)
    assert font.path == found.path
    zhong = posters.glyph_ink(font, "中")
    assert zhong is not None and zhong != posters.glyph_ink(font, "\u0378")
    # the title's area of a poster holds ink
    poster = posters.render_poster(URL, PosterText(title="中"), "shelf_a6")
    margin = posters.mm_to_px(PRESETS["shelf_a6"].margin_mm)
    assert poster.image.crop((0, margin, poster.image.width, poster.qr_top - 4 * poster.module_px)).getbbox()


def test_a_configured_font_is_used_only_if_it_covers_chinese(settings):
    found = posters.cjk_font()
    if found is None:
        pytest.skip("no font covering Chinese on this machine")
    settings.POSTER_FONT = f"{found.path}:{found.index}"
    posters._find_cjk_font.cache_clear()
    assert posters.cjk_font() == found
    settings.POSTER_FONT = "/nowhere/NoSuchFont.ttf"
    posters._find_cjk_font.cache_clear()
    assert posters.cjk_font() == found  # fontconfig's answer instead


def test_without_a_cjk_font_posters_still_print_with_a_warning(monkeypatch, settings, caplog):
    settings.POSTER_FONT = ""
    monkeypatch.setattr(posters.shutil, "which", lambda name: None)  # no fontconfig
    with caplog.at_level(logging.WARNING, logger="siyu.acquisition.posters"):
        poster = posters.render_poster(URL, PosterText(title="Scan me", footer="Store 1"), "bag_card")
    assert posters.cjk_font() is None
    assert [r.message for r in caplog.records if "no font covering Chinese" in r.message] != []
    assert len([r for r in caplog.records if "no font covering Chinese" in r.message]) == 1
    assert_qr_at(poster.image, URL, poster.qr_left, poster.qr_top, poster.module_px)


def test_fontconfig_is_not_trusted_blindly():
    # DejaVu Sans is what `fc-match :lang=zh` answers on Debian even with Noto CJK installed
    dejavu = posters.FontFile("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not __import__("os").path.exists(dejavu.path):
        pytest.skip("DejaVu Sans not installed")
    assert not posters.covers_chinese(dejavu)


CLOSING = "，。！？）"
HAN = list("扫码加入福利群会员日专享优惠券")
texts = st.lists(
    st.one_of(
        st.sampled_from(HAN),
        st.tuples(st.sampled_from(HAN), st.sampled_from(CLOSING)).map("".join),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=18),
        st.just(" "),
    ),
    max_size=40,
).map("".join)


@hypothesis_settings(max_examples=150, deadline=None)
@given(text=texts, width=st.integers(min_value=90, max_value=600))
def test_wrapping_keeps_every_character_and_every_line_within_the_width(text, width):
    font = posters.load_font(30)
    lines = posters.wrap_text(text, font, width)
    assert all(font.getlength(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for before, line in zip(lines, lines[1:], strict=False):
        words_before = [t for t in posters._TOKENS.findall(before) if not t.isspace()]
        if line and line[0] in CLOSING and len(words_before) > 1:
            pytest.fail(f"{line!r} begins with closing punctuation after {before!r}")


def test_the_sizes_are_named_in_chinese():
    from django.utils import translation

    with translation.override("zh-hans"):
        names = {key: str(size.label) for key, size in PRESETS.items()}
    assert names["bag_card"].startswith("袋卡") and names["receipt_58"].startswith("小票")
    assert names["shelf_a5"].startswith("货架台卡")
