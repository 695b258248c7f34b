"""Store intake over the fakes (``chalicelib.service.intake``): a store webhook received once and kept
raw, then mapped and placed, updated or cancelled by the intake worker, with the Shopify and
WooCommerce fixtures of tests/fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.errors import UnknownSkus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.models import Channel, Order, Product
from chalicelib.domain.status import HoldReason, OrderStatus
from chalicelib.service.intake import (
    DELIVERY_DEDUP_TTL_SECONDS,
    Received,
    process_store_order,
    receive_store_webhook,
)
from chalicelib.service.receipt import receive_order, release_hold
from tests.unit.builders import EAST, seed_catalogue
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
POLICY = HoldPolicy.parse("USD=1000;*=1000")
SHOPIFY, WOO = "shopify-demo", "woo-demo"
#: The Shopify fixtures' order (create, updated, cancelled) and WooCommerce's 5127 and 5128.
SHOPIFY_ORDER = "820982911946154508"


def fixture(store: str, name: str) -> str:
    return (FIXTURES / store / name).read_text()


def edited(store: str, name: str, **changes: Any) -> str:
    """A fixture with some top-level fields replaced."""
    payload = json.loads(fixture(store, name))
    payload.update(changes)
    return json.dumps(payload)


@pytest.fixture(autouse=True)
def catalogue(store: FakeStore) -> None:
    seed_catalogue(store, ("TSHIRT-M", "MUG", "POSTER"))
    store.add_channel(Channel(id=SHOPIFY, name="Demo store", kind="shopify"))
    store.add_channel(Channel(id=WOO, name="Demo Woo", kind="woocommerce"))
    for sku in ("TSHIRT-M", "MUG", "POSTER"):
        store.set_stock(EAST, sku, 20)


class Intake:
    """The webhook route and the intake worker over one fake store."""

    def __init__(
        self, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
    ) -> None:
        self.store, self.uow_factory, self.ids, self.clock = store, uow_factory, ids, clock
        self._keys = 0

    def receive(
        self,
        body: str,
        *,
        channel_id: str = SHOPIFY,
        topic: str = "orders/create",
        key: str | None = None,
        relevant: bool = True,
    ) -> tuple[Received, str]:
        """What the webhook route does once the signature is verified; returns the delivery key."""
        if key is None:
            self._keys += 1
            key = f"delivery-{self._keys}"
        received = receive_store_webhook(
            self.uow_factory,
            channel_id=channel_id,
            store="shopify" if channel_id == SHOPIFY else "woocommerce",
            topic=topic,
            delivery_key=key,
            body=body,
            relevant=relevant,
            ids=self.ids,
            clock=self.clock,
        )
        return received, key

    def event(self, key: str, channel_id: str = SHOPIFY) -> DomainEvent:
        (found,) = self.store.inbound_events_of(channel_id, key)
        return found

    def process(self, key: str, channel_id: str = SHOPIFY) -> Order | None:
        """What the intake worker does with the event the route kept."""
        return process_store_order(
            self.uow_factory, self.event(key, channel_id), policy=POLICY, ids=self.ids, clock=self.clock
        )

    def deliver(self, body: str, *, channel_id: str = SHOPIFY, topic: str = "orders/create") -> Order | None:
        received, key = self.receive(body, channel_id=channel_id, topic=topic)
        assert received is Received.ACCEPTED
        return self.process(key, channel_id)

    def receipt(self, order_id: str) -> Order:
        """The receipt worker's hold rules on the placed order."""
        (placed,) = [e for e in self.store.events_of(order_id) if e.type == "order.placed"]
        receive_order(self.uow_factory, placed, policy=POLICY, ids=self.ids, clock=self.clock)
        return self.store.order(order_id)

    def orders(self) -> list[Order]:
        return [self.store.order(order_id) for order_id in sorted(self.store.orders)]

    def event_types(self, order_id: str) -> list[str]:
        return [e.type for e in self.store.events_of(order_id)]


