"""The customer's status page on moto: the link from the e-mails, what the page shows, 404 for a
bad link, the return form's errors as a page, and one RMA however often the form is sent."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from chalicelib.api.pages import headers_for
from chalicelib.api.status_page import _renderer
from chalicelib.domain.models import Fulfillment, NoteVisibility, OrderNote
from chalicelib.domain.promise import DeliveryWindow, FulfillmentPromise, OrderPromise, WindowBasis
from chalicelib.domain.status import FulfillmentStatus
from chalicelib.service.status_page import status_view
from infra.local.pump import EventPump
from tests.integration.conftest import Stack, get, order_of, post_json, sent_emails, timeline
from tests.integration.test_delivery import shipped_order, standard_event, standard_post
from tests.unit.builders import fulfillment, priced_order

LINK = re.compile(r"/orders/status/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivered_order(client: Client, stack: Stack, pump: EventPump, number: str) -> dict[str, Any]:
    order = shipped_order(client, stack, pump, "ups", number)
    for n, (status, hours) in enumerate((("in_transit", 20), ("out_for_delivery", 3), ("delivered", 1))):
        event = standard_event(number, status, _ago(hours), location="Springfield, IL")
        assert standard_post(client, event, webhook_id=f"msg_{number}_{n}").status_code == 200
    pump.run_until_idle(timeout=30)
    return order_of(client, stack, order["id"])


def status_token(subject_word: str) -> str:
    mail = next(m for m in sent_emails() if subject_word in m.subject)
    found = LINK.search(mail.body)
    assert found is not None, mail.body
    return found.group(1)


def form_of(page: str) -> dict[str, str]:
    """The form's fields as the browser would send them untouched."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    for name in re.findall(r'name="(quantity:[^"]+)"', page):
        fields[name] = "0"
    return fields


def send(client: Client, token: str, fields: dict[str, str], **headers: str) -> Any:
    return client.http.post(f"/orders/status/{token}", headers={**FORM, **headers}, body=urlencode(fields))


def returns_of(client: Client, stack: Stack, order_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in timeline(client, stack, order_id) if e["type"] == "return.requested"]


