from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import (
    ConcurrencyConflict,
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    InputInvalid,
    InsufficientStock,
    NotFound,
    TooLarge,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.domain.status import FulfillmentStatus, OrderStatus
from chalicelib.service.placement import (
    IDEMPOTENCY_TTL_SECONDS,
    MAX_ATTEMPTS,
    PlacementResult,
    external_id_scope,
    idempotency_scope,
    place_order,
)
from chalicelib.service.ports import DedupRecord, StockConflict
from tests.unit.builders import EAST, STRICT, WEB, WEST, lines, order_request, seed_catalogue
from tests.unit.fakes import (
    START,
    FakeClock,
    FakeStore,
    FakeUnitOfWork,
    FakeUnitOfWorkFactory,
    SequentialIds,
)

#: What a stock level says about quantities (thresholds are not the subject here).
LEVEL_FIELDS = {"sku", "warehouse_id", "on_hand", "reserved", "available", "bin"}


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)


def place(
    uow_factory: FakeUnitOfWorkFactory,
    ids: SequentialIds,
    clock: FakeClock,
    request: PlaceOrderRequest,
    *,
    channel_id: str = WEB,
    idempotency_key: str | None = None,
) -> PlacementResult:
    return place_order(
        uow_factory, request, channel_id=channel_id, idempotency_key=idempotency_key, ids=ids, clock=clock
    )


def available(store: FakeStore) -> dict[tuple[str, str], int]:
    return {key: row.available for key, row in store.stock.items()}


def assert_nothing_written(store: FakeStore, stock_before: dict[tuple[str, str], int]) -> None:
    assert store.commits == 0
    assert store.orders == {}
    assert store.events == {}
    assert store.dedup == {}
    assert available(store) == stock_before


# -- the happy path ---------------------------------------------------------------------------


def test_placement_writes_order_fulfillment_reservations_event_and_dedup_in_one_commit(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    store.set_stock(EAST, "TEE-M", 1)
    request = order_request(lines=[*lines(("MUG-1", 2), price="12.50"), *lines(("TEE-M", 1), price="20")])

    result = place(uow_factory, ids, clock, request, idempotency_key="key-1")

    assert result.created is True
    assert store.commits == 1
    # order + fulfillment + 2 reservations + event + external-id dedup + idempotency dedup
    assert store.committed_sizes == [7]
    order = store.order("ord_0001")
    assert order == result.order
    assert (order.status, order.version, order.channel_id) == (OrderStatus.PLACED, 1, WEB)
    assert [(li.sku, li.quantity, str(li.line_total), li.backordered) for li in order.lines] == [
        ("MUG-1", 2, "25.00", 0),
        ("TEE-M", 1, "20.00", 0),
    ]
    assert str(order.totals.total) == "45.00"
    assert order.created_at == START
    (fulfillment,) = store.fulfillments_of("ord_0001")
    assert fulfillment == result.fulfillments[0]
    assert (fulfillment.id, fulfillment.warehouse_id, fulfillment.status) == (
        "ful_0001",
        EAST,
        FulfillmentStatus.PENDING,
    )
    assert [(li.sku, li.quantity) for li in fulfillment.lines] == [("MUG-1", 2), ("TEE-M", 1)]
    assert store.level(EAST, "MUG-1").model_dump(include=LEVEL_FIELDS) == {
        "sku": "MUG-1",
        "warehouse_id": EAST,
        "on_hand": 10,
        "reserved": 2,
        "available": 8,
        "bin": None,
    }
    assert (store.level(EAST, "TEE-M").reserved, store.level(EAST, "TEE-M").available) == (1, 0)
    assert store.events_of("ord_0001") == [
        DomainEvent(
            id="evt_0001",
            type="order.placed",
            order_id="ord_0001",
            channel_id=WEB,
            version=1,
            occurred_at=START,
            actor=f"channel:{WEB}",
            data={
                "status": "placed",
                "external_id": "EXT-1",
                "currency": "USD",
                "total": "45.00",
                "lines": [
                    {"sku": "MUG-1", "quantity": 2, "backordered": 0},
                    {"sku": "TEE-M", "quantity": 1, "backordered": 0},
                ],
                "fulfillments": [
                    {
                        "id": "ful_0001",
                        "warehouse_id": EAST,
                        "lines": [{"sku": "MUG-1", "quantity": 2}, {"sku": "TEE-M", "quantity": 1}],
                    }
                ],
                "split": False,
                "holds": [],
                "unresolved_lines": [],
            },
        )
    ]
    assert store.dedup_record(external_id_scope(WEB), "EXT-1") == DedupRecord(
        scope="ext#ch_web", key="EXT-1", request_hash=request.request_hash(), ref="ord_0001", created_at=START
    )
    assert store.dedup_record(idempotency_scope(WEB), "key-1") is not None


def test_the_order_goes_to_the_preferred_warehouse_when_both_can_ship_it(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    for warehouse in (EAST, WEST):
        store.set_stock(warehouse, "MUG-1", 5)

    result = place(uow_factory, ids, clock, order_request())

    assert [f.warehouse_id for f in result.fulfillments] == [EAST]
    assert (store.level(EAST, "MUG-1").available, store.level(WEST, "MUG-1").available) == (3, 5)


def test_a_less_preferred_warehouse_ships_everything_rather_than_splitting(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    store.set_stock(WEST, "MUG-1", 5)
    store.set_stock(WEST, "TEE-M", 5)

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 1), ("TEE-M", 1))))

    assert [(f.warehouse_id, [(li.sku, li.quantity) for li in f.lines]) for f in result.fulfillments] == [
        (WEST, [("MUG-1", 1), ("TEE-M", 1)])
    ]


