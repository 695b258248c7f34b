"""POSTing signed webhooks to the stores' endpoints.

The host is resolved and every address checked just before connecting
(``domain.outbound.check_address``), redirects are never followed (a redirect
to an internal address is the classic SSRF detour) and the response body is
not read beyond a small prefix. The standard library's client keeps the
Lambda package small; nothing here needs connection pooling.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from chalicelib.domain.outbound import UnsafeUrl, check_address, check_url_syntax

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is the answer, not an instruction


_opener = urllib.request.build_opener(_NoRedirects)


def resolve_and_check(url: str, *, allow_loopback: bool) -> None:
    host = check_url_syntax(url)
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        check_address(str(info[4][0]), allow_loopback=allow_loopback)


def post_signed(
    url: str, *, secret: str, webhook_id: str, body: str, allow_loopback: bool, now: float | None = None
) -> SendResult:
    started = time.monotonic()
    try:
        resolve_and_check(url, allow_loopback=allow_loopback)
    except UnsafeUrl as exc:
        return SendResult(None, f"refused: {exc}", 0)
    timestamp = int(now if now is not None else time.time())
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body)
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "oms-webhooks/1",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        },
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
            status = int(response.status)
        error = None
    except urllib.error.HTTPError as exc:
        status, error = int(exc.code), f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        status, error = None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return SendResult(status, error, int((time.monotonic() - started) * 1000))
