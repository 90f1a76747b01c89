"""A small HTTP client on http.client: one kept-alive connection per adapter, JSON in and out (and one
file upload), and
transport failures turned into retryable ProviderErrors. (No third-party HTTP client: the adapters need
only a few calls each.)

No requests to the inside of the network (SSRF): every connection this client opens resolves the host and
connects only to a public address — never a private, loopback, link-local (169.254.169.254 included),
unique-local or multicast one, nor any other address that is not globally routable — checked on the very
address the socket connects to, so a name that resolves to a public address when it is saved and to
127.0.0.1 later (DNS rebinding) is refused all the same. Redirects are not followed (a 3xx is the answer).
An admin lets a host through with settings.OUTBOUND_ALLOWED_HOSTS (SIYU_OUTBOUND_ALLOWED_HOSTS: host names,
IP addresses or networks); a fake provider started in this process (siyu.engagement.messaging.fakes) lets
its own port through with `allow_local_port`.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import secrets
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from siyu.engagement.messaging.channels.base import ProviderError

_local_ports: set[tuple[str, int]] = set()  # fake providers this process runs (allow_local_port)


class AddressRefused(ProviderError):
    """A connection to an address inside the network, which settings do not allow (never retried)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


def allow_local_port(host: str, port: int) -> None:
    """Let this process reach a server it started itself on `host:port` (a fake provider)."""
    _local_ports.add((host, int(port)))


def forget_local_port(host: str, port: int) -> None:
    """Undo allow_local_port when that server stops: the system hands its port to the next server, which
    this process did not start (a port left allowed would let requests reach that one)."""
    _local_ports.discard((host, int(port)))


def forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why a connection to `ip` is refused ("" when it is a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return forbidden_address(ip.ipv4_mapped)
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("unique-local" if ip.version == 6 and ip in ipaddress.ip_network("fc00::/7") else "private", ip.is_private),
    ):
        if test:
            return kind
    return "" if ip.is_global else "not public"


def _allowed(host: str, ip) -> bool:
    for entry in getattr(settings, "OUTBOUND_ALLOWED_HOSTS", ()):
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if entry == host.lower().rstrip("."):
                return True
    return False


def destination_refused(url: str) -> str:
    """Why an outbound URL is refused before anything is saved ("" when it may be used): not http(s), no
    host, a host that does not resolve, or one resolving to an address inside the network that settings do
    not allow (the same rule guarded_connection applies again on every connection)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the address must be an http:// or https:// URL with a host"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as exc:
        return f"cannot resolve {parts.hostname}: {exc}"
    for *_rest, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        why = forbidden_address(ip)
        if why and not _allowed(parts.hostname, ip) and (str(ip), int(port)) not in _local_ports:
            return (
                f"{parts.hostname} resolves to {ip} ({why}), an address inside the network; "
                "an admin can allow the host in SIYU_OUTBOUND_ALLOWED_HOSTS"
            )
    return ""


def guarded_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):  # noqa: SLF001
    """socket.create_connection to a permitted address only: the host is resolved here and the socket
    connects to the address that was checked (no second lookup an attacker's DNS could answer otherwise)."""
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    refused, error = [], None
    for family, kind, proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        why = forbidden_address(ip)
        if why and not _allowed(host, ip) and (str(ip), int(port)) not in _local_ports:
            refused.append(f"{ip} ({why})")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # noqa: SLF001
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    if refused and error is None:
        raise AddressRefused(
            f"refused to connect to {host}: it resolves to {', '.join(refused)}, an address inside the network; "
            "an admin can allow the host in SIYU_OUTBOUND_ALLOWED_HOSTS"
        )
    raise error or OSError(f"cannot resolve {host}")


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
            self._conn._create_connection = guarded_connection  # noqa: SLF001 - the SSRF check (above)
        return self._conn

    def request(
        self, method: str, path: str, *, query: dict | None = None, body: bytes | None = None, headers=None,
        max_bytes: int | None = None,
    ) -> Response:
        """`max_bytes`: a longer answer is refused (not retryable) without reading the rest of it."""
        url = (self.prefix + path or "/") + ("?" + urlencode(query) if query else "")
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._connection()
            sent = False
            try:
                conn.request(method, url, body=body, headers=dict(headers or {}))
                sent = True
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
            except TimeoutError as exc:
                self.close()
                if sent:  # the provider has the request and may act on it: a repeat may send twice
                    raise ProviderError(
                        f"{self.host} did not answer in time ({exc})", retryable=True, outcome_unknown=True
                    ) from exc
                raise ProviderError(f"cannot reach {self.host}: {exc}", retryable=True) from exc
            except (OSError, http.client.HTTPException) as exc:
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
