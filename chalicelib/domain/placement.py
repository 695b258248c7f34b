"""Placing an order: the request every channel is normalised into, and the pure
construction of the order and its fulfillments from a sourcing plan."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from .errors import FieldError
from .fulfillment import new_backorder
from .models import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    Address,
    Customer,
    Fulfillment,
    FulfillmentLine,
    NotifyPreferences,
    Order,
    OrderLine,
    OrderTotals,
    Product,
    ShortText,
    Sku,
    Strict,
    UnresolvedLine,
)
from .money import CURRENCY_EXPONENTS, Amount, MoneyError, check_amount_for_currency
from .sourcing import SourcingPlan
from .status import FulfillmentStatus, OrderStatus


class LineRequest(Strict):
    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY, strict=True)]
    unit_price: Amount


class PlaceOrderRequest(Strict):
    """``POST /v1/orders``: an order as a channel sends it."""

    external_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
    customer: Customer
    shipping_address: Address
    billing_address: Address | None = None
    lines: Annotated[list[LineRequest], Field(min_length=1, max_length=MAX_LINES)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    shipping_method: ShortText | None = None
    paid: bool = True
    notify: NotifyPreferences = Field(default_factory=NotifyPreferences)
    shipping_total: Amount = Decimal(0)
    tax_total: Amount = Decimal(0)
    discount_total: Amount = Decimal(0)

    def request_hash(self) -> str:
        """Fingerprint of the request's meaning (not its bytes): same order, same hash.

        Amounts are normalised first so that "12.5" and "12.50" (the same price) agree.
        """
        canonical = json.dumps(_canonical(self.model_dump()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def demand(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
        return totals


class StoreOrderRequest(PlaceOrderRequest):
    """A store order none of whose lines can be placed yet (each kept as an unresolved line): it
    is placed with no line, on hold, rather than refused; a store order never vanishes. Only
    store intake builds it; ``POST /v1/orders`` still needs a line."""

    lines: Annotated[list[LineRequest], Field(max_length=MAX_LINES)]


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if not value.is_zero() else "0"
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def check_request(
    request: PlaceOrderRequest, products: Mapping[str, Product], unresolved: Sequence[UnresolvedLine] = ()
) -> list[FieldError]:
    """Business checks the schema cannot express: known currency, its precision, known SKUs."""
    errors: list[FieldError] = []
    if request.currency not in CURRENCY_EXPONENTS:
        errors.append(FieldError(["currency"], f"{request.currency} is not an ISO 4217 currency", "currency"))
        return errors
    amounts: list[tuple[list[str | int], Decimal]] = [
        (["lines", i, "unit_price"], line.unit_price) for i, line in enumerate(request.lines)
    ]
    amounts += [
        ([name], getattr(request, name)) for name in ("shipping_total", "tax_total", "discount_total")
    ]
    for loc, amount in amounts:
        if amount < 0:
            errors.append(FieldError(loc, "amounts cannot be negative", "money"))
            continue
        try:
            check_amount_for_currency(amount, request.currency)
        except MoneyError as exc:
            errors.append(FieldError(loc, str(exc), "money"))
    for i, line in enumerate(request.lines):
        if line.sku not in products:
            errors.append(FieldError(["lines", i, "sku"], f"unknown SKU {line.sku}", "unknown_sku"))
        elif not products[line.sku].active:
            errors.append(
                FieldError(["lines", i, "sku"], f"SKU {line.sku} is not sold any more", "inactive_sku")
            )
    if not errors and _totals(request, unresolved).total < 0:
        errors.append(FieldError(["discount_total"], "the discount is larger than the order", "money"))
    return errors


def _totals(request: PlaceOrderRequest, unresolved: Sequence[UnresolvedLine] = ()) -> OrderTotals:
    q = Decimal(1).scaleb(-CURRENCY_EXPONENTS[request.currency])
    subtotal = sum((line.unit_price * line.quantity for line in request.lines), Decimal(0))
    subtotal += sum((line.unit_price * line.quantity for line in unresolved), Decimal(0))
    total = subtotal + request.shipping_total + request.tax_total - request.discount_total
    return OrderTotals(
        subtotal=subtotal.quantize(q),
        shipping=request.shipping_total.quantize(q),
        tax=request.tax_total.quantize(q),
        discount=request.discount_total.quantize(q),
        total=total.quantize(q),
    )


def _line_shortages(lines: Sequence[LineRequest], plan: SourcingPlan) -> list[int]:
    """Spread each SKU's shortage over its lines, last line first (earlier lines are served first)."""
    left = dict(plan.shortages)
    result = [0] * len(lines)
    for i in range(len(lines) - 1, -1, -1):
        sku = lines[i].sku
        short = min(left.get(sku, 0), lines[i].quantity)
        result[i] = short
        if short:
            left[sku] -= short
    return result


