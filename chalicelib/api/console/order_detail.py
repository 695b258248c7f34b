"""One order's page (lines, fulfillments, returns, holds, the timeline of its events) and the
actions taken from it: place or release a hold, cancel the order or units of its lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.api.console.visit import ACTION_ERRORS, Visit, console_route, plain_error
from chalicelib.domain.edit_payloads import OrderEdited, PaymentAdjustmentRequested
from chalicelib.domain.event_payloads import (
    NotificationSent,
    OrderBackordered,
    OrderConfirmed,
    OrderHoldReleased,
    OrderOnHold,
    TrackingUpdated,
    payload_of,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.note_payloads import OrderNoteAdded, OrderTagsChanged
from chalicelib.domain.notes import MAX_NOTE_LENGTH
from chalicelib.domain.status import HoldReason, OrderStatus
from chalicelib.service.cancellation import cancel
from chalicelib.service.receipt import place_hold, release_hold

DONE = {
    "hold_placed": "The hold was placed.",
    "hold_released": "The hold was released.",
    "cancelled": "The order was cancelled.",
    "lines_cancelled": "The units were cancelled.",
    "note_added": "The note was added.",
    "tag_added": "The tag was put on.",
    "tag_removed": "The tag was taken off.",
}


def _event_summary(event: DomainEvent) -> str:
    """One line for the timeline; the page shows the event's data in full beside it."""
    try:
        payload = payload_of(event)
    except (KeyError, ValueError):
        return ""  # an event the page cannot read still shows, with its data beside it
    if isinstance(payload, NotificationSent):
        return f"{payload.channel} “{payload.template}” sent to {payload.recipient}"
    if isinstance(payload, OrderOnHold):
        return "held: " + ", ".join(h.reason for h in payload.holds)
    if isinstance(payload, OrderHoldReleased):
        return f"released {payload.reason}"
    if isinstance(payload, OrderConfirmed | OrderBackordered) and payload.released_hold is not None:
        return f"released {payload.released_hold}"
    if isinstance(payload, TrackingUpdated):
        return f"carrier: {event.order_state().status}"
    if isinstance(payload, OrderNoteAdded):
        return f"{payload.visibility.value} note: {payload.text}"
    if isinstance(payload, OrderTagsChanged):
        moved = [f"+{t}" for t in payload.added] + [f"-{t}" for t in payload.removed]
        return "tags " + " ".join(moved)
    if isinstance(payload, OrderEdited):
        units = [f"+{u.quantity} {u.sku}" for u in payload.added] + [
            f"-{u.quantity} {u.sku}" for u in payload.removed
        ]
        return (
            f"edited ({payload.source}): {' '.join(units)}; total {payload.previous_total} → {payload.total}"
        )
    if isinstance(payload, PaymentAdjustmentRequested):
        return f"payment adjustment {payload.amount} {payload.currency}"
    return ""


def _details(event: DomainEvent) -> str:
    # Pretty JSON, escaped by the template like any other text.
    return json.dumps(event.data, indent=2, sort_keys=True, default=str) if event.data else ""


def order_page(
    visit: Visit, order_id: str, status: int = 200, *, error: str = "", notice: str = ""
) -> Response:
    svc = visit.svc
    aggregate = svc.uow_factory().get_order(order_id)
    if aggregate is None:
        return visit.message(404, "Order not found", f"There is no order {order_id}.")
    events = svc.queries.list_events(order_id)
    order = aggregate.order
    return visit.page(
        "order",
        status,
        title=f"Order {order.external_id}",
        section="orders",
        order=order,
        fulfillments=sorted(aggregate.fulfillments, key=lambda f: (f.created_at, f.id)),
        returns=aggregate.returns,
        timeline=[(event, _event_summary(event), _details(event)) for event in events],
        # unresolved_lines is the store intake's own hold: a person cannot give an order lines to await.
        hold_reasons=[
            r.value
            for r in HoldReason
            if r not in order.hold_reasons and r is not HoldReason.UNRESOLVED_LINES
        ],
        cancellable=order.status != OrderStatus.CANCELLED,
        max_note_length=MAX_NOTE_LENGTH,
        error=error,
        notice=notice,
    )


@console_route("/console/orders/{order_id}", "GET", "one order: lines, fulfillments, holds, timeline")
def console_order(visit: Visit) -> Response:
    return order_page(visit, visit.call.params["order_id"], notice=DONE.get(visit.arg("done", 40), ""))


def act_on_order(visit: Visit, order_id: str, action: Callable[[], Any], done: str) -> Response:
    try:
        action()
    except ACTION_ERRORS as exc:
        status, text = plain_error(exc)
        return order_page(visit, order_id, status, error=text)
    return visit.redirect(f"/console/orders/{order_id}", done=done)


@console_route("/console/orders/{order_id}/holds", "POST", "put the order on hold (reason, note)")
def console_place_hold(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    try:
        reason = HoldReason(visit.form("reason", 40))
    except ValueError:
        return order_page(visit, order_id, 422, error="Choose a reason for the hold.")
    note = visit.form("note", 500) or None
    return act_on_order(
        visit,
        order_id,
        lambda: place_hold(
            svc.uow_factory, order_id, reason, note, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        ),
        "hold_placed",
    )


@console_route("/console/orders/{order_id}/holds/{reason}/release", "POST", "release one hold")
def console_release_hold(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    try:
        reason = HoldReason(visit.call.params["reason"])
    except ValueError:
        return order_page(visit, order_id, 404, error="There is no such hold reason.")
    return act_on_order(
        visit,
        order_id,
        lambda: release_hold(
            svc.uow_factory, order_id, reason, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        ),
        "hold_released",
    )


@console_route("/console/orders/{order_id}/cancel", "POST", "cancel the whole order, or units of lines")
def console_cancel(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    reason = visit.form("reason", 500)
    if not reason:
        return order_page(visit, order_id, 422, error="Give a reason for the cancellation.")
    lines: dict[str, int] | None = None
    if visit.form("scope", 10) == "lines":
        lines = {}
        for name in visit.form_names():
            if not name.startswith("qty:") or not visit.form(name, 10):
                continue
            try:
                quantity = int(visit.form(name, 10))
            except ValueError:
                return order_page(visit, order_id, 422, error=f"Units of {name[4:]} must be a whole number.")
            if quantity < 0:
                return order_page(visit, order_id, 422, error=f"Units of {name[4:]} cannot be negative.")
            if quantity:
                lines[name[4:]] = quantity
        if not lines:
            return order_page(visit, order_id, 422, error="Enter how many units of which line to cancel.")
    who = visit.who
    return act_on_order(
        visit,
        order_id,
        lambda: cancel(
            svc.uow_factory,
            order_id,
            reason,
            lines,
            authorize=lambda order: who.require_channel_access(order.channel_id),
            actor=who.actor,
            ids=svc.ids,
            clock=svc.clock,
        ),
        "lines_cancelled" if lines else "cancelled",
    )
