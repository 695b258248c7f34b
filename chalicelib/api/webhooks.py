"""Inbound webhooks (carriers and stores): no API key, each provider's own scheme over the raw bytes.

Every route: verify the signature over ``raw_body`` (never re-serialised
JSON) -> 401 on a bad or missing one, nothing stored; parse -> 400 on a
malformed body; then ingest (dedup + one transaction) and answer fast:
200 accepted or duplicate, 202 for a tracking number nobody shipped (the
provider stops retrying), 200 ``ignored`` for a provider's non-tracking event.
Shippo wants a 2xx within 3 s: the worker does the rest.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel

from chalicelib.api.framework import (
    SIGNED,
    Access,
    Call,
    Credential,
    ProblemError,
    endpoint,
    loads_bounded,
    parse_json_body,
    raw_body_of,
)
from chalicelib.bootstrap import services
from chalicelib.domain.channels import is_woocommerce_ping
from chalicelib.domain.models import Channel, ChannelKind
from chalicelib.domain.signatures import (
    header,
    verify_aftership,
    verify_easypost,
    verify_shippo,
    verify_shopify,
    verify_standard,
    verify_woocommerce,
)
from chalicelib.domain.tracking import (
    NotATrackingEvent,
    StandardTrackingEvent,
    TrackingUpdate,
    parse_aftership,
    parse_easypost,
    parse_shippo,
    parse_standard,
)
from chalicelib.service.channels import store_secret_name
from chalicelib.service.delivery import Ingested, ingest
from chalicelib.service.intake import receive_store_webhook

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
    access=SIGNED,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def easypost(call: Call) -> Response:
    raw = raw_body_of(call.request)
    if not verify_easypost(raw, call.request.headers, services().secrets.secrets("webhooks/easypost")):
        raise _unauthorized("X-Hmac-Signature is missing or does not match the body")
    return _receive(parse_easypost, parse_json_body(call.request))


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/shippo",
    "POST",
    summary="Shippo track_updated events",
    roles=None,
    access=SIGNED,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def shippo(call: Call) -> Response:
    raw = raw_body_of(call.request)
    store = services().secrets
    params = call.request.query_params
    token = params.get("token") if params is not None else None
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
    access=SIGNED,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def aftership(call: Call) -> Response:
    raw = raw_body_of(call.request)
    if not verify_aftership(raw, call.request.headers, services().secrets.secrets("webhooks/aftership")):
        raise _unauthorized("aftership-hmac-sha256 is missing or does not match the body")
    return _receive(parse_aftership, parse_json_body(call.request))


@endpoint(
    webhooks_api,
    "/v1/webhooks/carriers/standard",
    "POST",
    summary="Tracking updates signed per Standard Webhooks (payload: StandardTrackingEvent)",
    roles=None,
    access=SIGNED,
    body_schema=StandardTrackingEvent,
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=WEBHOOK_ERRORS,
    content_types=WEBHOOK_CONTENT_TYPES,
)
def standard(call: Call) -> Response:
    raw = raw_body_of(call.request)
    verdict = verify_standard(
        raw, call.request.headers, services().secrets.secrets("webhooks/standard_webhooks")
    )
    if not verdict.ok:
        raise _unauthorized(f"Standard Webhooks verification failed: {verdict.value.replace('_', ' ')}")
    webhook_id = header(call.request.headers, "webhook-id") or ""
    return _receive(lambda payload: parse_standard(payload, webhook_id), parse_json_body(call.request))


# --- store order webhooks ---------------------------------------------------------------------

SHOPIFY_ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
WOOCOMMERCE_ORDER_TOPICS = frozenset({"order.created", "order.updated"})


#: Checked in place of a store's secret when the channel id names no store of that kind: the
#: answer (401) and the work done (one HMAC) are the same as for a known store and a bad
#: signature, so channel ids cannot be enumerated. Random per process: nobody can sign with it.
_UNKNOWN_STORE_SECRET = secrets.token_urlsafe(32)


def _store_channel(
    channel_id: str, kind: ChannelKind, verify: Callable[[list[str]], bool], refusal: str
) -> Channel:
    """The store channel a webhook is for, once its signature is verified; else 401, alike for an
    unknown channel id and a bad signature (the signature is checked before anything is revealed)."""
    svc = services()
    channel = svc.channels.get(channel_id)
    known = channel is not None and channel.kind == kind
    store_secrets = svc.secrets.secrets(store_secret_name(kind, channel_id)) if known else []
    verified = verify(store_secrets or [_UNKNOWN_STORE_SECRET])
    if not (known and store_secrets and verified) or channel is None:
        raise _unauthorized(refusal)
    return channel


def _intake(channel: Channel, *, topic: str, delivery_key: str, body: bytes, relevant: bool) -> Response:
    if relevant:
        loads_bounded(body)  # 400 for a body the intake worker could not parse
    svc = services()
    outcome = receive_store_webhook(
        svc.uow_factory,
        channel_id=channel.id,
        store=channel.kind.value,
        topic=topic,
        delivery_key=delivery_key,
        body=body.decode("utf-8", "replace"),  # relevant bodies are valid JSON, hence UTF-8
        relevant=relevant,
        ids=svc.ids,
        clock=svc.clock,
    )
    return _answer(200, outcome.value)


@endpoint(
    webhooks_api,
    "/v1/webhooks/channels/shopify/{channel_id}",
    "POST",
    summary="Shopify order webhooks (orders/create, orders/updated, orders/cancelled)",
    roles=None,
    access=Access(Credential.SIGNATURE, "channel", "channel_id"),
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=(*WEBHOOK_ERRORS, 404),
    content_types=WEBHOOK_CONTENT_TYPES,
)
def shopify_orders(call: Call) -> Response:
    raw = raw_body_of(call.request)
    headers = call.request.headers
    channel = _store_channel(
        call.params["channel_id"],
        ChannelKind.SHOPIFY,
        lambda store_secrets: verify_shopify(raw, headers, store_secrets),
        "X-Shopify-Hmac-Sha256 is missing or does not match the body",
    )
    shop = header(headers, "X-Shopify-Shop-Domain")
    if channel.shop_domain and shop != channel.shop_domain:
        raise _unauthorized(f"this channel takes webhooks from {channel.shop_domain} only")
    webhook_id = header(headers, "X-Shopify-Webhook-Id")
    if not webhook_id:
        raise ProblemError(400, "missing-header", "Missing header", "X-Shopify-Webhook-Id is required")
    topic = header(headers, "X-Shopify-Topic") or ""
    return _intake(
        channel, topic=topic, delivery_key=webhook_id, body=raw, relevant=topic in SHOPIFY_ORDER_TOPICS
    )


@endpoint(
    webhooks_api,
    "/v1/webhooks/channels/woocommerce/{channel_id}",
    "POST",
    summary="WooCommerce order webhooks (order.created, order.updated) and the ping on save",
    roles=None,
    access=Access(Credential.SIGNATURE, "channel", "channel_id"),
    response=WebhookReceipt,
    tags=("webhooks",),
    errors=(*WEBHOOK_ERRORS, 404),
    content_types=[*WEBHOOK_CONTENT_TYPES, "application/x-www-form-urlencoded"],
)
def woocommerce_orders(call: Call) -> Response:
    raw = raw_body_of(call.request)
    headers = call.request.headers
    if is_woocommerce_ping(raw, header(headers, "content-type")):
        # Sent unsigned when the webhook is saved (a failure would count against it); answered
        # alike for every channel id, before any lookup: it stores and reveals nothing.
        return _answer(200, "pong")
    channel = _store_channel(
        call.params["channel_id"],
        ChannelKind.WOOCOMMERCE,
        lambda store_secrets: verify_woocommerce(raw, headers, store_secrets),
        "X-WC-Webhook-Signature is missing or does not match the body",
    )
    topic = header(headers, "X-WC-Webhook-Topic") or ""
    # X-WC-Webhook-Delivery-ID is new on every retry: the body itself identifies a delivery.
    delivery_key = hashlib.sha256(raw).hexdigest()
    return _intake(
        channel, topic=topic, delivery_key=delivery_key, body=raw, relevant=topic in WOOCOMMERCE_ORDER_TOPICS
    )
