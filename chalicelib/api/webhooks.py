"""Carrier tracking webhooks: no API key, each provider's own scheme over the raw request bytes.

Every route: verify the signature over ``raw_body`` (never re-serialised
JSON) -> 401 on a bad or missing one, nothing stored; parse -> 400 on a
malformed body; then ingest (dedup + one transaction) and answer fast:
200 accepted or duplicate, 202 for a tracking number nobody shipped (the
provider stops retrying), 200 ``ignored`` for a provider's non-tracking event.
Shippo wants a 2xx within 3 s: the worker does the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel

from chalicelib.adapters.signatures import (
    header,
    verify_aftership,
    verify_easypost,
    verify_shippo,
    verify_standard,
)
from chalicelib.api.framework import Call, ProblemError, endpoint, parse_json_body
from chalicelib.bootstrap import services
from chalicelib.domain.tracking import (
    NotATrackingEvent,
    StandardTrackingEvent,
    TrackingUpdate,
    parse_aftership,
    parse_easypost,
    parse_shippo,
    parse_standard,
)
from chalicelib.service.tracking import Ingested, ingest

webhooks_api = Blueprint(__name__)

WEBHOOK_ERRORS = (400, 401, 413, 415)
#: Providers send JSON; some omit the charset, some send text/plain.
WEBHOOK_CONTENT_TYPES = ["application/json", "text/plain"]


class WebhookReceipt(BaseModel):
    status: str


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "bad-signature", "Signature not valid", detail)


def _receive(parse: Callable[[Any], TrackingUpdate], payload: Any) -> Response:
    try:
        update = parse(payload)
    except NotATrackingEvent:
        return _answer(200, "ignored")
    svc = services()
    outcome = ingest(svc.uow_factory, update, ids=svc.ids, clock=svc.clock)
    return _answer(202 if outcome == Ingested.UNMATCHED else 200, outcome.value)


def _answer(status: int, what: str) -> Response:
    return Response(
        body=json.dumps({"status": what}), status_code=status, headers={"Content-Type": "application/json"}
    )


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/easypost",
    "POST",
    summary="EasyPost tracker events",
    roles=None,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def easypost(call: Call) -> Response:
    raw = call.request.raw_body or b""
    if not verify_easypost(raw, call.request.headers, services().secrets.secrets("webhooks/easypost")):
        raise _unauthorized("X-Hmac-Signature is missing or does not match the body")
    return _receive(parse_easypost, parse_json_body(call.request))


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/shippo",
    "POST",
    summary="Shippo track_updated events",
    roles=None,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def shippo(call: Call) -> Response:
    raw = call.request.raw_body or b""
    store = services().secrets
    token = (call.request.query_params or {}).get("token")
    hmac_secrets = store.secrets("webhooks/shippo_hmac")
    if not verify_shippo(
        raw,
        call.request.headers,
        token,
        store.secrets("webhooks/shippo_token"),
        now=int(time.time()),
        hmac_secrets=hmac_secrets or None,
        require_signature=bool(hmac_secrets),
    ):
        raise _unauthorized("the URL token (or Shippo-Auth-Signature) is missing or wrong")
    return _receive(lambda payload: parse_shippo(payload, raw), parse_json_body(call.request))


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/aftership",
    "POST",
    summary="AfterShip tracking updates",
    roles=None,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def aftership(call: Call) -> Response:
    raw = call.request.raw_body or b""
    if not verify_aftership(raw, call.request.headers, services().secrets.secrets("webhooks/aftership")):
        raise _unauthorized("aftership-hmac-sha256 is missing or does not match the body")
    return _receive(parse_aftership, parse_json_body(call.request))


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/standard",
    "POST",
    summary="Tracking updates signed per Standard Webhooks (payload: StandardTrackingEvent)",
    roles=None,
    body_schema=StandardTrackingEvent,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def standard(call: Call) -> Response:
    raw = call.request.raw_body or b""
    verdict = verify_standard(
        raw, call.request.headers, services().secrets.secrets("webhooks/standard_webhooks")
    )
    if not verdict.ok:
        raise _unauthorized(f"Standard Webhooks verification failed: {verdict.value.replace('_', ' ')}")
    webhook_id = header(call.request.headers, "webhook-id") or ""
    return _receive(lambda payload: parse_standard(payload, webhook_id), parse_json_body(call.request))
