from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.templates import JinjaRenderer
from chalicelib.domain.edits import OrderEditRequest
from chalicelib.domain.errors import NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.models import NoteVisibility
from chalicelib.domain.status import FulfillmentStatus, TrackingStatus
from chalicelib.domain.tokens import InvalidToken, verify_token
from chalicelib.domain.tracking import TrackingScan
from chalicelib.service.communication import FEEDBACK, UNSUBSCRIBE, record_feedback, unsubscribe
from chalicelib.service.edits import edit_order
from chalicelib.service.exceptions import record_exception, resolve_exception
from chalicelib.service.notes import add_note
from chalicelib.service.notifications import (
    CLAIM_SECONDS,
    NOTIFY_SCOPE,
    ClaimHeld,
    NotificationContext,
    notify,
)
from chalicelib.service.placement import place_order
from chalicelib.service.receipt import receive_order
from chalicelib.service.sweepers import alert_stuck_orders, sweep_sla
from tests.unit.builders import EAST, WEB, WEST, lines, order_request, scan, seed_catalogue, tracking_update
from tests.unit.fakes import (
    FakeClaims,
    FakeClock,
    FakeNotifier,
    FakeQueries,
    FakeStore,
    FakeUnitOfWorkFactory,
    SequentialIds,
)
from tests.unit.road import Road, allow, stock_boxes

BASE_URL = "https://oms.example.com"
S = TrackingStatus


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store)
    store.set_stock(EAST, "MUG-1", 10)
    store.set_stock(WEST, "CAP-1", 10)


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def claims(clock: FakeClock) -> FakeClaims:
    return FakeClaims(clock)


@pytest.fixture
def ctx(
    uow_factory: FakeUnitOfWorkFactory,
    notifier: FakeNotifier,
    claims: FakeClaims,
    ids: SequentialIds,
    clock: FakeClock,
) -> NotificationContext:
    return NotificationContext(
        uow_factory=uow_factory,
        notifier=notifier,
        claims=claims,
        renderer=JinjaRenderer(),
        ids=ids,
        clock=clock,
        public_base_url=BASE_URL,
    )


def received(ctx: NotificationContext, store: FakeStore, **body: Any) -> DomainEvent:
    """Place an order and run its receipt; the event receipt produced."""
    placed = place_order(
        ctx.uow_factory,
        order_request(**body),
        channel_id=WEB,
        idempotency_key=None,
        ids=ctx.ids,
        clock=ctx.clock,
    )
    (placed_event,) = store.events_of(placed.order.id)
    receive_order(
        ctx.uow_factory, placed_event, policy=HoldPolicy.parse("1000"), ids=ctx.ids, clock=ctx.clock
    )
    return store.events_of(placed.order.id)[-1]


def sent_events(store: FakeStore, order_id: str | None) -> list[DomainEvent]:
    assert order_id is not None
    return [e for e in store.events_of(order_id) if e.type == "notification.sent"]


SPLIT = lines(("MUG-1", 2), ("CAP-1", 1))


def test_a_confirmed_order_sends_one_customer_email_and_one_warehouse_message_per_fulfillment(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, lines=SPLIT)
    assert confirmed.type == "order.confirmed"

    keys = notify(confirmed, ctx)

    assert keys == [
        f"{confirmed.id}/email/customer",
        f"{confirmed.id}/sns/warehouse/{EAST}/ful_0001",
        f"{confirmed.id}/sns/warehouse/{WEST}/ful_0002",
    ]
    assert [m.kind for m in notifier.sent] == ["email", "warehouse", "warehouse"]
    email = notifier.sent[0].fields
    assert (email["to"], email["subject"]) == ("ada@example.com", "Your order EXT-1 is confirmed")
    assert "  2 \N{MULTIPLICATION SIGN} MUG-1 at 10.00 USD = 20.00 USD\n" in email["text"]
    assert "Total: 30.00 USD" in email["text"]
    assert "<h1>Thank you, Ada Lovelace!</h1>" in email["html"]
    assert notifier.sent[1].fields == {
        "warehouse_id": EAST,
        "subject": "Pick work for order ord_0001",
        "message": {
            "type": "pick_work.released",
            "order_id": "ord_0001",
            "fulfillment_id": "ful_0001",
            "warehouse_id": EAST,
            # The promise: the end of Thursday in New York, where the work was released before 15:00.
            "ship_by": "2026-11-27T04:59:59.999000+00:00",
            "shipping_method": None,
            "lines": [{"sku": "MUG-1", "quantity": 2}],
        },
    }
    assert notifier.sent[2].fields["message"]["lines"] == [{"sku": "CAP-1", "quantity": 1}]
    assert notifier.sent[2].fields["message"]["ship_by"] == "2026-11-27T07:59:59.999000+00:00"


