"""A fake Shopify Admin GraphQL API on 127.0.0.1, for the write-back's tests.

It answers ``POST /admin/api/<version>/graphql.json`` like the platform: the access token in
``X-Shopify-Access-Token`` (else HTTP 401 with Shopify's message), the pinned version only
(else 404), a leaky-bucket query cost (``extensions.cost`` on every answer, ``THROTTLED`` when a
request costs more than the bucket holds), and state for the operations the OMS uses: orders with
fulfillment orders and their line items, fulfillments with tracking and events, cancellations,
variants and inventory levels per location.

Operations are recognised by their root field in the query text; each check that the query names
what the platform requires (the mutation's arguments as variables, ``userErrors``, the
``@idempotent`` directive of ``inventorySetQuantities``) and that the variables have the input
shape of the pinned version. A malformed request gets a GraphQL error, never a silent success.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.adapters.stores.shopify import SHOPIFY_API_VERSION
from tests.fake_stores._server import Answer, FakeServer, RecordedRequest

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
EVENT_STATUSES = frozenset(
    {
        "ATTEMPTED_DELIVERY",
        "CARRIER_PICKED_UP",
        "CONFIRMED",
        "DELAYED",
        "DELIVERED",
        "FAILURE",
        "IN_TRANSIT",
        "LABEL_PRINTED",
        "LABEL_PURCHASED",
        "OUT_FOR_DELIVERY",
        "PICKED_UP",
        "READY_FOR_PICKUP",
    }
)
CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
ROOT_FIELDS = (
    "fulfillmentCreate",
    "fulfillmentEventCreate",
    "orderCancel",
    "inventorySetQuantities",
    "productVariants",
    "order",
)
#: Requested cost of each operation (Shopify computes it from the selection; fixed here).
COSTS = {
    "order": 62,
    "productVariants": 12,
    "fulfillmentCreate": 10,
    "fulfillmentEventCreate": 10,
    "orderCancel": 10,
    "inventorySetQuantities": 10,
}


class GraphQLError(Exception):
    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class LineItem:
    id: str
    sku: str
    remaining: int


@dataclass
class FulfillmentOrder:
    id: str
    location_id: str
    line_items: list[LineItem]
    status: str = "OPEN"


@dataclass
class Fulfillment:
    id: str
    #: One entry per tracking number ({company, number, url}), as ``trackingInfo`` lists them.
    tracking: list[dict[str, Any]]
    line_items: list[tuple[str, int]]
    notify_customer: bool
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Order:
    id: str
    fulfillment_orders: list[FulfillmentOrder]
    fulfillments: list[Fulfillment] = field(default_factory=list)
    cancelled_at: str | None = None
    cancellation: dict[str, Any] | None = None


class FakeShopify(FakeServer):
    def __init__(
        self, *, access_token: str = "shpat_fake_token", api_version: str = SHOPIFY_API_VERSION
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.api_version = api_version
        self.orders: dict[str, Order] = {}
        self.locations: set[str] = {"gid://shopify/Location/1"}
        #: sku → inventory item gid (one variant per SKU unless a test adds more).
        self.variants: list[tuple[str, str]] = []
        #: (inventory item gid, location gid) → available.
        self.available: dict[tuple[str, str], int] = {}
        #: idempotency key → (input, answer) of inventorySetQuantities.
        self.idempotent_answers: dict[str, tuple[Any, dict[str, Any]]] = {}
        #: Root fields whose access scope the token lacks (ACCESS_DENIED).
        self.denied_fields: set[str] = set()
        self.maximum_available = 2000.0
        self.restore_rate = 100.0
        self.bucket = self.maximum_available
        self.clock: Callable[[], float] = time.monotonic
        self._last_refill = self.clock()
        self._ids = itertools.count(1001)
        self._throttle_next = 0

    # --- set-up ---------------------------------------------------------------------------------

    def add_order(
        self, number: int, lines: list[tuple[str, int]], location_id: str = "gid://shopify/Location/1"
    ) -> str:
        """An order with one open fulfillment order holding ``lines`` (sku, quantity)."""
        gid = f"gid://shopify/Order/{number}"
        with self.lock:
            self.locations.add(location_id)
            items = [
                LineItem(f"gid://shopify/FulfillmentOrderLineItem/{next(self._ids)}", sku, qty)
                for sku, qty in lines
            ]
            fo = FulfillmentOrder(f"gid://shopify/FulfillmentOrder/{next(self._ids)}", location_id, items)
            self.orders[gid] = Order(gid, [fo])
        return gid

    def add_variant(self, sku: str, *, locations: dict[str, int] | None = None) -> str:
        """A variant with ``sku``; its inventory item is stocked at ``locations`` (gid → available)."""
        with self.lock:
            item = f"gid://shopify/InventoryItem/{next(self._ids)}"
            self.variants.append((sku, item))
            for location, quantity in (locations or {"gid://shopify/Location/1": 0}).items():
                self.locations.add(location)
                self.available[(item, location)] = quantity
        return item

    def set_bucket(self, available: float, *, restore_rate: float | None = None, frozen: bool = True) -> None:
        """Empty the cost bucket to ``available``; ``frozen`` stops the clock so waits are exact."""
        with self.lock:
            self.bucket = available
            if restore_rate is not None:
                self.restore_rate = restore_rate
            if frozen:
                now = self.clock()
                self.clock = lambda: now
            self._last_refill = self.clock()

    def throttle_next(self, times: int = 1) -> None:
        """Answer the next ``times`` operations ``THROTTLED`` with the bucket shown empty."""
        with self.lock:
            self._throttle_next += times

    def answer_429_next(self, retry_after: str = "2.0", times: int = 1) -> None:
        body = {
            "errors": "Exceeded 2 calls per second for api client. "
            "Reduce request rates to resume uninterrupted service."
        }
        self.fail_next(Answer(429, body, {"Retry-After": retry_after}), times)

    def answer_401_next(self, times: int = 1) -> None:
        self.fail_next(Answer(401, {"errors": INVALID_TOKEN}), times)

    def answer_500_next(self, times: int = 1) -> None:
        self.fail_next(Answer(503, {"errors": "Service Unavailable"}), times)

    # --- reading state in tests ------------------------------------------------------------------

    def order(self, gid: str) -> Order:
        with self.lock:
            return self.orders[gid]

    def graphql_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the GraphQL requests received, in order."""
        with self.lock:
            return [r.json() for r in self.requests if r.path.endswith("/graphql.json") and r.body]

    def operations(self) -> list[str]:
        """The root field of each GraphQL request received, in order."""
        return [_root_field(body.get("query", "")) or "?" for body in self.graphql_requests()]

    # --- the API --------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Answer:
        if request.method != "POST" or request.path != f"/admin/api/{self.api_version}/graphql.json":
            return Answer(404, {"errors": "Not Found"})
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return Answer(401, {"errors": INVALID_TOKEN})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Answer(415, {"errors": "Unsupported Media Type"})
        body = request.json()
        query = str(body.get("query", ""))
        variables = body.get("variables") or {}
        root = _root_field(query)
        if root is None:
            return _errors("No known operation in the query", "BAD_REQUEST")
        if root in self.denied_fields:
            return _errors(f"Access denied for {root} field.", "ACCESS_DENIED")
        cost = COSTS[root]
        self._refill()
        if self._throttle_next > 0:
            self._throttle_next -= 1
            self.bucket = 0.0
        if cost > self.bucket:
            return Answer(
                200,
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": self._cost(cost, None),
                },
            )
        is_mutation = query.lstrip().startswith("mutation")
        if is_mutation != (root != "order" and root != "productVariants"):
            return _errors(f"{root} must be sent as a {'mutation' if is_mutation else 'query'}")
        try:
            data = getattr(self, f"_op_{root}")(query, variables)
        except GraphQLError as exc:
            return _errors(str(exc), exc.code)
        self.bucket -= cost
        return Answer(200, {"data": data, "extensions": self._cost(cost, cost)})

    def _refill(self) -> None:
        now = self.clock()
        self.bucket = min(self.maximum_available, self.bucket + (now - self._last_refill) * self.restore_rate)
        self._last_refill = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum_available,
                    "currentlyAvailable": math.floor(self.bucket),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # --- operations -----------------------------------------------------------------------------

    def _op_order(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        _require(query, "order(id: $id)")
        order = self.orders.get(str(variables.get("id")))
        if order is None:
            return {"order": None}
        return {
            "order": {
                "id": order.id,
                "cancelledAt": order.cancelled_at,
                "fulfillmentOrders": {
                    "nodes": [
                        {
                            "id": fo.id,
                            "status": fo.status,
                            "assignedLocation": {"location": {"id": fo.location_id}},
                            "lineItems": {
                                "nodes": [
                                    {"id": i.id, "sku": i.sku, "remainingQuantity": i.remaining}
                                    for i in fo.line_items
                                ]
                            },
                        }
                        for fo in order.fulfillment_orders
                    ]
                },
                "fulfillments": [
                    {
                        "id": f.id,
                        "trackingInfo": f.tracking,
                        "events": {"nodes": [{"status": e["status"]} for e in f.events]},
                    }
                    for f in order.fulfillments
                ],
            }
        }

    def _op_fulfillmentCreate(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        _require(query, "fulfillmentCreate(fulfillment: $fulfillment)", "userErrors")
        fulfillment = variables.get("fulfillment")
        if not isinstance(fulfillment, dict):
            raise GraphQLError(
                "Variable $fulfillment of type FulfillmentInput! was provided invalid value",
                "INVALID_VARIABLE",
            )
        _only_keys(
            fulfillment,
            {"lineItemsByFulfillmentOrder", "trackingInfo", "notifyCustomer", "originAddress"},
            "FulfillmentInput",
        )
        groups = fulfillment.get("lineItemsByFulfillmentOrder")
        if not isinstance(groups, list) or not groups:
            raise GraphQLError("lineItemsByFulfillmentOrder is required", "INVALID_VARIABLE")
        tracking = fulfillment.get("trackingInfo") or {}
        _only_keys(tracking, {"company", "number", "numbers", "url", "urls"}, "FulfillmentTrackingInput")
        numbers, urls = _tracking_lists(tracking)
        try:
            order, picked = self._pick(groups)
        except _Refused as refused:
            return _user_error("fulfillmentCreate", str(refused))
        for item, quantity in picked:
            item.remaining -= quantity
        for fo in order.fulfillment_orders:
            if fo.status in ("OPEN", "IN_PROGRESS"):
                fo.status = "CLOSED" if all(i.remaining == 0 for i in fo.line_items) else "IN_PROGRESS"
        created = Fulfillment(
            f"gid://shopify/Fulfillment/{next(self._ids)}",
            [
                {"company": tracking.get("company"), "number": number, "url": url}
                for number, url in zip(numbers, urls + [None] * len(numbers), strict=False)
            ],
            [(item.id, quantity) for item, quantity in picked],
            bool(fulfillment.get("notifyCustomer", False)),
        )
        order.fulfillments.append(created)
        return {
            "fulfillmentCreate": {
                "fulfillment": {"id": created.id, "status": "SUCCESS", "trackingInfo": created.tracking},
                "userErrors": [],
            }
        }

    def _pick(self, groups: list[Any]) -> tuple[Order, list[tuple[LineItem, int]]]:
        """The order and the line items (with quantities) a fulfillmentCreate names; raises
        ``_Refused`` with Shopify's message for what it refuses. Changes nothing."""
        by_id = {fo.id: (order, fo) for order in self.orders.values() for fo in order.fulfillment_orders}
        picked: list[tuple[LineItem, int]] = []
        orders: set[str] = set()
        locations: set[str] = set()
        for group in groups:
            _only_keys(
                group, {"fulfillmentOrderId", "fulfillmentOrderLineItems"}, "FulfillmentOrderLineItemsInput"
            )
            found = by_id.get(str(group.get("fulfillmentOrderId")))
            if found is None:
                raise _Refused("Fulfillment order does not exist.")
            order, fo = found
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                raise _Refused(f"Fulfillment order {fo.id} has an unfulfillable status= {fo.status}.")
            orders.add(order.id)
            locations.add(fo.location_id)
            items = {i.id: i for i in fo.line_items}
            picked.extend(
                _picked_item(items, wanted) for wanted in group.get("fulfillmentOrderLineItems") or []
            )
        if len(orders) != 1 or len(locations) != 1:
            raise _Refused("All fulfillment orders must belong to the same order and location.")
        return self.orders[orders.pop()], picked

    def _op_fulfillmentEventCreate(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        _require(query, "fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent)", "userErrors")
        event = variables.get("fulfillmentEvent")
        if not isinstance(event, dict):
            raise GraphQLError(
                "Variable $fulfillmentEvent of type FulfillmentEventInput! was provided invalid value",
                "INVALID_VARIABLE",
            )
        _only_keys(
            event,
            {
                "fulfillmentId",
                "status",
                "happenedAt",
                "message",
                "estimatedDeliveryAt",
                "address1",
                "city",
                "province",
                "country",
                "zip",
                "latitude",
                "longitude",
            },
            "FulfillmentEventInput",
        )
        if event.get("status") not in EVENT_STATUSES:
            raise GraphQLError(
                f'Expected "{event.get("status")}" to be one of FulfillmentEventStatus', "INVALID_VARIABLE"
            )
        for moment in ("happenedAt", "estimatedDeliveryAt"):
            if moment in event:
                datetime.fromisoformat(str(event[moment]))
        target = next(
            (
                f
                for order in self.orders.values()
                for f in order.fulfillments
                if f.id == event.get("fulfillmentId")
            ),
            None,
        )
        if target is None:
            return _user_error("fulfillmentEventCreate", "Fulfillment does not exist.")
        created = {"id": f"gid://shopify/FulfillmentEvent/{next(self._ids)}", **event}
        target.events.append(created)
        return {
            "fulfillmentEventCreate": {
                "fulfillmentEvent": {"id": created["id"], "status": created["status"]},
                "userErrors": [],
            }
        }

    def _op_orderCancel(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        _require(
            query,
            "orderCancel(",
            "orderId: $orderId",
            "restock: $restock",
            "reason: $reason",
            "refundMethod: $refundMethod",
            "orderCancelUserErrors",
        )
        if not isinstance(variables.get("restock"), bool):
            raise GraphQLError(
                "Variable $restock of type Boolean! was provided invalid value", "INVALID_VARIABLE"
            )
        if variables.get("reason") not in CANCEL_REASONS:
            raise GraphQLError(
                "Variable $reason of type OrderCancelReason! was provided invalid value", "INVALID_VARIABLE"
            )
        if not isinstance(variables.get("refundMethod"), dict):
            raise GraphQLError(
                "Variable $refundMethod of type OrderCancelRefundMethodInput! was provided invalid value",
                "INVALID_VARIABLE",
            )
        order = self.orders.get(str(variables.get("orderId")))
        if order is None:
            return {
                "orderCancel": {
                    "job": None,
                    "orderCancelUserErrors": [
                        {"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}
                    ],
                }
            }
        if order.cancelled_at is not None:
            return {
                "orderCancel": {
                    "job": None,
                    "orderCancelUserErrors": [
                        {
                            "field": ["orderId"],
                            "message": "Order has already been cancelled",
                            "code": "INVALID",
                        }
                    ],
                }
            }
        order.cancelled_at = "2026-12-07T00:00:00Z"
        order.cancellation = dict(variables)
        for fo in order.fulfillment_orders:
            if fo.status in ("OPEN", "IN_PROGRESS"):
                fo.status = "CANCELLED"
        return {
            "orderCancel": {
                "job": {"id": f"gid://shopify/Job/{next(self._ids)}", "done": False},
                "orderCancelUserErrors": [],
            }
        }

    def _op_productVariants(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        _require(query, "productVariants(", "query: $query")
        match = re.fullmatch(r'sku:"((?:[^"\\]|\\.)*)"', str(variables.get("query", "")))
        if match is None:
            raise GraphQLError('this fake understands only the search sku:"..."')
        wanted = re.sub(r"\\(.)", r"\1", match.group(1))
        # Shopify's search matches prefixes too: the client must keep only exact SKUs.
        nodes = [
            {"sku": sku, "inventoryItem": {"id": item}}
            for sku, item in self.variants
            if sku.startswith(wanted)
        ]
        return {"productVariants": {"nodes": nodes}}

    def _op_inventorySetQuantities(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        _require(query, "inventorySetQuantities(input: $input)", "userErrors")
        directive = re.search(r"@idempotent\(\s*key:\s*\$(\w+)\s*\)", query)
        if directive is None:
            raise GraphQLError("The @idempotent directive is required for this mutation.", "BAD_REQUEST")
        key = variables.get(directive.group(1))
        if not isinstance(key, str) or not key:
            raise GraphQLError("The idempotency key must be a non-empty string.", "INVALID_VARIABLE")
        data = _set_quantities_input(variables)
        previous = self.idempotent_answers.get(key)
        if previous is not None:
            if previous[0] != data:
                raise GraphQLError(
                    "The idempotency key was already used with other arguments.", "IDEMPOTENCY_KEY_REUSED"
                )
            return previous[1]
        errors: list[dict[str, Any]] = []
        changes: list[tuple[tuple[str, str], int]] = []
        for index, quantity in enumerate(data.get("quantities") or []):
            slot, error = self._check_quantity(index, quantity)
            if error is not None:
                errors.append(error)
            else:
                changes.append((slot, quantity["quantity"]))
        if errors:
            answer: dict[str, Any] = {
                "inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": errors}
            }
        else:
            for slot, value in changes:
                self.available[slot] = value
            group = {"id": f"gid://shopify/InventoryAdjustmentGroup/{next(self._ids)}"}
            answer = {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}
        self.idempotent_answers[key] = (data, answer)
        return answer

    def _check_quantity(self, index: int, quantity: Any) -> tuple[tuple[str, str], dict[str, Any] | None]:
        """The (inventory item, location) one InventoryQuantityInput sets, and the userError
        Shopify answers for it (None when it can be set)."""
        _only_keys(
            quantity,
            {"inventoryItemId", "locationId", "quantity", "changeFromQuantity"},
            "InventoryQuantityInput",
        )
        if "changeFromQuantity" not in quantity:
            raise GraphQLError(
                "changeFromQuantity is required (pass null to opt out of the check).", "INVALID_VARIABLE"
            )
        slot = (str(quantity.get("inventoryItemId")), str(quantity.get("locationId")))
        field = ["input", "quantities", str(index)]
        if slot[1] not in self.locations:
            return slot, {
                "field": [*field, "locationId"],
                "message": "The specified location could not be found.",
                "code": "INVALID_LOCATION",
            }
        if slot not in self.available:
            return slot, {
                "field": [*field, "inventoryItemId"],
                "message": "The specified inventory item could not be found.",
                "code": "INVALID_INVENTORY_ITEM",
            }
        if (
            quantity["changeFromQuantity"] is not None
            and quantity["changeFromQuantity"] != self.available[slot]
        ):
            return slot, {
                "field": [*field, "changeFromQuantity"],
                "message": "The quantity changed.",
                "code": "CHANGE_FROM_QUANTITY_STALE",
            }
        if not isinstance(quantity.get("quantity"), int):
            raise GraphQLError("quantity must be an Int", "INVALID_VARIABLE")
        return slot, None


def _tracking_lists(tracking: dict[str, Any]) -> tuple[list[str], list[str | None]]:
    """The numbers and URLs of a FulfillmentTrackingInput: ``number``/``url`` (one) or
    ``numbers``/``urls`` (lists of strings), never both forms for the same field."""
    if "number" in tracking and "numbers" in tracking:
        raise GraphQLError("FulfillmentTrackingInput takes number or numbers, not both", "INVALID_VARIABLE")
    if "url" in tracking and "urls" in tracking:
        raise GraphQLError("FulfillmentTrackingInput takes url or urls, not both", "INVALID_VARIABLE")
    numbers = tracking["numbers"] if "numbers" in tracking else [tracking.get("number")]
    urls = tracking["urls"] if "urls" in tracking else [tracking.get("url")]
    for name, values in (("numbers", numbers), ("urls", urls)):
        if not isinstance(values, list) or not all(v is None or isinstance(v, str) for v in values):
            raise GraphQLError(
                f"FulfillmentTrackingInput.{name} must be a list of strings", "INVALID_VARIABLE"
            )
    if "numbers" in tracking and not all(numbers):
        raise GraphQLError("FulfillmentTrackingInput.numbers must not hold null or empty", "INVALID_VARIABLE")
    for url in urls:
        if url is not None and not url.startswith(("http://", "https://")):
            raise GraphQLError(f"{url!r} is not a valid URL", "INVALID_VARIABLE")
    return [n for n in numbers if n], list(urls)


class _Refused(Exception):
    """A mutation Shopify refuses with a userError (the request itself was well formed)."""


def _picked_item(items: dict[str, LineItem], wanted: Any) -> tuple[LineItem, int]:
    """One FulfillmentOrderLineItemInput: its line item and quantity, or ``_Refused``."""
    _only_keys(wanted, {"id", "quantity"}, "FulfillmentOrderLineItemInput")
    item = items.get(str(wanted.get("id")))
    quantity = wanted.get("quantity")
    if item is None or not isinstance(quantity, int) or quantity <= 0:
        raise _Refused("Invalid fulfillment order line item.")
    if quantity > item.remaining:
        raise _Refused("Invalid fulfillment order line item quantity requested.")
    return item, quantity


def _set_quantities_input(variables: dict[str, Any]) -> dict[str, Any]:
    """The InventorySetQuantitiesInput of an inventorySetQuantities, checked as Shopify does."""
    data = variables.get("input")
    if not isinstance(data, dict):
        raise GraphQLError(
            "Variable $input of type InventorySetQuantitiesInput! was provided invalid value",
            "INVALID_VARIABLE",
        )
    _only_keys(data, {"name", "reason", "referenceDocumentUri", "quantities"}, "InventorySetQuantitiesInput")
    if data.get("name") not in ("available", "on_hand") or not isinstance(data.get("reason"), str):
        raise GraphQLError("InventorySetQuantitiesInput needs name and reason", "INVALID_VARIABLE")
    return data


def _root_field(query: str) -> str | None:
    """The operation's root field: the first known field name followed by its arguments."""
    body = query[query.find("{") + 1 :] if "{" in query else ""
    match = re.search(r"\b(" + "|".join(ROOT_FIELDS) + r")\s*\(", body)
    return match.group(1) if match else None


def _require(query: str, *parts: str) -> None:
    compact = re.sub(r"\s+", " ", query)
    for part in parts:
        if part not in compact:
            raise GraphQLError(f"the query must contain {part!r}")


def _only_keys(value: Any, allowed: set[str], type_name: str) -> None:
    if not isinstance(value, dict):
        raise GraphQLError(f"{type_name} must be an object", "INVALID_VARIABLE")
    unknown = set(value) - allowed
    if unknown:
        raise GraphQLError(f"{type_name} has no field(s) {sorted(unknown)}", "INVALID_VARIABLE")


def _errors(message: str, code: str = "BAD_REQUEST") -> Answer:
    return Answer(200, {"errors": [{"message": message, "extensions": {"code": code}}]})


def _user_error(root: str, message: str) -> dict[str, Any]:
    return {
        root: {
            "fulfillment": None,
            "fulfillmentEvent": None,
            "userErrors": [{"field": None, "message": message}],
        }
    }
