"""The operations console: HTML pages under ``/console`` for admin key holders.

Served by the same Chalice app as the API (so it runs under ``make run`` and behind API Gateway).
Every route goes through ``endpoint`` like the API's, public as far as the framework is
concerned (``roles=None``), because the console authenticates itself: an admin pastes the key
once into the sign-in form, and from then on a signed session cookie (``console_session``) is
the credential. Every POST also needs the session's CSRF token; every page is rendered by Jinja
with autoescape and sent with a Content-Security-Policy that allows no script at all.

Actions call the same use cases as the API (``lifecycle.place_hold``/``release_hold``,
``fulfillment.cancel``, ``inventory.count_stock``), so the API's rules and errors apply; errors
are shown in plain words on the page they came from. docs/console.md describes each page, its
security and the queries it makes.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from chalice.app import Blueprint, Response
from pydantic import ValidationError

from chalicelib.adapters.api_keys import hash_key
from chalicelib.adapters.dynamodb import InvalidCursor
from chalicelib.adapters.templates import PageRenderer
from chalicelib.api import console_data as data
from chalicelib.api.console_session import (
    CSRF_FIELD,
    SessionInvalid,
    cleared_cookie,
    csrf_token,
    csrf_valid,
    issue_session,
    read_cookie,
    request_is_https,
    same_origin,
    session_cookie,
    verify_session,
)
from chalicelib.api.framework import MAX_BODY_BYTES, PUBLIC, SESSION, Call, endpoint
from chalicelib.bootstrap import Services, services
from chalicelib.domain.auth import Principal, Role
from chalicelib.domain.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    InputInvalid,
    InsufficientStock,
    NotFound,
)
from chalicelib.domain.event_payloads import (
    NotificationSent,
    OrderBackordered,
    OrderConfirmed,
    OrderHoldReleased,
    OrderOnHold,
    TrackingUpdated,
    payload_of,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.models import format_timestamp
from chalicelib.domain.status import HoldReason, InvalidTransition, OrderStatus
from chalicelib.service.fulfillment import cancel
from chalicelib.service.inventory import count_stock, stock_lines
from chalicelib.service.kpis import kpi_report
from chalicelib.service.lifecycle import place_hold, release_hold
from chalicelib.service.ports import StockConflict

logger = logging.getLogger("oms.console")

console_api = Blueprint(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "console"
STATIC = Path(__file__).resolve().parent.parent / "static"
#: The only files the static route serves (no path from the URL ever reaches the file system).
STATIC_FILES = {"console.css": "text/css; charset=utf-8"}
FORM = ["application/x-www-form-urlencoded"]
PAGE_SIZE = 25
#: An e-mail search filters the listing one window at a time (there is no index by e-mail).
EMAIL_WINDOW = 100
KPI_DEFAULT_DAYS = 14
UNMATCHED_DAYS = 7

DONE = {
    "hold_placed": "The hold was placed.",
    "hold_released": "The hold was released.",
    "cancelled": "The order was cancelled.",
    "lines_cancelled": "The units were cancelled.",
}


def _csp(nonce: str) -> str:
    # No script anywhere; styles from the console's own stylesheet, or inline SVG chart styles
    # carrying this response's nonce; SVG may come as data: images.
    return (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _headers(nonce: str, content_type: str = "text/html; charset=utf-8") -> dict[str, str | list[str]]:
    return {
        "Content-Type": content_type,
        "Content-Security-Policy": _csp(nonce),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _label(value: Any) -> str:
    return str(getattr(value, "value", value)).replace("_", " ")


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _number(value: Decimal | int | None, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


@cache
def _renderer() -> PageRenderer:
    renderer = PageRenderer(TEMPLATES)
    renderer.env.filters.update(when=_when, label=_label, percent=_percent, number=_number)
    return renderer


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


class Refused(Exception):
    """Ends a request early with the response it carries (sign-in again, forbidden, not found)."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response.status_code)