def test_an_order_no_single_warehouse_can_ship_is_split_across_two(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 3)
    store.set_stock(WEST, "TEE-M", 2)

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 3), ("TEE-M", 2))))

    assert [
        (f.id, f.warehouse_id, [(li.sku, li.quantity) for li in f.lines]) for f in result.fulfillments
    ] == [
        ("ful_0001", EAST, [("MUG-1", 3)]),
        ("ful_0002", WEST, [("TEE-M", 2)]),
    ]
    assert store.events_of("ord_0001")[0].data["split"] is True
    assert available(store) == {(EAST, "MUG-1"): 0, (WEST, "TEE-M"): 0}
    assert store.commits == 1


def test_two_lines_of_the_same_sku_are_reserved_as_one_quantity(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 2), ("MUG-1", 3))))

    assert [(li.sku, li.quantity) for li in result.fulfillments[0].lines] == [("MUG-1", 5)]
    assert store.level(EAST, "MUG-1").reserved == 5


# -- not enough stock -------------------------------------------------------------------------


def test_a_backorder_channel_accepts_the_order_and_records_what_is_missing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 1)
    store.set_stock(WEST, "MUG-1", 2)

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 5), ("TEE-M", 1))))

    order = store.order(result.order.id)
    assert order.status == OrderStatus.BACKORDERED
    assert [(li.sku, li.quantity, li.backordered) for li in order.lines] == [("MUG-1", 5, 2), ("TEE-M", 1, 1)]
    # One backorder per short SKU, waiting for stock in no warehouse yet.
    assert [
        (f.id, f.warehouse_id, f.status, [(li.sku, li.quantity) for li in f.lines])
        for f in result.fulfillments
    ] == [
        ("ful_0001", WEST, FulfillmentStatus.PENDING, [("MUG-1", 2)]),
        ("ful_0002", EAST, FulfillmentStatus.PENDING, [("MUG-1", 1)]),
        ("ful_0003", None, FulfillmentStatus.PENDING, [("MUG-1", 2)]),
        ("ful_0004", None, FulfillmentStatus.PENDING, [("TEE-M", 1)]),
    ]
    assert store.fulfillments_of(order.id) == result.fulfillments
    assert all(f.created_at == START and f.ship_by is None for f in result.fulfillments)
    assert available(store) == {(EAST, "MUG-1"): 0, (WEST, "MUG-1"): 0}
    placed = store.events_of(order.id)[0].data
    assert placed["status"] == "backordered"
    assert [(f["warehouse_id"], f["lines"]) for f in placed["fulfillments"][2:]] == [
        (None, [{"sku": "MUG-1", "quantity": 2}]),
        (None, [{"sku": "TEE-M", "quantity": 1}]),
    ]


