"""Signed, expiring tokens for links in e-mails (satisfaction survey, unsubscribe).

A token is ``<payload>.<signature>``, both base64url without padding: the
payload is compact JSON ``{"p": purpose, "o": order id, "x": expiry (unix s)}``
and the signature is HMAC-SHA256 over the payload text with a server-side
key. The purpose is signed too, so a survey token cannot unsubscribe anyone.
Verification tries every key given (two during a key rotation) and compares
in constant time. Nothing is stored: a token proves itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidToken(ValueError):
    """Malformed, forged, for another purpose, or expired."""


@dataclass(frozen=True)
class TokenClaims:
    purpose: str
    order_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, key: str) -> str:
    return _b64(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest())


def issue_token(purpose: str, order_id: str, *, key: str, now: datetime, lifetime: timedelta) -> str:
    if not key:
        raise ValueError("a signing key is required")
    claims = {"p": purpose, "o": order_id, "x": int((now + lifetime).timestamp())}
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_sign(payload, key)}"


def verify_token(token: str, purpose: str, *, keys: Sequence[str], now: datetime) -> TokenClaims:
    # Only the token alphabet gets further: anything else (non-ASCII, separators) is malformed
    # before it can reach the HMAC comparison, which refuses non-ASCII strings with a TypeError.
    if len(token) > 1024 or not _TOKEN_SHAPE.fullmatch(token):
        raise InvalidToken("malformed token")
    payload, _, signature = token.partition(".")
    if not any(key and hmac.compare_digest(_sign(payload, key), signature) for key in keys):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(payload))
        parsed = TokenClaims(purpose=str(claims["p"]), order_id=str(claims["o"]), expires_at=int(claims["x"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    if parsed.purpose != purpose:
        raise InvalidToken("token for another purpose")
    if parsed.expires_at < now.timestamp():
        raise InvalidToken("expired token")
    return parsed
