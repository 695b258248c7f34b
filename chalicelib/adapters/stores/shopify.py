"""The Shopify Admin GraphQL client of the write-back (``StoreApi``).

Every call is a POST to ``{url}/admin/api/{SHOPIFY_API_VERSION}/graphql.json`` with the
``X-Shopify-Access-Token`` header. Shapes used, as documented for the pinned version:

* ``order(id:)``: ``cancelledAt``; ``fulfillmentOrders(first:)`` → ``nodes { id status
  lineItems(first:) { nodes { id sku remainingQuantity } } }``; ``fulfillments(first:)`` → ``id``,
  ``trackingInfo(first:) { number }``, ``events(first:) { nodes { status } }``.
* ``fulfillmentCreate(fulfillment: FulfillmentInput!)``: ``lineItemsByFulfillmentOrder:
  [{fulfillmentOrderId, fulfillmentOrderLineItems: [{id, quantity}]}]``, ``trackingInfo: {company,
  numbers, urls}`` (every tracking number of the parcel group), ``notifyCustomer``; payload
  ``fulfillment``, ``userErrors``.
* ``fulfillmentEventCreate(fulfillmentEvent: FulfillmentEventInput!)``: ``fulfillmentId``,
  ``status`` (``FulfillmentEventStatus``), ``happenedAt``, ``message``; payload
  ``fulfillmentEvent``, ``userErrors``.
* ``orderCancel(orderId, reason: OrderCancelReason!, restock: Boolean!, refundMethod:
  OrderCancelRefundMethodInput!, notifyCustomer, staffNote)``; payload ``job``,
  ``orderCancelUserErrors``. ``restock`` is always false: the OMS owns the stock.
* ``productVariants(first:, query: "sku:…")`` → ``nodes { sku inventoryItem { id } }``.
* ``inventorySetQuantities(input: InventorySetQuantitiesInput!) @idempotent(key:)``: ``name:
  "available"``, ``reason``, ``quantities: [{inventoryItemId, locationId, quantity,
  changeFromQuantity}]``. Since 2026-04 every quantity must carry ``changeFromQuantity`` (null opts
  out of the compare-and-set: the OMS is the source of truth) and the ``@idempotent`` key is
  required; ``ignoreCompareQuantity`` is gone.

Idempotency: a parcel group (one OMS fulfillment) is one Shopify fulfillment carrying all its
tracking numbers; before creating one the order's fulfillments are read and a group any of whose
numbers is already there is not sent again. A customer note is not written to Shopify (see
``customer_note_added``). A
milestone already among the fulfillment's events is not sent again; an order already cancelled is
not cancelled again; a stock level is set to an absolute value under an idempotency key.

Limits: Shopify's cost-based throttle answers ``errors[].extensions.code == "THROTTLED"`` with
``extensions.cost`` (``requestedQueryCost``, ``throttleStatus { currentlyAvailable, restoreRate
}``); the wait is the time the bucket needs to refill up to the request's cost. HTTP 429 carries
``Retry-After``. ``ACCESS_DENIED`` (a scope the token lacks), HTTP 401/403 and the endpoint itself
missing or closed (402 frozen shop, 404 wrong URL or retired version, 423 locked shop) are
``CredentialsRejected``.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.stores._http import (
    BUSY_RETRY_SECONDS,
    NO_ANSWER_RETRY_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    JsonAnswer,
    JsonSender,
)
from chalicelib.domain.store_api import (
    CredentialsRejected,
    CustomerNoteAdded,
    Done,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    RetryAfter,
    ShopifyCredentials,
    StockLevelChanged,
    StoreCallOutcome,
)

#: The Admin API version every call uses: the one place to change it. Shopify supports a stable
#: version for a year; move to the next one before this one is retired.
SHOPIFY_API_VERSION = "2026-10"

#: Answers of the GraphQL endpoint itself (not of one request): 402 a frozen shop (unpaid), 404 a
#: wrong URL or a retired version, 423 a locked shop.
SHOP_UNAVAILABLE_STATUSES = frozenset({402, 404, 423})

#: Fulfillment orders that can still be fulfilled (the others are closed, cancelled, on hold...).
FULFILLABLE_STATUSES = frozenset({"OPEN", "IN_PROGRESS"})

#: The page sizes bound the query's requested cost (a connection costs about 2 + first * its
#: nodes' cost): 10 fulfillment orders * 50 line items and 30 fulfillments stay
#: well under Shopify's limit of 1,000 points for one query. An order beyond that (more than 50
#: lines in one fulfillment order, more than 30 parcels) is not fully seen.
ORDER_FULFILLMENTS_QUERY = """
query OmsOrderFulfillments($id: ID!) {
  order(id: $id) {
    id
    cancelledAt
    fulfillmentOrders(first: 10) {
      nodes {
        id
        status
        lineItems(first: 50) { nodes { id sku remainingQuantity } }
      }
    }
    fulfillments(first: 30) {
      id
      trackingInfo(first: 10) { number }
    }
  }
}
"""

#: The milestone path needs the fulfillments and their events, not the fulfillment orders.
ORDER_TRACKING_QUERY = """
query OmsOrderTracking($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 30) {
      id
      trackingInfo(first: 10) { number }
      events(first: 20) { nodes { status } }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation OmsFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 10) { company number url } }
    userErrors { field message }
  }
}
"""

FULFILLMENT_EVENT_CREATE = """
mutation OmsFulfillmentEventCreate($fulfillmentEvent: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent) {
    fulfillmentEvent { id status }
    userErrors { field message }
  }
}
"""

ORDER_CANCELLED_QUERY = """
query OmsOrderCancelled($id: ID!) {
  order(id: $id) { id cancelledAt }
}
"""

ORDER_CANCEL = """
mutation OmsOrderCancel(
  $orderId: ID!, $reason: OrderCancelReason!, $restock: Boolean!,
  $refundMethod: OrderCancelRefundMethodInput!, $notifyCustomer: Boolean, $staffNote: String
) {
  orderCancel(
    orderId: $orderId, reason: $reason, restock: $restock, refundMethod: $refundMethod,
    notifyCustomer: $notifyCustomer, staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

VARIANTS_BY_SKU_QUERY = """
query OmsVariantsBySku($query: String!) {
  productVariants(first: 10, query: $query) {
    nodes { sku inventoryItem { id } }
  }
}
"""

INVENTORY_SET_QUANTITIES = """
mutation OmsInventorySetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { field message code }
  }
}
"""


def order_gid(store_order_id: str) -> str:
    """The order's global id from what the webhook carried (the number, or already the gid)."""
    return store_order_id if store_order_id.startswith("gid://") else f"gid://shopify/Order/{store_order_id}"


def location_gid(location_id: str) -> str:
    return location_id if location_id.startswith("gid://") else f"gid://shopify/Location/{location_id}"


def throttle_wait_seconds(cost: Any) -> int:
    """Seconds until the bucket holds the request's cost again, from ``extensions.cost``."""
    try:
        requested = float(cost["requestedQueryCost"])
        status = cost["throttleStatus"]
        available = float(status["currentlyAvailable"])
        restore_rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return BUSY_RETRY_SECONDS
    if restore_rate <= 0 or not math.isfinite(requested - available):
        return BUSY_RETRY_SECONDS
    return max(1, math.ceil((requested - available) / restore_rate))


@dataclass(frozen=True)
class Allocation:
    fulfillment_order_id: str
    line_item_id: str
    quantity: int


class ShopifyStoreApi:
    """``StoreApi`` for one Shopify store; see the module docstring."""

    def __init__(
        self,
        credentials: ShopifyCredentials,
        *,
        allow_loopback: bool,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = f"{credentials.url.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}/graphql.json"
        self._token = credentials.access_token
        self._sender = JsonSender(allow_loopback=allow_loopback, timeout_seconds=timeout_seconds, tls=tls)

    # --- the port -------------------------------------------------------------------------------

    def parcel_shipped(self, request: ParcelShipped) -> StoreCallOutcome:
        gid = order_gid(request.store_order_id)
        order = self._read_order(gid, ORDER_FULFILLMENTS_QUERY)
        if not isinstance(order, dict):
            return order
        numbers = list(request.tracking_numbers)
        listed = ", ".join(numbers) or "no tracking number"
        existing = [f for f in order.get("fulfillments") or [] if _tracking_numbers(f) & set(numbers)]
        if existing:
            return Done(f"a fulfillment with tracking number(s) {listed} already exists")
        if order.get("cancelledAt"):
            return Rejected(f"the Shopify order {gid} is cancelled")
        allocations = allocate_parcel(request, _nodes(order.get("fulfillmentOrders")))
        if isinstance(allocations, Rejected):
            return allocations
        by_fulfillment_order: dict[str, list[dict[str, Any]]] = {}
        for allocation in allocations:
            by_fulfillment_order.setdefault(allocation.fulfillment_order_id, []).append(
                {"id": allocation.line_item_id, "quantity": allocation.quantity}
            )
        # One fulfillment per parcel group, carrying every number of the group (and the links
        # known for them, in the same order).
        tracking: dict[str, Any] = {"company": request.carrier, "numbers": numbers}
        urls = [url for _number, url in request.links() if url]
        if urls and len(urls) == len(numbers):
            tracking["urls"] = urls
        fulfillment = {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items}
                for fo_id, items in by_fulfillment_order.items()
            ],
            "trackingInfo": tracking,
            "notifyCustomer": request.notify_customer,
        }
        data = self._graphql(FULFILLMENT_CREATE, {"fulfillment": fulfillment})
        if not isinstance(data, dict):
            return data
        payload = data.get("fulfillmentCreate") or {}
        errors = _user_errors(payload.get("userErrors"))
        if errors:
            return Rejected(f"Shopify refused the fulfillment: {errors}")
        created = (payload.get("fulfillment") or {}).get("id", "?")
        return Done(f"fulfillment {created} created with tracking number(s) {listed}")

    def milestone_reached(self, request: MilestoneReached) -> StoreCallOutcome:
        gid = order_gid(request.store_order_id)
        order = self._read_order(gid, ORDER_TRACKING_QUERY)
        if not isinstance(order, dict):
            return order
        numbers = set(request.tracking_numbers)
        fulfillment = next(
            (f for f in order.get("fulfillments") or [] if _tracking_numbers(f) & numbers), None
        )
        if fulfillment is None:
            listed = ", ".join(request.tracking_numbers)
            return Rejected(f"the Shopify order {gid} has no fulfillment with tracking number(s) {listed}")
        statuses = {event.get("status") for event in _nodes(fulfillment.get("events"))}
        if request.milestone.value in statuses:
            return Done(f"the fulfillment already has a {request.milestone.value} event")
        event: dict[str, Any] = {
            "fulfillmentId": fulfillment["id"],
            "status": request.milestone.value,
            "happenedAt": request.happened_at.isoformat(),
        }
        if request.message:
            event["message"] = request.message
        if request.estimated_delivery is not None:
            # A day, as the end of that day: Shopify shows it as "expected by".
            event["estimatedDeliveryAt"] = f"{request.estimated_delivery.isoformat()}T23:59:59Z"
        data = self._graphql(FULFILLMENT_EVENT_CREATE, {"fulfillmentEvent": event})
        if not isinstance(data, dict):
            return data
        payload = data.get("fulfillmentEventCreate") or {}
        errors = _user_errors(payload.get("userErrors"))
        if errors:
            return Rejected(f"Shopify refused the fulfillment event: {errors}")
        return Done(f"{request.milestone.value} event added to fulfillment {fulfillment['id']}")

    def order_cancelled(self, request: OrderCancelled) -> StoreCallOutcome:
        if not request.whole_order:
            return Rejected("Shopify orders are cancelled whole; cancelled lines alone are not written back")
        gid = order_gid(request.store_order_id)
        data = self._graphql(ORDER_CANCELLED_QUERY, {"id": gid})
        if not isinstance(data, dict):
            return data
        order = data.get("order")
        if not isinstance(order, dict):
            return Rejected(f"Shopify has no order {gid}")
        if order.get("cancelledAt"):
            return Done(f"the Shopify order {gid} is already cancelled")
        data = self._graphql(
            ORDER_CANCEL,
            {
                "orderId": gid,
                "reason": "OTHER",
                "restock": False,
                "refundMethod": {"originalPaymentMethodsRefund": request.refund},
                "notifyCustomer": request.notify_customer,
                "staffNote": request.reason[:255],
            },
        )
        if not isinstance(data, dict):
            return data
        payload = data.get("orderCancel") or {}
        errors = _user_errors(payload.get("orderCancelUserErrors"))
        if errors:
            return Rejected(f"Shopify refused to cancel the order: {errors}")
        return Done(f"cancellation of {gid} accepted (job {(payload.get('job') or {}).get('id', '?')})")

    def customer_note_added(self, request: CustomerNoteAdded) -> StoreCallOutcome:
        # Not written: a Shopify order has no note its customer sees. The order's ``note`` is one
        # staff-only text field the merchant edits in the admin; appending to it would show the
        # customer nothing and could overwrite a merchant's edit made between our read and write.
        return Done(
            f"customer note {request.note_id} not written: Shopify orders have no customer-visible note"
        )

    def stock_level_changed(self, request: StockLevelChanged) -> StoreCallOutcome:
        if not request.location_ids:
            return Rejected(f"no Shopify location is mapped for SKU {request.sku}")
        data = self._graphql(VARIANTS_BY_SKU_QUERY, {"query": f'sku:"{_search_escape(request.sku)}"'})
        if not isinstance(data, dict):
            return data
        # The search matches loosely (prefixes, tokens): only an exact SKU counts.
        items = {
            (node.get("inventoryItem") or {}).get("id")
            for node in _nodes(data.get("productVariants"))
            if node.get("sku") == request.sku
        } - {None}
        if not items:
            return Rejected(f"Shopify has no product variant with SKU {request.sku}")
        if len(items) > 1:
            return Rejected(f"several Shopify variants carry SKU {request.sku}; SKUs must be unique")
        (item_id,) = items
        quantities = [
            {
                "inventoryItemId": item_id,
                "locationId": location_gid(location),
                "quantity": request.available,
                "changeFromQuantity": None,
            }
            for location in request.location_ids
        ]
        data = self._graphql(
            INVENTORY_SET_QUANTITIES,
            {
                "input": {"name": "available", "reason": "correction", "quantities": quantities},
                "idempotencyKey": request.idempotency_key,
            },
        )
        if not isinstance(data, dict):
            return data
        payload = data.get("inventorySetQuantities") or {}
        errors = _user_errors(payload.get("userErrors"))
        if errors:
            return Rejected(f"Shopify refused the stock level: {errors}")
        return Done(f"{request.sku} available set to {request.available} at {len(quantities)} location(s)")

    # --- transport ------------------------------------------------------------------------------

    def _read_order(self, gid: str, query: str) -> dict[str, Any] | StoreCallOutcome:
        data = self._graphql(query, {"id": gid})
        if not isinstance(data, dict):
            return data
        order = data.get("order")
        if not isinstance(order, dict):
            return Rejected(f"Shopify has no order {gid}")
        return order

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | StoreCallOutcome:
        """The ``data`` of a GraphQL answer, or the outcome that ends the call."""
        answer = self._sender.send(
            "POST",
            self.endpoint,
            headers={"X-Shopify-Access-Token": self._token},
            payload={"query": query, "variables": variables},
        )
        if not isinstance(answer, JsonAnswer):
            return answer
        body = answer.body if isinstance(answer.body, dict) else {}
        errors = body.get("errors")
        if answer.status in SHOP_UNAVAILABLE_STATUSES:
            # The endpoint itself: a wrong store URL, a retired API version, a frozen or locked
            # shop. Every call would fail the same way until an operator fixes the channel.
            why = errors if isinstance(errors, str) else "no message"
            return CredentialsRejected(
                f"Shopify's Admin API is not available here (HTTP {answer.status}): {why}"
            )
        if isinstance(errors, str):  # Shopify's non-GraphQL errors: {"errors": "..."}
            return Rejected(f"Shopify answered HTTP {answer.status}: {errors}")
        if isinstance(errors, list) and errors:
            return _graphql_errors(errors, body.get("extensions"))
        if answer.status != 200:
            return Rejected(f"Shopify answered HTTP {answer.status}")
        data = body.get("data")
        if not isinstance(data, dict):
            return RetryAfter(NO_ANSWER_RETRY_SECONDS, "Shopify answered without data")
        return data


def _graphql_errors(errors: list[Any], extensions: Any) -> StoreCallOutcome:
    codes = {str(((e or {}).get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)}
    messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    if "THROTTLED" in codes:
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        return RetryAfter(throttle_wait_seconds(cost), "Shopify throttled the request (query cost)")
    if "ACCESS_DENIED" in codes:
        return CredentialsRejected(f"the Shopify token lacks a scope: {messages}")
    if "INTERNAL_SERVER_ERROR" in codes:
        return RetryAfter(NO_ANSWER_RETRY_SECONDS, f"Shopify failed: {messages}")
    return Rejected(f"Shopify refused the request: {messages}")


def allocate_parcel(
    request: ParcelShipped, fulfillment_orders: list[dict[str, Any]]
) -> list[Allocation] | Rejected:
    """Which fulfillment order line items the parcel's units fulfil: each SKU's units are taken
    from the open fulfillment orders' remaining quantities, in Shopify's order."""
    remaining: dict[tuple[str, str], int] = {}
    candidates: list[tuple[str, str, str]] = []  # (fulfillment order id, line item id, sku)
    for fulfillment_order in fulfillment_orders:
        if fulfillment_order.get("status") not in FULFILLABLE_STATUSES:
            continue
        for item in _nodes(fulfillment_order.get("lineItems")):
            key = (fulfillment_order["id"], item["id"])
            remaining[key] = int(item.get("remainingQuantity") or 0)
            candidates.append((fulfillment_order["id"], item["id"], str(item.get("sku") or "")))
    allocations: list[Allocation] = []
    for line in request.lines:
        wanted = line.quantity
        for fo_id, item_id, sku in candidates:
            if wanted == 0:
                break
            if sku != line.sku or remaining[(fo_id, item_id)] == 0:
                continue
            taken = min(wanted, remaining[(fo_id, item_id)])
            remaining[(fo_id, item_id)] -= taken
            wanted -= taken
            allocations.append(Allocation(fo_id, item_id, taken))
        if wanted:
            return Rejected(
                f"the Shopify order {request.store_order_id} has {line.quantity - wanted} unfulfilled "
                f"unit(s) of {line.sku}, the parcel holds {line.quantity}"
            )
    if not allocations:
        return Rejected("the parcel holds no units")
    return allocations


def _tracking_numbers(fulfillment: dict[str, Any]) -> set[str]:
    return {str(t.get("number")) for t in fulfillment.get("trackingInfo") or [] if isinstance(t, dict)}


def _nodes(connection: Any) -> list[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    return [node for node in connection.get("nodes") or [] if isinstance(node, dict)]


def _user_errors(errors: Iterable[Any] | None) -> str:
    return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors or [])


def _search_escape(value: str) -> str:
    """A value inside a quoted term of Shopify's search syntax."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
