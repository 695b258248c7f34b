"""A meter of the AWS calls the local stack receives: calls per operation and DynamoDB request units.

What it is for: the benchmark (``make bench``) prices an order's journey from the calls that
actually reach AWS, not from what the code is believed to do. It is off unless the stack starts
with ``OMS_METER=1``; then :func:`wrap_if_enabled` puts :class:`RequestMeter` around moto's WSGI
app, *inside* the lock that serialises requests (see :mod:`infra.local.moto_server`), so the
items a write touches can be sized before and after it without another request in between.

Counts are keyed ``caller|service.Operation``: the caller is the ``x-oms-caller`` header a client
may add (the benchmark tags the API's and each worker's calls), ``-`` when there is none.

The meter answers two requests of its own on moto's endpoint (nothing in AWS has these paths):
``GET /_oms/meter`` returns the counts so far as JSON, ``DELETE /_oms/meter`` returns them and
starts again from zero.

DynamoDB request units follow DynamoDB's on-demand rules, with the sizes moto computes for its
items (``Item.size()``: attribute names plus values):

* a write (``PutItem``, ``UpdateItem``, ``DeleteItem``, each ``BatchWriteItem`` request) costs one
  write unit per started KiB of the larger of the item's before and after images; inside
  ``TransactWriteItems`` each action costs two (a ``ConditionCheck`` is counted like a write of the
  checked item, as DynamoDB's own ``ConsumedCapacity`` reports it);
* a read (``GetItem``, each key of ``BatchGetItem``) costs one read unit per started 4 KiB of the
  whole item when strongly consistent, half that when eventually consistent, two inside
  ``TransactGetItems``; an item that is not there still costs the minimum;
* a ``Query`` or ``Scan`` costs the same per started 4 KiB of all the items it read, summed over
  the page; the items a filter dropped are estimated at the average size of those returned.

Requests DynamoDB rejected (a cancelled transaction, a failed condition) are counted as calls
under ``failed`` and cost no units here (DynamoDB charges a failed conditional write; the journey
has none). SQS receives that return no message, and the DynamoDB Streams calls, are counted apart:
what Lambda's pollers cost does not grow with orders (stream reads by a Lambda trigger are free).
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ENV_METER", "METER_PATH", "RequestMeter", "wrap_if_enabled"]

WsgiEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[WsgiEnviron, StartResponse], Iterable[bytes]]

ENV_METER = "OMS_METER"
METER_PATH = "/_oms/meter"
ACCOUNT_ID = "123456789012"  # moto's default account, the one the local stack uses

_WRITE_UNIT = 1024
_READ_UNIT = 4096
_DYNAMODB_TARGET = "DynamoDB_20120810."
_STREAMS_TARGET = "DynamoDBStreams_20120810."
_SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


def wrap_if_enabled(app: WsgiApp) -> WsgiApp:
    """``app`` wrapped in a :class:`RequestMeter` when ``OMS_METER=1``, else ``app`` itself."""
    if os.environ.get(ENV_METER, "").strip().lower() in {"1", "true", "yes"}:
        return RequestMeter(app)
    return app


class RequestMeter:
    """WSGI middleware counting calls per ``service.Operation`` and DynamoDB read and write units."""

    def __init__(self, app: WsgiApp, account_id: str = ACCOUNT_ID) -> None:
        self._app = app
        self._account_id = account_id
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        # Capacity units are fractional (an eventually consistent read costs half a unit), so
        # these sum floats, which a Counter's int values do not hold.
        self._read_units: defaultdict[str, float] = defaultdict(float)
        self._write_units: defaultdict[str, float] = defaultdict(float)
        self._entries: Counter[str] = Counter()  # events in PutEvents, messages received, ...
        self._idle: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()

    # -- the meter's own endpoint ----------------------------------------------------------------

    def snapshot(self, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            counts = {
                "calls": dict(self._calls),
                "read_units": dict(self._read_units),
                "write_units": dict(self._write_units),
                "entries": dict(self._entries),
                "idle": dict(self._idle),
                "failed": dict(self._failed),
            }
            if reset:
                for counter in (self._calls, self._entries, self._idle, self._failed):
                    counter.clear()
                self._read_units.clear()
                self._write_units.clear()
        return counts

    def __call__(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == METER_PATH:
            body = json.dumps(self.snapshot(reset=environ.get("REQUEST_METHOD") == "DELETE")).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        if target.startswith(_DYNAMODB_TARGET):
            return self._dynamodb(target[len(_DYNAMODB_TARGET) :], environ, start_response)
        raw = _read_body(environ)
        status, _, body = _call(self._app, environ, start_response, raw)
        self._record_other(environ, target, raw, status, body)
        return [body]

    # -- DynamoDB --------------------------------------------------------------------------------

    def _dynamodb(
        self, operation: str, environ: WsgiEnviron, start_response: StartResponse
    ) -> Iterable[bytes]:
        raw = _read_body(environ)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        name = f"{_caller(environ)}|dynamodb.{operation}"
        before = self._write_sizes(operation, request)
        status, _, body = _call(self._app, environ, start_response, raw)
        if not status.startswith("200"):
            with self._lock:
                self._calls[name] += 1
                self._failed[name] += 1
            return [body]
        try:
            response = json.loads(body or b"{}")
        except ValueError:
            response = {}
        reads = writes = 0.0
        try:
            if before is not None:
                after = self._write_sizes(operation, request) or []
                factor = 2 if operation == "TransactWriteItems" else 1
                writes = sum(
                    factor * _units(max(b, a), _WRITE_UNIT) for b, a in zip(before, after, strict=False)
                )
            else:
                reads = self._read_units_of(operation, request, response)
        except Exception:  # a meter must never break the request it watches
            reads = writes = 0.0
        with self._lock:
            self._calls[name] += 1
            if reads:
                self._read_units[name] += reads
            if writes:
                self._write_units[name] += writes
        return [body]

    def _backend(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return dynamodb_backends[self._account_id][region]

    def _item_size(self, table_name: str, key: dict[str, Any]) -> int:
        """Size of the stored item with this key (0 if there is none or the key is not valid)."""
        try:
            item = self._backend().get_item(table_name, key)
        except Exception:
            return 0
        return int(item.size()) if item is not None else 0

    def _key_of(self, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        try:
            table = self._backend().get_table(table_name)
        except Exception:
            return {}
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: item[name] for name in names if name in item}

    def _write_sizes(self, operation: str, request: dict[str, Any]) -> list[int] | None:
        """The sizes of the items a write touches, as stored now; None for a read."""
        targets: list[tuple[str, dict[str, Any]]] = []
        if operation in _SINGLE_WRITES:
            table = request.get("TableName", "")
            key = request.get("Key") or self._key_of(table, request.get("Item") or {})
            targets.append((table, key))
        elif operation == "BatchWriteItem":
            for table, requests in (request.get("RequestItems") or {}).items():
                for each in requests:
                    if "PutRequest" in each:
                        targets.append((table, self._key_of(table, each["PutRequest"].get("Item") or {})))
                    elif "DeleteRequest" in each:
                        targets.append((table, each["DeleteRequest"].get("Key") or {}))
        elif operation == "TransactWriteItems":
            for action in request.get("TransactItems") or []:
                for kind, spec in action.items():
                    table = spec.get("TableName", "")
                    key = spec.get("Key") if kind != "Put" else self._key_of(table, spec.get("Item") or {})
                    targets.append((table, key or {}))
        else:
            return None
        return [self._item_size(table, key) for table, key in targets]

    def _read_units_of(self, operation: str, request: dict[str, Any], response: dict[str, Any]) -> float:
        if operation == "GetItem":
            size = self._item_size(request.get("TableName", ""), request.get("Key") or {})
            return _units(size, _READ_UNIT) * _consistency(request)
        if operation == "BatchGetItem":
            total = 0.0
            for table, spec in (request.get("RequestItems") or {}).items():
                for key in spec.get("Keys") or []:
                    total += _units(self._item_size(table, key), _READ_UNIT) * _consistency(spec)
            return total
        if operation == "TransactGetItems":
            return sum(
                2
                * _units(
                    self._item_size(g["Get"].get("TableName", ""), g["Get"].get("Key") or {}), _READ_UNIT
                )
                for g in request.get("TransactItems") or []
                if "Get" in g
            )
        if operation in {"Query", "Scan"}:
            table = request.get("TableName", "")
            sizes = []
            for item in response.get("Items") or []:
                key = self._key_of(table, item)
                stored = self._item_size(table, key) if len(key) >= 1 else 0
                sizes.append(stored or _json_item_size(item))
            total = sum(sizes)
            dropped = int(response.get("ScannedCount") or 0) - int(response.get("Count") or 0)
            if dropped > 0 and sizes:
                total += dropped * total / len(sizes)
            return _units(int(total), _READ_UNIT) * _consistency(request)
        return 0.0

    # -- everything else -------------------------------------------------------------------------

    def _record_other(self, environ: WsgiEnviron, target: str, raw: bytes, status: str, body: bytes) -> None:
        service, operation = _service_and_operation(environ, target, raw)
        if target.startswith(_STREAMS_TARGET):
            service = "dynamodbstreams"  # signed as "dynamodb", but a separate API
        name = f"{_caller(environ)}|{service}.{operation}"
        op = f"{service}.{operation}"
        entries = 0
        idle = False
        if status.startswith("200"):
            if op == "sqs.ReceiveMessage":
                entries = _count_json(body, "Messages")
                idle = entries == 0
            elif op in {"events.PutEvents", "sqs.SendMessageBatch", "sqs.DeleteMessageBatch"}:
                entries = _count_json(raw, "Entries")
            elif service == "dynamodbstreams":
                idle = True  # a Lambda trigger's stream reads are free
        with self._lock:
            if idle:
                self._idle[name] += 1
                return
            self._calls[name] += 1
            if entries:
                self._entries[name] += entries
            if not status.startswith("200"):
                self._failed[name] += 1


def _caller(environ: WsgiEnviron) -> str:
    """Who made the call, as the benchmark tags its clients (``x-oms-caller``); ``-`` if untagged."""
    return str(environ.get("HTTP_X_OMS_CALLER") or "-")


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def _consistency(request: dict[str, Any]) -> float:
    return 1.0 if request.get("ConsistentRead") else 0.5


def _json_item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in its JSON wire form (attribute names plus values)."""
    return sum(len(name.encode()) + _json_value_size(value) for name, value in item.items())


