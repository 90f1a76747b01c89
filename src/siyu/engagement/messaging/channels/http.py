"""A small HTTP client on http.client: one kept-alive connection per adapter, JSON in and out (and one
file upload), and
transport failures turned into retryable ProviderErrors. (No third-party HTTP client: the adapters need
only a few calls each.)"""

from __future__ import annotations

import http.client
import json
import secrets
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from siyu.engagement.messaging.channels.base import ProviderError


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ProviderError(
                f"the provider answered HTTP {self.status} with no JSON", retryable=True
            ) from exc

    def retry_after(self) -> float | None:
        try:
            return float(self.headers.get("retry-after", ""))
        except ValueError:
            return None


class HttpClient:
    def __init__(self, base_url: str, timeout: float = 10.0):
        parts = urlsplit(base_url.rstrip("/"))
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.prefix = parts.path
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    @property
    def host_header(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(
        self, method: str, path: str, *, query: dict | None = None, body: bytes | None = None, headers=None,
        max_bytes: int | None = None,
    ) -> Response:
        """`max_bytes`: a longer answer is refused (not retryable) without reading the rest of it."""
        url = (self.prefix + path or "/") + ("?" + urlencode(query) if query else "")
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._connection()
            try:
                conn.request(method, url, body=body, headers=dict(headers or {}))
                raw = conn.getresponse()
                declared = raw.getheader("content-length", "")
                too_long = max_bytes is not None and declared.isdigit() and int(declared) > max_bytes
                data = b"" if too_long else raw.read() if max_bytes is None else raw.read(max_bytes + 1)
                too_long = too_long or (max_bytes is not None and len(data) > max_bytes)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise ProviderError(f"connection to {self.host} lost: {exc}", retryable=True) from exc
                continue
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self.close()
                raise ProviderError(f"cannot reach {self.host}: {exc}", retryable=True) from exc
            if too_long:
                self.close()  # the rest of the answer is left unread
                raise ProviderError(f"{self.host} answered more than {max_bytes} bytes", retryable=False)
            if raw.getheader("connection", "").lower() == "close":
                self.close()
            return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
        raise AssertionError("unreachable")

    def get_json(self, path: str, query: dict) -> Response:
        return self.request("GET", path, query=query)

    def post_json(self, path: str, payload, *, query: dict | None = None, headers=None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return self.request(
            "POST",
            path,
            query=query,
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def post_file(
        self,
        path: str,
        field: str,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        query: dict | None = None,
    ) -> Response:
        """A multipart/form-data POST of one file (RFC 7578), as media uploads take it."""
        boundary = f"siyu-{secrets.token_hex(12)}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"; '
            f"filelength={len(data)}\r\nContent-Type: {content_type}\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.request("POST", path, query=query, body=body, headers=headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
