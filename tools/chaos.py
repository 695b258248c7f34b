"""``make chaos``: the local stack with injected faults, N orders through the whole journey, then
the service's promises checked (docs/reliability.md).

    python -m tools.chaos [--orders 50] [--fault-rate 0.2] [--duplicate-rate 0.3] [--seed 1]

It starts ``python -m infra.local`` (free ports, a temporary state folder, a fast schedule clock
and a short visibility timeout) with ``OMS_FAULT_RATE`` / ``OMS_DUPLICATE_RATE`` /
``OMS_FAULT_SEED``, and drives every order only over HTTP with the keys of ``local.json``:

* placement from the API (an Idempotency-Key re-sent once), from Shopify and from WooCommerce
  (signed webhooks, some delivered twice as stores do);
* per order one plan: plain delivery, split shipment, short pick (the shortfall backordered, goods
  received, the backorder shipped), hold then release, hold then cancel, cancellation, return;
* every parcel gets carrier updates out of order (delivered before in transit and out for
  delivery; some sent twice), as signed Standard Webhooks;
* the stores' endpoints (a receiver on 127.0.0.1) get the outbound webhooks.

Dead letters are sent back with ``python -m tools.dlq redrive --queue all`` whenever the journey
stalls and at the end, until none is left. Then the invariants are checked and printed; any
breach is printed on its own line and the exit status is 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
HTTP_TIMEOUT = 120.0  # generous: the local moto serves one request at a time and slows as data grows
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 120.0
STALL_SECONDS = 20.0  # no progress for this long: look in the dead-letter queues

FINAL_STATUSES = {"delivered", "cancelled", "returned", "partially_returned"}
SHIPPED_FULFILLMENT = {
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "delivery_attempted",
    "available_for_pickup",
    "exception",
    "returned_to_sender",
    "failed",
}
OPEN_FULFILLMENT = {"pending", "released", "picking", "picked", "packed", "on_hold"}

#: The order events the stores subscribe to; each must reach its endpoint exactly once.
SUBSCRIBED = ["order.confirmed", "order.cancelled", "fulfillment.shipped", "tracking.updated"]

#: Customer messages per event (docs/customer-communication.md). Tracking updates count only when
#: they changed the shipment's status (``data.changed``).
EMAIL_EVENTS = {
    "order.confirmed",
    "order.backordered",
    "order.backorder_allocated",
    "fulfillment.shipped",
    "order.cancelled",
    "order.lines_cancelled",
    "return.requested",
    "return.received",
}
EMAIL_TRACKING = {
    "out_for_delivery",
    "available_for_pickup",
    "delivered",
    "delivery_attempted",
    "exception",
    "returned_to_sender",
    "failed",
}
SMS_EVENTS = {"order.confirmed", "fulfillment.shipped"}
SMS_TRACKING = {"out_for_delivery"}

PLANS = ["deliver", "split", "short_pick", "hold_release", "hold_cancel", "cancel", "return"]
SOURCES = ["api", "shopify", "woocommerce"]
CHANNEL_OF = {"api": "web", "shopify": "shopify-demo", "woocommerce": "woocommerce-demo"}
#: SKUs stocked well in both warehouses, and a pair stocked in one warehouse each (split).
PLENTIFUL = ["TEE-ORG-BLK-M", "SOCK-MRN-3PK", "NTBK-A5-DOT", "CBL-USBC-2M", "CHRG-USBC-65W", "MUG-CER-WHT"]
SPLIT_PAIR = [("CAP-CANV-OLV", 1), ("PLNT-POT-TER", 1)]

SMS_LINE = re.compile(r"SMS (\S+) to (\S+): ")
SUMMARY_LINE = re.compile(r"fault injection: (\d+) failures injected, (\d+) duplicate deliveries")


class ChaosError(RuntimeError):
    """The run could not be carried out (the stack did not start, an order never settled)."""


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    process: subprocess.Popen[str]
    state_dir: Path
    env: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)
    retried_webhooks: int = 0  # provider webhooks answered with a retryable status and sent again

    @property
    def api(self) -> str:
        return str(self.config["api_url"])

    @property
    def admin(self) -> str:
        return str(self.config["keys"]["admin"])

    def channel_key(self, channel: str) -> str:
        return str(self.config["keys"]["channels"][channel])

    def warehouse_key(self, warehouse: str) -> str:
        return str(self.config["keys"]["warehouses"][warehouse])

    def call(
        self,
        method: str,
        path: str,
        key: str | None,
        body: Any = None,
        *,
        expect: tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["x-api-key"] = key
        for attempt in range(5):
            response = self.session.request(
                method, self.api + path, json=body, headers=all_headers, timeout=HTTP_TIMEOUT
            )
            if response.status_code in (409, 503) and response.status_code not in expect and attempt < 4:
                time.sleep(0.2 * (attempt + 1))  # a retryable conflict: the client's part is to retry
                continue
            break
        if response.status_code not in expect:
            raise ChaosError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """A provider's webhook: retried on a retryable answer, as stores and carriers do."""
        for attempt in range(6):
            response = self.session.post(self.api + path, data=body, headers=headers, timeout=HTTP_TIMEOUT)
            if response.status_code not in (409, 429, 503) or attempt == 5:
                break
            self.retried_webhooks += 1
            time.sleep(0.2 * (attempt + 1))
        if response.status_code >= 300 and response.status_code != 202:
            raise ChaosError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.status_code

    def tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.config["aws_endpoint_url"],
            region_name=self.config["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _read_output(process: subprocess.Popen[str], sink: list[str], echo: bool) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line.rstrip("\n"))
        if echo:
            print(f"  | {line.rstrip()}", flush=True)


def start_stack(args: argparse.Namespace, state_dir: Path) -> Stack:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMS_"))}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "OMS_STATE_DIR": str(state_dir),
            "OMS_API_PORT": "0",
            "OMS_AWS_PORT": "0",
            "OMS_CLOCK_SPEED": str(args.clock_speed),
            "OMS_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
            "OMS_FAULT_RATE": str(args.fault_rate),
            "OMS_DUPLICATE_RATE": str(args.duplicate_rate),
            "OMS_FAULT_SEED": str(args.seed),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    stack = Stack(process=process, state_dir=state_dir, env=env)
    threading.Thread(target=_read_output, args=(process, stack.output, args.verbose), daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while "ready" not in stack.output:
        if process.poll() is not None:
            raise ChaosError(
                f"the local stack exited with {process.returncode}:\n" + "\n".join(stack.output[-40:])
            )
        if time.monotonic() >= deadline:
            stop_stack(stack)
            raise ChaosError("the local stack was not ready in time:\n" + "\n".join(stack.output[-40:]))
        time.sleep(0.05)
    stack.config = json.loads((state_dir / "local.json").read_text(encoding="utf-8"))
    return stack


def stop_stack(stack: Stack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()


# -- the stores' webhook receiver ---------------------------------------------------------------


@dataclass
class Receiver:
    deliveries: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                deliveries.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# -- journeys -----------------------------------------------------------------------------------


@dataclass
class Journey:
    index: int
    source: str
    plan: str
    lines: list[tuple[str, int]]
    email: str
    phone: str | None
    external_id: str
    order_id: str | None = None
    done_steps: set[str] = field(default_factory=set)
    handled: set[str] = field(default_factory=set)  # fulfillment ids picked/packed/shipped
    tracked: set[str] = field(default_factory=set)  # tracking numbers given carrier updates
    status: str = ""

    @property
    def channel(self) -> str:
        return CHANNEL_OF[self.source]

    @property
    def finished(self) -> bool:
        if self.status not in FINAL_STATUSES:
            return False
        if self.plan == "return":
            return "returned" in self.done_steps
        return True


@dataclass
class Ledger:
    """What the harness did to stock, per (warehouse, SKU)."""

    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    shipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    short: Counter[tuple[str, str]] = field(default_factory=Counter)
    restocked: Counter[tuple[str, str]] = field(default_factory=Counter)


def plan_journeys(count: int, rng: random.Random, run: str) -> list[Journey]:
    journeys: list[Journey] = []
    for i in range(count):
        plan = PLANS[i % len(PLANS)]
        source = SOURCES[i % len(SOURCES)]
        if plan == "split":
            lines = list(SPLIT_PAIR)
        elif plan in ("short_pick", "return"):
            lines = [(rng.choice(PLENTIFUL), 3)]
        else:
            skus = rng.sample(PLENTIFUL, rng.choice([1, 2]))
            lines = [(sku, rng.randint(1, 2)) for sku in skus]
        phone = f"+1555{rng.randint(0, 9_999_999):07d}" if source == "api" and i % 2 == 0 else None
        journeys.append(
            Journey(
                index=i,
                source=source,
                plan=plan,
                lines=lines,
                email=f"chaos-{run}-{i}@example.com",
                phone=phone,
                external_id=f"CHAOS-{run}-{i}",
            )
        )
    return journeys


def _price(sku: str) -> str:
    return f"{10 + len(sku) % 7}.50"


def place(stack: Stack, journey: Journey, rng: random.Random) -> None:
    if journey.source == "api":
        body: dict[str, Any] = {
            "external_id": journey.external_id,
            "currency": "USD",
            "customer": {"email": journey.email, "name": "Chaos Monkey"},
            "shipping_address": {
                "name": "Chaos Monkey",
                "line1": "1 Main St",
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "country": "US",
            },
            "lines": [{"sku": s, "quantity": q, "unit_price": _price(s)} for s, q in journey.lines],
        }
        if journey.phone:
            body["customer"]["phone"] = journey.phone
            body["notify"] = {"sms": True}
        key = stack.channel_key(journey.channel)
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        first = stack.call("POST", "/v1/orders", key, body, headers=idem)
        # A client that did not hear the answer sends the same request again: the same order.
        again = stack.call("POST", "/v1/orders", key, body, headers=idem)
        if again["id"] != first["id"]:
            raise ChaosError(f"an Idempotency-Key replay made a second order {again['id']} for {first['id']}")
        journey.order_id = first["id"]
        return
    if journey.source == "shopify":
        order = json.loads((ROOT / "tests/fixtures/shopify/orders-create.json").read_bytes())
        order["id"] = 10**15 + journey.index * 7919 + rng.randint(0, 10**6)
        order["email"] = order["contact_email"] = journey.email
        order["customer"]["email"] = journey.email
        template = order["line_items"][0]
        order["line_items"] = [
            {
                **template,
                "id": 900 + n,
                "sku": s,
                "quantity": q,
                "price": _price(s),
                "discount_allocations": [],
            }
            for n, (s, q) in enumerate(journey.lines)
        ]
        order["discount_applications"] = []
        order["discount_codes"] = []
        journey.external_id = str(order["id"])
        raw = json.dumps(order).encode()
        secret = stack.config["webhook_secrets"]["shopify"][journey.channel]
        headers = {
            "content-type": "application/json",
            "x-shopify-hmac-sha256": _hmac_b64(secret, raw),
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": "oms-demo.myshopify.com",
            "x-shopify-webhook-id": str(uuid.uuid4()),
        }
    else:
        order = json.loads((ROOT / "tests/fixtures/woocommerce/order-created-processing.json").read_bytes())
        order["id"] = 700_000 + journey.index * 31 + rng.randint(0, 30)
        order["number"] = str(order["id"])
        order["currency"] = "USD"
        order["billing"].update(
            email=journey.email, country="US", state="IL", postcode="62701", city="Springfield"
        )
        order["shipping"].update(country="US", state="IL", postcode="62701", city="Springfield")
        template = order["line_items"][0]
        order["line_items"] = [
            {
                **template,
                "id": 900 + n,
                "sku": s,
                "quantity": q,
                "subtotal": f"{float(_price(s)) * q:.2f}",
                "total": f"{float(_price(s)) * q:.2f}",
                "price": float(_price(s)),
            }
            for n, (s, q) in enumerate(journey.lines)
        ]
        journey.external_id = str(order["id"])
        raw = json.dumps(order).encode()
        secret = stack.config["webhook_secrets"]["woocommerce"][journey.channel]
        headers = {
            "content-type": "application/json",
            "x-wc-webhook-signature": _hmac_b64(secret, raw),
            "x-wc-webhook-topic": "order.created",
            "x-wc-webhook-source": "https://woo.example/",
            "x-wc-webhook-id": "7",
            "x-wc-webhook-delivery-id": str(uuid.uuid4()),
        }
    path = f"/v1/webhooks/channels/{journey.source}/{journey.channel}"
    stack.post_raw(path, raw, headers)
    if rng.random() < 0.3:
        stack.post_raw(path, raw, headers)  # the store did not hear our 200 and delivers again


def _hmac_b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def find_store_order(stack: Stack, journey: Journey) -> None:
    listing = stack.call("GET", f"/v1/orders?channel={journey.channel}&limit=100", stack.admin)
    for order in listing["items"]:
        if order["external_id"] == journey.external_id:
            journey.order_id = order["id"]
            return


def carrier_update(stack: Stack, number: str, status: str, at: datetime) -> None:
    body = json.dumps(
        {
            "type": "tracking.updated",
            "data": {
                "carrier": "ups",
                "tracking_number": number,
                "status": status,
                "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
    )
    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(stack.config["webhook_secrets"]["standard_webhooks"]).sign(
            webhook_id, now, body
        ),
    }
    stack.post_raw("/v1/webhooks/carriers/standard", body.encode(), headers)


def advance(stack: Stack, journey: Journey, ledger: Ledger, rng: random.Random) -> bool:
    """One step of the journey if one is due; True when something was done."""
    if journey.order_id is None:
        find_store_order(stack, journey)
        return journey.order_id is not None
    order = stack.call("GET", f"/v1/orders/{journey.order_id}", stack.admin)
    journey.status = status = order["status"]
    if status == "placed":
        return False
    decided = _hold_or_cancel(stack, journey, status)
    if decided is not None:
        return decided
    if journey.plan in ("cancel", "hold_cancel") or status in ("on_hold", "backordered"):
        return False
    progressed = _ship_released(stack, journey, order, ledger)
    progressed |= _send_tracking(stack, journey, order, rng)
    progressed |= _return_delivered(stack, journey, order, ledger)
    return progressed


def _hold_or_cancel(stack: Stack, journey: Journey, status: str) -> bool | None:
    """The cancel and hold plans' own steps: True when one was taken, False when the order must
    wait for one, None when none is due (the journey goes on as any other)."""
    steps, oid = journey.done_steps, journey.order_id
    if journey.plan == "cancel" and status == "confirmed" and "cancel" not in steps:
        key = stack.channel_key(journey.channel)
        stack.call("POST", f"/v1/orders/{oid}/cancel", key, {"reason": "customer changed their mind"})
        steps.add("cancel")
        return True
    if journey.plan not in ("hold_release", "hold_cancel"):
        return None
    if "hold" not in steps and status == "confirmed":
        stack.call(
            "POST", f"/v1/orders/{oid}/holds", stack.admin, {"reason": "manual", "note": "chaos check"}
        )
        steps.add("hold")
        return True
    if "hold" in steps and "unhold" not in steps:
        if status != "on_hold":
            return False
        if journey.plan == "hold_release":
            stack.call("DELETE", f"/v1/orders/{oid}/holds/manual", stack.admin)
        else:
            stack.call("POST", f"/v1/orders/{oid}/cancel", stack.admin, {"reason": "held and refused"})
        steps.add("unhold")
        return True
    return None


def _ship_released(stack: Stack, journey: Journey, order: dict[str, Any], ledger: Ledger) -> bool:
    """Pick, pack and ship every released fulfillment not handled yet (one unit short if planned)."""
    progressed = False
    steps = journey.done_steps
    for ful in order["fulfillments"]:
        warehouse = ful.get("warehouse_id")
        if not warehouse or ful["id"] in journey.handled or ful["status"] != "released":
            continue
        wh_key = stack.warehouse_key(warehouse)
        base = f"/v1/fulfillments/{ful['id']}"
        picked = {li["sku"]: li["quantity"] for li in ful["lines"]}
        if journey.plan == "short_pick" and "short" not in steps:
            sku = next(iter(picked))
            picked[sku] -= 1
            steps.add("short")
            ledger.short[(warehouse, sku)] += 1
            # The missing unit arrives later: its receipt lets the backorder be allocated.
            stack.call("POST", f"/v1/inventory/{warehouse}/{sku}/receipts", wh_key, {"quantity": 1})
            ledger.received[(warehouse, sku)] += 1
        stack.call(
            "POST", base + "/pick", wh_key, {"lines": [{"sku": s, "quantity": q} for s, q in picked.items()]}
        )
        stack.call("POST", base + "/pack", wh_key, {"packages": [{"box": "BOX-M", "weight_grams": 900}]})
        number = f"1Z{uuid.uuid4().hex[:16].upper()}"
        stack.call(
            "POST", base + "/ship", wh_key, {"carrier": "ups", "service": "ground", "tracking_number": number}
        )
        for sku, quantity in picked.items():
            ledger.shipped[(warehouse, sku)] += quantity
        journey.handled.add(ful["id"])
        progressed = True
    return progressed


def _send_tracking(stack: Stack, journey: Journey, order: dict[str, Any], rng: random.Random) -> bool:
    """The carrier's scans of every new tracking number, out of order and sometimes twice."""
    progressed = False
    for ful in order["fulfillments"]:
        for number in (ful.get("shipment") or {}).get("tracking_numbers", []):
            if number in journey.tracked:
                continue
            # Out of order: the delivery scan arrives first, the earlier scans after it.
            start = datetime.now(UTC) - timedelta(hours=6)
            updates = [
                ("delivered", start + timedelta(hours=5)),
                ("in_transit", start + timedelta(hours=1)),
                ("out_for_delivery", start + timedelta(hours=3)),
            ]
            rng.shuffle(updates)
            for update in updates:
                carrier_update(stack, number, *update)
                if rng.random() < 0.2:
                    carrier_update(stack, number, *update)  # the carrier retries
            journey.tracked.add(number)
            progressed = True
    return progressed


def _return_delivered(stack: Stack, journey: Journey, order: dict[str, Any], ledger: Ledger) -> bool:
    """The return plan, once delivered: two units back, one resellable, one damaged."""
    if journey.plan != "return" or order["status"] != "delivered" or "returned" in journey.done_steps:
        return False
    sku, _quantity = journey.lines[0]
    rma = stack.call(
        "POST",
        f"/v1/orders/{journey.order_id}/returns",
        stack.channel_key(journey.channel),
        {"lines": [{"sku": sku, "quantity": 2, "reason": "too many"}]},
    )
    warehouse = next(f["warehouse_id"] for f in order["fulfillments"] if f.get("warehouse_id"))
    stack.call(
        "POST",
        f"/v1/returns/{rma['id']}/receive",
        stack.warehouse_key(warehouse),
        {
            "items": [
                {"sku": sku, "quantity": 1, "condition": "resellable"},
                {"sku": sku, "quantity": 1, "condition": "damaged"},
            ]
        },
    )
    ledger.restocked[(warehouse, sku)] += 1
    journey.done_steps.add("returned")
    return True


# -- dead letters -------------------------------------------------------------------------------


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    listed = stack.tool("tools.dlq", "list", "--queue", "all", "--json")
    if listed.returncode != 0:
        raise ChaosError(f"tools.dlq list failed: {listed.stderr.strip()}")
    letters: list[dict[str, Any]] = json.loads(listed.stdout or "[]")
    return letters


def redrive(stack: Stack, report: dict[str, Any]) -> int:
    letters = dead_letters(stack)
    if not letters:
        return 0
    for letter in letters:
        report["dead_letters"].append(
            f"{letter['queue']} order {letter.get('order_id') or '-'}: "
            + ((letter.get("error") or "(no error recorded)").splitlines() or [""])[0]
        )
    moved = stack.tool("tools.dlq", "redrive", "--queue", "all")
    if moved.returncode != 0:
        raise ChaosError(f"tools.dlq redrive failed: {moved.stderr.strip()}")
    count = sum(1 for line in moved.stdout.splitlines() if line.startswith("redriven "))
    report["redriven"] += count
    return count


def queues_empty(stack: Stack) -> bool:
    sqs = stack.client("sqs")
    urls = sqs.list_queues(QueueNamePrefix="oms-local-").get("QueueUrls", [])
    for url in urls:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        if any(int(value) for value in attributes.values()):
            return False
    return True


def settle(stack: Stack, report: dict[str, Any], timeout: float) -> None:
    """Until every queue and DLQ is empty twice in a row (redriving what died meanwhile)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise ChaosError("the queues did not drain in time")
        time.sleep(1.0)
        if redrive(stack, report):
            quiet = 0
            continue
        quiet = quiet + 1 if queues_empty(stack) else 0


# -- invariants ---------------------------------------------------------------------------------


def inventory(stack: Stack) -> dict[tuple[str, str], dict[str, int]]:
    levels: dict[tuple[str, str], dict[str, int]] = {}
    for warehouse in stack.config["keys"]["warehouses"]:
        listing = stack.call("GET", f"/v1/inventory?warehouse={warehouse}", stack.admin)
        for item in listing["items"]:
            levels[(warehouse, item["sku"])] = {
                "on_hand": int(item["on_hand"]),
                "reserved": int(item["reserved"]),
            }
    return levels


def kpis(stack: Stack, day_from: date, day_to: date) -> dict[str, Any]:
    report: dict[str, Any] = stack.call("GET", f"/v1/kpis?from={day_from}&to={day_to}", stack.admin)
    return report


def _kpi_count(report: dict[str, Any], name: str) -> int:
    value = report.get(name)
    if value is None and isinstance(report.get("figures"), dict):
        value = report["figures"].get(name)
    return int(value or 0)


def check(
    stack: Stack,
    journeys: list[Journey],
    ledger: Ledger,
    receiver: Receiver,
    stock_before: dict[tuple[str, str], dict[str, int]],
    kpis_before: dict[str, Any],
    day_from: date,
) -> tuple[list[str], list[str]]:
    """(what was checked, the breaches)."""
    checked: list[str] = []
    breaches: list[str] = []
    orders: dict[str, dict[str, Any]] = {}
    timelines: dict[str, list[dict[str, Any]]] = {}
    for journey in journeys:
        if journey.order_id is None:
            breaches.append(f"order {journey.external_id} ({journey.source}) was never placed")
            continue
        orders[journey.order_id] = stack.call("GET", f"/v1/orders/{journey.order_id}", stack.admin)
        timelines[journey.order_id] = stack.call("GET", f"/v1/orders/{journey.order_id}/events", stack.admin)[
            "items"
        ]
    placed = [journey for journey in journeys if journey.order_id is not None]
    checked.append(_check_final_states(placed, orders, breaches))
    checked.append(_check_customer_messages(stack, placed, timelines, breaches))
    checked.append(_check_webhooks(receiver, placed, timelines, breaches))
    checked.append(_check_stock(stack, ledger, orders, stock_before, breaches))
    checked.append(_check_kpis(stack, journeys, orders, timelines, kpis_before, day_from, breaches))
    return checked, breaches


def _check_final_states(placed: list[Journey], orders: dict[str, dict[str, Any]], breaches: list[str]) -> str:
    """1. every order in a final state, the one its plan leads to."""
    expected_final = {"cancel": {"cancelled"}, "hold_cancel": {"cancelled"}, "return": {"partially_returned"}}
    for journey in placed:
        status = orders[str(journey.order_id)]["status"]
        wanted = expected_final.get(journey.plan, {"delivered"})
        if status not in wanted:
            breaches.append(
                f"order {journey.order_id} ({journey.plan}, {journey.source}) ended {status}, "
                f"expected {sorted(wanted)}"
            )
    return f"{len(orders)} orders in their final state"


def _check_customer_messages(
    stack: Stack, placed: list[Journey], timelines: dict[str, list[dict[str, Any]]], breaches: list[str]
) -> str:
    """2. customer messages: exactly one per event that calls for one."""
    mails = Counter[str]()
    mail_ids: set[str] = set()
    parser = BytesParser(policy=policy.default)
    for message_file in sorted((stack.state_dir / "outbox").glob("*.eml")):
        message = parser.parsebytes(message_file.read_bytes())
        mails[str(message["To"])] += 1
        mail_ids.add(str(message["X-SES-Message-ID"]))
    sms = Counter(match.group(2) for line in stack.output if (match := SMS_LINE.search(line)))
    total_mail = total_sms = 0
    for journey in placed:
        events = timelines[str(journey.order_id)]
        want_mail, want_sms = _messages_called_for(events)
        if not journey.phone:
            want_sms = 0
        _check_messages_of(journey, events, want_mail, mails, mail_ids, breaches)
        if journey.phone and sms[journey.phone] != want_sms:
            breaches.append(f"order {journey.order_id}: {sms[journey.phone]} SMS sent, {want_sms} expected")
        total_mail += want_mail
        total_sms += want_sms
    return f"{total_mail} customer e-mails and {total_sms} SMS, each exactly once"


def _messages_called_for(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(e-mails, SMS) the events of one order call for."""
    want_mail = want_sms = 0
    for event in events:
        kind, data = event["type"], event.get("data") or {}
        tracking = data.get("tracking_status") if kind == "tracking.updated" and data.get("changed") else None
        if kind in EMAIL_EVENTS or tracking in EMAIL_TRACKING:
            want_mail += 1
        if kind in SMS_EVENTS or tracking in SMS_TRACKING:
            want_sms += 1
    return want_mail, want_sms


def _check_messages_of(
    journey: Journey,
    events: list[dict[str, Any]],
    want_mail: int,
    mails: Counter[str],
    mail_ids: set[str],
    breaches: list[str],
) -> None:
    """One order's e-mails: in the outbox, recorded as sent, each notification recorded once."""
    sent = [e["data"] for e in events if e["type"] == "notification.sent"]
    causes = Counter((s["cause"]["event_id"], s["channel"], s["recipient"]) for s in sent)
    for cause, times in causes.items():
        if times > 1:
            breaches.append(f"order {journey.order_id}: notification {cause} recorded {times} times")
    if mails[journey.email] != want_mail:
        breaches.append(
            f"order {journey.order_id}: {mails[journey.email]} e-mail(s) in the outbox, "
            f"{want_mail} event(s) call for one"
        )
    recorded = [s for s in sent if s["channel"] == "email"]
    if len(recorded) != want_mail:
        breaches.append(
            f"order {journey.order_id}: {len(recorded)} e-mail(s) recorded as sent, {want_mail} expected"
        )
    for s in recorded:
        if s["message_id"] not in mail_ids:
            breaches.append(
                f"order {journey.order_id}: e-mail {s['message_id']} recorded but not in the outbox"
            )


def _check_webhooks(
    receiver: Receiver, placed: list[Journey], timelines: dict[str, list[dict[str, Any]]], breaches: list[str]
) -> str:
    """3. outbound webhooks: one delivery per subscribed event, per endpoint."""
    delivered = Counter[str]()
    for path, _headers, body in receiver.deliveries:
        payload = json.loads(body)
        delivered[f"{path.strip('/')}:{payload['data']['event_id']}"] += 1
    want_hooks = 0
    for journey in placed:
        for event in timelines[str(journey.order_id)]:
            if event["type"] not in SUBSCRIBED:
                continue
            want_hooks += 1
            times = delivered.pop(f"{journey.channel}:{event['id']}", 0)
            if times != 1:
                breaches.append(
                    f"order {journey.order_id}: webhook {event['type']} {event['id']} delivered {times} times"
                )
    for unexpected, times in delivered.items():
        breaches.append(f"webhook delivery {unexpected} ({times}x) matches no event of the run")
    return f"{want_hooks} outbound webhooks, each exactly once"


def _check_stock(
    stack: Stack,
    ledger: Ledger,
    orders: dict[str, dict[str, Any]],
    stock_before: dict[tuple[str, str], dict[str, int]],
    breaches: list[str],
) -> str:
    """4. stock: on_hand = start + received - shipped + restocked - short-picked; reserved = open work."""
    stock_after = inventory(stack)
    holding: Counter[tuple[str, str]] = Counter()
    for order in orders.values():
        for ful in order["fulfillments"]:
            if ful.get("warehouse_id") and ful["status"] in OPEN_FULFILLMENT:
                for line in ful["lines"]:
                    holding[(ful["warehouse_id"], line["sku"])] += int(line["quantity"])
    for place_key in sorted(set(stock_before) | set(stock_after)):
        before = stock_before.get(place_key, {"on_hand": 0, "reserved": 0})
        after = stock_after.get(place_key, {"on_hand": 0, "reserved": 0})
        expected = (
            before["on_hand"]
            + ledger.received[place_key]
            - ledger.shipped[place_key]
            + ledger.restocked[place_key]
            - ledger.short[place_key]
        )
        warehouse, sku = place_key
        if after["on_hand"] != expected:
            breaches.append(f"stock {warehouse}/{sku}: on_hand {after['on_hand']}, expected {expected}")
        if after["reserved"] != before["reserved"] + holding[place_key]:
            breaches.append(
                f"stock {warehouse}/{sku}: reserved {after['reserved']}, open fulfillments hold "
                f"{before['reserved'] + holding[place_key]}"
            )
    return f"stock conserved at {len(stock_after)} warehouse/SKU levels"


def _orders_whose_timeline_says(timelines: dict[str, list[dict[str, Any]]], flag: str) -> int:
    return sum(1 for t in timelines.values() if any((e.get("data") or {}).get(flag) for e in t))


def _check_kpis(
    stack: Stack,
    journeys: list[Journey],
    orders: dict[str, dict[str, Any]],
    timelines: dict[str, list[dict[str, Any]]],
    kpis_before: dict[str, Any],
    day_from: date,
    breaches: list[str],
) -> str:
    """5. KPI counts equal what happened."""
    kpis_after = kpis(stack, day_from, datetime.now(UTC).date())
    statuses = Counter(order["status"] for order in orders.values())
    happened = {
        "orders_placed": len(orders),
        "orders_confirmed": _orders_whose_timeline_says(timelines, "first_confirmation"),
        "orders_cancelled": statuses["cancelled"],
        "orders_shipped": _orders_whose_timeline_says(timelines, "order_fully_shipped"),
        "orders_delivered": _orders_whose_timeline_says(timelines, "order_fully_delivered"),
        "orders_returned": statuses["partially_returned"] + statuses["returned"],
    }
    expected_plans = Counter(j.plan for j in journeys)
    shipped_plans = len(journeys) - expected_plans["cancel"] - expected_plans["hold_cancel"]
    for name, value in happened.items():
        counted = _kpi_count(kpis_after, name) - _kpi_count(kpis_before, name)
        if counted != value:
            breaches.append(f"KPI {name}: {counted}, but {value} happened")
    if happened["orders_shipped"] != shipped_plans or happened["orders_delivered"] != shipped_plans:
        breaches.append(
            f"{happened['orders_shipped']} orders fully shipped and {happened['orders_delivered']} delivered "
            f"in the timelines, {shipped_plans} expected"
        )
    return "KPI counts: " + ", ".join(f"{k} {v}" for k, v in happened.items())


# -- the run ------------------------------------------------------------------------------------


def walk(
    stack: Stack,
    journeys: list[Journey],
    ledger: Ledger,
    rng: random.Random,
    report: dict[str, Any],
    *,
    timeout: float,
) -> None:
    """Advance every journey until all are finished; redrive dead letters when nothing moves."""
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    while not all(j.finished for j in journeys):
        progressed = False
        for journey in journeys:
            if not journey.finished:
                progressed |= advance(stack, journey, ledger, rng)
        now = time.monotonic()
        if progressed:
            last_progress = now
        elif now - last_progress > STALL_SECONDS:
            if redrive(stack, report):
                print(f"chaos: {report['redriven']} dead letter(s) redriven so far", flush=True)
            last_progress = now
        if now > deadline and not all(j.finished for j in journeys):
            stuck = [
                f"{j.order_id or j.external_id} ({j.plan}: {j.status})" for j in journeys if not j.finished
            ]
            raise ChaosError(f"{len(stuck)} orders did not finish in {timeout:.0f} s: {', '.join(stuck)}")
        if not progressed:
            time.sleep(1.0)  # polling less leaves moto to the pump


def _print_report(
    stack: Stack,
    args: argparse.Namespace,
    report: dict[str, Any],
    checked: list[str],
    breaches: list[str],
    *,
    passed: bool,
    seconds: float,
) -> None:
    summaries = [m.groups() for line in stack.output if (m := SUMMARY_LINE.search(line))]
    failures, duplicates = (int(summaries[-1][0]), int(summaries[-1][1])) if summaries else (0, 0)
    print()
    for line in report["dead_letters"]:
        print(f"dead letter: {line}")
    for line in checked:
        print(f"ok      {line}")
    for line in breaches:
        print(f"BREACH  {line}")
    print(
        f"chaos: {args.orders} orders, {failures} failures injected, {duplicates} duplicate deliveries, "
        f"{report['redriven']} dead letters redriven, {seconds:.0f} s; "
        + ("PASSED" if passed else f"FAILED ({len(breaches)} breaches)"),
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:6]
    started = time.monotonic()
    day_from = datetime.now(UTC).date()
    state_dir = Path(tempfile.mkdtemp(prefix="oms-chaos-"))
    report: dict[str, Any] = {"redriven": 0, "dead_letters": []}
    receiver = Receiver()
    receiver.start()
    print(
        f"chaos: {args.orders} orders, fault rate {args.fault_rate}, duplicate rate {args.duplicate_rate}, "
        f"seed {args.seed}",
        flush=True,
    )
    stack = start_stack(args, state_dir)
    code = 1
    try:
        for channel in set(CHANNEL_OF.values()):
            stack.call(
                "POST",
                f"/v1/channels/{channel}/webhook-endpoints",
                stack.admin,
                {"url": f"{receiver.url}/{channel}", "events": SUBSCRIBED},
            )
        stock_before = inventory(stack)
        kpis_before = kpis(stack, day_from, day_from)
        journeys = plan_journeys(args.orders, rng, run_id)
        ledger = Ledger()
        for journey in journeys:
            place(stack, journey, rng)
        print(f"chaos: {len(journeys)} orders placed in {time.monotonic() - started:.0f} s", flush=True)

        walk(stack, journeys, ledger, rng, report, timeout=args.timeout)
        print(f"chaos: every journey finished after {time.monotonic() - started:.0f} s; settling", flush=True)
        settle(stack, report, timeout=args.timeout)
        checked, breaches = check(stack, journeys, ledger, receiver, stock_before, kpis_before, day_from)
        code = 1 if breaches else 0
    except (ChaosError, requests.RequestException) as error:
        checked, breaches = [], [f"the run could not finish: {error}"]
    finally:
        receiver.stop()
        stop_stack(stack)
    _print_report(
        stack, args, report, checked, breaches, passed=code == 0, seconds=time.monotonic() - started
    )
    if code != 0 and not args.verbose:
        log = state_dir / "stack.log"
        log.write_text("\n".join(stack.output), encoding="utf-8")
        print(f"the stack's output: {log}")
    elif not args.keep_state:
        shutil.rmtree(state_dir, ignore_errors=True)
    return code


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a rate is between 0 and 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=50, help="orders to walk through (default 50)")
    parser.add_argument("--fault-rate", type=_rate, default=float(os.environ.get("OMS_FAULT_RATE", 0.2)))
    parser.add_argument(
        "--duplicate-rate", type=_rate, default=float(os.environ.get("OMS_DUPLICATE_RATE", 0.3))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("OMS_FAULT_SEED", 1)))
    parser.add_argument("--clock-speed", type=float, default=300.0, help="schedule clock speed-up")
    parser.add_argument(
        "--visibility-timeout", type=float, default=0.2, help="seconds a failed message waits"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds for the journeys, then for settling"
    )
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary state folder")
    parser.add_argument("--verbose", action="store_true", help="echo the stack's output")
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
