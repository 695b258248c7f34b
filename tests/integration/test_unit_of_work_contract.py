"""One contract, two units of work: the in-memory fake the unit tests use and DynamoDB's (on moto).

Every test here runs against both (the ``backend`` fixture). The service tests trust the fake to
behave as the DynamoDB unit of work does; these tests are where that trust is earned. A test that
passes on one and fails on the other is a bug in the fake (or in the adapter), never a reason to
split the test. What only the fake has (its hooks, its clock, its store's layout) is tested in
``tests/unit/test_fakes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.dynamodb.queries import DynamoCounters, DynamoOrderQueries
from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWork
from chalicelib.adapters.reference import ReferenceData
from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Fulfillment, FulfillmentLine, Order
from chalicelib.domain.returns import ReturnLine, ReturnRequest
from chalicelib.domain.status import FulfillmentStatus, ReturnStatus
from chalicelib.service.ports import (
    MAX_TRANSACTION_ITEMS,
    DedupExists,
    DedupRecord,
    OrderExists,
    OrderQueries,
    StockConflict,
    TrackingNumberInUse,
    TrackingRef,
    UnitOfWork,
)
from tests.integration.conftest import Stack
from tests.unit.builders import make_order
from tests.unit.fakes import START, FakeQueries, FakeStore, FakeUnitOfWork, InvalidTransaction

#: A warehouse and SKUs of their own: the DynamoDB table is seeded with the integration stock.
WH = "wh-contract"
SKU = "CONTRACT-MUG"
ORDER = "ord_contract_1"
DAY = "2026-11-26"


@dataclass
class Backend:
    """What the contract needs of a unit of work's world beyond the unit of work itself."""

    name: str
    new_uow: Callable[[], UnitOfWork]
    set_stock: Callable[[str, str, int], None]
    counter: Callable[[str, str], int]
    #: What ``commit()`` raises for a transaction DynamoDB refuses as malformed.
    malformed: type[Exception]
    #: Ids of the orders the listing of a tag holds (``list_orders(tag=...)``), newest first.
    tagged: Callable[[str], list[str]]


def _fake_backend() -> Backend:
    store = FakeStore()
    return Backend(
        name="fake",
        new_uow=lambda: FakeUnitOfWork(store),
        set_stock=lambda warehouse_id, sku, on_hand: store.set_stock(warehouse_id, sku, on_hand),
        counter=store.counter,
        malformed=InvalidTransaction,
        tagged=lambda tag: _listed(FakeQueries(store), tag),
    )


def _listed(queries: OrderQueries, tag: str) -> list[str]:
    orders, _ = queries.list_orders(
        status=None, channel_id=None, created_from=None, created_to=None, limit=100, cursor=None, tag=tag
    )
    return [order.id for order in orders]


def _dynamodb_backend(stack: Stack) -> Backend:
    client = stack.client("dynamodb")
    reference = ReferenceData(client, stack.table)
    counters = DynamoCounters(client, stack.table)
    return Backend(
        name="dynamodb",
        new_uow=lambda: DynamoUnitOfWork(client, stack.table),
        set_stock=lambda warehouse_id, sku, on_hand: reference.put_stock(warehouse_id, sku, on_hand),
        counter=lambda metric, day: counters.daily_counter(metric, [day]).get(day, 0),
        malformed=ClientError,  # ValidationException
        tagged=lambda tag: _listed(DynamoOrderQueries(client, stack.table), tag),
    )


@pytest.fixture(params=["fake", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "fake":
        yield _fake_backend()
    else:
        yield _dynamodb_backend(request.getfixturevalue("stack"))


# -- builders -------------------------------------------------------------------------------------


def order_event(version: int, order_id: str = ORDER) -> DomainEvent:
    return DomainEvent(
        id=f"evt_{order_id}_{version}",
        type="order.placed",
        order_id=order_id,
        channel_id="web",
        version=version,
        occurred_at=START,
        actor="test",
    )


def stock_event(event_id: str) -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="inventory.received",
        sku=SKU,
        warehouse_id=WH,
        occurred_at=START,
        actor="test",
        data={"quantity": 1},
    )


def fulfillment(fid: str, *, version: int = 1, order_id: str = ORDER) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id=order_id,
        channel_id="web",
        warehouse_id=WH,
        status=FulfillmentStatus.PENDING,
        version=version,
        lines=[FulfillmentLine(sku=SKU, quantity=1)],
        created_at=START,
        updated_at=START,
    )


