"""Chalice entry point: wiring only.

Routes live in ``chalicelib.api`` blueprints, queue/stream/schedule handlers in
``chalicelib.workers``; this module sets up logging, creates the app and
registers them by name: a route's or a worker's module is imported when first
needed (chalicelib/lazy.py), so each Lambda function loads only its own code. No
business rule belongs here.
"""

from typing import Any

from chalice import Chalice

from chalicelib.api import register_api
from chalicelib.logs import configure_service_logging
from chalicelib.workers import register_workers

configure_service_logging()  # before Chalice(...): see chalicelib/logs.py
app = Chalice(app_name="oms")
register_api(app)
register_workers(app)


def __getattr__(name: str) -> Any:
    """A worker's Lambda handler: the packaged template names each one ``app.<handler name>``."""
    try:
        return app.handler_map[name]
    except KeyError:
        raise AttributeError(f"module 'app' has no attribute {name!r}") from None
