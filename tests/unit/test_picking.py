"""Pick lists: released work of several orders, one stop per bin and SKU, in walking order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.models import Fulfillment, FulfillmentLine
from chalicelib.domain.picking import PickTask, build_pick_list, walking_order
from chalicelib.domain.status import FulfillmentStatus
from tests.unit.builders import EAST, WEB
from tests.unit.fakes import START

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def work(fid: str, order_id: str, *lines: tuple[str, int], hours: int = 0) -> Fulfillment:
    return Fulfillment(
        id=fid,
        order_id=order_id,
        channel_id=WEB,
        warehouse_id=EAST,
        status=FulfillmentStatus.RELEASED,
        version=2,
        lines=[FulfillmentLine(sku=sku, quantity=qty) for sku, qty in lines],
        created_at=START,
        updated_at=START,
        ship_by=START + timedelta(hours=hours),
    )


def test_the_same_sku_in_the_same_bin_is_one_stop_across_orders() -> None:
    wave = [
        work("ful_1", "ord_1", ("MUG-1", 2), ("TEE-M", 1), hours=1),
        work("ful_2", "ord_2", ("MUG-1", 3), hours=2),
    ]

    pick_list = build_pick_list(EAST, wave, {"MUG-1": "A-1", "TEE-M": "A-2"}, NOW)

    assert [(s.bin, s.sku, s.quantity) for s in pick_list.stops] == [("A-1", "MUG-1", 5), ("A-2", "TEE-M", 1)]
    assert pick_list.stops[0].tasks == [
        PickTask(fulfillment_id="ful_1", order_id="ord_1", quantity=2),
        PickTask(fulfillment_id="ful_2", order_id="ord_2", quantity=3),
    ]
    assert (pick_list.warehouse_id, pick_list.generated_at) == (EAST, NOW)


def test_bins_are_walked_in_natural_order_and_work_without_a_bin_comes_last() -> None:
    skus = {"S-10": "A-10", "S-2": "A-2", "S-B": "B-1", "S-X": None, "S-a": "a-3", "S-21": "A-2-1"}
    wave = [work("ful_1", "ord_1", *((sku, 1) for sku in skus))]

    pick_list = build_pick_list(EAST, wave, skus, NOW)

    assert [s.bin for s in pick_list.stops] == ["A-2", "A-2-1", "a-3", "A-10", "B-1", None]


def test_a_sku_missing_from_the_bin_map_is_picked_last() -> None:
    wave = [work("ful_1", "ord_1", ("MUG-1", 1), ("GHOST", 1))]

    pick_list = build_pick_list(EAST, wave, {"MUG-1": "Z-99"}, NOW)

    assert [(s.bin, s.sku) for s in pick_list.stops] == [("Z-99", "MUG-1"), (None, "GHOST")]


def test_skus_sharing_a_bin_are_separate_stops_in_sku_order() -> None:
    wave = [work("ful_1", "ord_1", ("TEE-M", 1), ("MUG-1", 1))]

    pick_list = build_pick_list(EAST, wave, {"MUG-1": "A-1", "TEE-M": "A-1"}, NOW)

    assert [(s.bin, s.sku) for s in pick_list.stops] == [("A-1", "MUG-1"), ("A-1", "TEE-M")]


def test_the_wave_keeps_the_ship_by_order_it_was_given() -> None:
    wave = [
        work("ful_9", "ord_9", ("MUG-1", 1), hours=1),
        work("ful_1", "ord_1", ("MUG-1", 1), hours=2),
        work("ful_5", "ord_5", ("MUG-1", 1), hours=3),
    ]

    pick_list = build_pick_list(EAST, wave, {"MUG-1": "A-1"}, NOW)

    assert [(w.fulfillment_id, w.ship_by) for w in pick_list.fulfillments] == [
        ("ful_9", START + timedelta(hours=1)),
        ("ful_1", START + timedelta(hours=2)),
        ("ful_5", START + timedelta(hours=3)),
    ]
    assert [t.fulfillment_id for t in pick_list.stops[0].tasks] == ["ful_9", "ful_1", "ful_5"]


def test_an_empty_wave_is_an_empty_pick_list() -> None:
    pick_list = build_pick_list(EAST, [], {}, NOW)

    assert (pick_list.fulfillments, pick_list.stops) == ([], [])


def test_the_pick_list_serialises_its_promises_as_rfc_3339() -> None:
    pick_list = build_pick_list(EAST, [work("ful_1", "ord_1", ("MUG-1", 1))], {"MUG-1": "A-1"}, NOW)

    assert pick_list.model_dump(mode="json")["fulfillments"][0]["ship_by"] == "2026-11-26T09:30:00.000Z"


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("A-2", "A-10"), ("A-9-9", "A-10-1"), ("a-1", "B-1"), ("A-01", "A-2"), ("Z-99", None)],
)
def test_walking_order_is_natural(earlier: str, later: str | None) -> None:
    assert walking_order(earlier) < walking_order(later)


def test_bins_starting_with_a_digit_and_with_a_letter_can_share_a_pick_list() -> None:
    wave = [work("ful_1", "ord_1", ("MUG-1", 1), ("TEE-M", 1), ("CAP-1", 1))]

    pick_list = build_pick_list(EAST, wave, {"MUG-1": "A-2", "TEE-M": "10-1", "CAP-1": None}, NOW)

    assert [s.bin for s in pick_list.stops] == ["10-1", "A-2", None]
