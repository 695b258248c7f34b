"""Chalice entry point: wiring only.

Routes live in ``chalicelib.api`` blueprints, queue/stream/schedule handlers in
``chalicelib.workers`` blueprints; this module creates the app and registers
them. No business rule belongs here.
"""

from chalice import Chalice

from chalicelib.api import register_api
from chalicelib.workers import register_workers

app = Chalice(app_name="oms")
register_api(app)
register_workers(app)