def test_every_customer_email_links_to_a_status_page_that_shows_the_order_and_its_tracking(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZSTATUS0001")
    customer_mails = [
        m for m in sent_emails() if m.destinations["ToAddresses"] == [order["customer"]["email"]]
    ]
    assert {m.subject.split(" ")[0] for m in customer_mails} and all(
        LINK.search(m.body) for m in customer_mails
    )

    page = client.http.get(f"/orders/status/{status_token('delivered')}")
    assert page.status_code == 200
    html = page.body.decode()
    nonce = re.search(r'<style nonce="([^"]+)">', html)
    assert nonce is not None
    assert page.headers["Content-Security-Policy"] == headers_for(nonce.group(1))["Content-Security-Policy"]
    assert "<script" not in html and ' style="' not in html
    assert f"Order {order['external_id']}" in html and "1ZSTATUS0001" in html
    scans = re.findall(r"<li><strong>([^<]+)</strong> · Springfield, IL", html)
    assert scans == ["Delivered", "Out for delivery", "On its way"]  # newest first
    assert order["shipping_address"]["line1"] not in html and order["customer"]["email"] not in html
    assert 'name="quantity:' in html and "Start the return" in html


def test_a_bad_forged_or_foreign_purpose_link_is_a_plain_404_page(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    shipped_order(client, stack, pump, "ups", "1ZSTATUS0002")
    token = status_token("confirmed")
    payload, _, signature = token.partition(".")
    unsubscribe = re.search(r"/v1/unsubscribe/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", sent_emails()[0].body)
    assert unsubscribe is not None
    answers = [
        client.http.get(f"/orders/status/{bad}")
        for bad in (
            "not-a-token",
            f"{payload}.{signature[:-2]}AA",
            unsubscribe.group(1),
            f"{payload}x.{signature}",
        )
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    bodies = {re.sub(rb'nonce="[^"]+"', b"", a.body) for a in answers}  # the same page but its nonce
    assert len(bodies) == 1 and b"not valid or has expired" in answers[0].body
    assert client.http.get(f"/orders/status/{token}").status_code == 200
    before_shipping = client.http.get(f"/orders/status/{token}").body.decode()
    assert "Start the return" not in before_shipping
    assert "nothing of this order has been delivered yet" in before_shipping


def test_the_form_starts_one_return_however_often_it_is_sent(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZSTATUS0003")
    token = status_token("delivered")
    page = client.http.get(f"/orders/status/{token}").body.decode()
    sku = order["lines"][0]["sku"]
    fields = {
        **form_of(page),
        f"quantity:{sku}": "1",
        f"reason:{sku}": "Does not fit",
        f"details:{sku}": "too small",
    }

    first = send(client, token, fields)
    again = send(client, token, fields)  # a double click, or the back button and send again
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    rma_id = first.headers["Location"].split("?return=")[1]
    requested = returns_of(client, stack, order["id"])
    assert [(r["rma_id"], r["return_status"], r["lines"]) for r in requested] == [
        (rma_id, "approved", [{"sku": sku, "quantity": 1, "reason": "Does not fit: too small"}])
    ]
    # The API's own use case: the event is the API's, and so is the e-mail it causes.
    pump.run_until_idle(timeout=20)
    assert [m for m in sent_emails() if rma_id in m.body]
    shown = client.http.get(f"/orders/status/{token}?return={rma_id}").body.decode()
    assert "Your return is approved" in shown and rma_id in shown
    # Through the API the same order answers with the same RMA.
    read = get(client, f"/v1/returns/{rma_id}", stack.keys["web"])
    assert json.loads(read.body)["lines"][0]["reason"] == "Does not fit: too small"


def test_form_errors_come_back_as_the_page_with_what_to_correct(
    client: Client, stack: Stack, pump: EventPump
) -> None:
    order = delivered_order(client, stack, pump, "1ZSTATUS0004")
    token = status_token("delivered")
    page = client.http.get(f"/orders/status/{token}").body.decode()
    sku = order["lines"][0]["sku"]
    untouched = form_of(page)
    cases = [
        (untouched, 422, "Choose how many units"),
        ({**untouched, f"quantity:{sku}": "1"}, 422, "choose a reason"),
        ({**untouched, f"quantity:{sku}": "two", f"reason:{sku}": "Other"}, 422, "whole number"),
        (
            {**untouched, f"quantity:{sku}": "99", f"reason:{sku}": "Other"},
            422,
            "delivered and not yet returned",
        ),
        (
            {**untouched, f"quantity:{sku}": "1", f"reason:{sku}": "Other", "form": "forged.form"},
            422,
            "expired",
        ),
    ]
    for fields, status, words in cases:
        answer = send(client, token, fields)
        assert answer.status_code == status, (fields, answer.body[:300])
        assert answer.headers["Content-Type"].startswith("text/html")
        assert words in answer.body.decode(), (fields, words)
    cross_site = send(
        client,
        token,
        {**untouched, f"quantity:{sku}": "1", f"reason:{sku}": "Other"},
        Origin="https://evil.example",
    )
    assert cross_site.status_code == 403
    json_post = post_json(client, f"/orders/status/{token}", {"lines": []}, None)
    assert json_post.status_code == 415
    assert returns_of(client, stack, order["id"]) == []


def test_the_page_shows_the_promised_window_and_the_shops_customer_notes_but_never_a_private_one() -> None:
    created = datetime(2026, 12, 2, 9, tzinfo=UTC)
    notes = [
        OrderNote(
            id="not_1",
            text="Packed with extra care <3",
            visibility=NoteVisibility.CUSTOMER,
            author="admin:key_1",
            created_at=created,
        ),
        OrderNote(
            id="not_2",
            text="Customer was rude on the phone",
            visibility=NoteVisibility.PRIVATE,
            author="admin:key_1",
            created_at=created,
        ),
    ]
    order = priced_order(("MUG-1", 1, "9.00")).model_copy(update={"notes": notes})
    parcel: Fulfillment = fulfillment(("MUG-1", 1), status=FulfillmentStatus.IN_TRANSIT)
    window = DeliveryWindow(
        earliest=date(2026, 12, 8), latest=date(2026, 12, 10), basis=WindowBasis.TRANSIT_TABLE
    )
    promise = OrderPromise(
        delivery_window=window,
        fulfillments=[FulfillmentPromise(fulfillment_id=parcel.id, delivery_window=window)],
    )
    view = status_view(
        order, [parcel], [], now=datetime(2026, 12, 3, tzinfo=UTC), window_days=30, promise=promise
    )
    html = _renderer().render(
        "status",
        {
            "nonce": "n",
            "view": view,
            "money": str,
            "form_token": None,
            "reasons": (),
            "entered": {},
            "errors": [],
            "started": None,
        },
    )
    assert html.count("between") == 2 and "Tue 8 Dec 2026" in html and "Thu 10 Dec 2026" in html
    assert "Messages from the shop" in html and "Packed with extra care &lt;3" in html
    assert "nothing of this order has been delivered yet" in html
    assert "rude" not in html
