"""A store order's fingerprint: whether a re-sent order changes anything the service acts on."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from .channel_order import ChannelOrder


def _amount_text(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    return "0" if amount.is_zero() else format(amount.normalize(), "f")


def order_fingerprint(order: ChannelOrder) -> str:
    """A hash of everything the service acts on: the request (customer, addresses, lines, paid,
    totals), unplaceable lines, holds, cancellation and problems.

    Not in it: the store's raw status and order number. Stores re-send an order for changes the
    service does not act on (a tag, a note, our own fulfilment being recorded, WooCommerce
    ``processing`` becoming ``completed``), and those must be recognised as the same order.
    """
    material = {
        "external_id": order.external_id,
        "request": None if order.request is None else order.request.request_hash(),
        "unresolved": [
            [line.title, line.sku, line.quantity, _amount_text(line.unit_price), line.reason]
            for line in order.unresolved_lines
        ],
        "holds": [[hold.reason.value, hold.note] for hold in order.holds],
        "paid": order.paid,
        "cancelled": order.cancelled,
        "cancel_reason": order.cancel_reason,
        "problems": order.problems,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
