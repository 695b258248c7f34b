"""The WooCommerce REST (v3) client of the write-back (``StoreApi``).

Calls go to ``{url}/wp-json/wc/v3/…`` with a REST API key (Read/Write). Authentication as
WooCommerce documents it: HTTP Basic (consumer key and secret) over https; over plain http, which
only the local stack and tests use (to 127.0.0.1), WooCommerce refuses Basic and wants OAuth 1.0a
"one-legged" signing: ``oauth_consumer_key``, ``oauth_timestamp``, ``oauth_nonce``,
``oauth_signature_method`` and ``oauth_signature`` in the query string, HMAC-SHA256 over the
method, the URL and the sorted parameters, keyed with ``consumer_secret&``. ``oauthlib`` signs
(RFC 5849); the JSON body is not part of the signature (only form bodies are).

Calls used:

* shipped parcel group: ``GET orders/{id}/notes``, then ``POST orders/{id}/notes`` ``{"note",
  "customer_note": true}`` with the carrier and every tracking number with its link, unless a note
  already carries any of the numbers; when nothing is left to ship, ``GET orders/{id}`` and
  ``PUT orders/{id}`` ``{"status": "completed"}``;
* tracking milestone: a customer note, unless the same note is already there;
* a staff note meant for the customer: a customer note with its text, unless one has it already;
* cancellation: ``PUT orders/{id}`` ``{"status": "cancelled"}`` (after a private note with the
  reason), or a note listing the cancelled lines;
* stock: ``GET products?sku=`` (matches simple products and variations; a variation has a
  ``parent_id``), then ``PUT products/{id}`` or ``PUT products/{parent}/variations/{id}``
  ``{"manage_stock": true, "stock_quantity": n}``.

Answers: 429/5xx → ``RetryAfter`` (``Retry-After`` when given), 401/403 → ``CredentialsRejected``,
400/404 → ``Rejected`` with WooCommerce's ``message``, except a 404 with no WooCommerce route at
all (``rest_no_route``, or not JSON: a wrong store URL), which is ``CredentialsRejected``.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY, Client

from chalicelib.adapters.stores._http import REQUEST_TIMEOUT_SECONDS, JsonAnswer, JsonSender
from chalicelib.domain.promise import long_date
from chalicelib.domain.store_api import (
    CredentialsRejected,
    CustomerNoteAdded,
    Done,
    Milestone,
    MilestoneReached,
    OrderCancelled,
    ParcelShipped,
    Rejected,
    StockLevelChanged,
    StoreCallOutcome,
    WooCommerceCredentials,
)

#: Statuses after which an order is not completed any more by a late parcel.
CLOSED_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})

MILESTONE_WORDS = {
    Milestone.IN_TRANSIT: "is on its way",
    Milestone.OUT_FOR_DELIVERY: "is out for delivery",
    Milestone.READY_FOR_PICKUP: "is ready for pickup",
    Milestone.ATTEMPTED_DELIVERY: "could not be delivered (the carrier will try again)",
    Milestone.DELIVERED: "was delivered",
    Milestone.FAILURE: "could not be delivered",
}


class WooCommerceStoreApi:
    """``StoreApi`` for one WooCommerce store; see the module docstring."""

    def __init__(
        self,
        credentials: WooCommerceCredentials,
        *,
        allow_loopback: bool,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = f"{credentials.url.rstrip('/')}/wp-json/wc/v3/"
        self._credentials = credentials
        self._sender = JsonSender(allow_loopback=allow_loopback, timeout_seconds=timeout_seconds, tls=tls)

    # --- the port -------------------------------------------------------------------------------

    def parcel_shipped(self, request: ParcelShipped) -> StoreCallOutcome:
        order_id = _path_id(request.store_order_id)
        lines = ", ".join(f"{line.quantity} x {line.sku}" for line in request.lines)
        parcels = "; ".join(f"{number}: {url}" if url else number for number, url in request.links())
        listed = ", ".join(request.tracking_numbers)
        shipped = f"Shipped ({lines}) with {request.carrier}, tracking {parcels or 'no tracking number'}"
        note = shipped + _expected(request.expected_between)
        # A tracking number as a whole word: TRK-1 is not already noted by a note about TRK-10.
        # (The window may have moved since an earlier note: it is not part of the recognition.)
        alone = [re.compile(rf"(?<![\w-]){re.escape(n)}(?![\w-])") for n in request.tracking_numbers]
        noted = self._note_once(
            order_id,
            note,
            customer_note=request.notify_customer,
            already=lambda text: any(p.search(text) for p in alone) if alone else text.startswith(shipped),
        )
        if noted is not None:
            return noted
        if not request.completes_order:
            return Done(f"tracking {listed} noted on order {order_id}")
        order = self._call("GET", f"orders/{order_id}")
        if not isinstance(order, JsonAnswer):
            return order
        status = str((order.body or {}).get("status", ""))
        if status == "completed":
            return Done(f"tracking {listed} noted; order {order_id} already completed")
        if status in CLOSED_STATUSES:
            return Rejected(f"order {order_id} is {status} in WooCommerce; not completing it")
        moved = self._call("PUT", f"orders/{order_id}", {"status": "completed"})
        if not isinstance(moved, JsonAnswer):
            return moved
        return Done(f"tracking {listed} noted; order {order_id} completed")

    def milestone_reached(self, request: MilestoneReached) -> StoreCallOutcome:
        order_id = _path_id(request.store_order_id)
        numbers = ", ".join(request.tracking_numbers)
        words = MILESTONE_WORDS[request.milestone]
        if len(request.tracking_numbers) == 1:
            note = f"Your parcel {numbers} {words}."
        else:
            plural = words.replace("is ", "are ", 1) if words.startswith("is ") else words
            plural = plural.replace("was ", "were ", 1) if plural.startswith("was ") else plural
            note = f"Your parcels {numbers} {plural}."
        if request.message:
            note += f" {request.message}"
        noted = self._note_once(order_id, note, customer_note=True, already=lambda text: text == note)
        return noted or Done(f"{request.milestone.value} noted on order {order_id}")

    def order_cancelled(self, request: OrderCancelled) -> StoreCallOutcome:
        order_id = _path_id(request.store_order_id)
        if not request.whole_order:
            lines = ", ".join(f"{line.quantity} x {line.sku}" for line in request.lines)
            note = f"Cancelled: {lines}. {request.reason}".strip()
            noted = self._note_once(
                order_id, note, customer_note=request.notify_customer, already=lambda text: text == note
            )
            return noted or Done(f"cancelled lines noted on order {order_id}")
        order = self._call("GET", f"orders/{order_id}")
        if not isinstance(order, JsonAnswer):
            return order
        if str((order.body or {}).get("status", "")) == "cancelled":
            return Done(f"order {order_id} already cancelled")
        note = f"Cancelled in the order management system: {request.reason}"
        noted = self._note_once(order_id, note, customer_note=False, already=lambda text: text == note)
        if noted is not None:
            return noted
        moved = self._call("PUT", f"orders/{order_id}", {"status": "cancelled"})
        if not isinstance(moved, JsonAnswer):
            return moved
        return Done(f"order {order_id} cancelled")

    def customer_note_added(self, request: CustomerNoteAdded) -> StoreCallOutcome:
        order_id = _path_id(request.store_order_id)
        noted = self._note_once(
            order_id, request.text, customer_note=True, already=lambda text: text == request.text
        )
        return noted or Done(f"customer note {request.note_id} on order {order_id}")

    def stock_level_changed(self, request: StockLevelChanged) -> StoreCallOutcome:
        found = self._call("GET", "products", query={"sku": request.sku})
        if not isinstance(found, JsonAnswer):
            return found
        matches = [p for p in found.body or [] if isinstance(p, dict) and p.get("sku") == request.sku]
        if not matches:
            return Rejected(f"WooCommerce has no product or variation with SKU {request.sku}")
        if len(matches) > 1:
            return Rejected(f"several WooCommerce products carry SKU {request.sku}; SKUs must be unique")
        product = matches[0]
        parent_id = int(product.get("parent_id") or 0)
        path = (
            f"products/{parent_id}/variations/{product['id']}" if parent_id else f"products/{product['id']}"
        )
        stored = self._call("PUT", path, {"manage_stock": True, "stock_quantity": request.available})
        if not isinstance(stored, JsonAnswer):
            return stored
        return Done(f"{request.sku} stock_quantity set to {request.available} ({path})")

    # --- transport ------------------------------------------------------------------------------

    def _note_once(
        self, order_id: str, note: str, *, customer_note: bool, already: Callable[[str], bool]
    ) -> StoreCallOutcome | None:
        """Adds the note unless ``already`` matches an existing one; None when the note is there."""
        notes = self._call("GET", f"orders/{order_id}/notes")
        if not isinstance(notes, JsonAnswer):
            return notes
        if any(isinstance(n, dict) and already(str(n.get("note", ""))) for n in notes.body or []):
            return None
        added = self._call("POST", f"orders/{order_id}/notes", {"note": note, "customer_note": customer_note})
        return None if isinstance(added, JsonAnswer) else added

    def _call(
        self, method: str, path: str, payload: Any | None = None, *, query: dict[str, str] | None = None
    ) -> JsonAnswer | StoreCallOutcome:
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        headers: dict[str, str] = {}
        if urlsplit(url).scheme == "https":
            pair = f"{self._credentials.consumer_key}:{self._credentials.consumer_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            url = self._oauth_signed(method, url)
        answer = self._sender.send(method, url, headers=headers, payload=payload)
        if not isinstance(answer, JsonAnswer):
            return answer
        if 200 <= answer.status < 300:
            return answer
        error = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 404 and error.get("code", "rest_no_route") == "rest_no_route":
            # No WooCommerce REST route at all (a wrong store URL, the REST API or pretty
            # permalinks off), as opposed to an unknown order or product: the channel needs fixing.
            return CredentialsRejected(
                f"no WooCommerce REST API at {self.base_url} ({method} {path}: HTTP 404)"
            )
        why = error.get("message") or "no message"
        return Rejected(f"WooCommerce answered HTTP {answer.status} to {method} {path}: {why}")

    def _oauth_signed(self, method: str, url: str) -> str:
        client = Client(
            self._credentials.consumer_key,
            client_secret=self._credentials.consumer_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_QUERY,
        )
        signed_url, _headers, _body = client.sign(url, http_method=method)
        return str(signed_url)


def _expected(window: tuple[date, date] | None) -> str:
    """The note's sentence about the promised delivery window ("" without one)."""
    if window is None:
        return ""
    earliest, latest = window
    if earliest == latest:
        return f". Expected to arrive on {long_date(earliest)}"
    return f". Expected to arrive between {long_date(earliest)} and {long_date(latest)}"


def _path_id(store_order_id: str) -> str:
    """The order id as one path segment (WooCommerce ids are numbers; nothing else gets through)."""
    return quote(store_order_id, safe="")
