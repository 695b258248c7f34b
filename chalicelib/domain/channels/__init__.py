"""Store orders (Shopify, WooCommerce) mapped into the one order model every channel shares.

A mapper takes the decoded JSON of a store's order webhook (signature already verified over the
raw bytes) and returns a ``ChannelOrder``: the ``PlaceOrderRequest`` the store's order becomes,
plus what the request cannot say (lines that cannot be placed, holds to put on at placement, the
store's cancellation, its raw status).

Three kinds of trouble, kept apart on purpose:

- not an order at all (not an object, no id, no ``line_items`` list, a mapped field of the wrong
  JSON type): ``ChannelPayloadError`` naming the field. Mappers never raise ``KeyError`` or
  ``TypeError``.
- an order line that cannot be placed (no SKU, a SKU not in the catalogue, a quantity out of
  range): an ``UnresolvedLine`` and a ``manual`` hold naming it. The line is never dropped.
- an order that cannot become a valid request (no shipping address, no e-mail, an amount with
  more decimals than its currency has, no placeable line at all): ``request`` is None and
  ``problems`` says why, so the service can record the order for manual handling rather than
  lose it. ``request is None`` exactly when ``problems`` is not empty.

Values are never invented: a phone that is not already E.164 is dropped, amounts are never
rounded, a missing address is not filled from another one. docs/channels.md has the field-by-field
tables and the reasons for each choice.

The modules: ``shopify`` and ``woocommerce`` read each store's fields; ``assembly`` builds the
order from what they read (lines, addresses, customer); ``order_reader`` collects the problems and
reads money; ``status_rules`` says what each store status means; ``channel_order`` is the result;
``fingerprint`` tells a re-sent order that changes nothing. JSON types are read with
``domain.untrusted_json``.

Pure: no I/O, no clock.
"""

from .channel_order import (
    ChannelOrder,
    ChannelPayloadError,
    StaleStoreOrder,
    UnresolvedLine,
    check_store_version,
)
from .fingerprint import order_fingerprint
from .shopify import map_shopify_order
from .status_rules import SHOPIFY_FINANCIAL_STATUS, WOOCOMMERCE_STATUS, StatusRule
from .woocommerce import is_woocommerce_ping, map_woocommerce_order

__all__ = [
    "SHOPIFY_FINANCIAL_STATUS",
    "WOOCOMMERCE_STATUS",
    "ChannelOrder",
    "ChannelPayloadError",
    "StaleStoreOrder",
    "StatusRule",
    "UnresolvedLine",
    "check_store_version",
    "is_woocommerce_ping",
    "map_shopify_order",
    "map_woocommerce_order",
    "order_fingerprint",
]
