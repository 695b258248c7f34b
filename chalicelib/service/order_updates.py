"""Changes to an order after placement: addresses, customer, shipping method and payment, from the
API or from the store (applied only when newer than the version the order reflects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.channels import check_store_version
from chalicelib.domain.errors import Conflict
from chalicelib.domain.event_payloads import (
    OrderStoreSynced,
    OrderUpdated,
)
from chalicelib.domain.holds import HoldPolicy, evaluate_holds
from chalicelib.domain.models import Address, Customer, Order, format_timestamp
from chalicelib.domain.status import (
    FulfillmentStatus,
    HoldReason,
    OrderStatus,
    OrderTrigger,
    allowed_order_triggers,
)
from chalicelib.service.changes import (
    Change,
    load_order,
)
from chalicelib.service.ports import Clock, IdGenerator, OrderAggregate, UnitOfWork, UnitOfWorkFactory
from chalicelib.service.receipt import hold_order, proceed
from chalicelib.service.unit_of_work import change_order

#: Holds the rules lift by themselves once their cause is gone; a fraud review or a manual
#: hold always waits for a person.
SELF_LIFTING = frozenset({HoldReason.PAYMENT_PENDING, HoldReason.ADDRESS_INVALID})

#: While a fulfillment is in one of these, its parcel has no label yet: the address may change.
_ADDRESS_CHANGEABLE = frozenset(
    {
        FulfillmentStatus.PENDING,
        FulfillmentStatus.ON_HOLD,
        FulfillmentStatus.RELEASED,
        FulfillmentStatus.PICKING,
        FulfillmentStatus.PICKED,
    }
)


@dataclass(frozen=True)
class OrderChanges:
    """What a store may change after placement (the REST PATCH and store order updates)."""

    shipping_address: Address | None = None
    billing_address: Address | None = None
    customer: Customer | None = None
    shipping_method: str | None = None
    paid: bool | None = None
    #: Store updates: the store's modification time of the version these changes come from. An
    #: update older than the order's ``store_updated_at`` raises ``StaleStoreOrder`` and changes
    #: nothing; the check is made on the order read for the write, which is conditioned on its
    #: version, so a newer update committed meanwhile makes this one re-read and re-check.
    store_updated_at: datetime | None = None


def update_order(
    uow_factory: UnitOfWorkFactory,
    order_id: str,
    changes: OrderChanges,
    *,
    policy: HoldPolicy,
    authorize: Callable[[Order], None],
    actor: str,
    ids: IdGenerator,
    clock: Clock,
) -> OrderAggregate:
    """Apply a store's changes; the hold rules run again on the result: paying lifts
    ``payment_pending``, a fixed address lifts ``address_invalid``, and new findings hold it."""

    def decide(aggregate: OrderAggregate, uow: UnitOfWork) -> Change | None:
        order = aggregate.order
        authorize(order)
        check_store_version(order.store_updated_at, changes.store_updated_at)
        updates = {
            name: value
            for name, value in vars(changes).items()
            if name != "store_updated_at" and value is not None and getattr(order, name) != value
        }
        if not updates:
            return _store_synced(aggregate, changes.store_updated_at)
        _check_updatable(aggregate, updates)
        return _updated(aggregate, updates, changes, policy, uow, clock)

    return change_order(
        uow_factory, lambda uow: load_order(uow, order_id), decide, actor=actor, ids=ids, clock=clock
    )


def _store_synced(aggregate: OrderAggregate, store_version: datetime | None) -> Change | None:
    """Nothing to apply. None for the same changes again; but when the store's version moved, it is
    remembered, or an older version arriving later (e.g. a cancellation the merchant since undid)
    would pass as newer. No hold rule runs: nothing they look at changed."""
    order = aggregate.order
    if store_version is None or (
        order.store_updated_at is not None and store_version <= order.store_updated_at
    ):
        return None
    return Change(
        order=order.model_copy(update={"store_updated_at": store_version}),
        fulfillments=aggregate.fulfillments,
        payload=OrderStoreSynced(store_updated_at=format_timestamp(store_version)),
    )


def _check_updatable(aggregate: OrderAggregate, updates: dict[str, Any]) -> None:
    order = aggregate.order
    if order.status in (OrderStatus.CANCELLED, OrderStatus.RETURNED):
        raise Conflict(f"the order is {order.status.value}", current=order.status.value, allowed=[])
    if "shipping_address" in updates:
        sealed = [f for f in aggregate.fulfillments if f.is_active and f.status not in _ADDRESS_CHANGEABLE]
        if sealed:
            names = ", ".join(f"{f.id} ({f.status.value})" for f in sealed)
            raise Conflict(
                f"too late to change the address: fulfillments {names} are packed or shipped",
                current=order.status.value,
                allowed=[],
            )


def _updated(
    aggregate: OrderAggregate,
    updates: dict[str, Any],
    changes: OrderChanges,
    policy: HoldPolicy,
    uow: UnitOfWork,
    clock: Clock,
) -> Change:
    """The order with the updates applied and the hold rules run again on it."""
    order = aggregate.order
    changed = order.model_copy(update=updates)
    if changes.store_updated_at is not None:
        changed = changed.model_copy(update={"store_updated_at": changes.store_updated_at})
    findings = evaluate_holds(changed, policy) if order.received_at is not None else []
    found = {f.reason for f in findings}
    # Before receipt no rule has run, so none may lift a hold either (receipt decides first).
    received = order.received_at is not None
    lifted = [
        h.reason.value
        for h in changed.holds
        if received and h.reason in SELF_LIFTING and h.reason not in found
    ]
    changed = changed.model_copy(update={"holds": [h for h in changed.holds if h.reason.value not in lifted]})
    updated = OrderAggregate(order=changed, fulfillments=aggregate.fulfillments)
    new_findings = [f for f in findings if f.reason not in changed.hold_reasons]
    change: Change
    if new_findings and OrderTrigger.HOLD in allowed_order_triggers(changed.status):
        change = hold_order(updated, new_findings, placed_by="system:update", clock=clock)
    elif changed.status == OrderStatus.ON_HOLD and not changed.holds:
        change = proceed(updated, uow.list_warehouses(), clock)
    else:
        change = Change(
            order=changed,
            fulfillments=aggregate.fulfillments,
            payload=OrderUpdated(changed=sorted(updates), holds_lifted=[HoldReason(r) for r in lifted]),
        )
    change.payload = change.payload.amended(changed=sorted(updates), holds_lifted=lifted)
    return change
