"""Order and fulfillment items store their ``doc`` without the fields at their defaults (a smaller
item is a cheaper write); reading it back must give the very same model, in every state."""

from __future__ import annotations

import typing
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from chalicelib.adapters.dynamodb.items import deserialize, serialize, stored_doc
from chalicelib.domain.models import (
    Fulfillment,
    Hold,
    Order,
    OrderLine,
    Package,
    Shipment,
    TrackedScan,
)
from chalicelib.domain.status import FulfillmentStatus, HoldReason, OrderStatus, TrackingStatus
from tests.unit.builders import ADDRESS, EAST, fulfillment, make_order
from tests.unit.fakes import START


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in found:
                return
            found.add(annotation)
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for argument in typing.get_args(annotation):
            walk(argument)

    walk(root)
    return found


def _orders() -> list[Order]:
    billing = {**ADDRESS, "line2": "Suite 4"}
    return [
        make_order(),
        make_order(
            billing=billing, shipping_method="express", status=OrderStatus.CONFIRMED, confirmed_at=START
        ),
        make_order(
            status=OrderStatus.ON_HOLD,
            holds=[Hold(reason=HoldReason.FRAUD_REVIEW, note="check", placed_at=START, placed_by="admin")],
            lines=[
                OrderLine(
                    sku="MUG-1",
                    quantity=3,
                    unit_price=Decimal("10.00"),
                    line_total=Decimal("30.00"),
                    backordered=2,
                    cancelled=1,
                )
            ],
        ),
        make_order(paid=False, total="0.00"),
    ]


def _fulfillments() -> list[Fulfillment]:
    fresh = fulfillment(("MUG-1", 2), status=FulfillmentStatus.PENDING, warehouse_id=None)
    later = START + timedelta(days=1)
    shipped = fulfillment(("MUG-1", 1), ("TEE-M", 4), status=FulfillmentStatus.SHIPPED, warehouse_id=EAST)
    shipped = shipped.model_copy(
        update={
            "ship_by": later,
            "picked_at": START,
            "packed_at": START,
            "packages": [Package(box="BOX-S", weight_grams=400, tracking_number="1Z1")],
            "recommended_boxes": ["BOX-S"],
            "shipment": Shipment(carrier="ups", service="ground", tracking_numbers=["1Z1"], shipped_at=later),
            "step_requests": {"pick": "abc", "pack": "def"},
            "tracking_status": TrackingStatus.IN_TRANSIT,
            "tracking_status_at": later,
            "tracking_history": [
                TrackedScan(
                    status=TrackingStatus.IN_TRANSIT,
                    raw_status="transit",
                    occurred_at=later,
                    provider="standard",
                    applied=True,
                )
            ],
        }
    )
    delivered = fulfillment(("MUG-1", 1), delivered_at=later)
    return [fresh, shipped, delivered]


@pytest.mark.parametrize(
    "model", [*_orders(), *_fulfillments()], ids=lambda m: f"{type(m).__name__}-{m.status}"
)
def test_a_stored_doc_reads_back_as_the_same_model_through_dynamodbs_types(
    model: Order | Fulfillment,
) -> None:
    doc = deserialize(serialize({"doc": stored_doc(model)}))["doc"]

    assert type(model).model_validate(doc) == model
    assert type(model).model_validate(doc).model_dump(mode="json") == model.model_dump(mode="json")


def test_a_stored_doc_leaves_out_the_empty_fields_and_keeps_the_required_ones() -> None:
    doc = stored_doc(fulfillment(("MUG-1", 2), status=FulfillmentStatus.PENDING, warehouse_id=None))

    assert "shipment" not in doc and "tracking_history" not in doc and "picked_at" not in doc
    assert doc["warehouse_id"] is None  # required (no default): always stored, even when empty
    assert "billing_address" not in stored_doc(make_order())


@pytest.mark.parametrize("root", [Order, Fulfillment])
def test_every_default_of_a_stored_model_is_none_a_constant_or_an_empty_container(
    root: type[BaseModel],
) -> None:
    # What makes leaving defaults out safe: model_validate puts back exactly what was left out.
    # A default computed at read time (a clock, a new id) would change the model on every read.
    for model in _models(root):
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                assert field.default_factory in (list, dict), f"{model.__name__}.{name}"
                continue
            default = field.default
            assert default is PydanticUndefined or default is None or isinstance(default, bool | int | str), (
                f"{model.__name__}.{name} defaults to {default!r}"
            )
            assert not isinstance(default, Decimal), (
                f"{model.__name__}.{name}: 0 and 0.00 would compare equal"
            )