def _json_value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind in {"S", "B"}:
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner))
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "L":
        return 3 + sum(1 + _json_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _json_value_size(v) for k, v in inner.items())
    if kind in {"SS", "NS", "BS"}:
        return sum(len(str(v).encode()) for v in inner)
    return 0


def _service_and_operation(environ: WsgiEnviron, target: str, raw: bytes) -> tuple[str, str]:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    service = "unknown"
    if "/aws4_request" in authorization:
        # Credential=AKID/20260101/us-east-1/sqs/aws4_request
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        if len(scope) >= 5:
            service = scope[3]
    if target:
        return service, target.rsplit(".", 1)[-1]
    try:
        action = parse_qs(raw.decode("utf-8", "replace")).get("Action", ["?"])[0]
    except ValueError:
        action = "?"
    return service, action


def _count_json(raw: bytes, field: str) -> int:
    try:
        value = json.loads(raw or b"{}").get(field)
    except (ValueError, AttributeError):
        return 0
    return len(value) if isinstance(value, list) else 0


def _read_body(environ: WsgiEnviron) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _call(
    app: WsgiApp, environ: WsgiEnviron, start_response: StartResponse, raw: bytes
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the request with its body put back, pass the answer on, and return it for inspection."""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    captured: dict[str, Any] = {}
    written: list[bytes] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        captured["status"], captured["headers"] = status, headers
        return written.append

    result = app(environ, capture)
    try:
        written.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = captured["status"], captured["headers"]
    start_response(status, headers)
    return status, headers, b"".join(written)
