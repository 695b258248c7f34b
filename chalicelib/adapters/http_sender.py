"""Outbound HTTP calls to addresses that stores and tenants choose: signed webhooks today.

Every call goes through :func:`send_request`, which guards against SSRF and never outlives its
deadline:

* **The checked address is the address connected to.** The host is resolved once, every
  address it answers is checked (``domain.outbound.check_address``), and the connection is
  opened to one of those addresses, never to the name. Resolving again when connecting (what
  ``urllib`` does) would let a name answer a public address to the check and 127.0.0.1 to the
  connection (DNS rebinding). The request still says who it is for: the ``Host`` header, the
  TLS SNI and the certificate check all use the host name from the URL.
* **Redirects are never followed** (a redirect to an internal address is the classic SSRF
  detour): a 3xx is the answer. At most a small prefix of the response body is read.
* **One deadline for the whole call.** Socket timeouts bound each read, not the call: a server
  that trickles a byte at a time would outlast them. A timer shuts the socket down at the
  deadline, so connect, TLS handshake, request and response together end by then.

``http.client`` from the standard library keeps the Lambda package small; nothing here needs
connection pooling. Name resolution itself (``getaddrinfo``) cannot be interrupted and is not
covered by the deadline; the Lambda resolver answers or fails in well under a second.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from chalicelib.domain.outbound import UnsafeUrl, check_address, check_url_syntax

#: The longest one outbound call may take when the caller gives no deadline of its own.
DEFAULT_TIMEOUT_SECONDS = 5.0
#: How much of a response body is read when the caller does not keep it (webhooks: only the
#: status matters).
RESPONSE_PREFIX_BYTES = 1024
USER_AGENT = "oms-webhooks/1"


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    #: The response body, when the caller asked for it (``keep_body_bytes``); at most that many bytes.
    body: bytes = b""
    #: True when the body was longer than ``keep_body_bytes`` and was cut.
    body_truncated: bool = False
    #: Response headers, names in lower case (``retry-after`` for the store API clients).
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedTarget:
    """A URL whose host was resolved and every address checked; connect only to ``addresses``."""

    scheme: str
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str
    addresses: tuple[str, ...]


def resolve_and_check(url: str, *, allow_loopback: bool) -> CheckedTarget:
    """Resolve the URL's host once and check every address; raises :class:`UnsafeUrl`.

    Plain http is accepted only where loopback is (the local stack and tests): outside it an
    order's personal data never travels unencrypted, even to an endpoint registered earlier.
    """
    host = check_url_syntax(url, require_https=not allow_loopback)
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("the URL's port is not a number between 0 and 65535") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}") from None
    addresses: list[str] = []
    for info in infos:
        # A scoped IPv6 address comes back as "fe80::1%eth0"; the check needs the address alone.
        address = str(info[4][0]).split("%", 1)[0]
        check_address(address, allow_loopback=allow_loopback)  # any bad answer refuses the whole name
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl(f"{host} has no address")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return CheckedTarget(parts.scheme, host, port, target, tuple(addresses))


@lru_cache(maxsize=1)
def _default_tls() -> ssl.SSLContext:
    # Certificate and host name verification on, the system's CA bundle (as urllib's default).
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP to a checked address; ``host`` (the name) still goes into the Host header."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedTlsConnection(_PinnedConnection):
    """HTTPS to a checked address; SNI and the certificate check use the host name, not the address."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, address: str, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(host, port, address=address, timeout=timeout)
        self.tls = tls

    def connect(self) -> None:
        super().connect()
        assert self.sock is not None
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


class _Watchdog:
    """Shuts the current connection's socket down at the deadline, ending any blocked read."""

    def __init__(self, seconds: float) -> None:
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._connection: _PinnedConnection | None = None
        self._timer = threading.Timer(seconds, self._cut_off)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, connection: _PinnedConnection) -> None:
        with self._lock:
            self._connection = connection

    def _cut_off(self) -> None:
        with self._lock:
            self.expired.set()
            sock = self._connection.sock if self._connection is not None else None
            if sock is not None:
                # Not connected yet or already closed: then the socket timeout ends it.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _connect(
    checked: CheckedTarget, *, deadline: float, watchdog: _Watchdog, tls: ssl.SSLContext
) -> _PinnedConnection:
    """A connection to the first checked address that accepts one, in the resolver's order."""
    last_error: OSError = OSError(f"{checked.host} has no address")
    for address in checked.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or watchdog.expired.is_set():
            raise TimeoutError("deadline")
        connection: _PinnedConnection
        if checked.scheme == "https":
            connection = _PinnedTlsConnection(
                checked.host, checked.port, address=address, timeout=remaining, tls=tls
            )
        else:
            connection = _PinnedConnection(checked.host, checked.port, address=address, timeout=remaining)
        watchdog.watch(connection)
        try:
            connection.connect()
            return connection
        except ssl.SSLError:
            connection.close()
            raise  # a certificate problem is the server's answer, not a reason to try another address
        except OSError as exc:
            connection.close()
            last_error = exc
    raise last_error


