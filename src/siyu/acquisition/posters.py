"""Printable assets of a live code: its QR and a poster with the brand's words around it.

What the QR holds (`content`) is the contact way's add link as read from WeCom's own QR picture
(LiveCode.qr_content, siyu.acquisition.qr_reading) — never the picture's URL (LiveCode.qr_url), which
scanned would open a picture instead of adding the staff member. The QR is drawn anew (segno) so it prints
sharp at any size; it holds exactly what WeCom's picture holds.

Everything here takes plain values (the content, the words, a preset name) and returns bytes, so the code's
models, the console and the API only pass them through. The same inputs give the same bytes.

- `qr_png` / `qr_svg`: the QR alone (segno), with the 4-module quiet zone the QR standard asks for.
- `poster_png` / `poster_pdf`: the QR on a page of one of the `PRESETS` (bag card, 58/80 mm receipt, A6/A5
  shelf talker) at 300 dpi, with a title, up to three lines, the store's and/or staff member's name and a
  footer, each wrapped to the page's width. Pillow writes the PDF itself (one page, the preset's size):
  black and white, stored losslessly (CCITT G4) where Pillow has libtiff, else as a greyscale JPEG.

Chinese needs a CJK font. `cjk_font()` asks fontconfig for a sans-serif font covering zh-cn (Debian's
fonts-noto-cjk, installed by `make browser`; its .ttc collections need the face index fontconfig names) and
checks that the font really covers Chinese, because fontconfig always answers with *some* font
(`fc-match :lang=zh` answers DejaVu Sans on a machine with Noto CJK installed). The setting POSTER_FONT
(a path to a .ttf/.otf/.ttc, optionally `path:index`) takes precedence. With neither, posters use
Pillow's default font and a warning is logged: Latin text prints, Chinese does not.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache

import segno
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageDraw, ImageFont, features

from siyu.acquisition.errors import AcquisitionError

log = logging.getLogger(__name__)

DPI = 300
MM_PER_INCH = 25.4
QUIET_ZONE = 4  # modules of white around a QR (ISO/IEC 18004)
# error correction M (15 % of the code may be lost); segno raises it when the data leaves room
ERROR_CORRECTION = "m"
MAX_LINES = 3
MAX_CONTENT_LENGTH = 1000  # WeCom's add link is short; anything longer makes a QR too dense to print small
# a printed QR smaller than this is hard to scan from a bag or a shelf
MIN_QR_MM = 18.0


def mm_to_px(mm: float) -> int:
    return round(mm * DPI / MM_PER_INCH)


@dataclass(frozen=True)
class PosterSize:
    """A printed size in millimetres; `margin_mm` is the white edge kept free of text and QR."""

    name: str
    label: str
    width_mm: float
    height_mm: float
    margin_mm: float

    @property
    def pixels(self) -> tuple[int, int]:
        return mm_to_px(self.width_mm), mm_to_px(self.height_mm)

    @property
    def points(self) -> tuple[float, float]:
        """The page size of the PDF (1 pt = 1/72 inch)."""
        width, height = self.pixels
        return width * 72 / DPI, height * 72 / DPI


PRESETS: dict[str, PosterSize] = {
    size.name: size
    for size in (
        # a card put in the shopping bag (Starbucks' 袋卡)
        PosterSize("bag_card", _("Bag card (90 × 120 mm)"), 90, 120, 6),
        # thermal till receipts: the paper's width; the printer driver scales to its printable width
        PosterSize("receipt_58", _("Receipt, 58 mm paper"), 58, 90, 3),
        PosterSize("receipt_80", _("Receipt, 80 mm paper"), 80, 110, 4),
        # shelf talkers / table tents
        PosterSize("shelf_a6", _("Shelf talker A6 (105 × 148 mm)"), 105, 148, 7),
        PosterSize("shelf_a5", _("Shelf talker A5 (148 × 210 mm)"), 148, 210, 10),
    )
}


@dataclass(frozen=True)
class PosterText:
    """The words on a poster. `lines`: at most three, each wrapped to the width; `store` and `staff` are
    printed together on one line under the QR (either may be empty)."""

    title: str = ""
    lines: tuple[str, ...] = ()
    store: str = ""
    staff: str = ""
    footer: str = ""

    def __post_init__(self):
        object.__setattr__(self, "lines", tuple(line for line in (self.lines or ()) if line and line.strip()))
        if len(self.lines) > MAX_LINES:
            raise AcquisitionError(f"a poster takes at most {MAX_LINES} lines of text, not {len(self.lines)}")

    @property
    def signature(self) -> str:
        """The store and staff line, e.g. "南京西路店 · 导购 王芳"."""
        return " · ".join(part.strip() for part in (self.store, self.staff) if part and part.strip())


# --- the QR ---------------------------------------------------------------------------------------------


def qr_code(content: str) -> segno.QRCode:
    """The QR holding `content`, the code's add link (never a Micro QR: phones' scanners do not all read
    those)."""
    if not content or not content.strip():
        raise AcquisitionError("a QR needs what it holds: the code's add link")
    if len(content) > MAX_CONTENT_LENGTH:
        raise AcquisitionError(
            f"the link is {len(content)} characters; a printable QR takes at most {MAX_CONTENT_LENGTH}"
        )
    return segno.make(content.strip(), error=ERROR_CORRECTION, micro=False)


def qr_matrix(content: str) -> list[list[bool]]:
    """The QR's modules, dark = True, without the quiet zone (what a poster draws)."""
    return [[bool(m) for m in row] for row in qr_code(content).matrix_iter(scale=1, border=0)]


