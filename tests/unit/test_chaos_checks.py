"""The chaos harness's invariants catch what they promise to: a message sent twice, a webhook
delivered twice, a unit of stock off, a KPI off, an order left unfinished."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tools import chaos
from tools.chaos import Journey, Ledger, Receiver, Stack, check

DAY = date(2026, 12, 6)
ORDER = "ord_1"
EMAIL = "ada@example.com"


class FakeStack(Stack):
    """The stack's HTTP answers from dictionaries; its outbox a real folder."""

    def __init__(self, state_dir: Path, answers: dict[str, Any]) -> None:
        super().__init__(process=None, state_dir=state_dir, env={})  # type: ignore[arg-type]
        self.config = {"keys": {"admin": "adm", "warehouses": {"wh-east": "k"}}}
        self.answers = answers

    def call(self, method: str, path: str, key: str | None, body: Any = None, **_: Any) -> Any:
        return self.answers[path.split("?")[0]]


def _event(event_id: str, kind: str, **data: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "data": data}


def _mail(outbox: Path, name: str, message_id: str) -> None:
    message = EmailMessage()
    message["To"] = EMAIL
    message["X-SES-Message-ID"] = message_id
    message.set_content("hello")
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / f"{name}.eml").write_bytes(bytes(message))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """One API order, delivered: confirmed, shipped, delivered; everything sent once."""
    timeline = [
        _event("evt_1", "order.placed"),
        _event("evt_2", "order.confirmed", first_confirmation=True),
        _event("evt_3", "fulfillment.shipped", order_fully_shipped=True),
        _event(
            "evt_4", "tracking.updated", changed=True, tracking_status="delivered", order_fully_delivered=True
        ),
    ]
    for n, cause in enumerate(("evt_2", "evt_3", "evt_4"), start=1):
        timeline.append(
            _event(
                f"evt_n{n}",
                "notification.sent",
                channel="email",
                recipient="customer",
                message_id=f"m{n}",
                cause={"event_id": cause},
            )
        )
        _mail(tmp_path / "outbox", f"mail{n}", f"m{n}")
    kpis = {
        "orders_placed": 1,
        "orders_confirmed": 1,
        "orders_cancelled": 0,
        "orders_shipped": 1,
        "orders_delivered": 1,
        "orders_returned": 0,
    }
    answers = {
        f"/v1/orders/{ORDER}": {
            "status": "delivered",
            "fulfillments": [{"warehouse_id": "wh-east", "status": "delivered", "lines": []}],
        },
        f"/v1/orders/{ORDER}/events": {"items": timeline},
        "/v1/inventory": {"items": [{"sku": "TEE", "on_hand": 9, "reserved": 0}]},
        "/v1/kpis": kpis,
    }
    receiver = Receiver()
    for event_id in ("evt_2", "evt_3", "evt_4"):
        receiver.deliveries.append(("/web", {}, json.dumps({"data": {"event_id": event_id}}).encode()))
    ledger = Ledger()
    ledger.shipped[("wh-east", "TEE")] = 1
    journey = Journey(0, "api", "deliver", [("TEE", 1)], EMAIL, None, "X-0", order_id=ORDER)
    return {
        "stack": FakeStack(tmp_path, answers),
        "journeys": [journey],
        "ledger": ledger,
        "receiver": receiver,
        "stock_before": {("wh-east", "TEE"): {"on_hand": 10, "reserved": 0}},
        "kpis_before": dict.fromkeys(kpis, 0),
    }


def _breaches(world: dict[str, Any]) -> list[str]:
    _, breaches = check(
        world["stack"],
        world["journeys"],
        world["ledger"],
        world["receiver"],
        world["stock_before"],
        world["kpis_before"],
        DAY,
    )
    return breaches


def test_a_run_that_kept_every_promise_has_no_breach(world: dict[str, Any]) -> None:
    assert _breaches(world) == []


def _mail_twice(world: dict[str, Any]) -> None:
    _mail(world["stack"].state_dir / "outbox", "again", "m9")


def _webhook_twice(world: dict[str, Any]) -> None:
    world["receiver"].deliveries.append(("/web", {}, json.dumps({"data": {"event_id": "evt_3"}}).encode()))


def _unit_lost(world: dict[str, Any]) -> None:
    world["stack"].answers["/v1/inventory"]["items"][0]["on_hand"] = 8


def _reservation_left(world: dict[str, Any]) -> None:
    world["stack"].answers["/v1/inventory"]["items"][0]["reserved"] = 1


def _kpi_counted_twice(world: dict[str, Any]) -> None:
    world["stack"].answers["/v1/kpis"]["orders_shipped"] = 2


def _order_unfinished(world: dict[str, Any]) -> None:
    world["stack"].answers[f"/v1/orders/{ORDER}"]["status"] = "shipped"


@pytest.mark.parametrize(
    ("breach", "words"),
    [
        (_mail_twice, "e-mail(s) in the outbox"),
        (_webhook_twice, "delivered 2 times"),
        (_unit_lost, "on_hand 8, expected 9"),
        (_reservation_left, "reserved 1"),
        (_kpi_counted_twice, "KPI orders_shipped: 2"),
        (_order_unfinished, "ended shipped"),
    ],
)
def test_each_broken_promise_is_reported(
    world: dict[str, Any], breach: Callable[[dict[str, Any]], None], words: str
) -> None:
    breach(world)

    breaches = _breaches(world)

    assert any(words in line for line in breaches), breaches


def test_the_plans_cycle_so_that_seven_orders_cover_every_plan() -> None:
    import random

    journeys = chaos.plan_journeys(7, random.Random(1), "t")
    assert {j.plan for j in journeys} == set(chaos.PLANS)
    assert {j.source for j in journeys} == set(chaos.SOURCES)
