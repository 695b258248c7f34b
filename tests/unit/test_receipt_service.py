from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.models import Address, Customer, Fulfillment, FulfillmentLine, Hold, Order
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus
from chalicelib.service.order_updates import OrderChanges, update_order
from chalicelib.service.placement import place_order
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.receipt import RECEIPT_SCOPE, place_hold, receive_order, release_hold
from tests.unit.builders import (
    ADDRESS,
    EAST,
    WEB,
    WEST,
    lines,
    make_order,
    milestones,
    order_request,
    seed_catalogue,
)
from tests.unit.fakes import START, FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes

POLICY = HoldPolicy.parse("USD=1000;*=1000")
ADMIN = "admin:key_ops"
RECEIVED_AT = START + timedelta(minutes=2)  # Thursday 2026-11-26 09:32 UTC: 04:32 in New York
#: Released before the 15:00 cut-off: ships the same day, promised by the end of it, local time.
EAST_SHIP_BY = datetime(2026, 11, 27, 4, 59, 59, 999000, tzinfo=UTC)  # 23:59:59.999 EST
WEST_SHIP_BY = datetime(2026, 11, 27, 7, 59, 59, 999000, tzinfo=UTC)  # 23:59:59.999 PST


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    for sku in ("MUG-1", "TEE-M"):
        store.set_stock(EAST, sku, 10)
    store.set_stock(WEST, "CAP-1", 10)


class Shop:
    """Placement and the lifecycle use cases over one fake store."""

    def __init__(
        self, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
    ):
        self.store, self.uow_factory, self.ids, self.clock = store, uow_factory, ids, clock

    def place(self, **body: Any) -> str:
        result = place_order(
            self.uow_factory,
            order_request(**body),
            channel_id=WEB,
            idempotency_key=None,
            ids=self.ids,
            clock=self.clock,
        )
        return result.order.id

    def placed_event(self, order_id: str) -> DomainEvent:
        (event,) = [e for e in self.store.events_of(order_id) if e.type == "order.placed"]
        return event

    def receive(self, order_id: str) -> OrderAggregate | None:
        self.clock.set(RECEIVED_AT)
        return receive_order(
            self.uow_factory, self.placed_event(order_id), policy=POLICY, ids=self.ids, clock=self.clock
        )

    def hold(self, order_id: str, reason: HoldReason, note: str | None = None) -> OrderAggregate:
        return place_hold(
            self.uow_factory, order_id, reason, note, actor=ADMIN, ids=self.ids, clock=self.clock
        )

    def release(self, order_id: str, reason: HoldReason) -> OrderAggregate:
        return release_hold(self.uow_factory, order_id, reason, actor=ADMIN, ids=self.ids, clock=self.clock)

    def event_types(self, order_id: str) -> list[str]:
        return [e.type for e in self.store.events_of(order_id)]

    def statuses(self, order_id: str) -> list[FulfillmentStatus]:
        return [f.status for f in self.store.fulfillments_of(order_id)]


