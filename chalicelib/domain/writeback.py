"""Which store requests an event calls for, built from the OMS's current state of the order.

The write-back worker (``chalicelib.service.writeback``) reads the order and its fulfillments
*now* and asks these functions what to send; it never sends what an event's body says. So the
arrival order of events does not matter (a tracking milestone that overtakes its shipment sends
the shipment first), a repeated event is a no-op (every request is idempotent in the store
clients: the first thing each does is read the store), and an event that arrives late sends
today's state, never a stale one.

What each event calls for, in the order sent:

* ``fulfillment.shipped``: the fulfillment's :class:`ParcelShipped`; when the order has nothing
  left to ship, every shipped fulfillment of the order, the last one marked ``completes_order``
  (so WooCommerce shows every tracking note before the order turns ``completed``);
* ``tracking.updated``: what ``fulfillment.shipped`` of the fulfillment sends (no-ops when
  already there), then each milestone its applied scans reached, first reached first, once each;
* ``order.cancelled`` / ``order.lines_cancelled``: :class:`OrderCancelled` for the whole order
  or for its cancelled lines (Shopify cancels whole orders only: cancelled lines alone are
  not written to it);
* ``order.note_added`` with ``visibility: customer``: :class:`CustomerNoteAdded`.

The number of requests per event is bounded: a shipment 1 (or one per parcel group of the
order when it completes it), a tracking update that plus at most ``len(Milestone)`` (6), a
cancellation 1, a note 1; each request is one read of the store plus at most two writes.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .models import ChannelKind, Fulfillment, Order
from .promise import DeliveryWindow
from .status import FULFILLMENT_SHIPPED_STATES, OrderStatus
from .store_api import (
    MILESTONE_OF,
    CustomerNoteAdded,
    Milestone,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    ShippedLine,
    StoreRequest,
)

FULFILLMENT_SHIPPED = "fulfillment.shipped"
TRACKING_UPDATED = "tracking.updated"
ORDER_CANCELLED = "order.cancelled"
ORDER_LINES_CANCELLED = "order.lines_cancelled"
#: Added by the staff notes feature; matched by its type string so that the write-back does not
#: depend on that event's payload class (``note_id``, ``text``, ``visibility``).
ORDER_NOTE_ADDED = "order.note_added"
CHANNEL_STORE_API_CHANGED = "channel.store_api_changed"

#: The order events the write-back acts on (its EventBridge rule adds the channel's
#: ``channel.store_api_changed``, which re-drives the orders parked while the credentials failed).
ORDER_EVENT_TYPES = frozenset(
    {FULFILLMENT_SHIPPED, TRACKING_UPDATED, ORDER_CANCELLED, ORDER_LINES_CANCELLED, ORDER_NOTE_ADDED}
)
#: A note with this visibility is written back; ``private`` notes stay in the OMS.
CUSTOMER_VISIBILITY = "customer"
DEFAULT_CANCEL_REASON = "cancelled in the order management service"


def milestones_of(fulfillment: Fulfillment) -> list[tuple[Milestone, datetime, str | None]]:
    """The milestones a fulfillment's applied scans reached, each once, first reached first,
    with the time and message of the scan that reached it."""
    reached: dict[Milestone, tuple[datetime, str | None]] = {}
    for scan in sorted(fulfillment.tracking_history, key=lambda s: s.occurred_at):
        milestone = MILESTONE_OF.get(scan.status)
        if scan.applied and milestone is not None and milestone not in reached:
            reached[milestone] = (scan.occurred_at, scan.message)
    return [(milestone, at, message) for milestone, (at, message) in reached.items()]


def shipped_groups(fulfillments: Iterable[Fulfillment]) -> list[Fulfillment]:
    """The fulfillments that left a warehouse with a carrier, in the order they were created."""
    return sorted(
        (f for f in fulfillments if f.status in FULFILLMENT_SHIPPED_STATES and f.shipment is not None),
        key=lambda f: (f.created_at, f.id),
    )


def nothing_left_to_ship(order: Order, fulfillments: Iterable[Fulfillment]) -> bool:
    """Every unit not cancelled has shipped, and something has."""
    groups = shipped_groups(fulfillments)
    shipped: Counter[str] = Counter()
    for group in groups:
        for line in group.lines:
            shipped[line.sku] += line.quantity
    owed: Counter[str] = Counter()
    for order_line in order.lines:
        owed[order_line.sku] += order_line.quantity - order_line.cancelled
    return bool(groups) and all(shipped[sku] >= units for sku, units in owed.items())


def parcel_shipped(
    order: Order,
    fulfillment: Fulfillment,
    *,
    completes_order: bool = False,
    window: DeliveryWindow | None = None,
) -> ParcelShipped:
    """The store request of one shipped fulfillment (one parcel group), with its promised
    delivery window when there is one."""
    from .fulfillment import tracking_url  # the carriers' tracking pages

    shipment = fulfillment.shipment
    assert shipment is not None, "only shipped fulfillments are written back"
    numbers = tuple(shipment.tracking_numbers)
    urls = tuple(tracking_url(shipment.carrier, n) or shipment.tracking_url for n in numbers)
    return ParcelShipped(
        store_order_id=order.external_id,
        lines=tuple(ShippedLine(line.sku, line.quantity) for line in fulfillment.lines),
        carrier=shipment.carrier,
        tracking_numbers=numbers,
        tracking_urls=urls,
        completes_order=completes_order,
        expected_between=(window.earliest, window.latest) if window is not None else None,
    )


def _milestones(
    order: Order, group: Fulfillment, numbers: tuple[str, ...], window: DeliveryWindow | None
) -> list[StoreRequest]:
    """The milestones the group reached; those before delivery carry the window's last day."""
    return [
        MilestoneReached(
            order.external_id,
            numbers,
            milestone,
            happened_at=at,
            message=message,
            estimated_delivery=window.latest if window and milestone != Milestone.DELIVERED else None,
        )
        for milestone, at, message in milestones_of(group)
    ]


