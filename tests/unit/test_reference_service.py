"""Reference data use cases: versions decide who may overwrite what, nothing is half-written,
a change that changes nothing writes nothing, and every change carries its event."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.auth import Role, hash_key
from chalicelib.domain.errors import Conflict, InputInvalid, NotFound
from chalicelib.domain.reference import (
    ApiKeyRequest,
    BoxDefinition,
    PreconditionFailed,
    PreconditionRequired,
    ProductSpec,
    WarehouseSpec,
)
from chalicelib.service import reference as svc
from chalicelib.service import reference_bulk as bulk
from tests.unit.fake_reference import FakeReferenceRepository
from tests.unit.fakes import FakeClock, SequentialIds


@pytest.fixture
def repo() -> FakeReferenceRepository:
    return FakeReferenceRepository()


@pytest.fixture
def admin() -> svc.Actor:
    return svc.Actor("admin:key_0000000000000001", FakeClock(), SequentialIds())


def berlin(**changes: object) -> WarehouseSpec:
    fields: dict[str, object] = {
        "name": "Berlin",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "priority": 3,
        "cutoff": "14:00",
        "holidays": ["2026-12-25", "2026-12-24"],
    }
    return WarehouseSpec.model_validate({**fields, **changes})


def mug(**changes: object) -> ProductSpec:
    fields: dict[str, object] = {
        "name": "Mug",
        "length_mm": 120,
        "width_mm": 95,
        "height_mm": 100,
        "weight_grams": 390,
    }
    return ProductSpec.model_validate({**fields, **changes})


def test_a_new_warehouse_is_created_at_version_one_with_its_event(repo, admin) -> None:
    saved = svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    assert (saved.version, saved.created, saved.changed) == (1, True, True)
    assert saved.value.holidays == [date(2026, 12, 24), date(2026, 12, 25)]
    [event] = repo.events
    assert event.type == "warehouse.changed"
    assert event.data["before"] is None and event.data["after"]["id"] == "wh-berlin"
    assert event.actor == "admin:key_0000000000000001"


def test_changing_an_existing_warehouse_without_if_match_is_refused(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    with pytest.raises(PreconditionRequired):
        svc.put_warehouse(repo, "wh-berlin", berlin(priority=1), if_match=None, actor=admin)
    assert repo.warehouses["wh-berlin"].value.priority == 3


def test_a_change_decided_on_an_old_version_is_refused_and_writes_nothing(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    svc.put_warehouse(repo, "wh-berlin", berlin(priority=1), if_match=1, actor=admin)
    with pytest.raises(PreconditionFailed) as refused:
        svc.put_warehouse(repo, "wh-berlin", berlin(priority=9), if_match=1, actor=admin)
    assert refused.value.current == 2
    assert repo.warehouses["wh-berlin"].value.priority == 1
    assert len(repo.events) == 2


def test_a_put_that_changes_nothing_writes_nothing(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    again = svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=1, actor=admin)
    assert (again.version, again.changed) == (1, False)
    assert repo.commits == 1


def test_if_match_zero_creates_only(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=0, actor=admin)
    with pytest.raises(PreconditionFailed):
        svc.put_warehouse(repo, "wh-berlin", berlin(name="Other"), if_match=0, actor=admin)


def test_a_warehouse_calendar_with_a_bad_zone_cut_off_or_repeated_day_is_invalid() -> None:
    for bad in ({"timezone": "Mars/Olympus"}, {"cutoff": "25:00"}, {"cutoff": "3pm"}):
        with pytest.raises(ValueError):
            berlin(**bad)
    with pytest.raises(ValueError):
        berlin(business_days=["mon", "mon"])
    with pytest.raises(ValueError):
        berlin(business_days=[])


def test_a_product_with_bins_writes_the_bins_of_named_warehouses_only(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    saved = svc.put_product(repo, "MUG-1", mug(bins={"wh-berlin": "A-01-1"}), if_match=None, actor=admin)
    assert saved.value.bins == {"wh-berlin": "A-01-1"}
    assert repo.bins == {("MUG-1", "wh-berlin"): "A-01-1"}
    assert svc.get_product(repo, "MUG-1").value.bins == {"wh-berlin": "A-01-1"}


def test_a_bin_in_an_unknown_warehouse_is_invalid_and_nothing_is_written(repo, admin) -> None:
    with pytest.raises(InputInvalid) as invalid:
        svc.put_product(repo, "MUG-1", mug(bins={"wh-nowhere": "A-1"}), if_match=None, actor=admin)
    assert invalid.value.errors[0].loc == ["bins", "wh-nowhere"]
    assert repo.products == {} and repo.events == []


def test_a_bad_sku_in_the_path_is_invalid(repo, admin) -> None:
    with pytest.raises(InputInvalid):
        svc.put_product(repo, "bad sku!", mug(), if_match=None, actor=admin)


def test_a_bulk_upsert_writes_only_what_differs_and_a_rerun_writes_nothing(repo, admin) -> None:
    items = [(f"SKU-{n:03d}", mug(name=f"Mug {n}")) for n in range(120)]
    first = bulk.put_products(repo, items, actor=admin)
    assert len(first.created) == 120 and first.transactions == 3  # 50 changes of 2 items each
    again = bulk.put_products(repo, items, actor=admin)
    assert (again.created, again.changed, len(again.unchanged), again.transactions) == ([], [], 120, 0)
    items[5] = ("SKU-005", mug(name="Renamed"))
    third = bulk.put_products(repo, items, actor=admin)
    assert third.changed == ["SKU-005"] and repo.products["SKU-005"].version == 2


def test_a_bulk_upsert_names_every_bad_item_and_writes_nothing(repo, admin) -> None:
    items = [("OK-1", mug()), ("bad sku", mug()), ("OK-1", mug()), ("OK-2", mug(bins={"wh-x": "B"}))]
    with pytest.raises(InputInvalid) as invalid:
        bulk.put_products(repo, items, actor=admin)
    assert sorted(e.loc[0] for e in invalid.value.errors) == [1, 2]
    assert repo.products == {}


def test_listing_products_pages_through_all_of_them_once(repo, admin) -> None:
    bulk.put_products(repo, [(f"SKU-{n:02d}", mug()) for n in range(7)], actor=admin)
    seen, cursor = [], None
    while True:
        page, cursor = svc.list_products(repo, cursor, 3)
        seen += [p.value.sku for p in page]
        if cursor is None:
            break
    assert seen == [f"SKU-{n:02d}" for n in range(7)]
    with pytest.raises(InputInvalid):
        svc.list_products(repo, "forged", 3)


def box(**changes: object) -> BoxDefinition:
    fields: dict[str, object] = {
        "inner_length_mm": 300,
        "inner_width_mm": 200,
        "inner_height_mm": 150,
        "max_weight_grams": 10_000,
        "tare_weight_grams": 250,
        "cost": "0.80",
    }
    return BoxDefinition.model_validate({**fields, **changes})


def test_a_box_belongs_to_an_existing_warehouse(repo, admin) -> None:
    with pytest.raises(NotFound):
        svc.put_box(repo, "wh-berlin", "M", box(), if_match=None, actor=admin)


def test_a_retired_box_leaves_the_catalogue_with_an_event_keeping_it(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    saved = svc.put_box(repo, "wh-berlin", "M", box(), if_match=None, actor=admin)
    assert saved.value.cost == Decimal("0.80")
    svc.retire_box(repo, "wh-berlin", "M", if_match=1, actor=admin)
    assert svc.list_boxes(repo, "wh-berlin") == []
    assert [e.type for e in repo.events][-1] == "box.retired"
    assert repo.events[-1].data["before"]["code"] == "M"
    with pytest.raises(NotFound):
        svc.retire_box(repo, "wh-berlin", "M", if_match=None, actor=admin)


def test_box_measures_must_be_consistent() -> None:
    with pytest.raises(ValueError):
        box(outer_length_mm=290, outer_width_mm=210, outer_height_mm=160)  # outer shorter than inner
    with pytest.raises(ValueError):
        box(outer_length_mm=310)
    with pytest.raises(ValueError):
        box(tare_weight_grams=10_000)


def test_a_minted_key_is_returned_once_and_only_its_hash_is_kept(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    minted = svc.mint_api_key(
        repo, ApiKeyRequest(role=Role.WAREHOUSE, scope="wh-berlin", label="packing station"), actor=admin
    )
    stored = repo.keys[minted.record.key_id]
    assert stored.key_hash == hash_key(minted.raw_key)
    assert minted.raw_key not in str(stored.record.model_dump()) and minted.raw_key not in str(repo.events)
    assert repo.events[-1].type == "api_key.minted"
    assert [r.key_id for r in svc.list_api_keys(repo)] == [minted.record.key_id]


def test_a_key_for_a_scope_that_does_not_exist_is_refused(repo, admin) -> None:
    for request in (
        ApiKeyRequest(role=Role.WAREHOUSE, scope="wh-none"),
        ApiKeyRequest(role=Role.CHANNEL, scope="nochannel"),
    ):
        with pytest.raises(InputInvalid):
            svc.mint_api_key(repo, request, actor=admin)
    assert repo.keys == {}


def test_an_admin_key_has_no_scope_and_other_keys_need_one() -> None:
    with pytest.raises(ValueError):
        ApiKeyRequest(role=Role.ADMIN, scope="web")
    with pytest.raises(ValueError):
        ApiKeyRequest(role=Role.CHANNEL)


def test_revoking_a_key_twice_changes_it_once_and_a_key_cannot_revoke_itself(repo, admin) -> None:
    repo.channels.add("web")
    minted = svc.mint_api_key(repo, ApiKeyRequest(role=Role.CHANNEL, scope="web"), actor=admin)
    revoked = svc.revoke_api_key(repo, minted.record.key_id, actor=admin)
    assert revoked.revoked_at is not None
    assert svc.revoke_api_key(repo, minted.record.key_id, actor=admin) == revoked
    assert [e.type for e in repo.events].count("api_key.revoked") == 1
    own = svc.mint_api_key(repo, ApiKeyRequest(role=Role.ADMIN), actor=admin)
    itself = svc.Actor(f"admin:{own.record.key_id}", admin.clock, admin.ids)
    with pytest.raises(Conflict):
        svc.revoke_api_key(repo, own.record.key_id, actor=itself)


def test_the_audit_listing_is_newest_first_and_pages(repo, admin) -> None:
    svc.put_warehouse(repo, "wh-berlin", berlin(), if_match=None, actor=admin)
    svc.put_warehouse(repo, "wh-berlin", berlin(priority=1), if_match=1, actor=admin)
    svc.put_box(repo, "wh-berlin", "M", box(), if_match=None, actor=admin)
    page, cursor = svc.list_audit(repo, None, 2)
    assert [e.type for e in page] == ["box.changed", "warehouse.changed"]
    rest, end = svc.list_audit(repo, cursor, 2)
    assert [e.data["version"] for e in rest] == [1] and end is None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([None, 0, 1, 2, 3, 4]), st.integers(0, 2), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_a_record_changes_only_when_the_writer_named_its_current_version(
    writes: list[tuple[int | None, int, bool]],
) -> None:
    """Concurrent administrators as a sequence of writes, each naming the version it read (or
    none, or 0 for create-only): the record's version counts exactly the writes that changed it,
    each such write has one event, and a refused write leaves record and events untouched."""
    repo = FakeReferenceRepository()
    admin = svc.Actor("admin:key_1", FakeClock(), SequentialIds())
    expected_version, events = 0, 0
    for if_match, priority, active in writes:
        before = repo.warehouses.get("wh-x")
        try:
            saved = svc.put_warehouse(
                repo, "wh-x", berlin(priority=priority, active=active), if_match=if_match, actor=admin
            )
        except (PreconditionFailed, PreconditionRequired):
            assert repo.warehouses.get("wh-x") == before and len(repo.events) == events
            allowed = (if_match is None and before is None) or (if_match == (before.version if before else 0))
            assert not allowed
            continue
        current = before.version if before else 0
        assert if_match == current or (if_match is None and before is None)
        if saved.changed:
            expected_version, events = expected_version + 1, events + 1
        assert saved.version == expected_version == repo.warehouses["wh-x"].version
        assert len(repo.events) == events
        assert [e.data["version"] for e in repo.events] == list(range(1, events + 1))
