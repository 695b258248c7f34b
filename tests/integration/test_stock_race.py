"""Forty concurrent orders for the last ten units: never an oversell, never a lost order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib.adapters.dynamodb.unit_of_work import DynamoUnitOfWork
from chalicelib.bootstrap import services
from chalicelib.domain.errors import InsufficientStock
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.service.placement import PlacementResult, place_order
from chalicelib.service.ports import StockConflict
from tests.integration.conftest import Stack, order_body

BUYERS = 40


def buy_one(channel: str, n: int) -> PlacementResult | InsufficientStock:
    svc = services()
    request = PlaceOrderRequest.model_validate(
        order_body(f"RACE-{n}", lines=[{"sku": "LAST-UNITS", "quantity": 1, "unit_price": "10.00"}])
    )
    try:
        return place_order(
            svc.uow_factory,
            request,
            channel_id=channel,
            idempotency_key=f"race-{n}",
            ids=svc.ids,
            clock=svc.clock,
        )
    except InsufficientStock as exc:
        return exc


def stock(stack: Stack) -> dict[str, int]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.table,
        Key={"pk": {"S": "SKU#LAST-UNITS"}, "sk": {"S": "WH#wh-east"}},
        ConsistentRead=True,
    )["Item"]
    return {name: int(item[name]["N"]) for name in ("on_hand", "reserved", "available")}


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto execute each request atomically, as DynamoDB does.

    moto's in-memory backend is not thread-safe (concurrent transactions corrupt its tables), so
    requests are serialised at the point where botocore hands them to moto. The 40 clients still
    interleave freely between requests: read stock, plan, write — which is the race under test.
    """
    lock = threading.Lock()
    original: Callable[..., Any] = BotocoreStubber.__call__

    def serialised(self: BotocoreStubber, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", serialised)


@pytest.mark.parametrize("channel", ["web", "marketplace"])
def test_forty_buyers_racing_for_ten_units_reserve_exactly_ten(
    stack: Stack, atomic_requests: None, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    services()  # build the shared clients before the threads start
    lost_races: list[StockConflict] = []
    commit = DynamoUnitOfWork.commit

    def counting_commit(self: DynamoUnitOfWork) -> None:
        try:
            commit(self)
        except StockConflict as exc:
            lost_races.append(exc)
            raise

    monkeypatch.setattr(DynamoUnitOfWork, "commit", counting_commit)
    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(lambda n: buy_one(channel, n), range(BUYERS)))

    placed = [o for o in outcomes if isinstance(o, PlacementResult)]
    rejected = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert len(placed) + len(rejected) == BUYERS  # none lost
    assert lost_races, "the buyers never collided: the test did not exercise the race"
    with_stock = [p for p in placed if p.order.status == "placed"]
    backordered = [p for p in placed if p.order.status == "backordered"]
    assert len(with_stock) == 10
    assert stock(stack) == {"on_hand": 10, "reserved": 10, "available": 0}
    if channel == "web":  # policy backorder: everyone else waits for stock
        assert len(backordered) == BUYERS - 10 and rejected == []
        # Each waits as one backorder: a fulfillment with no warehouse and nothing reserved.
        assert all(p.order.lines[0].backordered == 1 for p in backordered)
        assert all(
            [(f.warehouse_id, f.lines[0].quantity) for f in p.fulfillments] == [(None, 1)]
            for p in backordered
        )
    else:  # policy reject: everyone else is told no, and nothing of theirs is stored
        assert len(rejected) == BUYERS - 10 and backordered == []
    stored_orders = [item for item in stack.items("ORDER#") if item["sk"]["S"] == "ORDER"]
    assert len(stored_orders) == len(placed)
