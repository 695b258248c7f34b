"""Status names and the order and fulfillment state machines as explicit tables.

Each machine is a table ``state -> {trigger -> next state}``. A trigger that is
not in a state's row is not allowed there; there is no implicit fallback, so
every state a sequence of triggers can reach is a member of the enum, and a
terminal state is one whose row is empty. Triggers are what happened (a hold,
a carrier scan), not where to go: callers never pick a target state freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class OrderStatus(StrEnum):
    PLACED = "placed"
    ON_HOLD = "on_hold"
    BACKORDERED = "backordered"
    CONFIRMED = "confirmed"
    IN_FULFILLMENT = "in_fulfillment"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class FulfillmentStatus(StrEnum):
    PENDING = "pending"
    RELEASED = "released"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    FAILED = "failed"
    #: Declared by operations: the carrier lost the parcel, or it arrived (or came back) broken.
    LOST = "lost"
    DAMAGED = "damaged"
    #: A delivery exception resolved for the customer: replaced by a new fulfillment of the same
    #: units, or refunded. Either way the fulfillment no longer counts towards the order's status.
    RESHIPPED = "reshipped"
    REFUNDED = "refunded"


class TrackingStatus(StrEnum):
    UNKNOWN = "unknown"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CLOSED = "closed"


class HoldReason(StrEnum):
    PAYMENT_PENDING = "payment_pending"
    FRAUD_REVIEW = "fraud_review"
    ADDRESS_INVALID = "address_invalid"
    INVENTORY_SHORTAGE = "inventory_shortage"
    MANUAL = "manual"
    #: Store lines whose SKU the catalogue does not know yet; releasing it places them.
    UNRESOLVED_LINES = "unresolved_lines"


class OrderTrigger(StrEnum):
    HOLD = "hold"
    CONFIRM = "confirm"
    BACKORDER = "backorder"
    START_FULFILLMENT = "start_fulfillment"
    SHIP_PARTIALLY = "ship_partially"
    SHIP_ALL = "ship_all"
    DELIVER_PARTIALLY = "deliver_partially"
    DELIVER_ALL = "deliver_all"
    RETURN_PARTIALLY = "return_partially"
    RETURN_ALL = "return_all"
    CANCEL = "cancel"
    # A delivery exception resolved (reship or refund) takes a shipped parcel out of the count:
    # the order has units to ship again with nothing else on its way (REOPEN_FULFILLMENT), with
    # other parcels still on their way (REOPEN_PARTIALLY), or nothing left to deliver at all.
    REOPEN_FULFILLMENT = "reopen_fulfillment"
    REOPEN_PARTIALLY = "reopen_partially"
    REFUND_UNDELIVERED = "refund_undelivered"


class FulfillmentTrigger(StrEnum):
    HOLD = "hold"
    UNHOLD = "unhold"  # hold lifted while the order still waits (back to pending)
    RELEASE = "release"
    START_PICKING = "start_picking"
    PICK = "pick"
    PACK = "pack"
    SHIP = "ship"
    CANCEL = "cancel"
    # Carrier scans, already normalised (see TrackingStatus).
    SCAN_IN_TRANSIT = "scan_in_transit"
    SCAN_OUT_FOR_DELIVERY = "scan_out_for_delivery"
    SCAN_DELIVERY_ATTEMPTED = "scan_delivery_attempted"
    SCAN_AVAILABLE_FOR_PICKUP = "scan_available_for_pickup"
    SCAN_EXCEPTION = "scan_exception"
    SCAN_DELIVERED = "scan_delivered"
    SCAN_RETURNED_TO_SENDER = "scan_returned_to_sender"
    SCAN_FAILED = "scan_failed"
    # Operations declare how a parcel's journey ended when the carrier does not say it.
    DECLARE_LOST = "declare_lost"
    DECLARE_DAMAGED = "declare_damaged"
    DECLARE_RETURNED = "declare_returned"
    # A delivery exception resolved for the customer.
    RESHIP = "reship"
    REFUND = "refund"


O, OT = OrderStatus, OrderTrigger  # noqa: E741 - short aliases keep the tables readable

_BEFORE_SHIPMENT: Mapping[OrderTrigger, OrderStatus] = {
    OT.HOLD: O.ON_HOLD,
    OT.CONFIRM: O.CONFIRMED,
    OT.BACKORDER: O.BACKORDERED,
    OT.CANCEL: O.CANCELLED,
}

ORDER_TRANSITIONS: Mapping[OrderStatus, Mapping[OrderTrigger, OrderStatus]] = {
    O.PLACED: dict(_BEFORE_SHIPMENT),
    O.ON_HOLD: dict(_BEFORE_SHIPMENT),
    O.BACKORDERED: {
        **_BEFORE_SHIPMENT,
        OT.START_FULFILLMENT: O.IN_FULFILLMENT,
        OT.SHIP_PARTIALLY: O.PARTIALLY_SHIPPED,
    },
    O.CONFIRMED: {
        **_BEFORE_SHIPMENT,
        OT.START_FULFILLMENT: O.IN_FULFILLMENT,
        OT.SHIP_PARTIALLY: O.PARTIALLY_SHIPPED,
        OT.SHIP_ALL: O.SHIPPED,
    },
    O.IN_FULFILLMENT: {
        OT.HOLD: O.ON_HOLD,
        OT.BACKORDER: O.BACKORDERED,
        OT.CANCEL: O.CANCELLED,
        OT.START_FULFILLMENT: O.IN_FULFILLMENT,
        OT.SHIP_PARTIALLY: O.PARTIALLY_SHIPPED,
        OT.SHIP_ALL: O.SHIPPED,
    },
    # Once anything has shipped the order can no longer be cancelled as a
    # whole; cancelling the unshipped rest is a fulfillment-level change
    # after which the order is re-derived (e.g. SHIP_ALL).
    O.PARTIALLY_SHIPPED: {
        OT.SHIP_PARTIALLY: O.PARTIALLY_SHIPPED,
        OT.SHIP_ALL: O.SHIPPED,
        OT.DELIVER_PARTIALLY: O.PARTIALLY_DELIVERED,
        OT.REOPEN_FULFILLMENT: O.IN_FULFILLMENT,
        OT.REFUND_UNDELIVERED: O.CANCELLED,
    },
    O.SHIPPED: {
        OT.DELIVER_PARTIALLY: O.PARTIALLY_DELIVERED,
        OT.DELIVER_ALL: O.DELIVERED,
        OT.REOPEN_FULFILLMENT: O.IN_FULFILLMENT,
        OT.REOPEN_PARTIALLY: O.PARTIALLY_SHIPPED,
        # Nothing of the order reached the customer and everything that left was refunded.
        OT.REFUND_UNDELIVERED: O.CANCELLED,
    },
    O.PARTIALLY_DELIVERED: {
        OT.SHIP_PARTIALLY: O.PARTIALLY_DELIVERED,
        OT.SHIP_ALL: O.PARTIALLY_DELIVERED,
        OT.DELIVER_PARTIALLY: O.PARTIALLY_DELIVERED,
        OT.DELIVER_ALL: O.DELIVERED,
        OT.RETURN_PARTIALLY: O.PARTIALLY_RETURNED,
    },
    O.DELIVERED: {OT.RETURN_PARTIALLY: O.PARTIALLY_RETURNED, OT.RETURN_ALL: O.RETURNED},
    O.PARTIALLY_RETURNED: {
        OT.DELIVER_PARTIALLY: O.PARTIALLY_RETURNED,
        OT.DELIVER_ALL: O.PARTIALLY_RETURNED,
        OT.RETURN_PARTIALLY: O.PARTIALLY_RETURNED,
        OT.RETURN_ALL: O.RETURNED,
    },
    O.RETURNED: {},
    O.CANCELLED: {},
}

F, FT = FulfillmentStatus, FulfillmentTrigger

_CARRIER_SCANS: Mapping[FulfillmentTrigger, FulfillmentStatus] = {
    FT.SCAN_IN_TRANSIT: F.IN_TRANSIT,
    FT.SCAN_OUT_FOR_DELIVERY: F.OUT_FOR_DELIVERY,
    FT.SCAN_DELIVERY_ATTEMPTED: F.DELIVERY_ATTEMPTED,
    FT.SCAN_AVAILABLE_FOR_PICKUP: F.AVAILABLE_FOR_PICKUP,
    FT.SCAN_EXCEPTION: F.EXCEPTION,
    FT.SCAN_DELIVERED: F.DELIVERED,
    FT.SCAN_RETURNED_TO_SENDER: F.RETURNED_TO_SENDER,
    FT.SCAN_FAILED: F.FAILED,
}

#: A parcel on its way may be declared lost, damaged or returned by operations.
_DECLARATIONS: Mapping[FulfillmentTrigger, FulfillmentStatus] = {
    FT.DECLARE_LOST: F.LOST,
    FT.DECLARE_DAMAGED: F.DAMAGED,
    FT.DECLARE_RETURNED: F.RETURNED_TO_SENDER,
}
_ON_THE_WAY: Mapping[FulfillmentTrigger, FulfillmentStatus] = {**_CARRIER_SCANS, **_DECLARATIONS}

FULFILLMENT_TRANSITIONS: Mapping[FulfillmentStatus, Mapping[FulfillmentTrigger, FulfillmentStatus]] = {
    F.PENDING: {FT.HOLD: F.ON_HOLD, FT.RELEASE: F.RELEASED, FT.CANCEL: F.CANCELLED},
    F.ON_HOLD: {FT.HOLD: F.ON_HOLD, FT.UNHOLD: F.PENDING, FT.RELEASE: F.RELEASED, FT.CANCEL: F.CANCELLED},
    F.RELEASED: {FT.HOLD: F.ON_HOLD, FT.START_PICKING: F.PICKING, FT.PICK: F.PICKED, FT.CANCEL: F.CANCELLED},
    F.PICKING: {FT.HOLD: F.ON_HOLD, FT.PICK: F.PICKED, FT.CANCEL: F.CANCELLED},
    F.PICKED: {FT.HOLD: F.ON_HOLD, FT.PACK: F.PACKED, FT.CANCEL: F.CANCELLED},
    # Packed goods are past the point of cancellation: the box is sealed.
    F.PACKED: {FT.SHIP: F.SHIPPED},
    F.SHIPPED: dict(_ON_THE_WAY),
    F.IN_TRANSIT: dict(_ON_THE_WAY),
    F.OUT_FOR_DELIVERY: dict(_ON_THE_WAY),
    F.DELIVERY_ATTEMPTED: dict(_ON_THE_WAY),
    F.AVAILABLE_FOR_PICKUP: dict(_ON_THE_WAY),
    F.EXCEPTION: dict(_ON_THE_WAY),
    # A carrier's `failure` is sometimes temporary (weather): it may recover.
    F.FAILED: dict(_ON_THE_WAY),
    F.DELIVERED: {},
    # The ended delivery exceptions: resolved once, by a reship or a refund. A parcel declared
    # lost that the carrier then delivers after all is delivered (nothing left to resolve).
    F.RETURNED_TO_SENDER: {FT.RESHIP: F.RESHIPPED, FT.REFUND: F.REFUNDED},
    F.LOST: {FT.RESHIP: F.RESHIPPED, FT.REFUND: F.REFUNDED, FT.SCAN_DELIVERED: F.DELIVERED},
    F.DAMAGED: {FT.RESHIP: F.RESHIPPED, FT.REFUND: F.REFUNDED},
    F.RESHIPPED: {},
    F.REFUNDED: {},
    F.CANCELLED: {},
}

ORDER_TERMINAL = frozenset(s for s, row in ORDER_TRANSITIONS.items() if not row)
FULFILLMENT_TERMINAL = frozenset(s for s, row in FULFILLMENT_TRANSITIONS.items() if not row)
#: Fulfillment states in which goods have left the warehouse.
FULFILLMENT_SHIPPED_STATES = frozenset(
    {
        F.SHIPPED,
        F.IN_TRANSIT,
        F.OUT_FOR_DELIVERY,
        F.DELIVERY_ATTEMPTED,
        F.AVAILABLE_FOR_PICKUP,
        F.EXCEPTION,
        F.FAILED,
        F.DELIVERED,
        F.RETURNED_TO_SENDER,
        F.LOST,
        F.DAMAGED,
        F.RESHIPPED,
        F.REFUNDED,
    }
)
#: How a parcel's journey can end without a delivery: what ``POST .../resolution`` resolves.
DELIVERY_EXCEPTIONS = frozenset({F.RETURNED_TO_SENDER, F.LOST, F.DAMAGED})
#: A delivery exception resolved: the fulfillment no longer counts towards the order's status.
RESOLVED_EXCEPTIONS = frozenset({F.RESHIPPED, F.REFUNDED})


class InvalidTransition(Exception):
    """A trigger that the current state does not allow."""

    def __init__(self, entity: str, current: str, trigger: str, allowed: list[str]) -> None:
        self.entity = entity
        self.current = current
        self.trigger = trigger
        self.allowed = allowed
        super().__init__(
            f"{entity} is {current}: '{trigger}' is not allowed"
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (no further changes are possible)")
        )


def next_order_status(current: OrderStatus, trigger: OrderTrigger) -> OrderStatus:
    row = ORDER_TRANSITIONS[current]
    if trigger not in row:
        raise InvalidTransition("order", current.value, trigger.value, [t.value for t in row])
    return row[trigger]


def next_fulfillment_status(current: FulfillmentStatus, trigger: FulfillmentTrigger) -> FulfillmentStatus:
    row = FULFILLMENT_TRANSITIONS[current]
    if trigger not in row:
        raise InvalidTransition("fulfillment", current.value, trigger.value, [t.value for t in row])
    return row[trigger]


def allowed_order_triggers(current: OrderStatus) -> list[OrderTrigger]:
    return list(ORDER_TRANSITIONS[current])


def allowed_fulfillment_triggers(current: FulfillmentStatus) -> list[FulfillmentTrigger]:
    return list(FULFILLMENT_TRANSITIONS[current])
