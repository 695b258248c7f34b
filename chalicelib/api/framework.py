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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Blueprint, Chalice, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.domain.auth import Forbidden, Principal, Role, Unauthenticated
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
)
from chalicelib.domain.packing import PackingInputError
from chalicelib.domain.status import InvalidTransition
from chalicelib.service.ports import StockConflict, TrackingNumberInUse

logger = logging.getLogger("oms.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://oms.dev/problems/"
#: Request bodies above this are refused before parsing (413).
MAX_BODY_BYTES = 256 * 1024


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
    raise exc


@dataclass
class RouteSpec:
    """What the OpenAPI document says about one route."""

    path: str
    method: str
    summary: str
    roles: tuple[Role, ...] | None  # None = public (no key)
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


def parse_json_body(request: Request) -> Any:
    raw: bytes = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(
            413,
            "payload-too-large",
            "Payload too large",
            f"request bodies are limited to {MAX_BODY_BYTES} bytes",
        )
    if not raw.strip():
        raise ProblemError(400, "malformed-json", "Malformed JSON", "the request body is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProblemError(
            400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc}"
        ) from None


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


def endpoint(
    bp: Blueprint | Chalice,
    path: str,
    method: str,
    *,
    summary: str,
    roles: tuple[Role, ...] | None,
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
    def decorator(view: Callable[[Call], Any]) -> Callable[..., Any]:
        def handler(**params: str) -> Response:
            request: Request = _current_request(bp)
            try:
                principal = _authenticate(request, roles) if roles is not None else None
                parsed_body = _validate(body, parse_json_body(request), "body") if body is not None else None
                parsed_query = (
                    _validate(query, dict(request.query_params or {}), "query") if query is not None else None
                )
                call = Call(
                    request=request, principal=principal, body=parsed_body, query=parsed_query, params=params
                )
                return _render(view(call), success_status)
            except Exception as exc:  # every expected outcome is a problem; the rest is logged as a bug
                try:
                    return problem_for(exc)
                except Exception:
                    logger.exception("unhandled error on %s %s", method, path)
                    return problem(
                        500, "internal", "Internal error", "an unexpected error occurred; it has been logged"
                    )

        handler.__name__ = view.__name__
        handler.__doc__ = view.__doc__
        ROUTES.append(
            RouteSpec(
                path=path,
                method=method,
                summary=summary,
                roles=roles,
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
        )
        bp.route(path, methods=[method], content_types=content_types or ["application/json"])(handler)
        return view

    return decorator


def _current_request(bp: Blueprint | Chalice) -> Request:
    request = bp.current_request
    assert request is not None
    return request


def install_problem_middleware(app: Chalice) -> None:
    """Answers Chalice itself gives before a view runs (405, 415, unknown errors) become problems too."""

    @app.middleware("http")
    def problem_details_for_framework_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
        response = get_response(event)
        if response.status_code < 400:
            return response
        headers = {key.lower(): value for key, value in (response.headers or {}).items()}
        if headers.get("content-type", "").startswith((PROBLEM_JSON, "text/html")):
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