def _order_lines(lines: Sequence[LineRequest], currency: str, plan: SourcingPlan) -> list[OrderLine]:
    """The lines priced in the currency's minor unit, each with its backordered units."""
    q = Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency])
    return [
        OrderLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price.quantize(q),
            line_total=(line.unit_price * line.quantity).quantize(q),
            backordered=short,
        )
        for line, short in zip(lines, _line_shortages(lines, plan), strict=True)
    ]


def _fulfillments(
    order: Order, plan: SourcingPlan, new_fulfillment_id: Callable[[], str], now: datetime
) -> list[Fulfillment]:
    """One pending fulfillment per allocated warehouse and one backorder (no warehouse) per SKU
    that no warehouse could take."""
    fulfillments = [
        Fulfillment(
            id=new_fulfillment_id(),
            order_id=order.id,
            channel_id=order.channel_id,
            warehouse_id=warehouse_id,
            status=FulfillmentStatus.PENDING,
            version=1,
            lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in skus.items()],
            created_at=now,
            updated_at=now,
        )
        for warehouse_id, skus in plan.allocations.items()
    ]
    # One backorder per short SKU, with no warehouse: allocated first come, first served
    # when stock arrives (one SKU each, so a backorder is filed under exactly one SKU).
    fulfillments += [
        new_backorder(new_fulfillment_id(), order, sku, qty, created_at=now, now=now)
        for sku, qty in plan.shortages.items()
    ]
    return fulfillments


def awaited_lines(order: Order) -> list[UnresolvedLine]:
    """The order's unresolved lines that wait only for their SKU to be in the catalogue."""
    return [line for line in order.unresolved_lines if line.unknown_sku and line.sku is not None]


def awaited_demand(order: Order) -> dict[str, int]:
    """SKU -> units of the lines waiting for a product (what releasing the hold must source)."""
    demand: dict[str, int] = {}
    for line in awaited_lines(order):
        assert line.sku is not None  # awaited_lines keeps only lines with a SKU
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    return demand


def skus_not_sellable(order: Order, products: Mapping[str, Product]) -> list[str]:
    """The awaited SKUs the catalogue still does not have (or no longer sells), sorted: releasing
    the ``unresolved_lines`` hold is refused while there is any."""
    return sorted(sku for sku in awaited_demand(order) if sku not in products or not products[sku].active)


def place_awaited_lines(
    order: Order, plan: SourcingPlan, *, new_fulfillment_id: Callable[[], str], now: datetime
) -> tuple[Order, list[Fulfillment]]:
    """The order with its lines that waited for a product placed, now that the catalogue has
    them: order lines priced as the store sold them (backordered where ``plan`` falls short) after
    the lines placed before, and their fulfillments, as at placement. The totals do not change:
    they always counted these lines. Lines unresolved for another reason stay unresolved."""
    awaited = awaited_lines(order)
    requested = [
        LineRequest(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price)
        for line in awaited
        if line.sku is not None
    ]
    placed = order.model_copy(
        update={
            "lines": [*order.lines, *_order_lines(requested, order.currency, plan)],
            "unresolved_lines": [line for line in order.unresolved_lines if line not in awaited],
        }
    )
    return placed, _fulfillments(placed, plan, new_fulfillment_id, now)


def build_order(
    request: PlaceOrderRequest,
    *,
    channel_id: str,
    plan: SourcingPlan,
    order_id: str,
    new_fulfillment_id: Callable[[], str],
    now: datetime,
    unresolved: Sequence[UnresolvedLine] = (),
) -> tuple[Order, list[Fulfillment]]:
    """The order as placed (version 1), one pending fulfillment per allocated warehouse and one
    backorder (no warehouse) per SKU that no warehouse could take."""
    status = OrderStatus.BACKORDERED if plan.shortages else OrderStatus.PLACED
    order = Order(
        id=order_id,
        channel_id=channel_id,
        external_id=request.external_id,
        status=status,
        version=1,
        currency=request.currency,
        customer=request.customer,
        shipping_address=request.shipping_address,
        billing_address=request.billing_address,
        shipping_method=request.shipping_method,
        paid=request.paid,
        notify=request.notify,
        lines=_order_lines(request.lines, request.currency, plan),
        unresolved_lines=list(unresolved),
        totals=_totals(request, unresolved),
        created_at=now,
        updated_at=now,
    )
    return order, _fulfillments(order, plan, new_fulfillment_id, now)
