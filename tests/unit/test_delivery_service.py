"""Carrier updates over the fakes: ingest (dedup, matched or not) and apply (the replay).

The service claims that applying replays a fulfillment's whole scan history in the provider's
event-time order, so that the outcome depends only on which scans exist, never on the order in
which the updates arrived. The properties at the end check that claim, scans of the same second
included (the higher rank first, so a voided label never hides a delivery). One exception is by
design: once a parcel is delivered or back with the sender, a late scan of the other end is
recorded, not applied, so of a delivery and a return the first to arrive stays. The estimated
delivery is not replayed: an update's estimate counts only if the update is at least as recent as
the tracking status (the test marked xfail pins where that is not enough).
"""

from __future__ import annotations

import copy
import functools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import ConcurrencyConflict
from chalicelib.domain.models import TrackedScan
from chalicelib.domain.status import FulfillmentStatus, OrderStatus, TrackingStatus
from chalicelib.domain.tracking import TERMINAL_TRACKING_STATUSES, TrackingScan, TrackingUpdate
from chalicelib.service.changes import MAX_ATTEMPTS
from chalicelib.service.delivery import (
    CONSUMER_SCOPE,
    UNMATCHED_METRIC,
    WEBHOOK_DEDUP_TTL_SECONDS,
    Ingested,
    apply_tracking,
)
from chalicelib.service.ports import DedupRecord
from tests.unit.builders import EAST, SCANS_FROM, WEST, milestones, scan, seed_catalogue, tracking_update
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes

S, F = TrackingStatus, FulfillmentStatus
NUMBER = "9400-0001"


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)
    store.set_stock(WEST, "CAP-1", 10)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    return Road(store, uow_factory, ids, clock)


def ship(road: Road, *items: tuple[str, int], number: str = NUMBER) -> tuple[str, str]:
    """An order of ``items`` (one warehouse) shipped under ``number``: (order id, fulfillment id)."""
    order_id = road.released(*(items or (("MUG-1", 1),)))
    (fulfillment,) = road.fulfillments(order_id)
    road.through(fulfillment.id, until="pack")
    road.ship(fulfillment.id, number)
    return order_id, fulfillment.id


def update(*scans: TrackingScan, event_id: str, number: str = NUMBER, **fields: Any) -> TrackingUpdate:
    return tracking_update(number, *scans, event_id=event_id, **fields)


def history(road: Road, fulfillment_id: str) -> list[tuple[str, int, bool]]:
    """(status, minute, applied) of each scan the fulfillment keeps."""
    return [
        (s.status.value, int((s.occurred_at - SCANS_FROM) / timedelta(minutes=1)), s.applied)
        for s in road.store.fulfillment(fulfillment_id).tracking_history
    ]


def unmatched_counts(store: FakeStore) -> dict[str, int]:
    """day -> unmatched tracking updates counted that day (other metrics left out)."""
    return {day: value for (day, metric), value in store.counters.items() if metric == UNMATCHED_METRIC}


# -- ingest -----------------------------------------------------------------------------------


def test_an_update_for_a_shipped_number_is_accepted_and_kept_under_its_number_with_a_dedup_record(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id, fulfillment_id = ship(road)
    timeline = road.events(order_id)
    clock.advance(minutes=5)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1", public_url="https://track.example/1")

    assert road.ingest(posted) is Ingested.ACCEPTED

    (received,) = store.tracking_events_of(NUMBER)
    assert received.model_dump(exclude={"id", "data"}, exclude_none=True) == {
        "type": "tracking.received",
        "order_id": order_id,
        "tracking_number": NUMBER,
        "occurred_at": clock.now(),
        "actor": "carrier:easypost",
    }
    assert received.data == {
        "update": posted.model_dump(mode="json"),
        "fulfillment_id": fulfillment_id,
        "shipped_with": "usps",
    }
    assert TrackingUpdate.model_validate(received.data["update"]) == posted
    assert store.dedup_record("webhook#easypost", "trk_1") == DedupRecord(
        scope="webhook#easypost", key="trk_1", request_hash="", ref=NUMBER, created_at=clock.now()
    )
    # Ingest only records: the order and its fulfillment wait for the worker.
    assert road.events(order_id) == timeline
    assert store.fulfillment(fulfillment_id).tracking_history == []


def test_the_webhook_dedup_record_lives_fourteen_days(road: Road, store: FakeStore, clock: FakeClock) -> None:
    ship(road)
    road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1"))

    clock.advance(seconds=WEBHOOK_DEDUP_TTL_SECONDS)
    assert store.dedup_record("webhook#easypost", "trk_1") is not None
    clock.advance(seconds=1)
    assert store.dedup_record("webhook#easypost", "trk_1") is None


def test_the_same_provider_event_again_is_a_duplicate_and_writes_nothing(
    road: Road, store: FakeStore
) -> None:
    ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.ingest(posted)
    before = store.snapshot()

    assert road.ingest(posted) is Ingested.DUPLICATE
    assert road.ingest(posted.model_copy(update={"status": S.DELIVERED})) is Ingested.DUPLICATE

    assert store.snapshot() == before


def test_the_same_event_id_from_another_provider_is_another_event(road: Road, store: FakeStore) -> None:
    ship(road)
    road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1"))

    assert road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1", provider="aftership")) is (
        Ingested.ACCEPTED
    )
    assert len(store.tracking_events_of(NUMBER)) == 2