def rma(rid: str, *, version: int = 1) -> ReturnRequest:
    return ReturnRequest(
        id=rid,
        order_id=ORDER,
        channel_id="web",
        status=ReturnStatus.APPROVED,
        version=version,
        lines=[ReturnLine(sku=SKU, quantity=1, reason="too small")],
        requested_at=START,
    )


def dedup(key: str = "k", scope: str = "contract") -> DedupRecord:
    return DedupRecord(scope=scope, key=key, request_hash="h", ref=ORDER, created_at=START)


def an_order(**overrides: object) -> Order:
    return make_order(id=ORDER, channel_id="web", **overrides)


def commit(backend: Backend, *stage: Callable[[UnitOfWork], object]) -> None:
    uow = backend.new_uow()
    for write in stage:
        write(uow)
    uow.commit()


def level(backend: Backend, warehouse_id: str = WH, sku: str = SKU) -> tuple[int, int, int] | None:
    """(on_hand, reserved, available) of a stock level, None when there is none."""
    found = backend.new_uow().get_stock([sku], [warehouse_id]).get((warehouse_id, sku))
    return None if found is None else (found.on_hand, found.reserved, found.available)


def place(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_order(an_order()), lambda uow: uow.add_event(order_event(1)))


# -- commits: all or nothing ---------------------------------------------------------------------


def test_nothing_is_visible_before_commit_and_everything_after(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 3)
    uow = backend.new_uow()
    uow.add_order(an_order())
    uow.reserve_stock(WH, SKU, 2)
    uow.add_event(order_event(1))

    assert uow.staged_count() == 3
    assert (backend.new_uow().get_order(ORDER), level(backend)) == (None, (3, 0, 3))
    uow.commit()

    aggregate = backend.new_uow().get_order(ORDER)
    assert aggregate is not None and aggregate.order == an_order()
    assert (level(backend), uow.staged_count()) == ((3, 2, 1), 0)


def test_a_failed_condition_applies_nothing_and_raises_the_matching_error(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 1)
    uow = backend.new_uow()
    uow.add_order(an_order())
    uow.reserve_stock(WH, SKU, 2)
    uow.add_event(order_event(1))
    uow.count("orders", DAY)

    with pytest.raises(StockConflict) as raised:
        uow.commit()

    assert (raised.value.warehouse_id, raised.value.sku) == (WH, SKU)
    assert backend.new_uow().get_order(ORDER) is None
    assert (level(backend), backend.counter("orders", DAY), uow.staged_count()) == ((1, 0, 1), 0, 0)


def test_the_first_failing_write_in_staging_order_decides_the_error(backend: Backend) -> None:
    place(backend)
    commit(backend, lambda uow: uow.add_dedup(dedup()))
    uow = backend.new_uow()
    uow.add_dedup(dedup())
    uow.add_order(an_order())

    with pytest.raises(DedupExists):
        uow.commit()


def test_commit_drops_the_staged_writes_whether_it_succeeds_or_not(backend: Backend) -> None:
    place(backend)
    uow = backend.new_uow()
    uow.add_order(an_order())
    with pytest.raises(OrderExists):
        uow.commit()

    uow.count("orders", DAY)
    uow.commit()  # only the count: the failed add_order is gone

    assert (uow.staged_count(), backend.counter("orders", DAY)) == (0, 1)


def test_a_commit_with_nothing_staged_does_nothing(backend: Backend) -> None:
    uow = backend.new_uow()

    uow.commit()

    assert uow.staged_count() == 0


def test_a_transaction_may_not_touch_one_item_twice(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 5)
    uow = backend.new_uow()
    uow.reserve_stock(WH, SKU, 1)
    uow.reserve_stock(WH, SKU, 1)

    with pytest.raises(backend.malformed):
        uow.commit()
    assert level(backend) == (5, 0, 5)


