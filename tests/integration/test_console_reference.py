"""The console's reference data pages: warehouses, products, boxes and API keys, through the same
use cases as the API (validation, versions, events), with CSRF and the admin session."""

from __future__ import annotations

import json
import re

from chalice.test import Client

from tests.integration.conftest import Stack, get
from tests.integration.test_console import Console, _text


def signed_in(client: Client, stack: Stack) -> Console:
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    return visitor


def test_every_reference_page_opens_for_an_admin_and_not_without_a_session(
    client: Client, stack: Stack
) -> None:
    visitor = signed_in(client, stack)
    for path in ("/console/warehouses", "/console/products", "/console/boxes", "/console/api-keys"):
        page = visitor.get(path)
        assert page.status_code == 200, (path, page.body[:300])
        assert "script-src 'none'" in page.headers["Content-Security-Policy"]
        assert Console(client).get(path).status_code == 303
    assert "wh-east" in _text(visitor.get("/console/warehouses"))
    assert "TSHIRT-M" in _text(visitor.get("/console/products"))


def test_a_warehouse_is_added_from_the_console_and_a_stale_form_is_refused(
    client: Client, stack: Stack
) -> None:
    visitor = signed_in(client, stack)
    form = [
        ("csrf", visitor.csrf("/console/warehouses")),
        ("id", "wh-console"),
        ("name", "Console hub"),
        ("country", "DE"),
        ("timezone", "Europe/Berlin"),
        ("priority", "7"),
        ("cutoff", "14:00"),
        ("business_days", "mon"),
        ("business_days", "tue"),
        ("holidays", "2026-12-25\n2026-12-26\n"),
        ("active", "on"),
        ("version", ""),
    ]
    added = visitor.post("/console/warehouses", form)
    assert added.status_code == 200, added.body
    assert "Warehouse wh-console added (version 1)" in _text(added)
    stored = json.loads(get(client, "/v1/warehouses/wh-console", stack.keys["admin"]).body)
    assert stored["business_days"] == ["mon", "tue"] and stored["holidays"] == ["2026-12-25", "2026-12-26"]
    again = visitor.post("/console/warehouses", [*form[:-1], ("name", "Renamed"), ("version", "")])
    assert again.status_code == 409 and "Reload the page" in _text(again)
    bad = visitor.post("/console/warehouses", [*form[:4], ("timezone", "Nowhere/City"), *form[5:]])
    assert bad.status_code == 422 and "unknown time zone" in _text(bad)


def test_a_product_and_a_box_are_saved_and_a_box_retired_from_the_console(
    client: Client, stack: Stack
) -> None:
    visitor = signed_in(client, stack)
    csrf = visitor.csrf("/console/products")
    product = visitor.post(
        "/console/products",
        {
            "csrf": csrf,
            "sku": "CONSOLE-1",
            "name": "Console product",
            "length_mm": "100",
            "width_mm": "80",
            "height_mm": "60",
            "weight_grams": "250",
            "keep_upright": "on",
            "active": "on",
        },
    )
    assert product.status_code == 200 and "Product CONSOLE-1 added" in _text(product)
    box = visitor.post(
        "/console/boxes",
        {
            "csrf": csrf,
            "warehouse": "wh-east",
            "code": "CONSOLE",
            "inner_length_mm": "200",
            "inner_width_mm": "150",
            "inner_height_mm": "100",
            "tare_weight_grams": "90",
            "max_weight_grams": "4000",
            "cost": "0.55",
        },
    )
    assert box.status_code == 200 and "Box CONSOLE added" in _text(box)
    retired = visitor.post(
        "/console/boxes/retire", {"csrf": csrf, "warehouse": "wh-east", "code": "CONSOLE", "version": "1"}
    )
    assert retired.status_code == 200 and "Box CONSOLE retired" in _text(retired)
    assert get(client, "/v1/warehouses/wh-east/boxes/CONSOLE", stack.keys["admin"]).status_code == 404


def test_a_key_minted_in_the_console_is_shown_once_and_can_be_revoked(client: Client, stack: Stack) -> None:
    visitor = signed_in(client, stack)
    csrf = visitor.csrf("/console/api-keys")
    minted = visitor.post(
        "/console/api-keys", {"csrf": csrf, "role": "channel", "scope": "web", "label": "pos"}
    )
    assert minted.status_code == 201, minted.body
    raw = re.search(r"<code class=\"mono\">(oms_ch_[^<]+)</code>", _text(minted))
    assert raw is not None
    listing = _text(visitor.get("/console/api-keys"))
    assert raw.group(1) not in listing and "pos" in listing
    key_id = re.search(r"Key (key_[0-9a-f]+) minted", _text(minted))
    assert key_id is not None
    revoked = visitor.post("/console/api-keys/revoke", {"csrf": csrf, "key_id": key_id.group(1)})
    assert revoked.status_code == 200 and "revoked" in _text(revoked)
    assert get(client, "/v1/orders", raw.group(1)).status_code == 401
    forged = visitor.post("/console/api-keys", {"csrf": "forged", "role": "admin"})
    assert forged.status_code == 403
