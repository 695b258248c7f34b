"""The access matrix: every route of the served OpenAPI document x every credential x own,
foreign and missing objects.

The cases are generated from ``GET /v1/openapi.json``: each operation states its access rule
(``x-oms-access``: the credential it takes, the object its path names and how a key's scope is
checked) and its roles (``x-oms-roles``). A route without a rule, or naming an object the matrix
cannot make, fails the test, so a new route cannot escape it. What must hold:

- no credential opens a key route (401); a key of a role the route does not list gets 403,
  the same for own, foreign and missing objects;
- a key of a listed role is served its own objects (never refused over the object);
- another tenant's object is answered exactly like a missing one: same status, same body apart
  from the id the path named, and never a success;
- no answer to a scoped key (channel web, warehouse wh-east) carries another tenant's ids;
- signed, linked and session routes give an API key nothing they would not give without it;
  a store webhook for another or an unknown channel is the same 401 as a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

from infra.local.pump import EventPump
from tests.integration.conftest import Stack, get, order_body, order_of, place, post_json
from tests.integration.test_delivery import standard_event, standard_post

MISSING = {"order": "ord_missing0000", "fulfillment": "ful_missing0000", "return": "rma_missing0000"}
#: Values for path parameters that are not the route's subject.
OTHER_PARAMS = {
    "sku": "TSHIRT-M",
    "reason": "manual",
    "endpoint_id": "we_missing0000",
    "token": "not-a-token",
    "tag": "matrix",
}
#: Path parameters that name an object: a key route with one must declare it as its subject.
OBJECT_PARAMS = {"order_id", "fulfillment_id", "rma_id", "warehouse_id", "channel_id"}
STORE_SECRETS = {"shopify": ("shop", "shopify-secret-new"), "woocommerce": ("woo", "woocommerce-secret")}
_counter = itertools.count(1)


def sample_body(method: str, path: str) -> Any:
    """A valid body for each route that takes one (a route without one here fails the matrix)."""
    n = next(_counter)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/orders"): order_body(f"MATRIX-{n}"),
        ("PATCH", "/v1/orders/{order_id}"): {"shipping_method": "express"},
        ("POST", "/v1/orders/{order_id}/holds"): {"reason": "manual", "note": "matrix"},
        ("POST", "/v1/orders/{order_id}/cancel"): {"reason": "matrix"},
        ("POST", "/v1/orders/{order_id}/notes"): {"text": "matrix", "visibility": "private"},
        ("POST", "/v1/orders/{order_id}/edits"): {
            "reason": "matrix",
            "change": [{"sku": "TSHIRT-M", "quantity": 1}],
        },
        ("PATCH", "/v1/orders/{order_id}/notifications"): {"email": False},
        ("POST", "/v1/orders/{order_id}/returns"): {
            "lines": [{"sku": "TSHIRT-M", "quantity": 1, "reason": "x"}]
        },
        ("POST", "/v1/returns/{rma_id}/receive"): {
            "items": [{"sku": "TSHIRT-M", "quantity": 1, "condition": "resellable"}],
            "warehouse_id": "wh-east",
        },
        ("PUT", "/v1/inventory/{warehouse_id}/{sku}"): {"bin": "B-01"},
        ("POST", "/v1/inventory/{warehouse_id}/{sku}/counts"): {"counted": 40},
        ("POST", "/v1/inventory/{warehouse_id}/{sku}/receipts"): {"quantity": 1},
        ("POST", "/v1/fulfillments/{fulfillment_id}/pick"): {"lines": [{"sku": "TSHIRT-M", "quantity": 1}]},
        ("POST", "/v1/fulfillments/{fulfillment_id}/pack"): {"packages": [{"box": "S", "weight_grams": 500}]},
        ("POST", "/v1/fulfillments/{fulfillment_id}/ship"): {
            "carrier": "ups",
            "service": "ground",
            "tracking_number": f"1ZMATRIX{n:04d}",
        },
        ("POST", "/v1/fulfillments/{fulfillment_id}/exception"): {"kind": "lost"},
        ("POST", "/v1/fulfillments/{fulfillment_id}/resolution"): {"action": "refund"},
        ("POST", "/v1/channels"): {"id": f"matrix-{n}", "name": "Matrix"},
        ("PATCH", "/v1/channels/{channel_id}"): {"name": "Renamed"},
        ("POST", "/v1/channels/{channel_id}/webhook-endpoints"): {
            "url": "https://hooks.example/oms",
            "events": ["order.shipped"],
        },
        ("POST", "/v1/feedback/{token}"): {"rating": 5},
        # Reference data: inactive, so a warehouse the matrix creates takes no orders.
        ("PUT", "/v1/warehouses/{warehouse_id}"): {
            "name": "Matrix",
            "country": "US",
            "timezone": "America/New_York",
            "priority": 50,
            "active": False,
        },
        ("PUT", "/v1/products/{sku}"): {
            "name": "Matrix",
            "length_mm": 10,
            "width_mm": 10,
            "height_mm": 10,
            "weight_grams": 10,
        },
        ("PUT", "/v1/warehouses/{warehouse_id}/boxes/{code}"): {
            "inner_length_mm": 100,
            "inner_width_mm": 100,
            "inner_height_mm": 100,
            "max_weight_grams": 1000,
            "cost": "0.10",
        },
        ("PUT", "/v1/transit-times/{carrier}/{service}"): {"min_days": 1, "max_days": 3},
        ("POST", "/v1/api-keys"): {"role": "admin", "label": f"matrix {n}"},
        ("POST", "/v1/webhooks/carriers/standard"): {"type": "tracking.updated"},
    }
    return bodies.get((method, path))


@dataclass
class World:
    """Two tenants' objects: the web channel's order shipped from wh-east (own for the channel key
    ``web`` and the warehouse key ``wh-east``), the mobile channel's from wh-west (foreign)."""

    own: dict[str, str] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)


