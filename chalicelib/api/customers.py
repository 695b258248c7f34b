"""Routes the customer reaches from links in e-mails (no API key: the signed token is the
credential), and per-order message preferences for channels and admins.

The links open small HTML pages; their forms post back to the same URL. The
POST routes also take JSON, for stores that build their own pages.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from chalice import Response
from chalice.app import Blueprint, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.api.framework import (
    LINKED,
    Call,
    ProblemError,
    endpoint,
    owned,
    parse_json_body,
    raw_body_of,
)
from chalicelib.api.orders import CHANNEL_OR_ADMIN, OrderView, view_of
from chalicelib.api.pages import PageRenderer
from chalicelib.bootstrap import services
from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.models import MultilineText
from chalicelib.domain.tokens import InvalidToken, verify_token
from chalicelib.service.communication import (
    FEEDBACK,
    UNSUBSCRIBE,
    change_preferences,
    record_feedback,
    unsubscribe,
)

customers_api = Blueprint(__name__)

#: Pages load nothing from anywhere; forms post only to this origin.
PAGE_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FORM_OR_JSON = ["application/json", "application/x-www-form-urlencoded"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[MultilineText, Field(max_length=2000)] | None = None


class FeedbackReceipt(BaseModel):
    order_id: str
    rating: int


class NotificationPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool | None = None
    sms: bool | None = None


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(body=PageRenderer().render(template, context), status_code=status, headers=PAGE_HEADERS)


def _is_form(request: Request) -> bool:
    return str(request.headers.get("content-type", "")).startswith("application/x-www-form-urlencoded")


def _form_or_json(request: Request) -> Any:
    if not _is_form(request):
        return parse_json_body(request)
    fields = parse_qs(raw_body_of(request).decode("utf-8", "replace"), keep_blank_values=False)
    return {name: values[-1] for name, values in fields.items()}


def _order_for(token: str, purpose: str) -> Any:
    """The order a link is for, to show on its page; a bad link is a 404 page."""
    svc = services()
    try:
        claims = verify_token(token, purpose, keys=svc.link_keys(), now=svc.clock.now())
    except InvalidToken:
        raise NotFound("link", "(invalid or expired)") from None
    aggregate = svc.uow_factory().get_order(claims.order_id)
    if aggregate is None:
        raise NotFound("link", "(invalid or expired)")
    return aggregate.order


@endpoint(
    customers_api,
    "/v1/feedback/{token}",
    "GET",
    summary="The satisfaction form a delivered e-mail links to",
    roles=None,
    access=LINKED,
    tags=("customers",),
    errors=(404,),
    raw_response=True,
)
def feedback_form(call: Call) -> Response:
    try:
        return _page("feedback", order=_order_for(call.params["token"], FEEDBACK))
    except NotFound:
        return _page("message", 404, title="Link not valid", text="This link is not valid or has expired.")


@endpoint(
    customers_api,
    "/v1/feedback/{token}",
    "POST",
    summary="Rate a delivered order (once)",
    roles=None,
    access=LINKED,
    body_schema=FeedbackRequest,
    response=FeedbackReceipt,
    success_status=201,
    tags=("customers",),
    errors=(400, 404, 409, 413, 415, 422),
    content_types=FORM_OR_JSON,
)
def give_feedback(call: Call) -> Response:
    svc = services()
    try:
        body = FeedbackRequest.model_validate(_form_or_json(call.request))
    except ValidationError as exc:
        errors = [FieldError(loc=list(e["loc"]), msg=e["msg"], type=e["type"]) for e in exc.errors()]
        raise InputInvalid(errors) from None
    form = _is_form(call.request)
    try:
        result = record_feedback(
            svc.uow_factory,
            call.params["token"],
            body.rating,
            body.comment or None,
            keys=svc.link_keys(),
            ids=svc.ids,
            clock=svc.clock,
        )
    except Conflict:
        if form:
            return _page(
                "message", 409, title="Already rated", text="This order has been rated already. Thank you!"
            )
        raise
    except NotFound:
        if form:
            return _page(
                "message", 404, title="Link not valid", text="This link is not valid or has expired."
            )
        raise
    if form:
        return _page("message", 201, title="Thank you!", text="Your rating has been recorded.")
    receipt = FeedbackReceipt(order_id=result.order.id, rating=body.rating)
    return Response(
        body=receipt.model_dump_json(), status_code=201, headers={"Content-Type": "application/json"}
    )


@endpoint(
    customers_api,
    "/v1/unsubscribe/{token}",
    "GET",
    summary="The opt-out page an e-mail's footer links to",
    roles=None,
    access=LINKED,
    tags=("customers",),
    errors=(404,),
    raw_response=True,
)
def unsubscribe_page(call: Call) -> Response:
    # A GET never unsubscribes: mail scanners open links before people do.
    try:
        return _page("unsubscribe", order=_order_for(call.params["token"], UNSUBSCRIBE), done=False)
    except NotFound:
        return _page("message", 404, title="Link not valid", text="This link is not valid or has expired.")


@endpoint(
    customers_api,
    "/v1/unsubscribe/{token}",
    "POST",
    summary="Stop e-mails and SMS about one order (the page's button, or RFC 8058 one-click)",
    roles=None,
    access=LINKED,
    response=OrderView,
    tags=("customers",),
    errors=(404, 415),
    content_types=[*FORM_OR_JSON, "text/plain"],
    raw_response=True,
)
def unsubscribe_now(call: Call) -> Response:
    svc = services()
    result = unsubscribe(
        svc.uow_factory, call.params["token"], keys=svc.link_keys(), ids=svc.ids, clock=svc.clock
    )
    if _is_form(call.request):
        return _page("unsubscribe", order=result.order, done=True)
    return Response(
        body=json.dumps({"email": result.order.notify.email, "sms": result.order.notify.sms}),
        status_code=200,
        headers={"Content-Type": "application/json"},
    )


@endpoint(
    customers_api,
    "/v1/orders/{order_id}/notifications",
    "PATCH",
    summary="Opt one order in or out of e-mail and SMS",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    body=NotificationPreferences,
    response=OrderView,
    tags=("orders",),
    errors=(400, 401, 403, 404, 413, 415, 422),
)
def set_notifications(call: Call) -> OrderView:
    svc = services()
    body: NotificationPreferences = call.body
    if body.email is None and body.sms is None:
        raise ProblemError(422, "validation-error", "Validation failed", "give email and/or sms")
    who = call.who
    result = change_preferences(
        svc.uow_factory,
        call.params["order_id"],
        email=body.email,
        sms=body.sms,
        authorize=lambda order: who.require_channel_access(order.channel_id),
        actor=who.actor,
        ids=svc.ids,
        clock=svc.clock,
    )
    return view_of(result)