def send_request(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | None,
    allow_loopback: bool,
    deadline: float | None = None,
    tls: ssl.SSLContext | None = None,
    keep_body_bytes: int = 0,
) -> SendResult:
    """One HTTP request to a URL a tenant chose, as this module's docstring describes.

    ``deadline`` is a ``time.monotonic()`` instant (default: :data:`DEFAULT_TIMEOUT_SECONDS`
    from now). Never raises for network trouble: the result carries the status or the error.
    ``keep_body_bytes`` > 0 keeps up to that many bytes of the response body and its headers
    (the store API clients read answers; webhooks only need the status).
    """
    started = time.monotonic()
    deadline = started + DEFAULT_TIMEOUT_SECONDS if deadline is None else deadline
    if deadline - started <= 0:
        return SendResult(None, "no time left to send", 0)
    try:
        checked = resolve_and_check(url, allow_loopback=allow_loopback)
    except UnsafeUrl as exc:
        return SendResult(None, f"refused: {exc}", _ms_since(started))
    budget = deadline - started
    status: int | None = None
    error: str | None = None
    response_body = b""
    truncated = False
    response_headers: dict[str, str] = {}
    connection: _PinnedConnection | None = None
    with _Watchdog(max(deadline - time.monotonic(), 0.0)) as watchdog:
        try:
            connection = _connect(checked, deadline=deadline, watchdog=watchdog, tls=tls or _default_tls())
            connection.request(
                method, checked.target, body=body, headers={"User-Agent": USER_AGENT, **headers}
            )
            response = connection.getresponse()
            if keep_body_bytes > 0:
                response_body = response.read(keep_body_bytes + 1)
                truncated = len(response_body) > keep_body_bytes
                response_body = response_body[:keep_body_bytes]
                response_headers = {name.lower(): value for name, value in response.getheaders()}
            else:
                response.read(RESPONSE_PREFIX_BYTES)
            status = int(response.status)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except ssl.SSLCertVerificationError as exc:
            error = f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
        except (OSError, http.client.HTTPException) as exc:
            if watchdog.expired.is_set() or isinstance(exc, TimeoutError):
                error = f"no answer before the deadline ({budget:.1f} s)"
            else:
                error = f"{type(exc).__name__}: {exc}"
        finally:
            if connection is not None:
                connection.close()
    return SendResult(status, error, _ms_since(started), response_body, truncated, response_headers)


def post_signed(
    url: str,
    *,
    secret: str,
    webhook_id: str,
    body: str,
    allow_loopback: bool,
    deadline: float | None = None,
    tls: ssl.SSLContext | None = None,
    now: float | None = None,
) -> SendResult:
    """POST ``body`` signed per Standard Webhooks (``webhook-id``, ``-timestamp``, ``-signature``)."""
    timestamp = int(now if now is not None else time.time())
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body)
    return send_request(
        "POST",
        url,
        headers={
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        },
        body=body.encode(),
        allow_loopback=allow_loopback,
        deadline=deadline,
        tls=tls,
    )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class HttpWebhookTransport:
    """``WebhookTransport`` over this module's checked sender; loopback targets only where the
    stage allows them (the local stack and tests)."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def check_reachable(self, url: str) -> None:
        resolve_and_check(url, allow_loopback=self.allow_loopback)

    def post_signed(
        self, url: str, *, secret: str, webhook_id: str, body: str, deadline: float
    ) -> SendResult:
        return post_signed(
            url,
            secret=secret,
            webhook_id=webhook_id,
            body=body,
            allow_loopback=self.allow_loopback,
            deadline=deadline,
        )