def test_the_shortage_of_a_sku_is_charged_to_its_last_lines_first(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 2)

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 3), ("MUG-1", 2))))

    assert [li.backordered for li in result.order.lines] == [1, 2]


def test_a_reject_channel_refuses_an_order_it_cannot_ship_and_writes_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 1)
    before = available(store)

    with pytest.raises(InsufficientStock) as excinfo:
        place(
            uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 3), ("TEE-M", 1))), channel_id=STRICT
        )

    assert excinfo.value.shortages == {"MUG-1": 2, "TEE-M": 1}
    assert str(excinfo.value) == "not enough stock: MUG-1 short by 2, TEE-M short by 1"
    assert_nothing_written(store, before)


def test_a_reject_channel_accepts_an_order_it_can_ship(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 2)

    result = place(uow_factory, ids, clock, order_request(), channel_id=STRICT)

    assert (result.created, result.order.status) == (True, OrderStatus.PLACED)


# -- repeated requests ------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_return_the_original_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    first = place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")
    clock.advance(minutes=5)

    again = place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")

    assert (again.created, again.order, again.fulfillments) == (False, first.order, first.fulfillments)
    assert store.commits == 1
    assert store.level(EAST, "MUG-1").reserved == 2


def test_the_same_idempotency_key_with_a_different_body_is_refused(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")

    with pytest.raises(IdempotencyKeyReused, match="'key-1' was already used with a different request body"):
        place(uow_factory, ids, clock, order_request(external_id="EXT-2"), idempotency_key="key-1")

    assert store.commits == 1
    assert list(store.orders) == ["ord_0001"]


def test_an_idempotency_key_is_forgotten_after_its_time_to_live(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")
    clock.advance(seconds=IDEMPOTENCY_TTL_SECONDS + 1)

    later = place(uow_factory, ids, clock, order_request(external_id="EXT-2"), idempotency_key="key-1")

    assert (later.created, later.order.id) == (True, "ord_0002")
    assert store.dedup_record(idempotency_scope(WEB), "key-1").ref == "ord_0002"  # type: ignore[union-attr]


def test_an_idempotency_key_is_still_remembered_just_before_it_expires(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")
    clock.advance(seconds=IDEMPOTENCY_TTL_SECONDS)

    with pytest.raises(IdempotencyKeyReused):
        place(uow_factory, ids, clock, order_request(external_id="EXT-2"), idempotency_key="key-1")


def test_the_same_external_id_and_body_without_a_key_return_the_original_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    first = place(uow_factory, ids, clock, order_request())

    again = place(uow_factory, ids, clock, order_request())

    assert (again.created, again.order.id) == (False, first.order.id)
    assert store.commits == 1


def test_the_same_external_id_with_a_different_body_is_a_conflict(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    place(uow_factory, ids, clock, order_request())

    with pytest.raises(Conflict, match="external_id 'EXT-1' already names order ord_0001"):
        place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 3))))

    assert store.level(EAST, "MUG-1").reserved == 2


def test_the_same_external_id_in_another_channel_is_another_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    place(uow_factory, ids, clock, order_request())

    other = place(uow_factory, ids, clock, order_request(), channel_id=STRICT)

    assert (other.created, other.order.id, other.order.channel_id) == (True, "ord_0002", STRICT)


def test_a_retry_whose_prices_differ_only_in_trailing_zeros_returns_the_original_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    first = place(
        uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 2), price="12.5")), idempotency_key="k"
    )

    again = place(
        uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 2), price="12.50")), idempotency_key="k"
    )

    assert (again.created, again.order.id) == (False, first.order.id)


def test_a_twin_request_that_commits_first_is_returned_instead_of_a_second_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    twin: list[PlacementResult] = []
    store.before_next_commit(
        lambda: twin.append(place(uow_factory, ids, clock, order_request(), idempotency_key="key-1"))
    )

    result = place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")

    assert twin[0].created is True
    assert (result.created, result.order.id) == (False, twin[0].order.id)
    assert list(store.orders) == [twin[0].order.id]
    assert store.level(EAST, "MUG-1").reserved == 2
    assert store.commits == 1