@pytest.fixture
def intake(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> Intake:
    return Intake(store, uow_factory, ids, clock)


# -- receiving --------------------------------------------------------------------------------------


def test_a_relevant_delivery_is_kept_raw_with_its_event_and_acknowledged(
    intake: Intake, store: FakeStore, clock: FakeClock
) -> None:
    body = fixture("shopify", "orders-create.json")

    received, key = intake.receive(body, key="b6f1c4e2-webhook-id")

    assert received is Received.ACCEPTED
    assert store.inbound == {(SHOPIFY, key): body}  # byte for byte, as signed
    assert intake.event(key) == DomainEvent(
        id="evt_0001",
        type="channel.order_received",
        channel_id=SHOPIFY,
        inbound_key=key,
        occurred_at=clock.now(),
        actor="store:shopify",
        data={"store": "shopify", "topic": "orders/create"},
    )
    assert store.orders == {}  # mapping and placement are the worker's
    record = store.dedup_record(f"store-webhook#{SHOPIFY}", key)
    assert record is not None and record.ref == SHOPIFY
    expiry = store.dedup[(f"store-webhook#{SHOPIFY}", key)].expires_at
    assert expiry == clock.now() + timedelta(seconds=DELIVERY_DEDUP_TTL_SECONDS)


def test_the_same_delivery_again_is_a_duplicate_and_writes_nothing(intake: Intake, store: FakeStore) -> None:
    body = fixture("shopify", "orders-create.json")
    intake.receive(body, key="same")
    before = store.snapshot()

    received, _ = intake.receive(body, key="same")

    assert received is Received.DUPLICATE
    assert store.snapshot() == before


def test_the_same_delivery_key_on_another_channel_is_another_delivery(
    intake: Intake, store: FakeStore
) -> None:
    intake.receive(fixture("shopify", "orders-create.json"), key="42")

    received, _ = intake.receive(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, key="42"
    )

    assert received is Received.ACCEPTED
    assert sorted(store.inbound) == [(SHOPIFY, "42"), (WOO, "42")]


def test_a_topic_the_service_does_not_act_on_is_recorded_ignored_without_its_body(
    intake: Intake, store: FakeStore
) -> None:
    received, key = intake.receive('{"id": 1}', topic="products/update", relevant=False)

    assert received is Received.IGNORED
    assert store.inbound == {}
    assert (intake.event(key).type, intake.event(key).data["topic"]) == (
        "channel.webhook_ignored",
        "products/update",
    )
    assert (
        intake.receive('{"id": 1}', topic="products/update", key=key, relevant=False)[0] is Received.DUPLICATE
    )


def test_two_deliveries_of_one_webhook_racing_record_it_once(
    intake: Intake, store: FakeStore, uow_factory: FakeUnitOfWorkFactory
) -> None:
    body = fixture("shopify", "orders-create.json")
    results: list[Received] = []
    store.before_next_commit(lambda: results.append(intake.receive(body, key="raced")[0]))

    received, _ = intake.receive(body, key="raced")

    assert (results, received) == ([Received.ACCEPTED], Received.DUPLICATE)
    assert len(store.inbound_events_of(SHOPIFY, "raced")) == 1


def test_a_delivery_repeated_after_its_dedup_record_expired_is_a_duplicate_while_its_body_is_kept(
    intake: Intake, store: FakeStore, clock: FakeClock
) -> None:
    body = fixture("shopify", "orders-create.json")
    intake.receive(body, key="late")
    clock.advance(seconds=DELIVERY_DEDUP_TTL_SECONDS + 1)

    received, _ = intake.receive(body, key="late")

    assert received is Received.DUPLICATE
    assert len(store.inbound_events_of(SHOPIFY, "late")) == 1


# -- placing ---------------------------------------------------------------------------------------


def test_a_new_shopify_order_is_placed_under_its_store_id_and_confirmed_at_receipt(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(fixture("shopify", "orders-create.json"))

    assert order is not None and order == store.order(order.id)
    assert (order.channel_id, order.external_id, order.status, order.paid) == (
        SHOPIFY,
        SHOPIFY_ORDER,
        OrderStatus.PLACED,
        True,
    )
    assert [(line.sku, line.quantity, str(line.unit_price)) for line in order.lines] == [
        ("TSHIRT-M", 2, "19.99"),
        ("MUG", 1, "12.50"),
    ]
    assert str(order.totals.total) == "56.42"  # the store's own total
    assert (order.holds, order.unresolved_lines) == ([], [])
    assert intake.receipt(order.id).status is OrderStatus.CONFIRMED


def test_an_order_with_lines_that_cannot_be_placed_is_taken_on_hold_with_them(
    intake: Intake,
) -> None:
    order = intake.deliver(fixture("shopify", "orders-create-unknown-sku.json"))

    assert order is not None
    assert [(line.sku, line.quantity) for line in order.lines] == [("TSHIRT-M", 1)]
    assert [(line.sku, line.reason, line.unknown_sku) for line in order.unresolved_lines] == [
        ("HOODIE-LTD-L", "SKU 'HOODIE-LTD-L' is not in the catalogue", True),
        (None, "no SKU", False),
    ]
    assert order.status is OrderStatus.ON_HOLD
    unresolved, manual = order.holds
    assert (unresolved.reason, unresolved.placed_by) == (HoldReason.UNRESOLVED_LINES, f"channel:{SHOPIFY}")
    assert "HOODIE-LTD-L" in (unresolved.note or "")
    assert (manual.reason, "no SKU" in (manual.note or "")) == (HoldReason.MANUAL, True)
    assert intake.receipt(order.id).status is OrderStatus.ON_HOLD  # a person decides


def only_unknown_skus() -> str:
    """The Shopify order with its only lines' SKUs unknown to the catalogue (73.24 with shipping,
    tax and discount, as the store charged it)."""
    payload = json.loads(fixture("shopify", "orders-create.json"))
    payload["line_items"][0]["sku"] = "HOODIE-LTD-L"
    payload["line_items"][1]["sku"] = "CAP-RED"
    return json.dumps(payload)


def release_unresolved(intake: Intake, order_id: str) -> Order:
    return release_hold(
        intake.uow_factory,
        order_id,
        HoldReason.UNRESOLVED_LINES,
        actor="admin:ops",
        ids=intake.ids,
        clock=intake.clock,
    ).order


def test_an_order_whose_only_lines_have_unknown_skus_is_an_order_on_hold_with_nothing_reserved(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(only_unknown_skus())

    assert order is not None and order == store.order(order.id)
    assert (order.status, [h.reason for h in order.holds], order.lines) == (
        OrderStatus.ON_HOLD,
        [HoldReason.UNRESOLVED_LINES],
        [],
    )
    assert [(u.sku, u.quantity, str(u.unit_price), u.store_line_id) for u in order.unresolved_lines] == [
        ("HOODIE-LTD-L", 2, "19.99", "466157049"),
        ("CAP-RED", 1, "12.50", "518995019"),
    ]
    assert str(order.totals.total) == "56.42"  # the store's own total: unresolved lines count
    assert store.fulfillments_of(order.id) == []
    assert all(store.level(EAST, sku).reserved == 0 for sku in ("TSHIRT-M", "MUG", "POSTER"))
    assert intake.receipt(order.id).status is OrderStatus.ON_HOLD


def test_the_same_unknown_sku_order_delivered_again_stays_one_order_on_hold(
    intake: Intake, store: FakeStore
) -> None:
    first = intake.deliver(only_unknown_skus())
    again = intake.deliver(only_unknown_skus())

    assert first is not None and again is not None
    assert (len(store.orders), again.id, again.holds) == (1, first.id, first.holds)


def test_releasing_the_hold_while_a_sku_is_still_unknown_is_refused_naming_it(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(only_unknown_skus())
    assert order is not None
    seed_catalogue(store, ("HOODIE-LTD-L",))

    with pytest.raises(UnknownSkus) as refused:
        release_unresolved(intake, order.id)

    assert refused.value.skus == ["CAP-RED"]
    assert store.order(order.id) == order  # nothing written


def test_releasing_the_hold_once_the_products_exist_places_the_lines_and_backorders_what_has_no_stock(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(only_unknown_skus())
    assert order is not None
    intake.receipt(order.id)
    seed_catalogue(store, ("HOODIE-LTD-L", "CAP-RED"))
    store.set_stock(EAST, "HOODIE-LTD-L", 5)  # CAP-RED has none: backordered

    released = release_unresolved(intake, order.id)

    assert released.status is OrderStatus.BACKORDERED
    assert released.holds == [] and released.unresolved_lines == []
    assert [(li.sku, li.quantity, str(li.line_total), li.backordered) for li in released.lines] == [
        ("HOODIE-LTD-L", 2, "39.98", 0),
        ("CAP-RED", 1, "12.50", 1),
    ]
    assert released.totals == order.totals
    assert store.level(EAST, "HOODIE-LTD-L").reserved == 2
    assert sorted((f.warehouse_id or "", f.status.value) for f in store.fulfillments_of(order.id)) == [
        ("", "pending"),  # a backorder: no warehouse, waiting for stock
        (EAST, "released"),
    ]
    assert intake.event_types(order.id)[-1] == "order.backordered"
    # A re-delivery of the store's webhook afterwards finds the same lines: no hold for a person.
    again = intake.deliver(only_unknown_skus())
    assert again is not None and again.holds == []


def test_releasing_the_hold_with_every_unit_in_stock_confirms_the_order(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(only_unknown_skus())
    assert order is not None
    intake.receipt(order.id)
    seed_catalogue(store, ("HOODIE-LTD-L", "CAP-RED"))
    store.set_stock(EAST, "HOODIE-LTD-L", 5)
    store.set_stock(EAST, "CAP-RED", 5)

    released = release_unresolved(intake, order.id)

    assert (released.status, released.confirmed_at is not None) == (OrderStatus.CONFIRMED, True)
    assert [store.level(EAST, sku).reserved for sku in ("HOODIE-LTD-L", "CAP-RED")] == [2, 1]


def test_releasing_the_unresolved_lines_hold_under_another_hold_places_the_lines_and_keeps_it(
    intake: Intake, store: FakeStore
) -> None:
    order = intake.deliver(fixture("shopify", "orders-create-unknown-sku.json"))
    assert order is not None
    seed_catalogue(store, ("HOODIE-LTD-L",))
    store.set_stock(EAST, "HOODIE-LTD-L", 1)

    released = release_unresolved(intake, order.id)

    assert released.status is OrderStatus.ON_HOLD
    assert [h.reason for h in released.holds] == [HoldReason.MANUAL]
    assert [li.sku for li in released.lines] == ["TSHIRT-M", "HOODIE-LTD-L"]
    assert [u.reason for u in released.unresolved_lines] == ["no SKU"]
    assert store.level(EAST, "HOODIE-LTD-L").reserved == 1


def test_the_same_order_again_under_a_new_webhook_id_makes_no_second_order(
    intake: Intake, store: FakeStore
) -> None:
    first = intake.deliver(fixture("shopify", "orders-create.json"))
    assert first is not None
    events = intake.event_types(first.id)

    again = intake.deliver(fixture("shopify", "orders-create.json"))

    assert again == store.order(first.id)
    assert len(store.orders) == 1
    assert intake.event_types(first.id) == events  # nothing changed, nothing recorded


def test_an_unplaceable_order_raises_with_its_reason_and_places_nothing(
    intake: Intake, store: FakeStore
) -> None:
    payload = json.loads(fixture("shopify", "orders-create.json"))
    payload["currency"] = "XYZ"

    with pytest.raises(ValueError, match=rf"store order {SHOPIFY_ORDER} cannot be placed: .*currency"):
        intake.deliver(json.dumps(payload))

    assert store.orders == {}


def test_a_payload_gone_before_the_worker_ran_is_nothing_to_do(intake: Intake, store: FakeStore) -> None:
    _, key = intake.receive(fixture("shopify", "orders-create.json"))
    del store.inbound[(SHOPIFY, key)]  # its 30-day ttl passed

    assert intake.process(key) is None
    assert store.orders == {}


# -- updating --------------------------------------------------------------------------------------


def test_an_update_changes_the_shipping_address(intake: Intake, store: FakeStore) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)

    updated = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")

    assert updated is not None and updated.id == placed.id
    assert (updated.shipping_address.line1, updated.shipping_address.postal_code) == ("20 W 34th St", "10001")
    assert updated.status is OrderStatus.CONFIRMED
    last = store.events_of(placed.id)[-1]
    assert (last.type, last.actor) == ("order.updated", "store:shopify")
    assert "shipping_address" in last.data["changed"]


def test_payment_in_the_store_releases_the_payment_pending_hold(intake: Intake, store: FakeStore) -> None:
    pending = intake.deliver(fixture("shopify", "orders-create-pending.json"))
    assert pending is not None
    held = intake.receipt(pending.id)
    assert (held.status, held.hold_reasons) == (OrderStatus.ON_HOLD, {HoldReason.PAYMENT_PENDING})

    paid = intake.deliver(
        edited("shopify", "orders-create-pending.json", financial_status="paid"), topic="orders/updated"
    )

    assert paid is not None
    assert (paid.paid, paid.holds, paid.status) == (True, [], OrderStatus.CONFIRMED)
    assert store.events_of(pending.id)[-1].data["holds_lifted"] == ["payment_pending"]


def store_edit(**line_changes: dict[str, Any]) -> dict[str, Any]:
    """The Shopify order as ``orders/updated`` sends it after an edit in the store (a minute later):
    ``line_changes`` by SKU replace fields of its lines; ``added`` lines are appended."""
    payload = json.loads(fixture("shopify", "orders-create.json"))
    payload["updated_at"] = "2024-09-12T10:22:09-04:00"
    for line in payload["line_items"]:
        line.update(line_changes.get(line["sku"], {}))
    return payload


def test_a_line_edit_in_the_store_before_picking_applies_as_an_order_edit(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)

    edited_order = intake.deliver(json.dumps(store_edit(MUG={"quantity": 2})), topic="orders/updated")

    assert edited_order is not None
    assert [(line.sku, line.quantity) for line in edited_order.lines] == [("TSHIRT-M", 2), ("MUG", 2)]
    assert (edited_order.status, edited_order.holds) == (OrderStatus.CONFIRMED, [])
    assert edited_order.totals.total == placed.totals.total + Decimal("12.50")
    assert store.level(EAST, "MUG").reserved == 2
    edit, adjustment = store.events_of(placed.id)[-2:]
    assert (edit.type, edit.actor, edit.data["source"]) == ("order.edited", "store:shopify", "store")
    assert (adjustment.type, adjustment.data["amount"]) == ("payment.adjustment_requested", "12.50")
    assert store.order(placed.id).store_updated_at == datetime(2024, 9, 12, 14, 22, 9, tzinfo=UTC)


def test_a_shopify_edit_is_read_from_what_is_left_of_each_line_and_its_new_lines(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    payload = store_edit(**{"TSHIRT-M": {"current_quantity": 1}, "MUG": {"current_quantity": 0}})
    payload["line_items"].append(
        {
            **payload["line_items"][1],
            "id": 99,
            "sku": "POSTER",
            "quantity": 3,
            "current_quantity": 3,
            "price": "7.00",
        }
    )

    edited_order = intake.deliver(json.dumps(payload), topic="orders/updated")

    assert edited_order is not None
    assert [(line.sku, line.quantity) for line in edited_order.lines] == [("TSHIRT-M", 1), ("POSTER", 3)]
    assert (store.level(EAST, "MUG").reserved, store.level(EAST, "POSTER").reserved) == (0, 3)
    assert edited_order.holds == []


def test_a_woocommerce_update_with_other_lines_applies_as_an_order_edit(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )
    assert placed is not None
    intake.receipt(placed.id)
    payload = json.loads(fixture("woocommerce", "order-created-processing.json"))
    payload["date_modified_gmt"] = "2024-09-16T12:30:00"
    payload["line_items"] = [line for line in payload["line_items"] if line["sku"] != "POSTER"]

    edited_order = intake.deliver(json.dumps(payload), channel_id=WOO, topic="order.updated")

    assert edited_order is not None
    assert [(line.sku, line.quantity) for line in edited_order.lines] == [("TSHIRT-M", 2)]
    assert edited_order.holds == []
    assert store.level(EAST, "POSTER").reserved == 0
    assert store.events_of(placed.id)[-1].data["amount"] == "-12.00"


def test_a_line_edit_in_the_store_removing_picked_units_holds_the_order_for_a_person(
    intake: Intake, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    (work,) = store.fulfillments_of(placed.id)
    Road(store, uow_factory, ids, clock).pick(work.id)

    edited_order = intake.deliver(
        json.dumps(store_edit(**{"TSHIRT-M": {"quantity": 1}})), topic="orders/updated"
    )

    assert edited_order is not None
    assert [(line.sku, line.quantity) for line in edited_order.lines] == [("TSHIRT-M", 2), ("MUG", 1)]
    assert edited_order.status is OrderStatus.ON_HOLD
    (hold,) = edited_order.holds
    assert (hold.reason, hold.placed_by) == (HoldReason.MANUAL, "store:shopify")
    assert hold.note == (
        "the store edited the order's lines but the edit cannot apply: "
        f"too late to edit: picking started on fulfillments {work.id} (picked)"
    )
    assert "order.edited" not in intake.event_types(placed.id)


def test_a_line_edit_in_the_store_with_an_unknown_sku_holds_the_order_as_unresolved_lines(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)

    edited_order = intake.deliver(json.dumps(store_edit(MUG={"sku": "NOT-SOLD"})), topic="orders/updated")

    assert edited_order is not None
    assert [(line.sku, line.quantity) for line in edited_order.lines] == [("TSHIRT-M", 2), ("MUG", 1)]
    (hold,) = edited_order.holds
    assert (hold.reason, hold.note) == (
        HoldReason.UNRESOLVED_LINES,
        "the store's line edit has lines that cannot be placed (1 x NOT-SOLD); review and adjust",
    )


def test_an_older_store_version_with_other_lines_changes_nothing(intake: Intake, store: FakeStore) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    intake.deliver(json.dumps(store_edit(MUG={"quantity": 2})), topic="orders/updated")
    older = store_edit(MUG={"quantity": 3})
    older["updated_at"] = "2024-09-12T10:21:30-04:00"

    again = intake.deliver(json.dumps(older), topic="orders/updated")

    assert again is not None
    assert [(line.sku, line.quantity) for line in again.lines] == [("TSHIRT-M", 2), ("MUG", 2)]
    assert intake.event_types(placed.id).count("order.edited") == 1


def test_a_new_address_after_packing_is_not_applied_and_the_order_is_flagged(
    intake: Intake, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    stock_boxes(store, EAST)
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    road = Road(store, uow_factory, ids, clock)
    (work,) = store.fulfillments_of(placed.id)
    road.pick(work.id)
    road.pack(work.id, "L")

    flagged = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")

    assert flagged is not None
    assert flagged.shipping_address.line1 == "350 Fifth Avenue"  # still the original
    (hold,) = flagged.holds
    assert hold.reason is HoldReason.MANUAL
    assert (hold.note or "").startswith("the store changed the order but it could not be applied")
    assert work.id in (hold.note or "")


def test_a_partial_refund_in_the_store_after_placement_holds_the_order_for_a_person(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)

    refunded = intake.deliver(
        edited("shopify", "orders-create.json", financial_status="partially_refunded"), topic="orders/updated"
    )

    assert refunded is not None and HoldReason.MANUAL in refunded.hold_reasons


# -- ordering: a store's older version of an order arriving late ----------------------------------


def test_an_older_shopify_version_arriving_late_does_not_put_back_the_old_address(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")
    events = intake.event_types(placed.id)

    # The create webhook (10:21:09) retried by Shopify after the update (11:02:45) was applied.
    late = intake.deliver(fixture("shopify", "orders-create.json"), topic="orders/create")

    assert late is not None and late == store.order(placed.id)
    assert (late.shipping_address.line1, late.shipping_address.postal_code) == ("20 W 34th St", "10001")
    assert late.store_updated_at == datetime(2024, 9, 12, 15, 2, 45, tzinfo=UTC)
    assert intake.event_types(placed.id) == events  # nothing applied, nothing flagged


def test_an_older_payment_state_arriving_late_does_not_unpay_the_order(
    intake: Intake, store: FakeStore
) -> None:
    pending = intake.deliver(fixture("shopify", "orders-create-pending.json"))
    assert pending is not None
    intake.receipt(pending.id)
    paid = intake.deliver(
        edited(
            "shopify",
            "orders-create-pending.json",
            financial_status="paid",
            updated_at="2024-09-14T16:20:00+02:00",
        ),
        topic="orders/updated",
    )
    assert paid is not None and (paid.paid, paid.status) == (True, OrderStatus.CONFIRMED)

    late = intake.deliver(fixture("shopify", "orders-create-pending.json"), topic="orders/updated")

    assert late is not None and (late.paid, late.holds, late.status) == (True, [], OrderStatus.CONFIRMED)


def test_an_update_that_arrives_before_the_create_places_the_order_and_the_late_create_changes_nothing(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")
    assert placed is not None
    assert placed.store_updated_at == datetime(2024, 9, 12, 15, 2, 45, tzinfo=UTC)
    events = intake.event_types(placed.id)

    late = intake.deliver(fixture("shopify", "orders-create.json"))

    assert late is not None and late.shipping_address.line1 == "20 W 34th St"
    assert intake.event_types(placed.id) == events


def test_a_newer_update_applies_and_moves_the_orders_store_version_forward(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None and placed.store_updated_at == datetime(2024, 9, 12, 14, 21, 9, tzinfo=UTC)

    updated = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")

    assert updated is not None and updated.shipping_address.line1 == "20 W 34th St"
    assert updated.store_updated_at == datetime(2024, 9, 12, 15, 2, 45, tzinfo=UTC)


def test_a_version_with_the_same_updated_at_applies_again_idempotently(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    updated = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")
    events = intake.event_types(placed.id)

    again = intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")

    assert again == updated
    assert intake.event_types(placed.id) == events


def test_a_newer_update_committed_while_an_older_one_is_being_applied_wins(
    intake: Intake, store: FakeStore
) -> None:
    """The check is part of the write (the order's version condition), not a read before it."""
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)
    older = edited("shopify", "orders-updated.json", updated_at="2024-09-12T10:50:00-04:00")
    older_payload = json.loads(older)
    older_payload["shipping_address"]["address1"] = "1 Old Road"
    _, older_key = intake.receive(json.dumps(older_payload), topic="orders/updated")
    store.before_next_commit(
        lambda: intake.deliver(fixture("shopify", "orders-updated.json"), topic="orders/updated")
    )

    result = intake.process(older_key)

    assert result is not None and result.shipping_address.line1 == "20 W 34th St"
    assert store.order(placed.id).shipping_address.line1 == "20 W 34th St"


def test_an_older_woocommerce_version_arriving_late_does_not_put_back_the_old_address(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )
    assert placed is not None
    moved = json.loads(fixture("woocommerce", "order-created-processing.json"))
    moved["shipping"]["address_1"] = "Unter den Linden 6"
    moved["date_modified_gmt"] = "2024-09-16T13:30:00"
    intake.deliver(json.dumps(moved), channel_id=WOO, topic="order.updated")

    late = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.updated"
    )

    assert late is not None and late.shipping_address.line1 == "Unter den Linden 6"


def test_an_older_woocommerce_cancellation_arriving_after_the_order_was_reopened_does_not_cancel_it(
    intake: Intake, store: FakeStore
) -> None:
    placed = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )
    assert placed is not None
    # Cancelled at 15:42:08, then set back to processing by the merchant at 16:00: the reopening
    # arrives first, the cancellation late.
    reopened = edited("woocommerce", "order-created-processing.json", date_modified_gmt="2024-09-16T16:00:00")
    intake.deliver(reopened, channel_id=WOO, topic="order.updated")

    late = intake.deliver(
        fixture("woocommerce", "order-cancelled.json"), channel_id=WOO, topic="order.updated"
    )

    assert late is not None and late.status is not OrderStatus.CANCELLED
    assert "order.cancelled" not in intake.event_types(placed.id)


def test_delivery_dedup_outlives_the_longest_store_retry_window() -> None:
    """Shopify retries a failed webhook for 48 hours (WooCommerce for less): a retry must always
    meet its dedup record. (Later replays are also older than the order's store version.)"""
    assert DELIVERY_DEDUP_TTL_SECONDS >= 48 * 3600


# -- cancelling ------------------------------------------------------------------------------------


def test_a_cancellation_in_the_store_cancels_the_order(intake: Intake, store: FakeStore) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.receipt(placed.id)

    cancelled = intake.deliver(fixture("shopify", "orders-cancelled.json"), topic="orders/cancelled")

    assert cancelled is not None and cancelled.id == placed.id
    assert cancelled.status is OrderStatus.CANCELLED
    (event,) = [e for e in store.events_of(placed.id) if e.type == "order.cancelled"]
    assert event.actor == "store:shopify"
    assert "cancelled in the store (customer)" in json.dumps(event.data)
    assert store.level(EAST, "TSHIRT-M").reserved == 0  # its stock is free again


def test_the_same_cancellation_again_changes_nothing(intake: Intake, store: FakeStore) -> None:
    placed = intake.deliver(fixture("shopify", "orders-create.json"))
    assert placed is not None
    intake.deliver(fixture("shopify", "orders-cancelled.json"), topic="orders/cancelled")
    events = intake.event_types(placed.id)

    again = intake.deliver(fixture("shopify", "orders-cancelled.json"), topic="orders/cancelled")

    assert again is not None and again.status is OrderStatus.CANCELLED
    assert intake.event_types(placed.id) == events


def test_an_order_cancelled_before_it_ever_reached_us_is_nothing_to_do(
    intake: Intake, store: FakeStore
) -> None:
    assert intake.deliver(fixture("shopify", "orders-cancelled.json"), topic="orders/cancelled") is None
    assert store.orders == {}


# -- WooCommerce -----------------------------------------------------------------------------------


def test_a_processing_woocommerce_order_is_placed_paid(intake: Intake) -> None:
    order = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )

    assert order is not None
    assert (order.channel_id, order.external_id, order.paid, order.currency) == (WOO, "5127", True, "EUR")
    assert intake.receipt(order.id).status is OrderStatus.CONFIRMED


def test_an_on_hold_woocommerce_order_waits_for_payment(intake: Intake) -> None:
    order = intake.deliver(
        fixture("woocommerce", "order-updated-on-hold.json"), channel_id=WOO, topic="order.updated"
    )

    assert order is not None and order.paid is False
    received = intake.receipt(order.id)
    assert (received.status, received.hold_reasons) == (OrderStatus.ON_HOLD, {HoldReason.PAYMENT_PENDING})


def test_a_woocommerce_order_updated_to_cancelled_is_cancelled(intake: Intake) -> None:
    placed = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )
    assert placed is not None

    cancelled = intake.deliver(
        fixture("woocommerce", "order-cancelled.json"), channel_id=WOO, topic="order.updated"
    )

    assert cancelled is not None and (cancelled.id, cancelled.status) == (placed.id, OrderStatus.CANCELLED)


def test_woocommerce_and_shopify_orders_with_the_same_number_are_different_orders(
    intake: Intake, store: FakeStore
) -> None:
    woo = intake.deliver(
        fixture("woocommerce", "order-created-processing.json"), channel_id=WOO, topic="order.created"
    )
    shop = intake.deliver(edited("shopify", "orders-create.json", id=5127), topic="orders/create")

    assert woo is not None and shop is not None and woo.id != shop.id
    assert len(store.orders) == 2


def test_lines_are_resolved_against_the_catalogue_as_it_is_when_the_worker_maps_them(
    intake: Intake, store: FakeStore
) -> None:
    store.add_product(
        Product(
            sku="HOODIE-LTD-L", name="Hoodie", weight_grams=500, length_mm=300, width_mm=200, height_mm=50
        )
    )
    store.set_stock(EAST, "HOODIE-LTD-L", 5)

    order = intake.deliver(fixture("shopify", "orders-create-unknown-sku.json"))

    assert order is not None
    assert [line.sku for line in order.lines] == ["TSHIRT-M", "HOODIE-LTD-L"]
    assert [line.reason for line in order.unresolved_lines] == ["no SKU"]