def test_a_transaction_may_not_add_and_update_one_return(backend: Backend) -> None:
    place(backend)
    uow = backend.new_uow()
    uow.add_return(rma("rma_1"))
    uow.update_return(rma("rma_1", version=2), expected_version=1)

    with pytest.raises(backend.malformed):
        uow.commit()
    aggregate = backend.new_uow().get_order(ORDER)
    assert aggregate is not None and aggregate.returns == []


def test_a_transaction_holds_at_most_the_item_limit(backend: Backend) -> None:
    full = backend.new_uow()
    for n in range(MAX_TRANSACTION_ITEMS):
        full.add_dedup(dedup(f"k{n}"))
    full.commit()
    over = backend.new_uow()
    for n in range(MAX_TRANSACTION_ITEMS + 1):
        over.add_dedup(dedup(f"k{n}", scope="over"))

    with pytest.raises(backend.malformed):
        over.commit()
    assert backend.new_uow().get_dedup("over", "k0") is None
    assert backend.new_uow().get_dedup("contract", f"k{MAX_TRANSACTION_ITEMS - 1}") == dedup(
        f"k{MAX_TRANSACTION_ITEMS - 1}"
    )


# -- orders, fulfillments, returns: new once, then versioned ---------------------------------------


def test_an_order_is_added_once(backend: Backend) -> None:
    place(backend)
    uow = backend.new_uow()
    uow.add_order(an_order())

    with pytest.raises(OrderExists):
        uow.commit()


def test_an_order_update_must_name_the_version_it_read(backend: Backend) -> None:
    place(backend)
    stale, winner = backend.new_uow(), backend.new_uow()
    for uow in (stale, winner):
        uow.update_order(an_order(version=2), expected_version=1)
        uow.add_event(order_event(2))
    winner.commit()

    with pytest.raises(ConcurrencyConflict):
        stale.commit()
    aggregate = backend.new_uow().get_order(ORDER)
    assert aggregate is not None and aggregate.order.version == 2


def test_a_tag_entry_comes_and_goes_with_the_order_change_that_carries_it(backend: Backend) -> None:
    place(backend)
    tagged = an_order(version=2, tags=["vip"])
    stale = backend.new_uow()
    stale.update_order(tagged, expected_version=1)
    stale.add_order_tag(tagged, "vip")
    commit(backend, lambda uow: uow.update_order(an_order(version=2), expected_version=1))

    with pytest.raises(ConcurrencyConflict):
        stale.commit()
    assert backend.tagged("vip") == []

    tagged = an_order(version=3, tags=["vip"])
    commit(
        backend,
        lambda uow: uow.update_order(tagged, expected_version=2),
        lambda uow: uow.add_order_tag(tagged, "vip"),
    )
    aggregate = backend.new_uow().get_order(ORDER)
    assert backend.tagged("vip") == [ORDER] and aggregate is not None and aggregate.order.tags == ["vip"]

    untagged = an_order(version=4)
    commit(
        backend,
        lambda uow: uow.update_order(untagged, expected_version=3),
        lambda uow: uow.remove_order_tag(ORDER, "vip"),
        lambda uow: uow.remove_order_tag(ORDER, "never-there"),
    )
    assert backend.tagged("vip") == []


def test_updating_an_order_that_does_not_exist_is_a_conflict(backend: Backend) -> None:
    uow = backend.new_uow()
    uow.update_order(an_order(version=2), expected_version=1)

    with pytest.raises(ConcurrencyConflict):
        uow.commit()
    assert backend.new_uow().get_order(ORDER) is None


def test_an_order_event_version_is_written_only_once(backend: Backend) -> None:
    first, second = backend.new_uow(), backend.new_uow()
    first.add_event(order_event(1))
    second.add_event(order_event(1))
    first.commit()

    with pytest.raises(ConcurrencyConflict):
        second.commit()


def test_an_inventory_event_is_written_once_under_its_stock_level(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_event(stock_event("evt_stock_1")))
    uow = backend.new_uow()
    uow.add_event(stock_event("evt_stock_1"))

    with pytest.raises(ConcurrencyConflict):
        uow.commit()


def test_an_event_of_neither_an_order_version_nor_a_stock_level_is_refused_when_staged(
    backend: Backend,
) -> None:
    uow = backend.new_uow()
    orphan = DomainEvent(id="evt_x", type="order.placed", occurred_at=START, actor="test")

    with pytest.raises(ValueError):
        uow.add_event(orphan)
    assert uow.staged_count() == 0


