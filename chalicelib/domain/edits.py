"""Order edits before picking: the request, and the pure plan of what an edit changes.

An edit rewrites the order (unlike a cancellation, which keeps the cancelled units on their
lines): removed units leave their lines, added units join a line of the same SKU and price or
make a new one, and the totals are computed again from the lines, so the order always reads as
if it had been placed as it now is. The difference of the totals is what the customer owes
(positive) or is owed (negative).

Invariants kept by ``plan_edit``:
- units are removed only from fulfillments the warehouse has not started picking (pending,
  on hold, released) and from backorders; a removal that would reach further is refused whole
  (``EditRefused``), nothing is half-applied;
- every line keeps ``backordered + cancelled <= quantity``, and a SKU's backordered units are
  the old ones, less those removed from backorders, plus the added units no warehouse holds;
- ``totals`` equal a fresh computation from the lines (``order_totals``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Self

from pydantic import Field, model_validator

from .errors import Conflict, FieldError
from .fulfillment import CancellationPlan, NothingLeftToCancel, plan_cancellation
from .models import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    Fulfillment,
    FulfillmentLine,
    Line,
    OrderLine,
    OrderTotals,
    Product,
    Sku,
    Strict,
    UnresolvedLine,
)
from .money import CURRENCY_EXPONENTS, Amount, MoneyError, check_amount_for_currency
from .placement import LineRequest
from .status import FulfillmentStatus, FulfillmentTrigger, OrderStatus, next_fulfillment_status

F = FulfillmentStatus

#: Fulfillment states whose units an edit may take away or join: the warehouse has not started
#: picking (a released fulfillment is on a pick list, but nobody has walked to the shelf yet).
EDITABLE = frozenset({F.PENDING, F.ON_HOLD, F.RELEASED})


def is_editable(fulfillment: Fulfillment) -> bool:
    """Not picked yet: in an ``EDITABLE`` state and, for one on hold (a hold also stops picked
    work), never picked."""
    return fulfillment.status in EDITABLE and fulfillment.picked_at is None


#: Order states in which nothing may be edited any more.
NOT_EDITABLE_ORDERS = frozenset(
    {
        OrderStatus.CANCELLED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.PARTIALLY_DELIVERED,
        OrderStatus.PARTIALLY_RETURNED,
        OrderStatus.RETURNED,
    }
)
#: At most this many entries in one edit's ``add`` and ``change``.
MAX_EDIT_ENTRIES = 100


class EditAdd(Strict):
    """Units of a SKU to add, at a price."""

    sku: Sku
    quantity: Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY, strict=True)]
    unit_price: Amount


class EditChange(Strict):
    """The new quantity of a SKU already on the order (0 removes it)."""

    sku: Sku
    quantity: Annotated[int, Field(ge=0, le=MAX_LINE_QUANTITY, strict=True)] = Field(
        description="The units of the SKU the order should now have (not counting units already "
        "cancelled); 0 removes the SKU."
    )


class OrderEditRequest(Strict):
    """``POST /v1/orders/{id}/edits``: lines to add and SKU quantities to change."""

    add: Annotated[list[EditAdd], Field(max_length=MAX_EDIT_ENTRIES)] = Field(default_factory=list)
    change: Annotated[list[EditChange], Field(max_length=MAX_EDIT_ENTRIES)] = Field(default_factory=list)
    reason: Annotated[Line, Field(min_length=1, max_length=500)]
    #: The order's new shipping, tax and discount totals (a store edit sends the store's); omitted:
    #: unchanged.
    shipping_total: Amount | None = Field(
        default=None, description="The new shipping total; omitted: unchanged."
    )
    tax_total: Amount | None = Field(default=None, description="The new tax total; omitted: unchanged.")
    discount_total: Amount | None = Field(
        default=None, description="The new discount total; omitted: unchanged."
    )

    @model_validator(mode="after")
    def _each_sku_once(self) -> Self:
        if not self.add and not self.change:
            raise ValueError("an edit adds or changes at least one line")
        changed = [entry.sku for entry in self.change]
        if len(set(changed)) != len(changed):
            raise ValueError("name each SKU at most once in change")
        both = set(changed) & {entry.sku for entry in self.add}
        if both:
            raise ValueError(f"a SKU is either added or changed, not both: {', '.join(sorted(both))}")
        return self

    def request_hash(self) -> str:
        """Fingerprint of the edit's meaning: the same edit again has the same hash."""
        data = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class EditRefused(Conflict):
    """The edit cannot apply in the order's current state (409); ``reason`` is machine-readable:
    ``picking-started`` (``fulfillment_ids`` name the fulfillments in the way), ``already-shipped``
    or ``order-closed``."""

    def __init__(
        self, reason: str, detail: str, *, current: str, fulfillment_ids: Sequence[str] = ()
    ) -> None:
        self.reason = reason
        self.fulfillment_ids = list(fulfillment_ids)
        super().__init__(detail, current=current, allowed=[])


