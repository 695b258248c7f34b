"""Domain errors: outcomes a caller can act on, each mapped to one HTTP problem type."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    """One problem with one input field; ``loc`` is the JSON path as a list."""

    loc: list[str | int]
    msg: str
    type: str = "value_error"

    def as_dict(self) -> dict[str, object]:
        return {"loc": self.loc, "msg": self.msg, "type": self.type}


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""


class NotFound(DomainError):
    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident} does not exist")


class InputInvalid(DomainError):
    """Input that parsed but breaks a business rule tied to a field (422)."""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        super().__init__(detail or "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))


@dataclass
class InsufficientStock(DomainError):
    """Not enough stock anywhere and the channel's policy is to reject."""

    shortages: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = ", ".join(f"{sku} short by {qty}" for sku, qty in sorted(self.shortages.items()))
        return f"not enough stock: {parts}"


class IdempotencyKeyReused(DomainError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")


class Conflict(DomainError):
    """A request the current state does not allow (409)."""

    def __init__(self, detail: str, *, current: str | None = None, allowed: list[str] | None = None) -> None:
        self.current = current
        self.allowed = allowed or []
        super().__init__(detail)


class UnknownSkus(Conflict):
    """Lines cannot be placed while their SKUs are not in the catalogue (409, naming them)."""

    def __init__(self, skus: list[str]) -> None:
        self.skus = skus
        super().__init__(
            f"SKUs not in the catalogue yet: {', '.join(skus)}; create the products "
            "(PUT /v1/products/{sku}), then release the hold"
        )


class ConcurrencyConflict(DomainError):
    """Someone else changed the aggregate between our read and our write; retry."""


class TooLarge(DomainError):
    """An order that does not fit one DynamoDB transaction."""

    def __init__(self, items: int, limit: int) -> None:
        self.items = items
        self.limit = limit
        super().__init__(
            f"this order needs {items} records written atomically; the limit is {limit}. "
            "Split it into several orders."
        )