def _shipped_requests(
    order: Order,
    fulfillments: list[Fulfillment],
    fulfillment_id: str,
    windows: Mapping[str, DeliveryWindow],
) -> list[StoreRequest]:
    groups = shipped_groups(fulfillments)
    target = next((g for g in groups if g.id == fulfillment_id), None)
    if target is None:
        return []  # not shipped (cancelled, or the event is older than a change): nothing to show
    if not nothing_left_to_ship(order, fulfillments):
        return [parcel_shipped(order, target, window=windows.get(target.id))]
    # The order is complete: every group first (no-ops where written), the completion last.
    return [
        parcel_shipped(order, group, completes_order=index == len(groups) - 1, window=windows.get(group.id))
        for index, group in enumerate(groups)
    ]


def _tracking_requests(
    order: Order,
    fulfillments: list[Fulfillment],
    fulfillment_id: str,
    windows: Mapping[str, DeliveryWindow],
) -> list[StoreRequest]:
    target = next((g for g in shipped_groups(fulfillments) if g.id == fulfillment_id), None)
    if target is None or target.shipment is None or not target.shipment.tracking_numbers:
        return []  # a milestone needs the shipment it belongs to (found by its numbers)
    numbers = tuple(target.shipment.tracking_numbers)
    # The shipment first, as its own event would send it: a milestone needs its fulfillment.
    requests = _shipped_requests(order, fulfillments, fulfillment_id, windows)
    return requests + _milestones(order, target, numbers, windows.get(target.id))


def _cancellation_requests(order: Order, kind: ChannelKind, reason: str) -> list[StoreRequest]:
    if order.status == OrderStatus.CANCELLED:
        return [OrderCancelled(order.external_id, reason)]
    cancelled = tuple(ShippedLine(line.sku, line.cancelled) for line in order.lines if line.cancelled)
    if not cancelled or kind == ChannelKind.SHOPIFY:
        # Shopify has no cancellation of some lines (only an order edit or a refund, which are
        # the merchant's decisions): nothing is written for them there.
        return []
    return [OrderCancelled(order.external_id, reason, lines=cancelled)]


def requests_for_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    order: Order,
    fulfillments: list[Fulfillment],
    kind: ChannelKind,
    windows: Mapping[str, DeliveryWindow] | None = None,
) -> list[StoreRequest]:
    """The requests, in the order to send them, that an event of ``event_type`` calls for, from
    the order's current state (``data`` is read only for what that state does not keep: the
    fulfillment named, the cancellation's reason, a note's text). ``windows``: the promised
    delivery window per fulfillment id (``order_promise``), told to the store with each parcel."""
    windows = windows or {}
    fulfillment_id = str(data.get("fulfillment_id") or "")
    if event_type == FULFILLMENT_SHIPPED:
        return _shipped_requests(order, fulfillments, fulfillment_id, windows)
    if event_type == TRACKING_UPDATED:
        return _tracking_requests(order, fulfillments, fulfillment_id, windows)
    if event_type in (ORDER_CANCELLED, ORDER_LINES_CANCELLED):
        return _cancellation_requests(order, kind, str(data.get("reason") or DEFAULT_CANCEL_REASON))
    if event_type == ORDER_NOTE_ADDED:
        note = customer_note(order, data)
        return [] if note is None else [note]
    return []


def customer_note(order: Order, data: Mapping[str, Any]) -> CustomerNoteAdded | None:
    """The note of an ``order.note_added`` event when it is meant for the customer."""
    text = str(data.get("text") or "").strip()
    if data.get("visibility") != CUSTOMER_VISIBILITY or not text:
        return None
    return CustomerNoteAdded(order.external_id, str(data.get("note_id") or ""), text)


def requests_for_order(
    order: Order,
    fulfillments: list[Fulfillment],
    *,
    kind: ChannelKind,
    windows: Mapping[str, DeliveryWindow] | None = None,
) -> list[StoreRequest]:
    """Everything the store should show of the order (a re-drive after credentials were fixed):
    every shipped group with its milestones, then its cancellation. Bounded by the order's
    parcel groups: each at most 1 + ``len(Milestone)`` requests."""
    windows = windows or {}
    groups = shipped_groups(fulfillments)
    complete = nothing_left_to_ship(order, fulfillments)
    requests: list[StoreRequest] = []
    for index, group in enumerate(groups):
        window = windows.get(group.id)
        last = complete and index == len(groups) - 1
        requests.append(parcel_shipped(order, group, completes_order=last, window=window))
        if group.shipment is not None and group.shipment.tracking_numbers:
            requests += _milestones(order, group, tuple(group.shipment.tracking_numbers), window)
    return requests + _cancellation_requests(order, kind, DEFAULT_CANCEL_REASON)
