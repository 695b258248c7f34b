"""What to write back to a store (Shopify, WooCommerce) so that it shows what the service did.

This is a **reconcile** design. A plan is computed from two states, never from the event that
asked for it:

- the service's current view of the order (``OrderView``: its lines, the parcel groups that
  shipped with carrier, tracking numbers and link, the tracking milestones reached, whether the
  order or some of its lines were cancelled), and
- what the store already has (``ShopifyOrderState``: fulfillments with their tracking numbers and
  the events sent on them, the cancelled flag; ``WooCommerceOrderState``: the order's status and
  the markers of the notes already written).

The plan holds only the actions still missing. Why not "one store call per event": events reach
the write-back queue through EventBridge, which gives no per-order order and may deliver twice,
and a queue redelivers a message whose handler failed half-way. An event-driven writer would
have to reorder, deduplicate and remember which of its calls had gone through. A reconciler
needs none of that: whichever message arrives, in whatever order, as often as it arrives, the
run reads both states *then* and closes the gap between them; once the gap is closed a plan is
empty, so a duplicate or a late message does nothing; a run that stopped after some of its calls
leaves a smaller gap for the next run. Every action only adds to the store (a fulfillment, an
event, a note, a status forward), so an older view read by a late run can never take back what a
newer one wrote.

How the store's side is recognised on a re-run:

- Shopify fulfillments by their tracking numbers (a parcel group is in the store when a store
  fulfillment carries any of its numbers), a parcel group without a tracking number by an
  untracked store fulfillment of its lines; and the store is never asked to fulfil more units
  of a SKU than it shows unfulfilled, which respects what a merchant fulfilled by hand;
- Shopify fulfillment events by their status, once per status and fulfillment (a second failed
  attempt is not sent again: the customer already sees "attempted delivery");
- WooCommerce notes by a marker in their text (``note_marker``), e.g. ``[oms:parcel:ful_123]``:
  WooCommerce notes have no metadata, and the marker costs a few characters at the end of a note.

Pure: no I/O, no clock. The service (``service/writeback.py``) reads both states and carries the
plan out through the store port.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .models import Fulfillment, Order
from .status import FULFILLMENT_SHIPPED_STATES, OrderStatus, TrackingStatus

# --------------------------------------------------------------------------------------------
# The service's side
# --------------------------------------------------------------------------------------------


class Milestone(StrEnum):
    """Tracking milestones written back to stores (the customer's "where is my order" page)."""

    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    DELIVERED = "delivered"
    FAILED = "failed"


#: Carrier statuses that are milestones. ``label_created`` is not (the fulfillment itself says
#: it shipped); exceptions, returns to sender and failures are all "failed" to a customer.
MILESTONE_OF: Mapping[TrackingStatus, Milestone] = {
    TrackingStatus.IN_TRANSIT: Milestone.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY: Milestone.OUT_FOR_DELIVERY,
    TrackingStatus.AVAILABLE_FOR_PICKUP: Milestone.AVAILABLE_FOR_PICKUP,
    TrackingStatus.DELIVERY_ATTEMPTED: Milestone.DELIVERY_ATTEMPTED,
    TrackingStatus.DELIVERED: Milestone.DELIVERED,
    TrackingStatus.EXCEPTION: Milestone.FAILED,
    TrackingStatus.FAILED: Milestone.FAILED,
    TrackingStatus.RETURNED_TO_SENDER: Milestone.FAILED,
}

#: What a WooCommerce note says for each milestone.
MILESTONE_TEXT: Mapping[Milestone, str] = {
    Milestone.IN_TRANSIT: "is on its way",
    Milestone.OUT_FOR_DELIVERY: "is out for delivery",
    Milestone.AVAILABLE_FOR_PICKUP: "is ready for pickup",
    Milestone.DELIVERY_ATTEMPTED: "could not be delivered; the carrier will try again",
    Milestone.DELIVERED: "was delivered",
    Milestone.FAILED: "has a delivery problem; we are looking into it",
}


@dataclass(frozen=True)
class LineView:
    sku: str
    quantity: int
    cancelled: int = 0
    #: The store's own line id, when known (Shopify line item id, WooCommerce line item id).
    store_line_id: str | None = None


@dataclass(frozen=True)
class ReachedMilestone:
    milestone: Milestone
    #: The carrier's time of the first scan that reached it.
    occurred_at: datetime


@dataclass(frozen=True)
class ParcelGroup:
    """What one fulfillment shipped: one shipment, maybe several parcels (tracking numbers)."""

    #: Stable across runs: the service's fulfillment id.
    key: str
    carrier: str
    tracking_numbers: tuple[str, ...]
    tracking_url: str | None
    #: (sku, units) shipped in it.
    lines: tuple[tuple[str, int], ...]
    shipped_at: datetime
    #: In the order reached, each milestone once.
    milestones: tuple[ReachedMilestone, ...] = ()


@dataclass(frozen=True)
class OrderView:
    order_id: str
    #: The store's order id.
    external_id: str
    cancelled: bool
    lines: tuple[LineView, ...]
    parcels: tuple[ParcelGroup, ...]

    def all_shipped(self) -> bool:
        """Every unit not cancelled has shipped, and something has."""
        shipped: Counter[str] = Counter()
        for parcel in self.parcels:
            for sku, units in parcel.lines:
                shipped[sku] += units
        owed: Counter[str] = Counter()
        for line in self.lines:
            owed[line.sku] += line.quantity - line.cancelled
        return bool(self.parcels) and all(shipped[sku] >= units for sku, units in owed.items())


def milestones_of(fulfillment: Fulfillment) -> tuple[ReachedMilestone, ...]:
    """The milestones a fulfillment's applied scans reached, each once, first time first."""
    reached: dict[Milestone, datetime] = {}
    for scan in sorted(fulfillment.tracking_history, key=lambda s: s.occurred_at):
        milestone = MILESTONE_OF.get(scan.status)
        if scan.applied and milestone is not None and milestone not in reached:
            reached[milestone] = scan.occurred_at
    return tuple(ReachedMilestone(m, at) for m, at in reached.items())


def order_view(order: Order, fulfillments: Iterable[Fulfillment]) -> OrderView:
    """The service's side of the reconciliation, from the order and its fulfillments."""
    parcels = []
    for ful in sorted(fulfillments, key=lambda f: (f.created_at, f.id)):
        if ful.status not in FULFILLMENT_SHIPPED_STATES or ful.shipment is None:
            continue
        parcels.append(
            ParcelGroup(
                key=ful.id,
                carrier=ful.shipment.carrier,
                tracking_numbers=tuple(ful.shipment.tracking_numbers),
                tracking_url=ful.shipment.tracking_url,
                lines=tuple((line.sku, line.quantity) for line in ful.lines),
                shipped_at=ful.shipment.shipped_at,
                milestones=milestones_of(ful),
            )
        )
    return OrderView(
        order_id=order.id,
        external_id=order.external_id,
        cancelled=order.status == OrderStatus.CANCELLED,
        lines=tuple(
            LineView(sku=line.sku, quantity=line.quantity, cancelled=line.cancelled) for line in order.lines
        ),
        parcels=tuple(parcels),
    )


# --------------------------------------------------------------------------------------------
# Shopify
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFulfillment:
    """A fulfillment the Shopify order has (cancelled ones are left out by the reader)."""

    #: Shopify's id (``gid://shopify/Fulfillment/...``).
    id: str
    tracking_numbers: tuple[str, ...]
    #: (sku, units) it fulfilled.
    lines: tuple[tuple[str, int], ...]
    #: Milestones already sent as fulfillment events.
    events: frozenset[Milestone] = frozenset()


@dataclass(frozen=True)
class ShopifyOrderState:
    cancelled: bool
    fulfillments: tuple[StoreFulfillment, ...] = ()


@dataclass(frozen=True)
class CreateFulfillment:
    """One Shopify fulfillment for a parcel group: its lines, carrier, numbers and link."""

    parcel_key: str
    carrier: str
    tracking_numbers: tuple[str, ...]
    tracking_url: str | None
    lines: tuple[tuple[str, int], ...]
    notify_customer: bool = True


@dataclass(frozen=True)
class CreateFulfillmentEvent:
    """A fulfillment event. ``fulfillment_id`` is the store's id when the fulfillment exists;
    None when it is created by a ``CreateFulfillment`` of the same plan (``parcel_key``)."""

    parcel_key: str
    fulfillment_id: str | None
    milestone: Milestone
    occurred_at: datetime


@dataclass(frozen=True)
class CancelStoreOrder:
    """Cancel the store's order. Never restock: the service owns stock, and pushes it itself."""

    reason: str = "cancelled in the order management service"
    restock: bool = False


ShopifyAction = CreateFulfillment | CreateFulfillmentEvent | CancelStoreOrder


def _units(lines: Iterable[tuple[str, int]]) -> Counter[str]:
    counter: Counter[str] = Counter()
    for sku, units in lines:
        counter[sku] += units
    return counter


def plan_shopify(view: OrderView, store: ShopifyOrderState) -> list[ShopifyAction]:
    """The Shopify calls still missing, in the order to make them."""
    actions: list[ShopifyAction] = []
    if view.cancelled:
        # Nothing ships from a cancelled order; its store order only needs cancelling.
        return [] if store.cancelled else [CancelStoreOrder()]
    if store.cancelled:
        return []  # the store's own cancellation reaches the service through intake, not here
    by_number = {number: f for f in store.fulfillments for number in f.tracking_numbers}
    # Units the store still shows unfulfilled: never ask for more (Shopify refuses, and a
    # merchant may have fulfilled by hand).
    unfulfilled = _units((line.sku, line.quantity - line.cancelled) for line in view.lines)
    unfulfilled.subtract(_units(line for f in store.fulfillments for line in f.lines))
    # Fulfillments without a tracking number are matched to untracked parcel groups by their
    # lines, each store fulfillment to one parcel group at most.
    untracked = [f for f in store.fulfillments if not f.tracking_numbers]
    for parcel in view.parcels:
        existing = next((by_number[n] for n in parcel.tracking_numbers if n in by_number), None)
        if existing is None and not parcel.tracking_numbers:
            wanted = _units(parcel.lines)
            existing = next((f for f in untracked if _units(f.lines) <= wanted), None)
            if existing is not None:
                untracked.remove(existing)
        if existing is None:
            lines = tuple(
                (sku, take)
                for sku, units in parcel.lines
                if (take := min(units, max(unfulfilled[sku], 0))) > 0
            )
            if not lines:
                continue  # the store shows these units fulfilled already (by hand, or untracked)
            for sku, take in lines:
                unfulfilled[sku] -= take
            actions.append(
                CreateFulfillment(
                    parcel_key=parcel.key,
                    carrier=parcel.carrier,
                    tracking_numbers=parcel.tracking_numbers,
                    tracking_url=parcel.tracking_url,
                    lines=lines,
                )
            )
            sent: frozenset[Milestone] = frozenset()
            fulfillment_id = None
        else:
            sent, fulfillment_id = existing.events, existing.id
        actions.extend(
            CreateFulfillmentEvent(
                parcel_key=parcel.key,
                fulfillment_id=fulfillment_id,
                milestone=m.milestone,
                occurred_at=m.occurred_at,
            )
            for m in parcel.milestones
            if m.milestone not in sent
        )
    return actions


# --------------------------------------------------------------------------------------------
# WooCommerce
# --------------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[oms:([a-z\-]+):([A-Za-z0-9_.\-]{1,80})\]")

#: WooCommerce statuses after which nothing is written but notes.
WOOCOMMERCE_CLOSED = frozenset({"completed", "cancelled", "refunded", "trash", "failed"})


def note_marker(kind: str, key: str) -> str:
    """The marker that lets a re-run recognise a note it wrote: ``[oms:<kind>:<key>]``."""
    return f"[oms:{kind}:{key}]"


def markers_in(notes: Iterable[str]) -> frozenset[str]:
    """Every marker found in the store's note texts (a merchant's edit around it keeps it)."""
    return frozenset(f"[oms:{m.group(1)}:{m.group(2)}]" for text in notes for m in _MARKER.finditer(text))


@dataclass(frozen=True)
class WooCommerceOrderState:
    status: str
    note_markers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AddOrderNote:
    marker: str
    text: str
    customer_visible: bool


@dataclass(frozen=True)
class SetOrderStatus:
    status: str


WooCommerceAction = AddOrderNote | SetOrderStatus


def _parcel_note(parcel: ParcelGroup) -> str:
    numbers = ", ".join(parcel.tracking_numbers) or "no tracking number"
    link = f" Track it: {parcel.tracking_url}" if parcel.tracking_url else ""
    return f"Shipped with {parcel.carrier}, tracking {numbers}.{link}"


def _cancelled_lines_key(view: OrderView) -> str:
    material = ",".join(
        f"{line.sku}x{line.cancelled}" for line in sorted(view.lines, key=lambda x: x.sku) if line.cancelled
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def plan_woocommerce(view: OrderView, store: WooCommerceOrderState) -> list[WooCommerceAction]:
    """The WooCommerce calls still missing, in the order to make them (notes before the status,
    so a customer e-mailed about ``completed`` finds the tracking notes already there)."""
    actions: list[WooCommerceAction] = []

    def note(marker: str, text: str, *, customer_visible: bool) -> None:
        if marker not in store.note_markers:
            actions.append(
                AddOrderNote(marker=marker, text=f"{text} {marker}", customer_visible=customer_visible)
            )

    if view.cancelled:
        if store.status not in WOOCOMMERCE_CLOSED:
            actions.append(SetOrderStatus("cancelled"))
        return actions
    for parcel in view.parcels:
        note(note_marker("parcel", parcel.key), _parcel_note(parcel), customer_visible=True)
        for reached in parcel.milestones:
            numbers = ", ".join(parcel.tracking_numbers)
            what = f"Your parcel {numbers}" if numbers else "Your parcel"
            note(
                note_marker(reached.milestone.value.replace("_", "-"), parcel.key),
                f"{what} {MILESTONE_TEXT[reached.milestone]}.",
                customer_visible=True,
            )
    cancelled = [line for line in view.lines if line.cancelled]
    if cancelled:
        listing = ", ".join(f"{line.cancelled} x {line.sku}" for line in cancelled)
        note(
            note_marker("lines-cancelled", _cancelled_lines_key(view)),
            f"Cancelled in the order management service (not shipped, not restocked here): {listing}.",
            customer_visible=False,
        )
    if view.all_shipped() and store.status not in WOOCOMMERCE_CLOSED:
        actions.append(SetOrderStatus("completed"))
    return actions
