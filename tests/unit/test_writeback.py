"""Write-back planning (``chalicelib.domain.writeback``): reconcile, so any delivery order converges.

The property tests drive a simulated store with plans computed from snapshots of an order taken
at arbitrary moments, in any order, repeated, and interrupted half-way, and check that the
store ends exactly where one clean run on the final state puts it, with nothing written twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.models import Shipment, TrackedScan
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from chalicelib.domain.writeback import (
    AddOrderNote,
    CancelStoreOrder,
    CreateFulfillment,
    CreateFulfillmentEvent,
    LineView,
    Milestone,
    OrderView,
    ParcelGroup,
    ReachedMilestone,
    SetOrderStatus,
    ShopifyAction,
    ShopifyOrderState,
    StoreFulfillment,
    WooCommerceAction,
    WooCommerceOrderState,
    markers_in,
    milestones_of,
    order_view,
    plan_shopify,
    plan_woocommerce,
)
from tests.unit.builders import fulfillment, priced_order

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROUTE = (Milestone.IN_TRANSIT, Milestone.OUT_FOR_DELIVERY, Milestone.DELIVERY_ATTEMPTED, Milestone.DELIVERED)


# -- simulated stores ------------------------------------------------------------------------------


class ShopifySim:
    """A Shopify order as far as the write-back sees it; counts every call made."""

    def __init__(self) -> None:
        self.state = ShopifyOrderState(cancelled=False)
        self.calls = 0

    def apply(self, actions: list[ShopifyAction]) -> None:
        created: dict[str, str] = {}
        for action in actions:
            self.calls += 1
            fulfillments = list(self.state.fulfillments)
            if isinstance(action, CreateFulfillment):
                gid = f"gid://shopify/Fulfillment/{len(fulfillments) + 1}"
                created[action.parcel_key] = gid
                fulfillments.append(
                    StoreFulfillment(id=gid, tracking_numbers=action.tracking_numbers, lines=action.lines)
                )
            elif isinstance(action, CreateFulfillmentEvent):
                target = action.fulfillment_id or created[action.parcel_key]
                fulfillments = [
                    replace(f, events=f.events | {action.milestone}) if f.id == target else f
                    for f in fulfillments
                ]
            elif isinstance(action, CancelStoreOrder):
                assert not action.restock
                self.state = replace(self.state, cancelled=True)
            self.state = replace(self.state, fulfillments=tuple(fulfillments))

    def shape(self) -> list[tuple[tuple[str, ...], list[tuple[str, int]], list[str]]]:
        return sorted(
            (f.tracking_numbers, sorted(f.lines), sorted(m.value for m in f.events))
            for f in self.state.fulfillments
        )


class WooSim:
    def __init__(self) -> None:
        self.status = "processing"
        self.notes: list[str] = []

    @property
    def state(self) -> WooCommerceOrderState:
        return WooCommerceOrderState(status=self.status, note_markers=markers_in(self.notes))

    def apply(self, actions: list[WooCommerceAction]) -> None:
        for action in actions:
            if isinstance(action, AddOrderNote):
                self.notes.append(action.text)
            else:
                self.status = action.status


# -- orders that move forward ----------------------------------------------------------------------


@st.composite
def journeys(draw: st.DrawFn) -> list[OrderView]:
    """Snapshots of one order over time: parcel groups ship one after another and their
    milestones follow. Some parcel groups have no tracking number."""
    skus = draw(st.lists(st.sampled_from(["MUG-1", "TEE-M", "CAP-1"]), min_size=1, max_size=3, unique=True))
    quantities = {sku: draw(st.integers(1, 4)) for sku in skus}
    parcel_count = draw(st.integers(1, 3))
    # Each unit goes to a parcel group (or stays unshipped: None).
    shipped: list[Counter[str]] = [Counter() for _ in range(parcel_count)]
    for sku, quantity in quantities.items():
        for _ in range(quantity):
            target = draw(st.one_of(st.none(), st.integers(0, parcel_count - 1)))
            if target is not None:
                shipped[target][sku] += 1
    parcels = []
    for i, units in enumerate(shipped):
        if not units:
            continue
        tracked = draw(st.booleans())
        numbers = tuple(f"1Z{i}{j}" for j in range(draw(st.integers(1, 2)))) if tracked else ()
        reached = ROUTE[: draw(st.integers(0, len(ROUTE)))]
        parcels.append(
            ParcelGroup(
                key=f"ful_{i}",
                carrier="ups",
                tracking_numbers=numbers,
                tracking_url=f"https://track.example/{i}" if tracked else None,
                lines=tuple(sorted(units.items())),
                shipped_at=T0 + timedelta(hours=i),
                milestones=tuple(
                    ReachedMilestone(m, T0 + timedelta(days=1, hours=n)) for n, m in enumerate(reached)
                ),
            )
        )
    lines = tuple(LineView(sku=sku, quantity=q) for sku, q in quantities.items())
    # Progress: parcel groups appear in order, each first with no milestones, then more of them.
    snapshots = [OrderView("ord_1", "1001", False, lines, ())]
    for k, parcel in enumerate(parcels):
        for m in range(len(parcel.milestones) + 1):
            shown = (*parcels[:k], replace(parcel, milestones=parcel.milestones[:m]))
            snapshots.append(OrderView("ord_1", "1001", False, lines, shown))
    return snapshots


@st.composite
def deliveries(draw: st.DrawFn, snapshots: list[OrderView]) -> list[tuple[int, int | None]]:
    """Runs: which snapshot each read (late, repeated, out of order) and after how many calls it
    stopped (None: it finished)."""
    return draw(
        st.lists(
            st.tuples(st.integers(0, len(snapshots) - 1), st.one_of(st.none(), st.integers(0, 3))),
            max_size=12,
        )
    )


@settings(max_examples=200)
@given(data=st.data())
def test_shopify_converges_to_one_clean_run_whatever_the_order_of_runs(data: st.DataObject) -> None:
    snapshots = data.draw(journeys())
    runs = data.draw(deliveries(snapshots))
    store = ShopifySim()
    for index, stop in runs:
        plan = plan_shopify(snapshots[index], store.state)
        store.apply(plan if stop is None else plan[:stop])
    final = snapshots[-1]
    store.apply(plan_shopify(final, store.state))

    assert plan_shopify(final, store.state) == []
    clean = ShopifySim()
    clean.apply(plan_shopify(final, clean.state))
    assert store.shape() == clean.shape()
    numbers = [n for f in store.state.fulfillments for n in f.tracking_numbers]
    assert len(numbers) == len(set(numbers)), "a parcel group was fulfilled twice"
    assert len(store.state.fulfillments) == len(final.parcels)


@settings(max_examples=200)
@given(data=st.data())
def test_woocommerce_converges_and_never_writes_a_note_twice(data: st.DataObject) -> None:
    snapshots = data.draw(journeys())
    runs = data.draw(deliveries(snapshots))
    store = WooSim()
    for index, stop in runs:
        plan = plan_woocommerce(snapshots[index], store.state)
        store.apply(plan if stop is None else plan[:stop])
    final = snapshots[-1]
    store.apply(plan_woocommerce(final, store.state))

    assert plan_woocommerce(final, store.state) == []
    clean = WooSim()
    clean.apply(plan_woocommerce(final, clean.state))
    assert sorted(store.notes) == sorted(clean.notes)
    assert store.status == clean.status
    assert (store.status == "completed") == final.all_shipped()
    markers = [m for note in store.notes for m in markers_in([note])]
    assert len(markers) == len(set(markers))


# -- examples ---------------------------------------------------------------------------------------


def parcel(
    key: str, *numbers: str, lines: tuple[tuple[str, int], ...], reached: tuple[Milestone, ...] = ()
) -> ParcelGroup:
    return ParcelGroup(
        key=key,
        carrier="ups",
        tracking_numbers=numbers,
        tracking_url="https://track.example/x",
        lines=lines,
        shipped_at=T0,
        milestones=tuple(ReachedMilestone(m, T0) for m in reached),
    )


SPLIT = OrderView(
    "ord_1",
    "1001",
    False,
    (LineView("MUG-1", 2), LineView("TEE-M", 1)),
    (
        parcel("ful_a", "1ZA", lines=(("MUG-1", 2),), reached=(Milestone.DELIVERED,)),
        parcel("ful_b", "1ZB", lines=(("TEE-M", 1),)),
    ),
)


def test_a_split_shipment_becomes_one_shopify_fulfillment_per_parcel_group_with_its_events() -> None:
    plan = plan_shopify(SPLIT, ShopifyOrderState(cancelled=False))

    assert [type(a).__name__ for a in plan] == [
        "CreateFulfillment",
        "CreateFulfillmentEvent",
        "CreateFulfillment",
    ]
    assert [a.tracking_numbers for a in plan if isinstance(a, CreateFulfillment)] == [("1ZA",), ("1ZB",)]


def test_a_fulfillment_already_in_shopify_gets_only_its_missing_events() -> None:
    store = ShopifyOrderState(
        cancelled=False,
        fulfillments=(StoreFulfillment("gid://f/1", ("1ZA",), (("MUG-1", 2),)),),
    )

    plan = plan_shopify(SPLIT, store)

    assert plan[0] == CreateFulfillmentEvent("ful_a", "gid://f/1", Milestone.DELIVERED, T0)
    assert [a.parcel_key for a in plan if isinstance(a, CreateFulfillment)] == ["ful_b"]


def test_shopify_is_never_asked_to_fulfil_units_a_merchant_fulfilled_by_hand() -> None:
    by_hand = ShopifyOrderState(
        cancelled=False, fulfillments=(StoreFulfillment("gid://f/9", ("MANUAL",), (("MUG-1", 2),)),)
    )

    plan = plan_shopify(SPLIT, by_hand)

    assert [a.lines for a in plan if isinstance(a, CreateFulfillment)] == [(("TEE-M", 1),)]


def test_a_cancelled_order_cancels_the_shopify_order_once_without_restocking() -> None:
    cancelled = replace(SPLIT, cancelled=True, parcels=())

    assert plan_shopify(cancelled, ShopifyOrderState(cancelled=False)) == [CancelStoreOrder(restock=False)]
    assert plan_shopify(cancelled, ShopifyOrderState(cancelled=True)) == []


def test_woocommerce_completes_only_when_every_line_not_cancelled_has_shipped() -> None:
    first_only = replace(SPLIT, parcels=SPLIT.parcels[:1])
    tee_cancelled = replace(first_only, lines=(LineView("MUG-1", 2), LineView("TEE-M", 1, cancelled=1)))

    assert SetOrderStatus("completed") not in plan_woocommerce(
        first_only, WooCommerceOrderState("processing")
    )
    plan = plan_woocommerce(tee_cancelled, WooCommerceOrderState("processing"))
    assert plan[-1] == SetOrderStatus("completed")
    assert any(isinstance(a, AddOrderNote) and not a.customer_visible and "1 x TEE-M" in a.text for a in plan)


def test_a_woocommerce_parcel_note_names_the_carrier_and_the_tracking_link_and_is_visible() -> None:
    notes = [
        a for a in plan_woocommerce(SPLIT, WooCommerceOrderState("processing")) if isinstance(a, AddOrderNote)
    ]

    assert "ups" in notes[0].text and "1ZA" in notes[0].text and "https://track.example/x" in notes[0].text
    assert notes[0].customer_visible
    assert [n.marker for n in notes] == ["[oms:parcel:ful_a]", "[oms:delivered:ful_a]", "[oms:parcel:ful_b]"]


def test_a_note_is_recognised_by_its_marker_even_after_a_merchant_edited_around_it() -> None:
    assert markers_in(["Edited by Bob: shipped! [oms:parcel:ful_a] thanks"]) == {"[oms:parcel:ful_a]"}


def test_a_cancelled_order_cancels_an_open_woocommerce_order_but_not_a_completed_one() -> None:
    cancelled = replace(SPLIT, cancelled=True, parcels=())

    assert plan_woocommerce(cancelled, WooCommerceOrderState("processing")) == [SetOrderStatus("cancelled")]
    assert plan_woocommerce(cancelled, WooCommerceOrderState("cancelled")) == []


def _scan(status: TrackingStatus, minute: int, *, applied: bool = True) -> TrackedScan:
    return TrackedScan(
        status=status,
        raw_status=status.value,
        occurred_at=T0 + timedelta(minutes=minute),
        provider="easypost",
        applied=applied,
    )


def test_milestones_are_taken_once_each_from_applied_scans_in_carrier_time_order() -> None:
    shipped = fulfillment(("MUG-1", 1), status=FulfillmentStatus.DELIVERED).model_copy(
        update={
            "tracking_history": [
                _scan(TrackingStatus.DELIVERED, 30),
                _scan(TrackingStatus.DELIVERY_ATTEMPTED, 10),
                _scan(TrackingStatus.DELIVERY_ATTEMPTED, 20),
                _scan(TrackingStatus.OUT_FOR_DELIVERY, 5, applied=False),
                _scan(TrackingStatus.LABEL_CREATED, 1),
            ]
        }
    )

    assert [m.milestone for m in milestones_of(shipped)] == [
        Milestone.DELIVERY_ATTEMPTED,
        Milestone.DELIVERED,
    ]


def test_the_order_view_shows_only_fulfillments_that_left_the_warehouse() -> None:
    order = priced_order(("MUG-1", 2, "5.00"), status=OrderStatus.PARTIALLY_SHIPPED)
    shipment = Shipment(carrier="ups", service="ground", tracking_numbers=["1ZA"], shipped_at=T0)
    gone = fulfillment(("MUG-1", 1), status=FulfillmentStatus.SHIPPED, fulfillment_id="ful_a")
    waiting = fulfillment(("MUG-1", 1), status=FulfillmentStatus.PACKED, fulfillment_id="ful_b")

    view = order_view(order, [gone.model_copy(update={"shipment": shipment}), waiting])

    assert [p.key for p in view.parcels] == ["ful_a"]
    assert view.parcels[0].tracking_numbers == ("1ZA",)
    assert not view.all_shipped()