def qr_png(content: str, *, scale: int = 10, border: int = QUIET_ZONE) -> bytes:
    """PNG of the QR holding `content`, `scale` pixels per module, with `border` modules of white around it."""
    if scale < 1 or border < 0:
        raise AcquisitionError(
            "the QR's scale must be at least 1 pixel per module and its border not negative"
        )
    out = io.BytesIO()
    qr_code(content).save(out, kind="png", scale=scale, border=border, dark="#000", light="#fff")
    return out.getvalue()


def qr_svg(content: str, *, scale: int = 10, border: int = QUIET_ZONE) -> bytes:
    """SVG of the QR holding `content` (a vector for print shops), `scale` user units per module."""
    if scale < 1 or border < 0:
        raise AcquisitionError(
            "the QR's scale must be at least 1 unit per module and its border not negative"
        )
    out = io.BytesIO()
    qr_code(content).save(out, kind="svg", scale=scale, border=border, dark="#000", light="#fff", xmldecl=True)
    return out.getvalue()


# --- fonts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int = 0


CJK_PROBE = "中文扫码"


def covers_chinese(font: FontFile) -> bool:
    """The font draws Chinese characters as themselves rather than as its "missing glyph" box."""
    try:
        face = ImageFont.truetype(font.path, 48, index=font.index)
    except OSError:
        return False
    missing = glyph_ink(face, "\u0378")  # an unassigned code point: the font's missing-glyph box
    for char in CJK_PROBE:
        drawn = glyph_ink(face, char)
        if drawn is None or drawn == missing:
            return False
    return True