@dataclass
class Visit:
    """One request to the console: who is signed in, and how to answer."""

    call: Call
    svc: Services
    base: str
    secure: bool
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    principal: Principal | None = None
    session: str | None = None
    _form: dict[str, list[str]] | None = None

    @classmethod
    def start(cls, call: Call) -> Visit:
        headers = {name: str(value) for name, value in call.request.headers.items()}
        return cls(call=call, svc=services(), base=_base_path(call), secure=request_is_https(headers))

    @property
    def headers(self) -> dict[str, str]:
        return {name.lower(): str(value) for name, value in self.call.request.headers.items()}

    @property
    def csrf(self) -> str:
        assert self.session is not None, "only signed-in pages carry forms"
        return csrf_token(self.session, keys=self.svc.link_keys())

    def url(self, path: str, **query: Any) -> str:
        params = {name: value for name, value in query.items() if value not in (None, "")}
        return self.base + path + ("?" + urlencode(params) if params else "")

    def arg(self, name: str, max_length: int = 200) -> str:
        params = self.call.request.query_params
        value = params.get(name) if params is not None else None
        return str(value).strip()[:max_length] if value else ""

    def form(self, name: str, max_length: int = 500) -> str:
        values = self.form_values(name)
        return values[-1].strip()[:max_length] if values else ""

    def form_values(self, name: str) -> list[str]:
        if self._form is None:
            raw = self.call.request.raw_body or b""
            if len(raw) > MAX_BODY_BYTES:
                raise Refused(self.message(413, "Too much data", "The form sent more data than allowed."))
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            self._form = parse_qs(text, keep_blank_values=True)
        return self._form.get(name, [])

    def form_names(self) -> list[str]:
        self.form_values("")
        assert self._form is not None
        return list(self._form)

    # -- answers ---------------------------------------------------------------------------------

    def page(
        self, template: str, status: int = 200, *, cookie: str | None = None, **context: Any
    ) -> Response:
        body = _renderer().render(
            template,
            {
                "base": self.base,
                "signed_in": self.principal is not None,
                "csrf": self.csrf if self.principal is not None else "",
                "csrf_field": CSRF_FIELD,
                "nonce": self.nonce,
                "section": "",
                "notice": "",
                "error": "",
                **context,
            },
        )
        headers = _headers(self.nonce)
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return Response(body=body, status_code=status, headers=headers)

    def message(self, status: int, title: str, text: str, *, cookie: str | None = None) -> Response:
        return self.page("message", status, cookie=cookie, title=title, text=text)

    def redirect(self, path: str, *, cookie: str | None = None, **query: Any) -> Response:
        headers = _headers(self.nonce)
        headers["Location"] = self.url(path, **query)
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return Response(body="", status_code=303, headers=headers)

    def sign_in_page(self, status: int, error: str = "", *, cookie: str | None = None) -> Response:
        return self.page("signin", status, cookie=cookie, title="Sign in", error=error)

    # -- session ---------------------------------------------------------------------------------

    def authenticate(self) -> bool:
        """True when the request carries a live session of a key that is still an admin key."""
        token = read_cookie(self.headers.get("cookie"))
        if token is None:
            return False
        try:
            key_hash = verify_session(token, keys=self.svc.link_keys(), now=self.svc.clock.now())
        except SessionInvalid:
            return False
        principal = data.principal_for_key_hash(self.svc, key_hash)
        if principal is None or principal.role != Role.ADMIN:
            return False
        self.principal, self.session = principal, token
        return True

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal


def _base_path(call: Call) -> str:
    """What precedes the route in the browser's URL: API Gateway's stage (``/api``) or a custom
    domain's base path; nothing on the local server. Links and redirects start with it."""
    request = call.request
    context = request.context or {}
    full = str(context.get("path") or "")
    route = str(request.path or "")
    for name, value in (request.uri_params or {}).items():
        route = route.replace("{" + name + "}", str(value))
    if route and full.endswith(route):
        return full[: len(full) - len(route)].rstrip("/")
    stage = str(context.get("stage") or "")
    return f"/{stage}" if stage and full.startswith(f"/{stage}/") else ""