def test_fulfillments_are_added_once_and_updated_from_the_version_read(backend: Backend) -> None:
    commit(
        backend, lambda uow: uow.add_order(an_order()), lambda uow: uow.add_fulfillment(fulfillment("ful_1"))
    )
    again = backend.new_uow()
    again.add_fulfillment(fulfillment("ful_1"))
    with pytest.raises(ConcurrencyConflict):
        again.commit()

    commit(backend, lambda uow: uow.update_fulfillment(fulfillment("ful_1", version=2), expected_version=1))
    stale = backend.new_uow()
    stale.update_fulfillment(fulfillment("ful_1", version=3), expected_version=1)
    with pytest.raises(ConcurrencyConflict):
        stale.commit()

    aggregate = backend.new_uow().get_order(ORDER)
    assert aggregate is not None
    assert [(f.id, f.version) for f in aggregate.fulfillments] == [("ful_1", 2)]
    assert backend.new_uow().find_order_of_fulfillment("ful_1") == ORDER


def test_returns_are_versioned_and_read_with_their_order_in_id_order(backend: Backend) -> None:
    place(backend)
    commit(backend, lambda uow: uow.add_return(rma("rma_2")), lambda uow: uow.add_return(rma("rma_1")))
    again = backend.new_uow()
    again.add_return(rma("rma_1"))
    with pytest.raises(ConcurrencyConflict):
        again.commit()

    commit(backend, lambda uow: uow.update_return(rma("rma_1", version=2), expected_version=1))
    stale = backend.new_uow()
    stale.update_return(rma("rma_1", version=3), expected_version=1)
    with pytest.raises(ConcurrencyConflict):
        stale.commit()

    aggregate = backend.new_uow().get_order(ORDER)
    assert aggregate is not None
    assert [(r.id, r.version) for r in aggregate.returns] == [("rma_1", 2), ("rma_2", 1)]
    assert backend.new_uow().find_order_of_fulfillment("rma_2") == ORDER


# -- stock: reserve, release, move and their limits ------------------------------------------------


def test_reserving_up_to_what_is_available_and_no_more(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 3)
    commit(backend, lambda uow: uow.reserve_stock(WH, SKU, 3))
    assert level(backend) == (3, 3, 0)

    uow = backend.new_uow()
    uow.reserve_stock(WH, SKU, 1)
    with pytest.raises(StockConflict):
        uow.commit()
    assert level(backend) == (3, 3, 0)


def test_reserving_stock_that_does_not_exist_is_a_stock_conflict(backend: Backend) -> None:
    uow = backend.new_uow()
    uow.reserve_stock(WH, "GHOST", 1)

    with pytest.raises(StockConflict):
        uow.commit()
    assert level(backend, sku="GHOST") is None


def test_releasing_up_to_what_is_reserved_and_no_more(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 5)
    commit(backend, lambda uow: uow.reserve_stock(WH, SKU, 2))

    uow = backend.new_uow()
    uow.release_stock(WH, SKU, 3)
    with pytest.raises(StockConflict):
        uow.commit()
    uow.release_stock(WH, SKU, 2)
    uow.commit()

    assert level(backend) == (5, 0, 5)


def test_a_stock_move_adds_its_deltas_when_its_requirements_hold_at_commit(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 10)
    commit(backend, lambda uow: uow.move_stock(WH, SKU, reserved=4, available=-4, require_available=4))
    commit(backend, lambda uow: uow.move_stock(WH, SKU, on_hand=-3, reserved=-3, require_reserved=3))

    assert level(backend) == (7, 1, 6)


def test_a_plain_receipt_creates_a_stock_level_the_warehouse_never_had(backend: Backend) -> None:
    commit(backend, lambda uow: uow.move_stock(WH, "NEW-SKU", on_hand=4, available=4))

    assert level(backend, sku="NEW-SKU") == (4, 0, 4)


