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

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, post_store_order, wait_for

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
    post_store_order(stack, "shopify", "shopify-demo", order)

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


WOO_FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce" / "order-created-processing.json"
)


def test_a_woocommerce_order_of_an_unknown_sku_is_held_then_placed_once_the_product_exists(
    local_stack: RunningStack,
) -> None:
    stack = local_stack
    admin = stack.config["keys"]["admin"]
    sku = f"E2E-{uuid.uuid4().hex[:8].upper()}"
    order = json.loads(WOO_FIXTURE.read_bytes())
    order["id"] = int(uuid.uuid4().int % 10**9)  # a new store order
    order["line_items"] = order["line_items"][:1]
    order["line_items"][0]["sku"] = sku  # not in the catalogue
    body = json.dumps(order).encode()
    secret = stack.config["webhook_secrets"]["woocommerce"]["woocommerce-demo"]

    def deliver() -> None:
        headers = {
            "content-type": "application/json",
            "x-wc-webhook-signature": base64.b64encode(
                hmac.new(secret.encode(), body, hashlib.sha256).digest()
            ).decode(),
            "x-wc-webhook-topic": "order.created",
            "x-wc-webhook-source": "https://woo.example/",
            "x-wc-webhook-id": "7",
            "x-wc-webhook-delivery-id": str(uuid.uuid4()),
        }
        response = requests.post(
            stack.api_url + "/v1/webhooks/channels/woocommerce/woocommerce-demo",
            data=body,
            headers=headers,
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text

    def mine() -> list[dict[str, Any]]:
        listing = stack.get("/v1/orders?channel=woocommerce-demo&limit=100", admin).json()
        return [o for o in listing["items"] if o["external_id"] == str(order["id"])]

    deliver()
    deliver()  # the store re-sends it: still one order
    (held,) = wait_for("the WooCommerce order to be held", lambda: mine() or None, timeout=15)
    assert held["status"] == "on_hold"
    path = f"/v1/orders/{held['id']}"
    held = stack.get(path, admin).json()
    assert [h["reason"] for h in held["holds"]] == ["unresolved_lines"]
    assert [(u["sku"], u["quantity"]) for u in held["unresolved_lines"]] == [(sku, 2)]
    assert len(mine()) == 1

    console = requests.Session()
    signed_in = console.post(stack.api_url + "/console/signin", data={"key": admin}, timeout=HTTP_TIMEOUT)
    assert signed_in.ok, signed_in.text
    attention = console.get(stack.api_url + "/console/attention", timeout=HTTP_TIMEOUT)
    assert attention.ok and held["id"] in attention.text and "unresolved lines" in attention.text

    refused = requests.delete(
        stack.api_url + path + "/holds/unresolved_lines", headers={"x-api-key": admin}, timeout=HTTP_TIMEOUT
    )
    assert refused.status_code == 409 and refused.json()["unknown_skus"] == [sku]

    json_headers = {"x-api-key": admin, "content-type": "application/json"}
    product = {"name": "E2E tee", "length_mm": 300, "width_mm": 250, "height_mm": 30, "weight_grams": 200}
    created = requests.put(
        stack.api_url + f"/v1/products/{sku}", json=product, headers=json_headers, timeout=HTTP_TIMEOUT
    )
    assert created.status_code == 201, created.text
    stocked = requests.put(
        stack.api_url + f"/v1/inventory/wh-east/{sku}",
        json={"on_hand": 5},
        headers=json_headers,
        timeout=HTTP_TIMEOUT,
    )
    assert stocked.status_code == 200, stocked.text

    released = requests.delete(
        stack.api_url + path + "/holds/unresolved_lines", headers={"x-api-key": admin}, timeout=HTTP_TIMEOUT
    )
    assert released.status_code == 200, released.text
    confirmed = stack.get(path, admin).json()
    assert (confirmed["status"], confirmed["unresolved_lines"]) == ("confirmed", [])
    assert [(li["sku"], li["quantity"]) for li in confirmed["lines"]] == [(sku, 2)]
    assert [(f["warehouse_id"], f["status"]) for f in confirmed["fulfillments"]] == [("wh-east", "released")]
