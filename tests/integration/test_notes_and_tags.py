"""Staff notes and tags over the API on the moto stack: who reads which note, and the tag listing
(its index entries, filters and pages)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.dynamodb import queries
from tests.integration.conftest import Stack, get, order_body, place, post_json
from tests.integration.test_order_reads import SteppingClock, page_through, place_many


def note(client: Client, stack: Stack, order_id: str, text: str, visibility: str, key: str = "admin") -> Any:
    return post_json(
        client, f"/v1/orders/{order_id}/notes", {"text": text, "visibility": visibility}, stack.keys[key]
    )


def tag(
    client: Client, stack: Stack, order_id: str, name: str, *, remove: bool = False, key: str = "admin"
) -> Any:
    method = client.http.delete if remove else client.http.put
    return method(f"/v1/orders/{order_id}/tags/{name}", headers={"x-api-key": stack.keys[key]})


def body(response: Any) -> Any:
    return json.loads(response.body)


def text(response: Any) -> str:
    return response.body.decode()  # type: ignore[no-any-return]


def test_staff_read_both_notes_and_the_store_only_the_customer_one(client: Client, stack: Stack) -> None:
    order_id = place(client, stack, order_body("NOTE-1"))["id"]

    private = note(client, stack, order_id, "  Customer called twice, be gentle  ", "private")
    public = note(client, stack, order_id, "Your parcel will be gift wrapped", "customer")

    assert private.status_code == 201, private.body
    assert public.status_code == 201, public.body
    staff_view = body(get(client, f"/v1/orders/{order_id}", stack.keys["admin"]))
    assert [(n["text"], n["visibility"]) for n in staff_view["notes"]] == [
        ("Customer called twice, be gentle", "private"),
        ("Your parcel will be gift wrapped", "customer"),
    ]
    assert staff_view["notes"][0]["author"].startswith("admin:")
    store_view = text(get(client, f"/v1/orders/{order_id}", stack.keys["web"]))
    assert "be gentle" not in store_view and "gift wrapped" in store_view
    store_list = text(get(client, "/v1/orders", stack.keys["web"]))
    assert "be gentle" not in store_list and "gift wrapped" in store_list
    staff_timeline = body(get(client, f"/v1/orders/{order_id}/events", stack.keys["admin"]))["items"]
    store_timeline = text(get(client, f"/v1/orders/{order_id}/events", stack.keys["web"]))
    notes_added = [e["data"] for e in staff_timeline if e["type"] == "order.note_added"]
    assert [(d["text"], d["visibility"]) for d in notes_added] == [
        ("Customer called twice, be gentle", "private"),
        ("Your parcel will be gift wrapped", "customer"),
    ]
    assert all(d["note_id"].startswith("note_") and d["author"].startswith("admin:") for d in notes_added)
    assert "be gentle" not in store_timeline and "gift wrapped" in store_timeline


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"text": "   ", "visibility": "private"}, "text"),
        ({"text": "x" * 1001, "visibility": "private"}, "text"),
        ({"text": "bidi \u202e trick", "visibility": "private"}, "text"),
        ({"text": "hello", "visibility": "public"}, "visibility"),
        ({"text": "hello"}, "visibility"),
        ({"text": "hello", "visibility": "private", "author": "someone else"}, "author"),
    ],
)
def test_a_bad_note_is_a_422_problem_and_writes_nothing(
    client: Client, stack: Stack, sent: dict[str, Any], field: str
) -> None:
    order = place(client, stack, order_body("NOTE-BAD"))

    response = post_json(client, f"/v1/orders/{order['id']}/notes", sent, stack.keys["admin"])

    assert response.status_code == 422, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in text(response)
    assert body(get(client, f"/v1/orders/{order['id']}", stack.keys["admin"]))["version"] == order["version"]


def test_notes_and_tags_are_for_admin_keys(client: Client, stack: Stack) -> None:
    order_id = place(client, stack, order_body("NOTE-KEYS"))["id"]

    assert note(client, stack, order_id, "hi", "private", key="web").status_code == 403
    assert tag(client, stack, order_id, "vip", key="web").status_code == 403
    assert note(client, stack, "ord_missing", "hi", "private").status_code == 404


def test_a_tag_is_normalised_and_tagging_twice_records_one_event(client: Client, stack: Stack) -> None:
    order_id = place(client, stack, order_body("TAG-1"))["id"]

    first = tag(client, stack, order_id, "VIP")
    again = tag(client, stack, order_id, "vip")
    bad = tag(client, stack, order_id, "not%20ok!")

    assert first.status_code == 200 and body(first)["tags"] == ["vip"]
    assert again.status_code == 200 and body(again)["version"] == body(first)["version"]
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    events = body(get(client, f"/v1/orders/{order_id}/events", stack.keys["admin"]))["items"]
    assert [e["data"]["added"] for e in events if e["type"] == "order.tags_changed"] == [["vip"]]
    entries = stack.items(f"ORDER#{order_id}")
    assert [(i["sk"]["S"], i["gsi4pk"]["S"]) for i in entries if i["sk"]["S"].startswith("TAG#")] == [
        ("TAG#vip", "TAG#vip")
    ]

    removed = tag(client, stack, order_id, "vip", remove=True)
    removed_again = tag(client, stack, order_id, "vip", remove=True)

    assert body(removed)["tags"] == [] and body(removed_again)["version"] == body(removed)["version"]
    assert not [i for i in stack.items(f"ORDER#{order_id}") if i["sk"]["S"].startswith("TAG#")]


def test_the_tag_filter_pages_through_the_tagged_orders_within_the_other_filters(
    client: Client, stack: Stack
) -> None:
    clock = SteppingClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    web = place_many("web", 7, clock, "TW")
    mobile = place_many("mobile", 3, clock, "TM")
    tagged = [web[0], web[2], web[3], web[6], mobile[1]]
    for order_id in tagged:
        assert tag(client, stack, order_id, "vip").status_code == 200
    assert tag(client, stack, mobile[2], "gift").status_code == 200
    admin = stack.keys["admin"]

    assert page_through(client, admin, "tag=vip&limit=2") == list(reversed(tagged))
    assert page_through(client, admin, "tag=VIP&limit=100&channel=web") == [web[6], web[3], web[2], web[0]]
    assert page_through(client, stack.keys["mobile"], "tag=vip") == [mobile[1]]
    assert page_through(client, admin, "tag=vip&status=placed&limit=3") == list(reversed(tagged))
    assert page_through(client, admin, "tag=gift") == [mobile[2]]
    assert page_through(client, admin, "tag=fragile") == []


def test_a_rare_status_among_many_tagged_orders_comes_in_short_pages(
    client: Client, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppingClock(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    ids = place_many("web", 6, clock, "TS")
    for order_id in ids:
        tag(client, stack, order_id, "vip")
    cancelled = post_json(
        client, f"/v1/orders/{ids[0]}/cancel", {"reason": "customer asked"}, stack.keys["web"]
    )
    assert cancelled.status_code == 200, cancelled.body
    monkeypatch.setattr(queries, "TAGGED_READ_BATCHES", 1)

    first = body(get(client, "/v1/orders?tag=vip&status=cancelled&limit=2", stack.keys["admin"]))

    # One batch read the three newest entries (none cancelled): an empty page that says where to go on.
    assert first["items"] == [] and first["next_cursor"]
    assert page_through(client, stack.keys["admin"], "tag=vip&status=cancelled&limit=2") == [ids[0]]


def test_a_cursor_of_another_listing_is_a_400(client: Client, stack: Stack) -> None:
    clock = SteppingClock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    ids = place_many("web", 3, clock, "TC")
    for order_id in ids:
        tag(client, stack, order_id, "vip")
    untagged_cursor = body(get(client, "/v1/orders?limit=1", stack.keys["admin"]))["next_cursor"]
    tagged_cursor = body(get(client, "/v1/orders?limit=1&tag=vip", stack.keys["admin"]))["next_cursor"]

    for path in (f"/v1/orders?tag=vip&cursor={untagged_cursor}", f"/v1/orders?cursor={tagged_cursor}"):
        response = get(client, path, stack.keys["admin"])
        assert response.status_code == 400, path
        assert body(response)["type"].endswith("invalid-cursor")
