"""What only the fakes have: the store's hooks, clock and layout, the fake queries and the other ports.

The unit of work's contract (what both it and DynamoDB's do) is tested against both in
``tests/integration/test_unit_of_work_contract.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Box, Channel, Fulfillment, FulfillmentLine
from chalicelib.domain.outbound import Delivery
from chalicelib.domain.returns import ReturnLine, ReturnRequest
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, ReturnStatus
from chalicelib.service.notifications import AlreadySent, Claimed
from chalicelib.service.ports import (
    ChannelRepository,
    DedupRecord,
    OrderQueries,
    Secrets,
    StockConflict,
    StockQueries,
)
from tests.unit.builders import EAST, WEST, make_order, seed_catalogue
from tests.unit.fakes import (
    START,
    ChannelExists,
    FakeChannelRepository,
    FakeClaims,
    FakeClock,
    FakeCounterReader,
    FakeNotifier,
    FakeQueries,
    FakeSecrets,
    FakeStockQueries,
    FakeStore,
    FakeUnitOfWork,
    InvalidTransaction,
    SequentialIds,
)

#: What a stock level says about quantities (thresholds are not the subject here).
LEVEL_FIELDS = {"sku", "warehouse_id", "on_hand", "reserved", "available", "bin"}


def event(version: int, order_id: str = "ord_0001") -> DomainEvent:
    return DomainEvent(
        id=f"evt_{version}",
        type="order.placed",
        order_id=order_id,
        channel_id="ch_web",
        version=version,
        occurred_at=START,
        actor="test",
    )


def record(key: str = "k") -> DedupRecord:
    return DedupRecord(scope="s", key=key, request_hash="h", ref="ord_0001", created_at=START)


def test_a_dedup_record_is_live_until_the_second_its_ttl_passes(store: FakeStore, clock: FakeClock) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_dedup(record(), ttl_seconds=60)
    uow.commit()
    clock.advance(seconds=60)

    assert uow.get_dedup("s", "k") == record()
    clock.advance(microseconds=1)
    assert uow.get_dedup("s", "k") is None


def test_reads_return_copies_that_cannot_change_the_store(store: FakeStore) -> None:
    store.put_order(make_order())
    aggregate = FakeUnitOfWork(store).get_order("ord_0001")
    assert aggregate is not None

    aggregate.order.lines.clear()

    assert len(store.order("ord_0001").lines) == 1


def test_a_hook_runs_once_before_the_next_commit_checks_its_conditions(store: FakeStore) -> None:
    store.set_stock(EAST, "MUG-1", 2)
    calls: list[int] = []

    def thief() -> None:
        calls.append(1)
        other = FakeUnitOfWork(store)
        other.reserve_stock(EAST, "MUG-1", 2)
        other.commit()

    store.before_next_commit(thief)
    uow = FakeUnitOfWork(store)
    uow.reserve_stock(EAST, "MUG-1", 1)

    with pytest.raises(StockConflict):
        uow.commit()
    uow.add_dedup(record())
    uow.commit()
    assert calls == [1]


def test_sequential_ids_count_per_prefix() -> None:
    ids = SequentialIds()

    assert [ids.new("ord"), ids.new("ful"), ids.new("ful"), ids.new("ord")] == [
        "ord_0001",
        "ful_0001",
        "ful_0002",
        "ord_0002",
    ]


def test_the_clock_moves_only_when_told() -> None:
    clock = FakeClock()

    assert clock.now() == START
    assert clock.advance(minutes=2) == START + timedelta(minutes=2)
    with pytest.raises(ValueError, match="aware"):
        clock.set(START.replace(tzinfo=None))


def test_the_notifier_answers_sequential_message_ids() -> None:
    notifier = FakeNotifier()

    assert notifier.send_sms(phone="+14155550123", text="hi") == "msg-0001"
    assert notifier.publish_operations(subject="s", message={}) == "msg-0002"
    assert [m.kind for m in notifier.sent] == ["sms", "operations"]


def test_a_claim_is_exclusive_until_it_expires(clock: FakeClock) -> None:
    claims = FakeClaims(clock)

    first = claims.claim("k", seconds=10)
    assert isinstance(first, Claimed)
    assert claims.claim("k", seconds=10) is None
    clock.advance(seconds=11)
    assert isinstance(claims.claim("k", seconds=10), Claimed)


def test_a_released_claim_can_be_taken_again_but_only_its_holder_releases_it(clock: FakeClock) -> None:
    claims = FakeClaims(clock)
    first = claims.claim("k", seconds=10)
    assert isinstance(first, Claimed)

    claims.release("k", Claimed("someone-else"))
    assert claims.claim("k", seconds=10) is None
    claims.release("k", first)
    assert isinstance(claims.claim("k", seconds=10), Claimed)


def test_a_claim_marked_sent_answers_its_message_id_until_it_expires(clock: FakeClock) -> None:
    claims = FakeClaims(clock)
    first = claims.claim("k", seconds=10)
    assert isinstance(first, Claimed)
    claims.mark_sent("k", first, message_id="msg-1", seconds=100)

    claims.release("k", first)  # too late: a sent claim is never released
    assert claims.claim("k", seconds=10) == AlreadySent("msg-1")
    clock.advance(seconds=101)
    assert isinstance(claims.claim("k", seconds=10), Claimed)


# -- the warehouse road's operations ---------------------------------------------------------


def fulfillment(
    fid: str,
    *,
    order_id: str = "ord_0001",
    warehouse_id: str | None = EAST,
    status: FulfillmentStatus = FulfillmentStatus.PENDING,
    sku: str = "MUG-1",
    quantity: int = 1,
    created_at: datetime = START,
    ship_by: datetime | None = None,
) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id=order_id,
        channel_id="ch_web",
        warehouse_id=warehouse_id,
        status=status,
        version=1,
        lines=[FulfillmentLine(sku=sku, quantity=quantity)],
        created_at=created_at,
        updated_at=created_at,
        ship_by=ship_by,
    )


def inventory_event(event_id: str, sku: str = "MUG-1", warehouse_id: str = EAST) -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="inventory.received",
        sku=sku,
        warehouse_id=warehouse_id,
        occurred_at=START,
        actor="test",
        data={"quantity": 1},
    )


@pytest.mark.parametrize(
    ("on_hand", "require_available", "require_reserved"),
    [(-1, None, None), (3, 0, None), (3, None, 0)],
    ids=["a reduction", "a receipt with an available condition", "with a reserved one"],
)
@pytest.mark.parametrize(
    ("require_available", "require_reserved"), [(3, None), (None, 3)], ids=["available", "reserved"]
)
def tracking_event(event_id: str, number: str = "9400", order_id: str | None = None) -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="tracking.received" if order_id else "tracking.unmatched",
        order_id=order_id,
        tracking_number=number,
        occurred_at=START,
        actor="carrier:easypost",
        data={"update": {"tracking_number": number}},
    )


def test_tracking_events_are_stored_under_their_tracking_number_even_when_they_name_an_order(
    store: FakeStore,
) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_event(tracking_event("evt_2", order_id="ord_0001"))
    uow.add_event(tracking_event("evt_1"))
    uow.add_event(tracking_event("evt_3", number="1Z"))
    uow.commit()

    assert [(e.id, e.order_id) for e in store.tracking_events_of("9400")] == [
        ("evt_1", None),
        ("evt_2", "ord_0001"),
    ]
    assert [e.id for e in store.tracking_events_of("1Z")] == ["evt_3"]
    assert store.tracking_events_of("94") == []
    assert (store.events, store.inventory_events) == ({}, {})

    uow.add_event(tracking_event("evt_1"))
    with pytest.raises(ConcurrencyConflict):
        uow.commit()


def test_inventory_events_are_stored_under_their_stock_level(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_event(inventory_event("evt_2"))
    uow.add_event(inventory_event("evt_1"))
    uow.add_event(inventory_event("evt_3", warehouse_id=WEST))
    uow.commit()

    assert [e.id for e in store.inventory_events_of("MUG-1", EAST)] == ["evt_1", "evt_2"]
    assert [e.id for e in store.inventory_events_of("MUG-1", WEST)] == ["evt_3"]
    assert store.events == {}

    uow.add_event(inventory_event("evt_1"))
    with pytest.raises(ConcurrencyConflict):
        uow.commit()


def test_warehouses_and_their_box_catalogues_are_read_by_id(store: FakeStore) -> None:
    seed_catalogue(store)
    box = Box(
        code="M",
        inner_length_mm=300,
        inner_width_mm=200,
        inner_height_mm=150,
        max_weight_grams=10_000,
        cost=Decimal("0.80"),
    )
    store.add_box(EAST, box)
    store.add_box(EAST, box.model_copy(update={"code": "L"}))
    store.add_box(WEST, box.model_copy(update={"code": "XS"}))
    uow = FakeUnitOfWork(store)

    warehouse = uow.get_warehouse(EAST)
    assert warehouse is not None and warehouse.timezone == "America/New_York"
    assert uow.get_warehouse("wh_nope") is None
    assert [b.code for b in uow.get_boxes(EAST)] == ["L", "M"]
    assert uow.get_boxes(EAST)[1] == box
    assert uow.get_boxes("wh_nope") == []


def rma(
    rid: str, *, order_id: str = "ord_0001", version: int = 1, status: ReturnStatus = ReturnStatus.APPROVED
) -> ReturnRequest:
    return ReturnRequest(
        id=rid,
        order_id=order_id,
        channel_id="ch_web",
        status=status,
        version=version,
        lines=[ReturnLine(sku="MUG-1", quantity=1, reason="too small")],
        requested_at=START,
    )


def test_returns_are_read_with_their_order_in_id_order_and_lead_to_it(store: FakeStore) -> None:
    store.put_order(make_order(), [fulfillment("ful_1")])
    uow = FakeUnitOfWork(store)
    uow.add_return(rma("rma_2"))
    uow.add_return(rma("rma_1"))

    staged = uow.get_order("ord_0001")
    assert staged is not None and staged.returns == []  # staged is not written
    uow.commit()

    aggregate = uow.get_order("ord_0001")
    assert aggregate is not None
    assert (aggregate.returns, [f.id for f in aggregate.fulfillments]) == (
        [rma("rma_1"), rma("rma_2")],
        ["ful_1"],
    )
    # The by-id index holds RMAs beside fulfillments: an RMA number leads to its order.
    assert (uow.find_order_of_fulfillment("rma_2"), uow.find_order_of_fulfillment("rma_9")) == (
        "ord_0001",
        None,
    )
    assert store.rma("rma_1") == rma("rma_1")


def test_put_order_keeps_the_orders_returns_unless_given_others(store: FakeStore) -> None:
    store.put_order(make_order(), returns=[rma("rma_1")])

    store.put_order(make_order(version=2))
    assert [r.id for r in store.returns_of("ord_0001")] == ["rma_1"]
    store.put_order(make_order(version=3), returns=[])
    assert store.returns_of("ord_0001") == []


def inbound_event(event_id: str, *, channel_id: str | None = "ch_shop", key: str = "d-1") -> DomainEvent:
    return DomainEvent(
        id=event_id,
        type="channel.order_received",
        channel_id=channel_id,
        inbound_key=key,
        occurred_at=START,
        actor="store:shopify",
        data={"store": "shopify", "topic": "orders/create"},
    )


def test_store_webhook_events_are_kept_beside_their_body_under_channel_and_key(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)
    uow.add_event(inbound_event("evt_2"))
    uow.add_event(inbound_event("evt_1"))
    uow.add_event(inbound_event("evt_3", key="d-2"))
    uow.add_event(inbound_event("evt_4", channel_id="ch_woo"))
    uow.add_inbound("ch_shop", "d-1", "{}")  # the body is another item of the same partition
    uow.commit()

    assert [e.id for e in store.inbound_events_of("ch_shop", "d-1")] == ["evt_1", "evt_2"]
    assert [e.id for e in store.inbound_events_of("ch_shop", "d-2")] == ["evt_3"]
    assert [e.id for e in store.inbound_events_of("ch_woo", "d-1")] == ["evt_4"]
    assert (store.events, store.tracking_events, store.inventory_events) == ({}, {}, {})

    uow.add_event(inbound_event("evt_1"))
    with pytest.raises(ConcurrencyConflict):
        uow.commit()


def test_an_inbound_key_without_a_channel_is_not_a_store_webhook_event(store: FakeStore) -> None:
    uow = FakeUnitOfWork(store)

    with pytest.raises(ValueError, match="neither an order version nor a stock level"):
        uow.add_event(inbound_event("evt_1", channel_id=None))
    assert uow.staged_count() == 0


def test_like_dynamodb_stock_settings_before_a_move_of_their_level_are_two_writes_of_one_item(
    store: FakeStore,
) -> None:
    store.set_stock(EAST, "MUG-1", 5)
    uow = FakeUnitOfWork(store)
    uow.set_stock_settings(EAST, "MUG-1", reorder_point=2, overstock_level=None, bin_location=None)
    uow.move_stock(EAST, "MUG-1", on_hand=1, available=1)

    with pytest.raises(InvalidTransaction, match="writes these items twice"):
        uow.commit()
    assert (store.level(EAST, "MUG-1").on_hand, store.level(EAST, "MUG-1").reorder_point) == (5, None)


def test_a_fulfillment_leads_to_its_order(store: FakeStore) -> None:
    store.put_order(make_order(id="ord_a"), [fulfillment("ful_a", order_id="ord_a")])
    store.put_order(make_order(id="ord_b"), [fulfillment("ful_b", order_id="ord_b")])
    uow = FakeUnitOfWork(store)

    assert (uow.find_order_of_fulfillment("ful_b"), uow.find_order_of_fulfillment("ful_x")) == ("ord_b", None)


def test_backorders_queue_first_come_first_served_skipping_cancelled_and_allocated_ones(
    store: FakeStore,
) -> None:
    later = START + timedelta(minutes=5)
    store.put_order(
        make_order(id="ord_a"),
        [
            fulfillment("ful_a1", order_id="ord_a", warehouse_id=None, created_at=later),
            fulfillment("ful_a2", order_id="ord_a", warehouse_id=None, sku="TEE-M"),
            fulfillment("ful_a3", order_id="ord_a", warehouse_id=EAST),
        ],
    )
    store.put_order(
        make_order(id="ord_b"),
        [
            fulfillment("ful_b2", order_id="ord_b", warehouse_id=None),
            fulfillment("ful_b1", order_id="ord_b", warehouse_id=None),
            fulfillment("ful_b0", order_id="ord_b", warehouse_id=None, status=FulfillmentStatus.CANCELLED),
            fulfillment("ful_b3", order_id="ord_b", warehouse_id=None, status=FulfillmentStatus.ON_HOLD),
        ],
    )
    uow = FakeUnitOfWork(store)

    # Same creation time: by id, as the adapter's "created_at#id" sort key does.
    assert uow.list_backorders("MUG-1", 10) == [
        ("ord_b", "ful_b1"),
        ("ord_b", "ful_b2"),
        ("ord_b", "ful_b3"),
        ("ord_a", "ful_a1"),
    ]
    assert uow.list_backorders("MUG-1", 2) == [("ord_b", "ful_b1"), ("ord_b", "ful_b2")]
    assert uow.list_backorders("TEE-M", 10) == [("ord_a", "ful_a2")]
    assert uow.list_backorders("CAP-1", 10) == []


def test_the_fake_queries_are_order_queries(store: FakeStore) -> None:
    queries: OrderQueries = FakeQueries(store)

    assert queries.list_events("ord_0001") == []


def test_work_is_listed_per_warehouse_and_status_earliest_promise_first(store: FakeStore) -> None:
    released = FulfillmentStatus.RELEASED
    store.put_order(
        make_order(),
        [
            fulfillment("ful_3", status=released, ship_by=START + timedelta(hours=3)),
            fulfillment("ful_1", status=released, ship_by=START + timedelta(hours=1)),
            fulfillment("ful_2", status=released),  # no promise: its creation time stands in
            fulfillment("ful_4", status=FulfillmentStatus.PICKED, ship_by=START),
            fulfillment("ful_5", status=released, warehouse_id=WEST, ship_by=START),
        ],
    )
    queries = FakeQueries(store)

    def ids(before: str | None, limit: int = 10) -> list[str]:
        return [f.id for f in queries.list_work(EAST, "released", ship_by_before=before, limit=limit)]

    assert ids(None) == ["ful_2", "ful_1", "ful_3"]
    assert ids(None, limit=2) == ["ful_2", "ful_1"]
    assert ids("2026-11-26T11:30:00.000Z") == ["ful_2", "ful_1"]
    # "before" is exclusive: a promise at exactly that instant is not late yet.
    assert ids("2026-11-26T10:30:00.000Z") == ["ful_2"]
    assert [f.id for f in queries.list_work(EAST, "picked", ship_by_before=None, limit=10)] == ["ful_4"]


def test_orders_are_listed_newest_first_by_status_and_page_by_cursor(store: FakeStore) -> None:
    for n in range(3):
        store.put_order(make_order(id=f"ord_{n}", created_at=START + timedelta(minutes=n)))
    store.put_order(make_order(id="ord_9", status=OrderStatus.CONFIRMED))
    queries = FakeQueries(store)

    page, cursor = queries.list_orders(
        status="placed", channel_id=None, created_from=None, created_to=None, limit=2, cursor=None
    )
    rest, end = queries.list_orders(
        status="placed", channel_id=None, created_from=None, created_to=None, limit=2, cursor=cursor
    )

    assert ([o.id for o in page], [o.id for o in rest], end) == (["ord_2", "ord_1"], ["ord_0"], None)
    upto, _ = queries.list_orders(
        status=None,
        channel_id="ch_web",
        created_from=None,
        created_to="2026-11-26T09:31:00.000Z",
        limit=10,
        cursor=None,
    )
    assert [o.id for o in upto] == ["ord_1", "ord_9", "ord_0"]


# -- the fakes of stock queries, KPI counters, channels and secrets -------------------------------


def test_the_stock_queries_list_one_warehouse_by_sku_and_add_up_its_shipped_counters_of_the_days_asked() -> (
    None
):
    store = FakeStore()
    for warehouse_id, sku in ((EAST, "TEE-M"), (WEST, "MUG-1"), (EAST, "CAP-1")):
        store.set_stock(warehouse_id, sku, 3)
    queries: StockQueries = FakeStockQueries(store)
    store.counters |= {
        ("2026-11-24", f"shipped#{EAST}#MUG-1"): 2,
        ("2026-11-25", f"shipped#{EAST}#MUG-1"): 3,
        ("2026-11-25", f"shipped#{EAST}2#MUG-1"): 50,  # another warehouse whose id starts alike
        ("2026-11-25", f"shipped#{WEST}#MUG-1"): 7,
        ("2026-11-26", f"shipped#{EAST}#MUG-1"): 11,  # a day not asked for
        ("2026-11-25", "m#ch_web#orders_shipped"): 1,
    }

    assert [level.sku for level in queries.list_stock(EAST)] == ["CAP-1", "TEE-M"]
    assert queries.shipped_units(EAST, ["2026-11-24", "2026-11-25"]) == {"MUG-1": 5}


def test_the_counter_reader_returns_the_kpi_counters_of_the_days_asked_by_channel_and_metric() -> None:
    store = FakeStore()
    store.counters |= {
        ("2026-11-25", "m#ch_web#orders_placed"): 2,
        ("2026-11-25", "m#ch_web#order_to_ship_hours#4"): 1,
        ("2026-11-25", f"shipped#{EAST}#MUG-1"): 3,
        ("2026-11-26", "m#ch_web#orders_placed"): 9,
    }

    assert FakeCounterReader(store).kpi_counters(["2026-11-25"]) == {
        ("2026-11-25", "ch_web", "orders_placed"): 2,
        ("2026-11-25", "ch_web", "order_to_ship_hours#4"): 1,
    }


def test_the_channel_repository_creates_an_id_once_and_saves_only_what_exists() -> None:
    repo: ChannelRepository = FakeChannelRepository()
    channel = Channel(id="web", name="Web")
    repo.create(channel)

    with pytest.raises(ChannelExists):
        repo.create(channel.model_copy(update={"name": "Again"}))
    with pytest.raises(KeyError):
        repo.save(Channel(id="nope", name="Nope"))
    assert repo.get("web") == channel


def test_the_channel_repository_lists_deliveries_newest_first_up_to_the_limit() -> None:
    repo = FakeChannelRepository()
    for minute, attempt in ((0, 1), (5, 2), (1, 1)):
        repo.record_delivery(
            Delivery(
                endpoint_id="whe_0001",
                webhook_id=f"msg_{minute}",
                event_id="evt_0001",
                event_type="order.confirmed",
                attempt=attempt,
                attempted_at=START + timedelta(minutes=minute),
                status_code=500,
                outcome="failed",
                duration_ms=3,
            )
        )

    assert [d.webhook_id for d in repo.list_deliveries("whe_0001", 2)] == ["msg_5", "msg_1"]
    assert repo.list_deliveries("whe_0002", 10) == []


def test_the_secrets_hand_out_copies_newest_first() -> None:
    secrets: Secrets = FakeSecrets({"a": ["new", "old"]})

    secrets.secrets("a").clear()

    assert (secrets.secrets("a"), secrets.secrets("b")) == (["new", "old"], [])
