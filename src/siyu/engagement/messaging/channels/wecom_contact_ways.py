"""WeCom's 联系我 API (contact ways: the live codes), mixed into WeComClient (siyu.engagement.messaging.
channels.wecom), which provides `call`.

客户联系「联系我」管理: add_contact_way answers a `config_id` (keep it: ways made through the API are not shown
in WeCom's admin console and cannot be edited without it) and, for the QR scene, `qr_code`: the URL of a
*picture* of the QR on WeCom's picture host, not what the QR holds — `download_qr_picture` fetches it, for the
caller to read the add link the QR holds (printing the picture's URL in a new QR would open a picture when
scanned); update_contact_way changes the users, state, skip_verify or remark of the same way, so a printed code keeps
working; `state` (≤ 30 characters) comes back on the add_external_contact callback."""

from __future__ import annotations

from urllib.parse import urlsplit

from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.http import HttpClient

SINGLE, MULTI = 1, 2  # type: 单人 / 多人
MINI_PROGRAM, QR_CODE = 1, 2  # scene
MAX_USERS = 100
MAX_STATE = 30
LIST_PAGE = 1000
QR_PICTURE_MAX_BYTES = 2 * 2**20  # WeCom's QR pictures are a few kB; anything this big is not one
QR_PICTURE_TIMEOUT = 10.0  # seconds per connect / read


def download_qr_picture(url: str, *, max_bytes: int = QR_PICTURE_MAX_BYTES,
                        timeout: float = QR_PICTURE_TIMEOUT) -> bytes:  # fmt: skip
    """The bytes of a contact way's QR picture (`qr_code`); ProviderError when it cannot be had: not an
    http(s) URL, not answered, not 200, not an image, or over `max_bytes`. No access token: WeCom's picture
    host serves it to anyone with the URL."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(f"the QR picture's address {url!r} is not a web address", retryable=False)
    http = HttpClient(f"{parts.scheme}://{parts.netloc}", timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = http.request("GET", path or "/", max_bytes=max_bytes)
    finally:
        http.close()
    if response.status != 200:
        raise ProviderError(f"the QR picture answered HTTP {response.status}", retryable=response.status >= 500)
    if not response.headers.get("content-type", "image/").startswith("image/") or not response.body:
        raise ProviderError("the QR picture's address answered no image", retryable=False)
    return response.body


class ContactWayCalls:
    def add_contact_way(self, users: list[str], state: str, *, multi: bool = True, skip_verify: bool = True,
                        remark: str = "", scene: int = QR_CODE, party: list[int] = ()) -> tuple[str, str]:  # fmt: skip
        """(config_id, qr_code URL) of a new QR contact way for these staff members."""
        payload = {"type": MULTI if multi else SINGLE, "scene": scene, "skip_verify": skip_verify,
                   "state": state, "user": list(users)}  # fmt: skip
        if remark:
            payload["remark"] = remark
        if party:
            payload["party"] = list(party)
        body = self.call("/cgi-bin/externalcontact/add_contact_way", payload)
        return body["config_id"], body.get("qr_code", "")

    def get_contact_way(self, config_id: str) -> dict:
        return dict(self.call("/cgi-bin/externalcontact/get_contact_way", {"config_id": config_id})["contact_way"])

    def list_contact_ways(self, start_time: int | None = None, end_time: int | None = None) -> list[str]:
        """The config_ids of the ways made through the API in the time range (WeCom's default: 90 days)."""
        payload: dict = {"limit": LIST_PAGE}
        if start_time is not None:
            payload["start_time"] = start_time
        if end_time is not None:
            payload["end_time"] = end_time
        found, cursor = [], ""
        while True:
            body = self.call("/cgi-bin/externalcontact/list_contact_way", {**payload, "cursor": cursor})
            found.extend(w["config_id"] for w in body.get("contact_way", []))
            cursor = body.get("next_cursor", "")
            if not cursor:
                return found

    def update_contact_way(self, config_id: str, *, users: list[str] | None = None, state: str | None = None,
                           skip_verify: bool | None = None, remark: str | None = None) -> None:  # fmt: skip
        """Change what is given; the config_id and QR code stay the same."""
        payload: dict = {"config_id": config_id}
        for field, value in (("user", users), ("state", state), ("skip_verify", skip_verify), ("remark", remark)):
            if value is not None:
                payload[field] = list(value) if field == "user" else value
        self.call("/cgi-bin/externalcontact/update_contact_way", payload)

    def del_contact_way(self, config_id: str) -> None:
        self.call("/cgi-bin/externalcontact/del_contact_way", {"config_id": config_id})
