"""Chalice entry point: wiring only.

Routes live in ``chalicelib.api`` blueprints, queue/stream/schedule handlers in
``chalicelib.workers``; this module sets up logging, creates the app and
registers them. No business rule belongs here.
"""

from chalice import Chalice

from chalicelib.api import register_api
from chalicelib.logs import configure_service_logging
from chalicelib.workers import register_workers

configure_service_logging()  # before Chalice(...): see chalicelib/logs.py
app = Chalice(app_name="oms")
register_api(app)
register_workers(app)
