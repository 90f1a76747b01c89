"""Reading WeCom's QR picture of a live code: what the QR holds (the contact way's add link) is what posters
print. add_contact_way answers only the URL of a picture of the QR; encoding that URL into a new QR would make
a printed poster open a picture instead of adding the staff member.

Decoding is zxing-cpp's (segno only encodes). A picture is refused unless it is an image of sensible size
holding exactly one QR whose content is a web link of printable length."""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.posters import MAX_CONTENT_LENGTH

MAX_SIDE_PX = 4000  # WeCom's pictures are 430 px; far larger is not one (and would be slow to decode)


class QrPictureError(AcquisitionError):
    """The picture holds no usable QR."""


def read_qr_picture(data: bytes) -> str:
    """The content of the one QR code in the picture `data` (PNG, JPEG, …)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if max(image.size) > MAX_SIDE_PX:
                raise QrPictureError(f"the picture is {image.width} × {image.height} px; a QR picture is smaller")
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:  # fmt: skip
        raise QrPictureError(f"not a picture: {exc}") from exc
    found = [b for b in zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
             if b.valid and b.text]  # fmt: skip
    contents = {b.text for b in found}
    if not contents:
        raise QrPictureError("no QR code could be read in the picture")
    if len(contents) > 1:
        raise QrPictureError(f"the picture holds {len(contents)} different QR codes, not one")
    content = contents.pop().strip()
    if not content.startswith(("https://", "http://")) or len(content) > MAX_CONTENT_LENGTH:
        raise QrPictureError("the QR code in the picture holds no web link of printable length")
    return content
