"""Webhook signature checks: pure functions over the raw request bytes and its headers.

Rules every function here keeps:
- the signature is computed over the exact bytes received, never over re-serialised JSON;
- headers are looked up case-insensitively (API Gateway, proxies and providers disagree on case);
- digests are compared with ``hmac.compare_digest`` as bytes (on ``str`` it raises ``TypeError``
  for non-ASCII input, which an attacker controls);
- any of the configured secrets may match, so a secret can be rotated without downtime;
- an empty secret never matches: an HMAC under the empty key is something anyone can compute;
- a missing or garbled header is a refusal (``False``), never an exception, so a route can map
  every refusal to 401 without guarding against surprises.

No chalice import: the route passes ``app.current_request.raw_body`` and ``headers`` in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from standardwebhooks.webhooks import Webhook

#: Standard Webhooks' replay window; the same five minutes the reference library enforces.
STANDARD_TOLERANCE = timedelta(minutes=5)
#: Shippo's HMAC timestamp window, in seconds.
SHIPPO_TOLERANCE_SECONDS = 300

_EASYPOST_PREFIX = "hmac-sha256-hex="
# Unix seconds as plain digits: the signed content embeds the header text, so a value such as
# "1.6e9" (which float() and the reference library accept) must not be reinterpreted. Eleven
# digits reach the year 5138 and stay inside what ``datetime`` can represent.
_UNIX_SECONDS = re.compile(r"^[0-9]{1,11}$")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` whatever the case of its key; None when absent or not text."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _usable(secrets: Iterable[str]) -> list[str]:
    return [s for s in secrets if isinstance(s, str) and s != ""]


def _matches_any(received: bytes, expected: Iterable[bytes]) -> bool:
    # No early exit: every configured secret costs the same, whichever one matches.
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(received, candidate)
    return matched


def _b64(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        return None


def _verify_base64_body_hmac(raw_body: bytes, received: str | None, secrets: Sequence[str]) -> bool:
    """The common scheme: base64(HMAC-SHA256(secret, raw body)) in one header."""
    keys = _usable(secrets)
    signature = _b64(received)
    if not keys or not signature:
        return False
    return _matches_any(signature, (_hmac_sha256(k.encode("utf-8"), raw_body) for k in keys))


# -- EasyPost ----------------------------------------------------------------------------------


def verify_easypost(raw_body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(secret), raw body)>``.

    EasyPost normalises the secret to NFKD before using its UTF-8 bytes as the key, so a secret
    with accents (``sécret``) only verifies after the same normalisation, whatever form it was
    typed or stored in.
    """
    keys = _usable(secrets)
    value = header(headers, "X-Hmac-Signature")
    if not keys or value is None:
        return False
    value = value.strip()
    if not value.startswith(_EASYPOST_PREFIX):
        return False
    signature = _hex(value[len(_EASYPOST_PREFIX) :])
    if not signature:
        return False
    return _matches_any(
        signature,
        (_hmac_sha256(unicodedata.normalize("NFKD", k).encode("utf-8"), raw_body) for k in keys),
    )


# -- Shippo ------------------------------------------------------------------------------------


def _parse_shippo_signature(value: str) -> tuple[str, list[bytes]] | None:
    timestamp: str | None = None
    signatures: list[bytes] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamp = item.strip()
        elif key == "v1":
            digest = _hex(item)
            if digest is None:
                return None
            signatures.append(digest)
        # Other keys (a future scheme version) are ignored, as Stripe-style headers intend.
    if timestamp is None or not _UNIX_SECONDS.match(timestamp) or not signatures:
        return None
    return timestamp, signatures


def verify_shippo(
    raw_body: bytes,
    headers: Mapping[str, str],
    query_token: str | None,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance: int = SHIPPO_TOLERANCE_SECONDS,
    hmac_secrets: Sequence[str] | None = None,
    require_signature: bool = False,
) -> bool:
    """Shippo: the ``?token=`` we put in the webhook URL, and Shippo's HMAC when it is sent.

    The token must equal one of ``secrets``. When ``Shippo-Auth-Signature: t=<unix>,v1=<hex>``
    is present it must verify as well: hex HMAC-SHA256 over ``"{t}.{raw body}"`` with one of
    ``hmac_secrets`` (Shippo issues that key; it defaults to ``secrets``), and ``t`` within
    ``tolerance`` seconds of ``now``. Shippo only signs once HMAC is enabled on request, so
    the header is optional unless ``require_signature`` (set it once it is enabled, or anyone who
    learns the URL token can leave the header out).
    """
    tokens = _usable(secrets)
    if not tokens or not query_token:
        return False
    token = query_token.encode("utf-8")
    if not _matches_any(token, (t.encode("utf-8") for t in tokens)):
        return False

    value = header(headers, "Shippo-Auth-Signature")
    if value is None:
        return not require_signature
    parsed = _parse_shippo_signature(value)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs(now - int(timestamp)) > tolerance:
        return False
    keys = _usable(secrets if hmac_secrets is None else hmac_secrets)
    if not keys:
        return False
    message = timestamp.encode("ascii") + b"." + raw_body
    expected = [_hmac_sha256(k.encode("utf-8"), message) for k in keys]
    # Any v1 entry may match (a sender mid-rotation may list two).
    return any(_matches_any(sig, expected) for sig in signatures)


