"""What a store's status word means here: paid or not, cancelled or not, a hold to put on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class StatusRule:
    paid: bool
    cancelled: bool = False
    cancel_reason: str | None = None
    #: Note of a ``manual`` hold this status calls for (someone must look before it ships).
    hold: str | None = None


#: Shopify ``financial_status``. Only money actually captured counts as paid; anything else
#: leaves ``paid`` False and the receipt rules put a ``payment_pending`` hold on the order.
SHOPIFY_FINANCIAL_STATUS: Mapping[str, StatusRule] = MappingProxyType(
    {
        "paid": StatusRule(paid=True),
        # Captured, then part of it given back: goods may still be owed, but the refunded items
        # are not visible in line_items' quantities, so a person decides what still ships.
        "partially_refunded": StatusRule(
            paid=True, hold="Shopify shows a partial refund: check which lines still ship"
        ),
        "pending": StatusRule(paid=False),
        # Authorised but not captured: not money yet (merchants who capture on fulfilment release
        # the payment_pending hold, or capture first).
        "authorized": StatusRule(paid=False),
        "partially_paid": StatusRule(paid=False),
        "refunded": StatusRule(
            paid=False, hold="Shopify shows the payment refunded: confirm before shipping"
        ),
        "voided": StatusRule(paid=False, hold="Shopify shows the payment voided: confirm before shipping"),
    }
)

#: WooCommerce order ``status`` (REST v3).
WOOCOMMERCE_STATUS: Mapping[str, StatusRule] = MappingProxyType(
    {
        "processing": StatusRule(paid=True),
        # The merchant marked it done; with this service shipping, that comes after our shipment
        # notice, and an order arriving already completed was still paid for.
        "completed": StatusRule(paid=True),
        "pending": StatusRule(paid=False),
        "on-hold": StatusRule(paid=False),
        # A declined payment that the customer may still retry: the order waits for payment.
        "failed": StatusRule(paid=False),
        "cancelled": StatusRule(paid=False, cancelled=True),
        # All money returned before anything shipped means the merchant does not want it shipped;
        # after shipment the cancel is refused by the order state machine and changes nothing.
        "refunded": StatusRule(paid=False, cancelled=True, cancel_reason="refunded in WooCommerce"),
        "trash": StatusRule(paid=False, cancelled=True, cancel_reason="moved to the trash in WooCommerce"),
    }
)


def status_rule(table: Mapping[str, StatusRule], raw: str, store: str, field: str) -> StatusRule:
    rule = table.get(raw)
    if rule is not None:
        return rule
    # A status added later (or a plugin's own) must not ship unpaid goods, nor bounce the order.
    if not raw:
        return StatusRule(paid=False, hold=f"{store} sent no {field}")
    return StatusRule(paid=False, hold=f"{store} {field} {raw!r} is not one this service knows")
