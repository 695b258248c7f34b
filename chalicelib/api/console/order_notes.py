"""Staff notes and tags from an order's page: add a note (private or for the customer), put a
tag on, take one off. The same use cases and rules as the API (``service.notes``)."""

from __future__ import annotations

from chalice.app import Response
from pydantic import ValidationError

from chalicelib.api.console.order_detail import act_on_order, order_page
from chalicelib.api.console.visit import Visit, console_route
from chalicelib.api.notes import NoteRequest
from chalicelib.domain.models import Order
from chalicelib.domain.notes import MAX_NOTE_LENGTH, InvalidTag, normalise_tag
from chalicelib.service.notes import add_note, change_tags


def _anyone(order: Order) -> None:
    """The console is for admin key holders: every channel's orders."""


@console_route("/console/orders/{order_id}/notes", "POST", "add a note (private or for the customer)")
def console_add_note(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    try:
        # One character more than allowed is read, so that a note too long is refused, not cut.
        request = NoteRequest(
            text=visit.form("text", MAX_NOTE_LENGTH + 1),
            visibility=visit.form("visibility", 20),  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors()}
        text = (
            f"Write the note (1 to {MAX_NOTE_LENGTH} characters, no control characters)."
            if "text" in fields
            else "Choose who may read the note."
        )
        return order_page(visit, order_id, 422, error=text)
    return act_on_order(
        visit,
        order_id,
        lambda: add_note(
            svc.uow_factory,
            order_id,
            request.text,
            request.visibility,
            authorize=_anyone,
            actor=visit.who.actor,
            ids=svc.ids,
            clock=svc.clock,
        ),
        "note_added",
    )


def _change_tag(visit: Visit, order_id: str, raw: str, *, adding: bool) -> Response:
    svc = visit.svc
    try:
        tag = normalise_tag(raw)
    except InvalidTag as exc:
        return order_page(visit, order_id, 422, error=f"That is not a tag: {exc}.")
    return act_on_order(
        visit,
        order_id,
        lambda: change_tags(
            svc.uow_factory,
            order_id,
            add=[tag] if adding else [],
            remove=[] if adding else [tag],
            authorize=_anyone,
            actor=visit.who.actor,
            ids=svc.ids,
            clock=svc.clock,
        ),
        "tag_added" if adding else "tag_removed",
    )


@console_route("/console/orders/{order_id}/tags", "POST", "put a tag on the order")
def console_add_tag(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    return _change_tag(visit, order_id, visit.form("tag", 64), adding=True)


@console_route("/console/orders/{order_id}/tags/{tag}/remove", "POST", "take a tag off the order")
def console_remove_tag(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    return _change_tag(visit, order_id, visit.call.params["tag"], adding=False)