@pytest.mark.parametrize(
    "move",
    [
        {"on_hand": -1, "available": -1},
        {"reserved": 1, "available": -1},
        {"on_hand": 1, "available": 1, "require_available": 0},
        {"on_hand": 1, "available": 1, "expect_on_hand": 0},
    ],
    ids=["a removal", "a reservation", "a receipt with a requirement", "a count"],
)
def test_any_other_move_of_a_missing_stock_level_is_a_stock_conflict(
    backend: Backend, move: dict[str, int]
) -> None:
    uow = backend.new_uow()
    uow.move_stock(WH, "NEW-SKU", **move)

    with pytest.raises(StockConflict):
        uow.commit()
    assert level(backend, sku="NEW-SKU") is None


def test_a_move_expecting_the_on_hand_it_read_fails_when_the_level_moved_since(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 5)
    commit(backend, lambda uow: uow.move_stock(WH, SKU, on_hand=1, available=1))
    uow = backend.new_uow()
    uow.move_stock(WH, SKU, on_hand=-2, available=-2, expect_on_hand=5)

    with pytest.raises(StockConflict):
        uow.commit()
    commit(backend, lambda uow: uow.move_stock(WH, SKU, on_hand=-2, available=-2, expect_on_hand=6))
    assert level(backend) == (4, 0, 4)


def test_stock_settings_change_only_what_is_given(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 5)
    commit(
        backend,
        lambda uow: uow.set_stock_settings(
            WH, SKU, reorder_point=2, overstock_level=None, bin_location="B-1"
        ),
    )
    commit(
        backend,
        lambda uow: uow.set_stock_settings(WH, SKU, reorder_point=None, overstock_level=9, bin_location=None),
    )

    found = backend.new_uow().get_stock([SKU], [WH])[(WH, SKU)]
    assert (found.reorder_point, found.overstock_level, found.bin, found.on_hand) == (2, 9, "B-1", 5)


def test_stock_settings_alone_never_create_a_level(backend: Backend) -> None:
    uow = backend.new_uow()
    uow.set_stock_settings(WH, "NEW-SKU", reorder_point=1, overstock_level=None, bin_location=None)

    with pytest.raises(StockConflict):
        uow.commit()
    assert level(backend, sku="NEW-SKU") is None


def test_stock_settings_join_the_move_staged_for_their_level_and_its_condition(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 1)
    failing = backend.new_uow()
    failing.reserve_stock(WH, SKU, 2)
    failing.set_stock_settings(WH, SKU, reorder_point=3, overstock_level=None, bin_location=None)
    assert failing.staged_count() == 1
    with pytest.raises(StockConflict):
        failing.commit()

    commit(
        backend,
        lambda uow: uow.reserve_stock(WH, SKU, 1),
        lambda uow: uow.set_stock_settings(WH, SKU, reorder_point=3, overstock_level=None, bin_location=None),
    )
    found = backend.new_uow().get_stock([SKU], [WH])[(WH, SKU)]
    assert (found.reserved, found.available, found.reorder_point) == (1, 0, 3)


def test_one_update_may_set_a_stock_setting_only_once(backend: Backend) -> None:
    backend.set_stock(WH, SKU, 1)
    uow = backend.new_uow()
    uow.move_stock(WH, SKU, on_hand=1, available=1)
    uow.set_stock_settings(WH, SKU, reorder_point=3, overstock_level=None, bin_location=None)
    uow.set_stock_settings(WH, SKU, reorder_point=4, overstock_level=None, bin_location=None)

    with pytest.raises(backend.malformed):
        uow.commit()
    assert level(backend) == (1, 0, 1)


# -- tracking numbers, dedup records, store webhooks, counters -------------------------------------


def test_a_tracking_number_belongs_to_one_fulfillment_whatever_the_carrier(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_tracking("UPS", "1Z999", order_id=ORDER, fulfillment_id="ful_1"))
    commit(backend, lambda uow: uow.add_tracking("UPS", "1Z999", order_id=ORDER, fulfillment_id="ful_1"))
    uow = backend.new_uow()
    uow.add_tracking("fedex", "1Z999", order_id="ord_other", fulfillment_id="ful_9")

    with pytest.raises(TrackingNumberInUse) as raised:
        uow.commit()
    assert (raised.value.carrier, raised.value.number) == ("fedex", "1Z999")
    reader = backend.new_uow()
    assert reader.find_tracking("1Z999") == TrackingRef(order_id=ORDER, fulfillment_id="ful_1", carrier="ups")
    assert (reader.find_tracking("1Z99"), reader.find_tracking("unknown")) == (None, None)  # exact keys


