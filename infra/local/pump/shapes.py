"""Lambda's event shapes for records read from SQS and DynamoDB Streams, and order ids for the logs.

boto3 hands the pump Python values (``bytes``, ``datetime``); Lambda hands a handler JSON. These
functions convert one into the other, key for key, so a handler sees here what it sees in AWS.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalice.app import BaseEventSourceConfig

logger = logging.getLogger("oms.pump")

JsonDict = dict[str, Any]
#: boto3 builds its clients at run time and the project ships no stubs for them.
AwsClient = Any

DEFAULT_ACCOUNT = "123456789012"  # moto's default account


def utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def as_utc(moment: datetime) -> datetime:
    # A naive datetime means UTC here, as everywhere in EventBridge schedules.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def lambda_message_attribute(value: JsonDict) -> JsonDict:
    # Lambda lower-cases the first letter of each key and carries binary values in base64.
    attribute: JsonDict = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _lambda_attribute_value(value: JsonDict) -> JsonDict:
    # boto3 decodes B / BS to bytes; Lambda's JSON event carries them in base64.
    converted: JsonDict = {}
    for kind, inner in value.items():
        if kind == "B":
            converted[kind] = _b64(inner)
        elif kind == "BS":
            converted[kind] = [_b64(item) for item in inner]
        elif kind == "M":
            converted[kind] = {k: _lambda_attribute_value(v) for k, v in inner.items()}
        elif kind == "L":
            converted[kind] = [_lambda_attribute_value(item) for item in inner]
        else:
            converted[kind] = inner
    return converted


def lambda_stream_record(raw: JsonDict, stream_arn: str) -> JsonDict:
    record = {key: value for key, value in raw.items() if key != "dynamodb"}
    dynamodb: JsonDict = {}
    for key, value in raw["dynamodb"].items():
        if key == "ApproximateCreationDateTime" and isinstance(value, datetime):
            # boto3 parses the epoch number into a datetime; Lambda passes the number,
            # rounded down to the second as DynamoDB Streams documents it.
            dynamodb[key] = int(value.timestamp())
        elif key in ("Keys", "NewImage", "OldImage"):
            dynamodb[key] = {name: _lambda_attribute_value(v) for name, v in value.items()}
        else:
            dynamodb[key] = value
    record["dynamodb"] = dynamodb
    record["eventSourceARN"] = stream_arn  # GetRecords leaves it out; Lambda adds it
    return record


def table_from_stream_arn(stream_arn: str) -> str | None:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) >= 2 and parts[0] == "table":
        return parts[1]
    return None


def log_unsupported(source: BaseEventSourceConfig) -> None:
    logger.info(
        "handler %s (%s) is not driven by the event pump",
        source.name,
        type(source).__name__,
        extra={"handler": source.name},
    )


# -- order ids for the logs -----------------------------------------------------


def _order_id_in(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("order_id"), str):
        return str(document["order_id"])
    detail = document.get("detail")  # an EventBridge envelope delivered through a queue
    if isinstance(detail, dict) and isinstance(detail.get("order_id"), str):
        return str(detail["order_id"])
    return None


def order_id_of_sqs_record(record: JsonDict) -> str | None:
    try:
        return _order_id_in(json.loads(record["body"]))
    except (TypeError, ValueError):
        return None


def order_id_of_stream_record(record: JsonDict) -> str | None:
    dynamodb = record.get("dynamodb", {})
    pk = dynamodb.get("Keys", {}).get("pk", {}).get("S")
    if isinstance(pk, str) and pk.startswith("ORDER#"):
        return pk.removeprefix("ORDER#").split("#", 1)[0]
    for image in ("NewImage", "OldImage"):
        order_id = dynamodb.get(image, {}).get("order_id", {}).get("S")
        if isinstance(order_id, str):
            return order_id
    return None


def present(order_ids: Sequence[str | None]) -> list[str]:
    return list(dict.fromkeys(order_id for order_id in order_ids if order_id))


def order_suffix(order_ids: Sequence[str | None]) -> str:
    shown = present(order_ids)
    return f" (order {', '.join(shown)})" if shown else ""
