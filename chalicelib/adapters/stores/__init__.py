"""Clients of the stores' own APIs (Shopify Admin GraphQL, WooCommerce REST) for the write-back.

:class:`HttpStoreApis` builds the ``StoreApi`` (``chalicelib.service.ports``) of a channel from
its credentials; everything goes through the SSRF-safe sender (``chalicelib.adapters.http_sender``).
"""

from __future__ import annotations

from chalicelib.adapters.stores.shopify import SHOPIFY_API_VERSION, ShopifyStoreApi
from chalicelib.adapters.stores.woocommerce import WooCommerceStoreApi
from chalicelib.domain.store_api import ShopifyCredentials, StoreCredentials, WooCommerceCredentials
from chalicelib.service.ports import StoreApi

__all__ = ["SHOPIFY_API_VERSION", "HttpStoreApis", "ShopifyStoreApi", "WooCommerceStoreApi"]


class HttpStoreApis:
    """``StoreApis``: loopback store URLs only where the stage allows them (the local stack, tests)."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def for_credentials(self, credentials: StoreCredentials) -> StoreApi:
        if isinstance(credentials, ShopifyCredentials):
            return ShopifyStoreApi(credentials, allow_loopback=self.allow_loopback)
        if isinstance(credentials, WooCommerceCredentials):
            return WooCommerceStoreApi(credentials, allow_loopback=self.allow_loopback)
        raise TypeError(f"no store API client for {type(credentials).__name__}")
