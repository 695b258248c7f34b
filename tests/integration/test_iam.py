"""Least privilege, kept honest: every AWS call each function makes, recorded, against its grants.

A journey drives every function of the app through its own handler on moto — the API through
Chalice's test client, queue and stream workers through the event pump, schedules by name — while
a botocore hook records each call: which function made it (the handler running), the IAM action
and the resource, in the symbols of ``infra.iam``. The test then holds ``infra.iam.CODE_GRANTS``
to the recording both ways: a call the grants do not allow would be refused in AWS; a grant no
call used is one a compromised function could abuse for nothing. A new AWS call, or a removed
one, fails here until the map (and so every role built from it) says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import boto3
import chalice.test
import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.notifier import AwsNotifier
from chalicelib.bootstrap import SystemClock, reset_services, services
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.service.placement import place_order
from infra import iam
from infra.build_merge import _physical_names, load_template
from infra.local.pump import EventPump
from tests.fake_stores import Answer, FakeShopify, FakeWooCommerce, serving
from tests.integration.conftest import SENDER, Stack, get, order_body, order_of, patch_json, place, post_json
from tests.integration.test_console import Console
from tests.integration.test_delivery import (
    EASYPOST_BODY,
    EASYPOST_SIGNATURE,
    raw_post,
    standard_event,
    standard_post,
)
from tests.integration.test_outbound_webhooks import Receiver, receiver, subscribe
from tests.integration.test_store_intake import fixture, shopify

__all__ = ["receiver"]  # the outbound webhook receiver fixture, used below

#: The function whose code is running: a handler's name, or ``api_handler`` during a request.
RUNNING: ContextVar[str | None] = ContextVar("RUNNING", default=None)

Recorded = set[tuple[str, str, str]]
BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


class CallRecorder:
    """Turns each botocore call made while a function runs into (function, action, resource)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.calls: Recorded = set()
        outputs = stack.outputs
        #: Every queue of the template (DLQs included) by its physical name in this stage.
        self.queues = _physical_names(load_template(), "AWS::SQS::Queue", "QueueName", stack.env["OMS_STAGE"])
        self.topics = {
            outputs["WarehouseTopicArn"]: "WarehouseTopic",
            outputs["OperationsTopicArn"]: "OperationsTopic",
        }
        self.prefix = f"/oms/{stack.env['OMS_STAGE']}/"

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        function = RUNNING.get()
        if function is None:
            return  # the test's own calls, or the pump's polling (Lambda's event source mapping)
        service = model.service_model.signing_name
        for action, resource in self._accesses(service, model.name, params):
            self.calls.add((function, action, resource))

    def _accesses(self, service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        # IAM authorises SQS's batch calls as the single-message action.
        action = f"{service}:{BATCH_ACTIONS.get(operation, operation)}"
        if service == "dynamodb":
            if operation == "TransactWriteItems":
                # IAM authorises each item of a transaction as its own PutItem/UpdateItem/...
                inner = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
                return [
                    (f"dynamodb:{inner.get(kind, kind + 'Item')}", self._table(body["TableName"]))
                    for item in params["TransactItems"]
                    for kind, body in item.items()
                ]
            if operation == "BatchGetItem":
                return [(action, self._table(name)) for name in params["RequestItems"]]
            resource = self._table(params["TableName"])
            if params.get("IndexName"):
                resource = iam.index(params["IndexName"])
            return [(action, resource)]
        if service == "sqs":
            if operation == "ListQueues":
                return [(action, iam.ANY)]
            name = params.get("QueueName") or params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
            return [(action, iam.queue(self._queue(name)))]
        if service == "sns":
            if "PhoneNumber" in params:
                return [(action, iam.ANY)]  # SMS: a phone number has no ARN
            return [(action, iam.topic(self.topics[params["TopicArn"]]))]
        if service == "ses":
            assert params["Source"] == SENDER
            return [(action, iam.SENDER)]
        if service == "ssm":
            name = params["Name"]
            assert name.startswith(self.prefix), name
            return [(action, iam.parameter(name.removeprefix(self.prefix)))]
        if service == "events":
            assert params["Entries"] and all(
                e["EventBusName"] == self.stack.env["OMS_EVENT_BUS_NAME"] for e in params["Entries"]
            )
            return [(action, iam.BUS)]
        raise AssertionError(f"a call the recorder does not know: {action}")

    def _table(self, name: str) -> str:
        assert name == self.stack.table, name
        return iam.TABLE

    def _queue(self, name: str) -> str:
        return self.queues[name]


@pytest.fixture
def recorder(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    recorder = CallRecorder(stack)
    session = boto3._get_default_session()  # the app's clients come from the default session
    session.events.register("before-parameter-build", recorder)
    from chalicelib.adapters.aws import reset_clients

    reset_clients()  # clients made before the hook would not carry it
    workers = {source.name for source in app.event_sources}

    def attributed(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            # Each function runs in its own containers in AWS: no cache (secrets, channels, API
            # keys) warmed by another function may hide a call this one makes.
            reset_services()
            token = RUNNING.set(name)
            try:
                return handler(*args, **kwargs)
            finally:
                RUNNING.reset(token)

        return run

    for name in workers:
        monkeypatch.setitem(app.handler_map, name, attributed(name, app.handler_map[name]))
    monkeypatch.setattr(
        chalice.test.TestHTTPClient, "request", attributed("api_handler", chalice.test.TestHTTPClient.request)
    )
    yield recorder
    session.events.unregister("before-parameter-build", recorder)
    reset_clients()


def scheduled(client: Client) -> dict[str, Any]:
    return client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )  # type: ignore[no-any-return]


@pytest.fixture
def woo_store() -> Iterator[FakeWooCommerce]:
    """A WooCommerce store for the stock pushes, serving until the journey ends."""
    fake = FakeWooCommerce()
    fake.add_product("MUG", stock_quantity=0)
    with serving(fake):
        yield fake


def test_every_function_is_granted_exactly_the_aws_calls_its_code_makes(
    client: Client,
    stack: Stack,
    pump: EventPump,
    recorder: CallRecorder,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    woo_store: FakeWooCommerce,
) -> None:
    admin = stack.keys["admin"]
    # Stores: a channel with its signing secret, an outbound endpoint with its own, a Shopify order.
    created = post_json(
        client,
        "/v1/channels",
        {"id": "shop-iam", "name": "Shop", "kind": "shopify", "signing_secret": "s3cret-value-1"},
        admin,
    )
    assert created.status_code == 201, created.body
    assert get(client, "/v1/channels/shop-iam", admin).status_code == 200
    woo = post_json(
        client,
        "/v1/channels",
        {"id": "woo-iam", "name": "Woo", "kind": "woocommerce", "signing_secret": "s3cret-value-2"},
        admin,
    )
    assert woo.status_code == 201, woo.body
    # The store's API connected twice (the second keeps the first set until saved), then removed.
    for token in ("shpat_iam_1", "shpat_iam_2", None):
        store_api = None if token is None else {"url": "http://127.0.0.1:9", "access_token": token}
        connected = patch_json(client, "/v1/channels/shop-iam", {"store_api": store_api}, admin)
        assert connected.status_code == 200, connected.body
    # Stock pushed to a WooCommerce store: its catalogue once, then each change; the store
    # refuses the first push for good (a failure record).
    woo_store.fail_next(Answer(400, {"code": "rest_invalid_param", "message": "refused"}))
    woo_api = {"url": woo_store.url, "consumer_key": "ck_fake_key", "consumer_secret": "cs_fake_secret"}
    synced = patch_json(client, "/v1/channels/woo-iam", {"store_api": woo_api, "stock_sync": True}, admin)
    assert synced.status_code == 200, synced.body
    subscribe(client, stack, receiver, ["order.placed", "order.confirmed"])
    receiver.answers["order.confirmed"] = [500]  # one retry, through the queue's visibility
    assert shopify(client, fixture("shopify", "orders-create.json")).status_code == 200
    pump.run_until_idle(timeout=60)
    assert (
        shopify(client, fixture("shopify", "orders-updated.json"), topic="orders/updated").status_code == 200
    )
    pump.run_until_idle(timeout=60)

    # The write-back: the store refuses the channel's token (the order is parked, operations are
    # alerted), new credentials re-drive it, and the store, which has no such order, refuses the
    # cancellation for good (kept for operations).
    with serving(store := FakeShopify()):
        connect = {"url": store.url, "access_token": "shpat_revoked"}
        assert patch_json(client, "/v1/channels/shop", {"store_api": connect}, admin).status_code == 200
        pump.run_until_idle(timeout=60)
        [shop_order] = [
            item["pk"]["S"].removeprefix("ORDER#")
            for item in stack.items("ORDER#")
            if item["sk"]["S"] == "ORDER" and item["channel_id"]["S"] == "shop"
        ]
        cancelled = post_json(client, f"/v1/orders/{shop_order}/cancel", {"reason": "iam"}, admin)
        assert cancelled.status_code == 200, cancelled.body
        pump.run_until_idle(timeout=60)
        connect = {"url": store.url, "access_token": store.access_token}
        assert patch_json(client, "/v1/channels/shop", {"store_api": connect}, admin).status_code == 200
        pump.run_until_idle(timeout=60)
        assert "orderCancel" not in store.operations() and len(store.requests) >= 2

    # Reference data: a warehouse, a product (its listing is an index query), a box added and
    # retired, a key minted and revoked, the audit listing.
    for path, body in (
        (
            "/v1/warehouses/wh-iam",
            {"name": "IAM", "country": "US", "timezone": "UTC", "priority": 9, "active": False},
        ),
        (
            "/v1/products/IAM-SKU",
            {"name": "IAM", "length_mm": 1, "width_mm": 1, "height_mm": 1, "weight_grams": 1},
        ),
        (
            "/v1/warehouses/wh-iam/boxes/B",
            {
                "inner_length_mm": 9,
                "inner_width_mm": 9,
                "inner_height_mm": 9,
                "max_weight_grams": 9,
                "cost": "1",
            },
        ),
    ):
        put = client.http.put(
            path, headers={"x-api-key": admin, "Content-Type": "application/json"}, body=json.dumps(body)
        )
        assert put.status_code == 201, put.body
    assert get(client, "/v1/products?limit=1", admin).status_code == 200
    assert (
        client.http.delete("/v1/warehouses/wh-iam/boxes/B", headers={"x-api-key": admin}).status_code == 200
    )
    minted = post_json(client, "/v1/api-keys", {"role": "warehouse", "scope": "wh-iam"}, admin)
    assert minted.status_code == 201, minted.body
    key_id = json.loads(minted.body)["key_id"]
    assert client.http.delete(f"/v1/api-keys/{key_id}", headers={"x-api-key": admin}).status_code == 200
    assert get(client, "/v1/audit", admin).status_code == 200

    # An order from the API: placed, received, confirmed, notified (the first e-mail fails once).
    failures = {"left": 1}
    send_email = AwsNotifier.send_email

    def flaky_send_email(self: AwsNotifier, **fields: Any) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("Throttling: maximum sending rate exceeded")
        return send_email(self, **fields)

    monkeypatch.setattr(AwsNotifier, "send_email", flaky_send_email)
    order = place(
        client,
        stack,
        order_body(
            "IAM-1",
            customer={"email": "ada@example.com", "name": "Ada", "phone": "+14155550123"},
            notify={"email": True, "sms": True},
        ),
    )
    pump.run_until_idle(timeout=60)
    assert get(client, "/v1/orders?status=confirmed", admin).status_code == 200
    assert get(client, f"/v1/orders/{order['id']}/events", admin).status_code == 200

    # An admin's hold and its release (operations hear about holds).
    held = place(client, stack, order_body("IAM-HOLD"))
    pump.run_until_idle(timeout=60)
    assert post_json(client, f"/v1/orders/{held['id']}/holds", {"reason": "manual"}, admin).status_code in (
        200,
        201,
    )
    released = client.http.delete(f"/v1/orders/{held['id']}/holds/manual", headers={"x-api-key": admin})
    assert released.status_code == 200, released.body
    pump.run_until_idle(timeout=60)

    # The warehouse road, a carrier's scans (EasyPost and a standard webhook), delivery, a return.
    work = next(f for f in order_of(client, stack, order["id"])["fulfillments"] if f["warehouse_id"])
    key = stack.keys[work["warehouse_id"]]
    assert get(client, f"/v1/warehouses/{work['warehouse_id']}/pick-lists", key).status_code == 200
    number = "1ZIAM0001"
    for action, body in (
        ("pick", {"lines": [{"sku": li["sku"], "quantity": li["quantity"]} for li in work["lines"]]}),
        ("pack", {"packages": [{"box": "S", "weight_grams": 500}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        assert post_json(client, f"/v1/fulfillments/{work['id']}/{action}", body, key).status_code == 200
    pump.run_until_idle(timeout=60)
    raw_post(
        client, "/v1/webhooks/carriers/easypost", EASYPOST_BODY, {"X-Hmac-Signature": EASYPOST_SIGNATURE}
    )
    at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        standard_post(client, standard_event(number, "delivered", at), webhook_id=f"d-{number}").status_code
        == 200
    )
    pump.run_until_idle(timeout=60)
    assert order_of(client, stack, order["id"])["status"] == "delivered"
    returned = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "too small"}]},
        stack.keys["web"],
    )
    assert returned.status_code == 201, returned.body
    pump.run_until_idle(timeout=60)

    # A backorder allocated when goods arrive; a cycle count.
    backordered = place(
        client, stack, order_body("IAM-2", lines=[{"sku": "SOLD-OUT", "quantity": 2, "unit_price": "1.00"}])
    )
    pump.run_until_idle(timeout=60)
    assert post_json(
        client, "/v1/inventory/wh-east/SOLD-OUT/receipts", {"quantity": 3}, admin
    ).status_code in (200, 201)
    assert post_json(client, "/v1/inventory/wh-east/MUG/counts", {"counted": 5}, admin).status_code in (
        200,
        201,
    )
    pump.run_until_idle(timeout=60)
    assert order_of(client, stack, backordered["id"])["status"] == "confirmed"

    # Reads: KPIs, inventory, the operations console with its dead-letter queue depths.
    today = datetime.now(UTC).date().isoformat()
    assert get(client, f"/v1/kpis?from={today}&to={today}", admin).status_code == 200
    inventory = get(client, "/v1/inventory?warehouse=wh-east", admin)
    assert inventory.status_code == 200, inventory.body
    console = Console(client)
    console.sign_in(admin)
    assert console.get("/console/attention").status_code == 200

    # Schedules: an order stuck in placed (placed 40 minutes ago, never received), SLA, stock.
    svc = services()
    stuck = PlaceOrderRequest.model_validate(order_body("IAM-STUCK"))

    class Earlier:
        def now(self) -> datetime:
            return datetime.now(UTC) - timedelta(minutes=40)

    place_order(svc.uow_factory, stuck, channel_id="web", idempotency_key=None, ids=svc.ids, clock=Earlier())
    publish = AwsNotifier.publish_operations
    alerts = {"failing": 1}

    def flaky_publish(self: AwsNotifier, **fields: Any) -> str:
        if alerts["failing"]:
            alerts["failing"] -= 1
            raise RuntimeError("SNS unavailable")
        return publish(self, **fields)

    monkeypatch.setattr(AwsNotifier, "publish_operations", flaky_publish)
    with pytest.raises(RuntimeError, match="SNS unavailable"):
        client.lambda_.invoke("stuck_order_sweeper", scheduled(client))
    assert client.lambda_.invoke("stuck_order_sweeper", scheduled(client)).payload["alerted"]
    # Work still open three days from now is late.
    real_now = SystemClock.now
    monkeypatch.setattr(SystemClock, "now", lambda self: real_now(self) + timedelta(days=3))
    assert client.lambda_.invoke("sla_sweeper", scheduled(client)).payload["breached"]
    monkeypatch.setattr(SystemClock, "now", real_now)
    client.lambda_.invoke("stock_report", scheduled(client))
    pump.run_until_idle(timeout=60)

    got = recorder.calls
    granted = {
        (function, action, resource)
        for function, actions in iam.CODE_GRANTS.items()
        for action, resources in actions.items()
        for resource in resources
    }
    not_granted = sorted(call for call in got if not _covered(call, granted))
    assert not_granted == [], "calls a function makes without a grant (AWS would refuse them)"
    unused = sorted(grant for grant in granted if not any(_covers(grant, call) for call in got))
    assert unused == [], "grants no call of the journey used"


def _covers(grant: tuple[str, str, str], call: tuple[str, str, str]) -> bool:
    return grant[:2] == call[:2] and fnmatchcase(call[2], grant[2])


def _covered(call: tuple[str, str, str], granted: set[tuple[str, str, str]]) -> bool:
    return any(_covers(grant, call) for grant in granted)
