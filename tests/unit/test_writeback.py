"""Write-back: the store requests an event calls for (``chalicelib.domain.writeback``), built from
the order's current state, and how a run handles each outcome (``chalicelib.service.writeback``)
over in-memory fakes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import (
    Channel,
    ChannelKind,
    Fulfillment,
    FulfillmentLine,
    OrderLine,
    Shipment,
    StoreApiLink,
    TrackedScan,
)
from chalicelib.domain.promise import DeliveryWindow, WindowBasis
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from chalicelib.domain.store_api import (
    MILESTONE_OF,
    CredentialsRejected,
    CustomerNoteAdded,
    Done,
    Milestone,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    RetryAfter,
    ShippedLine,
    ShopifyCredentials,
)
from chalicelib.domain.store_connection import secret_line, store_api_secret_name
from chalicelib.domain.writeback import requests_for_event, requests_for_order
from chalicelib.service.writeback import (
    MAX_RESENDS,
    Redrive,
    RunStatus,
    TooManyRetries,
    WriteBackContext,
    backoff_seconds,
    handle_message,
    parse_message,
    redrive_message,
    resend_message,
    write_back,
)
from tests.unit.builders import SCANS_FROM, make_order
from tests.unit.fakes import (
    START,
    FakeChannelRepository,
    FakeClock,
    FakeNotifier,
    FakeSecrets,
    FakeStore,
    FakeStoreApis,
    FakeUnitOfWorkFactory,
    FakeWriteBackQueue,
    FakeWriteBackRecords,
)

SHOP = "shop-1"


def order_of(*lines: tuple[str, int, int], status: OrderStatus = OrderStatus.CONFIRMED):  # type: ignore[no-untyped-def]
    """An order of ``lines`` (sku, quantity, cancelled) from the Shopify channel."""
    return make_order(
        channel_id=SHOP,
        external_id="5001",
        status=status,
        lines=[
            OrderLine(
                sku=sku, quantity=qty, cancelled=cancelled, unit_price=Decimal(1), line_total=Decimal(qty)
            )
            for sku, qty, cancelled in lines
        ],
    )


def shipped(
    fulfillment_id: str,
    *items: tuple[str, int],
    numbers: tuple[str, ...] = ("1Z1",),
    minute: int = 0,
    scans: tuple[TrackingStatus, ...] = (),
    status: FulfillmentStatus = FulfillmentStatus.SHIPPED,
) -> Fulfillment:
    return Fulfillment(
        id=fulfillment_id,
        order_id="ord_0001",
        channel_id=SHOP,
        warehouse_id="wh_east",
        status=status,
        version=1,
        lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in items],
        created_at=START + timedelta(minutes=minute),
        updated_at=START + timedelta(minutes=minute),
        shipment=Shipment(carrier="ups", service="ground", tracking_numbers=list(numbers), shipped_at=START),
        tracking_history=[
            TrackedScan(
                status=s,
                raw_status=s.value,
                occurred_at=SCANS_FROM + timedelta(minutes=i),
                provider="easypost",
                applied=True,
            )
            for i, s in enumerate(scans)
        ],
    )


# --- request building (pure) --------------------------------------------------------------------


def test_every_tracking_status_that_a_customer_sees_maps_to_one_store_milestone() -> None:
    assert set(MILESTONE_OF.values()) == set(Milestone)
    assert TrackingStatus.LABEL_CREATED not in MILESTONE_OF
    assert MILESTONE_OF[TrackingStatus.RETURNED_TO_SENDER] == Milestone.FAILURE


def test_a_shipment_is_one_parcel_group_with_all_its_numbers_and_their_links() -> None:
    order = order_of(("MUG-1", 3, 0))
    group = shipped("ful_1", ("MUG-1", 2), numbers=("1ZA", "1ZB"))

    [request] = requests_for_event(
        "fulfillment.shipped", {"fulfillment_id": "ful_1"}, order=order, fulfillments=[group], kind="shopify"
    )

    assert isinstance(request, ParcelShipped)
    assert request.tracking_numbers == ("1ZA", "1ZB") and request.carrier == "ups"
    assert all(url and number in url for number, url in request.links())
    assert request.lines == (ShippedLine("MUG-1", 2),) and not request.completes_order


def test_the_shipment_that_completes_the_order_sends_every_group_first_and_completes_on_the_last() -> None:
    order = order_of(("MUG-1", 3, 0))
    groups = [
        shipped("ful_1", ("MUG-1", 2), numbers=("1ZA",)),
        shipped("ful_2", ("MUG-1", 1), numbers=("1ZB",), minute=5),
    ]

    requests = requests_for_event(
        "fulfillment.shipped",
        {"fulfillment_id": "ful_1"},
        order=order,
        fulfillments=groups,
        kind="woocommerce",
    )

    assert [(r.tracking_numbers, r.completes_order) for r in requests if isinstance(r, ParcelShipped)] == [
        (("1ZA",), False),
        (("1ZB",), True),
    ]


def test_a_tracking_update_sends_its_shipment_first_then_each_milestone_reached_once_in_order() -> None:
    order = order_of(("MUG-1", 1, 0))
    group = shipped(
        "ful_1",
        ("MUG-1", 1),
        scans=(TrackingStatus.IN_TRANSIT, TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED),
        status=FulfillmentStatus.DELIVERED,
    )

    requests = requests_for_event(
        "tracking.updated", {"fulfillment_id": "ful_1"}, order=order, fulfillments=[group], kind="shopify"
    )

    assert isinstance(requests[0], ParcelShipped) and requests[0].completes_order  # the only group
    assert [(r.milestone, r.tracking_numbers) for r in requests[1:] if isinstance(r, MilestoneReached)] == [
        (Milestone.IN_TRANSIT, ("1Z1",)),
        (Milestone.DELIVERED, ("1Z1",)),
    ]


def test_the_promised_window_goes_with_the_parcel_and_its_milestones_until_delivery() -> None:
    order = order_of(("MUG-1", 1, 0))
    group = shipped(
        "ful_1",
        ("MUG-1", 1),
        scans=(TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED),
        status=FulfillmentStatus.DELIVERED,
    )
    window = DeliveryWindow(
        earliest=date(2026, 12, 8), latest=date(2026, 12, 10), basis=WindowBasis.TRANSIT_TABLE
    )

    for requests in (
        requests_for_event(
            "tracking.updated",
            {"fulfillment_id": "ful_1"},
            order=order,
            fulfillments=[group],
            kind="shopify",
            windows={"ful_1": window},
        ),
        requests_for_order(order, [group], kind="shopify", windows={"ful_1": window}),
    ):
        parcel, in_transit, delivered = requests
        assert isinstance(parcel, ParcelShipped) and parcel.expected_between == (
            date(2026, 12, 8),
            date(2026, 12, 10),
        )
        assert isinstance(in_transit, MilestoneReached) and in_transit.estimated_delivery == date(
            2026, 12, 10
        )
        assert isinstance(delivered, MilestoneReached) and delivered.estimated_delivery is None
    [unpromised] = requests_for_event(
        "fulfillment.shipped", {"fulfillment_id": "ful_1"}, order=order, fulfillments=[group], kind="shopify"
    )
    assert isinstance(unpromised, ParcelShipped) and unpromised.expected_between is None


def test_an_event_for_a_fulfillment_that_has_not_shipped_asks_for_nothing() -> None:
    order = order_of(("MUG-1", 1, 0))
    group = shipped("ful_1", ("MUG-1", 1), status=FulfillmentStatus.PACKED)

    for kind in ("fulfillment.shipped", "tracking.updated"):
        assert (
            requests_for_event(
                kind, {"fulfillment_id": "ful_1"}, order=order, fulfillments=[group], kind="shopify"
            )
            == []
        )


def test_a_cancelled_order_is_cancelled_whole_and_cancelled_lines_only_where_the_store_has_them() -> None:
    whole = order_of(("MUG-1", 2, 2), status=OrderStatus.CANCELLED)
    some = order_of(("MUG-1", 2, 1), ("TEE-M", 1, 0))
    data = {"reason": "customer asked"}

    assert requests_for_event("order.cancelled", data, order=whole, fulfillments=[], kind="shopify") == [
        OrderCancelled("5001", "customer asked")
    ]
    assert requests_for_event(
        "order.lines_cancelled", data, order=some, fulfillments=[], kind="woocommerce"
    ) == [OrderCancelled("5001", "customer asked", lines=(ShippedLine("MUG-1", 1),))]
    assert (
        requests_for_event("order.lines_cancelled", data, order=some, fulfillments=[], kind="shopify") == []
    )


def test_only_notes_meant_for_the_customer_are_written_back() -> None:
    order = order_of(("MUG-1", 1, 0))

    def note(visibility: str) -> list[object]:
        data = {"note_id": "note_1", "text": "Your gift wrap is on us", "visibility": visibility}
        return list(
            requests_for_event("order.note_added", data, order=order, fulfillments=[], kind="woocommerce")
        )

    assert note("customer") == [CustomerNoteAdded("5001", "note_1", "Your gift wrap is on us")]
    assert note("private") == []


@given(
    st.permutations(["ful_1", "ful_2", "ful_3"]), st.sampled_from(["fulfillment.shipped", "tracking.updated"])
)
def test_whatever_order_events_arrive_in_the_requests_sent_converge_to_one_per_group(
    arrival: list[str], kind: str
) -> None:
    order = order_of(("MUG-1", 3, 0))
    groups = [
        shipped(fid, ("MUG-1", 1), numbers=(f"1Z{n}",), minute=n, scans=(TrackingStatus.DELIVERED,))
        for n, fid in enumerate(["ful_1", "ful_2", "ful_3"])
    ]
    sent: list[object] = []
    for fid in arrival:
        sent += requests_for_event(
            kind, {"fulfillment_id": fid}, order=order, fulfillments=groups, kind="shopify"
        )

    written = {r for r in sent if isinstance(r, ParcelShipped)}
    assert {r.tracking_numbers for r in written} == {("1Z0",), ("1Z1",), ("1Z2",)}
    # Whatever came first, the order is completed with its last group, after the others.
    assert {r.tracking_numbers for r in written if r.completes_order} == {("1Z2",)}
    assert {
        r for r in requests_for_order(order, groups, kind="shopify") if isinstance(r, ParcelShipped)
    } == written


# --- runs over fakes ------------------------------------------------------------------------------


class World:
    def __init__(self, *, connected: bool = True) -> None:
        self.store = FakeStore()
        self.clock = FakeClock()
        self.secrets = FakeSecrets()
        self.stores = FakeStoreApis()
        self.records = FakeWriteBackRecords()
        self.notifier = FakeNotifier()
        self.queue = FakeWriteBackQueue()
        link = StoreApiLink(url="https://shop.example", updated_at=START) if connected else None
        self.store.add_channel(Channel(id=SHOP, name="Shop", kind="shopify", store_api=link))
        self.secrets.values[store_api_secret_name(ChannelKind.SHOPIFY, SHOP)] = [
            secret_line(ShopifyCredentials("https://shop.example", "shpat_1"), START)
        ]
        self.ctx = WriteBackContext(
            uow_factory=FakeUnitOfWorkFactory(self.store),
            secrets=self.secrets,
            stores=self.stores,
            ledger=self.records,
            alerts=self.records,
            notifier=self.notifier,
            queue=self.queue,
            clock=self.clock,
            channels=self.channel_repository(),
        )

    def channel_repository(self) -> FakeChannelRepository:
        """The channels as the write-back reads them: the same documents as the store's."""
        repository = FakeChannelRepository()
        repository.channels = self.store.channels
        return repository

    def event(self, kind: str, **data: object) -> DomainEvent:
        return DomainEvent(
            id=f"evt_{kind}",
            type=kind,
            order_id="ord_0001",
            channel_id=SHOP,
            occurred_at=START,
            actor="t",
            data=data,
        )

    @property
    def api(self):  # type: ignore[no-untyped-def]
        return self.stores.api


