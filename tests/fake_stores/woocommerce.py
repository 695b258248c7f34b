"""A fake WooCommerce REST API (``/wp-json/wc/v3``) on 127.0.0.1, for the write-back's tests.

Authentication as WooCommerce checks it: HTTP Basic with the consumer key and secret only over
https (over plain http Basic is refused); over plain http OAuth 1.0a one-legged, parameters in
the query string, the signature verified here independently of the client's library: HMAC-SHA1
or HMAC-SHA256 over ``METHOD&enc(url without query)&enc(sorted, encoded parameters)`` keyed with
``consumer_secret&``, a timestamp within 15 minutes and a nonce never seen before.

State: orders (status, notes) and products/variations (SKU, ``manage_stock``,
``stock_quantity``). ``GET products?sku=`` matches simple products and variations (a variation
has a ``parent_id``), exactly, comma-separated SKUs allowed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.fake_stores._server import Answer, FakeServer, RecordedRequest

PREFIX = "/wp-json/wc/v3/"
ORDER_STATUSES = frozenset(
    {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "trash",
        "checkout-draft",
    }
)
OAUTH_WINDOW_SECONDS = 15 * 60


@dataclass
class Note:
    id: int
    note: str
    customer_note: bool


@dataclass
class WooOrder:
    id: int
    status: str = "processing"
    notes: list[Note] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status}


@dataclass
class WooProduct:
    id: int
    sku: str
    parent_id: int = 0
    manage_stock: bool = False
    stock_quantity: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sku": self.sku,
            "parent_id": self.parent_id,
            "type": "variation" if self.parent_id else "simple",
            "manage_stock": self.manage_stock,
            "stock_quantity": self.stock_quantity,
        }


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message, "data": {"status": status}})


def _enc(value: str) -> str:
    return quote(value, safe="~-._")


class FakeWooCommerce(FakeServer):
    def __init__(self, *, consumer_key: str = "ck_fake_key", consumer_secret: str = "cs_fake_secret") -> None:
        super().__init__()
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.orders: dict[int, WooOrder] = {}
        self.products: dict[int, WooProduct] = {}
        self.seen_nonces: set[str] = set()
        #: How each accepted request authenticated: "basic" or "oauth1".
        self.auth_used: list[str] = []
        self._ids = itertools.count(501)

    # --- set-up ---------------------------------------------------------------------------------

    def add_order(self, order_id: int, status: str = "processing") -> None:
        with self.lock:
            self.orders[order_id] = WooOrder(order_id, status)

    def add_product(self, sku: str, *, stock_quantity: int | None = None) -> int:
        with self.lock:
            product = WooProduct(
                next(self._ids), sku, stock_quantity=stock_quantity, manage_stock=stock_quantity is not None
            )
            self.products[product.id] = product
            return product.id

    def add_variation(self, parent_id: int, sku: str, *, stock_quantity: int | None = None) -> int:
        with self.lock:
            variation = WooProduct(
                next(self._ids), sku, parent_id, stock_quantity is not None, stock_quantity
            )
            self.products[variation.id] = variation
            return variation.id

    def answer_429_next(self, retry_after: str | None = "7", times: int = 1) -> None:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        self.fail_next(
            Answer(429, {"code": "too_many_requests", "message": "Too many requests"}, headers), times
        )

    def answer_500_next(self, times: int = 1) -> None:
        self.fail_next(
            _error(500, "internal_server_error", "There has been a critical error on this website."), times
        )

    def answer_401_next(self, times: int = 1) -> None:
        self.fail_next(
            _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."), times
        )

    # --- the API --------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Answer:
        if not request.path.startswith(PREFIX):
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        route = request.path.removeprefix(PREFIX).rstrip("/")
        payload = request.json() if request.body else None
        if request.method in ("POST", "PUT") and not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        if match := re.fullmatch(r"orders/(\d+)", route):
            return self._order(request.method, int(match.group(1)), payload)
        if match := re.fullmatch(r"orders/(\d+)/notes", route):
            return self._notes(request.method, int(match.group(1)), payload)
        if route == "products" and request.method == "GET":
            wanted = set(filter(None, request.query_dict().get("sku", "").split(",")))
            return Answer(200, [p.as_json() for p in self.products.values() if p.sku in wanted])
        if match := re.fullmatch(r"products/(\d+)", route):
            return self._stock(request.method, int(match.group(1)), None, payload)
        if match := re.fullmatch(r"products/(\d+)/variations/(\d+)", route):
            return self._stock(request.method, int(match.group(2)), int(match.group(1)), payload)
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _authenticate(self, request: RecordedRequest) -> Answer | None:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            if self.scheme != "https":
                # WooCommerce reads Basic credentials only when is_ssl(); over http it wants OAuth.
                return _error(401, "woocommerce_rest_authentication_error", "Consumer key is missing.")
            try:
                key, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
            if key != self.consumer_key or not hmac.compare_digest(secret, self.consumer_secret):
                return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
            self.auth_used.append("basic")
            return None
        params = request.query_dict()
        if "oauth_signature" not in params:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if self.scheme == "https":
            return _error(
                401, "woocommerce_rest_authentication_error", "OAuth is for plain http; use Basic over https."
            )
        refused = self._check_oauth(request)
        if refused is None:
            self.auth_used.append("oauth1")
        return refused

    def _check_oauth(self, request: RecordedRequest) -> Answer | None:
        params = request.query_dict()
        if params.get("oauth_consumer_key") != self.consumer_key:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        method = params.get("oauth_signature_method")
        digests = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
        if method not in digests:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid signature method.")
        try:
            timestamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            timestamp = 0
        if abs(time.time() - timestamp) > OAUTH_WINDOW_SECONDS:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        nonce = params.get("oauth_nonce", "")
        if not nonce or nonce in self.seen_nonces:
            return _error(
                401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
            )
        signed = sorted((_enc(k), _enc(v)) for k, v in request.query if k != "oauth_signature")
        normalized = "&".join(f"{k}={v}" for k, v in signed)
        base_url = f"{self.scheme}://{request.headers.get('host', '')}{request.path}"
        base_string = "&".join((request.method.upper(), _enc(base_url), _enc(normalized)))
        key = f"{_enc(self.consumer_secret)}&".encode()
        expected = base64.b64encode(hmac.new(key, base_string.encode(), digests[method]).digest()).decode()
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            return _error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        self.seen_nonces.add(nonce)
        return None

    def _order(self, method: str, order_id: int, payload: Any) -> Answer:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if method == "GET":
            return Answer(200, order.as_json())
        if method == "PUT":
            if not isinstance(payload, dict) or set(payload) - {"status"}:
                return _error(400, "rest_invalid_param", "Invalid parameter(s).")
            status = payload.get("status", order.status)
            if status not in ORDER_STATUSES:
                return _error(400, "rest_invalid_param", "Invalid parameter(s): status")
            order.status = status
            return Answer(200, order.as_json())
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _notes(self, method: str, order_id: int, payload: Any) -> Answer:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if method == "GET":
            return Answer(
                200,
                [
                    {"id": n.id, "note": n.note, "customer_note": n.customer_note}
                    for n in reversed(order.notes)
                ],
            )
        if method == "POST":
            if (
                not isinstance(payload, dict)
                or not isinstance(payload.get("note"), str)
                or not payload["note"]
            ):
                return _error(400, "rest_missing_callback_param", "Missing parameter(s): note")
            if not isinstance(payload.get("customer_note", False), bool):
                return _error(400, "rest_invalid_param", "Invalid parameter(s): customer_note")
            note = Note(next(self._ids), payload["note"], payload.get("customer_note", False))
            order.notes.append(note)
            return Answer(201, {"id": note.id, "note": note.note, "customer_note": note.customer_note})
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _stock(self, method: str, product_id: int, parent_id: int | None, payload: Any) -> Answer:
        product = self.products.get(product_id)
        if method != "PUT":
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        if product is None or (parent_id or 0) != product.parent_id:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        if not isinstance(payload, dict) or set(payload) - {"manage_stock", "stock_quantity"}:
            return _error(400, "rest_invalid_param", "Invalid parameter(s).")
        quantity = payload.get("stock_quantity")
        if quantity is not None and not isinstance(quantity, int):
            return _error(400, "rest_invalid_param", "Invalid parameter(s): stock_quantity")
        product.manage_stock = bool(payload.get("manage_stock", product.manage_stock))
        product.stock_quantity = quantity
        return Answer(200, product.as_json())
