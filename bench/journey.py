"""What each step of an order's journey costs, counted from the calls AWS (moto) actually receives.

Run as ``python -m bench.journey [--orders N]``: it starts the local stack *in this process* with
the request meter on (``OMS_METER=1``, :mod:`infra.local.meter`), so that it can also tag every AWS
call with who made it (the API, or the worker the pump invoked) and time each Lambda handler. Then,
one order at a time, it walks the journey over HTTP:

=================  ===========================================================================
place              ``POST /v1/orders`` and everything it sets off (outbox relay, receipt,
                   confirmation e-mail, outbound webhooks, KPIs) until the stack is quiet
receive            the warehouse reads its pick list (``GET /v1/warehouses/{id}/pick-lists``)
pick, pack, ship   ``POST /v1/fulfillments/{id}/pick|pack|ship`` and what each sets off
tracking update    a carrier's ``in_transit`` webhook and what it sets off
delivered e-mail   the carrier's ``delivered`` webhook, down to the delivered e-mail
=================  ===========================================================================

Each step's window closes when the meter has seen no work for a while (the pump's empty polls
do not count). The checks the benchmark makes between steps (reading the order back) are not
counted. The last line printed is the result as JSON, after the marker ``JOURNEY-RESULT``.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.breakdown import counted

MARKER = "JOURNEY-RESULT "
QUIET_SECONDS = 1.5  # no metered work for this long: the step's consequences are done
STEP_TIMEOUT = 60.0
STEPS = ("place", "receive", "pick", "pack", "ship", "tracking update", "delivered e-mail")

_caller: contextvars.ContextVar[str] = contextvars.ContextVar("oms_bench_caller", default="api")


def _tag_clients() -> None:
    """Add ``x-oms-caller`` to every AWS call the app makes: ``api`` or the invoked handler's name."""
    from chalicelib.adapters.aws import client

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-oms-caller"] = _caller.get()

    for service in ("dynamodb", "events", "ses", "sesv2", "sns", "sqs", "ssm"):
        client(service).meta.events.register("before-send", add_header)


OUTBOX_RELAY = "outbox_relay"


def _passes_outbox_filter(event: Any) -> bool:
    """Whether AWS would invoke the relay for this batch at all.

    The deployed event source mapping filters the stream to inserted ``EVENT#`` items
    (``infra/build_merge.py``, ``OUTBOX_FILTER``); the local pump hands the relay every record, so
    a batch of only order or stock updates is an invocation here but not in AWS.
    """
    for record in event.get("Records") or []:
        sort_key = (((record.get("dynamodb") or {}).get("Keys") or {}).get("sk") or {}).get("S", "")
        if record.get("eventName") == "INSERT" and sort_key.startswith("EVENT#"):
            return True
    return False