@pytest.fixture
def world() -> World:
    w = World()
    w.store.put_order(order_of(("MUG-1", 2, 0)), [shipped("ful_1", ("MUG-1", 1), numbers=("1ZA",))])
    return w


def test_a_shipment_is_written_once_and_a_repeated_event_writes_nothing_more(world: World) -> None:
    event = world.event("fulfillment.shipped", fulfillment_id="ful_1")

    first = write_back(world.ctx, event)
    again = write_back(world.ctx, event)

    assert first.status == again.status == RunStatus.WRITTEN
    assert len(world.api.written) == 1 and len(world.api.calls) == 2
    assert world.records.claims == {}  # released after each run


def test_a_run_that_finds_the_order_claimed_is_retried_shortly_without_calling_the_store(
    world: World,
) -> None:
    world.records.claim_order("ord_0001", seconds=60)

    result = write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))

    assert result.status == RunStatus.RETRY and 0 < result.retry_seconds <= 5
    assert world.api.calls == []


def test_a_store_asking_to_wait_stops_the_run_with_its_wait(world: World) -> None:
    world.api.answers = [RetryAfter(17, "throttled")]

    result = write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))

    assert (result.status, result.retry_seconds) == (RunStatus.RETRY, 17)
    assert world.api.written == []


def test_a_message_the_store_asks_to_wait_for_is_sent_again_delayed_and_counted(world: World) -> None:
    world.api.answers = [RetryAfter(17, "throttled")]
    body = json.dumps(
        {
            "detail-type": "fulfillment.shipped",
            "detail": world.event("fulfillment.shipped", fulfillment_id="ful_1").model_dump(mode="json"),
        }
    )

    result = handle_message(world.ctx, body)

    assert result.status == RunStatus.RETRY
    [(resent, delay)] = world.queue.sent
    assert delay == 17 and json.loads(resent)["resent"] == 1


