"""The console's session cookie and its CSRF tokens: pure functions, no I/O.

A session is a signed, expiring token (``domain.tokens`` with purpose ``console``) keyed by the
link-signing keys, whose subject is the SHA-256 hash of the admin key that signed in. The raw
key is never in the cookie, a URL or a log line; the hash lets every request look the key up
again, so revoking the key ends the session at the next request. Nothing is stored server-side.

CSRF: every form carries ``HMAC(signing key, "console-csrf" || session token)``. The session
token sits in an HttpOnly cookie another site can neither read nor, SameSite=Strict, send; the
CSRF token cannot be computed without the signing key, so a forged form fails either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from chalicelib.domain.tokens import InvalidToken, issue_token, verify_token

SESSION_PURPOSE = "console"
#: A working day: long enough not to interrupt a shift, short enough that a copied cookie dies.
SESSION_LIFETIME = timedelta(hours=8)
COOKIE_NAME = "oms_console"
#: Over https the ``__Host-`` prefix makes the browser refuse the cookie unless it is Secure,
#: Path=/ and has no Domain, so no sibling host can plant or shadow it.
SECURE_COOKIE_NAME = "__Host-oms_console"
CSRF_FIELD = "csrf"
_CSRF_LABEL = b"console-csrf\x00"


class SessionInvalid(Exception):
    """No session cookie, or one that is forged, expired or for another purpose."""


def issue_session(key_hash: str, *, keys: Sequence[str], now: datetime) -> str:
    if not keys:
        raise ValueError("no link-signing key is configured")
    return issue_token(SESSION_PURPOSE, key_hash, key=keys[0], now=now, lifetime=SESSION_LIFETIME)


def verify_session(token: str, *, keys: Sequence[str], now: datetime) -> str:
    """The hash of the key the session was opened with."""
    try:
        claims = verify_token(token, SESSION_PURPOSE, keys=keys, now=now)
    except InvalidToken as exc:
        raise SessionInvalid(str(exc)) from None
    if len(claims.order_id) != 64:  # the token's subject is the key's SHA-256 hex digest
        raise SessionInvalid("malformed session")
    return claims.order_id


def _csrf_with(session_token: str, key: str) -> str:
    digest = hmac.new(key.encode(), _CSRF_LABEL + session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(session_token: str, *, keys: Sequence[str]) -> str:
    return _csrf_with(session_token, keys[0])


def csrf_valid(session_token: str, submitted: str | None, *, keys: Sequence[str]) -> bool:
    """Constant-time check against every key, so a key rotation does not void open forms."""
    if not submitted or not submitted.isascii() or len(submitted) > 128:
        return False
    return any(key and hmac.compare_digest(_csrf_with(session_token, key), submitted) for key in keys)


def read_cookie(cookie_header: str | None) -> str | None:
    """The session token from a ``Cookie`` header, preferring the ``__Host-`` name.

    Parsed by hand rather than with ``http.cookies``, which drops every cookie after the first
    one it cannot parse, so a stray cookie from another app on the host could hide the session.
    """
    if not cookie_header:
        return None
    found: dict[str, str] = {}
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name in (COOKIE_NAME, SECURE_COOKIE_NAME) and name not in found:
            found[name] = value.strip().strip('"')
    return found.get(SECURE_COOKIE_NAME) or found.get(COOKIE_NAME) or None


def session_cookie(token: str, *, secure: bool) -> str:
    max_age = int(SESSION_LIFETIME.total_seconds())
    if secure:
        return f"{SECURE_COOKIE_NAME}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict; Secure"
    return f"{COOKIE_NAME}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"


def cleared_cookie(*, secure: bool) -> str:
    if secure:
        return f"{SECURE_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"


def _loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def request_is_https(headers: Mapping[str, str]) -> bool:
    """API Gateway (and any proxy) says ``X-Forwarded-Proto``; chalice's local server on 127.0.0.1
    says nothing. Anything else without the header is taken as https, so a misjudged request
    loses its cookie rather than sending it in clear."""
    proto = headers.get("x-forwarded-proto")
    if proto:
        return proto.split(",")[0].strip().lower() == "https"
    return not _loopback(headers.get("host", ""))


def same_origin(headers: Mapping[str, str]) -> bool:
    """False when the browser says the request came from another site (``Origin`` or
    ``Sec-Fetch-Site``); requests that say nothing (old browsers, curl) pass on to the CSRF check."""
    site = (headers.get("sec-fetch-site") or "").lower()
    if site and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == (headers.get("host") or "").lower()