def test_a_retry_racing_its_first_delivery_is_a_duplicate_and_writes_nothing(
    road: Road, store: FakeStore, clock: FakeClock, uow_factory: FakeUnitOfWorkFactory
) -> None:
    ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")

    def first_delivery_commits() -> None:
        uow = uow_factory()
        uow.add_dedup(
            DedupRecord(
                scope="webhook#easypost", key="trk_1", request_hash="", ref=NUMBER, created_at=clock.now()
            )
        )
        uow.commit()

    store.before_next_commit(first_delivery_commits)

    assert road.ingest(posted) is Ingested.DUPLICATE
    assert store.tracking_events_of(NUMBER) == []


def test_an_unknown_number_is_kept_as_unmatched_and_counted_for_the_day(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    ship(road)
    stray = update(scan(S.IN_TRANSIT, 0), event_id="trk_9", number="NOBODY-1")

    assert road.ingest(stray) is Ingested.UNMATCHED

    (unmatched,) = store.tracking_events_of("NOBODY-1")
    assert (unmatched.type, unmatched.order_id, unmatched.tracking_number, unmatched.actor) == (
        "tracking.unmatched",
        None,
        "NOBODY-1",
        "carrier:easypost",
    )
    assert unmatched.data == {"update": stray.model_dump(mode="json")}
    assert store.counter(UNMATCHED_METRIC, "2026-11-26") == 1
    assert store.dedup_record("webhook#easypost", "trk_9") is not None
    assert store.tracking_events_of(NUMBER) == []


def test_unmatched_updates_count_once_each_and_per_day(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1", number="NOBODY-1"))
    road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_2", number="NOBODY-2"))
    assert (
        road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_2", number="NOBODY-2")) is Ingested.DUPLICATE
    )
    clock.advance(hours=15)  # past midnight UTC
    road.ingest(update(scan(S.DELIVERED, 9), event_id="trk_3", number="NOBODY-1"))

    assert unmatched_counts(store) == {"2026-11-26": 2, "2026-11-27": 1}
    assert [e.type for e in store.tracking_events_of("NOBODY-1")] == ["tracking.unmatched"] * 2


def test_a_matched_update_is_not_counted(road: Road, store: FakeStore) -> None:
    ship(road)
    road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1"))

    assert unmatched_counts(store) == {}


def test_the_tracking_index_is_by_number_so_another_carriers_spelling_still_matches(
    road: Road, store: FakeStore
) -> None:
    order_id, fulfillment_id = ship(road)

    assert road.ingest(update(scan(S.IN_TRANSIT, 0), event_id="trk_1", carrier="usps_ground")) is (
        Ingested.ACCEPTED
    )
    (received,) = store.tracking_events_of(NUMBER)
    assert (received.order_id, received.data["fulfillment_id"], received.data["shipped_with"]) == (
        order_id,
        fulfillment_id,
        "usps",
    )


# -- apply ------------------------------------------------------------------------------------


def test_applying_an_update_moves_the_fulfillment_and_records_the_scans_and_the_change(
    road: Road, store: FakeStore, clock: FakeClock
) -> None:
    order_id, fulfillment_id = ship(road)
    eta = SCANS_FROM + timedelta(days=2)
    posted = update(
        scan(S.LABEL_CREATED, 0),
        scan(S.IN_TRANSIT, 30, message="Departed facility", location="MEMPHIS, TN, US"),
        event_id="trk_1",
        estimated_delivery=eta,
        public_url="https://track.example/1",
    )
    road.ingest(posted)
    clock.advance(minutes=1)

    result = road.apply(posted)

    tracked = store.fulfillment(fulfillment_id)
    assert result is not None and result.fulfillments == [tracked]
    assert (
        tracked.status,
        tracked.tracking_status,
        tracked.tracking_status_at,
        tracked.estimated_delivery,
    ) == (
        F.IN_TRANSIT,
        S.IN_TRANSIT,
        SCANS_FROM + timedelta(minutes=30),
        eta,
    )
    assert tracked.delivered_at is None
    assert tracked.tracking_history[1] == TrackedScan(
        status=S.IN_TRANSIT,
        raw_status="in_transit",
        occurred_at=SCANS_FROM + timedelta(minutes=30),
        message="Departed facility",
        location="MEMPHIS, TN, US",
        provider="easypost",
        applied=True,
    )
    assert history(road, fulfillment_id) == [("label_created", 0, True), ("in_transit", 30, True)]
    assert road.order(order_id).status == OrderStatus.SHIPPED
    changed = road.events(order_id)[-1]
    assert (changed.type, changed.actor, changed.occurred_at, changed.version) == (
        "tracking.updated",
        "carrier:easypost",
        clock.now(),
        road.order(order_id).version,
    )
    assert {k: v for k, v in changed.data.items() if k != "new_scans"} == {
        "status": "shipped",
        **milestones(),
        "fulfillment_id": fulfillment_id,
        "provider": "easypost",
        "carrier": "usps",
        "tracking_number": NUMBER,
        "tracking_status_before": None,
        "tracking_status": "in_transit",
        "changed": True,
        "fulfillment_status": "in_transit",
        "raw_status": "in_transit",
        "raw_substatus": None,
        "estimated_delivery": eta.isoformat(),
        "public_url": "https://track.example/1",
        "ignored_scans": 0,
    }
    assert [s["status"] for s in changed.data["new_scans"]] == ["label_created", "in_transit"]
    received = road.received(posted)
    assert store.dedup_record(CONSUMER_SCOPE, received.id) is not None


def test_a_redelivered_tracking_event_is_applied_once_and_writes_nothing_again(
    road: Road, store: FakeStore
) -> None:
    ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.track(posted)
    before = store.snapshot()

    assert road.apply(posted) is None

    assert store.snapshot() == before


def test_a_redelivery_racing_the_first_application_writes_nothing(
    road: Road, store: FakeStore, clock: FakeClock, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds
) -> None:
    order_id, fulfillment_id = ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.ingest(posted)
    received = road.received(posted)

    def first_application_commits() -> None:
        uow = uow_factory()
        uow.add_dedup(
            DedupRecord(
                scope=CONSUMER_SCOPE,
                key=received.id,
                request_hash="",
                ref=fulfillment_id,
                created_at=clock.now(),
            )
        )
        uow.commit()

    store.before_next_commit(first_application_commits)

    assert apply_tracking(uow_factory, received, ids=ids, clock=clock) is None
    assert store.fulfillment(fulfillment_id).tracking_history == []
    assert road.event_types(order_id)[-1] == "fulfillment.shipped"


def test_an_update_applied_while_the_order_changes_concurrently_is_retried_and_applied_once(
    road: Road, store: FakeStore
) -> None:
    order_id, fulfillment_id = ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.ingest(posted)

    def someone_else_writes_the_order() -> None:
        current = store.order(order_id)
        store.put_order(
            current.model_copy(update={"version": current.version + 1}), road.fulfillments(order_id)
        )

    store.before_next_commit(someone_else_writes_the_order)

    assert road.apply(posted) is not None
    assert road.event_types(order_id).count("tracking.updated") == 1
    assert store.fulfillment(fulfillment_id).status == F.IN_TRANSIT


def test_an_update_that_retries_too_often_gives_up_and_writes_nothing(road: Road, store: FakeStore) -> None:
    order_id, fulfillment_id = ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.ingest(posted)

    attempts = 0

    def someone_else_writes_the_order_every_time() -> None:
        nonlocal attempts
        attempts += 1
        current = store.order(order_id)
        store.put_order(
            current.model_copy(update={"version": current.version + 1}), road.fulfillments(order_id)
        )
        if attempts < MAX_ATTEMPTS:
            store.before_next_commit(someone_else_writes_the_order_every_time)

    store.before_next_commit(someone_else_writes_the_order_every_time)

    with pytest.raises(ConcurrencyConflict):
        road.apply(posted)

    assert attempts == MAX_ATTEMPTS
    assert store.fulfillment(fulfillment_id).tracking_history == []
    assert store.dedup_record(CONSUMER_SCOPE, road.received(posted).id) is None  # so a retry applies it
    road.apply(posted)
    assert store.fulfillment(fulfillment_id).status == F.IN_TRANSIT


def test_delivered_arriving_before_in_transit_ends_delivered_with_both_scans_in_the_history(
    road: Road, store: FakeStore
) -> None:
    order_id, fulfillment_id = ship(road)
    delivered = update(scan(S.DELIVERED, 90), event_id="trk_2")
    in_transit = update(scan(S.IN_TRANSIT, 10), event_id="trk_1")

    road.track(delivered, in_transit)

    tracked = store.fulfillment(fulfillment_id)
    assert (tracked.status, tracked.tracking_status, tracked.delivered_at) == (
        F.DELIVERED,
        S.DELIVERED,
        SCANS_FROM + timedelta(minutes=90),
    )
    # Replayed in event time the in-transit scan came first and applied: the flags are the ones
    # in-order arrival would have left.
    assert history(road, fulfillment_id) == [("in_transit", 10, True), ("delivered", 90, True)]
    assert road.order(order_id).status == OrderStatus.DELIVERED
    first, second = [e for e in road.events(order_id) if e.type == "tracking.updated"]
    assert (first.data["changed"], first.data["fulfillment_status"]) == (True, "delivered")
    assert (second.data["changed"], second.data["tracking_status"], second.data["ignored_scans"]) == (
        False,
        "delivered",
        0,
    )


def test_a_scan_newer_than_the_delivery_is_recorded_but_not_applied(road: Road, store: FakeStore) -> None:
    order_id, fulfillment_id = ship(road)

    road.track(
        update(scan(S.IN_TRANSIT, 10), scan(S.DELIVERED, 90), event_id="trk_1"),
        update(scan(S.OUT_FOR_DELIVERY, 120), event_id="trk_2"),
    )

    tracked = store.fulfillment(fulfillment_id)
    assert (tracked.status, tracked.tracking_status, tracked.tracking_status_at) == (
        F.DELIVERED,
        S.DELIVERED,
        SCANS_FROM + timedelta(minutes=90),
    )
    assert history(road, fulfillment_id) == [
        ("in_transit", 10, True),
        ("delivered", 90, True),
        ("out_for_delivery", 120, False),
    ]
    last = road.events(order_id)[-1]
    assert (last.data["changed"], last.data["ignored_scans"]) == (False, 1)


def test_a_newer_scan_of_lower_rank_is_recorded_but_does_not_move_the_fulfillment_back(
    road: Road, store: FakeStore
) -> None:
    _, fulfillment_id = ship(road)

    road.track(
        update(scan(S.OUT_FOR_DELIVERY, 10), event_id="trk_1"),
        update(scan(S.IN_TRANSIT, 20), event_id="trk_2"),
    )

    assert store.fulfillment(fulfillment_id).status == F.OUT_FOR_DELIVERY
    assert history(road, fulfillment_id) == [("out_for_delivery", 10, True), ("in_transit", 20, False)]


def test_duplicate_scans_within_and_across_updates_are_stored_once(road: Road, store: FakeStore) -> None:
    order_id, fulfillment_id = ship(road)
    first = scan(S.IN_TRANSIT, 10)

    road.track(
        update(first, first, scan(S.IN_TRANSIT, 20), event_id="trk_1"),
        update(first, scan(S.IN_TRANSIT, 20), scan(S.OUT_FOR_DELIVERY, 30), event_id="trk_2"),
        update(first, event_id="trk_3", provider="aftership"),
    )

    assert history(road, fulfillment_id) == [
        ("in_transit", 10, True),
        ("in_transit", 20, True),
        ("out_for_delivery", 30, True),
    ]
    updates = [e for e in road.events(order_id) if e.type == "tracking.updated"]
    assert [len(e.data["new_scans"]) for e in updates] == [2, 1, 0]


def test_a_failed_shipment_recovers_when_a_later_in_transit_scan_arrives(
    road: Road, store: FakeStore
) -> None:
    order_id, fulfillment_id = ship(road)

    road.track(update(scan(S.IN_TRANSIT, 0), scan(S.FAILED, 10), event_id="trk_1"))
    assert store.fulfillment(fulfillment_id).status == F.FAILED

    road.track(update(scan(S.IN_TRANSIT, 60), event_id="trk_2"))

    tracked = store.fulfillment(fulfillment_id)
    assert (tracked.status, tracked.tracking_status) == (F.IN_TRANSIT, S.IN_TRANSIT)
    assert history(road, fulfillment_id) == [
        ("in_transit", 0, True),
        ("failed", 10, True),
        ("in_transit", 60, True),
    ]
    assert road.order(order_id).status == OrderStatus.SHIPPED


def test_an_order_of_two_shipments_is_partially_delivered_then_delivered(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east, west = road.at(EAST, order_id).id, road.at(WEST, order_id).id
    road.through(east, until="pack")
    road.ship(east, "EAST-1")
    road.through(west, until="pack")
    road.ship(west, "WEST-1")
    assert road.order(order_id).status == OrderStatus.SHIPPED

    road.track(update(scan(S.DELIVERED, 30), event_id="trk_1", number="WEST-1"))

    assert road.order(order_id).status == OrderStatus.PARTIALLY_DELIVERED
    assert [(f.id, f.status) for f in road.fulfillments(order_id)] == [(east, F.SHIPPED), (west, F.DELIVERED)]

    road.track(update(scan(S.IN_TRANSIT, 20), scan(S.DELIVERED, 200), event_id="trk_2", number="EAST-1"))

    assert road.order(order_id).status == OrderStatus.DELIVERED
    assert {f.status for f in road.fulfillments(order_id)} == {F.DELIVERED}


def test_only_the_update_that_delivers_the_last_parcel_completes_the_orders_delivery(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east, west = road.at(EAST, order_id).id, road.at(WEST, order_id).id
    road.through(east, until="pack")
    road.ship(east, "EAST-1")
    road.through(west, until="pack")
    road.ship(west, "WEST-1")

    road.track(update(scan(S.DELIVERED, 30), event_id="trk_1", number="WEST-1"))
    road.track(update(scan(S.DELIVERED, 200), event_id="trk_2", number="EAST-1"))
    road.track(update(scan(S.OUT_FOR_DELIVERY, 300), event_id="trk_3", number="EAST-1"))  # late

    updates = [e for e in road.events(order_id) if e.type == "tracking.updated"]
    assert [(e.data["status"], {k: e.data[k] for k in milestones()}) for e in updates] == [
        ("partially_delivered", milestones()),
        ("delivered", milestones(order_fully_delivered=True)),
        ("delivered", milestones()),
    ]


def test_the_last_parcel_shipping_after_the_first_was_delivered_completes_the_shipment(
    road: Road, store: FakeStore
) -> None:
    """The order's status is never ``shipped`` on the way: only the flag can tell."""
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east, west = road.at(EAST, order_id).id, road.at(WEST, order_id).id
    road.through(east, until="pack")
    road.ship(east, "EAST-1")
    road.track(update(scan(S.DELIVERED, 30), event_id="trk_1", number="EAST-1"))
    road.through(west, until="pack")

    road.ship(west, "WEST-1")

    shipped = [e for e in road.events(order_id) if e.type == "fulfillment.shipped"]
    assert [(e.data["status"], e.data["order_fully_shipped"]) for e in shipped] == [
        ("partially_shipped", False),
        ("partially_delivered", True),
    ]
    assert road.events(order_id)[-1].data["order_fully_delivered"] is False


def test_a_delivery_while_the_rest_of_the_order_is_still_in_the_warehouse_is_a_partial_delivery(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east = road.at(EAST, order_id).id
    road.through(east, until="pack")
    road.ship(east, "EAST-1")

    road.track(update(scan(S.DELIVERED, 30), event_id="trk_1", number="EAST-1"))

    assert road.order(order_id).status == OrderStatus.PARTIALLY_DELIVERED


def test_the_estimated_delivery_is_kept_when_a_later_update_lacks_one_and_replaced_by_a_new_one(
    road: Road, store: FakeStore
) -> None:
    _, fulfillment_id = ship(road)
    first_eta, second_eta = SCANS_FROM + timedelta(days=2), SCANS_FROM + timedelta(days=3)

    road.track(update(scan(S.IN_TRANSIT, 0), event_id="trk_1", estimated_delivery=first_eta))
    road.track(update(scan(S.IN_TRANSIT, 60), event_id="trk_2"))
    assert store.fulfillment(fulfillment_id).estimated_delivery == first_eta

    road.track(update(scan(S.IN_TRANSIT, 120), event_id="trk_3", estimated_delivery=second_eta))
    assert store.fulfillment(fulfillment_id).estimated_delivery == second_eta


def test_an_older_update_arriving_late_does_not_replace_a_newer_estimate(
    road: Road, store: FakeStore
) -> None:
    _, fulfillment_id = ship(road)
    stale, fresh = SCANS_FROM + timedelta(days=2), SCANS_FROM + timedelta(days=4)

    road.track(
        update(scan(S.IN_TRANSIT, 120), event_id="trk_2", estimated_delivery=fresh),
        update(scan(S.IN_TRANSIT, 0), event_id="trk_1", estimated_delivery=stale),
    )

    assert store.fulfillment(fulfillment_id).estimated_delivery == fresh


def test_an_older_update_arriving_late_does_not_replace_the_estimate_of_a_newer_unapplied_scan(
    road: Road, store: FakeStore
) -> None:
    _, fulfillment_id = ship(road)
    first, fresh, stale = (SCANS_FROM + timedelta(days=d) for d in (1, 3, 2))

    road.track(
        update(scan(S.OUT_FOR_DELIVERY, 100), event_id="trk_1", estimated_delivery=first),
        # Back in transit (not delivered today) with a new estimate: recorded, not applied.
        update(scan(S.IN_TRANSIT, 120), event_id="trk_3", estimated_delivery=fresh),
        update(scan(S.IN_TRANSIT, 110), event_id="trk_2", estimated_delivery=stale),  # late
    )

    assert store.fulfillment(fulfillment_id).estimated_delivery == fresh


def test_an_update_for_a_fulfillment_the_order_no_longer_has_is_dropped(road: Road, store: FakeStore) -> None:
    ship(road)
    posted = update(scan(S.IN_TRANSIT, 0), event_id="trk_1")
    road.ingest(posted)
    received = road.received(posted)
    stray = received.model_copy(update={"data": {**received.data, "fulfillment_id": "ful_gone"}})
    before = store.snapshot()

    assert apply_tracking(road.uow_factory, stray, ids=road.ids, clock=road.clock) is None
    assert store.snapshot() == before


# -- order independence -----------------------------------------------------------------------

#: An arrival plan: the updates (each a list of (status, minute) scans), and the order they arrive in.
Plan = tuple[list[list[tuple[TrackingStatus, int]]], list[int]]
NON_TERMINAL = [s for s in TrackingStatus if s not in TERMINAL_TRACKING_STATUSES]
PROPERTY = settings(max_examples=120, deadline=None)


@functools.cache
def _shipped_template() -> tuple[FakeStore, SequentialIds, str, str]:
    clock = FakeClock()
    store = FakeStore(clock=clock)
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)
    ids = SequentialIds()
    order_id, fulfillment_id = ship(Road(store, FakeUnitOfWorkFactory(store), ids, clock))
    return store, ids, order_id, fulfillment_id


def shipped_road() -> tuple[Road, str, str]:
    """A fresh copy of one shipped order (building it from scratch per example is slow)."""
    store, ids, order_id, fulfillment_id = copy.deepcopy(_shipped_template())
    return Road(store, FakeUnitOfWorkFactory(store), ids, store.clock), order_id, fulfillment_id


def outcome(plan: Plan) -> dict[str, Any]:
    """Post the plan's updates in its arrival order; what the fulfillment and order end as."""
    updates, arrival = plan
    road, order_id, fulfillment_id = shipped_road()
    for i in arrival:
        road.track(update(*(scan(status, minute) for status, minute in updates[i]), event_id=f"trk_{i}"))
    tracked = road.store.fulfillment(fulfillment_id)
    return {
        "tracking_status": tracked.tracking_status,
        "tracking_status_at": tracked.tracking_status_at,
        "status": tracked.status,
        "delivered_at": tracked.delivered_at,
        "history": [s.model_dump(exclude={"provider"}) for s in tracked.tracking_history],
        "order": road.order(order_id).status,
    }


def all_at_once(plan: Plan) -> Plan:
    """The reference: every scan of the plan in one update, as if the carrier had sent one webhook."""
    updates, _ = plan
    return [sorted({s for u in updates for s in u}, key=lambda s: (s[1], s[0]))], [0]


@st.composite
def plans(draw: st.DrawFn, *, minutes: int, unique_times: bool, terminals: int) -> Plan:
    """Scans (at most ``terminals`` of them delivered or returned) split over 1-4 updates (a scan
    may be in several, or twice in one), and an arrival order."""
    count = draw(st.integers(1, 6))
    times = draw(st.lists(st.integers(0, minutes), min_size=count, max_size=count, unique=unique_times))
    kinds = draw(st.lists(st.sampled_from(NON_TERMINAL), min_size=count, max_size=count))
    for i in draw(st.lists(st.integers(0, count - 1), max_size=terminals, unique=True)):
        kinds[i] = draw(st.sampled_from(sorted(TERMINAL_TRACKING_STATUSES)))
    scans = list(dict.fromkeys(zip(kinds, times, strict=True)))
    n_updates = draw(st.integers(1, 4))
    updates: list[list[tuple[TrackingStatus, int]]] = [[] for _ in range(n_updates)]
    for s in scans:
        for i in draw(st.sets(st.integers(0, n_updates - 1), min_size=1)):
            updates[i].append(s)
    updates = [u for u in updates if u]
    for u in updates:
        if draw(st.booleans()):
            u.append(u[0])  # the same scan twice in one payload
    return updates, draw(st.permutations(range(len(updates))))


@PROPERTY
@given(plans(minutes=600, unique_times=True, terminals=1))
def test_scans_at_distinct_times_end_the_same_in_any_split_and_arrival_order(plan: Plan) -> None:
    assert outcome(plan) == outcome(all_at_once(plan))


@PROPERTY
@given(plans(minutes=3, unique_times=False, terminals=1))
def test_the_tracking_status_its_time_and_the_history_never_depend_on_arrival_order(plan: Plan) -> None:
    """Also at the same second. (With two different final scans, a delivery and a return, the
    first to arrive wins by design: late scans change nothing once a parcel is delivered or back.)"""

    def tracking(result: dict[str, Any]) -> tuple[Any, ...]:
        return result["tracking_status"], result["tracking_status_at"], result["history"]

    assert tracking(outcome(plan)) == tracking(outcome(all_at_once(plan)))


@PROPERTY
@given(plans(minutes=3, unique_times=False, terminals=1))
@example(([[(S.DELIVERED, 2)], [(S.CANCELLED, 2)]], [0, 1]))
def test_scans_in_any_split_and_arrival_order_end_the_same_even_at_the_same_second(plan: Plan) -> None:
    assert outcome(plan) == outcome(all_at_once(plan))


@pytest.mark.parametrize("arrival", [[0, 1], [1, 0]], ids=["delivered-first", "voided-first"])
def test_a_voided_label_at_the_same_second_as_the_delivery_does_not_hide_it(arrival: list[int]) -> None:
    ended = outcome(([[(S.DELIVERED, 20)], [(S.CANCELLED, 20)]], arrival))

    assert (ended["status"], ended["tracking_status"], ended["order"]) == (
        F.DELIVERED,
        S.DELIVERED,
        OrderStatus.DELIVERED,
    )


def test_a_return_scan_older_than_the_delivery_arriving_after_it_changes_nothing() -> None:
    ended = outcome(([[(S.DELIVERED, 20)], [(S.RETURNED_TO_SENDER, 10)]], [0, 1]))

    at = SCANS_FROM + timedelta(minutes=20)
    assert (
        ended["status"],
        ended["tracking_status"],
        ended["tracking_status_at"],
        ended["delivered_at"],
    ) == (
        F.DELIVERED,
        S.DELIVERED,
        at,
        at,
    )


def test_a_delivery_scan_after_the_parcel_was_returned_changes_nothing() -> None:
    ended = outcome(([[(S.RETURNED_TO_SENDER, 10)], [(S.DELIVERED, 20)]], [0, 1]))

    assert (ended["status"], ended["tracking_status"], ended["delivered_at"]) == (
        F.RETURNED_TO_SENDER,
        S.RETURNED_TO_SENDER,
        None,
    )
    assert [(h["status"], h["applied"]) for h in ended["history"]] == [
        (S.RETURNED_TO_SENDER, True),
        (S.DELIVERED, False),
    ]
