"""Use cases of store intake: Shopify and WooCommerce order webhooks into the one order model.

The webhook route answers within the store's deadline (Shopify: 5 s) by doing
only this, in one transaction: the delivery's dedup item, its raw body, and a
``channel.order_received`` event (or ``channel.webhook_ignored`` for topics
the service does not act on). The intake worker then maps the store order
(``domain.channels``) and runs the same use cases as the REST API: placement,
order update, cancellation. Placement is idempotent on the channel's
external id, so a store re-sending an order under a new webhook id still
makes one order.

Stores send webhooks in no particular order and retry failed ones for hours
(Shopify for 48 hours), so an old version of an order can arrive after a newer
one. The order keeps the store's modification time of the version it reflects
(``Order.store_updated_at``); a version older than that changes nothing — not
the address, not the payment state, not a cancellation — and is only logged.

A store's line edit (Shopify ``orders/updated`` after an order edit, a WooCommerce
``order.updated`` with other lines) applies as an order edit (``service.edits``) while
the fulfillments it touches are not picked; otherwise the order is held for a person.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.domain.channels import (
    ChannelOrder,
    StaleStoreOrder,
    check_store_version,
    map_shopify_order,
    map_woocommerce_order,
)
from chalicelib.domain.channels import UnresolvedLine as StoreLine
from chalicelib.domain.edits import store_edit_request
from chalicelib.domain.errors import Conflict, InputInvalid
from chalicelib.domain.event_payloads import ChannelOrderReceived, ChannelWebhookIgnored
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.models import Order, UnresolvedLine
from chalicelib.domain.status import HoldReason, OrderStatus
from chalicelib.service.cancellation import cancel
from chalicelib.service.edits import EditOptions, edit_order
from chalicelib.service.order_updates import OrderChanges, update_order
from chalicelib.service.placement import external_id_scope, place_order
from chalicelib.service.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.receipt import place_hold
from chalicelib.service.unit_of_work import Message, Retry, consume_once

logger = logging.getLogger("oms.intake")

#: Store webhook deliveries are remembered this long: longer than any store retries one (Shopify
#: for 48 hours, WooCommerce less). A replay after that is still older than the order's store
#: version, so it changes nothing either.
DELIVERY_DEDUP_TTL_SECONDS = 7 * 24 * 3600


class Received(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def receive_store_webhook(
    uow_factory: UnitOfWorkFactory,
    *,
    channel_id: str,
    store: str,
    topic: str,
    delivery_key: str,
    body: str,
    relevant: bool,
    ids: IdGenerator,
    clock: Clock,
) -> Received:
    def stage(uow: UnitOfWork) -> Received:
        uow.add_event(
            DomainEvent.recording(
                (ChannelOrderReceived if relevant else ChannelWebhookIgnored)(store=store, topic=topic),
                id=ids.new("evt"),
                channel_id=channel_id,
                inbound_key=delivery_key,
                occurred_at=clock.now(),
                actor=f"store:{store}",
            )
        )
        if relevant:
            uow.add_inbound(channel_id, delivery_key, body)
        return Received.ACCEPTED if relevant else Received.IGNORED

    delivery = Message(
        scope=f"store-webhook#{channel_id}",
        key=delivery_key,
        ref=channel_id,
        ttl_seconds=DELIVERY_DEDUP_TTL_SECONDS,
    )
    # Not retried here: the store re-sends what it did not get a 2xx for.
    return consume_once(
        uow_factory, delivery, stage, replay=lambda: Received.DUPLICATE, clock=clock, retry=Retry.NEVER
    )


CANCEL_TOPICS = frozenset({"orders/cancelled"})


def _candidate_skus(payload: Any) -> set[str]:
    """The SKUs a store payload names (before mapping: the mapper needs to know which exist)."""
    lines = payload.get("line_items") if isinstance(payload, dict) else None
    if not isinstance(lines, list):
        return set()
    return {str(line["sku"]).strip() for line in lines if isinstance(line, dict) and line.get("sku")}


def _unresolved(lines: list[StoreLine]) -> list[UnresolvedLine]:
    return [
        UnresolvedLine(
            title=line.title,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price if line.unit_price is not None else Decimal(0),
            reason=line.reason,
            store_line_id=line.store_line_id,
            unknown_sku=line.unknown_sku,
        )
        for line in lines
    ]


def process_store_order(
    uow_factory: UnitOfWorkFactory,
    received: DomainEvent,
    *,
    policy: HoldPolicy,
    ids: IdGenerator,
    clock: Clock,
) -> Order | None:
    """Map a received store order and place, update or cancel it. Returns the order (None when
    there is nothing to do: a cancelled order never placed, or an expired payload)."""
    channel_id, key = received.channel_id or "", received.inbound_key or ""
    payload = received.payload(ChannelOrderReceived)
    store, topic = payload.store, payload.topic
    uow = uow_factory()
    body = uow.get_inbound(channel_id, key)
    if body is None:
        logger.warning("store payload expired before it was processed", extra={"channel_id": channel_id})
        return None
    payload = json.loads(body)
    known = set(uow.get_products(_candidate_skus(payload)))
    mapped = (map_shopify_order if store == "shopify" else map_woocommerce_order)(payload, known_skus=known)
    seen = uow.get_dedup(external_id_scope(channel_id), mapped.external_id)
    actor = f"store:{store}"
    if topic in CANCEL_TOPICS or mapped.cancelled:
        return _cancel(uow_factory, seen.ref if seen else None, mapped, actor=actor, ids=ids, clock=clock)
    if seen is None:
        if mapped.request is None:
            # Not placeable at all (e.g. amounts the currency cannot hold): fail loudly; the
            # message ends in the DLQ with this reason beside it, and nothing is lost.
            raise ValueError(
                f"store order {mapped.external_id} cannot be placed: {'; '.join(mapped.problems)}"
            )
        try:
            result = place_order(
                uow_factory,
                mapped.request,
                channel_id=channel_id,
                idempotency_key=None,
                ids=ids,
                clock=clock,
                holds=mapped.holds,
                unresolved=_unresolved(mapped.unresolved_lines),
                store_updated_at=mapped.updated_at,
            )
            return result.order
        except Conflict:
            seen = uow_factory().get_dedup(external_id_scope(channel_id), mapped.external_id)
            if seen is None:
                raise
    return _update(uow_factory, seen.ref, mapped, policy=policy, actor=actor, ids=ids, clock=clock)


def _update(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    mapped: ChannelOrder,
    *,
    policy: HoldPolicy,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> Order:
    request = mapped.request
    try:
        result = update_order(
            uow_factory,
            order_id,
            _changes(mapped),
            policy=policy,
            authorize=lambda _: None,
            actor=actor,
            ids=ids,
            clock=clock,
        )
    except StaleStoreOrder as exc:
        return _ignore_stale(uow_factory, order_id, exc)
    except Conflict as exc:
        # e.g. a new address after packing: the store's change cannot be applied; say so.
        logger.warning("store update not applied", extra={"order_id": order_id, "reason": str(exc)})
        return _flag(
            uow_factory,
            order_id,
            f"the store changed the order but it could not be applied: {exc}",
            actor=actor,
            ids=ids,
            clock=clock,
        )
    order = result.order
    if mapped.holds and not mapped.unresolved_lines:
        # A hold the store's status calls for (e.g. refunded in the store after placement): the
        # mapper's note says why. (Holds for unplaceable lines were placed with the order.)
        return _flag(uow_factory, order_id, mapped.holds[0].note, actor=actor, ids=ids, clock=clock)
    if request is not None and _lines(order) != _store_lines(mapped):
        return _apply_store_edit(uow_factory, order, mapped, actor=actor, ids=ids, clock=clock)
    return order


def _apply_store_edit(
    uow_factory: UnitOfWorkFactory,
    order: Order,
    mapped: ChannelOrder,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> Order:
    """The store edited the order's lines: the edit applies through the same path as the API's
    (``edit_order``) while the fulfillments it touches are not picked. When it cannot apply (picking
    started, a line the service cannot place, an amount it cannot take) the order is held with
    the reason, for a person to decide, and nothing of the edit is written."""
    unplaceable = _new_unplaceable(order, mapped)
    if unplaceable:
        return _flag(
            uow_factory,
            order.id,
            f"the store's line edit has lines that cannot be placed ({unplaceable}); review and adjust",
            actor=actor,
            ids=ids,
            clock=clock,
            reason=HoldReason.UNRESOLVED_LINES,
        )
    request = mapped.request
    assert request is not None  # the caller compares lines only for a placeable store order
    edit = store_edit_request(
        order.lines,
        request.lines,
        shipping=request.shipping_total,
        tax=request.tax_total,
        discount=request.discount_total,
    )
    if edit is None:
        return order
    try:
        return edit_order(
            uow_factory,
            order.id,
            edit,
            authorize=lambda _: None,
            actor=actor,
            ids=ids,
            clock=clock,
            options=EditOptions(source="store", store_updated_at=mapped.updated_at),
        ).order
    except StaleStoreOrder as exc:
        return _ignore_stale(uow_factory, order.id, exc)
    except (Conflict, InputInvalid) as exc:  # picking started, shipped, or a line it cannot take
        logger.warning("store line edit not applied", extra={"order_id": order.id, "reason": str(exc)})
        return _flag(
            uow_factory,
            order.id,
            f"the store edited the order's lines but the edit cannot apply: {exc}",
            actor=actor,
            ids=ids,
            clock=clock,
        )


def _new_unplaceable(order: Order, mapped: ChannelOrder) -> str:
    """The store's lines the service cannot place that the order does not have yet, named; empty
    when there is none."""
    known = {(line.sku or "", line.quantity) for line in order.unresolved_lines}
    new = sorted({(line.sku or "", line.quantity) for line in mapped.unresolved_lines} - known)
    return ", ".join(f"{quantity} x {sku or 'a line without SKU'}" for sku, quantity in new)


def _changes(mapped: ChannelOrder) -> OrderChanges:
    """What a store order may change on the order placed from it (its payment state alone when
    the mapped order could not be placed as a whole)."""
    request = mapped.request
    if request is None:
        return OrderChanges(paid=mapped.paid, store_updated_at=mapped.updated_at)
    return OrderChanges(
        shipping_address=request.shipping_address,
        billing_address=request.billing_address,
        customer=request.customer,
        shipping_method=request.shipping_method,
        paid=mapped.paid,
        store_updated_at=mapped.updated_at,
    )


def _ignore_stale(uow_factory: UnitOfWorkFactory, order_id: str, stale: StaleStoreOrder) -> Order:
    logger.info(
        "older store version ignored",
        extra={
            "order_id": order_id,
            "applied": stale.applied.isoformat(),
            "received": stale.received.isoformat(),
        },
    )
    aggregate = uow_factory().get_order(order_id)
    assert aggregate is not None  # the stale check read it
    return aggregate.order


def _lines(order: Order) -> set[tuple[str | None, int]]:
    """The order's lines as the store sold them: placed or not (yet), e.g. a line placed when its
    product was created is the same line the store still sends."""
    placed: set[tuple[str | None, int]] = {(line.sku, line.quantity) for line in order.lines}
    return placed | {(line.sku, line.quantity) for line in order.unresolved_lines}


def _store_lines(mapped: ChannelOrder) -> set[tuple[str | None, int]]:
    placeable: set[tuple[str | None, int]] = {
        (line.sku, line.quantity) for line in (mapped.request.lines if mapped.request else [])
    }
    return placeable | {(line.sku, line.quantity) for line in mapped.unresolved_lines}


def _flag(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    note: str,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
    reason: HoldReason = HoldReason.MANUAL,
) -> Order:
    try:
        return place_hold(uow_factory, order_id, reason, note, actor=actor, ids=ids, clock=clock).order
    except Conflict:  # too far along to hold (shipped): the timeline and the log keep it
        aggregate = uow_factory().get_order(order_id)
        assert aggregate is not None
        return aggregate.order


def _cancel(
    uow_factory: UnitOfWorkFactory,
    order_id: str | None,
    mapped: ChannelOrder,
    *,
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> Order | None:
    if order_id is None:
        return None  # cancelled in the store before it ever reached us: nothing to do
    reason = f"cancelled in the store ({mapped.cancel_reason or 'no reason given'})"

    def not_stale(order: Order) -> None:
        # Checked on the order the cancellation's write is conditioned on: a store can reopen a
        # cancelled order (WooCommerce), and a late cancellation must not undo that.
        check_store_version(order.store_updated_at, mapped.updated_at)

    try:
        return cancel(
            uow_factory, order_id, reason, None, authorize=not_stale, actor=actor, ids=ids, clock=clock
        ).order
    except StaleStoreOrder as exc:
        return _ignore_stale(uow_factory, order_id, exc)
    except Conflict as exc:
        aggregate = uow_factory().get_order(order_id)
        if aggregate is not None and aggregate.order.status == OrderStatus.CANCELLED:
            return aggregate.order
        return _flag(
            uow_factory,
            order_id,
            f"the store cancelled the order too late: {exc}",
            actor=actor,
            ids=ids,
            clock=clock,
        )
