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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.errors import ConcurrencyConflict, NotFound
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
from chalicelib.domain.models import Order
from chalicelib.domain.status import ReturnStatus, TrackingStatus
from chalicelib.domain.tracking import ALERT_STATUSES
from chalicelib.service.changes import back_off
from chalicelib.service.communication import FEEDBACK, UNSUBSCRIBE, link_token
from chalicelib.service.ports import (
    Clock,
    DedupExists,
    DedupRecord,
    IdGenerator,
    Notifier,
    TransactionConflict,
    UnitOfWorkFactory,
)

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


def messages_for(event: DomainEvent, order: Order, ctx: NotificationContext) -> list[OutgoingMessage]:
    """Which messages an event causes. Pure apart from the send callables it builds."""
    out: list[OutgoingMessage] = []
    keys = ctx.link_keys()
    unsubscribe = link_token(UNSUBSCRIBE, order.id, keys=keys, clock=ctx.clock)
    view: dict[str, Any] = {
        "order": order.model_dump(mode="json"),
        "event": event.model_dump(mode="json"),
        "order_url": f"{ctx.public_base_url}/v1/orders/{order.id}",
        "unsubscribe_url": f"{ctx.public_base_url}/v1/unsubscribe/{unsubscribe}" if unsubscribe else None,
        "feedback_url": None,
    }

    def customer_email(template: str) -> None:
        if not order.notify.email:
            return
        subject, text, html = ctx.renderer.render(template, view)
        out.append(
            OutgoingMessage(
                key=f"{event.id}/email/customer",
                channel="email",
                recipient="customer",
                template=template,
                send=lambda: ctx.notifier.send_email(
                    to=order.customer.email, subject=subject, text=text, html=html
                ),
            )
        )

    def customer_sms(template: str) -> None:
        phone = order.customer.phone
        if not (order.notify.sms and phone):
            return
        _, text, _ = ctx.renderer.render(template, view)
        out.append(
            OutgoingMessage(
                key=f"{event.id}/sms/customer",
                channel="sms",
                recipient="customer",
                template=template,
                send=lambda: ctx.notifier.send_sms(phone=phone, text=text),
            )
        )

    def pick_work(released: list[ReleasedFulfillment]) -> None:
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
            out.append(
                OutgoingMessage(
                    key=f"{event.id}/sns/warehouse/{ful.warehouse_id}/{ful.id}",
                    channel="sns",
                    recipient=f"warehouse:{ful.warehouse_id}",
                    template="pick_work.released",
                    send=lambda m=message: ctx.notifier.publish_warehouse(  # type: ignore[misc]
                        warehouse_id=m["warehouse_id"], subject=f"Pick work for order {order.id}", message=m
                    ),
                )
            )

    def operations(kind: str, subject: str, details: dict[str, Any]) -> None:
        alert = {"type": kind, "order_id": order.id, "channel_id": order.channel_id, **details}
        out.append(
            OutgoingMessage(
                key=f"{event.id}/sns/operations",
                channel="sns",
                recipient="operations",
                template=kind,
                send=lambda: ctx.notifier.publish_operations(subject=subject, message=alert),
            )
        )

    if event.type == EventType.ORDER_CONFIRMED:
        customer_email("order_confirmed")
        customer_sms("order_confirmed_sms")
        pick_work(event.payload(OrderConfirmed).released)
    elif event.type == EventType.ORDER_BACKORDERED:
        customer_email("order_backordered")
        pick_work(event.payload(OrderBackordered).released)
    elif event.type == EventType.ORDER_BACKORDER_ALLOCATED:
        customer_email("backorder_allocated")
        pick_work(event.payload(OrderBackorderAllocated).released)
    elif event.type == EventType.FULFILLMENT_SHIPPED:
        customer_email("order_shipped")
        customer_sms("order_shipped_sms")
    elif event.type in (EventType.ORDER_CANCELLED, EventType.ORDER_LINES_CANCELLED):
        customer_email("order_cancelled")
    elif event.type == EventType.ORDER_ON_HOLD:
        held = event.payload(OrderOnHold)
        operations("order.on_hold", f"Order {order.id} on hold", held.to_data(only={"holds"}))
    elif event.type == EventType.SLA_BREACHED:
        operations(
            "sla.breached",
            f"Order {order.id} missed its ship-by promise",
            event.payload(SlaBreached).to_data(only={"fulfillment_id", "warehouse_id", "ship_by"}),
        )
    elif event.type == EventType.RETURN_REQUESTED:
        approved = event.payload(ReturnRequested).return_status == ReturnStatus.APPROVED
        customer_email("return_approved" if approved else "return_rejected")
    elif event.type == EventType.RETURN_RECEIVED:
        customer_email("return_received")
    elif event.type == EventType.TRACKING_UPDATED and (tracked := event.payload(TrackingUpdated)).changed:
        # A changed status is never null: the update that changed it set it.
        status = TrackingStatus(tracked.tracking_status or "")
        if status == TrackingStatus.DELIVERED:
            feedback = link_token(FEEDBACK, order.id, keys=keys, clock=ctx.clock)
            view["feedback_url"] = f"{ctx.public_base_url}/v1/feedback/{feedback}" if feedback else None
        template = CUSTOMER_TRACKING_TEMPLATES.get(status)
        if template is not None:
            customer_email(template)
        if status == TrackingStatus.OUT_FOR_DELIVERY:
            customer_sms("order_out_for_delivery_sms")
        if status in ALERT_STATUSES:
            operations(
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
    return out


def notify(event: DomainEvent, ctx: NotificationContext) -> list[str]:
    """Send what ``event`` calls for; returns the keys of messages sent by this call."""
    if event.order_id is None:
        return []  # inventory events tell no customer anything
    uow = ctx.uow_factory()
    aggregate = uow.get_order(event.order_id)
    if aggregate is None:
        raise NotFound("order", event.order_id)
    sent: list[str] = []
    for message in messages_for(event, aggregate.order, ctx):
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
    for attempt in range(5):
        uow = ctx.uow_factory()
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
        uow.add_dedup(
            DedupRecord(
                scope=NOTIFY_SCOPE,
                key=message.key,
                request_hash="",
                ref=order.id,
                created_at=now,
                data={"message_id": message_id},
            )
        )
        try:
            uow.commit()
            return
        except TransactionConflict:
            back_off(ctx.clock, attempt)
        except ConcurrencyConflict:
            continue
        except DedupExists:
            return  # recorded by a concurrent delivery
    raise ConcurrencyConflict(f"could not record notification {message.key}")
