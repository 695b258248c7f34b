"""The thin HTTP layer every route goes through.

``endpoint(...)`` registers a Chalice route and records it for the OpenAPI
document, so the document cannot drift from the routes. The wrapper it adds
authenticates the key, enforces the body size limit, parses the raw body
(malformed JSON -> 400), validates it with the route's pydantic model (-> 422
with every field error), calls the view and turns domain errors into RFC 9457
problems. No view ever returns a stack trace or a 500 for bad input.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalice import Blueprint, Chalice, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.domain.auth import Forbidden, OutOfScope, Principal, Role, Unauthenticated
from chalicelib.domain.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    FieldError,
    IdempotencyKeyReused,
    InputInvalid,
    InsufficientStock,
    NotFound,
    TooLarge,
    UnknownSkus,
)
from chalicelib.domain.packing import PackingInputError
from chalicelib.domain.status import InvalidTransition
from chalicelib.domain.text import forbidden_character
from chalicelib.service.ports import StockConflict, TrackingNumberInUse

logger = logging.getLogger("oms.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://oms.dev/problems/"
#: Request bodies above this are refused before parsing (413).
MAX_BODY_BYTES = 256 * 1024
#: Deepest nesting of arrays and objects a body may have; ours need 5. Checked before parsing,
#: so a body of 50,000 brackets never reaches the recursive decoder.
MAX_JSON_DEPTH = 32
#: Longest number literal accepted (digits, sign, point, exponent). Python refuses to convert
#: integers above 4,300 digits (ValueError) and turns 1e999999 into infinity; no field needs more.
MAX_NUMBER_CHARS = 40
#: A JSON string (with its escapes) or one bracket: the tokens that decide nesting depth. The
#: closing quote is optional so an unterminated string is consumed once, to the end: with it
#: required, every quote inside would start a new scan to the end (quadratic time).
_DEPTH_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class ProblemError(Exception):
    """Raised inside the HTTP layer to answer with a specific problem."""

    def __init__(self, status: int, kind: str, title: str, detail: str, **extra: Any) -> None:
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extra = extra
        super().__init__(detail)


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail, **extra}
    return Response(body=json.dumps(body), status_code=status, headers={"Content-Type": PROBLEM_JSON})


def validation_problem(errors: list[FieldError], detail: str = "the request has invalid fields") -> Response:
    return problem(422, "validation-error", "Validation failed", detail, errors=[e.as_dict() for e in errors])


def _pydantic_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[FieldError]:
    return [
        FieldError(loc=[*prefix, *err["loc"]], msg=err["msg"], type=err["type"])
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def problem_for(exc: Exception) -> Response:
    """The one mapping from domain outcomes to HTTP problems."""
    response = _request_problem(exc)
    if response is None:
        response = _state_problem(exc)
    if response is None:
        raise exc
    return response


def _request_problem(exc: Exception) -> Response | None:
    """Problems with the request itself: who sent it, what it names, what it says."""
    if isinstance(exc, ProblemError):
        return problem(exc.status, exc.kind, exc.title, exc.detail, **exc.extra)
    if isinstance(exc, Unauthenticated):
        return problem(401, "unauthenticated", "Unauthenticated", str(exc))
    if isinstance(exc, Forbidden):
        return problem(403, "forbidden", "Forbidden", str(exc))
    if isinstance(exc, NotFound):
        return problem(404, "not-found", "Not found", str(exc))
    if isinstance(exc, InputInvalid):
        return validation_problem(exc.errors, str(exc))
    if isinstance(exc, TooLarge):
        return problem(422, "order-too-large", "Order too large", str(exc), limit=exc.limit, items=exc.items)
    return None


def _state_problem(exc: Exception) -> Response | None:
    """Problems with the state the request meets (checked after :func:`_request_problem`)."""
    if isinstance(exc, InsufficientStock):
        return problem(409, "insufficient_stock", "Insufficient stock", str(exc), shortages=exc.shortages)
    if isinstance(exc, IdempotencyKeyReused):
        return problem(409, "idempotency-key-reused", "Idempotency-Key reused", str(exc))
    if isinstance(exc, InvalidTransition):
        return problem(
            409,
            "invalid-state",
            "Not allowed in the current state",
            str(exc),
            current_state=exc.current,
            allowed_actions=exc.allowed,
        )
    if isinstance(exc, UnknownSkus):
        return problem(409, "unknown-skus", "SKUs not in the catalogue", str(exc), unknown_skus=exc.skus)
    if isinstance(exc, Conflict):
        extra: dict[str, Any] = {}
        if exc.current is not None:
            extra = {"current_state": exc.current, "allowed_actions": exc.allowed}
        return problem(409, "conflict", "Conflict", str(exc), **extra)
    if isinstance(exc, PackingInputError):
        return problem(422, "packing-not-possible", "Packing cannot be planned", str(exc))
    if isinstance(exc, TrackingNumberInUse):
        return problem(409, "tracking-number-in-use", "Tracking number in use", str(exc))
    if isinstance(exc, StockConflict | ConcurrencyConflict):
        return problem(409, "concurrent-change", "Concurrent change", str(exc), retryable=True)
    if isinstance(exc, DomainError):
        return problem(400, "bad-request", "Bad request", str(exc))
    return None


class Credential(StrEnum):
    """What a caller presents to use a route."""

    NONE = "none"  # anyone: health, the OpenAPI document, the console's sign-in page
    KEY = "key"  # x-api-key with one of the route's roles
    SIGNATURE = "signature"  # a carrier's or store's signature over the raw body
    LINK = "link"  # a signed, expiring link token in the path (e-mail links)
    SESSION = "session"  # the console's admin session cookie


@dataclass(frozen=True)
class Access:
    """Every route's declared access rule; the OpenAPI document states it as ``x-oms-access``
    and the access-matrix test generates its cases from it, so no route can go unchecked.

    ``subject``/``param``: the object the path names (e.g. ``order`` by ``order_id``).
    ``scope_in_path``: the path parameter *is* the key's scope (a warehouse or channel id), so the
    scope is checked before anything is looked up and a foreign id gets the same 403 as a missing
    one. Otherwise the object's owner is looked up, and an object outside the key's scope is
    answered exactly as a missing one: the 404 naming the id the path gave.
    """

    credential: Credential
    subject: str | None = None
    param: str | None = None
    scope_in_path: bool = False

    def hidden(self, exc: OutOfScope, params: dict[str, str]) -> Exception:
        """What to answer for an object outside the key's scope."""
        if self.subject is None or self.param is None or self.scope_in_path:
            return exc
        return NotFound(self.subject, params.get(self.param, ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "credential": self.credential.value,
            "subject": self.subject,
            "param": self.param,
            "scope": None if self.subject is None else ("path" if self.scope_in_path else "owner"),
        }


PUBLIC = Access(Credential.NONE)
SIGNED = Access(Credential.SIGNATURE)
LINKED = Access(Credential.LINK)
SESSION = Access(Credential.SESSION)
#: A key route whose path names no object: what it shows is filtered by the key's scope.
KEYED = Access(Credential.KEY)


def owned(subject: str, param: str) -> Access:
    """A key route on an object whose owner (channel, warehouse) is looked up."""
    return Access(Credential.KEY, subject, param)


def scoped(subject: str, param: str) -> Access:
    """A key route whose path names the key's scope itself (a warehouse or a channel)."""
    return Access(Credential.KEY, subject, param, scope_in_path=True)


@dataclass
class RouteSpec:
    """What the OpenAPI document says about one route."""

    path: str
    method: str
    summary: str
    roles: tuple[Role, ...] | None  # None = public (no key)
    access: Access
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    success_status: int
    tags: tuple[str, ...]
    errors: tuple[int, ...]
    raw_response: bool = False
    #: The route honours an ``Idempotency-Key`` header.
    idempotency_key: bool = False
    #: A body documented but parsed by the view itself (webhooks verify the raw bytes first).
    body_schema: type[BaseModel] | None = None


ROUTES: list[RouteSpec] = []


@dataclass
class Call:
    """What a view receives: the authenticated principal, the validated input, the raw request."""

    request: Request
    principal: Principal | None
    body: Any
    query: Any
    params: dict[str, str]

    @property
    def who(self) -> Principal:
        assert self.principal is not None, "only on authenticated routes"
        return self.principal

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)  # Chalice's headers are case-insensitive
        return value if value is None else str(value)


