"""The warehouse road over one fake store: placement, receipt, pick, pack, ship, cancel, stock,
and the carrier's updates after shipping (ingested as the webhook does, applied as the worker does).

Each step calls the real use case with the test's ids and clock, so tests read as the journey
does: ``road.released(("MUG-1", 2))`` is an order placed and received, its work released.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.holds import HoldPolicy
from chalicelib.domain.models import Box, Fulfillment, Order, Package
from chalicelib.domain.packing import DEFAULT_DIM_DIVISOR
from chalicelib.domain.tracking import TrackingUpdate
from chalicelib.service import cancellation, packing, picking, shipping
from chalicelib.service.changes import Authorize
from chalicelib.service.delivery import Ingested, apply_tracking, ingest
from chalicelib.service.inventory import allocate_backorders, receive_stock
from chalicelib.service.placement import place_order
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.receipt import receive_order
from tests.unit.builders import EAST, WEB, WEST, lines, order_request
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWork, FakeUnitOfWorkFactory, SequentialIds

POLICY = HoldPolicy.parse("USD=1000;*=1000")
STAFF = "warehouse:wh_east"
ADMIN = "admin:key_ops"


def allow(_: Any) -> None:
    """An authorize hook that lets everything through (the routes' scope checks are tested there)."""


#: Inner measures fit the catalogue's 100 mm cubes (300 g): S holds 1, M 4, L 24.
BOXES = (
    Box(
        code="S",
        inner_length_mm=120,
        inner_width_mm=120,
        inner_height_mm=120,
        max_weight_grams=2_000,
        cost=Decimal("0.40"),
    ),
    Box(
        code="M",
        inner_length_mm=220,
        inner_width_mm=220,
        inner_height_mm=120,
        max_weight_grams=5_000,
        cost=Decimal("0.70"),
    ),
    Box(
        code="L",
        inner_length_mm=420,
        inner_width_mm=320,
        inner_height_mm=220,
        max_weight_grams=20_000,
        cost=Decimal("1.20"),
    ),
)


def stock_boxes(store: FakeStore, *warehouse_ids: str) -> None:
    for warehouse_id in warehouse_ids or (EAST, WEST):
        for box in BOXES:
            store.add_box(warehouse_id, box)


class Road:
    def __init__(
        self, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
    ) -> None:
        self.store, self.uow_factory, self.ids, self.clock = store, uow_factory, ids, clock
        self._external_ids = itertools.count(1)

    # -- orders -------------------------------------------------------------------------------

    def place(self, *items: tuple[str, int], price: str = "10.00", **body: Any) -> str:
        """Place an order of ``items`` (sku, quantity) at ``price`` each; a new external id each time."""
        body.setdefault("external_id", f"EXT-{next(self._external_ids)}")
        result = place_order(
            self.uow_factory,
            order_request(lines=lines(*items, price=price), **body),
            channel_id=WEB,
            idempotency_key=None,
            ids=self.ids,
            clock=self.clock,
        )
        return result.order.id

    def receive(self, order_id: str) -> None:
        placed = next(e for e in self.store.events_of(order_id) if e.type == "order.placed")
        receive_order(self.uow_factory, placed, policy=POLICY, ids=self.ids, clock=self.clock)

    def released(self, *items: tuple[str, int], **body: Any) -> str:
        """An order placed and received: its work in stock is released to the warehouses."""
        order_id = self.place(*items, **body)
        self.receive(order_id)
        return order_id

    def order(self, order_id: str) -> Order:
        return self.store.order(order_id)

    def fulfillments(self, order_id: str) -> list[Fulfillment]:
        return self.store.fulfillments_of(order_id)

    def at(self, warehouse_id: str | None, order_id: str) -> Fulfillment:
        """The order's one active fulfillment at ``warehouse_id`` (None: its backorder)."""
        (found,) = [f for f in self.fulfillments(order_id) if f.warehouse_id == warehouse_id and f.is_active]
        return found

    def events(self, order_id: str) -> list[DomainEvent]:
        return self.store.events_of(order_id)

    def event_types(self, order_id: str) -> list[str]:
        return [e.type for e in self.events(order_id)]

    # -- warehouse steps ----------------------------------------------------------------------

    def pick(
        self, fulfillment_id: str, reported: Mapping[str, int] | None = None, *, authorize: Authorize = allow
    ) -> OrderAggregate:
        """Report what was picked; by default everything the fulfillment asks for."""
        if reported is None:
            wanted = self.store.fulfillment(fulfillment_id)
            reported = {line.sku: line.quantity for line in wanted.lines}
        return picking.pick(
            self.uow_factory,
            fulfillment_id,
            reported,
            authorize=authorize,
            actor=STAFF,
            ids=self.ids,
            clock=self.clock,
        )

    def pack(
        self, fulfillment_id: str, *boxes: str, weight_grams: int = 700, authorize: Authorize = allow
    ) -> OrderAggregate:
        packages = [Package(box=box, weight_grams=weight_grams) for box in boxes or ("M",)]
        return packing.pack(
            self.uow_factory,
            fulfillment_id,
            packages,
            divisor=DEFAULT_DIM_DIVISOR,
            authorize=authorize,
            actor=STAFF,
            ids=self.ids,
            clock=self.clock,
        )

    def ship(
        self,
        fulfillment_id: str,
        *numbers: str,
        carrier: str = "usps",
        service: str = "ground",
        authorize: Authorize = allow,
    ) -> OrderAggregate:
        return shipping.ship(
            self.uow_factory,
            fulfillment_id,
            carrier=carrier,
            service=service,
            tracking_numbers=list(numbers or (f"TRK-{fulfillment_id}",)),
            authorize=authorize,
            actor=STAFF,
            ids=self.ids,
            clock=self.clock,
        )

    def through(self, fulfillment_id: str, *, until: str = "ship") -> None:
        """Take released work through the steps up to and including ``until``."""
        self.pick(fulfillment_id)
        if until in ("pack", "ship"):
            self.pack(fulfillment_id)
        if until == "ship":
            self.ship(fulfillment_id)

    def cancel(
        self,
        order_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        reason: str = "customer changed their mind",
        authorize: Callable[[Order], None] = allow,
    ) -> OrderAggregate:
        return cancellation.cancel(
            self.uow_factory,
            order_id,
            reason,
            lines,
            authorize=authorize,
            actor=ADMIN,
            ids=self.ids,
            clock=self.clock,
        )

    # -- stock --------------------------------------------------------------------------------

    def receive_stock(
        self,
        warehouse_id: str,
        sku: str,
        quantity: int,
        *,
        key: str | None = None,
        reference: str | None = None,
    ) -> DomainEvent:
        return receive_stock(
            self.uow_factory,
            warehouse_id,
            sku,
            quantity,
            reference=reference,
            idempotency_key=key,
            actor=ADMIN,
            ids=self.ids,
            clock=self.clock,
        )

    def allocate(self, sku: str, warehouse_id: str) -> list[str]:
        return allocate_backorders(self.uow_factory, sku, warehouse_id, ids=self.ids, clock=self.clock)

    def backorder_queue(self, sku: str) -> list[str]:
        return [fid for _, fid in FakeUnitOfWork(self.store).list_backorders(sku, 100)]

    # -- the carrier ----------------------------------------------------------------------------

    def ingest(self, update: TrackingUpdate) -> Ingested:
        """What the webhook route does with a verified, parsed update."""
        return ingest(self.uow_factory, update, ids=self.ids, clock=self.clock)

    def received(self, update: TrackingUpdate) -> DomainEvent:
        """The event ingest kept for ``update`` under its tracking number (what the worker gets)."""
        (found,) = [
            e
            for e in self.store.tracking_events_of(update.tracking_number)
            if e.data["update"]["provider"] == update.provider
            and e.data["update"]["provider_event_id"] == update.provider_event_id
        ]
        return found

    def apply(self, update: TrackingUpdate) -> OrderAggregate | None:
        """What the tracking worker does with the event ingest kept for ``update``."""
        return apply_tracking(self.uow_factory, self.received(update), ids=self.ids, clock=self.clock)

    def track(self, *updates: TrackingUpdate) -> None:
        """Each update posted by the carrier and applied by the worker, in the order given."""
        for update in updates:
            assert self.ingest(update) is Ingested.ACCEPTED, update.provider_event_id
            self.apply(update)
