"""Channel administration and signed webhooks back to the stores (``chalicelib.service.channels``),
over an in-memory channel repository and secret store."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import Channel, ChannelKind
from chalicelib.domain.outbound import (
    MAX_ENDPOINTS_PER_CHANNEL,
    Delivery,
    EndpointStatus,
    UnsafeUrl,
    WebhookEndpoint,
    webhook_id,
)
from chalicelib.service.channels import (
    Delivered,
    DeliveryJob,
    SendOutcome,
    create_channel,
    deliver,
    endpoint_secret_name,
    get_channel,
    jobs_for,
    list_deliveries,
    register_endpoint,
    store_secret_name,
    update_channel,
    webhook_body,
)
from tests.unit.fakes import START, FakeChannelRepository, FakeClock, FakeSecrets, SequentialIds

SHOP = "shopify-demo"
SHOP_SECRET_NAME = f"webhooks/shopify/{SHOP}"


@pytest.fixture
def repo() -> FakeChannelRepository:
    return FakeChannelRepository()


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()


def shop_channel(**fields: Any) -> Channel:
    return Channel(**{"id": SHOP, "name": "Demo store", "kind": "shopify", **fields})


@pytest.fixture
def shop(repo: FakeChannelRepository, secrets: FakeSecrets) -> Channel:
    """A Shopify channel with one signing secret, ``old-secret``."""
    create_channel(repo, secrets, shop_channel(), "old-secret")
    repo.writes.clear()
    secrets.puts.clear()
    return shop_channel()


def update(repo: FakeChannelRepository, secrets: FakeSecrets, channel_id: str = SHOP, **kwargs: Any):
    changes = kwargs.pop("changes", {})
    kwargs.setdefault("signing_secret", None)
    kwargs.setdefault("retire_previous_secret", False)
    return update_channel(repo, secrets, channel_id, changes, **kwargs)


# -- channels ------------------------------------------------------------------------------------


def test_secrets_are_named_after_the_store_kind_and_the_channel() -> None:
    assert store_secret_name(ChannelKind.WOOCOMMERCE, "wc-1") == "webhooks/woocommerce/wc-1"
    assert endpoint_secret_name("whe_0001") == "webhook-endpoints/whe_0001"


def test_a_store_channel_is_created_with_its_signing_secret_kept_apart(
    repo: FakeChannelRepository, secrets: FakeSecrets
) -> None:
    state = create_channel(repo, secrets, shop_channel(shop_domain="demo.myshopify.com"), "s3cret-one")

    assert state.channel == repo.get(SHOP) == shop_channel(shop_domain="demo.myshopify.com")
    assert state.signing_secrets == 1
    assert secrets.values == {SHOP_SECRET_NAME: ["s3cret-one"]}
    assert "s3cret-one" not in json.dumps(repo.channels)  # never stored with the channel


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
@pytest.mark.parametrize("secret", [None, ""])
def test_a_store_channel_without_a_signing_secret_is_refused(
    repo: FakeChannelRepository, secrets: FakeSecrets, kind: str, secret: str | None
) -> None:
    with pytest.raises(InputInvalid) as raised:
        create_channel(repo, secrets, shop_channel(kind=kind), secret)

    assert [e.loc for e in raised.value.errors] == [["signing_secret"]]
    assert (repo.channels, secrets.puts) == ({}, [])


def test_an_api_channel_needs_no_secret_and_refuses_one(
    repo: FakeChannelRepository, secrets: FakeSecrets
) -> None:
    plain = create_channel(repo, secrets, Channel(id="web", name="Web"), None)
    with pytest.raises(InputInvalid, match="api channels authenticate with API keys"):
        create_channel(repo, secrets, Channel(id="web-2", name="Web 2"), "not-for-api")

    assert plain.signing_secrets == 0
    assert secrets.puts == []
    assert repo.get("web") == Channel(id="web", name="Web")
    assert repo.get("web-2") is None


def test_a_channel_id_that_is_taken_is_a_conflict_and_keeps_its_secret(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    with pytest.raises(Conflict, match="exists already"):
        create_channel(repo, secrets, shop_channel(name="Impostor"), "new-secret")

    assert repo.get(SHOP) == shop
    assert secrets.values[SHOP_SECRET_NAME] == ["old-secret"]


def test_a_create_that_loses_the_race_for_the_id_leaves_the_winner_s_secret_alone(
    repo: FakeChannelRepository, secrets: FakeSecrets
) -> None:
    class Racing(FakeChannelRepository):
        def get(self, channel_id: str) -> Channel | None:
            return None  # read before the other request's create landed

    racing = Racing()
    create_channel(racing, secrets, shop_channel(), "winner-secret")

    with pytest.raises(Exception):  # noqa: B017 - whatever the service makes of the repository's refusal
        create_channel(racing, secrets, shop_channel(name="Loser"), "loser-secret")

    assert secrets.values[SHOP_SECRET_NAME] == ["winner-secret"]


def test_a_channel_is_read_with_how_many_secrets_it_accepts_never_the_secrets(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    secrets.values[SHOP_SECRET_NAME] = ["new", "old"]

    state = get_channel(repo, secrets, SHOP)

    assert (state.channel, state.signing_secrets) == (shop, 2)


def test_reading_an_unknown_channel_is_not_found(repo: FakeChannelRepository, secrets: FakeSecrets) -> None:
    with pytest.raises(NotFound):
        get_channel(repo, secrets, "nope")


def test_a_change_of_name_and_policy_is_saved(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    state = update(repo, secrets, changes={"name": "Renamed", "backorder_policy": "reject"})

    assert state.channel == repo.get(SHOP) == shop_channel(name="Renamed", backorder_policy="reject")
    assert state.signing_secrets == 1
    assert secrets.puts == []


def test_changes_that_change_nothing_write_nothing(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, changes={"name": "Demo store", "kind": "shopify"})

    assert (repo.writes, secrets.puts) == ([], [])


def test_a_channel_s_kind_cannot_change(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    with pytest.raises(Conflict, match="kind cannot change"):
        update(repo, secrets, changes={"kind": "woocommerce", "name": "Moved"})

    assert repo.get(SHOP) == shop


def test_updating_an_unknown_channel_is_not_found(repo: FakeChannelRepository, secrets: FakeSecrets) -> None:
    with pytest.raises(NotFound):
        update(repo, secrets, "nope", signing_secret="whatever-secret")

    assert secrets.puts == []


def test_a_new_signing_secret_keeps_the_previous_one_accepted(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    state = update(repo, secrets, signing_secret="new-secret")

    assert secrets.values[SHOP_SECRET_NAME] == ["new-secret", "old-secret"]
    assert state.signing_secrets == 2


def test_a_second_new_secret_drops_the_oldest_two_are_accepted_at_most(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, signing_secret="new-secret")
    update(repo, secrets, signing_secret="newer-secret")

    assert secrets.values[SHOP_SECRET_NAME] == ["newer-secret", "new-secret"]


def test_sending_the_secret_in_use_again_changes_nothing(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, signing_secret="new-secret")

    update(repo, secrets, signing_secret="new-secret")

    assert secrets.values[SHOP_SECRET_NAME] == ["new-secret", "old-secret"]


def test_retiring_the_previous_secret_keeps_only_the_newest(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, signing_secret="new-secret")

    state = update(repo, secrets, retire_previous_secret=True)

    assert secrets.values[SHOP_SECRET_NAME] == ["new-secret"]
    assert state.signing_secrets == 1


def test_retiring_when_there_is_one_secret_writes_nothing(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, retire_previous_secret=True)

    assert secrets.puts == []
    assert secrets.values[SHOP_SECRET_NAME] == ["old-secret"]


def test_a_new_secret_sent_with_retire_previous_secret_replaces_the_old_one_at_once(
    repo: FakeChannelRepository, secrets: FakeSecrets, shop: Channel
) -> None:
    update(repo, secrets, signing_secret="new-secret", retire_previous_secret=True)

    assert secrets.values[SHOP_SECRET_NAME] == ["new-secret"]


def test_an_api_channel_refuses_a_signing_secret(repo: FakeChannelRepository, secrets: FakeSecrets) -> None:
    create_channel(repo, secrets, Channel(id="web", name="Web"), None)

    with pytest.raises(InputInvalid) as raised:
        update(repo, secrets, "web", signing_secret="should-not-be-here")

    assert raised.value.errors == [FieldError(["signing_secret"], "api channels authenticate with API keys")]
    assert secrets.puts == []


def test_a_refused_update_of_an_api_channel_changes_nothing_else(
    repo: FakeChannelRepository, secrets: FakeSecrets
) -> None:
    create_channel(repo, secrets, Channel(id="web", name="Web"), None)

    with pytest.raises(InputInvalid):
        update(repo, secrets, "web", changes={"name": "Renamed"}, signing_secret="should-not-be-here")

    assert repo.get("web") == Channel(id="web", name="Web")


# -- endpoints -------------------------------------------------------------------------------------


def reachable(url: str) -> None:
    """A check_reachable hook that finds every address public."""


def register(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    ids: SequentialIds,
    clock: FakeClock,
    *events: str,
    url: str = "https://shop.example.com/hooks",
    check_reachable: Any = reachable,
    channel_id: str = SHOP,
    require_https: bool = True,
) -> tuple[WebhookEndpoint, str]:
    return register_endpoint(
        repo,
        secrets,
        channel_id,
        url,
        list(events or ("order.confirmed",)),
        check_reachable=check_reachable,
        require_https=require_https,
        ids=ids,
        clock=clock,
    )


@pytest.mark.usefixtures("shop")
def test_an_endpoint_is_registered_with_a_whsec_secret_shown_once_and_kept_in_the_secret_store(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    endpoint, secret = register(
        repo, secrets, ids, clock, "fulfillment.shipped", "order.confirmed", "fulfillment.shipped"
    )

    assert endpoint == WebhookEndpoint(
        id="whe_0001",
        channel_id=SHOP,
        url="https://shop.example.com/hooks",
        events=["fulfillment.shipped", "order.confirmed"],  # sorted, once each
        status=EndpointStatus.ACTIVE,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    assert repo.list_endpoints(SHOP) == [endpoint]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secrets.values == {SHOP_SECRET_NAME: ["old-secret"], "webhook-endpoints/whe_0001": [secret]}
    assert secret not in json.dumps(repo.endpoints)


@pytest.mark.usefixtures("shop")
def test_every_endpoint_gets_its_own_secret(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    _, first = register(repo, secrets, ids, clock)
    _, second = register(repo, secrets, ids, clock)

    assert first != second


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("events", "named"),
    [
        (["order.confirmed", "order.exploded", "notification.sent"], "notification.sent, order.exploded"),
        (["inventory.counted"], "inventory.counted"),
    ],
)
def test_events_one_cannot_subscribe_to_are_refused_by_name(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    ids: SequentialIds,
    clock: FakeClock,
    events: list[str],
    named: str,
) -> None:
    with pytest.raises(InputInvalid) as raised:
        register(repo, secrets, ids, clock, *events)

    (error,) = raised.value.errors
    assert (error.loc, error.msg) == (["events"], f"not events one can subscribe to: {named}")
    assert (repo.endpoints, secrets.puts) == ({}, [])


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "url", ["ftp://shop.example.com/hooks", "https://user:pw@shop.example.com/hooks", "https:///hooks"]
)
def test_a_url_that_is_not_plain_http_or_https_is_refused_on_the_url(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock, url: str
) -> None:
    asked: list[str] = []

    with pytest.raises(InputInvalid) as raised:
        register(repo, secrets, ids, clock, url=url, check_reachable=asked.append)

    (error,) = raised.value.errors
    assert (error.loc, error.type) == (["url"], "unsafe_url")
    assert asked == []  # refused before any lookup
    assert (repo.endpoints, secrets.puts) == ({}, [])


@pytest.mark.usefixtures("shop")
def test_a_url_whose_host_is_not_public_is_refused_on_the_url(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    asked: list[str] = []

    def private(url: str) -> None:
        asked.append(url)
        raise UnsafeUrl("169.254.169.254 is not a public address")

    with pytest.raises(InputInvalid) as raised:
        register(repo, secrets, ids, clock, url="https://metadata.internal/latest", check_reachable=private)

    assert raised.value.errors == [
        FieldError(["url"], "169.254.169.254 is not a public address", "unsafe_url")
    ]
    assert asked == ["https://metadata.internal/latest"]
    assert (repo.endpoints, secrets.puts) == ({}, [])


@pytest.mark.usefixtures("shop")
def test_a_plain_http_url_is_refused_outside_the_local_stack_and_accepted_inside_it(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    asked: list[str] = []

    with pytest.raises(InputInvalid) as raised:
        register(repo, secrets, ids, clock, url="http://shop.example.com/hooks", check_reachable=asked.append)

    assert raised.value.errors == [FieldError(["url"], "only https URLs are allowed", "unsafe_url")]
    assert (asked, repo.endpoints, secrets.puts) == ([], {}, [])
    local, _ = register(repo, secrets, ids, clock, url="http://127.0.0.1:9000/hooks", require_https=False)
    assert local.url == "http://127.0.0.1:9000/hooks"


@pytest.mark.usefixtures("shop")
def test_a_channel_has_at_most_ten_active_endpoints_and_a_disabled_one_frees_its_place(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    registered = [register(repo, secrets, ids, clock)[0] for _ in range(MAX_ENDPOINTS_PER_CHANNEL)]
    puts = len(secrets.puts)

    with pytest.raises(Conflict) as raised:
        register(repo, secrets, ids, clock)

    assert "at most 10 active webhook endpoints" in str(raised.value)
    assert (len(repo.list_endpoints(SHOP)), len(secrets.puts)) == (MAX_ENDPOINTS_PER_CHANNEL, puts)
    repo.save_endpoint(registered[0].model_copy(update={"status": EndpointStatus.DISABLED}))
    register(repo, secrets, ids, clock)
    assert len(repo.list_endpoints(SHOP)) == MAX_ENDPOINTS_PER_CHANNEL + 1


def test_an_endpoint_for_an_unknown_channel_is_not_found(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock
) -> None:
    with pytest.raises(NotFound):
        register(repo, secrets, ids, clock, channel_id="nope")

    assert secrets.puts == []


# -- deliveries ------------------------------------------------------------------------------------


def order_event(
    event_type: str = "order.confirmed", channel_id: str | None = SHOP, **data: Any
) -> DomainEvent:
    return DomainEvent(
        id="evt_0042",
        type=event_type,
        order_id="ord_0001",
        channel_id=channel_id,
        version=3,
        occurred_at=START,
        actor="system:receipt",
        data=data or {"released": []},
    )


class Receiver:
    """A ``Sender`` that answers with the status codes it is given, one per call."""

    def __init__(self, *answers: int | None, error: str | None = None) -> None:
        self.answers = list(answers)
        self.error = error
        self.calls: list[tuple[str, str, str, str]] = []

    def __call__(self, url: str, secret: str, message_id: str, body: str) -> SendOutcome:
        self.calls.append((url, secret, message_id, body))
        return SendOutcome(status_code=self.answers.pop(0), error=self.error, duration_ms=12)


@pytest.fixture
def hooked(
    repo: FakeChannelRepository, secrets: FakeSecrets, ids: SequentialIds, clock: FakeClock, shop: Channel
) -> tuple[WebhookEndpoint, str]:
    """An endpoint of the shop subscribed to confirmations and shipments."""
    return register(repo, secrets, ids, clock, "order.confirmed", "fulfillment.shipped")


def test_jobs_go_to_the_active_endpoints_of_the_event_s_channel_that_want_its_type(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    ids: SequentialIds,
    clock: FakeClock,
    hooked: tuple[WebhookEndpoint, str],
) -> None:
    register(repo, secrets, ids, clock, "fulfillment.shipped")  # whe_0002: not confirmations
    disabled, _ = register(repo, secrets, ids, clock, "order.confirmed")  # whe_0003
    repo.save_endpoint(disabled.model_copy(update={"status": EndpointStatus.DISABLED}))
    create_channel(repo, secrets, Channel(id="other", name="Other"), None)
    register(repo, secrets, ids, clock, "order.confirmed", channel_id="other")  # whe_0004

    event = order_event()
    jobs = jobs_for(repo, event)

    assert jobs == [DeliveryJob(channel_id=SHOP, endpoint_id="whe_0001", event=event)]


def test_an_event_without_a_channel_goes_nowhere(
    repo: FakeChannelRepository, hooked: tuple[WebhookEndpoint, str]
) -> None:
    assert jobs_for(repo, order_event(channel_id=None)) == []


def test_the_body_is_type_timestamp_and_data_with_the_event_s_ids(
    hooked: tuple[WebhookEndpoint, str],
) -> None:
    event = order_event("fulfillment.shipped", fulfillment_id="ful_0001", tracking_numbers=["1Z"])

    body = webhook_body(event)

    assert json.loads(body) == {
        "type": "fulfillment.shipped",
        "timestamp": "2026-11-26T09:30:00.000Z",
        "data": {
            "event_id": "evt_0042",
            "order_id": "ord_0001",
            "channel_id": SHOP,
            "order_version": 3,
            "fulfillment_id": "ful_0001",
            "tracking_numbers": ["1Z"],
        },
    }
    assert " " not in body  # compact, as signed


def job(endpoint_id: str = "whe_0001", event: DomainEvent | None = None) -> DeliveryJob:
    return DeliveryJob(channel_id=SHOP, endpoint_id=endpoint_id, event=event or order_event())


def test_a_2xx_answer_is_delivered_and_the_attempt_recorded(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    endpoint, secret = hooked
    receiver = Receiver(204)
    clock.advance(minutes=3)

    result = deliver(repo, secrets, receiver, job(), attempt=1, clock=clock)

    assert result is Delivered.DELIVERED
    assert receiver.calls == [(endpoint.url, secret, "msg_0042_0001", webhook_body(order_event()))]
    assert repo.list_deliveries("whe_0001", 10) == [
        Delivery(
            endpoint_id="whe_0001",
            webhook_id="msg_0042_0001",
            event_id="evt_0042",
            event_type="order.confirmed",
            attempt=1,
            attempted_at=clock.now(),
            status_code=204,
            outcome="delivered",
            error=None,
            duration_ms=12,
        )
    ]


def test_a_delivery_the_endpoint_already_took_is_not_sent_again(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    # Queues deliver at least once: the same event fanned out twice, or a delivery job redelivered
    # after its handler ran, must reach the store once.
    receiver = Receiver(204)
    assert deliver(repo, secrets, receiver, job(), attempt=1, clock=clock) is Delivered.DELIVERED

    again = deliver(repo, secrets, receiver, job(), attempt=1, clock=clock)

    assert again is Delivered.SKIPPED
    assert len(receiver.calls) == 1
    assert len(repo.list_deliveries("whe_0001", 10)) == 1


def test_a_failed_delivery_is_still_sent_on_its_retry(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    assert deliver(repo, secrets, Receiver(503), job(), attempt=1, clock=clock) is Delivered.RETRY
    receiver = Receiver(204)

    assert deliver(repo, secrets, receiver, job(), attempt=2, clock=clock) is Delivered.DELIVERED
    assert len(receiver.calls) == 1


@pytest.mark.parametrize(("status", "result"), [(200, Delivered.DELIVERED), (299, Delivered.DELIVERED)])
def test_any_2xx_is_a_delivery(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    clock: FakeClock,
    hooked: tuple[WebhookEndpoint, str],
    status: int,
    result: Delivered,
) -> None:
    assert deliver(repo, secrets, Receiver(status), job(), attempt=1, clock=clock) is result


@pytest.mark.parametrize("status", [301, 400, 404, 429, 500, 503, None])
def test_any_other_answer_or_none_is_retried_and_recorded_as_failed(
    repo: FakeChannelRepository,
    secrets: FakeSecrets,
    clock: FakeClock,
    hooked: tuple[WebhookEndpoint, str],
    status: int | None,
) -> None:
    receiver = Receiver(status, error=None if status else "timed out")

    result = deliver(repo, secrets, receiver, job(), attempt=2, clock=clock)

    assert result is Delivered.RETRY
    (recorded,) = repo.list_deliveries("whe_0001", 10)
    assert (recorded.status_code, recorded.outcome, recorded.attempt) == (status, "failed", 2)
    assert recorded.error == (None if status else "timed out")
    assert repo.get_endpoint(SHOP, "whe_0001").status is EndpointStatus.ACTIVE


def test_every_retry_carries_the_same_webhook_id_and_each_attempt_is_listed_newest_first(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    receiver = Receiver(500, 502, 200)
    results = []
    for attempt in (1, 2, 3):
        results.append(deliver(repo, secrets, receiver, job(), attempt=attempt, clock=clock))
        clock.advance(minutes=5)

    assert results == [Delivered.RETRY, Delivered.RETRY, Delivered.DELIVERED]
    assert {message_id for _, _, message_id, _ in receiver.calls} == {webhook_id("evt_0042", "whe_0001")}
    assert len({body for *_, body in receiver.calls}) == 1
    listed = list_deliveries(repo, SHOP, "whe_0001", 10)
    assert [(d.attempt, d.status_code, d.outcome) for d in listed] == [
        (3, 200, "delivered"),
        (2, 502, "failed"),
        (1, 500, "failed"),
    ]
    assert [d.attempt for d in list_deliveries(repo, SHOP, "whe_0001", 2)] == [3, 2]


def test_410_gone_disables_the_endpoint_and_later_events_are_skipped(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    receiver = Receiver(410)
    clock.advance(hours=1)

    result = deliver(repo, secrets, receiver, job(), attempt=1, clock=clock)

    assert result is Delivered.GONE
    endpoint = repo.get_endpoint(SHOP, "whe_0001")
    assert endpoint is not None
    assert (endpoint.status, endpoint.disabled_reason, endpoint.updated_at) == (
        EndpointStatus.DISABLED,
        "the endpoint answered 410 Gone",
        clock.now(),
    )
    (recorded,) = repo.list_deliveries("whe_0001", 10)
    assert (recorded.status_code, recorded.outcome) == (410, "gone")

    again = deliver(repo, secrets, receiver, job(), attempt=2, clock=clock)

    assert again is Delivered.SKIPPED
    assert len(receiver.calls) == 1
    assert len(repo.list_deliveries("whe_0001", 10)) == 1
    assert jobs_for(repo, order_event()) == []


def test_a_delivery_to_an_endpoint_that_no_longer_exists_is_skipped_unsent(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    receiver = Receiver(200)

    assert deliver(repo, secrets, receiver, job("whe_0099"), attempt=1, clock=clock) is Delivered.SKIPPED
    assert receiver.calls == []
    assert repo.deliveries == []


def test_a_delivery_to_an_endpoint_without_a_secret_is_skipped_unsent(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    secrets.values.pop("webhook-endpoints/whe_0001")
    receiver = Receiver(200)

    assert deliver(repo, secrets, receiver, job(), attempt=1, clock=clock) is Delivered.SKIPPED
    assert receiver.calls == []


def test_deliveries_are_signed_with_the_newest_endpoint_secret(
    repo: FakeChannelRepository, secrets: FakeSecrets, clock: FakeClock, hooked: tuple[WebhookEndpoint, str]
) -> None:
    _, secret = hooked
    secrets.values["webhook-endpoints/whe_0001"] = ["whsec_newest", secret]
    receiver = Receiver(200)

    deliver(repo, secrets, receiver, job(), attempt=1, clock=clock)

    assert receiver.calls[0][1] == "whsec_newest"


def test_the_deliveries_of_an_unknown_endpoint_are_not_found(
    repo: FakeChannelRepository, hooked: tuple[WebhookEndpoint, str]
) -> None:
    with pytest.raises(NotFound):
        list_deliveries(repo, SHOP, "whe_0099", 10)
    with pytest.raises(NotFound):
        list_deliveries(repo, "other-channel", "whe_0001", 10)  # not that channel's endpoint