View = Callable[[Visit], Response]


def console_route(path: str, method: str, summary: str, *, signed_in: bool = True) -> Callable[[View], View]:
    """Register a console page with ``endpoint`` (so the OpenAPI document lists it) behind the
    console's own guard: a session for signed-in pages, same-origin and CSRF checks for POSTs,
    and an HTML answer for whatever goes wrong."""

    def decorator(view: View) -> View:
        def guarded(call: Call) -> Response:
            visit = Visit.start(call)
            try:
                return _guard(visit, method, signed_in) or view(visit)
            except Refused as refused:
                return refused.response
            except Exception:  # the page says something went wrong; the log has the details
                logger.exception("console error on %s %s", method, path)
                return visit.message(500, "Something went wrong", "The error has been logged. Try again.")

        guarded.__name__ = view.__name__
        guarded.__doc__ = view.__doc__
        endpoint(
            console_api,
            path,
            method,
            summary=f"Console: {summary} (HTML; admin session cookie)",
            roles=None,
            access=SESSION if signed_in else PUBLIC,
            tags=("console",),
            raw_response=True,
            content_types=FORM if method == "POST" else None,
        )(guarded)
        return view

    return decorator


def _guard(visit: Visit, method: str, signed_in: bool) -> Response | None:
    if method == "POST" and not same_origin(visit.headers):
        return visit.message(403, "Refused", "This form was not sent from the console.")
    if not signed_in:
        return None
    had_cookie = read_cookie(visit.headers.get("cookie")) is not None
    if not visit.authenticate():
        cookie = cleared_cookie(secure=visit.secure) if had_cookie else None
        if method == "GET":
            return visit.redirect("/console", cookie=cookie)
        return visit.sign_in_page(401, "Your session has ended. Sign in again.", cookie=cookie)
    if method == "POST":
        assert visit.session is not None
        if not csrf_valid(visit.session, visit.form(CSRF_FIELD), keys=visit.svc.link_keys()):
            return visit.message(
                403,
                "Refused",
                "This form has expired or did not come from the console. Go back, reload the page "
                "and try again.",
            )
    return None


def plain_error(exc: Exception) -> tuple[int, str]:
    """A use case's error in words for the page, with the status the API would answer."""
    if isinstance(exc, InputInvalid):
        return 422, "; ".join(e.msg for e in exc.errors) or str(exc)
    if isinstance(exc, InvalidTransition):
        return 409, f"Not possible now: {exc}."
    if isinstance(exc, Conflict):
        return 409, f"Not possible now: {exc}."
    if isinstance(exc, NotFound):
        return 404, f"Not found: {exc}."
    if isinstance(exc, ConcurrencyConflict | StockConflict):
        return 409, "Someone else changed this at the same moment. Reload the page and try again."
    if isinstance(exc, InsufficientStock):
        return 409, str(exc)
    if isinstance(exc, DomainError):
        return 400, str(exc)
    raise exc


ACTION_ERRORS = (DomainError, InvalidTransition, StockConflict)


# --- sign-in, sign-out, static files ---------------------------------------------------------------


@console_route("/console", "GET", "sign-in page, or the orders page when signed in", signed_in=False)
def console_home(visit: Visit) -> Response:
    if visit.authenticate():
        return visit.redirect("/console/orders")
    stale = read_cookie(visit.headers.get("cookie")) is not None  # expired, forged or revoked
    return visit.sign_in_page(200, cookie=cleared_cookie(secure=visit.secure) if stale else None)


