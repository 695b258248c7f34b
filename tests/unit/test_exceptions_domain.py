"""Delivery exceptions' pure rules: the refund of units that never arrived (money, by property),
what a restock may hold, how the order's status follows a resolution, and the KPIs it moves."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.events import DomainEvent, OrderState
from chalicelib.domain.exception_payloads import FulfillmentExceptionRecorded, FulfillmentResolved
from chalicelib.domain.exceptions import RestockedItem, exception_refund, plan_restock, restock_errors
from chalicelib.domain.fulfillment import derive_order_status, follow_fulfillments
from chalicelib.domain.kpis import (
    Increment,
    Metric,
    increments_for,
    is_perfect_order,
    milestone_flags,
    order_facts,
)
from chalicelib.domain.models import ExceptionResolution, Fulfillment, FulfillmentLine
from chalicelib.domain.returns import ReceivedItem, ReturnCondition, assess_receipt
from chalicelib.domain.status import FulfillmentStatus, OrderStatus
from tests.unit.builders import START, fulfillment, priced_order

F = FulfillmentStatus
O = OrderStatus  # noqa: E741
PROPERTY = settings(max_examples=200, deadline=None)


def resolved(
    f: Fulfillment, action: str, refund_total: Decimal | None = None, **fields: object
) -> Fulfillment:
    status = F.REFUNDED if action == "refund" else F.RESHIPPED
    resolution = ExceptionResolution(
        action=action, resolved_at=START, resolved_by="admin:test", refund_total=refund_total, **fields
    )
    return f.model_copy(update={"status": status, "resolution": resolution})


# -- refund (money, by property) ----------------------------------------------------------------

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
order_lines = st.lists(st.tuples(st.integers(1, 5), prices), min_size=1, max_size=5)


@PROPERTY
@given(
    order_lines,
    st.decimals(min_value=0, max_value=Decimal("0.5"), places=2),
    st.decimals(min_value=0, max_value=Decimal("40"), places=2),
    st.decimals(min_value=0, max_value=Decimal("20"), places=2),
    st.randoms(use_true_random=False),
)
def test_refunding_every_lost_parcel_one_by_one_refunds_exactly_what_was_paid(
    items: list[tuple[int, Decimal]], discount_share: Decimal, tax: Decimal, shipping: Decimal, rnd: object
) -> None:
    skus = [(f"SKU-{i}", qty, str(price)) for i, (qty, price) in enumerate(items)]
    subtotal = sum((Decimal(price) * qty for _, qty, price in skus), Decimal(0))
    discount = (subtotal * discount_share).quantize(Decimal("0.01"))
    order = priced_order(*skus, discount=str(discount), tax=str(tax), shipping=str(shipping))
    parcels = [
        fulfillment((sku, qty), status=F.LOST, fulfillment_id=f"ful_{i}")
        for i, (sku, qty, _) in enumerate(skus)
    ]
    order_of_refunds = list(range(len(parcels)))
    rnd.shuffle(order_of_refunds)  # type: ignore[attr-defined]

    refunded = Decimal(0)
    for i in order_of_refunds:
        refund = exception_refund(order, parcels, [], parcels[i])
        assert Decimal(0) <= refund.total <= order.totals.total - refunded
        assert refund.total == refund.total.quantize(Decimal("0.01"))
        parcels[i] = resolved(parcels[i], "refund", refund.total)
        refunded += refund.total

    assert refunded == order.totals.total


@PROPERTY
@given(order_lines)
def test_a_refund_of_one_parcel_among_delivered_ones_is_its_units_price_and_never_the_shipping(
    items: list[tuple[int, Decimal]],
) -> None:
    skus = [(f"SKU-{i}", qty, str(price)) for i, (qty, price) in enumerate(items)]
    order = priced_order(*skus, shipping="4.99")
    lost = fulfillment((skus[0][0], skus[0][1]), status=F.LOST, fulfillment_id="ful_lost")
    others = [fulfillment((sku, qty), fulfillment_id=f"ful_{i}") for i, (sku, qty, _) in enumerate(skus[1:])]

    refund = exception_refund(order, [lost, *others], [], lost)

    assert refund.items == Decimal(skus[0][2]) * skus[0][1]
    assert refund.shipping == (Decimal(0) if others else Decimal("4.99"))


# -- restock --------------------------------------------------------------------------------------


def test_a_restock_splits_resellable_units_from_written_off_ones_and_refuses_more_than_was_shipped() -> None:
    parcel = fulfillment(("MUG-1", 2), ("TEE-M", 1), status=F.RETURNED_TO_SENDER)
    items = [
        RestockedItem("MUG-1", 1, True),
        RestockedItem("MUG-1", 1, False),
        RestockedItem("TEE-M", 1, True),
    ]

    plan = plan_restock(items)

    assert (plan.restocked, plan.written_off) == ({"MUG-1": 1, "TEE-M": 1}, {"MUG-1": 1})
    assert restock_errors(parcel, items) == []
    assert restock_errors(parcel, [RestockedItem("MUG-1", 3, True), RestockedItem("CAP-1", 1, True)]) == [
        "MUG-1: 3 came back but 2 were in the parcel",
        "CAP-1: 1 came back but 0 were in the parcel",
    ]


# -- the order's status -----------------------------------------------------------------------------


def test_the_order_follows_a_resolution_back_to_the_warehouse_to_partially_shipped_or_to_cancelled() -> None:
    order = priced_order(("MUG-1", 1, "10"), ("CAP-1", 1, "5"), status=O.SHIPPED)
    lost = fulfillment(("MUG-1", 1), status=F.LOST, fulfillment_id="ful_lost")
    other = fulfillment(("CAP-1", 1), status=F.IN_TRANSIT, fulfillment_id="ful_other")
    reship = fulfillment(("MUG-1", 1), status=F.RELEASED, fulfillment_id="ful_new").model_copy(
        update={"reship_of": "ful_lost"}
    )

    assert derive_order_status(order, [lost, other]) == O.SHIPPED
    assert follow_fulfillments(order, [resolved(lost, "reship"), reship]).status == O.IN_FULFILLMENT
    assert follow_fulfillments(order, [resolved(lost, "reship"), other, reship]).status == O.PARTIALLY_SHIPPED
    assert follow_fulfillments(order, [resolved(lost, "refund")]).status == O.CANCELLED
    assert follow_fulfillments(order, [resolved(lost, "refund"), other]).status == O.SHIPPED
    delivered = other.model_copy(update={"status": F.DELIVERED})
    partly = order.model_copy(update={"status": O.PARTIALLY_DELIVERED})
    assert follow_fulfillments(partly, [resolved(lost, "refund"), delivered]).status == O.DELIVERED


# -- KPIs -------------------------------------------------------------------------------------------


def recorded(payload: FulfillmentExceptionRecorded | FulfillmentResolved) -> DomainEvent:
    return DomainEvent.recording(
        payload,
        id="evt_1",
        occurred_at=START,
        actor="admin:test",
        order_id="ord_0001",
        channel_id="ch_web",
        version=2,
        order_state=OrderState(status=O.SHIPPED),
    )


def test_an_exception_and_a_reship_are_counted_and_a_refund_or_restock_is_not_a_reship() -> None:
    lines = [FulfillmentLine(sku="MUG-1", quantity=1)]
    exception = FulfillmentExceptionRecorded(
        fulfillment_id="ful_1",
        warehouse_id="wh_east",
        kind=F.LOST,
        source="operations",
        note=None,
        lines=lines,
    )
    common = {"fulfillment_id": "ful_1", "kind": F.LOST, "lines": lines, "reship_fulfillments": []}
    common |= {"warehouse_id": None, "restocked": {}, "written_off": {}, "refund": None}

    assert Increment(Metric.DELIVERY_EXCEPTIONS.value, 1) in increments_for(recorded(exception), None)
    reship = recorded(FulfillmentResolved.model_validate({**common, "action": "reship"}))
    assert Increment(Metric.RESHIPMENTS.value, 1) in increments_for(reship, None)
    for action in ("refund", "restock"):
        other = recorded(FulfillmentResolved.model_validate({**common, "action": action}))
        assert Increment(Metric.RESHIPMENTS.value, 1) not in increments_for(other, None)


def test_an_order_delivered_by_its_reship_is_not_a_perfect_order() -> None:
    order = priced_order(("MUG-1", 1, "10"), status=O.DELIVERED)
    lost = resolved(fulfillment(("MUG-1", 1), status=F.LOST, fulfillment_id="ful_lost"), "reship")
    reship = fulfillment(("MUG-1", 1), fulfillment_id="ful_new", delivered_at=START).model_copy(
        update={"reship_of": "ful_lost"}
    )

    facts = order_facts(order, [lost, reship], [])

    assert facts.delivery_problems is True
    assert is_perfect_order(facts) is False
    assert facts.fully_delivered_at == START  # the lost parcel no longer counts


def test_a_reship_leaving_does_not_count_the_order_as_shipped_a_second_time() -> None:
    order = priced_order(("MUG-1", 1, "10"), status=O.IN_FULFILLMENT)
    lost = fulfillment(("MUG-1", 1), status=F.LOST, fulfillment_id="ful_lost")
    reship = fulfillment(("MUG-1", 1), status=F.PACKED, fulfillment_id="ful_new")
    after_ship = reship.model_copy(update={"status": F.SHIPPED})
    shipped = order.model_copy(update={"status": O.SHIPPED})

    counted_before = resolved(lost, "reship", order_was_fully_shipped=True)
    flags = milestone_flags(order, [counted_before, reship], shipped, [counted_before, after_ship])
    assert flags["order_fully_shipped"] is False

    # An order whose other parcel had not left when the reship was decided is counted when it does.
    not_yet = resolved(lost, "reship", order_was_fully_shipped=False)
    flags = milestone_flags(order, [not_yet, reship], shipped, [not_yet, after_ship])
    assert flags["order_fully_shipped"] is True


@PROPERTY
@given(
    order_lines.filter(lambda items: len(items) >= 2),
    st.decimals(min_value=0, max_value=Decimal("20"), places=2),
)
def test_a_refunded_lost_parcel_and_a_full_return_of_the_rest_refund_exactly_what_was_paid(
    items: list[tuple[int, Decimal]], shipping: Decimal
) -> None:
    skus = [(f"SKU-{i}", qty, str(price)) for i, (qty, price) in enumerate(items)]
    order = priced_order(*skus, tax="3.10", discount="1.00", shipping=str(shipping))
    lost = fulfillment((skus[0][0], skus[0][1]), status=F.LOST, fulfillment_id="ful_lost")
    delivered = fulfillment(
        *[(sku, qty) for sku, qty, _ in skus[1:]], fulfillment_id="ful_ok", delivered_at=START
    )
    refund = exception_refund(order, [lost, delivered], [], lost)
    refunded = resolved(lost, "refund", refund.total)
    back = [
        ReceivedItem(sku=sku, quantity=qty, condition=ReturnCondition.RESELLABLE) for sku, qty, _ in skus[1:]
    ]

    receipt = assess_receipt(order, [refunded, delivered], [], back)

    assert receipt.returns_everything is True
    assert refund.total + receipt.refund.total == order.totals.total
