"""Over HTTP against ``make run``'s stack: a Shopify ``orders/create`` becomes a confirmed order of
the shopify-demo channel, and the store's endpoint on 127.0.0.1 receives signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, wait_for

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "shopify" / "orders-create.json"


@pytest.fixture
def store_endpoint() -> Iterator[dict[str, Any]]:
    """A store's webhook receiver on 127.0.0.1: records each delivery's headers and body."""
    seen: dict[str, Any] = {"deliveries": [], "url": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen["deliveries"].append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}/oms"
    yield seen
    server.shutdown()
    server.server_close()


def test_a_shopify_order_is_confirmed_and_the_store_hears_about_it(
    local_stack: RunningStack, store_endpoint: dict[str, Any]
) -> None:
    stack = local_stack
    channel_key = stack.config["keys"]["channels"]["shopify-demo"]
    subscribed = stack.post(
        "/v1/channels/shopify-demo/webhook-endpoints",
        {"url": store_endpoint["url"], "events": ["order.confirmed"]},
        channel_key,
    )
    assert subscribed.status_code == 201, subscribed.text
    endpoint_secret = subscribed.json()["secret"]

    order = json.loads(FIXTURE.read_bytes())
    order["id"] = int(str(uuid.uuid4().int)[:19])  # a new store order, id above 2**53
    for line in order["line_items"]:
        line["sku"] = {"MUG": "MUG-CER-WHT"}.get(line["sku"], line["sku"])  # the demo catalogue's SKUs
    body = json.dumps(order).encode()
    secret = stack.config["webhook_secrets"]["shopify"]["shopify-demo"]
    headers = {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": base64.b64encode(
            hmac.new(secret.encode(), body, hashlib.sha256).digest()
        ).decode(),
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": "oms-demo.myshopify.com",
        "x-shopify-webhook-id": str(uuid.uuid4()),
    }
    response = requests.post(
        stack.api_url + "/v1/webhooks/channels/shopify/shopify-demo",
        data=body,
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text

    def confirmed() -> dict[str, Any] | None:
        listing = stack.get("/v1/orders?channel=shopify-demo&limit=100", stack.config["keys"]["admin"]).json()
        mine = [o for o in listing["items"] if o["external_id"] == str(order["id"])]
        return mine[0] if mine and mine[0]["status"] == "confirmed" else None

    placed = wait_for("the Shopify order to be confirmed", confirmed, timeout=15)
    deliveries = wait_for(
        "the store's order.confirmed webhook", lambda: store_endpoint["deliveries"], timeout=10
    )
    delivered_headers, delivered_body = deliveries[0]
    payload = Webhook(endpoint_secret).verify(delivered_body, delivered_headers)
    assert payload["type"] == "order.confirmed"
    assert payload["data"]["order_id"] == placed["id"]
