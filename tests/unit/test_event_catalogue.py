"""The event catalogue (docs/events.md, docs/events/<type>.json) is what the payload models say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from chalicelib.domain.event_payloads import PAYLOADS
from chalicelib.domain.events import DomainEvent, EventType
from chalicelib.domain.status import TrackingStatus
from tests.unit.builders import EAST, scan, seed_catalogue, tracking_update
from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds
from tests.unit.road import Road, stock_boxes
from tools import events as tool

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_committed_catalogue_is_what_the_generator_writes() -> None:
    stale = [str(path) for path in tool.differences(ROOT)]

    assert not stale, f"{', '.join(stale)} differ from the payload models: run `python -m tools.events`"


def test_the_catalogue_has_a_section_and_a_schema_for_every_event_type() -> None:
    files = tool.catalogue()
    page = files[tool.CATALOGUE]
    for event_type in EventType:
        assert f"\n## {event_type}\n" in page
        schema = json.loads(files[tool.SCHEMAS / f"{event_type}.json"])
        Draft202012Validator.check_schema(schema)
        assert schema["title"] == event_type


@pytest.mark.parametrize("event_type", list(EventType))
def test_each_example_reads_as_its_payload_and_fits_its_schema(event_type: EventType) -> None:
    model = PAYLOADS[event_type]
    example = tool.example_data(model)
    event = DomainEvent(id="evt_1", type=event_type, occurred_at=AT, actor="a", data=example)

    event.payload(model)
    Draft202012Validator(tool.event_schema(model)).validate(example)


def test_the_schemas_accept_the_events_a_whole_journey_writes(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory, ids: SequentialIds, clock: FakeClock
) -> None:
    seed_catalogue(store)
    stock_boxes(store)
    store.set_stock(EAST, "MUG-1", 10)
    road = Road(store, uow_factory, ids, clock)
    order_id = road.released(("MUG-1", 2))
    (fulfillment,) = road.fulfillments(order_id)
    road.through(fulfillment.id, until="pack")
    road.ship(fulfillment.id, "9400-0001")
    road.track(tracking_update("9400-0001", scan(TrackingStatus.DELIVERED, 30), event_id="trk_1"))
    written = [*store.events.values(), *store.tracking_events.values()]

    assert {doc["type"] for doc in written} >= {"order.placed", "fulfillment.shipped", "tracking.updated"}
    for doc in written:
        schema = tool.event_schema(PAYLOADS[EventType(doc["type"])])
        Draft202012Validator(schema).validate(doc["data"])


def test_the_check_names_a_file_that_differs_and_the_command_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool.write(tmp_path)
    (tmp_path / "docs/events/order.placed.json").write_text("{}\n")
    (tmp_path / "docs/events/order.gone.json").write_text("{}\n")

    assert sorted(map(str, tool.differences(tmp_path))) == [
        "docs/events/order.gone.json",
        "docs/events/order.placed.json",
    ]
    tool.write(tmp_path)
    assert list(tool.differences(tmp_path)) == []