def delivered_with_return(
    client: Client, stack: Stack, pump: EventPump, channel: str, sku: str, warehouse: str, number: str
) -> dict[str, str]:
    body = order_body(f"MATRIX-{channel}", lines=[{"sku": sku, "quantity": 2, "unit_price": "10.00"}])
    order = place(client, stack, body, channel=channel)
    pump.run_until_idle(timeout=20)
    work = next(f for f in order_of(client, stack, order["id"])["fulfillments"] if f["warehouse_id"])
    assert work["warehouse_id"] == warehouse
    for action, step in (
        ("pick", {"lines": [{"sku": sku, "quantity": 2}]}),
        ("pack", {"packages": [{"box": "S", "weight_grams": 500}]}),
        ("ship", {"carrier": "ups", "service": "ground", "tracking_number": number}),
    ):
        response = post_json(client, f"/v1/fulfillments/{work['id']}/{action}", step, stack.keys[warehouse])
        assert response.status_code == 200, response.body
    pump.run_until_idle(timeout=20)
    at = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        standard_post(client, standard_event(number, "delivered", at), webhook_id=f"d-{number}").status_code
        == 200
    )
    pump.run_until_idle(timeout=20)
    rma = post_json(
        client,
        f"/v1/orders/{order['id']}/returns",
        {"lines": [{"sku": sku, "quantity": 1, "reason": "matrix"}]},
        stack.keys[channel],
    )
    assert rma.status_code == 201, rma.body
    return {"order": order["id"], "fulfillment": work["id"], "return": json.loads(rma.body)["id"]}


@dataclass
class Answer:
    status: int
    body: str

    def blanked(self, ident: str) -> tuple[int, str]:
        return self.status, self.body.replace(ident, "<id>")