def open_quantities(lines: Sequence[OrderLine]) -> dict[str, int]:
    """SKU -> units the order still has (ordered, not cancelled)."""
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity - line.cancelled
    return units


def edit_errors(
    request: OrderEditRequest, lines: Sequence[OrderLine], currency: str, products: Mapping[str, Product]
) -> list[FieldError]:
    """What the schema cannot say: SKUs to change must be on the order, SKUs to add sold,
    prices exact in the order's currency, and the order left with at least one unit."""
    errors: list[FieldError] = []
    have = open_quantities(lines)
    for i, change in enumerate(request.change):
        if have.get(change.sku, 0) == 0:
            errors.append(
                FieldError(["change", i, "sku"], f"{change.sku} is not on the order", "unknown_sku")
            )
    for i, added in enumerate(request.add):
        product = products.get(added.sku)
        if product is None:
            errors.append(FieldError(["add", i, "sku"], f"unknown SKU {added.sku}", "unknown_sku"))
        elif not product.active:
            errors.append(
                FieldError(["add", i, "sku"], f"SKU {added.sku} is not sold any more", "inactive_sku")
            )
        errors += _amount_errors(["add", i, "unit_price"], added.unit_price, currency)
    for name in ("shipping_total", "tax_total", "discount_total"):
        amount = getattr(request, name)
        if amount is not None:
            errors += _amount_errors([name], amount, currency)
    removes_all = {c.sku for c in request.change if c.quantity == 0} >= {s for s, u in have.items() if u}
    if not errors and not request.add and removes_all:
        errors.append(FieldError(["change"], "an edit cannot remove every unit; cancel the order instead"))
    return errors


def _amount_errors(loc: list[str | int], amount: Decimal, currency: str) -> list[FieldError]:
    if amount < 0:
        return [FieldError(loc, "amounts cannot be negative", "money")]
    try:
        check_amount_for_currency(amount, currency)
    except MoneyError as exc:
        return [FieldError(loc, str(exc), "money")]
    return []


@dataclass(frozen=True)
class Demand:
    """What an edit asks of the stock: units to remove per SKU, units to add (with prices)."""

    removals: dict[str, int] = field(default_factory=dict)
    additions: list[EditAdd] = field(default_factory=list)

    def added_units(self) -> dict[str, int]:
        units: dict[str, int] = {}
        for added in self.additions:
            units[added.sku] = units.get(added.sku, 0) + added.quantity
        return units


def edit_demand(request: OrderEditRequest, lines: Sequence[OrderLine]) -> Demand:
    """A change to a lower quantity removes units; to a higher one adds units at the price of the
    SKU's last line; ``add`` entries add at their own price."""
    have = open_quantities(lines)
    removals: dict[str, int] = {}
    additions = list(request.add)
    for change in request.change:
        current = have.get(change.sku, 0)
        if change.quantity < current:
            removals[change.sku] = current - change.quantity
        elif change.quantity > current:
            price = next(line.unit_price for line in reversed(lines) if line.sku == change.sku)
            additions.append(EditAdd(sku=change.sku, quantity=change.quantity - current, unit_price=price))
    return Demand(removals=removals, additions=additions)