def test_a_message_kept_waiting_backs_off_to_sqs_longest_delay_then_fails(world: World) -> None:
    assert [backoff_seconds(n) for n in (0, 1, 2, 3, 10, 11, 40)] == [0, 0, 2, 4, 512, 900, 900]
    event = world.event("fulfillment.shipped", fulfillment_id="ful_1").model_dump(mode="json")
    world.api.answers = [RetryAfter(17, "throttled")]

    with pytest.raises(TooManyRetries):
        handle_message(world.ctx, json.dumps({"detail": event, "resent": MAX_RESENDS}))
    assert world.queue.sent == []


def test_a_wait_longer_than_sqs_can_delay_is_held_back_until_it_is_due(world: World) -> None:
    event = world.event("fulfillment.shipped", fulfillment_id="ful_1").model_dump(mode="json")
    world.api.answers = [RetryAfter(3600, "Shopify asks for an hour")]

    handle_message(world.ctx, json.dumps({"detail": event}))
    [(held, delay)] = world.queue.sent
    assert delay == 900 and json.loads(held)["not_before"]

    handle_message(world.ctx, held)  # arrives 15 minutes early: sent again, not run, not counted
    [_, (again, delay_again)] = world.queue.sent
    assert world.api.written == [] and delay_again > 0
    assert json.loads(again)["resent"] == json.loads(held)["resent"] == 1


