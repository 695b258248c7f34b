"""The customer's status page: ``/orders/status/{token}``, the link every customer e-mail carries.

No API key: the signed token is the credential (``service.status_page``); a bad, forged or
expired one is the same 404 page as an unknown order. The page is rendered on the server, sent
with the console's Content-Security-Policy (no script at all; its one stylesheet inline with
this response's nonce), and works without JavaScript: the return form posts back to the same
URL, and a return started answers with a redirect (303) to the page, so a reload sends nothing
again. A form that cannot be accepted is the page again, with what to correct (422), never a 500.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qs, quote

from chalice.app import Blueprint, Response
from pydantic import ValidationError

from chalicelib.api.console_session import same_origin
from chalicelib.api.framework import LINKED, MAX_BODY_BYTES, Call, endpoint
from chalicelib.api.pages import PageRenderer, headers_for
from chalicelib.bootstrap import Services, services
from chalicelib.domain.errors import ConcurrencyConflict, Conflict, InputInvalid, NotFound
from chalicelib.domain.money import CURRENCY_EXPONENTS
from chalicelib.domain.returns import ReturnLine
from chalicelib.service.ports import OrderAggregate
from chalicelib.service.promises import promised_dates
from chalicelib.service.status_page import (
    RETURN_REASONS,
    FormExpired,
    order_of_link,
    return_form_token,
    start_return,
    status_view,
)

logger = logging.getLogger("oms.status_page")

status_page_api = Blueprint(__name__)

PATH = "/orders/status/{token}"
FORM = ["application/x-www-form-urlencoded"]
NOT_FOUND_TEXT = "This link is not valid or has expired. The newest e-mail about your order has a fresh one."


def _day(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return f"{value:%a} {value.day} {value:%b %Y}"


def _moment(value: datetime | None) -> str:
    if value is None:
        return "—"
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y}, {value:%H:%M} UTC"


def _iso(value: date | datetime) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value.isoformat()


@cache
def _renderer() -> PageRenderer:
    renderer = PageRenderer()
    renderer.env.filters.update(day=_day, moment=_moment, iso=_iso)
    return renderer


def _page(template: str, status: int, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    body = _renderer().render(template, {"nonce": nonce, **context})
    return Response(body=body, status_code=status, headers=headers_for(nonce))


def _not_found() -> Response:
    return _page("status_message", 404, title="Page not found", text=NOT_FOUND_TEXT)


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.{CURRENCY_EXPONENTS.get(currency, 2)}f} {currency}"


@dataclass
class Entered:
    """What the customer typed into one line of the form, to show it again with the errors."""

    quantity: str = "0"
    reason: str = ""
    details: str = ""


def _status_page(
    svc: Services,
    aggregate: OrderAggregate,
    *,
    status: int = 200,
    form_token: str | None = None,
    entered: dict[str, Entered] | None = None,
    errors: list[str] | None = None,
    started: str | None = None,
) -> Response:
    order = aggregate.order
    view = status_view(
        order,
        aggregate.fulfillments,
        aggregate.returns,
        now=svc.clock.now(),
        window_days=svc.settings.return_window_days,
        promise=promised_dates(
            aggregate, uow_factory=svc.uow_factory, transit_times=svc.transit_times, clock=svc.clock
        ),
    )
    if form_token is None and view.return_open:
        form_token = return_form_token(order.id, keys=svc.link_keys(), ids=svc.ids, clock=svc.clock)
    return _page(
        "status",
        status,
        view=view,
        money=lambda amount: _money(amount, view.currency),
        form_token=form_token,
        reasons=RETURN_REASONS,
        entered=entered or {},
        errors=errors or [],
        started=next((r for r in view.returns if r.id == started), None),
    )


@endpoint(
    status_page_api,
    PATH,
    "GET",
    summary="The customer's status page: order, parcels and tracking, promised dates, return form (HTML)",
    roles=None,
    access=LINKED,
    tags=("customers",),
    errors=(404,),
    raw_response=True,
)
def status_page(call: Call) -> Response:
    svc = services()
    try:
        aggregate = order_of_link(
            svc.uow_factory, call.params["token"], keys=svc.link_keys(), clock=svc.clock
        )
    except NotFound:
        return _not_found()
    query: dict[str, str] = dict(call.request.query_params or {})
    return _status_page(svc, aggregate, started=query.get("return") or None)


@endpoint(
    status_page_api,
    PATH,
    "POST",
    summary="Start a return from the status page's form (form fields quantity:<sku>, reason:<sku>, "
    "details:<sku>, form); 303 to the page, or the page with what to correct (HTML)",
    roles=None,
    access=LINKED,
    success_status=303,
    tags=("customers",),
    errors=(403, 404, 409, 413, 415, 422),
    content_types=FORM,
    raw_response=True,
)
def status_page_return(call: Call) -> Response:
    svc = services()
    token = call.params["token"]
    try:
        aggregate = order_of_link(svc.uow_factory, token, keys=svc.link_keys(), clock=svc.clock)
    except NotFound:
        return _not_found()
    headers = {name.lower(): str(value) for name, value in call.request.headers.items()}
    if not same_origin(headers):
        return _page(
            "status_message", 403, title="Refused", text="This form was not sent from your order's page."
        )
    raw = call.request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        return _page(
            "status_message", 413, title="Too much data", text="The form sent more data than allowed."
        )
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    form = {name: values[-1] for name, values in parse_qs(text, keep_blank_values=True).items()}
    form_token = form.get("form", "")
    lines, entered, errors = _return_lines(form)
    if errors:
        return _status_page(svc, aggregate, status=422, form_token=form_token, entered=entered, errors=errors)
    try:
        rma = start_return(
            svc.uow_factory,
            aggregate,
            lines,
            form_token=form_token,
            keys=svc.link_keys(),
            window_days=svc.settings.return_window_days,
            ids=svc.ids,
            clock=svc.clock,
        )
    except FormExpired:
        expired = ["This form had expired. Check your choices and send it again."]
        return _status_page(svc, aggregate, status=422, entered=entered, errors=expired)
    except InputInvalid as exc:
        problems = [_sentence(e.msg) for e in exc.errors]
        return _status_page(
            svc, aggregate, status=422, form_token=form_token, entered=entered, errors=problems
        )
    except NotFound:
        return _not_found()
    except (Conflict, ConcurrencyConflict):
        busy = ["Your order was being updated at the same moment. Please send the form again."]
        return _status_page(svc, aggregate, status=409, form_token=form_token, entered=entered, errors=busy)
    logger.info("return %s started from the status page of order %s", rma.id, aggregate.order.id)
    # Relative to this page's own URL, so it holds behind any stage or base path.
    location = f"{quote(token, safe='')}?return={quote(rma.id, safe='')}"
    return Response(
        body="", status_code=303, headers={**headers_for(secrets.token_urlsafe(16)), "Location": location}
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _return_lines(form: dict[str, str]) -> tuple[list[ReturnLine], dict[str, Entered], list[str]]:
    """The lines asked for (quantity above zero), what was entered, and what is wrong with it."""
    lines: list[ReturnLine] = []
    entered: dict[str, Entered] = {}
    errors: list[str] = []
    for name, value in form.items():
        if not name.startswith("quantity:"):
            continue
        sku = name.removeprefix("quantity:")
        typed = Entered(
            quantity=value.strip()[:12],
            reason=form.get(f"reason:{sku}", "").strip()[:100],
            details=form.get(f"details:{sku}", "").strip()[:500],
        )
        entered[sku] = typed
        if typed.quantity in ("", "0"):
            continue
        if not typed.quantity.isdigit():
            errors.append(f"{sku}: the quantity must be a whole number of units.")
            continue
        if typed.reason not in RETURN_REASONS:
            errors.append(f"{sku}: choose a reason for returning it.")
            continue
        reason = f"{typed.reason}: {typed.details}" if typed.details else typed.reason
        try:
            lines.append(ReturnLine(sku=sku, quantity=int(typed.quantity), reason=reason))
        except ValidationError as exc:
            errors.extend(f"{sku}: {_sentence(e['msg'])}" for e in exc.errors())
    if not lines and not errors:
        errors.append("Choose how many units of at least one item you are returning.")
    return lines, entered, errors
