"""The operations console: HTML pages under ``/console`` for admin key holders.

Served by the same Chalice app as the API (so it runs under ``make run`` and behind API Gateway).
Every route goes through ``endpoint`` like the API's, public as far as the framework is
concerned (``roles=None``), because the console authenticates itself: an admin pastes the key
once into the sign-in form, and from then on a signed session cookie (``console_session``) is
the credential. Every POST also needs the session's CSRF token; every page is rendered by Jinja
with autoescape and sent with a Content-Security-Policy that allows no script at all.

Actions call the same use cases as the API (``receipt.place_hold``/``release_hold``,
``fulfillment.cancel``, ``inventory.count_stock``), so the API's rules and errors apply; errors
are shown in plain words on the page they came from. docs/console.md describes each page, its
security and the queries it makes.

One module per page: ``sign_in``, ``orders`` (the listing), ``order_detail`` (one order and its
actions), ``order_notes`` (its notes and tags), ``attention``, ``inventory``, ``kpis``,
``reference`` (warehouses, products, boxes, API keys); ``visit`` holds what they share (the request,
the guard, the renderer, ``console_route``). Importing this package registers every page on
``console_api``.
"""

from chalicelib.api.console.visit import (
    ACTION_ERRORS,
    Refused,
    Visit,
    console_api,
    console_route,
    plain_error,
)

# Imported for their routes, in the order the OpenAPI document lists them.
# isort: off
from chalicelib.api.console import (
    sign_in,
    orders,
    order_detail,
    order_notes,
    attention,
    inventory,
    kpis,
    reference,
)
# isort: on

__all__ = [
    "ACTION_ERRORS",
    "Refused",
    "Visit",
    "attention",
    "console_api",
    "console_route",
    "inventory",
    "kpis",
    "order_detail",
    "order_notes",
    "orders",
    "plain_error",
    "reference",
    "sign_in",
]