def test_a_refused_request_is_recorded_for_operations_and_the_run_goes_on(world: World) -> None:
    world.store.put_order(
        order_of(("MUG-1", 2, 0)),
        [
            shipped("ful_1", ("MUG-1", 1), numbers=("1ZA",), scans=(TrackingStatus.IN_TRANSIT,)),
        ],
    )
    world.api.answers = [Rejected("Shopify has no order")]

    result = write_back(world.ctx, world.event("tracking.updated", fulfillment_id="ful_1"))

    assert result.status == RunStatus.WRITTEN
    [refused] = world.records.refused
    assert refused.order_id == "ord_0001" and "1ZA" in refused.request and "no order" in refused.reason
    assert [type(r) for r in world.api.written] == [MilestoneReached]


def test_refused_credentials_park_the_order_and_alert_once_per_channel(world: World) -> None:
    world.api.answers = [CredentialsRejected("HTTP 401")]

    first = write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))
    second = write_back(
        world.ctx, world.event("order.note_added", note_id="n1", text="Hello", visibility="customer")
    )

    assert first.status == second.status == RunStatus.PARKED
    assert [m.kind for m in world.notifier.sent] == ["operations"]
    assert world.notifier.sent[0].fields["message"]["channel_id"] == SHOP
    assert world.records.alert_of(SHOP) is not None
    [parked] = world.records.parked(SHOP, limit=10)
    assert parked.order_id == "ord_0001" and parked.notes == (("n1", "Hello"),)
    assert len(world.api.calls) == 1  # the second run parked without calling the store


