"""A channel's connection to its store's API: the URL, the credentials, where stock goes.

Shopify is reached with an Admin API access token; WooCommerce with a REST API consumer key and
secret. The URL is the store's base (``https://shop.example.com``): the clients add the API's
path. The URL and a ``configured`` flag are part of the channel; the credentials are write-only
and live in the secret store (SSM SecureString) under ``store-api/<kind>/<channel id>``.

What is stored there is one JSON line per credential set, newest first, each stamped with the
URL and the time of the change it belongs to (the channel's ``store_api.updated_at``). A reader
uses only the set whose stamp matches the channel: the secret and the channel cannot be written
in one transaction, so a change that stopped between the two writes leaves the previous set
matching the channel, and never sends a token to a URL it was not given for.

Pure: validation and the secret's format; the service does the writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from .errors import FieldError, InputInvalid
from .models import ChannelKind, format_timestamp
from .store_api import ShopifyCredentials, StoreCredentials, WooCommerceCredentials

#: Hosts plain http may name, and only where the stage allows loopback (the local stack, tests).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
#: A Shopify location id as the Admin GraphQL API gives it.
SHOPIFY_LOCATION = re.compile(r"^gid://shopify/Location/[0-9]{1,20}$")
#: Warehouses one channel may map (each is a stock push per SKU).
MAX_LOCATIONS = 50
_CREDENTIAL = re.compile(r"^[\x21-\x7e]{1,512}$")


def store_api_secret_name(kind: ChannelKind, channel_id: str) -> str:
    return f"store-api/{kind.value}/{channel_id}"


@dataclass(frozen=True)
class StoreApiRequest:
    """What a ``PATCH /v1/channels/{id}`` asked for under ``store_api``, not yet checked."""

    url: str
    access_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None


#: The credential fields each kind takes.
_FIELDS: Mapping[ChannelKind, tuple[str, ...]] = {
    ChannelKind.SHOPIFY: ("access_token",),
    ChannelKind.WOOCOMMERCE: ("consumer_key", "consumer_secret"),
}


def check_store_url(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot be a store's API base, or None when it can.

    https with a host and nothing else: no credentials, path, query or fragment (the clients add
    the API's path; anything else in the URL would be sent somewhere nobody checked). Plain http
    only to ``127.0.0.1`` or ``localhost`` with a port, where the stage allows loopback.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    host = parts.hostname
    if not host:
        return "must be an absolute URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials; send them as access_token or consumer_key/consumer_secret"
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be the store's base URL only (no path, query or fragment)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_loopback and host in LOOPBACK_HOSTS and port is not None:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return "plain http is only for 127.0.0.1 or localhost with a port, in the local stack and tests"
    return "must be an https URL"


def base_url(url: str) -> str:
    """The URL as stored: scheme, host and port, lower case, without a trailing slash."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def credentials_from_request(
    kind: ChannelKind, request: StoreApiRequest, *, allow_loopback: bool
) -> StoreCredentials:
    """The credentials asked for, or ``InputInvalid`` naming every field that is wrong."""
    if kind not in _FIELDS:
        raise InputInvalid([FieldError(["store_api"], "api channels have no store to write back to")])
    errors: list[FieldError] = []
    problem = check_store_url(request.url, allow_loopback=allow_loopback)
    if problem is not None:
        errors.append(FieldError(["store_api", "url"], problem, "store_url"))
    given = {
        name: getattr(request, name)
        for name in ("access_token", "consumer_key", "consumer_secret")
        if getattr(request, name) is not None
    }
    for name in sorted(set(given) - set(_FIELDS[kind])):
        errors.append(FieldError(["store_api", name], f"is not a {kind.value} credential", "extra_forbidden"))
    for name in _FIELDS[kind]:
        value = given.get(name)
        if not value:
            errors.append(
                FieldError(["store_api", name], f"a {kind.value} store needs its {name}", "missing")
            )
        elif not _CREDENTIAL.match(value):
            errors.append(
                FieldError(
                    ["store_api", name], "must be 1-512 printable characters without spaces", "credential"
                )
            )
    if errors:
        raise InputInvalid(errors)
    url = base_url(request.url)
    if kind == ChannelKind.SHOPIFY:
        return ShopifyCredentials(url=url, access_token=given["access_token"])
    return WooCommerceCredentials(
        url=url, consumer_key=given["consumer_key"], consumer_secret=given["consumer_secret"]
    )


def check_locations(kind: ChannelKind, locations: Mapping[str, str]) -> list[FieldError]:
    """Warehouse id -> the store's location. Only Shopify has locations: WooCommerce keeps one
    stock count per product (the pushed value is the sum over every warehouse)."""
    if not locations:
        return []
    if kind != ChannelKind.SHOPIFY:
        return [FieldError(["locations"], f"a {kind.value} store has no locations: leave it empty")]
    if len(locations) > MAX_LOCATIONS:
        return [FieldError(["locations"], f"at most {MAX_LOCATIONS} warehouses may be mapped")]
    return [
        FieldError(["locations", warehouse], "must be a Shopify location id, gid://shopify/Location/<number>")
        for warehouse, location in sorted(locations.items())
        if not SHOPIFY_LOCATION.match(location)
    ]


def check_stock_sync(
    kind: ChannelKind, *, stock_sync: bool, connected: bool, locations: Mapping[str, str]
) -> list[FieldError]:
    """Stock is pushed only through a connected API, and to Shopify only where a location is mapped."""
    if not stock_sync:
        return []
    if not connected:
        return [FieldError(["stock_sync"], "needs the store's API connected (store_api)")]
    if kind == ChannelKind.SHOPIFY and not locations:
        return [
            FieldError(
                ["stock_sync"], "needs at least one warehouse mapped to a Shopify location (locations)"
            )
        ]
    return []


def secret_line(credentials: StoreCredentials, version: datetime) -> str:
    """One credential set as stored: JSON on one line, stamped with its URL and version."""
    fields = {"url": credentials.url, "version": format_timestamp(version)}
    if isinstance(credentials, ShopifyCredentials):
        fields["access_token"] = credentials.access_token
    else:
        fields["consumer_key"] = credentials.consumer_key
        fields["consumer_secret"] = credentials.consumer_secret
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


def credentials_from_secret(
    kind: ChannelKind, lines: list[str], *, url: str, version: datetime
) -> StoreCredentials | None:
    """The stored set made for exactly this URL and version; None when there is none."""
    stamp = format_timestamp(version)
    for line in lines:
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if not isinstance(fields, dict) or fields.get("url") != url or fields.get("version") != stamp:
            continue
        try:
            if kind == ChannelKind.SHOPIFY:
                return ShopifyCredentials(url=url, access_token=str(fields["access_token"]))
            if kind == ChannelKind.WOOCOMMERCE:
                return WooCommerceCredentials(
                    url=url,
                    consumer_key=str(fields["consumer_key"]),
                    consumer_secret=str(fields["consumer_secret"]),
                )
        except KeyError:
            continue
    return None
