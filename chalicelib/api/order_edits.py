"""Order edits before picking: ``POST /v1/orders/{id}/edits``. Parse, authorize, call the use case,
render. (A module of its own: the order routes' module is shared by several features.)"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.framework import Call, ProblemError, endpoint, owned
from chalicelib.api.orders import CHANNEL_OR_ADMIN, OrderView, view_of
from chalicelib.bootstrap import services
from chalicelib.domain.edits import EditRefused, OrderEditRequest
from chalicelib.domain.errors import FieldError, InputInvalid
from chalicelib.service.edits import EditOptions, edit_order

order_edits_api = Blueprint(__name__)


@endpoint(
    order_edits_api,
    "/v1/orders/{order_id}/edits",
    "POST",
    summary="Edit the order before picking: add lines, remove units, change quantities",
    roles=CHANNEL_OR_ADMIN,
    access=owned("order", "order_id"),
    body=OrderEditRequest,
    response=OrderView,
    tags=("orders",),
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
)
def create_edit(call: Call) -> OrderView:
    """Reservations, fulfillments, lines and totals change in one transaction; the difference of
    the totals is emitted as ``payment.adjustment_requested``. Idempotent by ``Idempotency-Key``.
    409 ``picking-started`` (naming the fulfillments) once picking started on the units to remove."""
    svc = services()
    key = call.header("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255):
        raise InputInvalid([FieldError(["header", "Idempotency-Key"], "must be 1 to 255 characters")])
    who = call.who
    try:
        result = edit_order(
            svc.uow_factory,
            call.params["order_id"],
            call.body,
            authorize=lambda order: who.require_channel_access(order.channel_id),
            actor=who.actor,
            ids=svc.ids,
            clock=svc.clock,
            options=EditOptions(source="api", idempotency_key=key),
        )
    except EditRefused as exc:
        raise ProblemError(
            409,
            exc.reason,
            "The order can no longer be edited",
            str(exc),
            current_state=exc.current,
            fulfillment_ids=exc.fulfillment_ids,
        ) from None
    return view_of(result)