def test_fixed_credentials_clear_the_alert_and_redrive_every_parked_order(world: World) -> None:
    world.api.answers = [CredentialsRejected("HTTP 401")]
    write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))
    write_back(world.ctx, world.event("order.note_added", note_id="n1", text="Hello", visibility="customer"))
    changed = DomainEvent(
        id="evt_ch", type="channel.store_api_changed", channel_id=SHOP, occurred_at=START, actor="t", data={}
    )

    assert write_back(world.ctx, changed).status == RunStatus.WRITTEN
    assert world.records.alert_of(SHOP) is None and world.records.parked(SHOP, limit=10) == []
    [(body, delay)] = world.queue.sent
    message, resent, _ = parse_message(body)
    assert message == Redrive(SHOP, "ord_0001", (("n1", "Hello"),)) and resent == 0 and delay == 0

    assert write_back(world.ctx, message).status == RunStatus.WRITTEN
    assert [type(r) for r in world.api.written] == [ParcelShipped, CustomerNoteAdded]


def test_an_alert_that_could_not_be_published_is_tried_again_on_the_next_refusal(world: World) -> None:
    world.notifier.fail_next("operations", RuntimeError("SNS down"))
    world.api.answers = [CredentialsRejected("HTTP 401")]

    with pytest.raises(RuntimeError):
        write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))
    assert world.records.alert_of(SHOP) is None  # so the retried message alerts
    world.api.answers = [CredentialsRejected("HTTP 401")]
    assert (
        write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1")).status
        == RunStatus.PARKED
    )
    assert [m.kind for m in world.notifier.sent] == ["operations"]


def test_a_channel_without_a_store_api_is_skipped() -> None:
    world = World(connected=False)
    world.store.put_order(order_of(("MUG-1", 1, 0)), [shipped("ful_1", ("MUG-1", 1))])

    result = write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))

    assert result.status == RunStatus.SKIPPED and world.api.calls == []


def test_a_resent_message_counts_its_resends_and_keeps_its_event() -> None:
    body = json.dumps(
        {
            "detail-type": "fulfillment.shipped",
            "detail": World().event("fulfillment.shipped").model_dump(mode="json"),
        }
    )

    again = resend_message(
        resend_message(body, resent=1, not_before=None), resent=2, not_before="2026-12-07T10:00:00Z"
    )
    message, resent, not_before = parse_message(again)

    assert isinstance(message, DomainEvent) and message.type == "fulfillment.shipped"
    assert resent == 2 and not_before is not None and not_before.hour == 10
    assert parse_message(redrive_message(Redrive(SHOP, "ord_1")))[0] == Redrive(SHOP, "ord_1")


def test_done_outcomes_need_no_bookkeeping(world: World) -> None:
    world.api.answers = [Done("already")]

    assert (
        write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1")).status
        == RunStatus.WRITTEN
    )
    assert world.records.refused == [] and world.records.parked_items == {}


def test_a_run_out_of_time_stops_between_requests_and_asks_to_run_again_at_once(world: World) -> None:
    world.store.put_order(
        order_of(("MUG-1", 2, 0)),
        [shipped("ful_1", ("MUG-1", 1), numbers=("1ZA",), scans=(TrackingStatus.DELIVERED,))],
    )
    left = iter([5.0])  # asked only once a request has been sent

    result = write_back(
        world.ctx, world.event("tracking.updated", fulfillment_id="ful_1"), time_left=lambda: next(left)
    )

    assert (result.status, result.retry_seconds) == (RunStatus.RETRY, 0)
    assert [type(r) for r in world.api.calls] == [ParcelShipped]  # the milestone waits for the next run


def test_a_disconnected_store_keeps_its_parked_orders_for_the_next_connection(world: World) -> None:
    world.api.answers = [CredentialsRejected("HTTP 401")]
    write_back(world.ctx, world.event("fulfillment.shipped", fulfillment_id="ful_1"))
    world.store.add_channel(Channel(id=SHOP, name="Shop", kind="shopify", store_api=None))
    changed = DomainEvent(
        id="evt_ch", type="channel.store_api_changed", channel_id=SHOP, occurred_at=START, actor="t", data={}
    )

    assert write_back(world.ctx, changed).status == RunStatus.SKIPPED
    assert world.records.alert_of(SHOP) is None and len(world.records.parked(SHOP, limit=10)) == 1
    assert world.queue.sent == []
