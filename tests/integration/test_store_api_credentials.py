"""A store channel's API credentials over ``PATCH /v1/channels/{id}`` on moto: stored write-only
in SSM SecureString, never returned, removed with ``null``, each change recorded as an event in
the transaction of the channel change; bad input answered with a problem and nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.bootstrap import reset_services
from infra.local.pump import EventPump
from tests.integration.conftest import STAGE, Stack, get, patch_json
from tests.integration.loopback import controlled_resolver

SHOP_TOKEN = "shpat_0123456789abcdef"
LOCATION = "gid://shopify/Location/7001"


def parameter(stack: Stack, name: str) -> dict[str, Any] | None:
    ssm = stack.client("ssm")
    try:
        found: dict[str, Any] = ssm.get_parameter(Name=f"/oms/{STAGE}/{name}", WithDecryption=True)[
            "Parameter"
        ]
    except ssm.exceptions.ParameterNotFound:
        return None
    return found


def channel_events(stack: Stack, channel_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(json.dumps(item))
        for item in stack.items(f"CHANNEL#{channel_id}")
        if item["pk"]["S"] == f"CHANNEL#{channel_id}"
    ]


@pytest.fixture(autouse=True)
def store_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stores' host names resolve without a network: two public addresses, one internal."""
    controlled_resolver(
        monkeypatch,
        {
            "demo-shop.example.com": lambda _: "93.184.216.34",
            "woo.example.com": lambda _: "93.184.216.35",
            "intranet.example.com": lambda _: "10.1.2.3",
        },
    )


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage that allows plain http to loopback (the local stack and tests), as for webhooks."""
    monkeypatch.setenv("OMS_ALLOW_LOOPBACK_WEBHOOKS", "true")
    reset_services()


def test_a_shopify_token_is_stored_as_a_secure_string_and_never_shown_again(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    admin = stack.keys["admin"]
    body = {
        "store_api": {"url": "https://demo-shop.example.com/", "access_token": SHOP_TOKEN},
        "locations": {"east": LOCATION},
        "stock_sync": True,
    }

    response = patch_json(client, "/v1/channels/shop", body, admin)

    assert response.status_code == 200, response.body
    shown = json.loads(response.body)
    assert shown["store_api"]["url"] == "https://demo-shop.example.com"
    assert shown["store_api"]["configured"] is True and shown["store_api"]["updated_at"]
    assert shown["locations"] == {"east": LOCATION} and shown["stock_sync"] is True
    assert SHOP_TOKEN.encode() not in response.body
    read = get(client, "/v1/channels/shop", admin)
    assert json.loads(read.body)["store_api"] == shown["store_api"] and SHOP_TOKEN.encode() not in read.body
    stored = parameter(stack, "store-api/shopify/shop")
    assert stored is not None and stored["Type"] == "SecureString" and SHOP_TOKEN in stored["Value"]
    [event] = channel_events(stack, "shop")
    assert event["type"]["S"] == "channel.store_api_changed"
    assert SHOP_TOKEN not in json.dumps(event)
    pump.run_until_idle(timeout=30)  # the relay carries the channel's event out like any other


def test_woocommerce_keys_are_stored_and_null_disconnects_the_store(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    keys = {"url": "https://woo.example.com", "consumer_key": "ck_abc", "consumer_secret": "cs_def"}
    assert patch_json(client, "/v1/channels/woo", {"store_api": keys}, admin).status_code == 200

    removed = patch_json(client, "/v1/channels/woo", {"store_api": None}, admin)

    assert removed.status_code == 200, removed.body
    assert json.loads(removed.body)["store_api"] is None
    assert parameter(stack, "store-api/woocommerce/woo") is None
    assert [e["type"]["S"] for e in channel_events(stack, "woo")] == ["channel.store_api_changed"] * 2


@pytest.mark.parametrize(
    ("channel_id", "store_api", "field"),
    [
        (
            "shop",
            {"url": "https://s.example.com", "consumer_key": "ck", "consumer_secret": "cs"},
            "access_token",
        ),
        ("woo", {"url": "https://w.example.com", "access_token": SHOP_TOKEN}, "consumer_key"),
        ("shop", {"url": "http://s.example.com", "access_token": SHOP_TOKEN}, "url"),
        ("shop", {"url": "http://127.0.0.1:8080", "access_token": SHOP_TOKEN}, "url"),
        ("shop", {"url": "https://s.example.com/admin?x=1", "access_token": SHOP_TOKEN}, "url"),
        ("shop", {"url": "https://me:pw@s.example.com", "access_token": SHOP_TOKEN}, "url"),
        ("shop", {"url": "https://s.example.com", "access_token": "  "}, "access_token"),
        ("web", {"url": "https://s.example.com", "access_token": SHOP_TOKEN}, "store_api"),
    ],
)
def test_store_credentials_that_do_not_fit_are_a_problem_and_write_nothing(
    client: Client, stack: Stack, channel_id: str, store_api: dict[str, str], field: str
) -> None:
    before = get(client, f"/v1/channels/{channel_id}", stack.keys["admin"]).body

    response = patch_json(client, f"/v1/channels/{channel_id}", {"store_api": store_api}, stack.keys["admin"])

    assert response.status_code == 422, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert any(field in error["loc"] for error in problem["errors"]), problem
    assert get(client, f"/v1/channels/{channel_id}", stack.keys["admin"]).body == before
    assert channel_events(stack, channel_id) == []
    for kind in ("shopify", "woocommerce", "api"):
        assert parameter(stack, f"store-api/{kind}/{channel_id}") is None


def test_a_store_url_whose_name_resolves_to_an_internal_address_is_refused(
    client: Client, stack: Stack
) -> None:
    body = {"store_api": {"url": "https://intranet.example.com", "access_token": SHOP_TOKEN}}

    response = patch_json(client, "/v1/channels/shop", body, stack.keys["admin"])

    assert response.status_code == 422
    assert json.loads(response.body)["errors"][0]["type"] == "unsafe_url"
    assert parameter(stack, "store-api/shopify/shop") is None


def test_plain_http_to_loopback_is_accepted_where_the_stage_allows_it(
    client: Client, stack: Stack, loopback: None
) -> None:
    body = {"store_api": {"url": "http://127.0.0.1:8123", "access_token": SHOP_TOKEN}}

    response = patch_json(client, "/v1/channels/shop", body, stack.keys["admin"])

    assert response.status_code == 200, response.body
    assert json.loads(response.body)["store_api"]["url"] == "http://127.0.0.1:8123"


def test_stock_sync_without_a_connected_store_is_refused(client: Client, stack: Stack) -> None:
    response = patch_json(client, "/v1/channels/woo", {"stock_sync": True}, stack.keys["admin"])

    assert response.status_code == 422
    assert json.loads(response.body)["errors"][0]["loc"] == ["stock_sync"]
