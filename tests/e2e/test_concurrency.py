"""The local stack under concurrent clients: the API serves requests in parallel, the AWS side runs
each request atomically (as DynamoDB does), and nothing waits on a client's SQS long poll."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import RunningStack, order_body, wait_for

SKU = "CNDL-SOY-CDR"  # 2 units in wh-east, 1 in wh-west (infra/local/seed.py); no other test buys it
UNITS = 3
BUYERS = 12


def test_twelve_concurrent_buyers_of_three_candles_never_oversell(local_stack: RunningStack) -> None:
    stack = local_stack
    assert sum(next(s for s in stack.config["skus"] if s["sku"] == SKU)["stock"].values()) == UNITS
    key = stack.channel_key("marketplace")  # policy reject: no backorders, a clear yes or no
    start = threading.Barrier(BUYERS)

    def buy(n: int) -> tuple[int, dict[str, Any]]:
        body = order_body(
            f"MKT-{uuid.uuid4().hex[:8]}-{n}",
            f"buyer{n}@example.com",
            lines=[{"sku": SKU, "quantity": 1, "unit_price": "18.00"}],
        )
        start.wait()
        response = stack.post("/v1/orders", body, key)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(buy, range(BUYERS)))

    accepted = [body for status, body in outcomes if status == 201]
    rejected = [body for status, body in outcomes if status != 201]
    assert len(accepted) == UNITS, outcomes
    assert {(problem["status"], problem["type"].rsplit("/", 1)[-1]) for problem in rejected} == {
        (409, "insufficient_stock")
    }
    warehouses = sorted(f["warehouse_id"] for order in accepted for f in order["fulfillments"])
    assert warehouses == ["wh-east", "wh-east", "wh-west"]

    # Lost races cancel DynamoDB transactions; the outbox stream must carry on regardless
    # (infra/local/moto_server.py, UndoLog): every sale is confirmed.
    def all_confirmed() -> bool:
        return all(
            stack.get(f"/v1/orders/{order['id']}", key).json()["status"] == "confirmed" for order in accepted
        )

    wait_for("the three sales to be confirmed", all_confirmed, timeout=10, interval=0.2)


def test_an_sqs_long_poll_waits_without_holding_up_other_requests(local_stack: RunningStack) -> None:
    sqs = local_stack.client("sqs")
    url = sqs.create_queue(QueueName=f"e2e-long-poll-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    received: list[dict[str, Any]] = []

    def long_poll() -> None:
        received.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", []))

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.3)  # the poll is waiting now

    started = time.monotonic()
    listing = local_stack.get("/v1/orders", local_stack.config["keys"]["admin"])  # DynamoDB queries
    assert listing.status_code == 200
    local_stack.client("sqs").send_message(QueueUrl=url, MessageBody="wake up")
    poller.join(5)
    assert not poller.is_alive(), "the long poll did not return when a message arrived"
    assert [m["Body"] for m in received] == ["wake up"]
    assert time.monotonic() - started < 3, "other requests waited for the long poll"
