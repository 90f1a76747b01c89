"""Helpers shared by the acquisition tests: the WeCom account's callback settings, a sealed callback, and
reading QR codes back from printed images and PDFs (zxing-cpp, as a phone's scanner reads them)."""

from __future__ import annotations

import io
import struct

import zxingcpp
from PIL import Image, PdfParser

from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CALLBACK_TOKEN = "QDG6eK"


def post_callback(http, xml: str):
    """POST a decrypted callback the way WeCom does: sealed, to the console's callback URL."""
    body, signature = WeComCallbackCrypto(CALLBACK_TOKEN, AES_KEY, CORP).seal(xml, "1700000000", "nonce1")
    return http.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1700000000&nonce=nonce1",
                     data=body, content_type="text/xml")  # fmt: skip


def decoded(image: Image.Image) -> list[str]:
    """What a scanner reads in the image: every QR's content (dark on light only, as printed)."""
    return [b.text for b in zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode,
                                                   try_invert=False) if b.valid]  # fmt: skip


def pdf_page_image(pdf: bytes) -> Image.Image:
    """The one image of a one-page PDF as Pillow stores it: CCITT G4 (wrapped here in a TIFF for Pillow to
    decode; BlackIs1 means G4's white runs are black, TIFF's BlackIsZero) or a JPEG."""
    parser = PdfParser.PdfParser(buf=pdf)
    (page,) = parser.pages
    (ref,) = parser.read_indirect(page)[b"Resources"][b"XObject"].values()
    stream = parser.read_indirect(ref)
    info = stream.dictionary
    if info[b"Filter"] in (b"DCTDecode", [b"DCTDecode"]):
        return Image.open(io.BytesIO(stream.buf))
    assert info[b"Filter"] == [b"CCITTFaxDecode"] and info[b"DecodeParms"][0][b"K"] == -1
    width, height, black_is_1 = info[b"Width"], info[b"Height"], info[b"DecodeParms"][0][b"BlackIs1"]
    tags = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 1 if black_is_1 else 0),
            (273, 4, 8), (278, 4, height), (279, 4, len(stream.buf))]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in tags
    ) + struct.pack("<I", 0)
    image = Image.open(io.BytesIO(b"II*\x00" + struct.pack("<I", 8 + len(stream.buf)) + stream.buf + ifd))
    image.load()
    return image