def plan_removal(
    fulfillments: Sequence[Fulfillment], removals: Mapping[str, int], order_status: str
) -> CancellationPlan:
    """Which fulfillments give up the removed units: backorders first, then those least far
    along (as a cancellation takes them). Refused whole when the units can only come from a
    fulfillment the warehouse started picking, or when they have shipped."""
    if not removals:
        return CancellationPlan()
    try:
        plan = plan_cancellation(fulfillments, removals)
    except NothingLeftToCancel as exc:
        raise EditRefused(
            "already-shipped", f"{exc.sku}: the units to remove have shipped already", current=order_status
        ) from None
    started = [f for f in fulfillments if f.id in plan.remaining and not is_editable(f)]
    started += [f for f in plan.blocking if f not in started]
    if started:
        names = ", ".join(f"{f.id} ({f.status.value})" for f in started)
        raise EditRefused(
            "picking-started",
            f"too late to edit: picking started on fulfillments {names}",
            current=order_status,
            fulfillment_ids=[f.id for f in started],
        )
    return plan


def edited_lines(
    lines: Sequence[OrderLine],
    demand: Demand,
    *,
    backorder_removed: Mapping[str, int],
    shortages: Mapping[str, int],
    currency: str,
) -> list[OrderLine]:
    """The order's lines after the edit: removed units leave the last lines of their SKU first
    (a line left with nothing is dropped), added units join the last line of the same SKU and
    price or make a new line, and each touched SKU's backordered units are booked again."""
    q = _quantum(currency)
    result = list(lines)
    for sku, units in demand.removals.items():
        left = units
        for i in range(len(result) - 1, -1, -1):
            line = result[i]
            take = min(left, line.quantity - line.cancelled) if line.sku == sku else 0
            if take:
                left -= take
                result[i] = _priced(line, line.quantity - take, q)
        result = [line for line in result if line.quantity > 0]
    for added in demand.additions:
        price = added.unit_price.quantize(q)
        same = next(
            (
                i
                for i in range(len(result) - 1, -1, -1)
                if (result[i].sku, result[i].unit_price) == (added.sku, price)
            ),
            None,
        )
        if same is None:
            result.append(
                OrderLine(sku=added.sku, quantity=0, unit_price=price, line_total=Decimal(0).quantize(q))
            )
            same = len(result) - 1
        result[same] = _priced(result[same], result[same].quantity + added.quantity, q)
    touched = set(demand.removals) | set(demand.added_units())
    for sku in touched:
        waiting = sum(line.backordered for line in lines if line.sku == sku)
        waiting += shortages.get(sku, 0) - backorder_removed.get(sku, 0)
        result = _book_waiting(result, sku, max(0, waiting))
    return result


def _priced(line: OrderLine, quantity: int, q: Decimal) -> OrderLine:
    return line.model_copy(
        update={"quantity": quantity, "line_total": (line.unit_price * quantity).quantize(q)}
    )


def _book_waiting(lines: list[OrderLine], sku: str, waiting: int) -> list[OrderLine]:
    """Spread ``waiting`` backordered units of ``sku`` over its lines, last line first, never more
    than a line has open (as placement books a shortage)."""
    result = list(lines)
    left = waiting
    for i in range(len(result) - 1, -1, -1):
        line = result[i]
        if line.sku != sku:
            continue
        take = min(left, line.quantity - line.cancelled)
        left -= take
        result[i] = line.model_copy(update={"backordered": take})
    return result


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency])


def order_totals(
    lines: Sequence[OrderLine],
    unresolved: Sequence[UnresolvedLine],
    *,
    currency: str,
    shipping: Decimal,
    tax: Decimal,
    discount: Decimal,
) -> OrderTotals:
    """The totals computed afresh from the lines, as placement computes them: every unit ordered
    (cancelled ones included, as placement and cancellation keep them) plus unresolved lines."""
    q = _quantum(currency)
    subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    subtotal += sum((line.unit_price * line.quantity for line in unresolved), Decimal(0))
    return OrderTotals(
        subtotal=subtotal.quantize(q),
        shipping=shipping.quantize(q),
        tax=tax.quantize(q),
        discount=discount.quantize(q),
        total=(subtotal + shipping + tax - discount).quantize(q),
    )


