"""HTTP routes as Chalice blueprints, registered by ``register_api``."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api.channels import channels_api
from chalicelib.api.console import console_api
from chalicelib.api.customers import customers_api
from chalicelib.api.framework import install_problem_middleware, set_authenticator
from chalicelib.api.kpis import kpis_api
from chalicelib.api.meta import meta_api
from chalicelib.api.orders import orders_api
from chalicelib.api.reference import reference_api
from chalicelib.api.returns import returns_api
from chalicelib.api.warehouse import warehouse_api
from chalicelib.api.webhooks import webhooks_api
from chalicelib.bootstrap import services


def _authenticate(raw_key: str):  # type: ignore[no-untyped-def]
    return services().api_keys.authenticate(raw_key)


def register_api(app: Chalice) -> None:
    set_authenticator(_authenticate)
    install_problem_middleware(app)
    app.register_blueprint(meta_api)
    app.register_blueprint(orders_api)
    app.register_blueprint(warehouse_api)
    app.register_blueprint(webhooks_api)
    app.register_blueprint(customers_api)
    app.register_blueprint(channels_api)
    app.register_blueprint(returns_api)
    app.register_blueprint(console_api)
    app.register_blueprint(kpis_api)
    app.register_blueprint(reference_api)
