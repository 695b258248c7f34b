"""Use case: tell people what happened to an order — once per event and recipient.

Sending a message and recording it cannot be one transaction (SES is not
DynamoDB), so each outgoing message goes through these steps:
1. skip it if its ``notify`` dedup record exists (it was sent and recorded);
2. claim it: a short-lived conditional item in state ``sending`` so two
   concurrent deliveries of the same event cannot both send;
3. send. A send that raises releases the claim, so the queue's next delivery
   sends again (nothing went out; or, if the provider took it and then failed
   to answer, a duplicate is preferred to a loss). A send that succeeds turns
   the claim into ``sent`` with the provider's message id;
4. record ``notification.sent`` in the order's timeline together with the dedup
   record, in one transaction.
A crash after 3 leaves a ``sent`` claim: the next delivery records the message
under its id without sending it again. Only a crash between the provider
accepting the message and the claim saying ``sent`` (one DynamoDB write) leaves
a ``sending`` claim; it keeps concurrent deliveries out until it expires
(``CLAIM_SECONDS``, shorter than the queue's visibility timeout), and the retry
then sends again: a rare duplicate is the price of never losing a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.edit_payloads import OrderEdited
from chalicelib.domain.errors import NotFound
from chalicelib.domain.event_payloads import (
    NotificationCause,
    NotificationSent,
    OrderBackorderAllocated,
    OrderBackordered,
    OrderConfirmed,
    OrderOnHold,
    ReleasedFulfillment,
    ReturnRequested,
    SlaBreached,
    TrackingUpdated,
)
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.exception_payloads import FulfillmentResolved
from chalicelib.domain.models import Fulfillment, Order
from chalicelib.domain.notes import without_private_notes
from chalicelib.domain.promise import OrderPromise, long_date, order_promise
from chalicelib.domain.status import ReturnStatus, TrackingStatus
from chalicelib.domain.tracking import ALERT_STATUSES
from chalicelib.domain.transit import TransitTable
from chalicelib.service.communication import FEEDBACK, UNSUBSCRIBE, link_token
from chalicelib.service.ports import Clock, IdGenerator, Notifier, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.status_page import status_token
from chalicelib.service.unit_of_work import Message, consume_once

NOTIFY_SCOPE = "notify"
#: How long a ``sending`` claim keeps other deliveries out. Longer than the notify function's
#: timeout (10 s: no send can still be running after it) and, added to it, shorter than the notify
#: queue's visibility timeout (60 s): a claim left by a crashed function has expired when the
#: queue shows the message again, so redeliveries do not burn the queue's receive count on it.
#: A test reads both settings and holds this to them.
CLAIM_SECONDS = 30
#: How long a ``sent`` claim is kept for a delivery that crashed before recording: longer than a
#: message can wait in the queue and its dead-letter queue (14 days each) before a redrive.
SENT_CLAIM_SECONDS = 30 * 24 * 3600


class ClaimHeld(Exception):
    """Another delivery of the same event is sending this message right now; retry later."""


@dataclass(frozen=True)
class Claimed:
    """This caller holds the claim and may send; ``token`` tells its claim from a later one."""

    token: str


@dataclass(frozen=True)
class AlreadySent:
    """The message went out under a claim whose holder stopped before recording it."""

    message_id: str


class NotificationClaims(Protocol):
    def claim(self, key: str, *, seconds: int) -> Claimed | AlreadySent | None:
        """Take the claim for ``seconds``. ``Claimed`` when this caller may send; ``AlreadySent``
        when a live ``sent`` claim says it was sent; None when a live ``sending`` claim is held."""
        ...

    def release(self, key: str, claim: Claimed) -> None:
        """Give the claim up after a failed send (only if it is still ours and ``sending``)."""
        ...

    def mark_sent(self, key: str, claim: Claimed, *, message_id: str, seconds: int) -> None:
        """The message went out as ``message_id``: keep saying so for ``seconds``."""
        ...


def send_once(
    claims: NotificationClaims, key: str, send: Callable[[], str], *, sent_seconds: int
) -> tuple[str, bool]:
    """Send under the claim for ``key``: (the provider's message id, whether this call sent it).
    The id of an earlier send when a live ``sent`` claim says it went out already. Raises
    ``ClaimHeld`` while another delivery is sending it; a failed send releases the claim and
    re-raises, so the next attempt sends again."""
    outcome = claims.claim(key, seconds=CLAIM_SECONDS)
    if outcome is None:
        raise ClaimHeld(key)
    if isinstance(outcome, AlreadySent):
        return outcome.message_id, False
    try:
        message_id = send()
    except Exception:
        claims.release(key, outcome)
        raise
    claims.mark_sent(key, outcome, message_id=message_id, seconds=sent_seconds)
    return message_id, True


class MessageRenderer(Protocol):
    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, text body, HTML body)."""
        ...


@dataclass(frozen=True)
class OutgoingMessage:
    key: str
    channel: str  # email | sms | sns
    recipient: str  # a role ("customer", "warehouse:<id>", "operations"), never an address
    template: str
    send: Callable[[], str]


@dataclass
class NotificationContext:
    uow_factory: UnitOfWorkFactory
    notifier: Notifier
    claims: NotificationClaims
    renderer: MessageRenderer
    ids: IdGenerator
    clock: Clock
    public_base_url: str
    #: Keys that sign links in e-mails (newest first); no keys, no feedback/unsubscribe links.
    link_keys: Callable[[], list[str]] = field(default=lambda: [])
    #: The transit table (cached per process) for the promised dates; none: the built-in default.
    transit_table: Callable[[], TransitTable] = field(default=TransitTable)
    #: Days after delivery a return may be started: the status link lasts as long.
    return_window_days: int = 30


#: Tracking states the customer hears about, and with which template.
CUSTOMER_TRACKING_TEMPLATES = {
    TrackingStatus.OUT_FOR_DELIVERY: "order_out_for_delivery",
    TrackingStatus.AVAILABLE_FOR_PICKUP: "ready_for_pickup",
    TrackingStatus.DELIVERED: "order_delivered",
    TrackingStatus.DELIVERY_ATTEMPTED: "delivery_problem",
    TrackingStatus.EXCEPTION: "delivery_problem",
    TrackingStatus.RETURNED_TO_SENDER: "delivery_problem",
    TrackingStatus.FAILED: "delivery_problem",
}


def messages_for(
    event: DomainEvent,
    order: Order,
    ctx: NotificationContext,
    fulfillments: Sequence[Fulfillment] = (),
    promise: OrderPromise | None = None,
) -> list[OutgoingMessage]:
    """Which messages an event causes. Pure apart from the send callables it builds."""
    keys = ctx.link_keys()
    unsubscribe = link_token(UNSUBSCRIBE, order.id, keys=keys, clock=ctx.clock)
    # Every customer e-mail links to the order's status page (its layout and footer show it).
    status = status_token(
        order.id, fulfillments, keys=keys, clock=ctx.clock, window_days=ctx.return_window_days
    )
    view: dict[str, Any] = {
        # Messages go to customers and warehouses: a private staff note is never theirs to read.
        "order": without_private_notes(order).model_dump(mode="json"),
        "event": event.model_dump(mode="json"),
        "order_url": f"{ctx.public_base_url}/v1/orders/{order.id}",
        "unsubscribe_url": f"{ctx.public_base_url}/v1/unsubscribe/{unsubscribe}" if unsubscribe else None,
        "feedback_url": None,
        "promise": promise_view(promise),
        "status_url": f"{ctx.public_base_url}/orders/status/{status}" if status else None,
    }
    outbox = _Outbox(event, order, ctx, view)
    route = _ROUTES.get(event.type)
    if route is not None:
        route(outbox, event, order, keys)
    return outbox.out


def _confirmed(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("order_confirmed")
    outbox.customer_sms("order_confirmed_sms")
    outbox.pick_work(event.payload(OrderConfirmed).released)


def _backordered(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("order_backordered")
    outbox.pick_work(event.payload(OrderBackordered).released)


def _backorder_allocated(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("backorder_allocated")
    outbox.pick_work(event.payload(OrderBackorderAllocated).released)


def _shipped(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("order_shipped")
    outbox.customer_sms("order_shipped_sms")


def _cancelled(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("order_cancelled")


def _edited(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("order_edited")
    outbox.pick_work(event.payload(OrderEdited).released)


def _on_hold(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    held = event.payload(OrderOnHold)
    outbox.operations("order.on_hold", f"Order {order.id} on hold", held.to_data(only={"holds"}))


def _sla_breached(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.operations(
        "sla.breached",
        f"Order {order.id} missed its ship-by promise",
        event.payload(SlaBreached).to_data(only={"fulfillment_id", "warehouse_id", "ship_by"}),
    )


def _return_requested(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    approved = event.payload(ReturnRequested).return_status == ReturnStatus.APPROVED
    outbox.customer_email("return_approved" if approved else "return_rejected")


def _return_received(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    outbox.customer_email("return_received")


def _resolved(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    resolved = event.payload(FulfillmentResolved)
    if resolved.action != "reship":
        return
    outbox.customer_email("parcel_reshipped")
    outbox.pick_work(
        [
            ReleasedFulfillment.model_validate(f.model_dump())
            for f in resolved.reship_fulfillments
            if f.warehouse_id
        ]
    )


def _tracking_updated(outbox: _Outbox, event: DomainEvent, order: Order, keys: list[str]) -> None:
    tracked = event.payload(TrackingUpdated)
    if tracked.changed:
        _tracking_messages(outbox, tracked, keys)


#: Who hears of which event: one function per event type that causes messages.
_ROUTES: dict[str, Callable[[_Outbox, DomainEvent, Order, list[str]], None]] = {
    EventType.ORDER_CONFIRMED: _confirmed,
    EventType.ORDER_BACKORDERED: _backordered,
    EventType.ORDER_BACKORDER_ALLOCATED: _backorder_allocated,
    EventType.FULFILLMENT_SHIPPED: _shipped,
    EventType.ORDER_CANCELLED: _cancelled,
    EventType.ORDER_LINES_CANCELLED: _cancelled,
    EventType.ORDER_EDITED: _edited,
    EventType.ORDER_ON_HOLD: _on_hold,
    EventType.SLA_BREACHED: _sla_breached,
    EventType.RETURN_REQUESTED: _return_requested,
    EventType.RETURN_RECEIVED: _return_received,
    EventType.FULFILLMENT_RESOLVED: _resolved,
    EventType.TRACKING_UPDATED: _tracking_updated,
}


def promise_view(promise: OrderPromise | None) -> dict[str, Any] | None:
    """The order's promised dates as templates show them; None unless the whole order has both."""
    if promise is None or promise.promised_ship_date is None or promise.delivery_window is None:
        return None
    window = promise.delivery_window
    return {
        **promise.model_dump(mode="json"),
        "ship_date_text": long_date(promise.promised_ship_date),
        "earliest_text": long_date(window.earliest),
        "latest_text": long_date(window.latest),
    }


def _tracking_messages(outbox: _Outbox, tracked: TrackingUpdated, keys: list[str]) -> None:
    """A delivery state the customer hears about; a problem operations hear about."""
    order, ctx = outbox.order, outbox.ctx
    # A changed status is never null: the update that changed it set it.
    status = TrackingStatus(tracked.tracking_status or "")
    if status == TrackingStatus.DELIVERED:
        feedback = link_token(FEEDBACK, order.id, keys=keys, clock=ctx.clock)
        outbox.view["feedback_url"] = f"{ctx.public_base_url}/v1/feedback/{feedback}" if feedback else None
    template = CUSTOMER_TRACKING_TEMPLATES.get(status)
    if template is not None:
        outbox.customer_email(template)
    if status == TrackingStatus.OUT_FOR_DELIVERY:
        outbox.customer_sms("order_out_for_delivery_sms")
    if status in ALERT_STATUSES:
        outbox.operations(
            "delivery.problem",
            f"Delivery problem on order {order.id}: {status.value}",
            tracked.to_data(
                only={
                    "fulfillment_id",
                    "carrier",
                    "tracking_number",
                    "tracking_status",
                    "raw_status",
                    "raw_substatus",
                }
            ),
        )


@dataclass
class _Outbox:
    """The messages of one event, as they are decided; ``view`` is what templates are given."""

    event: DomainEvent
    order: Order
    ctx: NotificationContext
    view: dict[str, Any]
    out: list[OutgoingMessage] = field(default_factory=list)

    def customer_email(self, template: str) -> None:
        order, ctx = self.order, self.ctx
        if not order.notify.email:
            return
        subject, text, html = ctx.renderer.render(template, self.view)
        self.out.append(
            OutgoingMessage(
                key=f"{self.event.id}/email/customer",
                channel="email",
                recipient="customer",
                template=template,
                send=lambda: ctx.notifier.send_email(
                    to=order.customer.email, subject=subject, text=text, html=html
                ),
            )
        )

    def customer_sms(self, template: str) -> None:
        phone = self.order.customer.phone
        if not (self.order.notify.sms and phone):
            return
        _, text, _ = self.ctx.renderer.render(template, self.view)
        ctx = self.ctx
        self.out.append(
            OutgoingMessage(
                key=f"{self.event.id}/sms/customer",
                channel="sms",
                recipient="customer",
                template=template,
                send=lambda: ctx.notifier.send_sms(phone=phone, text=text),
            )
        )

    def pick_work(self, released: list[ReleasedFulfillment]) -> None:
        order, ctx = self.order, self.ctx
        for ful in released:
            message = {
                "type": "pick_work.released",
                "order_id": order.id,
                "fulfillment_id": ful.id,
                "warehouse_id": ful.warehouse_id,
                "ship_by": ful.ship_by,
                "shipping_method": order.shipping_method,
                "lines": [line.model_dump(mode="json") for line in ful.lines],
            }
            self.out.append(
                OutgoingMessage(
                    key=f"{self.event.id}/sns/warehouse/{ful.warehouse_id}/{ful.id}",
                    channel="sns",
                    recipient=f"warehouse:{ful.warehouse_id}",
                    template="pick_work.released",
                    send=lambda m=message: ctx.notifier.publish_warehouse(  # type: ignore[misc]
                        warehouse_id=m["warehouse_id"], subject=f"Pick work for order {order.id}", message=m
                    ),
                )
            )

    def operations(self, kind: str, subject: str, details: dict[str, Any]) -> None:
        alert = {"type": kind, "order_id": self.order.id, "channel_id": self.order.channel_id, **details}
        ctx = self.ctx
        self.out.append(
            OutgoingMessage(
                key=f"{self.event.id}/sns/operations",
                channel="sns",
                recipient="operations",
                template=kind,
                send=lambda: ctx.notifier.publish_operations(subject=subject, message=alert),
            )
        )


def notify(event: DomainEvent, ctx: NotificationContext) -> list[str]:
    """Send what ``event`` calls for; returns the keys of messages sent by this call."""
    if event.order_id is None:
        return []  # inventory events tell no customer anything
    uow = ctx.uow_factory()
    aggregate = uow.get_order(event.order_id)
    if aggregate is None:
        raise NotFound("order", event.order_id)
    promise = order_promise(
        aggregate.order,
        aggregate.fulfillments,
        warehouses=uow.list_warehouses(),
        transit=ctx.transit_table(),
        now=ctx.clock.now(),
    )
    sent: list[str] = []
    for message in messages_for(event, aggregate.order, ctx, aggregate.fulfillments, promise):
        if uow.get_dedup(NOTIFY_SCOPE, message.key) is not None:
            continue
        message_id, _ = send_once(ctx.claims, message.key, message.send, sent_seconds=SENT_CLAIM_SECONDS)
        _record_sent(event, message, message_id, ctx)
        sent.append(message.key)
    return sent


def _record_sent(
    event: DomainEvent, message: OutgoingMessage, message_id: str, ctx: NotificationContext
) -> None:
    order_id = event.order_id or ""

    def stage(uow: UnitOfWork) -> None:
        aggregate = uow.get_order(order_id)
        if aggregate is None:
            raise NotFound("order", order_id)
        now = ctx.clock.now()
        order = aggregate.order.model_copy(update={"version": aggregate.order.version + 1, "updated_at": now})
        uow.update_order(order, expected_version=aggregate.order.version)
        uow.add_event(
            DomainEvent.recording(
                NotificationSent(
                    channel=message.channel,
                    recipient=message.recipient,
                    template=message.template,
                    message_id=message_id,
                    cause=NotificationCause(event_id=event.id, type=EventType(event.type)),
                ),
                id=ctx.ids.new("evt"),
                order_id=order.id,
                channel_id=order.channel_id,
                version=order.version,
                occurred_at=now,
                actor="system:notify",
            )
        )

    recorded = Message(scope=NOTIFY_SCOPE, key=message.key, ref=order_id, data={"message_id": message_id})
    # ``notify`` looked for the record before sending; met at commit, a concurrent delivery
    # recorded it: nothing more to do.
    consume_once(
        ctx.uow_factory,
        recorded,
        stage,
        replay=lambda: None,
        clock=ctx.clock,
        look_first=False,
        gave_up=f"could not record notification {message.key}",
    )
