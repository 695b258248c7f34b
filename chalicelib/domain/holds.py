"""Hold rules run at receipt: reasons an order must not go to the warehouse yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .geo import requires_postal_code
from .models import Order
from .status import HoldReason


@dataclass(frozen=True)
class HoldFinding:
    reason: HoldReason
    note: str


@dataclass(frozen=True)
class HoldPolicy:
    """Fraud review thresholds per currency; ``"*"`` applies to any currency not listed."""

    fraud_review_thresholds: Mapping[str, Decimal]

    @classmethod
    def parse(cls, spec: str) -> HoldPolicy:
        """``"2000"`` (any currency) or ``"USD=2000;JPY=300000;*=2000"``."""
        thresholds: dict[str, Decimal] = {}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            currency, _, value = part.rpartition("=")
            try:
                thresholds[currency.strip().upper() or "*"] = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"fraud review threshold {part!r} is not CURRENCY=AMOUNT") from None
        return cls(fraud_review_thresholds=thresholds)

    def threshold_for(self, currency: str) -> Decimal | None:
        return self.fraud_review_thresholds.get(currency, self.fraud_review_thresholds.get("*"))


def evaluate_holds(order: Order, policy: HoldPolicy) -> list[HoldFinding]:
    findings: list[HoldFinding] = []
    if not order.paid:
        findings.append(HoldFinding(HoldReason.PAYMENT_PENDING, "payment not captured yet"))
    threshold = policy.threshold_for(order.currency)
    fraud_notes = []
    if threshold is not None and order.totals.total > threshold:
        fraud_notes.append(f"order value {order.totals.total} {order.currency} is above {threshold}")
    billing = order.billing_address
    if billing is not None and billing.country != order.shipping_address.country:
        fraud_notes.append(
            f"billing country {billing.country} differs from "
            f"shipping country {order.shipping_address.country}"
        )
    if fraud_notes:
        findings.append(HoldFinding(HoldReason.FRAUD_REVIEW, "; ".join(fraud_notes)))
    address = order.shipping_address
    if not address.postal_code and requires_postal_code(address.country):
        findings.append(
            HoldFinding(
                HoldReason.ADDRESS_INVALID, f"postal code missing; {address.country} uses postal codes"
            )
        )
    return findings
