"""The console's cross-warehouse lookups (chalicelib.service.attention) over the fakes."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.models import Fulfillment, FulfillmentLine
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.attention import (
    ATTENTION_LIMIT,
    delivery_problems,
    late_work,
    orders_by_external_id,
)
from chalicelib.service.placement import external_id_scope
from chalicelib.service.ports import DedupRecord
from tests.unit.builders import EAST, STRICT, WEB, WEST, make_order, seed_catalogue
from tests.unit.fakes import START, FakeQueries, FakeStore, FakeUnitOfWorkFactory

NOW = START + timedelta(days=1)


def fulfillment(
    fid: str,
    status: FulfillmentStatus,
    *,
    warehouse_id: str = EAST,
    ship_by: datetime | None = None,
    updated_at: datetime = START,
) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id="ord_0001",
        channel_id=WEB,
        warehouse_id=warehouse_id,
        status=status,
        version=1,
        lines=[FulfillmentLine(sku="MUG-1", quantity=1)],
        created_at=START,
        updated_at=updated_at,
        ship_by=ship_by,
    )


def test_late_work_is_work_still_in_any_warehouse_past_its_ship_by_oldest_promise_first(
    store: FakeStore,
) -> None:
    seed_catalogue(store)
    store.put_order(
        make_order(),
        [
            fulfillment(
                "ful_west", FulfillmentStatus.PACKED, warehouse_id=WEST, ship_by=NOW - timedelta(hours=5)
            ),
            fulfillment("ful_east", FulfillmentStatus.RELEASED, ship_by=NOW - timedelta(hours=1)),
            fulfillment("ful_on_time", FulfillmentStatus.PICKING, ship_by=NOW + timedelta(hours=1)),
            fulfillment("ful_shipped", FulfillmentStatus.SHIPPED, ship_by=NOW - timedelta(hours=9)),
        ],
    )

    late = late_work(FakeUnitOfWorkFactory(store), FakeQueries(store), NOW)

    assert [f.id for f in late] == ["ful_west", "ful_east"]


def test_late_work_lists_at_most_the_attention_limit(store: FakeStore) -> None:
    seed_catalogue(store)
    many = [
        fulfillment(f"ful_{n:03d}", FulfillmentStatus.RELEASED, ship_by=NOW - timedelta(minutes=n + 1))
        for n in range(ATTENTION_LIMIT + 5)
    ]
    store.put_order(make_order(), many)

    late = late_work(FakeUnitOfWorkFactory(store), FakeQueries(store), NOW)

    assert len(late) == ATTENTION_LIMIT
    assert late[0].id == f"ful_{ATTENTION_LIMIT + 4:03d}"  # the oldest promise


def test_delivery_problems_are_listed_most_recently_changed_first(store: FakeStore) -> None:
    seed_catalogue(store)
    store.put_order(
        make_order(),
        [
            fulfillment("ful_old", FulfillmentStatus.EXCEPTION, updated_at=START),
            fulfillment("ful_new", FulfillmentStatus.FAILED, warehouse_id=WEST, updated_at=NOW),
            fulfillment("ful_fine", FulfillmentStatus.DELIVERED, updated_at=NOW),
        ],
    )

    problems = delivery_problems(FakeUnitOfWorkFactory(store), FakeQueries(store))

    assert [f.id for f in problems] == ["ful_new", "ful_old"]


def test_an_external_id_finds_the_orders_each_channel_placed_under_it(store: FakeStore) -> None:
    factory = FakeUnitOfWorkFactory(store)
    uow = factory()
    for channel_id, order_id in ((WEB, "ord_web"), (STRICT, "ord_strict")):
        uow.add_dedup(
            DedupRecord(
                scope=external_id_scope(channel_id),
                key="#1001",
                request_hash="h",
                ref=order_id,
                created_at=START,
            )
        )
    uow.commit()

    assert orders_by_external_id(factory, "#1001", [WEB, STRICT]) == ["ord_web", "ord_strict"]
    assert orders_by_external_id(factory, "#1001", [STRICT]) == ["ord_strict"]
    assert orders_by_external_id(factory, "#9999", [WEB, STRICT]) == []
