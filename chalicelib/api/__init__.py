"""HTTP routes as Chalice blueprints, registered by ``register_api`` without importing them.

``API_BLUEPRINTS`` names each blueprint and the path prefix all its routes start with; a
blueprint module is imported the first time a request (or ``chalice package``) needs one of its
paths (chalicelib/lazy.py). This module imports no route module, no pydantic and no AWS SDK: every
Lambda function of the app imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.lazy import LazyBlueprint, LazyRoutes

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalice.app import Chalice, Response

    from chalicelib.domain.auth import Principal

#: Every blueprint of the API. All routes of a blueprint start with its prefix (checked when it
#: is registered); blueprints sharing a prefix are imported together.
API_BLUEPRINTS = (
    LazyBlueprint("/v1/", "chalicelib.api.meta:meta_api"),
    LazyBlueprint("/v1/", "chalicelib.api.orders:orders_api"),
    LazyBlueprint("/v1/", "chalicelib.api.notes:notes_api"),
    LazyBlueprint("/v1/", "chalicelib.api.order_edits:order_edits_api"),
    LazyBlueprint("/v1/", "chalicelib.api.warehouse:warehouse_api"),
    LazyBlueprint("/v1/", "chalicelib.api.webhooks:webhooks_api"),
    LazyBlueprint("/v1/", "chalicelib.api.customers:customers_api"),
    LazyBlueprint("/v1/", "chalicelib.api.channels:channels_api"),
    LazyBlueprint("/v1/", "chalicelib.api.returns:returns_api"),
    LazyBlueprint("/console", "chalicelib.api.console:console_api"),
    LazyBlueprint("/v1/", "chalicelib.api.kpis:kpis_api"),
    LazyBlueprint("/v1/", "chalicelib.api.reference:reference_api"),
    LazyBlueprint("/orders/status/", "chalicelib.api.status_page:status_page_api"),
    LazyBlueprint("/v1/", "chalicelib.api.exceptions:exceptions_api"),
)

_route_tables: list[LazyRoutes] = []


def _authenticate(raw_key: str) -> Principal | None:
    from chalicelib.bootstrap import services

    return services().api_keys.authenticate(raw_key)


def _before_first_blueprint() -> None:
    from chalicelib.api.framework import set_authenticator

    set_authenticator(_authenticate)


def _problem_details(event: Any, get_response: Callable[[Any], Response]) -> Response:
    # Runs after the route table was read for this request, so the framework is usually loaded.
    from chalicelib.api.framework import problem_details_for_framework_errors

    return problem_details_for_framework_errors(event, get_response)


def register_api(app: Chalice) -> None:
    app.register_middleware(_problem_details, "http")
    routes = LazyRoutes(app, API_BLUEPRINTS, before_first=_before_first_blueprint)
    app.routes = routes  # type: ignore[assignment]  # a mapping with Chalice's table's behaviour
    _route_tables.append(routes)


def load_all_routes() -> None:
    """Import and register every blueprint (the OpenAPI document lists every route)."""
    for routes in _route_tables:
        routes.load()
