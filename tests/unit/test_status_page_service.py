"""The status page's service: how long its link lasts, the view model, and the return form that
makes one RMA however often it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.templates import TEMPLATE_DIR, JinjaRenderer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.models import Fulfillment, Shipment, TrackedScan
from chalicelib.domain.returns import ReturnLine, ReturnRequest
from chalicelib.domain.status import FulfillmentStatus, ReturnStatus, TrackingStatus
from chalicelib.domain.tokens import InvalidToken, verify_token
from chalicelib.service.status_page import (
    LINK_LIFETIME_BEFORE_DELIVERY,
    LINK_MINIMUM_LIFETIME,
    RETURN_FORM_LIFETIME,
    STATUS,
    FormExpired,
    order_of_link,
    return_form_token,
    rma_id_of_form,
    start_return,
    status_link_expiry,
    status_token,
    status_view,
)
from tests.unit.builders import (
    EAST,
    SCANS_FROM,
    fulfillment,
    priced_order,
    scan,
    seed_catalogue,
    tracking_update,
)
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes

KEYS = ["new-key", "old-key"]
WINDOW = 30
D = FulfillmentStatus


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 12, 1, hour, tzinfo=UTC) + timedelta(days=day)


# -- the link's lifetime ----------------------------------------------------------------------------


def test_a_link_sent_before_any_delivery_lasts_the_bound_before_delivery() -> None:
    pending = fulfillment(("MUG-1", 1), status=D.SHIPPED)
    assert (
        status_link_expiry([pending], now=at(0), window_days=WINDOW) == at(0) + LINK_LIFETIME_BEFORE_DELIVERY
    )


def test_a_link_sent_after_a_delivery_expires_when_the_return_window_closes() -> None:
    first = fulfillment(("MUG-1", 1), delivered_at=at(2), fulfillment_id="ful_0001")
    last = fulfillment(("TEE-M", 1), delivered_at=at(5), fulfillment_id="ful_0002")
    assert status_link_expiry([first, last], now=at(5, 13), window_days=WINDOW) == at(5 + WINDOW)


def test_a_link_sent_after_the_window_closed_still_opens_for_the_minimum_lifetime() -> None:
    delivered = fulfillment(("MUG-1", 1), delivered_at=at(0))
    now = at(WINDOW + 3)
    assert status_link_expiry([delivered], now=now, window_days=WINDOW) == now + LINK_MINIMUM_LIFETIME


@settings(deadline=None)  # timing is not the property; a loaded machine must not fail it
@given(
    delivered_day=st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
    sent_day=st.integers(min_value=0, max_value=200),
    window=st.integers(min_value=0, max_value=365),
)
def test_every_link_opens_for_the_minimum_and_never_outlives_window_or_bound(
    delivered_day: int | None, sent_day: int, window: int
) -> None:
    status = D.DELIVERED if delivered_day is not None else D.IN_TRANSIT
    delivered_at = at(delivered_day) if delivered_day is not None else None
    parcel = fulfillment(("MUG-1", 1), status=status, delivered_at=delivered_at)
    now = at(sent_day)
    expiry = status_link_expiry([parcel], now=now, window_days=window)
    assert expiry >= now + LINK_MINIMUM_LIFETIME
    latest = (
        now + LINK_LIFETIME_BEFORE_DELIVERY if delivered_at is None else delivered_at + timedelta(days=window)
    )
    assert expiry == max(latest, now + LINK_MINIMUM_LIFETIME)


def test_the_status_token_is_for_the_status_page_only_and_dies_at_its_expiry() -> None:
    clock = FakeClock(at(0))
    delivered = fulfillment(("MUG-1", 1), delivered_at=at(0, 9))
    token = status_token("ord_0001", [delivered], keys=KEYS, clock=clock, window_days=WINDOW)
    assert token is not None
    closes = at(WINDOW, 9)
    assert verify_token(token, STATUS, keys=KEYS[1:] + KEYS[:1], now=closes).order_id == "ord_0001"
    with pytest.raises(InvalidToken):
        verify_token(token, STATUS, keys=KEYS, now=closes + timedelta(seconds=1))
    with pytest.raises(InvalidToken):
        verify_token(token, "feedback", keys=KEYS, now=at(1))
    assert status_token("ord_0001", [delivered], keys=[], clock=clock, window_days=WINDOW) is None


def test_a_bad_link_and_a_link_to_a_missing_order_are_the_same_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    orphan = status_token("ord_gone", [], keys=KEYS, clock=clock, window_days=WINDOW)
    assert orphan is not None
    for token in ("nonsense", orphan, orphan[:-3] + "AAA"):
        with pytest.raises(NotFound) as raised:
            order_of_link(uow_factory, token, keys=KEYS, clock=clock)
        assert str(raised.value) == "page not found: (invalid or expired link)" or "invalid" in str(
            raised.value
        )


# -- the view model -------------------------------------------------------------------------------


def shipped(*, delivered_at: datetime | None = None) -> Fulfillment:
    parcel = fulfillment(
        ("MUG-1", 2), status=D.DELIVERED if delivered_at else D.IN_TRANSIT, delivered_at=delivered_at
    )
    return parcel.model_copy(
        update={
            "ship_by": at(0, 23),
            "shipment": Shipment(
                carrier="ups",
                service="ground",
                tracking_numbers=["1ZA", "1ZB"],
                tracking_url="https://track.example/1ZA",
                shipped_at=at(0, 16),
            ),
            "estimated_delivery": at(3),
            "tracking_history": [
                s.model_copy(update={"occurred_at": at(day)})
                for s, day in (
                    (_kept(TrackingStatus.IN_TRANSIT), 1),
                    (_kept(TrackingStatus.DELIVERED), 3),
                    (_kept(TrackingStatus.OUT_FOR_DELIVERY), 2),
                )
            ],
        }
    )


def _kept(status: TrackingStatus) -> TrackedScan:
    return TrackedScan(
        status=status,
        raw_status=status.value,
        occurred_at=at(0),
        location="Springfield",
        provider="standard",
        applied=True,
    )


def test_the_view_shows_each_parcel_with_its_tracking_newest_scan_first_and_its_promised_dates() -> None:
    order = priced_order(("MUG-1", 2, "12.50"), shipping="4.00")
    parcel = shipped(delivered_at=at(3))
    cancelled = fulfillment(("MUG-1", 1), status=D.CANCELLED, fulfillment_id="ful_0009")
    view = status_view(order, [parcel, cancelled], [], now=at(4), window_days=WINDOW)

    (shown,) = view.parcels
    assert [s.status for s in shown.scans] == ["Delivered", "Out for delivery", "On its way"]
    assert (shown.carrier, shown.service, shown.ship_by, shown.estimated_delivery) == (
        "UPS",
        "ground",
        at(0, 23),
        at(3),
    )
    assert [(t.number, t.url) for t in shown.tracking] == [
        ("1ZA", "https://track.example/1ZA"),
        ("1ZB", "https://track.example/1ZA"),
    ]
    assert (view.order_number, view.total, view.shipping) == (
        "EXT-1",
        order.totals.total,
        order.totals.shipping,
    )
    assert view.delivery_window is None and view.customer_notes == []


def test_the_view_shows_the_address_in_part_only() -> None:
    order = priced_order(("MUG-1", 1, "5.00"))
    view = status_view(order, [], [], now=at(0), window_days=WINDOW)
    address = order.shipping_address
    shown = f"{view.ship_to_name} {view.ship_to_place}"
    assert address.city in shown and address.country in shown
    assert address.line1 not in shown and order.customer.email not in shown


def test_a_return_may_be_started_for_what_was_delivered_and_not_yet_returned_inside_the_window() -> None:
    order = priced_order(("MUG-1", 2, "12.50"))
    parcel = fulfillment(("MUG-1", 2), delivered_at=at(0))
    one_back = ReturnRequest(
        id="rma_0001",
        order_id=order.id,
        channel_id=order.channel_id,
        status=ReturnStatus.APPROVED,
        version=1,
        lines=[ReturnLine(sku="MUG-1", quantity=1, reason="Does not fit")],
        requested_at=at(1),
    )
    open_view = status_view(order, [parcel], [one_back], now=at(2), window_days=WINDOW)
    assert open_view.return_open and [(r.sku, r.returnable) for r in open_view.returnable] == [("MUG-1", 1)]
    assert open_view.return_window_closes == at(WINDOW).date()
    assert [(r.id, r.status, r.approved) for r in open_view.returns] == [("rma_0001", "Approved", True)]

    late = status_view(order, [parcel], [one_back], now=at(WINDOW + 1), window_days=WINDOW)
    assert not late.return_open and late.return_closed_because is not None
    assert "return window closed" in late.return_closed_because

    undelivered = status_view(
        order, [fulfillment(("MUG-1", 2), status=D.PACKED)], [], now=at(2), window_days=WINDOW
    )
    assert (
        undelivered.return_closed_because
        == "A return cannot be started here: nothing of this order has been delivered yet."
    )


# -- the return form ------------------------------------------------------------------------------


def test_the_form_token_names_its_order_and_rma_and_expires_after_a_day(ids: SequentialIds) -> None:
    clock = FakeClock(at(0))
    token = return_form_token("ord_0001", keys=KEYS, ids=ids, clock=clock)
    assert token is not None
    assert rma_id_of_form(token, "ord_0001", keys=KEYS, clock=clock) == "rma_0001"
    with pytest.raises(FormExpired):
        rma_id_of_form(token, "ord_0002", keys=KEYS, clock=clock)  # another order's form
    with pytest.raises(FormExpired):
        rma_id_of_form(
            token, "ord_0001", keys=KEYS, clock=FakeClock(at(0) + RETURN_FORM_LIFETIME + timedelta(seconds=1))
        )
    with pytest.raises(FormExpired):
        rma_id_of_form(token, "ord_0001", keys=["another-key"], clock=clock)


@pytest.fixture
def road(store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock) -> Road:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)
    return Road(store, uow_factory, ids, clock)


def test_the_same_form_sent_twice_makes_one_rma_through_the_apis_use_case(
    road: Road, store: FakeStore
) -> None:
    order_id = road.released(("MUG-1", 2))
    (work,) = road.fulfillments(order_id)
    road.through(work.id, until="pack")
    road.ship(work.id, "9400-0001")
    road.track(tracking_update("9400-0001", scan(TrackingStatus.DELIVERED, 30), event_id="trk_1"))
    road.clock.set(SCANS_FROM + timedelta(days=2))
    form = return_form_token(order_id, keys=KEYS, ids=road.ids, clock=road.clock)
    assert form is not None
    lines = [ReturnLine(sku="MUG-1", quantity=1, reason="Does not fit")]

    made = [
        start_return(
            road.uow_factory,
            road.uow_factory().get_order(order_id),  # type: ignore[arg-type]
            lines,
            form_token=form,
            keys=KEYS,
            window_days=WINDOW,
            ids=road.ids,
            clock=road.clock,
        )
        for _ in range(2)
    ]
    assert made[0] == made[1] and made[0].status == ReturnStatus.APPROVED
    assert [r.id for r in store.returns_of(order_id)] == [made[0].id]
    events = [e.type for e in store.events_of(order_id)]
    assert events.count("return.requested") == 1


def test_every_customer_email_template_carries_the_status_link_in_text_and_html() -> None:
    """The link is in the footer and the layout; an e-mail template without them would lose it."""
    renderer = JinjaRenderer()
    emails = sorted(
        p.name.removesuffix(".txt.j2")
        for p in TEMPLATE_DIR.glob("*.txt.j2")
        if not p.name.startswith("_") and not p.name.endswith("_sms.txt.j2")
    )
    assert len(emails) >= 12
    for name in emails:
        text = renderer.env.get_template(f"{name}.txt.j2")
        html = renderer.env.get_template(f"{name}.html.j2")
        for template in (text, html):
            source = renderer.env.loader.get_source(renderer.env, template.name)[0]  # type: ignore[union-attr]
            assert (
                '{% include "_footer.txt.j2" %}' in source or '{% extends "_layout.html.j2" %}' in source
            ), name
    footer = renderer.env.get_template("_footer.txt.j2").render(
        order={"id": "ord_1", "external_id": "EXT-1"},
        status_url="https://shop.example/orders/status/t.s",
        unsubscribe_url=None,
    )
    assert "https://shop.example/orders/status/t.s" in footer