def glyph_ink(face, char: str) -> bytes | None:
    """The pixels of one character drawn in `face`, or None when it draws nothing."""
    image = Image.new("L", (face.size * 2, face.size * 2), 0)
    ImageDraw.Draw(image).text((face.size // 2, face.size // 2), char, font=face, fill=255)
    return image.tobytes() if image.getbbox() else None


def _fontconfig_match(pattern: str) -> FontFile | None:
    if not shutil.which("fc-match"):
        return None
    try:
        answer = subprocess.run(
            ["fc-match", "-f", "%{file}|%{index}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path, _sep, index = answer.partition("|")
    if not path:
        return None
    return FontFile(path, int(index) if index.isdigit() else 0)


def _configured_font() -> FontFile | None:
    value = str(getattr(settings, "POSTER_FONT", "") or "").strip()
    if not value:
        return None
    path, sep, index = value.rpartition(":")
    if sep and index.isdigit():
        return FontFile(path, int(index))
    return FontFile(value)


@lru_cache(maxsize=4)
def _find_cjk_font(bold: bool, configured: FontFile | None) -> FontFile | None:
    candidates = [configured] if configured else []
    weight = ":weight=bold" if bold else ""
    candidates += [
        _fontconfig_match(f"sans-serif:lang=zh-cn{weight}"),
        _fontconfig_match(f":lang=zh-cn{weight}"),
    ]
    for candidate in candidates:
        if candidate and covers_chinese(candidate):
            return candidate
    if configured:
        log.warning("POSTER_FONT %s does not cover Chinese; looking for another font", configured.path)
    return None


def cjk_font(*, bold: bool = False) -> FontFile | None:
    """A font file that covers Simplified Chinese, or None (then posters fall back to Pillow's font)."""
    return _find_cjk_font(bold, _configured_font())


@lru_cache(maxsize=1)
def _warn_no_cjk_font() -> None:
    # once per process, not once per line drawn
    log.warning(
        "no font covering Chinese found (install fonts-noto-cjk or set POSTER_FONT); "
        "posters use Pillow's default font and print no Chinese"
    )


def load_font(size_px: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    found = cjk_font(bold=bold) or (cjk_font() if bold else None)
    if found is None:
        _warn_no_cjk_font()
        return ImageFont.load_default(size=size_px)
    return ImageFont.truetype(found.path, size_px, index=found.index)


# --- wrapping -------------------------------------------------------------------------------------------

# a line may break between any two CJK characters, but Latin words and numbers stay whole where they fit
_TOKENS = re.compile(r"[A-Za-z0-9@#&_./:%+\-'’]+|\s+|.", re.S)
# 行首禁则: punctuation that must not begin a line
_NO_LINE_START = set("，。、；：！？）》」』】〕”’…—,.;:!?)]}%")


def _width(font, text: str) -> float:
    return font.getlength(text)


def wrap_balanced(text: str, font, max_width: float) -> list[str]:
    """wrap_text, then the narrowest width that needs no more lines, so that a title breaks into two even
    halves rather than a full line and one orphaned character."""
    lines = wrap_text(text, font, max_width)
    if len(lines) < 2:
        return lines
    low, high = max_width / len(lines), max_width
    while high - low > 2:
        middle = (low + high) / 2
        if len(wrap_text(text, font, middle)) <= len(lines):
            high = middle
        else:
            low = middle
    return wrap_text(text, font, high)


def wrap_text(text: str, font, max_width: float) -> list[str]:
    """`text` broken into lines no wider than `max_width` pixels in `font`: between CJK characters and at
    spaces; a Latin word longer than a line is cut. Closing punctuation does not begin a line: the word or
    character before it moves down with it (行首禁则), unless that would leave its line empty. Explicit
    newlines are kept."""
    lines: list[str] = []
    for paragraph in (text or "").splitlines() or [""]:
        current: list[str] = []  # the tokens of the line being filled; " " between words

        def joined(tokens) -> str:
            return "".join(tokens).strip()

        for token in _TOKENS.findall(paragraph):
            if token.isspace():
                if current and current[-1] != " ":
                    current.append(" ")
                continue
            if _width(font, joined(current + [token])) <= max_width:
                current.append(token)
                continue
            carried: list[str] = []
            if token[0] in _NO_LINE_START:
                words = [t for t in current if t != " "]
                if len(words) > 1 and current[-1] != " ":
                    carried = [current.pop()]
            if joined(current):
                lines.append(joined(current))
            current = carried
            if _width(font, joined(current + [token])) > max_width:
                # even a line of its own is too narrow: cut the token (a long word or URL)
                if current:
                    lines.append(joined(current))
                    current = []
                while _width(font, token) > max_width and len(token) > 1:
                    cut = 1
                    while cut < len(token) - 1 and _width(font, token[: cut + 1]) <= max_width:
                        cut += 1
                    lines.append(token[:cut])
                    token = token[cut:]
            current.append(token)
        lines.append(joined(current))
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


# --- the poster -----------------------------------------------------------------------------------------


@dataclass
class Poster:
    """A rendered poster: the image and where its QR is (the top-left pixel of the first module, pixels
    per module, modules per side), which tests and previews use."""

    image: Image.Image
    size: PosterSize
    qr_left: int
    qr_top: int
    module_px: int
    modules: int
    text_lines: list[tuple[str, int]] = field(default_factory=list)  # (line, width in px) as drawn

    @property
    def qr_side_px(self) -> int:
        return self.module_px * self.modules


@dataclass
class _Block:
    lines: list[str]
    font: object
    line_height: int
    gap_after: int

    @property
    def height(self) -> int:
        return len(self.lines) * self.line_height + (self.gap_after if self.lines else 0)


def _block(text: str, font, width: int, gap_after: int) -> _Block:
    lines = wrap_balanced(text, font, width) if text and text.strip() else []
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (font.size, 0)
    return _Block(lines, font, round((ascent + descent) * 1.15), gap_after)


def render_poster(content: str, text: PosterText, preset: str = "shelf_a6") -> Poster:
    """The poster of a code in a preset size, its QR holding `content` (the code's add link): title, lines,
    QR, store/staff line, footer, centred."""
    if preset not in PRESETS:
        raise AcquisitionError(f"unknown poster size {preset!r}; choose one of {', '.join(PRESETS)}")
    size = PRESETS[preset]
    width, height = size.pixels
    margin = mm_to_px(size.margin_mm)
    inner = width - 2 * margin
    # type sizes follow the page's width so a receipt and an A5 look alike
    title_px, body_px, small_px = round(width * 0.075), round(width * 0.05), round(width * 0.038)
    gap = round(body_px * 0.6)
    above = [
        _block(text.title, load_font(title_px, bold=True), inner, gap),
        *[_block(line, load_font(body_px), inner, 0) for line in text.lines],
    ]
    if text.lines:
        above[-1].gap_after = gap
    below = [
        _block(text.signature, load_font(body_px), inner, 0),
        _block(text.footer, load_font(small_px), inner, 0),
    ]
    text_height = sum(b.height for b in above) + sum(b.height for b in below)

    matrix = qr_matrix(content)
    modules = len(matrix)
    # room for the QR with its quiet zone: the inner width, and the height the words leave
    room = min(inner, height - 2 * margin - text_height - (gap if any(b.lines for b in below) else 0))
    module_px = room // (modules + 2 * QUIET_ZONE)
    if module_px < 1 or module_px * modules < mm_to_px(MIN_QR_MM):
        raise AcquisitionError(
            f"too many words for a {size.width_mm:g} × {size.height_mm:g} mm poster: the QR would be smaller "
            f"than {MIN_QR_MM:g} mm; shorten the text or choose a larger size"
        )

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    drawn: list[tuple[str, int]] = []
    y = margin

    def put(block: _Block) -> None:
        nonlocal y
        for line in block.lines:
            line_width = round(_width(block.font, line))
            draw.text(((width - line_width) // 2, y), line, font=block.font, fill=0)
            drawn.append((line, line_width))
            y += block.line_height
        if block.lines:
            y += block.gap_after

    for block in above:
        put(block)
    qr_box = module_px * (modules + 2 * QUIET_ZONE)
    # the QR sits in the middle of the room the words leave
    spare = height - margin - sum(b.height for b in below) - y - qr_box
    y += max(0, spare // 2)
    qr_left = (width - module_px * modules) // 2
    qr_top = y + QUIET_ZONE * module_px
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x0, y0 = qr_left + c * module_px, qr_top + r * module_px
                draw.rectangle((x0, y0, x0 + module_px - 1, y0 + module_px - 1), fill=0)
    y += qr_box + max(0, spare - spare // 2)
    for block in below:
        put(block)
    return Poster(image, size, qr_left, qr_top, module_px, modules, drawn)


def poster_png(content: str, text: PosterText, preset: str = "shelf_a6") -> bytes:
    """The poster (its QR holding `content`) as a greyscale PNG at 300 dpi (the dpi is written in the file,
    so it prints to size)."""
    out = io.BytesIO()
    render_poster(content, text, preset).image.save(out, format="PNG", dpi=(DPI, DPI), optimize=False)
    return out.getvalue()


def poster_pdf(content: str, text: PosterText, preset: str = "shelf_a6", *, title: str = "") -> bytes:
    """The poster (its QR holding `content`) as a one-page PDF of the preset's size (the image at 300 dpi
    fills the page)."""
    image = render_poster(content, text, preset).image
    if features.check("libtiff"):
        # black and white, which Pillow stores losslessly (CCITT G4); a greyscale page would be a JPEG,
        # whose ringing blurs the QR's edges. At 300 dpi the text loses nothing visible.
        image = image.convert("1", dither=Image.Dither.NONE)
    out = io.BytesIO()
    # no creation or modification date (Pillow would stamp the current second): the same poster is the same
    # file whenever it is downloaded
    image.save(out, format="PDF", resolution=DPI, title=title or text.title or "poster", producer="Siyu",
               creationDate=None, modDate=None)  # fmt: skip
    return out.getvalue()
