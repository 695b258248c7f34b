"""Order listings (served by GSIs, newest first, opaque cursor) and the OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from app import app
from chalicelib.bootstrap import services
from chalicelib.domain.placement import PlaceOrderRequest
from chalicelib.service.placement import place_order
from tests.integration.conftest import Stack, get, order_body


class SteppingClock:
    """Each order one minute after the previous one, starting at a fixed moment."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        self.current += timedelta(minutes=1)
        return self.current


def place_many(channel: str, count: int, clock: SteppingClock, prefix: str) -> list[str]:
    svc = services()
    ids = []
    for n in range(count):
        request = PlaceOrderRequest.model_validate(order_body(f"{prefix}-{n}"))
        result = place_order(
            svc.uow_factory, request, channel_id=channel, idempotency_key=None, ids=svc.ids, clock=clock
        )
        ids.append(result.order.id)
    return ids


def page_through(client: Client, key: str, query: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        path = f"/v1/orders?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = get(client, path, key)
        assert response.status_code == 200, response.body
        page = json.loads(response.body)
        seen += [order["id"] for order in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def test_orders_are_listed_newest_first_across_pages_without_gaps_or_repeats(
    client: Client, stack: Stack
) -> None:
    clock = SteppingClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    web = place_many("web", 13, clock, "W")
    mobile = place_many("mobile", 4, clock, "M")
    everything = list(reversed(web + mobile))
    assert page_through(client, stack.keys["admin"], "limit=5") == everything
    assert page_through(client, stack.keys["admin"], "limit=4&channel=web") == list(reversed(web))
    assert page_through(client, stack.keys["web"], "limit=3") == list(reversed(web))
    assert page_through(client, stack.keys["admin"], "limit=100&status=placed&channel=mobile") == list(
        reversed(mobile)
    )
    assert page_through(client, stack.keys["admin"], "status=placed&limit=7") == everything
    assert page_through(client, stack.keys["admin"], "status=confirmed") == []


def test_orders_are_filtered_by_creation_date(client: Client, stack: Stack) -> None:
    clock = SteppingClock(datetime(2026, 11, 20, 23, 57, tzinfo=UTC))
    ids = place_many("web", 4, clock, "D")  # 23:58, 23:59 on the 20th; 00:00, 00:01 on the 21st
    admin = stack.keys["admin"]
    assert page_through(client, admin, "created_from=2026-11-21") == list(reversed(ids[2:]))
    assert page_through(client, admin, "created_to=2026-11-20") == list(reversed(ids[:2]))
    assert page_through(
        client, admin, "created_from=2026-11-20T23:59:00Z&created_to=2026-11-21T00:00:00Z"
    ) == [ids[2], ids[1]]


def test_bad_listing_parameters_are_problems(client: Client, stack: Stack) -> None:
    admin = stack.keys["admin"]
    for query in ("limit=0", "limit=101", "status=lost", "created_from=yesterday", "colour=red"):
        response = get(client, f"/v1/orders?{query}", admin)
        assert response.status_code == 422, query
        assert response.headers["Content-Type"] == "application/problem+json"
    response = get(client, "/v1/orders?cursor=bm90LWEtY3Vyc29y", admin)
    assert response.status_code == 400


def test_the_openapi_document_covers_every_route_of_the_app(client: Client, stack: Stack) -> None:
    response = get(client, "/v1/openapi.json", None)
    assert response.status_code == 200
    document = json.loads(response.body)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routed = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert routed - documented == set()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    create = document["paths"]["/v1/orders"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PlaceOrderRequest"
    }
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "Problem"
    )
    assert document["paths"]["/v1/health"]["get"]["security"] == []
    schemas: dict[str, Any] = document["components"]["schemas"]
    assert {"PlaceOrderRequest", "OrderView", "Problem", "Address", "Customer"} <= set(schemas)
    # Money travels as decimal strings, and the document says so.
    unit_price = schemas["LineRequest"]["properties"]["unit_price"]
    assert "string" in json.dumps(unit_price)
