"""The console's notes and tags: the order page's forms, the listing's tag filter and the search
in notes' words."""

from __future__ import annotations

from chalice.test import Client

from tests.integration.conftest import Stack, order_body, order_of, place
from tests.integration.test_console import Console, _text


def test_the_order_page_adds_notes_and_tags_and_shows_them_marked(client: Client, stack: Stack) -> None:
    order = place(client, stack, order_body("WEB-NOTE-1"))
    path = f"/console/orders/{order['id']}"
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()

    private = visitor.post(
        f"{path}/notes", {"text": "Fraud team: <b>ok</b>", "visibility": "private", "csrf": token}
    )
    public = visitor.post(
        f"{path}/notes", {"text": "We added a gift card", "visibility": "customer", "csrf": token}
    )
    tagged = visitor.post(f"{path}/tags", {"tag": " Gift Wrap ", "csrf": token})
    vip = visitor.post(f"{path}/tags", {"tag": "vip", "csrf": token})
    removed = visitor.post(f"{path}/tags/vip/remove", {"csrf": token})

    assert [r.status_code for r in (private, public, tagged, vip, removed)] == [303] * 5
    assert removed.headers["Location"].endswith("done=tag_removed")
    stored = order_of(client, stack, order["id"])
    assert [(n["text"], n["visibility"]) for n in stored["notes"]] == [
        ("Fraud team: <b>ok</b>", "private"),
        ("We added a gift card", "customer"),
    ]
    assert stored["notes"][0]["author"].startswith("admin:")
    assert stored["tags"] == ["gift-wrap"]
    page = _text(visitor.get(path))
    assert "Fraud team: &lt;b&gt;ok&lt;/b&gt;" in page and "<b>ok</b>" not in page
    assert '<span class="badge badge-private">private</span>' in page
    assert '<span class="badge badge-customer">customer</span>' in page
    assert '<span class="tag">gift-wrap</span>' in page
    assert f'action="{path}/tags/gift-wrap/remove"' in page
    for summary in (
        "private note: Fraud team",
        "customer note: We added a gift card",
        "tags +vip",
        "tags -vip",
    ):
        assert summary in page


def test_bad_notes_and_tags_are_refused_in_plain_words(client: Client, stack: Stack) -> None:
    order = place(client, stack, order_body("WEB-NOTE-2"))
    path = f"/console/orders/{order['id']}"
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()

    empty = visitor.post(f"{path}/notes", {"text": "  ", "visibility": "private", "csrf": token})
    long = visitor.post(f"{path}/notes", {"text": "x" * 1001, "visibility": "private", "csrf": token})
    nobody = visitor.post(f"{path}/notes", {"text": "hello", "visibility": "everyone", "csrf": token})
    bad_tag = visitor.post(f"{path}/tags", {"tag": "vip!", "csrf": token})
    no_csrf = visitor.post(f"{path}/notes", {"text": "hello", "visibility": "private"})

    assert empty.status_code == long.status_code == 422 and "Write the note" in _text(long)
    assert nobody.status_code == 422 and "Choose who may read the note" in _text(nobody)
    assert bad_tag.status_code == 422 and "That is not a tag" in _text(bad_tag)
    assert no_csrf.status_code == 403
    stored = order_of(client, stack, order["id"])
    assert stored["notes"] == [] and stored["tags"] == [] and stored["version"] == order["version"]


def test_the_orders_list_filters_by_tag_and_finds_the_words_of_notes(client: Client, stack: Stack) -> None:
    first = place(client, stack, order_body("WEB-TAG-1"))
    second = place(client, stack, order_body("WEB-TAG-2"))
    visitor = Console(client)
    visitor.sign_in(stack.keys["admin"])
    token = visitor.csrf()
    visitor.post(f"/console/orders/{first['id']}/tags", {"tag": "fragile", "csrf": token})
    visitor.post(
        f"/console/orders/{second['id']}/notes",
        {"text": "Leave with the NEIGHBOUR at 12", "visibility": "private", "csrf": token},
    )

    fragile = _text(visitor.get("/console/orders?tag=Fragile"))
    found = _text(visitor.get("/console/orders?q=neighbour"))
    bad = visitor.get("/console/orders?tag=no%20good!")

    assert "WEB-TAG-1" in fragile and "WEB-TAG-2" not in fragile
    assert 'value="fragile"' in fragile
    assert "WEB-TAG-2" in found and "WEB-TAG-1" not in found and "staff notes" in found
    assert bad.status_code == 422 and "That is not a tag" in _text(bad)