class HandlerClock:
    """Wraps the app's handlers: invocations and durations per handler, for the current step."""

    def __init__(self, app: Any) -> None:
        self.durations_ms: dict[str, list[float]] = defaultdict(list)
        for name, handler in list(app.handler_map.items()):
            app.handler_map[name] = self._wrap(name, handler)

    def _wrap(self, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def timed(event: Any, context: Any) -> Any:
            token = _caller.set(name)
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                if name != OUTBOX_RELAY or _passes_outbox_filter(event):
                    self.durations_ms[name].append((time.perf_counter() - started) * 1000)
                _caller.reset(token)

        return timed

    def take(self) -> dict[str, list[float]]:
        taken, self.durations_ms = dict(self.durations_ms), defaultdict(list)
        return taken


class Meter:
    """The request meter's endpoint on moto (``/_oms/meter``)."""

    def __init__(self, endpoint_url: str) -> None:
        import requests

        self._session = requests.Session()
        self._url = endpoint_url + "/_oms/meter"

    def peek(self) -> dict[str, Any]:
        return self._session.get(self._url, timeout=120).json()  # type: ignore[no-any-return]

    def take(self) -> dict[str, Any]:
        return self._session.delete(self._url, timeout=120).json()  # type: ignore[no-any-return]


def _work(counts: dict[str, Any]) -> int:
    return sum(value for name, value in counts["calls"].items() if counted(name))


def _settle(meter: Meter) -> None:
    """Wait until the meter has counted no call for QUIET_SECONDS (or STEP_TIMEOUT)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_count = _work(meter.peek())
        if now_count != last:
            last, quiet_since = now_count, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            return
        time.sleep(0.1)


def _merge(
    into: dict[str, Any], counts: dict[str, Any], keep: Callable[[str], bool] = lambda _: True
) -> None:
    for kind, values in counts.items():
        target = into.setdefault(kind, Counter())
        for name, value in values.items():
            if keep(name):
                target[name] += value


class _ApiClient:
    """The API over HTTP, timing and counting requests per journey step."""

    def __init__(self, http: Any, api_url: str) -> None:
        self._http = http
        self._api_url = api_url
        self.http_requests: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.api_ms: dict[str, list[float]] = defaultdict(list)

    def call(
        self, step: str, method: str, path: str, key: str | None, body: Any = None, **headers: str
    ) -> Any:
        all_headers = {"content-type": "application/json", **headers}
        if key:
            all_headers["x-api-key"] = key
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        for attempt in range(4):
            started = time.perf_counter()
            response = self._http.request(
                method, self._api_url + path, data=data, headers=all_headers, timeout=60
            )
            self.api_ms[step].append((time.perf_counter() - started) * 1000)
            self.http_requests[step] += 1
            # On a loaded machine a transaction can outlast the SDK's read timeout; the SDK's
            # retry may then meet a concurrent change (a retryable 409). A client retries with
            # the same body, and the replay answers 200. Retries are counted like any request.
            if response.status_code == 409 and response.json().get("retryable") and attempt < 3:
                self.retried[step] += 1
                continue
            break
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None


def run(orders: int) -> dict[str, Any]:
    import requests
    from standardwebhooks import Webhook

    from bench.common import order_body
    from infra.local.stack import LocalOptions, LocalStack

    state = tempfile.mkdtemp(prefix="oms-journey-")
    os.environ.update({"OMS_METER": "1", "OMS_STATE_DIR": state, "OMS_AWS_PORT": "0", "OMS_API_PORT": "0"})
    stack = LocalStack(LocalOptions.from_env())
    stack.start()
    try:
        app = sys.modules["app"].app
        memory_mb = _configured_memory()
        clock = HandlerClock(app)
        _tag_clients()
        meter = Meter(stack.endpoint_url)
        http = requests.Session()
        config = stack.config
        admin = {"x-api-key": config["keys"]["admin"]}
        secret = config["webhook_secrets"]["standard_webhooks"]
        schedules = _schedule_names(app)

        steps: dict[str, dict[str, Any]] = {s: {} for s in STEPS}
        durations: dict[str, dict[str, list[float]]] = {s: defaultdict(list) for s in STEPS}

        client = _ApiClient(http, stack.api_url)
        call = client.call

        def close(step: str) -> None:
            _settle(meter)
            _merge(steps[step], meter.take(), keep=lambda name: name.split("|")[0] not in schedules)
            for name, samples in clock.take().items():
                if name not in schedules:
                    durations[step][name].extend(samples)

        def look(path: str) -> Any:
            """A check between steps: read, then drop what it cost from the meter."""
            response = http.get(stack.api_url + path, headers=admin, timeout=30)
            response.raise_for_status()
            meter.take()
            return response.json()

        def carrier(step: str, number: str, status: str) -> None:
            body = json.dumps(
                {
                    "type": "tracking.updated",
                    "data": {
                        "carrier": "ups",
                        "tracking_number": number,
                        "status": status,
                        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    },
                }
            )
            webhook_id = f"msg_{uuid.uuid4().hex}"
            now = datetime.now(UTC)
            call(
                step,
                "POST",
                "/v1/webhooks/carriers/standard",
                None,
                body.encode(),
                **{
                    "webhook-id": webhook_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
                },
            )

        _settle(meter)
        meter.take()
        clock.take()
        for n in range(orders):
            placed = call(
                "place",
                "POST",
                "/v1/orders",
                stack.config["keys"]["channels"]["web"],
                order_body(f"JRN-{n}-{uuid.uuid4().hex[:6]}"),
            )
            close("place")
            order = look(f"/v1/orders/{placed['id']}")
            if order["status"] != "confirmed":
                raise RuntimeError(f"order {placed['id']} is {order['status']} after the place step")
            work = order["fulfillments"][0]
            warehouse_key = config["keys"]["warehouses"][work["warehouse_id"]]
            call("receive", "GET", f"/v1/warehouses/{work['warehouse_id']}/pick-lists", warehouse_key)
            close("receive")
            lines = [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]
            call("pick", "POST", f"/v1/fulfillments/{work['id']}/pick", warehouse_key, {"lines": lines})
            close("pick")
            call(
                "pack",
                "POST",
                f"/v1/fulfillments/{work['id']}/pack",
                warehouse_key,
                {"packages": [{"box": "BOX-S", "weight_grams": 400}]},
            )
            close("pack")
            number = f"1Z{uuid.uuid4().hex[:14].upper()}"
            call(
                "ship",
                "POST",
                f"/v1/fulfillments/{work['id']}/ship",
                warehouse_key,
                {"carrier": "ups", "service": "ground", "tracking_number": number},
            )
            close("ship")
            carrier("tracking update", number, "in_transit")
            close("tracking update")
            carrier("delivered e-mail", number, "delivered")
            close("delivered e-mail")
            final = look(f"/v1/orders/{placed['id']}")
            if final["status"] != "delivered":
                raise RuntimeError(f"order {placed['id']} is {final['status']} at the end of the journey")
        mails = len(list(Path(state, "outbox").glob("*.eml")))
        sizes = _order_item_sizes(stack.options.region, placed["id"])
        return {
            "orders": orders,
            "memory_mb": memory_mb,
            "emails": mails,
            "order_item_sizes": sizes,
            "retried": dict(client.retried),
            "steps": {
                step: {
                    "http_requests": client.http_requests[step],
                    "api_ms": client.api_ms[step],
                    "counts": {kind: dict(values) for kind, values in steps[step].items()},
                    "handler_ms": dict(durations[step]),
                }
                for step in STEPS
            },
        }
    finally:
        stack.stop()


def _order_item_sizes(region: str, order_id: str) -> dict[str, int]:
    """The sizes (DynamoDB's bytes) of the items one delivered order left in the table, by sort key."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    from chalicelib.adapters import keys
    from infra.local.stack import ACCOUNT_ID

    backend = dynamodb_backends[ACCOUNT_ID][region]
    sizes: dict[str, int] = {}
    for table in backend.tables.values():
        items = table.items.get(DynamoType({"S": keys.order_pk(order_id)}), {})
        for sort_key, item in items.items():
            sizes[str(sort_key.value)] = int(item.size())
    return sizes


def _schedule_names(app: Any) -> set[str]:
    from chalice.app import ScheduledEventConfig

    return {s.name for s in app.event_sources if isinstance(s, ScheduledEventConfig)}


def _configured_memory() -> int:
    config = json.loads((Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text())
    return int(config.get("lambda_memory_size", 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5, help="orders walked through the journey (5)")
    args = parser.parse_args()
    result = run(args.orders)
    print(MARKER + json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip tearing down moto's objects one by one (as infra.local does)


if __name__ == "__main__":
    main()
