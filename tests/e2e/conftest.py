"""The e2e fixture: the whole service started by ``python -m infra.local`` (what ``make run`` runs).

A subprocess, not :class:`infra.local.stack.LocalStack` in-process: the stack configures its
process (environment, the ``app`` import with its queue names) and serves moto over HTTP, while
the integration tests in the same pytest process import ``app`` for their own stage and patch
botocore with ``mock_aws``, which would intercept the stack's calls too. A subprocess shares none
of that, and it tests the real entry point: its banner, its state file and its clean exit.

Settings for speed: free ports, a temporary state folder, a schedule clock 300 times faster than
real time (``rate(5 minutes)`` fires every second) and failed messages visible again after 0.2 s,
so that five deliveries of a poison message take about a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0  # a stack that served many orders takes a while to let go of moto's state
CLOCK_SPEED = 300
VISIBILITY_TIMEOUT = 0.2
HTTP_TIMEOUT = 10.0
#: The fault knob OMS_LOCAL_LOSE_TRANSACT_REPLY: the first transaction whose request contains this
#: text is applied and its reply lost (tests/e2e/test_local_dynamodb.py places such an order).
LOST_REPLY_MARKER = "lost-reply@e2e.example"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


_OUTPUT_MARK = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    stack = getattr(item, "funcargs", {}).get("local_stack")
    if isinstance(stack, RunningStack):
        item.stash[_OUTPUT_MARK] = stack.mark()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    stack = getattr(item, "funcargs", {}).get("local_stack")
    if report.when == "call" and report.failed and isinstance(stack, RunningStack):
        # What the stack logged meanwhile: the pump's and the workers' view of the failure.
        lines = stack.lines_since(item.stash.get(_OUTPUT_MARK, 0))
        report.sections.append(("local stack output during the test", "\n".join(lines[-200:])))
    return report


@dataclass
class RunningStack:
    """The stack's process, its ``local.json`` and everything it printed so far."""

    process: subprocess.Popen[str]
    state_dir: Path
    env: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)

    # -- HTTP, the only way the tests talk to the app ----------------------------------------------

    @property
    def api_url(self) -> str:
        return str(self.config["api_url"])

    def channel_key(self, channel: str = "web") -> str:
        return str(self.config["keys"]["channels"][channel])

    def post(self, path: str, body: Any, key: str | None, **headers: str) -> requests.Response:
        all_headers = {"content-type": "application/json", **headers}
        if key is not None:
            all_headers["x-api-key"] = key
        return requests.post(self.api_url + path, json=body, headers=all_headers, timeout=HTTP_TIMEOUT)

    def get(self, path: str, key: str | None) -> requests.Response:
        headers = {"x-api-key": key} if key is not None else {}
        return requests.get(self.api_url + path, headers=headers, timeout=HTTP_TIMEOUT)

    # -- the AWS side, for what has no HTTP route (queues, DLQs) ---------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(account_id_endpoint_mode="disabled") if service.startswith("dynamodb") else None
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.config["aws_endpoint_url"],
                region_name=self.config["region"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=config,
            )
        return self._clients[service]

    def queue_url(self, name: str) -> str:
        return str(self.client("sqs").get_queue_url(QueueName=f"oms-local-{name}")["QueueUrl"])

    def tool(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m <module> <args>`` as an operator would, against this stack."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # -- the process's output --------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the output; ``lines_since`` reads what came after it."""
        return len(self.output)

    def lines_since(self, mark: int) -> list[str]:
        return self.output[mark:]

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output[-lines:])

    @property
    def outbox(self) -> Path:
        return self.state_dir / "outbox"

    def emails(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        # policy.default makes the parser build EmailMessage objects (get_body, get_content).
        return [parser.parsebytes(path.read_bytes()) for path in sorted(self.outbox.glob("*.eml"))]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _clean_environment() -> dict[str, str]:
    # Nothing of the caller's AWS or OMS configuration reaches the stack (the integration tests'
    # conftest sets OMS_STAGE and fake credentials for mock_aws in this very process).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMS_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _read_output(process: subprocess.Popen[str], sink: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line.rstrip("\n"))


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    state_dir = tmp_path_factory.mktemp("oms-state")
    env = _clean_environment()
    env.update(
        {
            "OMS_STATE_DIR": str(state_dir),
            "OMS_API_PORT": "0",
            "OMS_AWS_PORT": "0",
            "OMS_CLOCK_SPEED": str(CLOCK_SPEED),
            "OMS_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            # The app caches API key lookups for 60 s; the keys test sees a revocation at once.
            "OMS_API_KEY_CACHE_SECONDS": "0",
            "OMS_LOCAL_LOSE_TRANSACT_REPLY": LOST_REPLY_MARKER,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    stack = RunningStack(process=process, state_dir=state_dir, env=env)
    reader = threading.Thread(target=_read_output, args=(process, stack.output), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready" not in stack.output:
            if process.poll() is not None:
                pytest.fail(f"the local stack exited with {process.returncode}:\n{stack.tail()}")
            if time.monotonic() >= deadline:
                pytest.fail(f"the local stack was not ready within {READY_TIMEOUT}s:\n{stack.tail()}")
            time.sleep(0.05)
        stack.config = json.loads((state_dir / "local.json").read_text(encoding="utf-8"))
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(5)
    assert process.returncode == 0, f"the local stack did not stop cleanly:\n{stack.tail()}"
    assert not (state_dir / "local.json").exists(), "a stopped stack leaves no local.json behind"


def order_body(external_id: str, email: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "currency": "USD",
        "customer": {"email": email, "name": "Ada Lovelace"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        "lines": [{"sku": "TEE-ORG-BLK-M", "quantity": 1, "unit_price": "24.00"}],
    }
    body.update(overrides)
    return body


def post_store_order(stack: RunningStack, kind: str, channel: str, order: dict[str, Any]) -> None:
    """Send ``order`` as the store's order-created webhook of ``channel`` (``shopify`` or
    ``woocommerce``), signed with the channel's secret as the store signs it."""
    body = json.dumps(order).encode()
    secret = stack.config["webhook_secrets"][kind][channel]
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    if kind == "shopify":
        headers = {
            "x-shopify-hmac-sha256": signature,
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": "oms-demo.myshopify.com",
            "x-shopify-webhook-id": str(uuid.uuid4()),
        }
    else:
        headers = {
            "x-wc-webhook-signature": signature,
            "x-wc-webhook-topic": "order.created",
            "x-wc-webhook-source": "https://woo.example/",
            "x-wc-webhook-id": "7",
            "x-wc-webhook-delivery-id": str(uuid.uuid4()),
        }
    response = requests.post(
        f"{stack.api_url}/v1/webhooks/channels/{kind}/{channel}",
        data=body,
        headers={"content-type": "application/json", **headers},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