@console_route("/console/signin", "POST", "sign in with an admin key (form field `key`)", signed_in=False)
def console_sign_in(visit: Visit) -> Response:
    raw_key = visit.form("key", 256)
    principal = visit.svc.api_keys.authenticate(raw_key) if raw_key else None
    if principal is None:
        return visit.sign_in_page(401, "That key is not valid: it is unknown or has been revoked.")
    if principal.role != Role.ADMIN:
        return visit.sign_in_page(
            403, f"The console needs an admin key; this is a {principal.role.value} key."
        )
    keys = visit.svc.link_keys()
    if not keys:
        logger.error("console sign-in impossible: no link-signing key (SSM signing/links)")
        return visit.sign_in_page(503, "The console cannot open sessions: no signing key is configured.")
    token = issue_session(hash_key(raw_key), keys=keys, now=visit.svc.clock.now())
    logger.info("console session opened by %s", principal.key_id)
    return visit.redirect("/console/orders", cookie=session_cookie(token, secure=visit.secure))


@console_route("/console/signout", "POST", "sign out (clears the session cookie)")
def console_sign_out(visit: Visit) -> Response:
    return visit.redirect("/console", cookie=cleared_cookie(secure=visit.secure))


@console_route("/console/static/{name}", "GET", "the console's stylesheet", signed_in=False)
def console_static(visit: Visit) -> Response:
    name = visit.call.params["name"]
    if name not in STATIC_FILES:
        return visit.message(404, "Not found", "There is no such file.")
    headers = _headers(visit.nonce, STATIC_FILES[name])
    headers["Cache-Control"] = "public, max-age=300"
    return Response(body=_static(name), status_code=200, headers=headers)


# --- orders ------------------------------------------------------------------------------------------


