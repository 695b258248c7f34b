"""Over HTTP against ``make run``'s stack: a private and a customer note and a tag, each visible
where it should be and nowhere else (the store's webhooks, the customer's e-mails and status page,
a store key's view of the order, the tag listing)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.e2e.conftest import HTTP_TIMEOUT, RunningStack, order_body, wait_for

#: The status page's link in an e-mail's text part.
STATUS_LINK = re.compile(r"https?://\S+/orders/status/[A-Za-z0-9_\-.]+")
#: What a store may subscribe to, the note and tag events excepted (they are not offered).
EVERY_STORE_EVENT = [
    "order.placed",
    "order.confirmed",
    "order.updated",
    "order.on_hold",
    "order.hold_released",
    "order.cancelled",
    "order.lines_cancelled",
]


@pytest.fixture
def store_endpoint() -> Iterator[dict[str, Any]]:
    """A store's webhook receiver on 127.0.0.1: keeps each delivery's body."""
    seen: dict[str, Any] = {"bodies": [], "url": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["bodies"].append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}/notes"
    yield seen
    server.shutdown()
    server.server_close()


def _send(stack: RunningStack, method: str, path: str, key: str) -> requests.Response:
    return requests.request(method, stack.api_url + path, headers={"x-api-key": key}, timeout=HTTP_TIMEOUT)


def test_a_note_and_a_tag_are_visible_where_they_should_be_and_nowhere_else(
    local_stack: RunningStack, store_endpoint: dict[str, Any]
) -> None:
    stack = local_stack
    admin, store = stack.config["keys"]["admin"], stack.channel_key("web")
    run = uuid.uuid4().hex[:8]
    secret_words = f"fraud-check-{run} passed, customer is difficult"
    customer_words = f"Gift wrap added {run}"
    tag = f"vip-{run}"

    refused = stack.post(
        "/v1/channels/web/webhook-endpoints",
        {"url": store_endpoint["url"], "events": ["order.note_added"]},
        store,
    )
    assert refused.status_code == 422, refused.text
    subscribed = stack.post(
        "/v1/channels/web/webhook-endpoints",
        {"url": store_endpoint["url"], "events": EVERY_STORE_EVENT},
        store,
    )
    assert subscribed.status_code == 201, subscribed.text

    email = f"notes-{run}@example.com"
    tagged = stack.post("/v1/orders", order_body(f"NOTES-{run}-1", email), store).json()
    other = stack.post("/v1/orders", order_body(f"NOTES-{run}-2", f"other-{run}@example.com"), store).json()
    wait_for(
        "the order to be confirmed",
        lambda: stack.get(f"/v1/orders/{tagged['id']}", admin).json()["status"] == "confirmed",
        timeout=15,
    )

    private = stack.post(
        f"/v1/orders/{tagged['id']}/notes", {"text": secret_words, "visibility": "private"}, admin
    )
    public = stack.post(
        f"/v1/orders/{tagged['id']}/notes", {"text": customer_words, "visibility": "customer"}, admin
    )
    put_tag = _send(stack, "PUT", f"/v1/orders/{tagged['id']}/tags/{tag.upper()}", admin)
    assert (private.status_code, public.status_code, put_tag.status_code) == (201, 201, 200)
    assert put_tag.json()["tags"] == [tag]

    # Staff see both notes; the store's key sees the customer's only, in the order and its timeline.
    staff_view = stack.get(f"/v1/orders/{tagged['id']}", admin).json()
    assert [n["visibility"] for n in staff_view["notes"]] == ["private", "customer"]
    for path in (f"/v1/orders/{tagged['id']}", f"/v1/orders/{tagged['id']}/events", "/v1/orders?limit=100"):
        seen_by_store = stack.get(path, store).text
        assert secret_words not in seen_by_store and customer_words in seen_by_store, path
    staff_timeline = stack.get(f"/v1/orders/{tagged['id']}/events", admin).json()["items"]
    assert {"order.note_added", "order.tags_changed"} <= {e["type"] for e in staff_timeline}

    # The tag filter finds the tagged order and not the other, for staff and for the store.
    for key in (admin, store):
        listed = stack.get(f"/v1/orders?tag={tag}", key).json()
        assert [o["id"] for o in listed["items"]] == [tagged["id"]] and listed["next_cursor"] is None
    assert other["id"] not in stack.get(f"/v1/orders?tag={tag}&status=confirmed", admin).text

    # Events after the notes reach the store and the customer: neither carries the private note.
    cancelled = stack.post(f"/v1/orders/{tagged['id']}/cancel", {"reason": "customer asked"}, store)
    assert cancelled.status_code == 200, cancelled.text
    wait_for(
        "the store's order.cancelled webhook",
        lambda: any(tagged["id"] in b and "order.cancelled" in b for b in store_endpoint["bodies"]),
        timeout=15,
    )
    mails = wait_for(
        "the confirmation and cancellation e-mails",
        lambda: (found := [m for m in stack.emails() if m["To"] == email]) and len(found) >= 2 and found,
        timeout=15,
    )
    assert any("cancel" in m["Subject"].lower() for m in mails)
    for mail in mails:
        # Decoded, not as sent: a base64 or quoted-printable body would hide the words from a raw look.
        bodies = [part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"]
        assert bodies and all(f"NOTES-{run}-1" in body for body in bodies)
        assert not [body for body in bodies if "fraud-check" in body or "customer is difficult" in body]
    # The status page the e-mails link to shows the customer's note, never the private one or a tag.
    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in mails]  # type: ignore[union-attr]
    links = [link.group(0) for text in texts if (link := STATUS_LINK.search(text))]
    assert links, "every customer e-mail links to the status page"
    page = requests.get(links[-1], timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    assert customer_words in page.text
    assert "fraud-check" not in page.text and "customer is difficult" not in page.text
    assert tag not in page.text
    assert store_endpoint["bodies"] and not [b for b in store_endpoint["bodies"] if secret_words in b]
    assert not [b for b in store_endpoint["bodies"] if "order.note_added" in b or "order.tags_changed" in b]
