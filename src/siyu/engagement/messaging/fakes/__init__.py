"""Local, protocol-faithful stand-ins for the providers (the real ones are not reachable from tests or
benchmarks): each checks requests exactly as its provider documents — signatures, tokens, parameters,
rate limits — and answers in the provider's format. Used by tests/engagement and `siyu bench dispatch`."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 (a free port); subclasses implement `answer`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.scripted: deque = deque()  # answers to give before the normal ones (failure injection)
        # seconds to wait after handling a request before answering (a provider that hangs), 0: none
        self.answer_delay = 0.0
        self.port = 0  # 0: a free one; set before start to come back on a known port (a provider's outage)
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---
    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave together (no delayed-ACK stalls)

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "method": self.command,
                    "path": parts.path,
                    "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length) if length else b"",
                }
                with owner.lock:
                    owner.requests.append(request)
                    scripted = owner.scripted.popleft() if owner.scripted else None
                status, headers, body = scripted if scripted is not None else owner.answer(request)
                if owner.answer_delay:  # it acted on the request; its answer comes late, or never in time
                    time.sleep(owner.answer_delay)
                data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting (answer_delay)
                    self.close_connection = True

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        from siyu.engagement.messaging.channels.http import allow_local_port

        allow_local_port("127.0.0.1", self._server.server_address[1])  # this process's own fake only
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            from siyu.engagement.messaging.channels.http import forget_local_port

            forget_local_port("127.0.0.1", self._server.server_address[1])
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- behaviour ---
    def script(self, status: int, body, headers: dict | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with this, whatever they are."""
        with self.lock:
            self.scripted.extend([(status, headers or {}, body)] * times)

    def answer(self, request: dict) -> tuple[int, dict, object]:
        raise NotImplementedError
