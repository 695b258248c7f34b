"""One request to the operations console: the session guard, the page renderer, and the answers.

Every console page is a view taking a ``Visit`` and registered with ``console_route``, which runs
the guard first (a live admin session for signed-in pages, same-origin and CSRF checks for
POSTs) and turns anything that goes wrong into an HTML page. ``plain_error`` puts a use case's
error into words for the page it came from.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from chalice.app import Blueprint, Response

from chalicelib.api import console_data as data
from chalicelib.api.console_session import (
    CSRF_FIELD,
    SessionInvalid,
    cleared_cookie,
    csrf_token,
    csrf_valid,
    read_cookie,
    request_is_https,
    same_origin,
    verify_session,
)
from chalicelib.api.framework import MAX_BODY_BYTES, PUBLIC, SESSION, Call, endpoint
from chalicelib.api.pages import PageRenderer, headers_for
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
from chalicelib.domain.status import InvalidTransition
from chalicelib.service.ports import StockConflict

logger = logging.getLogger("oms.console")

#: Named after the package: the console's routes are one blueprint, whichever module holds them.
console_api = Blueprint("chalicelib.api.console")

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "console"
FORM = ["application/x-www-form-urlencoded"]


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
        headers = headers_for(self.nonce)
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return Response(body=body, status_code=status, headers=headers)

    def message(self, status: int, title: str, text: str, *, cookie: str | None = None) -> Response:
        return self.page("message", status, cookie=cookie, title=title, text=text)

    def redirect(self, path: str, *, cookie: str | None = None, **query: Any) -> Response:
        headers = headers_for(self.nonce)
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


def parse_day(value: str, what: str, errors: list[str]) -> date | None:
    """A date from a query parameter; None when empty, or (with a message in ``errors``) unreadable."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{what} must be a date such as 2026-11-26.")
        return None
