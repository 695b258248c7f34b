"""Secrets from SSM Parameter Store (SecureString), cached briefly per Lambda container.

Layout, per stage (``OMS_SECRETS_PREFIX``, default ``/oms/<stage>``):

- ``<prefix>/webhooks/<provider>``: inbound webhook secrets (easypost, aftership,
  shippo_token, standard_webhooks);
- ``<prefix>/webhooks/<provider>/<channel id>``: per-channel store secrets
  (shopify, woocommerce);
- ``<prefix>/store-api/<kind>/<channel id>``: a store's API credentials (write-back), one JSON
  line per credential set (``chalicelib/domain/store_connection.py``);
- ``<prefix>/signing/links``: the key that signs links in e-mails.

A parameter may hold several secrets, one per line: during a rotation the new
one and the old one are both accepted. Callers get a list, newest first.
"""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.adapters.cache import TtlCache

#: A rotated secret is picked up within this many seconds by warm containers.
SECRET_CACHE_SECONDS = 60.0


class SecretStore:
    def __init__(self, ssm: Any, prefix: str, *, cache_seconds: float = SECRET_CACHE_SECONDS) -> None:
        self.ssm = ssm
        self.prefix = prefix.rstrip("/")
        self.cache = TtlCache(cache_seconds)

    def secrets(self, name: str) -> list[str]:
        """The secrets stored under ``<prefix>/<name>``; an empty list when there are none."""
        cached = self.cache.get(name)
        if cached is not None:
            return list(cached)
        try:
            response = self.ssm.get_parameter(Name=f"{self.prefix}/{name}", WithDecryption=True)
            values = [line.strip() for line in response["Parameter"]["Value"].splitlines() if line.strip()]
        except self.ssm.exceptions.ParameterNotFound:
            values = []
        self.cache.put(name, values)
        return values

    def put(self, name: str, values: list[str]) -> None:
        """Store secrets (newest first). Used by seeding and channel administration."""
        self.ssm.put_parameter(
            Name=f"{self.prefix}/{name}", Value="\n".join(values), Type="SecureString", Overwrite=True
        )
        self.cache.clear()

    def delete(self, name: str) -> None:
        """Remove ``<prefix>/<name>``; nothing happens when it is not there."""
        with contextlib.suppress(self.ssm.exceptions.ParameterNotFound):
            self.ssm.delete_parameter(Name=f"{self.prefix}/{name}")
        self.cache.clear()