Authenticator = Callable[[str], Principal | None]
_authenticator: list[Authenticator] = []


def set_authenticator(authenticate: Authenticator) -> None:
    _authenticator[:] = [authenticate]


def _authenticate(request: Request, roles: tuple[Role, ...]) -> Principal:
    raw = request.headers.get("x-api-key")
    if not raw:
        raise Unauthenticated("missing x-api-key header")
    principal = _authenticator[0](str(raw)) if _authenticator else None
    if principal is None:
        raise Unauthenticated("unknown or revoked API key")
    principal.require_role(*roles)
    return principal


def raw_body_of(request: Request) -> bytes:
    """The request's body as bytes, as received (signatures are computed over these bytes).

    Chalice types ``raw_body`` as ``str | bytes``; it encodes a text body itself, so a ``str``
    only reaches here from a caller that built the request by hand.
    """
    raw = request.raw_body or b""
    return raw.encode("utf-8") if isinstance(raw, str) else raw


def parse_json_body(request: Request) -> Any:
    raw = raw_body_of(request)
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(
            413,
            "payload-too-large",
            "Payload too large",
            f"request bodies are limited to {MAX_BODY_BYTES} bytes",
        )
    return loads_bounded(raw)


def _malformed(detail: str) -> ProblemError:
    return ProblemError(400, "malformed-json", "Malformed JSON", detail)


