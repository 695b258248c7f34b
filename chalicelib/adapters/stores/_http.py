"""JSON over the SSRF-safe sender, and what an HTTP answer means for a store API call.

Shared by the Shopify and WooCommerce clients: both send through
``chalicelib.adapters.http_sender.send_request`` (https only; plain http to 127.0.0.1 only where the
settings allow loopback, i.e. the local stack and tests) and classify the same way what is not a
normal answer:

* no answer (connection refused, deadline) → ``RetryAfter`` (:data:`NO_ANSWER_RETRY_SECONDS`);
* HTTP 429 → ``RetryAfter`` the store's ``Retry-After`` (seconds or an HTTP date), else
  :data:`BUSY_RETRY_SECONDS`;
* HTTP 5xx → ``RetryAfter`` likewise;
* HTTP 401/403 → ``CredentialsRejected``;
* a redirect, or a URL the sender refuses (not https, an internal address) →
  ``CredentialsRejected``: the channel's store URL needs an operator, and redirects are never
  followed (SSRF);
* a 2xx whose body is not JSON → ``RetryAfter`` (a proxy's error page, a cut answer).

Other 4xx are the platform's business (each client reads its own error bodies).
"""

from __future__ import annotations

import json
import math
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from chalicelib.adapters.http_sender import send_request
from chalicelib.domain.store_api import CredentialsRejected, RetryAfter, StoreCallOutcome

#: The most of an answer read: a store's order with its fulfillment orders fits well inside.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
#: One request's time limit: a store call runs inside a queue worker's own deadline.
REQUEST_TIMEOUT_SECONDS = 10.0
NO_ANSWER_RETRY_SECONDS = 30
BUSY_RETRY_SECONDS = 10
USER_AGENT = "oms-store-api/1"


@dataclass(frozen=True)
class JsonAnswer:
    status: int
    #: The parsed body (None for an empty body).
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JsonSender:
    """Sends JSON requests through the checked sender; the clients' transport."""

    allow_loopback: bool
    timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    #: Only the tests set one (a throwaway CA); otherwise the system's CA bundle.
    tls: ssl.SSLContext | None = None

    def send(
        self, method: str, url: str, *, headers: dict[str, str], payload: Any | None = None
    ) -> JsonAnswer | StoreCallOutcome:
        body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        result = send_request(
            method,
            url,
            headers=all_headers,
            body=body,
            allow_loopback=self.allow_loopback,
            deadline=time.monotonic() + self.timeout_seconds,
            tls=self.tls,
            keep_body_bytes=MAX_ANSWER_BYTES,
        )
        if result.status_code is None:
            error = result.error or "no answer"
            if error.startswith("refused:"):
                return CredentialsRejected(f"the store URL cannot be used: {error.removeprefix('refused: ')}")
            if error.startswith("TLS certificate"):
                return CredentialsRejected(f"the store's {error}")
            return RetryAfter(NO_ANSWER_RETRY_SECONDS, f"no answer from the store: {error}")
        status = result.status_code
        if status == 429 or status >= 500:
            seconds = retry_after_seconds(result.headers.get("retry-after"))
            wait = BUSY_RETRY_SECONDS if seconds is None else seconds
            return RetryAfter(wait, f"the store answered HTTP {status}")
        if status in (401, 403):
            excerpt = _excerpt(result.body)
            return CredentialsRejected(f"the store refused the credentials (HTTP {status}): {excerpt}")
        if 300 <= status < 400:
            location = result.headers.get("location", "?")
            return CredentialsRejected(f"the store redirects to {location}; fix the channel's store URL")
        if result.body_truncated:
            too_long = f"the store's answer is longer than {MAX_ANSWER_BYTES} bytes"
            return RetryAfter(NO_ANSWER_RETRY_SECONDS, too_long)
        if not result.body.strip():
            return JsonAnswer(status, None, result.headers)
        try:
            parsed = json.loads(result.body)
        except ValueError:
            if 200 <= status < 300:
                return RetryAfter(NO_ANSWER_RETRY_SECONDS, f"the store answered HTTP {status} without JSON")
            parsed = None
        return JsonAnswer(status, parsed, result.headers)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> int | None:
    """Seconds to wait from a ``Retry-After`` header: a number (Shopify sends ``2.0``) or an
    HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0, math.ceil(seconds))


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text[:limit] or "(no body)"