def _day(value: str, what: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{what} must be a date such as 2026-11-26.")
        return None


@console_route("/console/orders", "GET", "orders: filters, search, counts per status")
def console_orders(visit: Visit) -> Response:
    svc = visit.svc
    channels = data.list_channels(svc)
    errors: list[str] = []
    status = visit.arg("status", 40)
    if status and status not in OrderStatus.__members__.values():
        errors.append(f"There is no status {status!r}.")
        status = ""
    channel = visit.arg("channel", 64)
    if channel and channel not in {c.id for c in channels}:
        errors.append(f"There is no channel {channel!r}.")
        channel = ""
    day_from, day_to = _day(visit.arg("from", 10), "From", errors), _day(visit.arg("to", 10), "To", errors)
    if day_from and day_to and day_to < day_from:
        errors.append("To must not be before From.")
        day_to = None
    created_from = f"{day_from.isoformat()}T00:00:00.000Z" if day_from else None
    created_to = f"{day_to.isoformat()}T23:59:59.999Z" if day_to else None
    search = visit.arg("q", 254)
    cursor = visit.arg("cursor", 512) or None
    filters = {
        "status": status,
        "channel": channel,
        "from": day_from.isoformat() if day_from else "",
        "to": day_to.isoformat() if day_to else "",
    }
    note = ""
    next_cursor: str | None = None
    orders: list[Any] = []
    try:
        if search and "@" not in search:
            # An order id, or an external id: exact matches by key, never a listing.
            uow = svc.uow_factory()
            ids = [search] if search.startswith("ord_") else []
            ids += data.orders_by_external_id(svc, search, [channel] if channel else [c.id for c in channels])
            found = [uow.get_order(order_id) for order_id in dict.fromkeys(ids)]
            orders = [aggregate.order for aggregate in found if aggregate is not None]
            note = "Exact match on the order id, or the external id in " + (
                f"channel {channel}." if channel else "every channel."
            )
        else:
            limit = EMAIL_WINDOW if search else PAGE_SIZE
            orders, next_cursor = svc.queries.list_orders(
                status=status or None,
                channel_id=channel or None,
                created_from=created_from,
                created_to=created_to,
                limit=limit,
                cursor=cursor,
            )
            if search:
                wanted = search.lower()
                orders = [o for o in orders if o.customer.email.lower() == wanted]
                note = (
                    f"E-mail search looks through {EMAIL_WINDOW} orders at a time (newest first, "
                    "within the filters); use “Search the next orders” to go on."
                )
    except InvalidCursor:
        # A cursor from other filters (an edited URL): start again from the first page.
        return visit.redirect("/console/orders", q=search, **filters)
    counted = data.status_counts(
        svc,
        [s.value for s in OrderStatus],
        channel_id=channel or None,
        created_from=created_from,
        created_to=created_to,
    )
    counts = [
        {"status": s, "count": n, "url": visit.url("/console/orders", **{**filters, "status": s})}
        for s, n in counted.items()
    ]
    return visit.page(
        "orders",
        200 if not errors else 422,
        title="Orders",
        section="orders",
        orders=orders,
        counts=counts,
        count_cap=data.COUNT_CAP,
        channels=channels,
        statuses=[s.value for s in OrderStatus],
        filters=filters,
        search=search,
        note=note,
        error=" ".join(errors),
        paged=cursor is not None,
        next_url=visit.url("/console/orders", q=search, cursor=next_cursor, **filters) if next_cursor else "",
        first_url=visit.url("/console/orders", q=search, **filters),
    )


def _event_summary(event: DomainEvent) -> str:
    """One line for the timeline; the page shows the event's data in full beside it."""
    try:
        payload = payload_of(event)
    except (KeyError, ValueError):
        return ""  # an event the page cannot read still shows, with its data beside it
    if isinstance(payload, NotificationSent):
        return f"{payload.channel} “{payload.template}” sent to {payload.recipient}"
    if isinstance(payload, OrderOnHold):
        return "held: " + ", ".join(h.reason for h in payload.holds)
    if isinstance(payload, OrderHoldReleased):
        return f"released {payload.reason}"
    if isinstance(payload, OrderConfirmed | OrderBackordered) and payload.released_hold is not None:
        return f"released {payload.released_hold}"
    if isinstance(payload, TrackingUpdated):
        return f"carrier: {event.order_state().status}"
    return ""


def _details(event: DomainEvent) -> str:
    # Pretty JSON, escaped by the template like any other text.
    return json.dumps(event.data, indent=2, sort_keys=True, default=str) if event.data else ""


def _order_page(
    visit: Visit, order_id: str, status: int = 200, *, error: str = "", notice: str = ""
) -> Response:
    svc = visit.svc
    aggregate = svc.uow_factory().get_order(order_id)
    if aggregate is None:
        return visit.message(404, "Order not found", f"There is no order {order_id}.")
    events = svc.queries.list_events(order_id)
    order = aggregate.order
    return visit.page(
        "order",
        status,
        title=f"Order {order.external_id}",
        section="orders",
        order=order,
        fulfillments=sorted(aggregate.fulfillments, key=lambda f: (f.created_at, f.id)),
        returns=aggregate.returns,
        timeline=[(event, _event_summary(event), _details(event)) for event in events],
        hold_reasons=[r.value for r in HoldReason if r not in order.hold_reasons],
        cancellable=order.status != OrderStatus.CANCELLED,
        error=error,
        notice=notice,
    )


@console_route("/console/orders/{order_id}", "GET", "one order: lines, fulfillments, holds, timeline")
def console_order(visit: Visit) -> Response:
    return _order_page(visit, visit.call.params["order_id"], notice=DONE.get(visit.arg("done", 40), ""))


def _act(visit: Visit, order_id: str, action: Callable[[], Any], done: str) -> Response:
    try:
        action()
    except ACTION_ERRORS as exc:
        status, text = plain_error(exc)
        return _order_page(visit, order_id, status, error=text)
    return visit.redirect(f"/console/orders/{order_id}", done=done)


@console_route("/console/orders/{order_id}/holds", "POST", "put the order on hold (reason, note)")
def console_place_hold(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    try:
        reason = HoldReason(visit.form("reason", 40))
    except ValueError:
        return _order_page(visit, order_id, 422, error="Choose a reason for the hold.")
    note = visit.form("note", 500) or None
    return _act(
        visit,
        order_id,
        lambda: place_hold(
            svc.uow_factory, order_id, reason, note, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        ),
        "hold_placed",
    )


@console_route("/console/orders/{order_id}/holds/{reason}/release", "POST", "release one hold")
def console_release_hold(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    try:
        reason = HoldReason(visit.call.params["reason"])
    except ValueError:
        return _order_page(visit, order_id, 404, error="There is no such hold reason.")
    return _act(
        visit,
        order_id,
        lambda: release_hold(
            svc.uow_factory, order_id, reason, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        ),
        "hold_released",
    )


@console_route("/console/orders/{order_id}/cancel", "POST", "cancel the whole order, or units of lines")
def console_cancel(visit: Visit) -> Response:
    order_id = visit.call.params["order_id"]
    svc = visit.svc
    reason = visit.form("reason", 500)
    if not reason:
        return _order_page(visit, order_id, 422, error="Give a reason for the cancellation.")
    lines: dict[str, int] | None = None
    if visit.form("scope", 10) == "lines":
        lines = {}
        for name in visit.form_names():
            if not name.startswith("qty:") or not visit.form(name, 10):
                continue
            try:
                quantity = int(visit.form(name, 10))
            except ValueError:
                return _order_page(visit, order_id, 422, error=f"Units of {name[4:]} must be a whole number.")
            if quantity < 0:
                return _order_page(visit, order_id, 422, error=f"Units of {name[4:]} cannot be negative.")
            if quantity:
                lines[name[4:]] = quantity
        if not lines:
            return _order_page(visit, order_id, 422, error="Enter how many units of which line to cancel.")
    who = visit.who
    return _act(
        visit,
        order_id,
        lambda: cancel(
            svc.uow_factory,
            order_id,
            reason,
            lines,
            authorize=lambda order: who.require_channel_access(order.channel_id),
            actor=who.actor,
            ids=svc.ids,
            clock=svc.clock,
        ),
        "lines_cancelled" if lines else "cancelled",
    )


# --- needs attention ------------------------------------------------------------------------------


@console_route(
    "/console/attention", "GET", "holds, SLA breaches, delivery problems, unmatched tracking, DLQs"
)
def console_attention(visit: Visit) -> Response:
    svc = visit.svc
    now = svc.clock.now()
    on_hold, more_on_hold = svc.queries.list_orders(
        status=OrderStatus.ON_HOLD.value,
        channel_id=None,
        created_from=None,
        created_to=None,
        limit=data.ATTENTION_LIMIT,
        cursor=None,
    )
    days = [(now.date() - timedelta(days=n)).isoformat() for n in range(UNMATCHED_DAYS)]
    unmatched = data.unmatched_tracking(svc, days)
    try:
        queues: list[data.QueueDepth] | None = data.dead_letter_queues(svc.settings.stage)
    except data.QueuesUnavailable:
        queues = None
    return visit.page(
        "attention",
        title="Needs attention",
        section="attention",
        now=now,
        on_hold=on_hold,
        more_on_hold=more_on_hold is not None,
        on_hold_url=visit.url("/console/orders", status=OrderStatus.ON_HOLD.value),
        late=data.late_work(svc, now),
        problems=data.delivery_problems(svc),
        limit=data.ATTENTION_LIMIT,
        unmatched=[(day, unmatched.get(day, 0)) for day in days],
        queues=queues,
    )


# --- inventory -------------------------------------------------------------------------------------


def _inventory_page(visit: Visit, status: int = 200, *, error: str = "", counted: Any = None) -> Response:
    svc = visit.svc
    warehouses = svc.uow_factory().list_warehouses()
    warehouse = visit.arg("warehouse", 64)
    show = visit.arg("show", 20) or "all"
    errors = [error] if error else []
    if warehouse and warehouse not in {w.id for w in warehouses}:
        errors.append(f"There is no warehouse {warehouse!r}.")
        warehouse = ""
    if show not in ("all", "low", "overstock"):
        show = "all"
    lines = stock_lines(
        svc.uow_factory,
        svc.stock,
        warehouse_id=warehouse or None,
        below_reorder_point=show == "low",
        overstock=show == "overstock",
        clock=svc.clock,
    )
    if errors and status == 200:
        status = 422
    return visit.page(
        "inventory",
        status,
        title="Inventory",
        section="inventory",
        warehouses=warehouses,
        warehouse=warehouse,
        show=show,
        lines=lines,
        counted=counted,
        error=" ".join(errors),
        form_sku=visit.form("sku", 64) if visit.call.request.method == "POST" else "",
        form_warehouse=visit.form("warehouse", 64) if visit.call.request.method == "POST" else "",
    )


@console_route("/console/inventory", "GET", "stock by warehouse and SKU: low, overstock, days of cover")
def console_inventory(visit: Visit) -> Response:
    return _inventory_page(visit)


@console_route("/console/inventory/counts", "POST", "record a cycle count (warehouse, sku, counted)")
def console_count(visit: Visit) -> Response:
    svc = visit.svc
    warehouse, sku, counted_text = (
        visit.form("warehouse", 64),
        visit.form("sku", 64),
        visit.form("counted", 12),
    )
    try:
        counted = int(counted_text)
    except ValueError:
        return _inventory_page(visit, 422, error="Units counted must be a whole number.")
    if not 0 <= counted <= 10_000_000:
        return _inventory_page(visit, 422, error="Units counted must be between 0 and 10,000,000.")
    if not warehouse or not sku:
        return _inventory_page(visit, 422, error="Choose a warehouse and enter a SKU.")
    try:
        event = count_stock(
            svc.uow_factory, warehouse, sku, counted, actor=visit.who.actor, ids=svc.ids, clock=svc.clock
        )
    except ACTION_ERRORS as exc:
        status, text = plain_error(exc)
        return _inventory_page(visit, status, error=text)
    return _inventory_page(visit, counted=event)


# --- KPIs --------------------------------------------------------------------------------------------


@console_route("/console/kpis", "GET", "KPIs of a period and channel, with charts")
def console_kpis(visit: Visit) -> Response:
    svc = visit.svc
    today = svc.clock.now().date()
    errors: list[str] = []
    channels = data.list_channels(svc)
    day_to = _day(visit.arg("to", 10), "To", errors) or today
    day_from = _day(visit.arg("from", 10), "From", errors) or day_to - timedelta(days=KPI_DEFAULT_DAYS - 1)
    channel = visit.arg("channel", 64)
    if channel and channel not in {c.id for c in channels}:
        errors.append(f"There is no channel {channel!r}.")
        channel = ""
    report = None
    try:
        report = kpi_report(svc.counters, from_date=day_from, to_date=day_to, channel=channel or None)
    except (InputInvalid, ValidationError) as exc:
        errors.append(plain_error(exc)[1] if isinstance(exc, InputInvalid) else "The period is not valid.")
    return visit.page(
        "kpis",
        200 if not errors else 422,
        title="KPIs",
        section="kpis",
        report=report,
        charts=_charts(report, visit.nonce) if report is not None else [],
        channels=channels,
        filters={"from": day_from.isoformat(), "to": day_to.isoformat(), "channel": channel},
        generated_at=format_timestamp(svc.clock.now()),
        error=" ".join(errors),
    )


def _charts(report: Any, nonce: str) -> Any:
    # pygal is imported on the KPI page only: every other request (and every cold start of the
    # API Lambda) is spared its import time.
    from chalicelib.api.console_charts import kpi_charts

    return kpi_charts(report, nonce)