def _json_depth(raw: bytes) -> int:
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the brackets it has (the common case: no scan)
    depth = deepest = 0
    for token in _DEPTH_TOKENS.finditer(raw):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_bounded(raw: bytes) -> Any:
    """JSON from an untrusted body, or a 400 problem: every way parsing can fail is mapped here.

    Nesting is bounded before parsing; number literals are bounded while parsing (no 5,000-digit
    integers, no infinities); NaN and Infinity, which Python's json accepts, are refused.
    """
    if not raw.strip():
        raise _malformed("the request body is empty")
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise _malformed(f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(
            raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _malformed(f"the body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # the hooks above; recursion only as a last resort
        raise _malformed(f"the body is not acceptable JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(data):
        raise _malformed("the body has a \\u escape of half a surrogate pair: not a Unicode character")
    return data


#: ``\uD800``-``\uDFFF`` escapes: only a high one followed by a low one makes a character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def refuse_control_characters(data: Any, where: tuple[str | int, ...] = ()) -> None:
    """422 if any string (key or value) of a parsed body holds a control or bidi-control character.

    The single place this is checked for every JSON body and query; fields that must be a single
    line also refuse tab and line breaks through their types (chalicelib/domain/text.py).
    """
    errors: list[FieldError] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [(where, data)]
    while stack and len(errors) < 20:
        path, value = stack.pop()
        if isinstance(value, str):
            bad = forbidden_character(value, multiline=True)
            if bad is not None:
                msg = f"must not contain control or bidirectional-control characters (found {bad})"
                errors.append(FieldError(list(path), msg, "control_character"))
        elif isinstance(value, dict):
            for key, item in value.items():
                if forbidden_character(key, multiline=False) is not None:
                    errors.append(
                        FieldError(list(path), "a key holds a control character", "control_character")
                    )
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
    if errors:
        raise InputInvalid(sorted(errors, key=lambda e: [str(p) for p in e.loc]))


def _checked_body(request: Request) -> Any:
    data = parse_json_body(request)
    refuse_control_characters(data)
    return data


def _checked_query(request: Request) -> dict[str, str]:
    params = dict(request.query_params or {})
    refuse_control_characters(params, ("query",))
    return params


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        prefix: tuple[str, ...] = () if where == "body" else (where,)
        raise InputInvalid(_pydantic_errors(exc, prefix)) from None


def _render(result: Any, success_status: int) -> Response:
    if isinstance(result, Response):
        return result
    body = result.model_dump_json() if isinstance(result, BaseModel) else json.dumps(result)
    return Response(body=body, status_code=success_status, headers={"Content-Type": "application/json"})


def _parse_call(
    request: Request,
    params: dict[str, str],
    *,
    roles: tuple[Role, ...] | None,
    body: type[BaseModel] | None,
    query: type[BaseModel] | None,
) -> Call:
    """Who calls and what they sent, checked in that order (a 401 before any 422)."""
    principal = _authenticate(request, roles) if roles is not None else None
    parsed_body = _validate(body, _checked_body(request), "body") if body is not None else None
    parsed_query = _validate(query, _checked_query(request), "query") if query is not None else None
    return Call(request=request, principal=principal, body=parsed_body, query=parsed_query, params=params)


def _problem_or_bug(exc: Exception, access: Access, params: dict[str, str], *, route: str) -> Response:
    """The problem an expected error means; anything else is a bug, logged, and a 500."""
    if isinstance(exc, OutOfScope):
        exc = access.hidden(exc, params)
    try:
        return problem_for(exc)
    except Exception:
        logger.exception("unhandled error on %s", route)
        return problem(500, "internal", "Internal error", "an unexpected error occurred; it has been logged")


def endpoint(
    bp: Blueprint | Chalice,
    path: str,
    method: str,
    *,
    summary: str,
    roles: tuple[Role, ...] | None,
    access: Access,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    success_status: int = 200,
    tags: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    content_types: list[str] | None = None,
    raw_response: bool = False,
    idempotency_key: bool = False,
    body_schema: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if (roles is not None) != (access.credential == Credential.KEY):
        raise ValueError(f"{method} {path}: API-key roles go with a key access rule, and only with it")
    if access.param is not None and "{" + access.param + "}" not in path:
        raise ValueError(f"{method} {path}: the access rule names {access.param}, not in the path")

    spec = RouteSpec(
        path=path,
        method=method,
        summary=summary,
        roles=roles,
        access=access,
        body=body,
        query=query,
        response=response,
        success_status=success_status,
        tags=tags,
        errors=errors,
        raw_response=raw_response,
        idempotency_key=idempotency_key,
        body_schema=body_schema,
    )

    def decorator(view: Callable[[Call], Any]) -> Callable[..., Any]:
        ROUTES.append(spec)
        handler = _route_handler(bp, spec, view)
        bp.route(path, methods=[method], content_types=content_types or ["application/json"])(handler)
        return view

    return decorator


def _route_handler(
    bp: Blueprint | Chalice, spec: RouteSpec, view: Callable[[Call], Any]
) -> Callable[..., Response]:
    """What Chalice calls for the route: authenticate, parse, validate, call ``view``, render;
    every error becomes a problem (an unexpected one a logged 500)."""

    def handler(**params: str) -> Response:
        request: Request = _current_request(bp)
        try:
            call = _parse_call(request, params, roles=spec.roles, body=spec.body, query=spec.query)
            return _render(view(call), spec.success_status)
        except Exception as exc:  # every expected outcome is a problem; the rest is logged as a bug
            return _problem_or_bug(exc, spec.access, params, route=f"{spec.method} {spec.path}")

    handler.__name__ = view.__name__
    handler.__doc__ = view.__doc__
    return handler


def _current_request(bp: Blueprint | Chalice) -> Request:
    request = bp.current_request
    assert request is not None
    return request


def install_problem_middleware(app: Chalice) -> None:
    """Answers Chalice itself gives before a view runs (405, 415, unknown errors) become problems too."""
    app.register_middleware(problem_details_for_framework_errors, "http")


def problem_details_for_framework_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """The HTTP middleware of :func:`install_problem_middleware`."""
    response = get_response(event)
    if response.status_code < 400:
        return response
    headers = {key.lower(): value for key, value in (response.headers or {}).items()}
    content_type = headers.get("content-type", "")  # one value: the app never sets it twice
    if isinstance(content_type, str) and content_type.startswith((PROBLEM_JSON, "text/html")):
        return response  # a problem already, or a page rendered for a person (console, links)
    body = response.body
    message = body.get("Message") if isinstance(body, dict) else None
    status = response.status_code
    titles = {405: "Method not allowed", 415: "Unsupported media type", 404: "Not found"}
    converted = problem(
        status,
        "http-" + str(status),
        titles.get(status, "Request failed"),
        str(message or "the request could not be handled"),
    )
    for key, value in (response.headers or {}).items():
        if key.lower() != "content-type":
            converted.headers[key] = value
    return converted
