"""Fake store APIs over real HTTP on 127.0.0.1 (Shopify Admin GraphQL, WooCommerce REST), for the
integration and e2e tests of the write-back.

    with serving(fake := FakeShopify()):
        client = ShopifyStoreApi(ShopifyCredentials(fake.url, fake.access_token), allow_loopback=True)

Both record every request (``fake.requests``) and can be told to fail the next calls
(``answer_429_next``, ``answer_401_next``, ``answer_500_next``; Shopify also ``set_bucket`` for
cost throttling, ``throttle_next`` and ``denied_fields`` for a missing scope).
"""

from tests.fake_stores._server import Answer, RecordedRequest, serving
from tests.fake_stores.shopify import FakeShopify
from tests.fake_stores.woocommerce import FakeWooCommerce

__all__ = ["Answer", "FakeShopify", "FakeWooCommerce", "RecordedRequest", "serving"]
