"""DynamoDB items: (de)serialisation and the items that hold orders, fulfillments, returns,
events and stock levels (key formats from ``chalicelib.adapters.keys``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.adapters import keys as k
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Fulfillment, Order, StockLevel, format_timestamp
from chalicelib.domain.returns import ReturnRequest

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the documents we store only hold integers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def stored_doc(model: Order | Fulfillment) -> dict[str, Any]:
    """The ``doc`` of an order or fulfillment item: the model without the fields at their defaults.

    Why: DynamoDB bills a write per started KiB of the item, twice inside a transaction, and these
    two items are rewritten by nearly every transaction of an order's life. Their empty fields
    (``null`` timestamps, empty lists) made a typical order item just over 1 KiB, so each write cost
    twice what it needed (docs/performance.md). Reading back is unchanged: ``model_validate``
    restores every left-out field to its default, and every default of these models is ``None``, a
    constant or an empty container (tests/unit/test_stored_documents.py pins this).
    """
    return model.model_dump(mode="json", exclude_defaults=True)


def order_item(order: Order) -> dict[str, Any]:
    created = format_timestamp(order.created_at)
    return {
        "pk": k.order_pk(order.id),
        "sk": k.ORDER_SK,
        "entity": k.ENTITY_ORDER,
        "version": order.version,
        "status": order.status.value,
        "channel_id": order.channel_id,
        "created_at": created,
        **k.order_index_keys(order.id, order.channel_id, order.status.value, created),
        "doc": stored_doc(order),
    }


def fulfillment_item(fulfillment: Fulfillment) -> dict[str, Any]:
    ship_by = format_timestamp(fulfillment.ship_by or fulfillment.created_at)
    return {
        "pk": k.order_pk(fulfillment.order_id),
        "sk": k.fulfillment_sk(fulfillment.id),
        "entity": k.ENTITY_FULFILLMENT,
        "version": fulfillment.version,
        "status": fulfillment.status.value,
        "warehouse_id": fulfillment.warehouse_id,
        **k.fulfillment_index_keys(
            fulfillment.warehouse_id,
            fulfillment.status.value,
            ship_by,
            fulfillment.id,
            sku=fulfillment.lines[0].sku if fulfillment.lines else "",
            created_at=format_timestamp(fulfillment.created_at),
        ),
        "doc": stored_doc(fulfillment),
    }


def return_item(rma: ReturnRequest) -> dict[str, Any]:
    return {
        "pk": k.order_pk(rma.order_id),
        "sk": k.return_sk(rma.id),
        "entity": k.ENTITY_RETURN,
        "version": rma.version,
        "status": rma.status.value,
        "gsi6pk": rma.id,  # the sparse by-id index fulfillments use: an RMA is found by its number
        "doc": rma.model_dump(mode="json"),
    }


def event_item(event: DomainEvent) -> dict[str, Any]:
    if event.inbound_key is not None and event.channel_id is not None:
        pk, sk = k.inbound_pk(event.channel_id, event.inbound_key), k.tracking_event_sk(event.id)
    elif event.tracking_number is not None:
        pk, sk = k.tracking_pk(event.tracking_number), k.tracking_event_sk(event.id)
    elif event.order_id is not None and event.version is not None:
        pk, sk = k.order_pk(event.order_id), k.event_sk(event.version)
    elif event.sku is not None and event.warehouse_id is not None:
        pk, sk = k.sku_pk(event.sku), k.inventory_event_sk(event.warehouse_id, event.id)
    elif event.order_id is None and event.channel_id is not None:
        pk, sk = k.channel_events_pk(event.channel_id), k.tracking_event_sk(event.id)
    else:
        raise ValueError(f"event {event.type} belongs to neither an order version nor a stock level")
    return {
        "pk": pk,
        "sk": sk,
        "entity": k.ENTITY_EVENT,
        "event_id": event.id,
        "type": event.type,
        "doc": event.model_dump(mode="json"),
    }


def event_from_item(item: dict[str, Any]) -> DomainEvent:
    return DomainEvent.model_validate(item["doc"])


def stock_from_item(item: dict[str, Any]) -> StockLevel:
    return StockLevel(
        sku=item["sku"],
        warehouse_id=item["warehouse_id"],
        on_hand=item["on_hand"],
        reserved=item["reserved"],
        available=item["available"],
        bin=item.get("bin"),
        reorder_point=item.get("reorder_point"),
        overstock_level=item.get("overstock_level"),
    )