def test_a_transaction_the_sdk_sent_again_after_a_lost_answer_returns_the_order_it_created(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    store.lose_next_answer()  # the first copy is applied; its re-sent copy finds the order there

    result = place(uow_factory, ids, clock, order_request(), idempotency_key="key-1")

    assert result.created is True  # this request created the order: the client gets its 201
    assert list(store.orders) == [result.order.id]
    assert (result.order, result.fulfillments) == (
        store.order(result.order.id),
        store.fulfillments_of(result.order.id),
    )
    assert store.level(EAST, "MUG-1").reserved == 2
    assert [e.type for e in store.events_of(result.order.id)] == ["order.placed"]
    assert store.commits == 1


def test_a_lost_answer_without_an_idempotency_key_still_returns_the_created_order(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    store.lose_next_answer()

    result = place(uow_factory, ids, clock, order_request())

    assert (result.created, list(store.orders)) == (True, [result.order.id])
    assert store.level(EAST, "MUG-1").reserved == 2


def test_a_transaction_conflict_is_retried_after_a_jittered_pause_and_places_the_order_once(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    store.conflict_next_commits(2)

    result = place(uow_factory, ids, clock, order_request())

    assert result.created is True
    assert list(store.orders) == [result.order.id]
    assert store.level(EAST, "MUG-1").reserved == 2
    assert (store.commit_attempts, store.commits) == (3, 1)
    assert len(clock.slept) == 2
    assert 0.01 <= clock.slept[0] <= 0.02 and 0.02 <= clock.slept[1] <= 0.04  # exponential steps


def test_transaction_conflicts_that_never_stop_end_in_a_retryable_conflict_within_a_second(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    store.conflict_next_commits(MAX_ATTEMPTS)

    with pytest.raises(ConcurrencyConflict, match="retry the request"):
        place(uow_factory, ids, clock, order_request())

    assert store.orders == {}
    assert store.commit_attempts == MAX_ATTEMPTS
    assert 0 < sum(clock.slept) < 1.0


# -- refused input ----------------------------------------------------------------------------


def test_an_unknown_sku_is_refused_with_the_position_of_its_line(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    before = available(store)
    request = order_request(lines=lines(("MUG-1", 1), ("NOPE-1", 1), ("NOPE-2", 1)))

    with pytest.raises(InputInvalid) as excinfo:
        place(uow_factory, ids, clock, request)

    assert excinfo.value.errors == [
        FieldError(["lines", 1, "sku"], "unknown SKU NOPE-1", "unknown_sku"),
        FieldError(["lines", 2, "sku"], "unknown SKU NOPE-2", "unknown_sku"),
    ]
    assert_nothing_written(store, before)


def test_a_price_with_more_decimals_than_the_currency_allows_is_refused(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 10)
    before = available(store)
    request = order_request(lines=[*lines(("MUG-1", 1)), *lines(("MUG-1", 1), price="9.999")])

    with pytest.raises(InputInvalid) as excinfo:
        place(uow_factory, ids, clock, request)

    assert excinfo.value.errors == [
        FieldError(["lines", 1, "unit_price"], "9.999 has more decimals than USD allows (2)", "money")
    ]
    assert_nothing_written(store, before)


def test_a_yen_price_with_decimals_is_refused(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    with pytest.raises(InputInvalid) as excinfo:
        place(
            uow_factory, ids, clock, order_request(currency="JPY", lines=lines(("MUG-1", 1), price="100.5"))
        )

    assert [e.loc for e in excinfo.value.errors] == [["lines", 0, "unit_price"]]


def test_an_unknown_currency_is_refused_before_any_price_is_checked(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    with pytest.raises(InputInvalid) as excinfo:
        place(uow_factory, ids, clock, order_request(currency="ABC", lines=lines(("NOPE", 1), price="1.999")))

    assert excinfo.value.errors == [FieldError(["currency"], "ABC is not an ISO 4217 currency", "currency")]


def test_a_negative_price_and_a_discount_larger_than_the_order_are_refused(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    with pytest.raises(InputInvalid) as negative:
        place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 1), price="-1.00")))
    with pytest.raises(InputInvalid) as discount:
        place(uow_factory, ids, clock, order_request(discount_total="25.01"))

    assert negative.value.errors == [
        FieldError(["lines", 0, "unit_price"], "amounts cannot be negative", "money")
    ]
    assert discount.value.errors == [
        FieldError(["discount_total"], "the discount is larger than the order", "money")
    ]


def test_an_unknown_channel_is_not_found(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    with pytest.raises(NotFound, match="channel ch_nope does not exist"):
        place(uow_factory, ids, clock, order_request(), channel_id="ch_nope")


# -- the transaction limit --------------------------------------------------------------------


def test_an_order_that_needs_more_than_100_transaction_items_is_too_large_and_writes_nothing(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    skus = [f"SKU-{n:02d}" for n in range(60)]
    seed_catalogue(store, skus)
    for sku in skus:
        store.set_stock(EAST, sku, 5)
        store.set_stock(WEST, sku, 5)
    before = available(store)
    # 8 of each: 5 from one warehouse and 3 from the other, so every SKU needs two reservations.
    request = order_request(lines=lines(*((sku, 8) for sku in skus)))

    with pytest.raises(TooLarge) as excinfo:
        place(uow_factory, ids, clock, request, idempotency_key="big")

    # order + 2 fulfillments + 120 reservations + event + 2 dedup items
    assert (excinfo.value.items, excinfo.value.limit) == (126, 100)
    assert_nothing_written(store, before)


def test_an_order_of_exactly_100_transaction_items_fits_and_one_more_item_does_not(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    skus = [f"SKU-{n:02d}" for n in range(96)]
    seed_catalogue(store, skus)
    for sku in skus:
        store.set_stock(EAST, sku, 2)
    fits = order_request(lines=lines(*((sku, 1) for sku in skus[:95])))
    too_big = order_request(external_id="EXT-2", lines=lines(*((sku, 1) for sku in skus)))

    place(uow_factory, ids, clock, fits, idempotency_key="k-1")
    with pytest.raises(TooLarge) as excinfo:
        place(uow_factory, ids, clock, too_big, idempotency_key="k-2")

    # order + fulfillment + 95 reservations + event + 2 dedup items
    assert store.committed_sizes == [100]
    assert excinfo.value.items == 101
    assert str(excinfo.value) == (
        "this order needs 101 records written atomically; the limit is 100. Split it into several orders."
    )


# -- racing for stock -------------------------------------------------------------------------


def steal(store: FakeStore, warehouse_id: str, sku: str, quantity: int) -> None:
    """Another order reserves stock between our read and our commit."""
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(warehouse_id, sku, quantity)
    uow.commit()


def test_stock_taken_between_read_and_commit_makes_the_order_replan_and_backorder_not_oversell(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    store.before_next_commit(lambda: steal(store, EAST, "MUG-1", 3))

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 5))))

    assert result.order.status == OrderStatus.BACKORDERED
    assert result.order.lines[0].backordered == 3
    assert [(f.warehouse_id, f.lines[0].quantity) for f in result.fulfillments] == [(EAST, 2), (None, 3)]
    assert store.level(EAST, "MUG-1").model_dump(include=LEVEL_FIELDS) == {
        "sku": "MUG-1",
        "warehouse_id": EAST,
        "on_hand": 5,
        "reserved": 5,
        "available": 0,
        "bin": None,
    }
    assert store.commit_attempts == 3  # ours (refused), the thief's, ours again
    assert list(store.orders) == [result.order.id] == ["ord_0002"]


def test_stock_taken_between_read_and_commit_moves_the_order_to_a_warehouse_that_still_has_it(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    store.set_stock(WEST, "MUG-1", 5)
    store.before_next_commit(lambda: steal(store, EAST, "MUG-1", 4))

    result = place(uow_factory, ids, clock, order_request(lines=lines(("MUG-1", 5))))

    assert result.order.status == OrderStatus.PLACED
    assert [(f.warehouse_id, f.lines[0].quantity) for f in result.fulfillments] == [(WEST, 5)]
    assert (store.level(EAST, "MUG-1").available, store.level(WEST, "MUG-1").available) == (1, 0)


def test_a_reject_channel_that_loses_the_race_for_stock_is_refused(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 2)
    store.before_next_commit(lambda: steal(store, EAST, "MUG-1", 1))

    with pytest.raises(InsufficientStock) as excinfo:
        place(uow_factory, ids, clock, order_request(), channel_id=STRICT)

    assert excinfo.value.shortages == {"MUG-1": 1}
    assert store.orders == {}
    assert store.level(EAST, "MUG-1").reserved == 1


class AlwaysLosingUnitOfWork(FakeUnitOfWork):
    """Every commit finds that someone else took the stock first."""

    def commit(self) -> None:
        self._writes = []
        raise StockConflict(EAST, "MUG-1")


def test_placement_gives_up_with_a_retryable_conflict_after_too_many_lost_races(
    store: FakeStore, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    attempts: list[AlwaysLosingUnitOfWork] = []

    def factory() -> AlwaysLosingUnitOfWork:
        uow = AlwaysLosingUnitOfWork(store)
        attempts.append(uow)
        return uow

    with pytest.raises(ConcurrencyConflict, match="retry the request"):
        place_order(factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ids, clock=clock)

    assert len(attempts) == MAX_ATTEMPTS
    assert store.orders == {}


# -- property ---------------------------------------------------------------------------------

SKUS = ("MUG-1", "TEE-M", "CAP-1")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stock=st.dictionaries(
        st.tuples(st.sampled_from([EAST, WEST]), st.sampled_from(SKUS)), st.integers(min_value=0, max_value=6)
    ),
    demand=st.lists(
        st.tuples(st.sampled_from(SKUS), st.integers(min_value=1, max_value=8)), min_size=1, max_size=5
    ),
)
def test_placement_never_oversells_and_accounts_for_every_unit(
    stock: dict[tuple[str, str], int], demand: list[tuple[str, int]]
) -> None:
    store = FakeStore()
    seed_catalogue(store)
    for (warehouse, sku), qty in stock.items():
        store.set_stock(warehouse, sku, qty)

    result = place_order(
        FakeUnitOfWorkFactory(store),
        order_request(lines=lines(*demand)),
        channel_id=WEB,
        idempotency_key=None,
        ids=SequentialIds(),
        clock=FakeClock(),
    )

    for (warehouse, sku), row in store.stock.items():
        assert row.available >= 0
        assert row.reserved + row.available == row.on_hand == stock[(warehouse, sku)]
        shipped_from_here = sum(
            li.quantity
            for f in result.fulfillments
            if f.warehouse_id == warehouse
            for li in f.lines
            if li.sku == sku
        )
        assert row.reserved == shipped_from_here
    for sku in SKUS:
        ordered = sum(li.quantity for li in result.order.lines if li.sku == sku)
        backordered = sum(li.backordered for li in result.order.lines if li.sku == sku)
        allocated = sum(
            li.quantity for f in result.fulfillments if f.warehouse_id for li in f.lines if li.sku == sku
        )
        waiting = [f for f in result.fulfillments if f.warehouse_id is None and f.lines[0].sku == sku]
        assert allocated + backordered == ordered
        # Exactly one backorder per short SKU, holding exactly the units the lines say are backordered.
        assert [f.quantity_of(sku) for f in waiting] == ([backordered] if backordered else [])
    assert all(len(f.lines) == 1 for f in result.fulfillments if f.warehouse_id is None)
    expected_status = OrderStatus.BACKORDERED if result.order.has_backorder else OrderStatus.PLACED
    assert result.order.status == expected_status
    assert store.commits == 1


def test_the_clock_is_read_once_for_the_order_its_fulfillments_and_its_event(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    clock.advance(hours=3)

    result = place(uow_factory, ids, clock, order_request())

    moment = START + timedelta(hours=3)
    assert result.order.created_at == result.order.updated_at == moment
    assert result.fulfillments[0].created_at == moment
    assert store.events_of(result.order.id)[0].occurred_at == moment
    assert result.order.totals.total == Decimal("25.00")