def test_each_message_sent_is_recorded_in_the_timeline_with_its_message_id(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, lines=SPLIT)

    notify(confirmed, ctx)

    recorded = sent_events(store, confirmed.order_id)
    assert [(e.version, e.actor) for e in recorded] == [
        (3, "system:notify"),
        (4, "system:notify"),
        (5, "system:notify"),
    ]
    assert [e.data for e in recorded] == [
        {
            "channel": "email",
            "recipient": "customer",
            "template": "order_confirmed",
            "message_id": "msg-0001",
            "cause": {"event_id": confirmed.id, "type": "order.confirmed"},
        },
        {
            "channel": "sns",
            "recipient": f"warehouse:{EAST}",
            "template": "pick_work.released",
            "message_id": "msg-0002",
            "cause": {"event_id": confirmed.id, "type": "order.confirmed"},
        },
        {
            "channel": "sns",
            "recipient": f"warehouse:{WEST}",
            "template": "pick_work.released",
            "message_id": "msg-0003",
            "cause": {"event_id": confirmed.id, "type": "order.confirmed"},
        },
    ]
    assert store.order("ord_0001").version == 5
    dedup = store.dedup_record(NOTIFY_SCOPE, f"{confirmed.id}/email/customer")
    assert dedup is not None and dedup.data == {"message_id": "msg-0001"}


def test_notifying_the_same_event_twice_sends_nothing_the_second_time(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, lines=SPLIT)
    notify(confirmed, ctx)
    commits = store.commits

    assert notify(confirmed, ctx) == []
    assert len(notifier.sent) == 3
    assert store.commits == commits
    assert len(sent_events(store, confirmed.order_id)) == 3


def test_a_customer_who_declined_email_gets_none_but_the_warehouse_still_gets_its_work(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, notify={"email": False})

    notify(confirmed, ctx)

    assert [(m.kind, m.fields.get("warehouse_id")) for m in notifier.sent] == [("warehouse", EAST)]


