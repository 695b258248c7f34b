"""Use cases of the warehouse road: pick, pack, ship, and cancelling what is not packed yet.

Every step is one transaction (``service.unit_of_work.change_order``). A step repeated with the
same request after it succeeded returns the current state (the hash of each
step's request is kept on the fulfillment); from any other state it is a
409 naming the current state and what may be done there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain.models import Fulfillment
from chalicelib.domain.status import (
    FulfillmentTrigger,
    InvalidTransition,
    allowed_fulfillment_triggers,
    next_fulfillment_status,
)
from chalicelib.service.changes import (
    load_fulfillment,
)
from chalicelib.service.ports import (
    OrderAggregate,
    UnitOfWork,
)


def request_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def advance(f: Fulfillment, trigger: FulfillmentTrigger, **updates: Any) -> Fulfillment:
    return f.model_copy(update={"status": next_fulfillment_status(f.status, trigger), **updates})


def replace_fulfillment(fulfillments: list[Fulfillment], changed: Fulfillment) -> list[Fulfillment]:
    return [changed if f.id == changed.id else f for f in fulfillments]


def repeat_or_raise(f: Fulfillment, step: str, digest: str, trigger: FulfillmentTrigger) -> bool:
    """True when this exact step already happened (an idempotent repeat). Raises 409 when the
    fulfillment is not in a state that allows the step."""
    if f.step_requests.get(step) == digest:
        return True
    if trigger not in allowed_fulfillment_triggers(f.status):
        raise InvalidTransition(
            "fulfillment", f.status.value, step, [t.value for t in allowed_fulfillment_triggers(f.status)]
        )
    return False


def fulfillment_of(aggregate: OrderAggregate, fulfillment_id: str) -> Fulfillment:
    return next(f for f in aggregate.fulfillments if f.id == fulfillment_id)


def by_fulfillment(fulfillment_id: str) -> Callable[[UnitOfWork], OrderAggregate]:
    return lambda uow: load_fulfillment(uow, fulfillment_id)[0]