# -- AfterShip, Shopify, WooCommerce -----------------------------------------------------------


def verify_aftership(raw_body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """``aftership-hmac-sha256: base64(HMAC-SHA256(secret, raw body))``; no timestamp in the scheme."""
    return _verify_base64_body_hmac(raw_body, header(headers, "aftership-hmac-sha256"), secrets)


def verify_shopify(raw_body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """``X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(client secret, raw body))``."""
    return _verify_base64_body_hmac(raw_body, header(headers, "X-Shopify-Hmac-Sha256"), secrets)


def verify_woocommerce(raw_body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    """``X-WC-Webhook-Signature: base64(HMAC-SHA256(webhook secret, raw body))``.

    WooCommerce's unsigned ``webhook_id=N`` ping on save has no signature and is refused here;
    the route recognises that ping before calling this.
    """
    return _verify_base64_body_hmac(raw_body, header(headers, "X-WC-Webhook-Signature"), secrets)


# -- Standard Webhooks -------------------------------------------------------------------------


class StandardVerdict(StrEnum):
    """Why a Standard Webhooks request was accepted or refused (every refusal is a 401)."""

    VALID = "valid"
    MISSING_HEADERS = "missing_headers"
    BAD_SIGNATURE = "bad_signature"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_TOO_NEW = "timestamp_too_new"

    @property
    def ok(self) -> bool:
        return self is StandardVerdict.VALID


def _standard_webhook(secret: str) -> Webhook | None:
    try:
        return Webhook(secret)
    except Exception:
        # A secret that is not base64 (after "whsec_") can match nothing; skipping it keeps the
        # other secret of a rotation working while the bad one is fixed.
        return None


def _standard_signatures(signature_header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header (others are skipped)."""
    received: list[bytes] = []
    for entry in signature_header.split(" "):
        version, sep, value = entry.partition(",")
        if sep and version == "v1" and (decoded := _b64(value)):
            received.append(decoded)
    return received


def _standard_expected(keys: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> list[bytes]:
    """The signature each usable secret gives the message."""
    expected: list[bytes] = []
    for key in keys:
        webhook = _standard_webhook(key)
        if webhook is not None:
            signed = webhook.sign(msg_id=msg_id, timestamp=timestamp, data=body)
            expected.append(base64.b64decode(signed.partition(",")[2]))
    return expected


def verify_standard(
    raw_body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime | None = None,
) -> StandardVerdict:
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

    The signature (``v1,<base64>``, several space-separated) is HMAC-SHA256 over
    ``"{id}.{timestamp}.{body}"`` with the base64-decoded ``whsec_`` secret; the timestamp must be
    within five minutes of ``now`` (default: the real clock).

    The ``standardwebhooks`` package decodes the secrets and computes the expected signature
    (``Webhook.sign``). Its ``Webhook.verify`` is not used because it reads the clock itself
    (``datetime.now`` inside the module, no parameter), checks the timestamp before the signature,
    reports every failure as the same exception type, and raises ``ValueError``/``binascii.Error``
    rather than its own error on a garbled signature header.

    The signature is checked first, so "too old"/"too new" is only said about a message we know
    is genuine (a replay, or a sender's clock off): a forger learns nothing about the window.
    """
    keys = _usable(secrets)
    msg_id = header(headers, "webhook-id")
    timestamp_text = header(headers, "webhook-timestamp")
    signature_header = header(headers, "webhook-signature")
    if not msg_id or not timestamp_text or not signature_header:
        return StandardVerdict.MISSING_HEADERS
    timestamp_text = timestamp_text.strip()
    if not keys or not _UNIX_SECONDS.match(timestamp_text):
        return StandardVerdict.BAD_SIGNATURE
    try:
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        # The scheme signs text; bytes that are not UTF-8 cannot be what the sender signed.
        return StandardVerdict.BAD_SIGNATURE
    timestamp = datetime.fromtimestamp(int(timestamp_text), tz=UTC)

    received = _standard_signatures(signature_header)
    expected = _standard_expected(keys, msg_id, timestamp, body)
    if not received or not expected or not any(_matches_any(sig, expected) for sig in received):
        return StandardVerdict.BAD_SIGNATURE

    current = now if now is not None else datetime.now(UTC)
    if current.tzinfo is None:
        raise ValueError("now must carry a time zone")
    # The same comparisons as the reference library: exactly five minutes off is still accepted.
    if timestamp < current - STANDARD_TOLERANCE:
        return StandardVerdict.TIMESTAMP_TOO_OLD
    if timestamp > current + STANDARD_TOLERANCE:
        return StandardVerdict.TIMESTAMP_TOO_NEW
    return StandardVerdict.VALID
