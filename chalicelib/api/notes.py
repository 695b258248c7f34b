"""Staff notes and tags on an order (admin keys): parse, authorize, call ``service.notes``, render.

Private notes are shown to admin keys and the console only; ``orders.view_of`` leaves them out
of every other view of an order (store and warehouse keys).
"""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.framework import Call, endpoint, owned
from chalicelib.api.orders import OrderView, view_of
from chalicelib.bootstrap import services
from chalicelib.domain.auth import Role
from chalicelib.domain.errors import FieldError, InputInvalid
from chalicelib.domain.models import MultilineText, NoteVisibility
from chalicelib.domain.notes import MAX_NOTE_LENGTH, InvalidTag, normalise_tag
from chalicelib.service.notes import add_note, change_tags

notes_api = Blueprint(__name__)


class NoteRequest(BaseModel):
    """A note for the order's timeline: ``private`` for operations only, ``customer`` for the
    customer's status page and the store."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: Annotated[MultilineText, Field(min_length=1, max_length=MAX_NOTE_LENGTH)]
    visibility: NoteVisibility


def _tag(call: Call) -> str:
    try:
        return normalise_tag(call.params["tag"])
    except InvalidTag as exc:
        raise InputInvalid([FieldError(["path", "tag"], str(exc))]) from None


@endpoint(
    notes_api,
    "/v1/orders/{order_id}/notes",
    "POST",
    summary="Add a staff note (private, or visible to the customer); notes are never edited",
    roles=(Role.ADMIN,),
    access=owned("order", "order_id"),
    body=NoteRequest,
    response=OrderView,
    success_status=201,
    tags=("notes",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def post_note(call: Call) -> OrderView:
    svc = services()
    body: NoteRequest = call.body
    who = call.who
    result = add_note(
        svc.uow_factory,
        call.params["order_id"],
        body.text,
        body.visibility,
        authorize=lambda order: who.require_channel_access(order.channel_id),
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result, private_notes=True)


def _change_tag(call: Call, *, adding: bool) -> OrderView:
    svc = services()
    tag = _tag(call)
    who = call.who
    result = change_tags(
        svc.uow_factory,
        call.params["order_id"],
        add=[tag] if adding else [],
        remove=[] if adding else [tag],
        authorize=lambda order: who.require_channel_access(order.channel_id),
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result, private_notes=True)


@endpoint(
    notes_api,
    "/v1/orders/{order_id}/tags/{tag}",
    "PUT",
    summary="Tag the order (normalised: lower case, [a-z0-9-]{1,32}); tagging twice changes nothing",
    roles=(Role.ADMIN,),
    access=owned("order", "order_id"),
    response=OrderView,
    tags=("notes",),
    errors=(401, 403, 404, 409, 422),
)
def put_tag(call: Call) -> OrderView:
    return _change_tag(call, adding=True)


@endpoint(
    notes_api,
    "/v1/orders/{order_id}/tags/{tag}",
    "DELETE",
    summary="Take a tag off the order; removing a tag it does not carry changes nothing",
    roles=(Role.ADMIN,),
    access=owned("order", "order_id"),
    response=OrderView,
    tags=("notes",),
    errors=(401, 403, 404, 409, 422),
)
def delete_tag(call: Call) -> OrderView:
    return _change_tag(call, adding=False)
