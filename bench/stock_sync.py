"""Stock pushes at volume: how many store calls 1,000 orders cost once coalesced.

``python -m bench.stock_sync [--orders 1000] [--skus 4] [--threads 4]`` starts the local stack
(``python -m infra.local``, free ports, a temporary state folder), serves a fake Shopify and a
fake WooCommerce store on 127.0.0.1 (the test fakes of ``tests/fake_stores``: they speak the
stores' APIs and count every call), connects the demo channels to them with stock sync, places
``--orders`` one-line orders over HTTP spread round-robin over ``--skus`` SKUs from
``--threads`` threads, and waits until both stores hold the OMS's ``available`` of every SKU.

It reports the orders, the reservations per SKU, the calls each store received for the stock
(Shopify: ``productVariants`` look-ups and ``inventorySetQuantities``; WooCommerce: product
look-ups and ``PUT``s), the calls per order, and the seconds from the last placement until the
stores were in sync. Measured, never asserted; not part of ``make bench`` (it needs no floor:
the figure is a count).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import local_stack, order_body, stop_on_sigterm

SKUS = ("TEE-ORG-BLK-M", "TSHIRT-M", "SOCK-MRN-3PK", "CBL-USBC-2M", "NTBK-A5-DOT", "TEE-ORG-BLK-L")
EAST, WEST = "gid://shopify/Location/1", "gid://shopify/Location/2"
SYNC_LIMIT = 900.0


def run(orders: int, skus: int, threads: int) -> dict[str, Any]:
    import requests

    from tests.fake_stores import FakeShopify, FakeWooCommerce, serving

    sold = SKUS[:skus]
    shopify, woo = FakeShopify(), FakeWooCommerce()
    for sku in sold:
        shopify.add_variant(sku, locations={EAST: 0, WEST: 0})
        woo.add_product(sku, stock_quantity=0)
    with local_stack(None) as stack, serving(shopify), serving(woo):
        http = requests.Session()
        admin = {"content-type": "application/json", "x-api-key": stack.admin_key}
        _raise_stock(http, stack.api_url, admin, sold, orders)
        _connect(http, stack.api_url, admin, shopify, woo)
        _wait_in_sync(http, stack.api_url, admin, shopify, woo, sold)
        before = _store_calls(shopify, woo, sold)

        web = {"content-type": "application/json", "x-api-key": stack.channel_key("web")}

        def place(n: int) -> None:
            body = order_body(f"STOCK-{n}-{uuid.uuid4().hex[:6]}", sku=sold[n % len(sold)])
            response = http.post(stack.api_url + "/v1/orders", json=body, headers=web, timeout=120)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"placement {n}: {response.status_code} {response.text}")

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(place, range(orders)))
        placed_at = time.monotonic()
        _wait_in_sync(http, stack.api_url, admin, shopify, woo, sold)
        synced_at = time.monotonic()
        after = _store_calls(shopify, woo, sold)
        calls = {name: after[name] - before[name] for name in after}
        return {
            "orders": orders,
            "skus": len(sold),
            "reservations_per_sku": orders // len(sold),
            "placing_seconds": round(placed_at - started, 1),
            "sync_after_last_order_seconds": round(synced_at - placed_at, 1),
            "store_calls": calls,
            "shopify_sets_per_order": round(calls["shopify_inventorySetQuantities"] / orders, 4),
            "woocommerce_puts_per_order": round(calls["woocommerce_PUT"] / orders, 4),
        }


def _raise_stock(http: Any, api_url: str, admin: dict[str, str], skus: tuple[str, ...], orders: int) -> None:
    """Enough stock that every order reserves (a receipt per SKU, before the stores connect)."""
    for sku in skus:
        response = http.post(
            f"{api_url}/v1/inventory/wh-east/{sku}/receipts",
            json={"quantity": orders},
            headers=admin,
            timeout=60,
        )
        if response.status_code != 201:
            raise RuntimeError(f"receipt of {sku}: {response.status_code} {response.text}")


def _connect(http: Any, api_url: str, admin: dict[str, str], shopify: Any, woo: Any) -> None:
    bodies = {
        "shopify-demo": {
            "store_api": {"url": shopify.url, "access_token": shopify.access_token},
            "locations": {"wh-east": EAST, "wh-west": WEST},
            "stock_sync": True,
        },
        "woocommerce-demo": {
            "store_api": {
                "url": woo.url,
                "consumer_key": woo.consumer_key,
                "consumer_secret": woo.consumer_secret,
            },
            "stock_sync": True,
        },
    }
    for channel, body in bodies.items():
        response = http.patch(f"{api_url}/v1/channels/{channel}", json=body, headers=admin, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"connecting {channel}: {response.status_code} {response.text}")


def _in_sync(
    http: Any, api_url: str, admin: dict[str, str], shopify: Any, woo: Any, skus: tuple[str, ...]
) -> bool:
    listing = http.get(f"{api_url}/v1/inventory", headers=admin, timeout=60).json()["items"]
    available = {(line["sku"], line["warehouse_id"]): line["available"] for line in listing}
    with shopify.lock:
        items = dict(shopify.variants)
        at_shopify = {(s, loc): shopify.available[(items[s], loc)] for s in skus for loc in (EAST, WEST)}
    with woo.lock:
        at_woo = {p.sku: p.stock_quantity for p in woo.products.values()}
    for sku in skus:
        if at_shopify[(sku, EAST)] != available.get((sku, "wh-east"), 0):
            return False
        if at_shopify[(sku, WEST)] != available.get((sku, "wh-west"), 0):
            return False
        if at_woo[sku] != sum(v for (s, _), v in available.items() if s == sku):
            return False
    return True


def _wait_in_sync(
    http: Any, api_url: str, admin: dict[str, str], shopify: Any, woo: Any, skus: tuple[str, ...]
) -> None:
    deadline = time.monotonic() + SYNC_LIMIT
    while not _in_sync(http, api_url, admin, shopify, woo, skus):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stores were not in sync within {SYNC_LIMIT:.0f} s")
        time.sleep(0.5)


def _store_calls(shopify: Any, woo: Any, skus: tuple[str, ...]) -> dict[str, int]:
    """Stock calls about ``skus`` (the full push's look-ups of SKUs the stores do not sell may
    still be under way, and are not the orders' cost)."""
    bodies = shopify.graphql_requests()
    with woo.lock:
        requests = [(r.method, dict(r.query).get("sku")) for r in woo.requests]
    return {
        "shopify_productVariants": sum(
            1
            for b in bodies
            if "productVariants" in b.get("query", "")
            and any(f'"{s}"' in str(b.get("variables")) for s in skus)
        ),
        "shopify_inventorySetQuantities": sum(
            1 for b in bodies if "inventorySetQuantities" in b.get("query", "")
        ),
        "woocommerce_GET": sum(1 for method, sku in requests if method == "GET" and sku in skus),
        "woocommerce_PUT": sum(1 for method, _ in requests if method == "PUT"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders placed (1000)")
    parser.add_argument("--skus", type=int, default=4, help=f"SKUs they spread over (4, at most {len(SKUS)})")
    parser.add_argument("--threads", type=int, default=4, help="placing threads (4)")
    args = parser.parse_args()
    stop_on_sigterm()
    print(json.dumps(run(args.orders, min(args.skus, len(SKUS)), args.threads), indent=2))


if __name__ == "__main__":
    main()
