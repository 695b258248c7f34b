"""The HTTP part the fake stores share: a threaded server on 127.0.0.1, every request recorded,
and failures the test queues up for the next calls."""

from __future__ import annotations

import json
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    #: The path without the query string.
    path: str
    #: Query parameters in the order sent (OAuth 1.0a ones included).
    query: list[tuple[str, str]]
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes
    #: What the server answered.
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def query_dict(self) -> dict[str, str]:
        return dict(self.query)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeServer:
    """Base of the fake stores: subclasses answer :meth:`handle`; the lock guards their state."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self._failures: deque[Answer] = deque()
        self.port = 0
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def fail_next(self, answer: Answer, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``answer`` (after recording them)."""
        with self.lock:
            self._failures.extend([answer] * times)

    def handle(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def _dispatch(self, request: RecordedRequest) -> Answer:
        with self.lock:
            answer = self._failures.popleft() if self._failures else self.handle(request)
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, request.query, request.headers, request.body, answer.status
                )
            )
            return answer


@contextmanager
def serving(fake: FakeServer, tls: ssl.SSLContext | None = None) -> Iterator[None]:
    """Runs ``fake`` on 127.0.0.1 (a free port) for the block; TLS with ``tls`` (a server context)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            parts = urlsplit(self.path)
            request = RecordedRequest(
                self.command,
                parts.path,
                parse_qsl(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            try:
                answer = fake._dispatch(request)
            except Exception as exc:  # a bug in the fake must show, not hang the client
                answer = Answer(500, {"errors": f"fake store failed: {exc!r}"})
            payload = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815 (http.server names them so)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        fake.scheme = "https"
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
