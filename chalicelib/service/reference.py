"""Use cases of reference data: warehouses, products, boxes and API keys (admin only).

Each change is read, decided and committed as ONE transaction with its event item
(``warehouse.changed``, ``product.changed``, ``box.changed``, ``box.retired``,
``api_key.minted``, ``api_key.revoked``); the events leave through the stream like every
other and are the audit listing. A change is decided on the version its caller read
(``if_match``): a record that moved meanwhile is refused (412), a change to an existing
record that names no version is refused (428) unless the caller asked to overwrite
(bulk imports do; they still write only what differs). A change that changes nothing
writes nothing.

Bulk writers (``put_products`` in ``reference_bulk``) group several changes into one transaction,
each with its own event: a transaction holds whole changes only, so nothing is ever half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from chalicelib.domain import reference_payloads as payloads
from chalicelib.domain.auth import Role, hash_key, key_id_of
from chalicelib.domain.errors import Conflict, FieldError, InputInvalid, NotFound
from chalicelib.domain.events import DomainEvent, EventPayload
from chalicelib.domain.models import Box, Product, Warehouse, is_sku
from chalicelib.domain.reference import (
    ApiKeyRecord,
    ApiKeyRequest,
    BoxDefinition,
    ProductRecord,
    ProductSpec,
    Versioned,
    WarehouseSpec,
    check_version,
    is_box_code,
    is_warehouse_id,
    new_raw_key,
)
from chalicelib.service.ports import Clock, IdGenerator

#: Items one DynamoDB transaction may hold; a bulk write packs whole changes below it.
TRANSACTION_ITEMS = 100
#: Longest page of a listing.
MAX_PAGE = 200


@dataclass(frozen=True)
class WarehouseChange:
    warehouse: Warehouse
    version: int
    #: The version replaced; None for a new warehouse.
    expected: int | None
    event: DomainEvent

    @property
    def items(self) -> int:
        return 2


@dataclass(frozen=True)
class ProductChange:
    product: Product
    version: int
    expected: int | None
    #: warehouse id -> new bin location of the product's stock level there.
    bins: Mapping[str, str]
    event: DomainEvent

    @property
    def items(self) -> int:
        return 2 + len(self.bins)


@dataclass(frozen=True)
class BoxChange:
    warehouse_id: str
    box: Box
    version: int
    expected: int | None
    event: DomainEvent

    @property
    def items(self) -> int:
        return 2


@dataclass(frozen=True)
class BoxRetirement:
    warehouse_id: str
    code: str
    expected: int
    event: DomainEvent

    @property
    def items(self) -> int:
        return 2


@dataclass(frozen=True)
class ApiKeyMinted:
    record: ApiKeyRecord
    key_hash: str
    event: DomainEvent

    @property
    def items(self) -> int:
        return 3


@dataclass(frozen=True)
class ApiKeyRevoked:
    record: ApiKeyRecord
    key_hash: str
    event: DomainEvent

    @property
    def items(self) -> int:
        return 3


ReferenceChange = WarehouseChange | ProductChange | BoxChange | BoxRetirement | ApiKeyMinted | ApiKeyRevoked


@dataclass(frozen=True)
class StoredApiKey:
    record: ApiKeyRecord
    key_hash: str


class ReferenceRepository(Protocol):
    """Storage of reference data (adapters/reference.py); every read is strongly consistent."""

    def get_warehouse(self, warehouse_id: str) -> Versioned[Warehouse] | None: ...
    def list_warehouses(self) -> list[Versioned[Warehouse]]: ...
    def get_products(self, skus: Iterable[str]) -> dict[str, Versioned[Product]]: ...
    def list_products(self, cursor: str | None, limit: int) -> tuple[list[Versioned[Product]], str | None]:
        """A page of products by SKU; raises ValueError for a cursor it did not make."""
        ...

    def get_bins(self, skus: Iterable[str], warehouse_ids: Iterable[str]) -> dict[tuple[str, str], str]:
        """(sku, warehouse id) -> bin, for the stock levels that have one."""
        ...

    def get_box(self, warehouse_id: str, code: str) -> Versioned[Box] | None: ...
    def list_boxes(self, warehouse_id: str) -> list[Versioned[Box]]: ...
    def channel_exists(self, channel_id: str) -> bool: ...
    def get_api_key(self, key_id: str) -> StoredApiKey | None: ...
    def list_api_keys(self) -> list[ApiKeyRecord]: ...
    def list_audit(self, cursor: str | None, limit: int) -> tuple[list[DomainEvent], str | None]:
        """Reference events, newest first; raises ValueError for a cursor it did not make."""
        ...

    def commit(self, changes: Sequence[ReferenceChange]) -> None:
        """All the changes and their events in one transaction. A record that moved since it was
        read makes the whole transaction fail with ConcurrencyConflict (retryable 409)."""
        ...


V = TypeVar("V")


@dataclass(frozen=True)
class Saved(Generic[V]):
    """The outcome of a PUT: the record as stored now, its version, and whether this call wrote."""

    value: V
    version: int
    changed: bool
    created: bool = False


@dataclass(frozen=True)
class Actor:
    """Who makes the change (``admin:<key id>``, ``system:catalog-import``) and the means to
    stamp it."""

    name: str
    clock: Clock
    ids: IdGenerator


def _event(
    actor: Actor, payload: EventPayload, *, sku: str | None = None, warehouse_id: str | None = None
) -> DomainEvent:
    return DomainEvent.recording(
        payload,
        id=actor.ids.new("evt"),
        sku=sku,
        warehouse_id=warehouse_id,
        occurred_at=actor.clock.now(),
        actor=actor.name,
    )


def _invalid(loc: list[str | int], msg: str) -> InputInvalid:
    return InputInvalid([FieldError(loc, msg)])


def _check_warehouse_id(warehouse_id: str) -> None:
    if not is_warehouse_id(warehouse_id):
        raise _invalid(["path", "warehouse_id"], "warehouse ids are 1-40 of a-z, 0-9, '_', '-'")


def _check_sku(sku: str) -> None:
    if not is_sku(sku):
        raise _invalid(["path", "sku"], "SKUs are 1-64 letters, digits, '.', '_', '-', '/'")


def _check_box_code(code: str) -> None:
    if not is_box_code(code):
        raise _invalid(["path", "code"], "box codes are 1-40 of A-Z, a-z, 0-9, '.', '_', '-'")


def _existing_warehouse(repo: ReferenceRepository, warehouse_id: str) -> Versioned[Warehouse]:
    _check_warehouse_id(warehouse_id)
    found = repo.get_warehouse(warehouse_id)
    if found is None:
        raise NotFound("warehouse", warehouse_id)
    return found


# -- warehouses ------------------------------------------------------------------------------------


def get_warehouse(repo: ReferenceRepository, warehouse_id: str) -> Versioned[Warehouse]:
    return _existing_warehouse(repo, warehouse_id)


def list_warehouses(repo: ReferenceRepository) -> list[Versioned[Warehouse]]:
    return sorted(repo.list_warehouses(), key=lambda w: (w.value.priority, w.value.id))


def put_warehouse(
    repo: ReferenceRepository,
    warehouse_id: str,
    spec: WarehouseSpec,
    *,
    if_match: int | None,
    actor: Actor,
    overwrite: bool = False,
) -> Saved[Warehouse]:
    """Create or replace a warehouse. Deactivating one stops new work going to it (sourcing,
    backorders) within the reference cache time; its open work stays and is shipped."""
    _check_warehouse_id(warehouse_id)
    current = repo.get_warehouse(warehouse_id)
    current_version = current.version if current else None
    check_version("warehouse", warehouse_id, current_version, current_version if overwrite else if_match)
    warehouse = spec.build(warehouse_id)
    if current is not None and current.value == warehouse:
        return Saved(current.value, current.version, changed=False)
    version = (current_version or 0) + 1
    event = _event(
        actor,
        payloads.WarehouseChanged(
            entity="warehouse",
            id=warehouse_id,
            version=version,
            before=current.value if current else None,
            after=warehouse,
        ),
        warehouse_id=warehouse_id,
    )
    repo.commit([WarehouseChange(warehouse, version, current_version, event)])
    return Saved(warehouse, version, changed=True, created=current is None)


# -- products --------------------------------------------------------------------------------------


def _record(product: Versioned[Product], bins: Mapping[tuple[str, str], str]) -> Versioned[ProductRecord]:
    own = {wh: location for (sku, wh), location in bins.items() if sku == product.value.sku}
    return Versioned(
        ProductRecord(**product.value.model_dump(), bins=dict(sorted(own.items()))), product.version
    )


def get_product(repo: ReferenceRepository, sku: str) -> Versioned[ProductRecord]:
    _check_sku(sku)
    found = repo.get_products([sku]).get(sku)
    if found is None:
        raise NotFound("product", sku)
    warehouses = [w.value.id for w in repo.list_warehouses()]
    return _record(found, repo.get_bins([sku], warehouses))


def list_products(
    repo: ReferenceRepository, cursor: str | None, limit: int
) -> tuple[list[Versioned[ProductRecord]], str | None]:
    try:
        page, next_cursor = repo.list_products(cursor, max(1, min(limit, MAX_PAGE)))
    except ValueError:
        raise _invalid(["query", "cursor"], "not a cursor of this listing") from None
    warehouses = [w.value.id for w in repo.list_warehouses()]
    bins = repo.get_bins([p.value.sku for p in page], warehouses) if page else {}
    return [_record(p, bins) for p in page], next_cursor


def _decide_product(
    sku: str,
    spec: ProductSpec,
    current: Versioned[Product] | None,
    current_bins: Mapping[tuple[str, str], str],
    *,
    if_match: int | None,
    overwrite: bool,
    actor: Actor,
) -> tuple[Saved[ProductRecord], ProductChange | None]:
    current_version = current.version if current else None
    check_version("product", sku, current_version, current_version if overwrite else if_match)
    product = spec.build(sku)
    new_bins = {wh: b for wh, b in spec.bins.items() if current_bins.get((sku, wh)) != b}
    all_bins = {wh: b for (s, wh), b in current_bins.items() if s == sku} | dict(spec.bins)
    if current is not None and current.value == product and not new_bins:
        record = ProductRecord(**product.model_dump(), bins=dict(sorted(all_bins.items())))
        return Saved(record, current.version, changed=False), None
    version = (current_version or 0) + 1
    event = _event(
        actor,
        payloads.ProductChanged(
            entity="product",
            id=sku,
            version=version,
            before=current.value if current else None,
            after=product,
            bins=dict(sorted(new_bins.items())),
        ),
        sku=sku,
    )
    record = ProductRecord(**product.model_dump(), bins=dict(sorted(all_bins.items())))
    change = ProductChange(product, version, current_version, new_bins, event)
    return Saved(record, version, changed=True, created=current is None), change


def _check_bins(repo: ReferenceRepository, specs: Iterable[tuple[int, ProductSpec]]) -> None:
    known = {w.value.id for w in repo.list_warehouses()}
    errors = [
        FieldError([*([index] if index >= 0 else []), "bins", wh], f"warehouse {wh} does not exist")
        for index, spec in specs
        for wh in spec.bins
        if wh not in known
    ]
    if errors:
        raise InputInvalid(errors)


def put_product(
    repo: ReferenceRepository,
    sku: str,
    spec: ProductSpec,
    *,
    if_match: int | None,
    actor: Actor,
    overwrite: bool = False,
) -> Saved[ProductRecord]:
    """Create or replace a product. Placed orders keep their lines as they were (an order's lines
    hold their own SKU, quantity and prices, never a reference to the product's current state)."""
    _check_sku(sku)
    _check_bins(repo, [(-1, spec)])
    current = repo.get_products([sku]).get(sku)
    warehouses = [w.value.id for w in repo.list_warehouses()]
    saved, change = _decide_product(
        sku,
        spec,
        current,
        repo.get_bins([sku], warehouses),
        if_match=if_match,
        overwrite=overwrite,
        actor=actor,
    )
    if change is not None:
        repo.commit([change])
    return saved


# -- boxes -----------------------------------------------------------------------------------------


def list_boxes(repo: ReferenceRepository, warehouse_id: str) -> list[Versioned[Box]]:
    _existing_warehouse(repo, warehouse_id)
    return sorted(repo.list_boxes(warehouse_id), key=lambda b: b.value.code)


def get_box(repo: ReferenceRepository, warehouse_id: str, code: str) -> Versioned[Box]:
    _existing_warehouse(repo, warehouse_id)
    _check_box_code(code)
    found = repo.get_box(warehouse_id, code)
    if found is None:
        raise NotFound("box", code)
    return found


def put_box(
    repo: ReferenceRepository,
    warehouse_id: str,
    code: str,
    definition: BoxDefinition,
    *,
    if_match: int | None,
    actor: Actor,
    overwrite: bool = False,
) -> Saved[Box]:
    """Add a box to a warehouse's catalogue or change one; packing recommends from it at once."""
    _existing_warehouse(repo, warehouse_id)
    _check_box_code(code)
    current = repo.get_box(warehouse_id, code)
    current_version = current.version if current else None
    check_version("box", code, current_version, current_version if overwrite else if_match)
    box = definition.build(code)
    if current is not None and current.value == box:
        return Saved(current.value, current.version, changed=False)
    version = (current_version or 0) + 1
    event = _event(
        actor,
        payloads.BoxChanged(
            entity="box", id=code, version=version, before=current.value if current else None, after=box
        ),
        warehouse_id=warehouse_id,
    )
    repo.commit([BoxChange(warehouse_id, box, version, current_version, event)])
    return Saved(box, version, changed=True, created=current is None)


def retire_box(
    repo: ReferenceRepository, warehouse_id: str, code: str, *, if_match: int | None, actor: Actor
) -> Versioned[Box]:
    """Take a box out of the catalogue: packing no longer recommends or accepts it. Parcels
    already packed in it keep its code. The event keeps the box as it was."""
    found = get_box(repo, warehouse_id, code)
    if if_match is not None:
        check_version("box", code, found.version, if_match)
    event = _event(
        actor,
        payloads.BoxRetired(entity="box", id=code, version=found.version, before=found.value, after=None),
        warehouse_id=warehouse_id,
    )
    repo.commit([BoxRetirement(warehouse_id, code, found.version, event)])
    return found


# -- API keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MintedApiKey:
    record: ApiKeyRecord
    #: Shown once, to the caller who minted it; never stored.
    raw_key: str


def mint_api_key(
    repo: ReferenceRepository,
    request: ApiKeyRequest,
    *,
    actor: Actor,
    raw_key: str | None = None,
    check_scope: bool = True,
) -> MintedApiKey:
    """A new key for a role and scope; the scope must name an existing channel or warehouse
    (``check_scope=False``: the caller vouches for it, e.g. a seed writing both at once)."""
    if (
        check_scope
        and request.role == Role.CHANNEL
        and request.scope is not None
        and not repo.channel_exists(request.scope)
    ):
        raise _invalid(["scope"], f"channel {request.scope} does not exist")
    if (
        check_scope
        and request.role == Role.WAREHOUSE
        and request.scope is not None
        and (not is_warehouse_id(request.scope) or repo.get_warehouse(request.scope) is None)
    ):
        raise _invalid(["scope"], f"warehouse {request.scope} does not exist")
    raw = raw_key or new_raw_key(request.role)
    key_hash = hash_key(raw)
    record = ApiKeyRecord(
        key_id=key_id_of(key_hash),
        role=request.role,
        scope=request.scope,
        label=request.label,
        created_at=actor.clock.now(),
        created_by=actor.name,
    )
    event = _event(
        actor,
        payloads.ApiKeyMinted(
            entity="api_key", id=record.key_id, role=record.role, scope=record.scope, label=record.label
        ),
    )
    repo.commit([ApiKeyMinted(record, key_hash, event)])
    return MintedApiKey(record, raw)


def list_api_keys(repo: ReferenceRepository) -> list[ApiKeyRecord]:
    return sorted(repo.list_api_keys(), key=lambda r: (r.created_at, r.key_id))


def revoke_api_key(repo: ReferenceRepository, key_id: str, *, actor: Actor) -> ApiKeyRecord:
    """Revoke a key by its id. Requests with it fail within the API's key cache time. Revoking a
    revoked key changes nothing. A key cannot revoke itself (the caller would lock itself out by
    a typo; another admin key can)."""
    stored = repo.get_api_key(key_id)
    if stored is None:
        raise NotFound("API key", key_id)
    if stored.record.revoked_at is not None:
        return stored.record
    if actor.name.endswith(":" + key_id):
        raise Conflict("a key cannot revoke itself; use another admin key")
    revoked = stored.record.model_copy(update={"revoked_at": actor.clock.now()})
    event = _event(
        actor,
        payloads.ApiKeyRevoked(
            entity="api_key", id=key_id, role=revoked.role, scope=revoked.scope, label=revoked.label
        ),
    )
    repo.commit([ApiKeyRevoked(revoked, stored.key_hash, event)])
    return revoked


# -- audit -----------------------------------------------------------------------------------------


def list_audit(
    repo: ReferenceRepository, cursor: str | None, limit: int
) -> tuple[list[DomainEvent], str | None]:
    try:
        return repo.list_audit(cursor, max(1, min(limit, MAX_PAGE)))
    except ValueError:
        raise _invalid(["query", "cursor"], "not a cursor of this listing") from None
