"""Outbound webhooks' rules (``chalicelib.domain.outbound``): the retry schedule, stable webhook ids,
what an endpoint wants, and which URLs and addresses the service refuses to call (SSRF)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from chalicelib.domain.events import EventType
from chalicelib.domain.outbound import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    SUBSCRIBABLE_EVENTS,
    EndpointStatus,
    UnsafeUrl,
    WebhookEndpoint,
    check_address,
    check_url_syntax,
    retry_delay,
    webhook_id,
)
from tests.unit.fakes import START

HOUR = 3600

# -- retries ---------------------------------------------------------------------------------------


def test_the_retries_back_off_and_together_last_about_a_day() -> None:
    delays = [retry_delay(attempt) for attempt in range(1, MAX_ATTEMPTS)]

    assert delays == list(RETRY_DELAYS)
    assert all(a < b for a, b in pairwise(delays))
    assert 20 * HOUR <= sum(delays) <= 28 * HOUR


def test_the_first_retry_comes_after_a_minute() -> None:
    assert retry_delay(1) == 60


def test_attempts_beyond_the_schedule_wait_the_longest_delay_and_below_it_the_shortest() -> None:
    assert retry_delay(MAX_ATTEMPTS) == retry_delay(100) == 12 * HOUR
    assert retry_delay(0) == retry_delay(-3) == 60


def test_a_delivery_is_tried_once_more_than_there_are_delays() -> None:
    assert MAX_ATTEMPTS == len(RETRY_DELAYS) + 1 == 8


# -- ids and subscriptions -------------------------------------------------------------------------


def test_the_webhook_id_is_derived_from_the_event_and_the_endpoint() -> None:
    assert webhook_id("evt_0042", "whe_0007") == "msg_0042_0007"
    assert webhook_id("evt_0042", "whe_0007") == webhook_id("evt_0042", "whe_0007")
    assert webhook_id("evt_0042", "whe_0008") != webhook_id("evt_0042", "whe_0007")
    assert webhook_id("evt_0043", "whe_0007") != webhook_id("evt_0042", "whe_0007")


def endpoint(*events: str, status: EndpointStatus = EndpointStatus.ACTIVE) -> WebhookEndpoint:
    return WebhookEndpoint(
        id="whe_0001",
        channel_id="ch_web",
        url="https://shop.example.com/hooks",
        events=list(events),
        status=status,
        created_at=START,
        updated_at=START,
    )


def test_an_active_endpoint_wants_the_event_types_it_subscribed_to_only() -> None:
    subscribed = endpoint("order.confirmed", "fulfillment.shipped")

    assert subscribed.wants("fulfillment.shipped") is True
    assert subscribed.wants("order.cancelled") is False


def test_a_disabled_endpoint_wants_nothing() -> None:
    assert endpoint("order.confirmed", status=EndpointStatus.DISABLED).wants("order.confirmed") is False


def test_stores_may_subscribe_to_order_events_but_not_to_the_service_s_own_bookkeeping() -> None:
    assert {"order.confirmed", "fulfillment.shipped", "refund.requested"} <= SUBSCRIBABLE_EVENTS
    internal = {
        EventType.NOTIFICATION_SENT,
        EventType.CHANNEL_ORDER_RECEIVED,
        EventType.CHANNEL_WEBHOOK_IGNORED,
        EventType.TRACKING_RECEIVED,
        EventType.INVENTORY_COUNTED,
        EventType.ORDER_RECEIVED,
    }
    assert not internal & SUBSCRIBABLE_EVENTS


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://shop.example.com/hooks/oms", "shop.example.com"),
        ("http://Shop.Example.com:8080/x?y=1", "shop.example.com"),
        ("https://[2001:db8::1]/hooks", "2001:db8::1"),
        ("http://127.0.0.1:9000/receiver", "127.0.0.1"),  # syntax only: addresses are checked later
    ],
)
def test_an_http_or_https_url_with_a_host_passes_the_syntax_check(url: str, host: str) -> None:
    assert check_url_syntax(url, require_https=False) == host


def test_only_https_passes_when_https_is_required() -> None:
    assert check_url_syntax("https://shop.example.com/hooks", require_https=True) == "shop.example.com"
    with pytest.raises(UnsafeUrl, match="only https URLs are allowed"):
        check_url_syntax("http://shop.example.com/hooks", require_https=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://shop.example.com/hooks", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://shop.example.com/", "only http and https"),
        ("shop.example.com/hooks", "only http and https"),
        ("https:///hooks", "no host"),
        ("https://user:secret@shop.example.com/hooks", "credentials"),
        ("https://user@shop.example.com/hooks", "credentials"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(UnsafeUrl, match=why):
        check_url_syntax(url, require_https=False)


# -- addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.169.254",  # the instance metadata service
        "fd00:ec2::254",  # the instance metadata service over IPv6
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::ffff:10.0.0.1",  # a private IPv4 address written as IPv6
        "::ffff:169.254.169.254",
    ],
)
def test_private_link_local_and_other_non_public_addresses_are_refused(address: str) -> None:
    for allow_loopback in (False, True):
        with pytest.raises(UnsafeUrl, match="not a public address"):
            check_address(address, allow_loopback=allow_loopback)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1"])
def test_loopback_is_refused_unless_the_local_stack_allows_it(address: str) -> None:
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_address(address, allow_loopback=False)

    check_address(address, allow_loopback=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    check_address(address, allow_loopback=False)


def test_the_shared_address_space_is_not_a_public_address() -> None:
    with pytest.raises(UnsafeUrl):
        check_address("100.64.0.1", allow_loopback=False)
