"""A channel's store-API connection: validation (``chalicelib.domain.store_connection``) and the
change use case (``chalicelib.service.channels.update_channel``) over in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import InputInvalid
from chalicelib.domain.events import EventType
from chalicelib.domain.models import Channel, ChannelKind
from chalicelib.domain.outbound import UnsafeUrl
from chalicelib.domain.store_api import ShopifyCredentials, WooCommerceCredentials
from chalicelib.domain.store_connection import (
    StoreApiRequest,
    check_store_url,
    credentials_from_request,
    credentials_from_secret,
    secret_line,
)
from chalicelib.service.channels import StoreConnectionChange, store_credentials, update_channel
from tests.unit.fakes import START, FakeChannelRepository, FakeClock, FakeSecrets, SequentialIds

SHOP_URL = "https://shop.example.com"
LOCATION = "gid://shopify/Location/101"
SHOPIFY = StoreApiRequest(url=SHOP_URL, access_token="shpat_123")
WOO = StoreApiRequest(url="https://woo.example.com", consumer_key="ck_1", consumer_secret="cs_1")


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://shop.example.com", "https"),
        ("ftp://shop.example.com", "https"),
        ("https://user:pw@shop.example.com", "credentials"),
        ("https://shop.example.com/admin", "base URL"),
        ("https://shop.example.com?x=1", "base URL"),
        ("https://shop.example.com#top", "base URL"),
        ("shop.example.com", "host"),
        ("https://shop.example.com:99999", "not a URL"),
        ("http://127.0.0.1", "127.0.0.1 or localhost with a port"),
        ("http://10.0.0.1:8080", "https"),
    ],
)
def test_a_store_url_that_is_not_a_plain_https_base_is_refused_with_the_reason(url: str, why: str) -> None:
    problem = check_store_url(url, allow_loopback=True)

    assert problem is not None and why in problem


def test_plain_http_to_loopback_with_a_port_is_allowed_only_where_the_stage_allows_loopback() -> None:
    assert check_store_url("http://127.0.0.1:8123", allow_loopback=True) is None
    assert check_store_url("http://localhost:8123/", allow_loopback=True) is None
    assert check_store_url("http://127.0.0.1:8123", allow_loopback=False) is not None


def test_credentials_of_the_other_kind_and_missing_ones_are_named_field_by_field() -> None:
    with pytest.raises(InputInvalid) as refused:
        credentials_from_request(
            ChannelKind.SHOPIFY,
            StoreApiRequest(url=SHOP_URL, consumer_key="ck", consumer_secret="cs"),
            allow_loopback=False,
        )

    assert sorted(tuple(e.loc) for e in refused.value.errors) == [
        ("store_api", "access_token"),
        ("store_api", "consumer_key"),
        ("store_api", "consumer_secret"),
    ]


def test_an_empty_or_spaced_token_is_refused() -> None:
    for token in ("", "shpat 123"):
        with pytest.raises(InputInvalid):
            credentials_from_request(
                ChannelKind.SHOPIFY, StoreApiRequest(url=SHOP_URL, access_token=token), allow_loopback=False
            )


def test_an_api_channel_has_no_store_api() -> None:
    with pytest.raises(InputInvalid):
        credentials_from_request(ChannelKind.API, SHOPIFY, allow_loopback=False)


def test_credentials_never_show_their_secret_in_a_repr() -> None:
    shown = repr(credentials_from_request(ChannelKind.WOOCOMMERCE, WOO, allow_loopback=False))

    assert "cs_1" not in shown and "woo.example.com" in shown


def test_a_stored_set_is_read_only_for_the_url_and_version_it_was_stamped_with() -> None:
    credentials = ShopifyCredentials(url=SHOP_URL, access_token="shpat_123")
    lines = ["not json", secret_line(credentials, START)]

    assert credentials_from_secret(ChannelKind.SHOPIFY, lines, url=SHOP_URL, version=START) == credentials
    assert (
        credentials_from_secret(ChannelKind.SHOPIFY, lines, url="https://evil.example", version=START) is None
    )
    assert credentials_from_secret(ChannelKind.SHOPIFY, lines[:1], url=SHOP_URL, version=START) is None


# -- the use case ------------------------------------------------------------------------------------


@pytest.fixture
def repo() -> FakeChannelRepository:
    repo = FakeChannelRepository()
    repo.create(Channel(id="shop", name="Shop", kind=ChannelKind.SHOPIFY))
    repo.create(Channel(id="woo", name="Woo", kind=ChannelKind.WOOCOMMERCE))
    repo.create(Channel(id="web", name="Web", kind=ChannelKind.API))
    return repo


def change(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    channel_id: str,
    store_api: Any = "keep",
    clock: FakeClock | None = None,
    **changes: object,
) -> Channel:
    store = StoreConnectionChange() if store_api == "keep" else StoreConnectionChange(store_api=store_api)
    return update_channel(
        repo,
        secrets,
        channel_id,
        dict(changes),
        signing_secret=None,
        retire_previous_secret=False,
        store=store,
        clock=clock or FakeClock(),
        ids=SequentialIds(),
    ).channel


def test_connecting_a_shop_stores_the_token_write_only_and_records_an_event_without_it() -> None:
    repo, secrets = FakeChannelRepository(), FakeSecrets()
    repo.create(Channel(id="shop", name="Shop", kind=ChannelKind.SHOPIFY))

    channel = change(repo, secrets, "shop", SHOPIFY, locations={"wh_east": LOCATION}, stock_sync=True)

    assert channel.store_api is not None and channel.store_api.url == SHOP_URL
    assert channel.store_api.updated_at == START
    assert "shpat_123" not in channel.model_dump_json()
    assert store_credentials(secrets, channel) == ShopifyCredentials(url=SHOP_URL, access_token="shpat_123")
    [event] = repo.events
    assert event.type == EventType.CHANNEL_STORE_API_CHANGED and event.channel_id == "shop"
    assert "shpat_123" not in event.model_dump_json()
    assert event.data["stock_sync"] is True and event.data["locations"] == {"wh_east": LOCATION}


def test_replacing_credentials_keeps_the_old_set_until_the_channel_is_saved(
    repo: FakeChannelRepository,
) -> None:
    secrets = FakeSecrets()
    first = change(repo, secrets, "woo", WOO)
    clock = FakeClock()
    clock.advance(minutes=5)

    second = change(
        repo, secrets, "woo", StoreApiRequest(url=WOO.url, consumer_key="ck_2", consumer_secret="cs_2"), clock
    )

    # During the change both sets were stored, the new one first; after it, only the new one.
    name = "store-api/woocommerce/woo"
    assert [len(values) for stored, values in secrets.puts if stored == name] == [1, 2, 1]
    assert store_credentials(secrets, first) is None  # the channel moved on; its old stamp is gone
    assert store_credentials(secrets, second) == WooCommerceCredentials(WOO.url, "ck_2", "cs_2")


def test_a_failed_save_leaves_the_channel_on_its_previous_credentials(repo: FakeChannelRepository) -> None:
    secrets = FakeSecrets()
    before = change(repo, secrets, "woo", WOO)

    def failing_save(channel: Channel, *, event: object = None) -> None:
        raise RuntimeError("DynamoDB is down")

    repo.save = failing_save  # type: ignore[method-assign]
    clock = FakeClock()
    clock.advance(minutes=5)
    with pytest.raises(RuntimeError):
        change(
            repo,
            secrets,
            "woo",
            StoreApiRequest(url=WOO.url, consumer_key="ck_2", consumer_secret="cs_2"),
            clock,
        )

    assert store_credentials(secrets, before) == WooCommerceCredentials(WOO.url, "ck_1", "cs_1")


def test_disconnecting_deletes_the_credentials_and_stops_stock_sync(repo: FakeChannelRepository) -> None:
    secrets = FakeSecrets()
    change(repo, secrets, "shop", SHOPIFY, locations={"wh_east": LOCATION}, stock_sync=True)

    channel = change(repo, secrets, "shop", None)

    assert channel.store_api is None and not channel.stock_sync
    assert secrets.secrets("store-api/shopify/shop") == []
    assert repo.events[-1].data["store_api"] is None


@pytest.mark.parametrize(
    ("channel_id", "fields", "loc"),
    [
        ("woo", {"locations": {"wh_east": LOCATION}}, ["locations"]),
        ("shop", {"locations": {"wh_east": "101"}}, ["locations", "wh_east"]),
        ("shop", {"stock_sync": True}, ["stock_sync"]),
        ("web", {"stock_sync": True}, ["stock_sync"]),
    ],
)
def test_locations_and_stock_sync_that_do_not_fit_the_channel_are_refused_and_nothing_is_written(
    repo: FakeChannelRepository, channel_id: str, fields: dict[str, object], loc: list[str]
) -> None:
    secrets = FakeSecrets()
    writes = list(repo.writes)

    with pytest.raises(InputInvalid) as refused:
        change(repo, secrets, channel_id, **fields)

    assert [e.loc for e in refused.value.errors] == [loc]
    assert repo.writes == writes and secrets.puts == [] and repo.events == []


def test_a_shop_with_a_mapped_location_but_no_store_api_cannot_sync_stock(
    repo: FakeChannelRepository,
) -> None:
    with pytest.raises(InputInvalid):
        change(repo, FakeSecrets(), "shop", locations={"wh_east": LOCATION}, stock_sync=True)


def test_an_unreachable_store_url_is_refused_like_a_webhook_endpoint(repo: FakeChannelRepository) -> None:
    def refuse(url: str) -> None:
        raise UnsafeUrl("10.0.0.1 is not a public address")

    with pytest.raises(InputInvalid) as refused:
        update_channel(
            repo,
            FakeSecrets(),
            "shop",
            {},
            signing_secret=None,
            retire_previous_secret=False,
            store=StoreConnectionChange(store_api=SHOPIFY, check_reachable=refuse),
            clock=FakeClock(),
            ids=SequentialIds(),
        )

    assert refused.value.errors[0].loc == ["store_api", "url"]


def test_a_name_change_alone_records_no_store_event(repo: FakeChannelRepository) -> None:
    change(repo, FakeSecrets(), "shop", name="Renamed")

    assert repo.events == []
