"""Over HTTP against ``make run``'s stack: an order placed with a channel key is confirmed within
seconds and the customer's confirmation e-mail lands in the local mailbox; ``local.json`` says
where everything is; the key tool's keys work and stop working."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

from tests.e2e.conftest import RunningStack, order_body, wait_for

CONFIRM_TIMEOUT = 10.0


def _status(stack: RunningStack, order_id: str, key: str) -> str:
    response = stack.get(f"/v1/orders/{order_id}", key)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def test_a_placed_order_is_confirmed_and_the_customer_gets_an_email(local_stack: RunningStack) -> None:
    stack = local_stack
    key = stack.channel_key("web")
    email = f"ada+{uuid.uuid4().hex[:8]}@example.com"
    external_id = f"WEB-{uuid.uuid4().hex[:8]}"

    response = stack.post("/v1/orders", order_body(external_id, email), key)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "placed"
    assert response.headers["Location"] == f"/v1/orders/{order['id']}"

    wait_for(
        f"order {order['id']} to be confirmed",
        lambda: _status(stack, order["id"], key) == "confirmed",
        timeout=CONFIRM_TIMEOUT,
    )

    def confirmation() -> EmailMessage | None:
        return next((m for m in stack.emails() if m["To"] == email), None)

    mail: EmailMessage = wait_for(f"an e-mail to {email} in {stack.outbox}", confirmation, timeout=5)
    assert external_id in mail["Subject"] and "confirmed" in mail["Subject"].lower()
    assert mail["From"] == "orders@shop.example"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a text and an HTML alternative"
    assert external_id in text.get_content() and "<html" in html.get_content().lower()


def test_local_json_lists_urls_keys_secrets_and_the_demo_data(local_stack: RunningStack) -> None:
    config: dict[str, Any] = local_stack.config
    assert set(config) == {
        "api_url",
        "aws_endpoint_url",
        "region",
        "keys",
        "webhook_secrets",
        "channels",
        "warehouses",
        "skus",
    }
    assert config["api_url"].startswith("http://127.0.0.1:")
    assert config["aws_endpoint_url"].startswith("http://127.0.0.1:")
    channels = {c["id"]: (c["kind"], c["backorder_policy"]) for c in config["channels"]}
    assert channels == {
        "web": ("api", "backorder"),
        "mobile": ("api", "backorder"),
        "marketplace": ("api", "reject"),
        "shopify-demo": ("shopify", "backorder"),
        "woocommerce-demo": ("woocommerce", "backorder"),
    }
    warehouses = {w["id"]: w for w in config["warehouses"]}
    assert set(warehouses) == {"wh-east", "wh-west"}
    assert warehouses["wh-east"]["priority"] != warehouses["wh-west"]["priority"]
    assert warehouses["wh-east"]["timezone"] != warehouses["wh-west"]["timezone"]
    assert set(config["keys"]) == {"admin", "channels", "warehouses"}
    assert set(config["keys"]["channels"]) == set(channels)
    assert set(config["keys"]["warehouses"]) == set(warehouses)
    secrets = config["webhook_secrets"]
    assert set(secrets) == {
        "easypost",
        "aftership",
        "shippo_token",
        "standard_webhooks",
        "shopify",
        "woocommerce",
    }
    assert secrets["standard_webhooks"].startswith("whsec_")
    assert set(secrets["shopify"]) == {"shopify-demo"} and set(secrets["woocommerce"]) == {"woocommerce-demo"}
    # The secrets are also where the app reads them: SSM Parameter Store, as SecureStrings.
    ssm = local_stack.client("ssm")
    for name, value in [
        ("webhooks/easypost", secrets["easypost"]),
        ("webhooks/shippo_token", secrets["shippo_token"]),
        ("webhooks/standard_webhooks", secrets["standard_webhooks"]),
        ("webhooks/shopify/shopify-demo", secrets["shopify"]["shopify-demo"]),
        ("webhooks/woocommerce/woocommerce-demo", secrets["woocommerce"]["woocommerce-demo"]),
    ]:
        parameter = ssm.get_parameter(Name=f"/oms/local/{name}", WithDecryption=True)["Parameter"]
        assert (parameter["Type"], parameter["Value"]) == ("SecureString", value), name
    stock = [sum(s["stock"].values()) for s in config["skus"]]
    assert len(stock) >= 20 and 0 in stock and any(0 < units <= 5 for units in stock)

    # Every key in the file opens the API with its role (health needs none; listings need a key).
    assert local_stack.get("/v1/health", None).status_code == 200
    assert local_stack.get("/v1/orders", config["keys"]["admin"]).status_code == 200
    assert local_stack.get("/v1/orders", config["keys"]["channels"]["mobile"]).status_code == 200


def test_the_keys_tool_mints_a_working_key_and_revokes_it(local_stack: RunningStack) -> None:
    minted = local_stack.tool(
        "tools.keys", "mint", "--role", "channel", "--scope", "mobile", "--label", "e2e"
    )
    assert minted.returncode == 0, minted.stderr
    raw_key = minted.stdout.strip()
    assert raw_key and "\n" not in raw_key, "the raw key alone on standard output"
    assert "role=channel scope=mobile" in minted.stderr
    assert local_stack.get("/v1/orders", raw_key).status_code == 200

    revoked = local_stack.tool("tools.keys", "revoke", raw_key)
    assert revoked.returncode == 0, revoked.stderr
    assert local_stack.get("/v1/orders", raw_key).status_code == 401


def test_the_keys_tool_revokes_a_key_by_the_id_the_api_lists(local_stack: RunningStack) -> None:
    minted = local_stack.tool("tools.keys", "mint", "--role", "channel", "--scope", "web", "--label", "by id")
    assert minted.returncode == 0, minted.stderr
    key_id = minted.stderr.split()[0]
    admin = local_stack.config["keys"]["admin"]
    listed = {k["key_id"]: k for k in local_stack.get("/v1/api-keys", admin).json()["items"]}
    assert listed[key_id]["label"] == "by id" and listed[key_id]["created_by"] == "system:keys"
    revoked = local_stack.tool("tools.keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    after = {k["key_id"]: k for k in local_stack.get("/v1/api-keys", admin).json()["items"]}
    assert after[key_id]["revoked_at"] is not None
    assert local_stack.tool("tools.keys", "revoke", "key_0000000000000000").returncode == 1