@dataclass
class Matrix:
    client: Client
    stack: Stack
    world: World
    breaches: list[str] = field(default_factory=list)

    def send(
        self, method: str, path: str, role: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        key = {"admin": "admin", "channel": "web", "warehouse": "wh-east"}.get(role)
        if key is not None:
            all_headers["x-api-key"] = self.stack.keys[key]
        if role == "signature":  # a valid store signature, offered where a key is expected
            all_headers["X-Shopify-Hmac-Sha256"] = sign("shopify-secret-new", b"{}")
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        response = self.client.http.request(method, path, headers=all_headers, body=raw)
        text = response.body.decode("utf-8", "replace")
        answer = Answer(response.status_code, text)
        where = f"{method} {path} as {role}"
        if answer.status >= 500:
            self.breaches.append(f"{where}: {answer.status} {text[:200]}")
        if role in ("channel", "warehouse"):
            leaked = [ident for ident in self.world.foreign.values() if ident in text and ident not in path]
            if leaked:
                self.breaches.append(f"{where}: the answer carries another tenant's {leaked}")
        return answer

    def breach(self, message: str) -> None:
        self.breaches.append(message)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def fill(path: str, subject_param: str | None, subject_value: str | None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == subject_param and subject_value is not None:
            return subject_value
        return OTHER_PARAMS.get(name, "matrix")

    return re.sub(r"{(\w+)}", value, path)


def ids_for(world: World, subject: str, role: str) -> tuple[str, str, str]:
    """(own, foreign, missing) ids of ``subject`` for a key of ``role``."""
    if subject in MISSING:
        return world.own[subject], world.foreign[subject], MISSING[subject]
    if subject == "warehouse":
        return "wh-east", "wh-west", "wh-nowhere"
    if subject == "channel":
        return "web", "mobile", "nochannel"
    raise LookupError(subject)


def check_key_route(m: Matrix, method: str, path: str, op: dict[str, Any], access: dict[str, Any]) -> None:
    roles = set(op.get("x-oms-roles", []))
    subject, param = access["subject"], access["param"]
    for role in ("none", "signature", "admin", "channel", "warehouse"):
        if subject is None:
            check_unscoped_route(m, method, path, role, roles)
            continue
        own, foreign, missing = ids_for(m.world, subject, role)
        # Without a key, or with a role the route does not list, the answer is decided before any
        # lookup: fewer requests show it. Own last everywhere: it may change state.
        if role in ("none", "signature"):
            cases: tuple[tuple[str, str], ...] = (("foreign", foreign),)
        elif role not in roles:
            cases = (("foreign", foreign), ("own", own))
        else:
            cases = (("foreign", foreign), ("missing", missing), ("own", own))
        answers = {
            which: m.send(method, fill(path, param, ident), role, body=sample_body(method, path))
            for which, ident in cases
        }
        where = f"{method} {path} as {role}"
        if role in ("none", "signature"):
            if {a.status for a in answers.values()} != {401}:
                m.breach(f"{where}: {[a.status for a in answers.values()]}, not 401 throughout")
        elif role not in roles:
            if {a.status for a in answers.values()} != {403}:
                m.breach(
                    f"{where}: {[a.status for a in answers.values()]}, not 403 for a role it does not list"
                )
        else:
            check_served_route(m, where, role, subject, (own, foreign, missing), answers)


def check_unscoped_route(m: Matrix, method: str, path: str, role: str, roles: set[str]) -> None:
    """A route about no subject: 401 without a key, 403 for a role it does not list."""
    answer = m.send(method, fill(path, None, None), role, body=sample_body(method, path))
    if role in ("none", "signature") and answer.status != 401:
        m.breach(f"{method} {path} as {role}: {answer.status}, not 401")
    elif role not in ("none", "signature") and role not in roles and answer.status != 403:
        m.breach(f"{method} {path} as {role}: {answer.status}, not 403 for a role it does not list")


def check_served_route(
    m: Matrix, where: str, role: str, subject: str, ids: tuple[str, str, str], answers: dict[str, Answer]
) -> None:
    """A role the route lists: its own subject served; another tenant's answered as a missing one."""
    own, foreign, missing = ids
    served = answers["own"]
    detail = json.loads(served.body).get("detail") if served.status == 404 else None
    refused_over_subject = served.status in (401, 403) or detail == f"{subject} {own} does not exist"
    if refused_over_subject:
        m.breach(f"{where}: its own {subject} {own} refused: {served.status} {served.body[:160]}")
    if role == "admin":
        return
    if answers["foreign"].status < 400:
        m.breach(f"{where}: another tenant's {subject} {foreign} served ({answers['foreign'].status})")
    if answers["foreign"].blanked(foreign) != answers["missing"].blanked(missing):
        m.breach(
            f"{where}: another tenant's {subject} answers {answers['foreign'].status} "
            f"{answers['foreign'].body[:160]}, a missing one {answers['missing'].status} "
            f"{answers['missing'].body[:160]}"
        )


def check_store_webhook(m: Matrix, method: str, path: str, access: dict[str, Any]) -> None:
    store = "shopify" if "/shopify/" in path else "woocommerce"
    own, secret = STORE_SECRETS[store]
    foreign = next(channel for name, (channel, _) in STORE_SECRETS.items() if name != store)
    body = json.dumps({"id": 1}).encode()
    headers = {
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-Topic": "products/update",
        "X-Shopify-Webhook-Id": f"matrix-{next(_counter)}",
        "X-WC-Webhook-Signature": sign(secret, body),
        "X-WC-Webhook-Topic": "product.updated",
    }
    param = access["param"]
    for role in ("none", "admin", "channel", "warehouse"):
        foreign_answer = m.send(method, fill(path, param, foreign), role, body=body, headers=headers)
        missing_answer = m.send(method, fill(path, param, "nochannel"), role, body=body, headers=headers)
        own_answer = m.send(method, fill(path, param, own), role, body=body, headers=headers)
        where = f"{method} {path} as {role}"
        if own_answer.status != 200:
            m.breach(f"{where}: its own signed webhook answered {own_answer.status} {own_answer.body[:150]}")
        if foreign_answer.status != 401 or foreign_answer.blanked(foreign) != missing_answer.blanked(
            "nochannel"
        ):
            m.breach(
                f"{where}: another store's channel {foreign_answer.status}, unknown {missing_answer.status}"
            )


def check_keyless_route(m: Matrix, method: str, path: str, access: dict[str, Any]) -> None:
    """A key adds nothing to a signed, linked, session or public route."""
    if access["credential"] == "signature" and access["subject"] is not None:
        check_store_webhook(m, method, path, access)
        return
    target = fill(path, None, None)
    body = sample_body(method, path)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if path.startswith("/console") else {}
    if path.startswith("/console") and method == "POST":
        body = b""
    without_key = m.send(method, target, "none", body=body, headers=headers)
    for role in ("admin", "channel", "warehouse"):
        with_key = m.send(method, target, role, body=body, headers=headers)
        if with_key.status != without_key.status:
            m.breach(f"{method} {path} as {role}: {with_key.status}, without a key {without_key.status}")
    if access["credential"] in ("signature", "link", "session") and 200 <= without_key.status < 300:
        m.breach(f"{method} {path}: served without its {access['credential']} ({without_key.status})")


def test_every_route_serves_own_objects_only_and_answers_foreign_ones_as_missing(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    world = World(
        own=delivered_with_return(client, stack, pump, "web", "TSHIRT-M", "wh-east", "1ZMATRIXOWN"),
        foreign=delivered_with_return(client, stack, pump, "mobile", "POSTER", "wh-west", "1ZMATRIXFOREIGN"),
    )
    document = json.loads(get(client, "/v1/openapi.json", None).body)
    m = Matrix(client, stack, world)
    checks: dict[str, Callable[..., None]] = {"key": check_key_route}
    operations = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            operations += 1
            method = method.upper()
            access = op.get("x-oms-access")
            if access is None:
                m.breach(f"{method} {path}: no declared access rule (x-oms-access)")
                continue
            names = set(re.findall(r"{(\w+)}", path))
            if access["credential"] == "key" and names & OBJECT_PARAMS and access["subject"] is None:
                m.breach(f"{method} {path}: names an object but its access rule declares no subject")
                continue
            if access["subject"] is not None and access["subject"] not in (*MISSING, "warehouse", "channel"):
                m.breach(f"{method} {path}: the matrix cannot make a {access['subject']}; teach it")
                continue
            if op.get("requestBody") and sample_body(method, path) is None and access["credential"] == "key":
                m.breach(f"{method} {path}: takes a body the matrix has no sample of; add one")
                continue
            if access["credential"] == "key":
                checks["key"](m, method, path, op, access)
            else:
                check_keyless_route(m, method, path, access)
    assert operations > 40
    assert not m.breaches, "\n".join(m.breaches)