def test_a_customer_who_opted_into_sms_and_gave_a_phone_gets_a_text(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    customer = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123"}
    confirmed = received(ctx, store, customer=customer, notify={"email": True, "sms": True})

    keys = notify(confirmed, ctx)

    assert keys[:2] == [f"{confirmed.id}/email/customer", f"{confirmed.id}/sms/customer"]
    assert notifier.of_kind("sms")[0].fields == {
        "phone": "+14155550123",
        "text": "Your order EXT-1 is confirmed (25.00 USD). We will text you when it ships.",
    }
    assert sent_events(store, confirmed.order_id)[1].data["template"] == "order_confirmed_sms"


def test_an_sms_opt_in_without_a_phone_number_sends_no_text(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, notify={"email": True, "sms": True})

    notify(confirmed, ctx)

    assert notifier.of_kind("sms") == []
    assert len(notifier.of_kind("email")) == 1


def test_an_order_on_hold_alerts_operations(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    on_hold = received(ctx, store, paid=False)
    assert on_hold.type == "order.on_hold"

    keys = notify(on_hold, ctx)

    assert keys == [f"{on_hold.id}/sns/operations"]
    assert [(m.kind, m.fields) for m in notifier.sent] == [
        (
            "operations",
            {
                "subject": "Order ord_0001 on hold",
                "message": {
                    "type": "order.on_hold",
                    "order_id": "ord_0001",
                    "channel_id": WEB,
                    "holds": [{"reason": "payment_pending", "note": "payment not captured yet"}],
                },
            },
        )
    ]


def test_a_backordered_order_gets_the_backorder_email(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    backordered = received(ctx, store, lines=lines(("MUG-1", 12)))
    assert backordered.type == "order.backordered"

    keys = notify(backordered, ctx)

    # The ten in stock go to the warehouse now; the two missing wait for stock.
    assert keys == [f"{backordered.id}/email/customer", f"{backordered.id}/sns/warehouse/{EAST}/ful_0001"]
    email, work = notifier.sent
    assert email.fields["subject"] == "We received your order EXT-1: some items are on backorder"
    assert "(2 backordered)" in email.fields["text"]
    assert (work.kind, work.fields["message"]["lines"]) == ("warehouse", [{"sku": "MUG-1", "quantity": 10}])


def test_order_placed_itself_sends_nothing(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    received(ctx, store)
    placed = store.events_of("ord_0001")[0]

    assert notify(placed, ctx) == []
    assert notifier.sent == []


def test_customer_text_is_escaped_in_the_html_email(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, customer={"email": "ada@example.com", "name": "Ada <b>Lovelace</b>"})

    notify(confirmed, ctx)

    html = notifier.sent[0].fields["html"]
    assert "Thank you, Ada &lt;b&gt;Lovelace&lt;/b&gt;!" in html
    assert "<b>Lovelace" not in html
    assert "Hello Ada <b>Lovelace</b>," in notifier.sent[0].fields["text"]


def test_a_live_claim_held_by_another_worker_stops_the_delivery_and_nothing_is_sent(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, claims: FakeClaims
) -> None:
    confirmed = received(ctx, store)
    key = f"{confirmed.id}/email/customer"
    claims.held_by_another_worker(key, seconds=CLAIM_SECONDS)

    with pytest.raises(ClaimHeld) as excinfo:
        notify(confirmed, ctx)

    assert excinfo.value.args == (key,)
    assert notifier.sent == []
    assert sent_events(store, confirmed.order_id) == []


def test_an_expired_claim_of_a_crashed_worker_no_longer_blocks_the_message(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, claims: FakeClaims, clock: FakeClock
) -> None:
    confirmed = received(ctx, store)
    claims.held_by_another_worker(f"{confirmed.id}/email/customer", seconds=CLAIM_SECONDS)
    clock.advance(seconds=CLAIM_SECONDS)
    with pytest.raises(ClaimHeld):
        notify(confirmed, ctx)  # still live at exactly its expiry time

    clock.advance(seconds=1)

    assert len(notify(confirmed, ctx)) == 2
    assert [m.kind for m in notifier.sent] == ["email", "warehouse"]


WITH_SMS = {
    "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123"},
    "notify": {"email": True, "sms": True},
}


@pytest.mark.parametrize("kind", ["email", "sms", "warehouse"])
def test_a_send_that_fails_releases_its_claim_so_the_next_delivery_sends_the_message(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, kind: str
) -> None:
    confirmed = received(ctx, store, **WITH_SMS)
    notifier.fail_next(kind, RuntimeError("Throttling: maximum sending rate exceeded"))
    with pytest.raises(RuntimeError, match="Throttling"):
        notify(confirmed, ctx)

    notify(confirmed, ctx)  # the queue's redelivery, long before any claim would have expired

    # Each message exactly once: what was sent before the failure is not sent again.
    assert sorted(m.kind for m in notifier.sent) == ["email", "sms", "warehouse"]
    assert len(sent_events(store, confirmed.order_id)) == 3


def test_a_crash_after_sending_records_the_sent_message_on_the_next_delivery_without_sending_it_again(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store)

    def crash() -> None:
        raise RuntimeError("Lambda timed out")

    store.before_next_commit(crash)
    with pytest.raises(RuntimeError):
        notify(confirmed, ctx)
    assert [m.kind for m in notifier.sent] == ["email"]

    notify(confirmed, ctx)  # the redelivery, within the claim's lifetime

    assert [m.kind for m in notifier.sent] == ["email", "warehouse"]
    assert [e.data["message_id"] for e in sent_events(store, confirmed.order_id)] == ["msg-0001", "msg-0002"]


def test_a_crash_before_the_claim_says_sent_resends_only_after_the_claim_expires(
    ctx: NotificationContext,
    store: FakeStore,
    notifier: FakeNotifier,
    claims: FakeClaims,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one window left: the provider accepted the message and the function died before the
    claim could say so. A concurrent delivery is still kept out while the claim lives."""
    confirmed = received(ctx, store)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Lambda timed out")

    with monkeypatch.context() as patched:
        patched.setattr(claims, "mark_sent", crash)
        with pytest.raises(RuntimeError):
            notify(confirmed, ctx)
    with pytest.raises(ClaimHeld):
        notify(confirmed, ctx)
    clock.advance(seconds=CLAIM_SECONDS + 1)

    notify(confirmed, ctx)

    # The documented price of never losing a message: one duplicate e-mail after such a crash.
    assert [m.kind for m in notifier.sent] == ["email", "email", "warehouse"]
    assert [e.data["message_id"] for e in sent_events(store, confirmed.order_id)] == ["msg-0002", "msg-0003"]


def test_a_stuck_order_alert_that_fails_to_publish_is_published_by_the_next_sweep(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, claims: FakeClaims, clock: FakeClock
) -> None:
    placed = place_order(
        ctx.uow_factory, order_request(), channel_id=WEB, idempotency_key=None, ids=ctx.ids, clock=clock
    )
    clock.advance(seconds=16 * 60)
    queries = FakeQueries(store)
    notifier.fail_next("operations", RuntimeError("SNS unavailable"))
    with pytest.raises(RuntimeError):
        alert_stuck_orders(queries, notifier, claims, clock)

    clock.advance(seconds=5 * 60)  # the next run of the schedule
    assert alert_stuck_orders(queries, notifier, claims, clock) == [placed.order.id]
    clock.advance(seconds=5 * 60)
    assert alert_stuck_orders(queries, notifier, claims, clock) == []  # once a day, not every run
    assert [m.kind for m in notifier.sent] == ["operations"]


def test_the_claim_outlives_a_send_and_expires_before_the_queue_redelivers() -> None:
    """A claim must cover the longest a notify function can run (its timeout), or a concurrent
    delivery could send too; and one left by a crashed function must be gone by the time the queue
    shows the message again (its visibility timeout), or every redelivery meets it and the
    message ends in the dead-letter queue."""
    root = Path(__file__).resolve().parents[2]
    config = json.loads((root / ".chalice" / "config.json").read_text())
    function_timeout = max(
        [config["lambda_timeout"]]
        + [
            settings.get("lambda_timeout", 0)
            for stage in config["stages"].values()
            for name, settings in stage.get("lambda_functions", {}).items()
            if name in ("notify_worker", "stuck_order_sweeper")
        ]
    )
    template = (root / "infra" / "template.yaml").read_text()
    notify_queue = template[template.index("  NotifyQueue:") :]
    visibility = int(re.search(r"VisibilityTimeout: (\d+)", notify_queue).group(1))  # type: ignore[union-attr]

    assert function_timeout < CLAIM_SECONDS
    assert function_timeout + CLAIM_SECONDS < visibility


def test_recording_a_notification_retries_when_the_order_changes_concurrently(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store)

    def bump() -> None:
        current = store.order("ord_0001")
        store.put_order(
            current.model_copy(update={"version": current.version + 1}), store.fulfillments_of(current.id)
        )

    store.before_next_commit(bump)

    notify(confirmed, ctx)

    assert len(notifier.sent) == 2
    assert [e.version for e in sent_events(store, confirmed.order_id)] == [4, 5]


def test_an_event_of_an_unknown_order_is_not_found(ctx: NotificationContext, store: FakeStore) -> None:
    confirmed = received(ctx, store)
    stray = confirmed.model_copy(update={"order_id": "ord_gone"})

    with pytest.raises(NotFound, match="order ord_gone does not exist"):
        notify(stray, ctx)


# -- the warehouse road -----------------------------------------------------------------------


@pytest.fixture
def road(store: FakeStore, ctx: NotificationContext) -> Road:
    stock_boxes(store)
    assert isinstance(ctx.uow_factory, FakeUnitOfWorkFactory)
    assert isinstance(ctx.ids, SequentialIds) and isinstance(ctx.clock, FakeClock)
    return Road(store, ctx.uow_factory, ctx.ids, ctx.clock)


def last_event(store: FakeStore, order_id: str, event_type: str) -> DomainEvent:
    return [e for e in store.events_of(order_id) if e.type == event_type][-1]


def test_a_shipment_emails_and_texts_the_customer_a_tracking_link(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    customer = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123"}
    order_id = road.released(("MUG-1", 2), customer=customer, notify={"email": True, "sms": True})
    road.through("ful_0001", until="pack")
    road.ship("ful_0001", "9400 1000/77", carrier="USPS")
    shipped = last_event(store, order_id, "fulfillment.shipped")

    keys = notify(shipped, ctx)

    assert keys == [f"{shipped.id}/email/customer", f"{shipped.id}/sms/customer"]
    email, sms = notifier.sent
    link = "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201000%2F77"
    assert (email.fields["to"], email.fields["subject"]) == (
        "ada@example.com",
        "Your order EXT-1 has shipped",
    )
    assert "your order EXT-1 is on its way with USPS (ground)." in email.fields["text"]
    assert f"  9400 1000/77: {link}\n" in email.fields["text"]
    assert f'<a href="{link}">9400 1000/77</a>' in email.fields["html"]
    assert sms.fields == {
        "phone": "+14155550123",
        "text": f"Your order EXT-1 has shipped with USPS: {link}",
    }


def test_the_first_of_two_shipments_says_part_of_the_order_is_on_its_way(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    road.through(road.at(EAST, order_id).id)

    notify(last_event(store, order_id, "fulfillment.shipped"), ctx)

    (email,) = notifier.sent
    assert "part of your order EXT-1 is on its way" in email.fields["text"]
    assert "  2 \N{MULTIPLICATION SIGN} MUG-1\n" in email.fields["text"]
    assert "CAP-1" not in email.fields["text"]


def test_a_carrier_without_a_tracking_page_gets_the_number_without_a_link(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 1))
    road.through("ful_0001", until="pack")
    road.ship("ful_0001", "LOCAL-42", carrier="bike-courier")

    notify(last_event(store, order_id, "fulfillment.shipped"), ctx)

    (email,) = notifier.sent
    assert "  LOCAL-42\n" in email.fields["text"]
    assert "href" not in email.fields["html"].split("<h2>Tracking</h2>")[1]


def test_a_cancelled_order_emails_the_customer_with_the_reason(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.cancel(order_id, reason="out of delivery area")
    cancelled = last_event(store, order_id, "order.cancelled")

    assert notify(cancelled, ctx) == [f"{cancelled.id}/email/customer"]

    (email,) = notifier.sent
    assert email.fields["subject"] == "Your order EXT-1 is cancelled"
    assert "your order EXT-1 is cancelled." in email.fields["text"]
    assert "  2 \N{MULTIPLICATION SIGN} MUG-1\n" in email.fields["text"]
    assert "Reason: out of delivery area" in email.fields["text"]


def test_cancelled_lines_are_listed_in_the_email(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 3))
    road.cancel(order_id, {"MUG-1": 1}, reason="one is enough")

    notify(last_event(store, order_id, "order.lines_cancelled"), ctx)

    (email,) = notifier.sent
    assert email.fields["subject"] == "Items of your order EXT-1 are cancelled"
    assert "  1 \N{MULTIPLICATION SIGN} MUG-1\n" in email.fields["text"]


def edit(road: Road, order_id: str, **body: Any) -> None:
    edit_order(
        road.uow_factory,
        order_id,
        OrderEditRequest.model_validate({"reason": "customer asked", **body}),
        authorize=lambda _: None,
        actor="admin:key_ops",
        ids=road.ids,
        clock=road.clock,
    )


def test_an_edit_emails_the_customer_what_changed_and_sends_the_warehouse_its_new_work(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 3))
    edit(
        road,
        order_id,
        change=[{"sku": "MUG-1", "quantity": 2}],
        add=[{"sku": "CAP-1", "quantity": 1, "unit_price": "4.00"}],
    )
    edited = last_event(store, order_id, "order.edited")
    (east, west) = [f.id for f in road.fulfillments(order_id)]

    keys = notify(edited, ctx)

    assert keys == [
        f"{edited.id}/email/customer",
        f"{edited.id}/sns/warehouse/{EAST}/{east}",
        f"{edited.id}/sns/warehouse/{WEST}/{west}",
    ]
    email, *work = notifier.sent
    assert email.fields["subject"] == "Your order EXT-1 was changed"
    assert "Added:\n  1 \N{MULTIPLICATION SIGN} CAP-1\n" in email.fields["text"]
    assert "Removed:\n  1 \N{MULTIPLICATION SIGN} MUG-1\n" in email.fields["text"]
    assert "Total: 24.00 USD (before the change: 30.00 USD)." in email.fields["text"]
    assert [w.fields["message"]["lines"] for w in work] == [
        [{"sku": "MUG-1", "quantity": 2}],
        [{"sku": "CAP-1", "quantity": 1}],
    ]
    assert notify(edited, ctx) == []
    assert notify(last_event(store, order_id, "payment.adjustment_requested"), ctx) == []


def test_an_allocated_backorder_emails_the_customer_and_sends_the_warehouse_its_work(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("TEE-M", 3))
    road.receive_stock(EAST, "TEE-M", 5)
    (fulfillment_id,) = road.allocate("TEE-M", EAST)
    allocated = last_event(store, order_id, "order.backorder_allocated")

    keys = notify(allocated, ctx)

    assert keys == [f"{allocated.id}/email/customer", f"{allocated.id}/sns/warehouse/{EAST}/{fulfillment_id}"]
    email, work = notifier.sent
    assert email.fields["subject"] == "Good news: the rest of your order EXT-1 is on its way to our warehouse"
    assert "  3 \N{MULTIPLICATION SIGN} TEE-M\n" in email.fields["text"]
    assert work.fields["message"] == {
        "type": "pick_work.released",
        "order_id": order_id,
        "fulfillment_id": fulfillment_id,
        "warehouse_id": EAST,
        "ship_by": "2026-11-27T04:59:59.999000+00:00",
        "shipping_method": None,
        "lines": [{"sku": "TEE-M", "quantity": 3}],
    }


def test_a_breached_promise_alerts_operations(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road, clock: FakeClock
) -> None:
    order_id = road.released(("MUG-1", 1))
    clock.set(datetime(2026, 11, 27, 6, 0, tzinfo=UTC))
    sweep_sla(road.uow_factory, FakeQueries(store), road.ids, clock)
    breached = last_event(store, order_id, "sla.breached")

    assert notify(breached, ctx) == [f"{breached.id}/sns/operations"]

    assert [(m.kind, m.fields) for m in notifier.sent] == [
        (
            "operations",
            {
                "subject": f"Order {order_id} missed its ship-by promise",
                "message": {
                    "type": "sla.breached",
                    "order_id": order_id,
                    "channel_id": WEB,
                    "fulfillment_id": "ful_0001",
                    "warehouse_id": EAST,
                    "ship_by": "2026-11-27T04:59:59.999Z",
                },
            },
        )
    ]


def test_warehouse_steps_themselves_send_nothing(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.through("ful_0001", until="pack")

    for event in store.events_of(order_id)[2:]:
        assert notify(event, ctx) == []
    assert [e.type for e in store.events_of(order_id)[2:]] == ["fulfillment.picked", "fulfillment.packed"]
    assert notifier.sent == []


def test_an_inventory_event_concerns_no_order_and_sends_nothing(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    received_goods = road.receive_stock(EAST, "MUG-1", 5)
    assert received_goods.order_id is None
    factory = ctx.uow_factory
    assert isinstance(factory, FakeUnitOfWorkFactory)
    units_of_work = factory.created

    assert notify(received_goods, ctx) == []
    assert notifier.sent == []
    assert factory.created == units_of_work  # not even an order read


# -- delivery: tracking updates ----------------------------------------------------------------

LINK_KEYS = ["link-key-2026-11", "link-key-2026-10"]
NUMBER = "9400-0001"
SMS_CUSTOMER = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123"}
URL = re.compile(r"https://oms\.example\.com/v1/(feedback|unsubscribe)/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


@pytest.fixture
def keyed(ctx: NotificationContext) -> NotificationContext:
    """The context with keys to sign links in e-mails (feedback, unsubscribe)."""
    return replace(ctx, link_keys=lambda: list(LINK_KEYS))


def shipped(road: Road, **body: Any) -> str:
    order_id = road.released(("MUG-1", 1), **body)
    road.through("ful_0001", until="pack")
    road.ship("ful_0001", NUMBER, carrier="USPS")
    return order_id


def tracked(road: Road, order_id: str, *scans: TrackingScan, event_id: str, **fields: Any) -> DomainEvent:
    """Post a carrier update for the order's parcel; the tracking.updated event it caused."""
    road.track(tracking_update(NUMBER, *scans, event_id=event_id, **fields))
    return last_event(road.store, order_id, "tracking.updated")


def links(text: str) -> dict[str, str]:
    """purpose -> token of each link in a message."""
    return {purpose: token for purpose, token in URL.findall(text)}


def test_out_for_delivery_emails_and_texts_a_customer_who_opted_into_sms(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER, notify={"email": True, "sms": True})
    event = tracked(
        road,
        order_id,
        scan(S.OUT_FOR_DELIVERY, 0),
        event_id="trk_1",
        public_url="https://track.example/9400",
    )
    assert event.data["changed"] is True

    assert notify(event, ctx) == [f"{event.id}/email/customer", f"{event.id}/sms/customer"]

    email, sms = notifier.sent
    assert (email.fields["to"], email.fields["subject"]) == (
        "ada@example.com",
        "Your order EXT-1 is out for delivery today",
    )
    assert "your parcel 9400-0001 (USPS) is out for delivery today." in email.fields["text"]
    assert '<a href="https://track.example/9400">Follow your parcel</a>' in email.fields["html"]
    assert sms.fields == {
        "phone": "+14155550123",
        "text": "Your order EXT-1 is out for delivery today: https://track.example/9400",
    }
    assert [e.data["template"] for e in sent_events(store, order_id)] == [
        "order_out_for_delivery",
        "order_out_for_delivery_sms",
    ]


def test_out_for_delivery_sends_no_text_to_a_customer_who_did_not_opt_in(
    ctx: NotificationContext, notifier: FakeNotifier, road: Road
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER)

    notify(tracked(road, order_id, scan(S.OUT_FOR_DELIVERY, 0), event_id="trk_1"), ctx)

    assert [m.kind for m in notifier.sent] == ["email"]


def test_delivered_emails_a_feedback_link_whose_token_rates_that_order(
    keyed: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road, clock: FakeClock
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER, notify={"email": True, "sms": True})
    event = tracked(road, order_id, scan(S.IN_TRANSIT, 0), scan(S.DELIVERED, 60), event_id="trk_1")

    assert notify(event, keyed) == [f"{event.id}/email/customer"]  # no text for a delivery

    (email,) = notifier.sent
    assert email.fields["subject"] == "Your order EXT-1 has been delivered"
    assert "your parcel 9400-0001 has been delivered." in email.fields["text"]
    token = links(email.fields["text"])["feedback"]
    assert f"Rate your order (1 to 5 stars) here: {BASE_URL}/v1/feedback/{token}" in email.fields["text"]
    assert f'<a href="{BASE_URL}/v1/feedback/{token}">Rate your order</a>' in email.fields["html"]
    claims = verify_token(token, FEEDBACK, keys=LINK_KEYS, now=clock.now())
    assert claims.order_id == order_id
    with pytest.raises(InvalidToken):
        verify_token(token, UNSUBSCRIBE, keys=LINK_KEYS, now=clock.now())

    record_feedback(road.uow_factory, token, 5, None, keys=LINK_KEYS, ids=road.ids, clock=clock)
    assert last_event(store, order_id, "feedback.received").data["rating"] == 5


def test_delivered_without_link_keys_emails_no_feedback_link(
    ctx: NotificationContext, notifier: FakeNotifier, road: Road
) -> None:
    order_id = shipped(road)

    notify(tracked(road, order_id, scan(S.DELIVERED, 60), event_id="trk_1"), ctx)

    (email,) = notifier.sent
    assert "Rate your order" not in email.fields["text"] + email.fields["html"]
    assert links(email.fields["text"] + email.fields["html"]) == {}


def test_the_first_of_two_deliveries_says_the_rest_is_on_its_way(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 2), ("CAP-1", 1))
    east = road.at(EAST, order_id).id
    road.through(east, until="pack")
    road.ship(east, NUMBER)

    notify(tracked(road, order_id, scan(S.DELIVERED, 60), event_id="trk_1"), ctx)

    (email,) = notifier.sent
    assert "has been delivered; the rest of your order is still on its way." in email.fields["text"]


def test_an_update_that_changes_no_status_sends_nothing(
    keyed: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER, notify={"email": True, "sms": True})
    tracked(road, order_id, scan(S.OUT_FOR_DELIVERY, 0), event_id="trk_1")
    late = tracked(road, order_id, scan(S.IN_TRANSIT, 10), event_id="trk_2")  # newer, lower rank
    repeat = tracked(road, order_id, scan(S.OUT_FOR_DELIVERY, 0), event_id="trk_3")

    for event in (late, repeat):
        assert event.data["changed"] is False
        assert notify(event, keyed) == []
    assert notifier.sent == []


def test_a_ready_for_pickup_parcel_emails_where_to_collect_it_and_alerts_nobody(
    ctx: NotificationContext, notifier: FakeNotifier, road: Road
) -> None:
    order_id = shipped(road)
    pickup = scan(S.AVAILABLE_FOR_PICKUP, 0, location="SPRINGFIELD, IL, US")

    notify(tracked(road, order_id, pickup, event_id="trk_1"), ctx)

    (email,) = notifier.sent
    assert email.fields["subject"] == "Your order EXT-1 is ready for pickup"
    assert "Where: SPRINGFIELD, IL, US" in email.fields["text"]


@pytest.mark.parametrize(
    ("status", "subject"),
    [
        (S.DELIVERY_ATTEMPTED, "We tried to deliver your order EXT-1"),
        (S.EXCEPTION, "A problem with the delivery of your order EXT-1"),
        (S.RETURNED_TO_SENDER, "Your order EXT-1 is on its way back to us"),
        (S.FAILED, "A problem with the delivery of your order EXT-1"),
    ],
)
def test_a_delivery_problem_emails_the_customer_and_alerts_operations(
    ctx: NotificationContext, notifier: FakeNotifier, road: Road, status: TrackingStatus, subject: str
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER, notify={"email": True, "sms": True})
    problem = scan(status, 30, message="Recipient not available")
    event = tracked(road, order_id, scan(S.IN_TRANSIT, 0), problem, event_id="trk_1")

    assert notify(event, ctx) == [f"{event.id}/email/customer", f"{event.id}/sns/operations"]

    email, alert = notifier.sent
    assert email.fields["subject"] == subject
    assert "Carrier's note: Recipient not available" in email.fields["text"]
    assert alert.kind == "operations"
    assert alert.fields == {
        "subject": f"Delivery problem on order {order_id}: {status.value}",
        "message": {
            "type": "delivery.problem",
            "order_id": order_id,
            "channel_id": WEB,
            "fulfillment_id": "ful_0001",
            "carrier": "usps",
            "tracking_number": NUMBER,
            "tracking_status": status.value,
            "raw_status": status.value,
            "raw_substatus": None,
        },
    }
    assert "ada@example.com" not in str(alert.fields)  # no personal data in the alert


def journey(road: Road) -> list[str]:
    """Orders that between them cause every customer e-mail there is; their ids."""
    delivered = shipped(road)
    tracked(road, delivered, scan(S.OUT_FOR_DELIVERY, 0), event_id="trk_1")
    tracked(road, delivered, scan(S.DELIVERED, 60), event_id="trk_2")
    troubled = road.released(("MUG-1", 1))
    road.through(road.at(EAST, troubled).id, until="pack")
    road.ship(road.at(EAST, troubled).id, "9400-0002")
    for i, status in enumerate((S.AVAILABLE_FOR_PICKUP, S.DELIVERY_ATTEMPTED, S.RETURNED_TO_SENDER)):
        road.track(tracking_update("9400-0002", scan(status, 10 * (i + 1)), event_id=f"trk_{3 + i}"))
    cancelled = road.released(("MUG-1", 1))
    road.cancel(cancelled)
    backordered = road.released(("CAP-1", 12))
    road.receive_stock(WEST, "CAP-1", 5)
    road.allocate("CAP-1", WEST)
    edited = road.released(("MUG-1", 2))
    edit(road, edited, change=[{"sku": "MUG-1", "quantity": 1}])
    return [delivered, troubled, cancelled, backordered, edited]


def notify_all(ctx: NotificationContext, store: FakeStore, order_ids: list[str]) -> None:
    for order_id in order_ids:
        for event in store.events_of(order_id):
            notify(event, ctx)


def test_every_customer_email_carries_an_unsubscribe_link_for_its_own_order(
    keyed: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road, clock: FakeClock
) -> None:
    notify_all(keyed, store, journey(road))

    emails = notifier.of_kind("email")
    templates = {
        e.data["template"]
        for o in store.orders
        for e in sent_events(store, o)
        if e.data["channel"] == "email"
    }
    assert templates == {
        "order_confirmed",
        "order_shipped",
        "order_out_for_delivery",
        "order_delivered",
        "ready_for_pickup",
        "delivery_problem",
        "order_cancelled",
        "order_backordered",
        "backorder_allocated",
        "order_edited",
    }
    for email in emails:
        token = links(email.fields["text"])["unsubscribe"]
        assert f'<a href="{BASE_URL}/v1/unsubscribe/{token}">' in email.fields["html"]
        order_id = verify_token(token, UNSUBSCRIBE, keys=LINK_KEYS, now=clock.now()).order_id
        assert f"Order {order_id} (your reference" in email.fields["text"]


def test_without_link_keys_no_email_carries_an_unsubscribe_link(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    notify_all(ctx, store, journey(road))

    emails = notifier.of_kind("email")
    assert len(emails) == 15  # 13 for the other orders, 2 for the edited one (confirmed, edited)
    for email in emails:
        assert "/v1/unsubscribe/" not in email.fields["text"] + email.fields["html"]
        assert "No more messages about this order" not in email.fields["text"] + email.fields["html"]


def test_after_unsubscribing_from_an_email_link_the_customer_hears_nothing_more(
    keyed: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road, clock: FakeClock
) -> None:
    order_id = shipped(road, customer=SMS_CUSTOMER, notify={"email": True, "sms": True})
    notify(last_event(store, order_id, "fulfillment.shipped"), keyed)
    token = links(notifier.of_kind("email")[0].fields["text"])["unsubscribe"]
    unsubscribe(road.uow_factory, token, keys=LINK_KEYS, ids=road.ids, clock=clock)
    notifier.sent.clear()

    notify(tracked(road, order_id, scan(S.OUT_FOR_DELIVERY, 0), event_id="trk_1"), keyed)
    notify(tracked(road, order_id, scan(S.DELIVERY_ATTEMPTED, 30), event_id="trk_2"), keyed)
    notify(tracked(road, order_id, scan(S.DELIVERED, 90), event_id="trk_3"), keyed)

    # Operations still hear about the failed attempt; the customer hears nothing.
    assert [m.kind for m in notifier.sent] == ["operations"]


class RecordingRenderer(JinjaRenderer):
    """Renders as usual and keeps the context each message was rendered with."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[dict[str, Any]] = []

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
        self.contexts.append(context)
        return super().render(template, context)


def test_messages_are_rendered_without_the_private_staff_notes(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier
) -> None:
    confirmed = received(ctx, store, lines=SPLIT)
    assert confirmed.order_id is not None
    for text, visibility in (("staff only", NoteVisibility.PRIVATE), ("for you", NoteVisibility.CUSTOMER)):
        add_note(
            ctx.uow_factory,
            confirmed.order_id,
            text,
            visibility,
            authorize=lambda order: None,
            actor="admin:key_ops",
            ids=ctx.ids,
            clock=ctx.clock,
        )
    renderer = RecordingRenderer()

    notify(confirmed, replace(ctx, renderer=renderer))

    assert renderer.contexts and notifier.sent
    for context in renderer.contexts:
        assert [n["text"] for n in context["order"]["notes"]] == ["for you"]


def test_a_reshipped_parcel_emails_the_customer_once_and_sends_the_warehouse_its_work(
    ctx: NotificationContext, store: FakeStore, notifier: FakeNotifier, road: Road
) -> None:
    order_id = road.released(("MUG-1", 2))
    road.through("ful_0001")
    admin = {"authorize": allow, "actor": "admin:key_ops", "ids": road.ids, "clock": road.clock}
    record_exception(road.uow_factory, "ful_0001", FulfillmentStatus.LOST, note=None, **admin)
    resolve_exception(road.uow_factory, "ful_0001", "reship", **admin)
    resolved = last_event(store, order_id, "fulfillment.resolved")
    (reship,) = [f for f in road.fulfillments(order_id) if f.reship_of == "ful_0001"]

    keys = notify(resolved, ctx)
    again = notify(resolved, ctx)

    assert keys == [f"{resolved.id}/email/customer", f"{resolved.id}/sns/warehouse/{EAST}/{reship.id}"]
    assert again == [] and len(notifier.sent) == 2
    email, work = notifier.sent
    assert email.fields["subject"] == "We are sending your order EXT-1 again"
    assert "(the carrier lost it)" in email.fields["text"]
    assert "  2 \N{MULTIPLICATION SIGN} MUG-1\n" in email.fields["text"]
    assert work.fields["message"]["fulfillment_id"] == reship.id
