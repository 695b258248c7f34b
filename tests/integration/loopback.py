"""Servers on 127.0.0.1 for the outbound-call tests: one that records what it is sent, one that
accepts connections and never answers, and a resolver the test controls."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """Answers every POST with ``status`` and records it; ``server_names`` holds the TLS SNI seen."""

    port: int = 0
    status: int = 200
    requests: list[Recorded] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def recording_server(tls: ssl.SSLContext | None = None) -> Iterator[RecordingServer]:
    state = RecordingServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(
                    Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:

        def remember_sni(sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
            state.server_names.append(server_name)

        tls.sni_callback = remember_sni  # type: ignore[assignment]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SilentServer:
    """Accepts TCP connections and reads them, but never writes a byte back."""

    port: int = 0
    connections: int = 0


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    state = SilentServer()
    listener = socket.create_server(("127.0.0.1", 0))
    state.port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never answered
            state.connections += 1

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def controlled_resolver(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, Callable[[int], str]]
) -> list[str]:
    """Make ``socket.getaddrinfo`` answer ``answers[name](n)`` on the n-th lookup (0-based) of a
    name; other names resolve as usual. Returns the names looked up, in order."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            n = looked_up.count(host)
            looked_up.append(host)
            address = answers[host](n)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up
