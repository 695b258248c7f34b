"""Integration fixtures: the infra template as a stack in moto, reference data, keys, the app.

The stage is fixed before the app is imported because Chalice's event
decorators read queue names at import time (chalicelib.config).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

STAGE = "itest"
REGION = "us-east-1"
SENDER = "orders@shop.example"

os.environ.update(
    {
        "OMS_STAGE": STAGE,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "OMS_SENDER_EMAIL": SENDER,
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from chalice.test import Client  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.ses.models import ses_backends  # noqa: E402

from app import app  # noqa: E402
from chalicelib.adapters.api_keys import ApiKeyStore  # noqa: E402
from chalicelib.adapters.reference import ReferenceData  # noqa: E402
from chalicelib.adapters.secrets import SecretStore  # noqa: E402
from chalicelib.bootstrap import reset_services  # noqa: E402
from chalicelib.domain.auth import Role  # noqa: E402
from chalicelib.domain.models import Box, Channel, Product, Warehouse  # noqa: E402
from infra.local.moto_server import apply_moto_patches  # noqa: E402
from infra.local.pump import EventPump  # noqa: E402
from infra.stack import app_environment, deploy_stack  # noqa: E402

# The local stack's moto patches (transactions with an undo log and client tokens, bounded
# streams): the tests run against the DynamoDB the local stack serves.
apply_moto_patches()

WAREHOUSES = [
    Warehouse(
        id="wh-east", name="East", priority=1, timezone="America/New_York", cutoff="15:00", country="US"
    ),
    Warehouse(
        id="wh-west", name="West", priority=2, timezone="America/Los_Angeles", cutoff="14:00", country="US"
    ),
]
CHANNELS = [
    Channel(id="web", name="Web store", kind="api", backorder_policy="backorder"),
    Channel(id="mobile", name="Mobile app", kind="api", backorder_policy="backorder"),
    Channel(id="marketplace", name="Marketplace", kind="api", backorder_policy="reject"),
    Channel(id="shop", name="Shopify store", kind="shopify", backorder_policy="backorder"),
    Channel(id="woo", name="WooCommerce store", kind="woocommerce", backorder_policy="backorder"),
]
#: sku -> {warehouse: on_hand}
STOCK = {
    "TSHIRT-M": {"wh-east": 50, "wh-west": 20},
    "MUG": {"wh-east": 5, "wh-west": 30},
    "POSTER": {"wh-west": 10},
    "LAST-UNITS": {"wh-east": 10},
    "SOLD-OUT": {"wh-east": 0},
}


BOXES = [
    Box(
        code="S",
        inner_length_mm=250,
        inner_width_mm=200,
        inner_height_mm=100,
        max_weight_grams=5000,
        cost=Decimal("0.40"),
    ),
    Box(
        code="M",
        inner_length_mm=400,
        inner_width_mm=300,
        inner_height_mm=200,
        max_weight_grams=15000,
        cost=Decimal("0.90"),
    ),
    Box(
        code="L",
        inner_length_mm=600,
        inner_width_mm=400,
        inner_height_mm=400,
        max_weight_grams=25000,
        cost=Decimal("1.60"),
    ),
]


#: Webhook and link-signing secrets, as SSM holds them (newest first; two during a rotation).
SECRETS = {
    "webhooks/easypost": ["sécret"],
    "webhooks/aftership": ["aftership-new", "aftership-old"],
    "webhooks/shippo_token": ["shippo-url-token"],
    "webhooks/standard_webhooks": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    "signing/links": ["link-signing-key-1"],
    # A rotation in progress: the store signs with either.
    "webhooks/shopify/shop": ["shopify-secret-new", "shopify-secret-old"],
    "webhooks/woocommerce/woo": ["woocommerce-secret"],
}


@dataclass
class Stack:
    outputs: dict[str, str]
    table: str
    env: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            # Recent boto3 sends DynamoDB calls to account-based endpoints moto does not serve.
            config = Config(account_id_endpoint_mode="disabled") if service.startswith("dynamodb") else None
            self.clients[service] = boto3.client(service, region_name=REGION, config=config)
        return self.clients[service]

    def items(self, prefix: str) -> list[dict[str, Any]]:
        """Every item whose pk starts with ``prefix`` (a test-only scan)."""
        paginator = self.client("dynamodb").get_paginator("scan")
        return [
            item
            for page in paginator.paginate(TableName=self.table)
            for item in page["Items"]
            if item["pk"]["S"].startswith(prefix)
        ]


def seed(stack: Stack, extra_skus: dict[str, dict[str, int]] | None = None) -> None:
    ref = ReferenceData(stack.client("dynamodb"), stack.table)
    for warehouse in WAREHOUSES:
        ref.put_warehouse(warehouse)
    for channel in CHANNELS:
        ref.put_channel(channel)
    for warehouse in WAREHOUSES:
        for box in BOXES:
            ref.put_box(warehouse.id, box)
    for sku, levels in {**STOCK, **(extra_skus or {})}.items():
        ref.put_product(
            Product(sku=sku, name=sku.title(), weight_grams=300, length_mm=220, width_mm=180, height_mm=40)
        )
        for warehouse_id, on_hand in levels.items():
            ref.put_stock(warehouse_id, sku, on_hand, bin_location=f"A-{len(sku):02d}")
    store = ApiKeyStore(stack.client("dynamodb"), stack.table)
    stack.keys["admin"] = store.mint(Role.ADMIN, None, label="admin").raw_key
    for channel in CHANNELS:
        stack.keys[channel.id] = store.mint(Role.CHANNEL, channel.id).raw_key
    for warehouse in WAREHOUSES:
        stack.keys[warehouse.id] = store.mint(Role.WAREHOUSE, warehouse.id).raw_key
    stack.client("ses").verify_email_identity(EmailAddress=SENDER)
    secrets = SecretStore(stack.client("ssm"), f"/oms/{STAGE}")
    for name, values in SECRETS.items():
        secrets.put(name, values)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        outputs = deploy_stack(boto3.client("cloudformation", region_name=REGION), STAGE)
        env = app_environment(outputs, STAGE)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_services()
        s = Stack(outputs=outputs, table=outputs["TableName"], env=env)
        seed(s)
        yield s
        reset_services()


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    # Chalice's test client applies a stage's environment from .chalice/config.json around each
    # call; STAGE has no entry there, so the stack's own environment (set above) stays in force.
    with Client(app, stage_name=STAGE) as c:
        yield c


def order_body(external_id: str = "WEB-1001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+14155550123"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}],
        "currency": "USD",
    }
    body.update(overrides)
    return body


def post_json(client: Client, path: str, body: Any, key: str | None, **headers: str) -> Any:
    all_headers = {"Content-Type": "application/json", **headers}
    if key is not None:
        all_headers["x-api-key"] = key
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post(path, headers=all_headers, body=raw)


def patch_json(client: Client, path: str, body: Any, key: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-api-key"] = key
    return client.http.patch(path, headers=headers, body=json.dumps(body))


def get(client: Client, path: str, key: str | None) -> Any:
    return client.http.get(path, headers={"x-api-key": key} if key else {})


# --- the asynchronous path: the app's own handlers driven by the event pump -----------------------


@pytest.fixture
def pump(stack: Stack) -> EventPump:
    return EventPump(
        app,
        sqs_client=stack.client("sqs"),
        streams_client=stack.client("dynamodbstreams"),
        dynamodb_client=stack.client("dynamodb"),
        stream_tables={"outbox_relay": stack.table},
        visibility_timeout_override=0.1,
        stage="itest",
    )


@pytest.fixture
def warehouse_inbox(stack: Stack) -> Iterator[dict[str, str]]:
    """An SQS queue subscribed to the warehouse topic, one per warehouse (filter on warehouse_id)."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    inboxes = {}
    for target in ("wh-east", "wh-west", "operations"):
        url = sqs.create_queue(QueueName=f"inbox-{target}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if target == "operations":
            sns.subscribe(
                TopicArn=stack.outputs["OperationsTopicArn"],
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"RawMessageDelivery": "true"},
            )
        else:
            sns.subscribe(
                TopicArn=stack.outputs["WarehouseTopicArn"],
                Protocol="sqs",
                Endpoint=arn,
                Attributes={
                    "RawMessageDelivery": "true",
                    "FilterPolicy": json.dumps({"warehouse_id": [target]}),
                },
            )
        inboxes[target] = url
    yield inboxes


def messages(stack: Stack, url: str) -> list[dict[str, Any]]:
    response = stack.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def sent_emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def timeline(client: Client, stack: Stack, order_id: str) -> list[dict[str, Any]]:
    return json.loads(get(client, f"/v1/orders/{order_id}/events", stack.keys["admin"]).body)["items"]


def place(client: Client, stack: Stack, body: dict[str, Any], channel: str = "web") -> dict[str, Any]:
    response = post_json(client, "/v1/orders", body, stack.keys[channel])
    assert response.status_code == 201, response.body
    return json.loads(response.body)  # type: ignore[no-any-return]


def order_of(client: Client, stack: Stack, order_id: str) -> dict[str, Any]:
    return json.loads(get(client, f"/v1/orders/{order_id}", stack.keys["admin"]).body)  # type: ignore[no-any-return]