def check_line_count(lines: Sequence[OrderLine]) -> list[FieldError]:
    if len(lines) > MAX_LINES:
        return [FieldError(["add"], f"an order has at most {MAX_LINES} lines")]
    return []


def after_removal(
    fulfillments: Sequence[Fulfillment], plan: CancellationPlan, *, reason: str
) -> list[Fulfillment]:
    """The fulfillments with the removed units taken away; one left with nothing is cancelled."""
    result = []
    for f in fulfillments:
        if f.id not in plan.remaining:
            result.append(f)
        elif plan.remaining[f.id]:
            result.append(f.model_copy(update={"lines": plan.remaining[f.id]}))
        else:
            result.append(
                f.model_copy(
                    update={
                        "status": next_fulfillment_status(f.status, FulfillmentTrigger.CANCEL),
                        "cancel_reason": reason,
                    }
                )
            )
    return result


def join_additions(
    fulfillments: Sequence[Fulfillment], allocations: Mapping[str, Mapping[str, int]]
) -> tuple[list[Fulfillment], dict[str, dict[str, int]]]:
    """Added units a warehouse was chosen for join that warehouse's oldest fulfillment of the
    order that picking has not started (one parcel rather than two). Returns the fulfillments and
    the allocations left for new fulfillments (warehouses with no such fulfillment)."""
    result = list(fulfillments)
    left: dict[str, dict[str, int]] = {}
    for warehouse_id, skus in allocations.items():
        joinable = [
            i
            for i, f in enumerate(result)
            if f.warehouse_id == warehouse_id and f.is_active and is_editable(f)
        ]
        if not joinable:
            left[warehouse_id] = dict(skus)
            continue
        i = min(joinable, key=lambda k: result[k].created_at)
        units = {line.sku: line.quantity for line in result[i].lines}
        for sku, quantity in skus.items():
            units[sku] = units.get(sku, 0) + quantity
        result[i] = result[i].model_copy(
            update={"lines": [FulfillmentLine(sku=sku, quantity=qty) for sku, qty in units.items()]}
        )
    return result, left


#: The reason a store's line edit records.
STORE_EDIT_REASON = "the order's lines were edited in the store"


def store_edit_request(
    lines: Sequence[OrderLine],
    store_lines: Sequence[LineRequest],
    *,
    shipping: Decimal,
    tax: Decimal,
    discount: Decimal,
) -> OrderEditRequest | None:
    """The edit that makes the order's lines what the store now sells (None: the same units).

    Compared per SKU with the units the order was placed with (cancelled units included, as the
    store still counts them until it hears of the cancellation): fewer units in the store remove
    that many of the order's open units, more add them at the store's price, a SKU new to the order
    is added at the store's price."""
    ordered: dict[str, int] = {}
    for line in lines:
        ordered[line.sku] = ordered.get(line.sku, 0) + line.quantity
    sold: dict[str, int] = {}
    price: dict[str, Decimal] = {}
    for store_line in store_lines:
        sold[store_line.sku] = sold.get(store_line.sku, 0) + store_line.quantity
        price[store_line.sku] = store_line.unit_price
    have = open_quantities(lines)
    add: list[EditAdd] = []
    change: list[EditChange] = []
    for sku in [*ordered, *(s for s in sold if s not in ordered)]:
        delta = sold.get(sku, 0) - ordered.get(sku, 0)
        if delta > 0:
            add.append(EditAdd(sku=sku, quantity=delta, unit_price=price[sku]))
        elif delta < 0:
            change.append(EditChange(sku=sku, quantity=max(0, have.get(sku, 0) + delta)))
    if not add and not change:
        return None
    return OrderEditRequest(
        add=add,
        change=change,
        reason=STORE_EDIT_REASON,
        shipping_total=shipping,
        tax_total=tax,
        discount_total=discount,
    )