@pytest.fixture
def shop(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Shop:
    return Shop(store, uow_factory, ids, clock)


# -- receipt ----------------------------------------------------------------------------------


def test_receipt_confirms_a_clean_order_and_releases_its_fulfillments(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(lines=lines(("MUG-1", 2), ("CAP-1", 1)))

    result = shop.receive(order_id)

    order = store.order(order_id)
    assert result is not None and result.order == order
    assert (order.status, order.version, order.confirmed_at, order.updated_at) == (
        OrderStatus.CONFIRMED,
        2,
        RECEIVED_AT,
        RECEIVED_AT,
    )
    assert [
        (f.id, f.status, f.version, f.updated_at, f.ship_by) for f in store.fulfillments_of(order_id)
    ] == [
        ("ful_0001", FulfillmentStatus.RELEASED, 2, RECEIVED_AT, EAST_SHIP_BY),
        ("ful_0002", FulfillmentStatus.RELEASED, 2, RECEIVED_AT, WEST_SHIP_BY),
    ]
    confirmed = store.events_of(order_id)[1]
    assert confirmed == DomainEvent(
        id="evt_0002",
        type="order.confirmed",
        order_id=order_id,
        channel_id=WEB,
        version=2,
        occurred_at=RECEIVED_AT,
        actor="system:receipt",
        data={
            "status": "confirmed",
            **milestones(first_confirmation=True),
            "released": [
                {
                    "id": "ful_0001",
                    "warehouse_id": EAST,
                    "status": "released",
                    "ship_by": "2026-11-27T04:59:59.999000+00:00",
                    "lines": [{"sku": "MUG-1", "quantity": 2}],
                },
                {
                    "id": "ful_0002",
                    "warehouse_id": WEST,
                    "status": "released",
                    "ship_by": "2026-11-27T07:59:59.999000+00:00",
                    "lines": [{"sku": "CAP-1", "quantity": 1}],
                },
            ],
        },
    )
    assert store.dedup_record(RECEIPT_SCOPE, shop.placed_event(order_id).id) is not None
    assert store.committed_sizes[-1] == 5  # order, 2 fulfillments, event, dedup


def test_receipt_holds_an_unpaid_order_and_its_fulfillments(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(paid=False)

    shop.receive(order_id)

    order = store.order(order_id)
    assert (order.status, order.version, order.confirmed_at) == (OrderStatus.ON_HOLD, 2, None)
    assert order.holds == [
        Hold(
            reason=HoldReason.PAYMENT_PENDING,
            note="payment not captured yet",
            placed_at=RECEIVED_AT,
            placed_by="system:receipt",
        )
    ]
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD]
    on_hold = store.events_of(order_id)[-1]
    assert (on_hold.type, on_hold.version, on_hold.actor) == ("order.on_hold", 2, "system:receipt")
    assert on_hold.data == {
        "status": "on_hold",
        **milestones(),
        "holds": [{"reason": "payment_pending", "note": "payment not captured yet"}],
    }


def test_receipt_places_every_hold_that_applies(shop: Shop, store: FakeStore) -> None:
    address = order_request().shipping_address.model_dump() | {"postal_code": None}
    order_id = shop.place(paid=False, shipping_address=address)

    shop.receive(order_id)

    assert [h.reason for h in store.order(order_id).holds] == [
        HoldReason.PAYMENT_PENDING,
        HoldReason.ADDRESS_INVALID,
    ]


def test_receipt_of_a_backordered_order_releases_what_is_in_stock_and_keeps_the_backorder_waiting(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(lines=lines(("MUG-1", 12)))

    shop.receive(order_id)

    order = store.order(order_id)
    assert (order.status, order.version, order.confirmed_at) == (OrderStatus.BACKORDERED, 2, None)
    assert [
        (f.id, f.warehouse_id, f.status, f.version, f.ship_by) for f in store.fulfillments_of(order_id)
    ] == [
        ("ful_0001", EAST, FulfillmentStatus.RELEASED, 2, EAST_SHIP_BY),
        ("ful_0002", None, FulfillmentStatus.PENDING, 1, None),
    ]
    event = store.events_of(order_id)[-1]
    assert (event.type, event.data) == (
        "order.backordered",
        {
            "status": "backordered",
            **milestones(),
            "released": [
                {
                    "id": "ful_0001",
                    "warehouse_id": EAST,
                    "status": "released",
                    "ship_by": "2026-11-27T04:59:59.999000+00:00",
                    "lines": [{"sku": "MUG-1", "quantity": 10}],
                }
            ],
            "backordered": [{"sku": "MUG-1", "quantity": 2}],
        },
    )


def test_receipt_of_an_order_with_nothing_in_stock_releases_nothing(shop: Shop, store: FakeStore) -> None:
    store.set_stock(WEST, "CAP-1", 0)
    order_id = shop.place(lines=lines(("CAP-1", 1)))

    shop.receive(order_id)

    assert store.order(order_id).status == OrderStatus.BACKORDERED
    assert [(f.warehouse_id, f.status) for f in store.fulfillments_of(order_id)] == [
        (None, FulfillmentStatus.PENDING)
    ]
    assert store.events_of(order_id)[-1].data == {
        "status": "backordered",
        **milestones(),
        "released": [],
        "backordered": [{"sku": "CAP-1", "quantity": 1}],
    }


def test_a_redelivered_order_placed_event_changes_nothing(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    shop.receive(order_id)
    commits, order = store.commits, store.order(order_id)

    again = shop.receive(order_id)

    assert again is None
    assert store.commits == commits
    assert store.order(order_id) == order
    assert shop.event_types(order_id) == ["order.placed", "order.confirmed"]


def test_two_deliveries_racing_through_receipt_confirm_the_order_once(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    twin: list[OrderAggregate | None] = []
    store.before_next_commit(lambda: twin.append(shop.receive(order_id)))

    result = shop.receive(order_id)

    assert twin[0] is not None and twin[0].order.status == OrderStatus.CONFIRMED
    assert result is None
    assert shop.event_types(order_id) == ["order.placed", "order.confirmed"]


def test_receipt_leaves_alone_an_order_someone_already_cancelled(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    store.put_order(store.order(order_id).model_copy(update={"status": OrderStatus.CANCELLED, "version": 2}))

    assert shop.receive(order_id) is None
    assert store.order(order_id).status == OrderStatus.CANCELLED
    assert store.commits == 1


def test_an_order_held_by_an_admin_before_receipt_still_gets_the_receipts_hold_checks(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(paid=False)
    shop.hold(order_id, HoldReason.MANUAL, "customer called")
    shop.receive(order_id)

    shop.release(order_id, HoldReason.MANUAL)

    order = store.order(order_id)
    assert (order.status, [h.reason for h in order.holds]) == (
        OrderStatus.ON_HOLD,
        [HoldReason.PAYMENT_PENDING],
    )
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD]


# -- holds by hand ----------------------------------------------------------------------------


def test_a_confirmed_order_can_be_put_on_hold_and_its_released_work_is_held(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place()
    shop.receive(order_id)

    result = shop.hold(order_id, HoldReason.FRAUD_REVIEW, "chargeback history")

    order = store.order(order_id)
    assert result.order == order
    assert (order.status, order.version) == (OrderStatus.ON_HOLD, 3)
    assert [(h.reason, h.note, h.placed_by) for h in order.holds] == [
        (HoldReason.FRAUD_REVIEW, "chargeback history", ADMIN)
    ]
    assert [(f.status, f.version) for f in store.fulfillments_of(order_id)] == [
        (FulfillmentStatus.ON_HOLD, 3)
    ]
    event = store.events_of(order_id)[-1]
    assert (event.type, event.version, event.actor, event.data) == (
        "order.on_hold",
        3,
        ADMIN,
        {
            "status": "on_hold",
            **milestones(),
            "holds": [{"reason": "fraud_review", "note": "chargeback history"}],
        },
    )


def test_the_same_hold_twice_is_a_no_op(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    shop.receive(order_id)
    first = shop.hold(order_id, HoldReason.MANUAL)
    commits = store.commits

    second = shop.hold(order_id, HoldReason.MANUAL, "again")

    assert second.order == first.order
    assert store.commits == commits
    assert shop.event_types(order_id) == ["order.placed", "order.confirmed", "order.on_hold"]


def test_holding_an_order_in_fulfillment_holds_the_work_not_yet_packed(shop: Shop, store: FakeStore) -> None:
    order = make_order(status=OrderStatus.IN_FULFILLMENT, id="ord_9")

    def fulfillment(fid: str, status: FulfillmentStatus) -> Fulfillment:
        return Fulfillment(
            id=fid,
            order_id="ord_9",
            channel_id=WEB,
            warehouse_id=EAST,
            status=status,
            version=4,
            lines=[FulfillmentLine(sku="MUG-1", quantity=1)],
            created_at=START,
            updated_at=START,
        )

    store.put_order(
        order,
        [fulfillment("ful_a", FulfillmentStatus.PICKING), fulfillment("ful_b", FulfillmentStatus.PACKED)],
    )

    shop.hold("ord_9", HoldReason.MANUAL)

    assert [(f.id, f.status, f.version) for f in store.fulfillments_of("ord_9")] == [
        ("ful_a", FulfillmentStatus.ON_HOLD, 5),
        ("ful_b", FulfillmentStatus.PACKED, 4),
    ]


def test_releasing_one_of_two_holds_keeps_the_order_on_hold(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(paid=False)
    shop.receive(order_id)
    shop.hold(order_id, HoldReason.MANUAL)

    shop.release(order_id, HoldReason.PAYMENT_PENDING)

    order = store.order(order_id)
    assert (order.status, [h.reason for h in order.holds], order.version) == (
        OrderStatus.ON_HOLD,
        [HoldReason.MANUAL],
        4,
    )
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD]
    event = store.events_of(order_id)[-1]
    assert (event.type, event.data) == (
        "order.hold_released",
        {"status": "on_hold", **milestones(), "reason": "payment_pending", "remaining": ["manual"]},
    )


def test_releasing_the_last_hold_confirms_the_order_and_releases_its_work(
    shop: Shop, store: FakeStore, clock: FakeClock
) -> None:
    order_id = shop.place(paid=False)
    shop.receive(order_id)
    released_at = clock.advance(hours=1)

    shop.release(order_id, HoldReason.PAYMENT_PENDING)

    order = store.order(order_id)
    assert (order.status, order.holds, order.confirmed_at, order.version) == (
        OrderStatus.CONFIRMED,
        [],
        released_at,
        3,
    )
    assert [(f.status, f.version, f.ship_by) for f in store.fulfillments_of(order_id)] == [
        (FulfillmentStatus.RELEASED, 3, EAST_SHIP_BY)
    ]
    event = store.events_of(order_id)[-1]
    assert (event.type, event.actor) == ("order.confirmed", ADMIN)
    assert event.data == {
        "status": "confirmed",
        **milestones(first_confirmation=True),
        "released": [
            {
                "id": "ful_0001",
                "warehouse_id": EAST,
                "status": "released",
                "ship_by": "2026-11-27T04:59:59.999000+00:00",
                "lines": [{"sku": "MUG-1", "quantity": 2}],
            }
        ],
        "released_hold": "payment_pending",
    }


def test_confirming_again_after_a_hold_is_not_a_first_confirmation(
    shop: Shop, store: FakeStore, clock: FakeClock
) -> None:
    order_id = shop.place()
    shop.receive(order_id)
    shop.hold(order_id, HoldReason.MANUAL, "customer called")
    clock.advance(hours=1)

    shop.release(order_id, HoldReason.MANUAL)

    order = store.order(order_id)
    assert (order.status, order.confirmed_at) == (OrderStatus.CONFIRMED, RECEIVED_AT)  # the first one's
    confirmations = [e for e in store.events_of(order_id) if e.type == "order.confirmed"]
    assert [(e.version, e.data["first_confirmation"]) for e in confirmations] == [(2, True), (4, False)]
    assert confirmations[-1].data == {
        "status": "confirmed",
        **milestones(),
        "released": [
            {
                "id": "ful_0001",
                "warehouse_id": EAST,
                "status": "released",
                "ship_by": "2026-11-27T04:59:59.999000+00:00",
                "lines": [{"sku": "MUG-1", "quantity": 2}],
            }
        ],
        "released_hold": "manual",
    }


def test_a_hold_pauses_the_clock_the_promise_counts_from_the_release(
    shop: Shop, store: FakeStore, clock: FakeClock
) -> None:
    order_id = shop.place(paid=False)
    shop.receive(order_id)
    clock.set(datetime(2026, 11, 26, 20, 32, tzinfo=UTC))  # 15:32 in New York: past the cut-off

    shop.release(order_id, HoldReason.PAYMENT_PENDING)

    (fulfillment,) = store.fulfillments_of(order_id)
    # Friday's end in New York, not Thursday's: the time on hold does not count against the warehouse.
    assert fulfillment.ship_by == datetime(2026, 11, 28, 4, 59, 59, 999000, tzinfo=UTC)


def test_releasing_the_last_hold_of_a_backordered_order_returns_it_to_its_backorder(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(paid=False, lines=lines(("MUG-1", 11)))
    shop.receive(order_id)
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD, FulfillmentStatus.ON_HOLD]

    shop.release(order_id, HoldReason.PAYMENT_PENDING)

    assert store.order(order_id).status == OrderStatus.BACKORDERED
    # The part in stock goes to the warehouse; the backorder goes back to waiting for stock.
    assert [(f.warehouse_id, f.status) for f in store.fulfillments_of(order_id)] == [
        (EAST, FulfillmentStatus.RELEASED),
        (None, FulfillmentStatus.PENDING),
    ]
    assert store.events_of(order_id)[-1].data == {
        "status": "backordered",
        **milestones(),
        "released": [
            {
                "id": "ful_0001",
                "warehouse_id": EAST,
                "status": "released",
                "ship_by": "2026-11-27T04:59:59.999000+00:00",
                "lines": [{"sku": "MUG-1", "quantity": 10}],
            }
        ],
        "backordered": [{"sku": "MUG-1", "quantity": 1}],
        "released_hold": "payment_pending",
    }


def test_releasing_a_hold_the_order_does_not_have_is_not_found(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(paid=False)
    shop.receive(order_id)

    with pytest.raises(NotFound) as excinfo:
        shop.release(order_id, HoldReason.FRAUD_REVIEW)

    assert (excinfo.value.what, excinfo.value.ident) == ("hold", f"fraud_review on order {order_id}")
    assert store.order(order_id).version == 2


def test_holding_an_order_that_does_not_exist_is_not_found(shop: Shop) -> None:
    with pytest.raises(NotFound, match="order ord_nope does not exist"):
        shop.hold("ord_nope", HoldReason.MANUAL)


def test_holding_a_cancelled_order_is_a_conflict_naming_its_state(shop: Shop, store: FakeStore) -> None:
    store.put_order(make_order(status=OrderStatus.CANCELLED))

    with pytest.raises(Conflict) as excinfo:
        shop.hold("ord_0001", HoldReason.MANUAL)

    assert str(excinfo.value) == "order is cancelled and can no longer be held"
    assert (excinfo.value.current, excinfo.value.allowed) == ("cancelled", [])
    assert store.commits == 0


def test_holding_a_shipped_order_names_what_it_still_allows(shop: Shop, store: FakeStore) -> None:
    store.put_order(make_order(status=OrderStatus.SHIPPED))

    with pytest.raises(Conflict) as excinfo:
        shop.hold("ord_0001", HoldReason.MANUAL)

    assert (excinfo.value.current, excinfo.value.allowed) == (
        "shipped",
        ["deliver_partially", "deliver_all", "reopen_fulfillment", "reopen_partially", "refund_undelivered"],
    )


def test_a_hold_retries_on_the_fresh_version_when_the_order_changes_underneath_it(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place()
    shop.receive(order_id)

    store.before_next_commit(lambda: shop.hold(order_id, HoldReason.FRAUD_REVIEW, "flagged by the PSP"))

    shop.hold(order_id, HoldReason.MANUAL)

    order = store.order(order_id)
    assert (order.status, order.version) == (OrderStatus.ON_HOLD, 4)
    assert [h.reason for h in order.holds] == [HoldReason.FRAUD_REVIEW, HoldReason.MANUAL]
    assert [(e.version, e.type) for e in store.events_of(order_id)] == [
        (1, "order.placed"),
        (2, "order.confirmed"),
        (3, "order.on_hold"),
        (4, "order.on_hold"),
    ]


# -- store updates (update_order) ---------------------------------------------------------------


def update(
    shop: Shop, order_id: str, authorize: Callable[[Order], None] | None = None, **changes: Any
) -> OrderAggregate:
    return update_order(
        shop.uow_factory,
        order_id,
        OrderChanges(**changes),
        policy=POLICY,
        authorize=authorize or (lambda _: None),
        actor="channel:ch_web",
        ids=shop.ids,
        clock=shop.clock,
    )


def address(**fields: Any) -> Address:
    return Address.model_validate({**ADDRESS, **fields})


def test_payment_lifts_payment_pending_and_confirms_an_order_it_was_the_last_hold_of(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(paid=False)
    shop.receive(order_id)
    shop.clock.advance(minutes=10)

    result = update(shop, order_id, paid=True)

    assert result.order == store.order(order_id)
    assert (result.order.status, result.order.paid, result.order.holds) == (OrderStatus.CONFIRMED, True, [])
    assert shop.statuses(order_id) == [FulfillmentStatus.RELEASED]
    confirmed = store.events_of(order_id)[-1]
    assert (confirmed.type, confirmed.actor) == ("order.confirmed", "channel:ch_web")
    assert (confirmed.data["changed"], confirmed.data["holds_lifted"]) == (["paid"], ["payment_pending"])
    assert confirmed.data["first_confirmation"] is True


def test_payment_lifts_payment_pending_but_a_fraud_review_keeps_the_order_held(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(paid=False, billing_address={**ADDRESS, "country": "CA", "region": "ON"})
    assert shop.receive(order_id).order.hold_reasons == {HoldReason.PAYMENT_PENDING, HoldReason.FRAUD_REVIEW}

    result = update(shop, order_id, paid=True)

    assert (result.order.status, result.order.hold_reasons) == (
        OrderStatus.ON_HOLD,
        {HoldReason.FRAUD_REVIEW},
    )
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD]
    updated = store.events_of(order_id)[-1]
    assert (updated.type, updated.data["holds_lifted"]) == ("order.updated", ["payment_pending"])


def test_a_postal_code_supplied_later_lifts_address_invalid(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(shipping_address={**ADDRESS, "postal_code": None})
    assert shop.receive(order_id).order.hold_reasons == {HoldReason.ADDRESS_INVALID}

    result = update(shop, order_id, shipping_address=address(postal_code="62704"))

    assert (result.order.status, result.order.shipping_address.postal_code) == (
        OrderStatus.CONFIRMED,
        "62704",
    )
    assert store.events_of(order_id)[-1].data["holds_lifted"] == ["address_invalid"]


def test_a_fraud_review_is_never_lifted_by_the_change_that_removes_its_cause(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place(billing_address={**ADDRESS, "country": "CA", "region": "ON"})
    assert shop.receive(order_id).order.hold_reasons == {HoldReason.FRAUD_REVIEW}

    result = update(shop, order_id, billing_address=address())

    assert (result.order.status, result.order.hold_reasons) == (
        OrderStatus.ON_HOLD,
        {HoldReason.FRAUD_REVIEW},
    )
    assert result.order.billing_address == address()
    updated = store.events_of(order_id)[-1]
    assert (updated.type, updated.data["changed"], updated.data["holds_lifted"]) == (
        "order.updated",
        ["billing_address"],
        [],
    )


def test_a_change_that_raises_a_new_finding_holds_a_confirmed_order_and_its_work(
    shop: Shop, store: FakeStore
) -> None:
    order_id = shop.place()
    shop.receive(order_id)

    result = update(
        shop, order_id, billing_address=address(country="GB", region=None, postal_code="SW1A 1AA")
    )

    assert (result.order.status, result.order.hold_reasons) == (
        OrderStatus.ON_HOLD,
        {HoldReason.FRAUD_REVIEW},
    )
    assert shop.statuses(order_id) == [FulfillmentStatus.ON_HOLD]
    held = store.events_of(order_id)[-1]
    assert (held.type, held.data["changed"]) == ("order.on_hold", ["billing_address"])
    assert "billing country GB differs from shipping country US" in held.data["holds"][0]["note"]


def test_the_same_changes_again_record_nothing(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    shop.receive(order_id)
    update(
        shop, order_id, shipping_method="express", customer=Customer(email="ada@example.com", name="Ada L.")
    )
    before = store.snapshot()

    result = update(
        shop, order_id, shipping_method="express", customer=Customer(email="ada@example.com", name="Ada L.")
    )

    assert result.order == store.order(order_id)
    assert store.snapshot() == before


def test_a_new_address_once_the_work_is_packed_is_a_conflict_naming_the_fulfillment(
    shop: Shop, store: FakeStore
) -> None:
    stock_boxes(store)
    order_id = shop.place()
    shop.receive(order_id)
    road = Road(store, shop.uow_factory, shop.ids, shop.clock)
    (work,) = store.fulfillments_of(order_id)
    road.pick(work.id)
    road.pack(work.id)
    before = store.snapshot()

    with pytest.raises(Conflict) as raised:
        update(shop, order_id, shipping_address=address(line1="2 Elm St"))

    assert f"{work.id} (packed)" in str(raised.value)
    assert store.snapshot() == before
    update(shop, order_id, shipping_method="express")  # what is not the address may still change
    assert store.order(order_id).shipping_method == "express"


def test_a_new_address_while_the_work_is_still_being_picked_is_taken(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    shop.receive(order_id)
    road = Road(store, shop.uow_factory, shop.ids, shop.clock)
    road.pick(store.fulfillments_of(order_id)[0].id)

    result = update(shop, order_id, shipping_address=address(line1="2 Elm St"))

    assert result.order.shipping_address.line1 == "2 Elm St"


def test_a_cancelled_order_cannot_be_updated(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    road = Road(store, shop.uow_factory, shop.ids, shop.clock)
    road.cancel(order_id)

    with pytest.raises(Conflict, match="cancelled"):
        update(shop, order_id, paid=False)


def test_an_update_the_caller_may_not_make_writes_nothing(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place()
    before = store.snapshot()
    seen: list[str] = []

    def refuse(order: Order) -> None:
        seen.append(order.id)
        raise PermissionError("not your order")

    with pytest.raises(PermissionError):
        update(shop, order_id, refuse, shipping_method="express")

    assert seen == [order_id]
    assert store.snapshot() == before


def test_updating_an_order_that_does_not_exist_is_not_found(shop: Shop) -> None:
    with pytest.raises(NotFound):
        update(shop, "ord_9999", paid=True)


def test_an_update_before_receipt_lifts_no_hold_and_releases_nothing(shop: Shop, store: FakeStore) -> None:
    order_id = shop.place(paid=False)
    shop.hold(order_id, HoldReason.PAYMENT_PENDING, "waiting for the bank transfer")

    update(shop, order_id, shipping_method="express")

    order = store.order(order_id)
    assert (order.status, order.hold_reasons) == (OrderStatus.ON_HOLD, {HoldReason.PAYMENT_PENDING})
    assert FulfillmentStatus.RELEASED not in shop.statuses(order_id)