def test_a_tracking_event_is_written_once_per_number_and_id_even_when_it_names_an_order(
    backend: Backend,
) -> None:
    def tracking_event(event_id: str, order_id: str | None) -> DomainEvent:
        return DomainEvent(
            id=event_id,
            type="tracking.received" if order_id else "tracking.unmatched",
            order_id=order_id,
            tracking_number="9400",
            occurred_at=START,
            actor="carrier:easypost",
            data={"update": {"tracking_number": "9400"}},
        )

    commit(
        backend,
        lambda uow: uow.add_event(tracking_event("evt_t1", None)),
        lambda uow: uow.add_event(tracking_event("evt_t2", ORDER)),
    )
    uow = backend.new_uow()
    uow.add_event(tracking_event("evt_t2", ORDER))

    with pytest.raises(ConcurrencyConflict):
        uow.commit()


def test_a_dedup_record_is_written_once_while_it_lives(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_dedup(dedup(), ttl_seconds=3600))
    uow = backend.new_uow()
    uow.add_dedup(dedup())

    with pytest.raises(DedupExists) as raised:
        uow.commit()
    assert (raised.value.scope, raised.value.key) == ("contract", "k")
    assert backend.new_uow().get_dedup("contract", "k") == dedup()


def test_an_expired_dedup_record_reads_as_absent_and_may_be_written_again(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_dedup(dedup(), ttl_seconds=-60))
    assert backend.new_uow().get_dedup("contract", "k") is None

    renewed = DedupRecord(scope="contract", key="k", request_hash="h2", ref="ord_2", created_at=START)
    commit(backend, lambda uow: uow.add_dedup(renewed))

    assert backend.new_uow().get_dedup("contract", "k") == renewed


def test_a_dedup_record_keeps_its_data(backend: Backend) -> None:
    record = DedupRecord(
        scope="contract", key="d", request_hash="h", ref=ORDER, created_at=START, data={"status": 201}
    )
    commit(backend, lambda uow: uow.add_dedup(record))

    assert backend.new_uow().get_dedup("contract", "d") == record


def test_a_store_webhook_body_is_kept_once_per_channel_and_delivery_key(backend: Backend) -> None:
    commit(backend, lambda uow: uow.add_inbound("shop", "d-1", '{"id": 1}'))
    commit(backend, lambda uow: uow.add_inbound("woo", "d-1", '{"id": 2}'))
    uow = backend.new_uow()
    uow.add_inbound("shop", "d-1", '{"id": 3}')

    with pytest.raises(DedupExists) as raised:
        uow.commit()
    assert (raised.value.scope, raised.value.key) == ("inbound", "d-1")
    reader = backend.new_uow()
    assert [reader.get_inbound(c, "d-1") for c in ("shop", "woo")] == ['{"id": 1}', '{"id": 2}']
    assert reader.get_inbound("shop", "d-2") is None


def test_counters_add_up_per_metric_and_day_from_zero(backend: Backend) -> None:
    commit(backend, lambda uow: uow.count("orders", DAY), lambda uow: uow.count("units", DAY, by=3))
    commit(backend, lambda uow: uow.count("orders", DAY, by=2), lambda uow: uow.count("orders", "2026-11-27"))

    assert [backend.counter("orders", DAY), backend.counter("units", DAY)] == [3, 3]
    assert [backend.counter("orders", "2026-11-27"), backend.counter("returns", DAY)] == [1, 0]


def test_one_transaction_may_not_count_the_same_counter_twice(backend: Backend) -> None:
    uow = backend.new_uow()
    uow.count("orders", DAY)
    uow.count("orders", DAY)

    with pytest.raises(backend.malformed):
        uow.commit()
    assert backend.counter("orders", DAY) == 0


def test_reads_see_what_was_written_at_the_time_of_reading(backend: Backend) -> None:
    """Strongly consistent reads: a unit of work reads the store, not a snapshot of it."""
    reader = backend.new_uow()
    assert reader.get_order(ORDER) is None

    place(backend)

    aggregate = reader.get_order(ORDER)
    assert aggregate is not None and aggregate.order == an_order()
