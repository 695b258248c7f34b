"""The event payload models: one per event type, read and written exactly as events carry them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.domain.event_payloads import (
    PAYLOADS,
    FulfillmentPicked,
    FulfillmentShortPicked,
    InventoryAdjusted,
    OrderConfirmed,
    OrderPlaced,
    payload_model,
)
from chalicelib.domain.events import DomainEvent, EventPayload, EventType, OrderState
from chalicelib.domain.status import HoldReason, OrderStatus

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_every_event_type_has_its_own_payload_model() -> None:
    assert set(PAYLOADS) == set(EventType)
    for event_type, model in PAYLOADS.items():
        assert model.event_type == event_type
        assert payload_model(str(event_type)) is model
    assert len(set(PAYLOADS.values())) == len(PAYLOADS)


def test_payload_models_are_frozen_and_refuse_unknown_fields() -> None:
    for model in PAYLOADS.values():
        assert model.model_config.get("frozen") is True
        assert model.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError):
        InventoryAdjusted.model_validate({"delta": 1, "reason": "level_set", "on_hand": 3, "typo": 1})


def test_a_recorded_order_change_carries_the_order_state_before_its_own_fields() -> None:
    payload = OrderConfirmed(released=[]).amended(released_hold=HoldReason.FRAUD_REVIEW)
    state = OrderState.model_validate({"status": OrderStatus.CONFIRMED, "first_confirmation": True})

    event = DomainEvent.recording(payload, id="evt_1", occurred_at=AT, actor="admin:k", order_state=state)

    assert event.type == EventType.ORDER_CONFIRMED
    assert list(event.data.items()) == [
        ("status", "confirmed"),
        ("first_confirmation", True),
        ("released", []),
        ("released_hold", "fraud_review"),
    ]
    assert event.payload(OrderConfirmed) == payload
    assert event.order_state() == state


def test_optional_fields_not_given_are_absent_from_the_data_not_null() -> None:
    adjusted = InventoryAdjusted(delta=-2, reason="short_pick", fulfillment_id="ful_1", order_id="ord_1")

    assert adjusted.to_data() == {
        "delta": -2,
        "reason": "short_pick",
        "fulfillment_id": "ful_1",
        "order_id": "ord_1",
    }


def test_an_order_change_payload_is_never_recorded_without_the_order_state_nor_another_with_it() -> None:
    with pytest.raises(ValueError, match="order state"):
        DomainEvent.recording(OrderConfirmed(released=[]), id="evt_1", occurred_at=AT, actor="a")
    placed = OrderPlaced.model_validate(
        {
            "status": "placed",
            "external_id": "1001",
            "currency": "USD",
            "total": "10.00",
            "lines": [],
            "fulfillments": [],
            "split": False,
            "holds": [],
            "unresolved_lines": [],
        }
    )
    with pytest.raises(ValueError, match="order state"):
        DomainEvent.recording(
            placed, id="evt_1", occurred_at=AT, actor="a", order_state=OrderState(status=OrderStatus.PLACED)
        )


def test_an_event_is_read_only_as_the_payload_of_its_own_type() -> None:
    short = FulfillmentShortPicked(
        fulfillment_id="ful_1",
        warehouse_id="wh_east",
        picked=[],
        shortfalls={"MUG-1": 1},
        backorders=["ful_2"],
    )
    event = DomainEvent.recording(
        short, id="evt_1", occurred_at=AT, actor="a", order_state=OrderState(status=OrderStatus.CONFIRMED)
    )

    with pytest.raises(TypeError, match=r"fulfillment\.short_picked"):
        event.payload(FulfillmentPicked)
    assert event.payload(FulfillmentShortPicked) == short


def test_data_that_does_not_fit_the_payload_is_refused_when_read() -> None:
    event = DomainEvent(
        id="evt_1", type=EventType.INVENTORY_COUNTED, occurred_at=AT, actor="a", data={"counted": 3}
    )

    with pytest.raises(ValidationError):
        event.payload(PAYLOADS[EventType.INVENTORY_COUNTED])


def test_every_payload_model_is_an_event_payload_with_a_producer_named() -> None:
    for model in PAYLOADS.values():
        assert issubclass(model, EventPayload)
        assert model.__doc__ and model.emitted_by


def test_no_order_change_payload_has_a_field_of_the_order_state_it_is_recorded_with() -> None:
    for model in PAYLOADS.values():
        if model.recorded_with_order_state:
            assert not set(model.model_fields) & set(OrderState.model_fields), model.__name__
