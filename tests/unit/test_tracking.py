"""Carrier webhooks normalised into TrackingUpdates, and the rule that orders scans.

Parsing is checked against EasyPost's official webhook body and against Shippo and AfterShip
bodies written from their documented shapes (tests/fixtures). The ordering rule is checked by
example and by property; the property the rule does *not* have (order independence) is pinned
by its smallest counterexample.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.status import (
    FULFILLMENT_TRANSITIONS,
    FulfillmentStatus,
    FulfillmentTrigger,
    TrackingStatus,
    allowed_fulfillment_triggers,
    next_fulfillment_status,
)
from chalicelib.domain.tracking import (
    ALERT_STATUSES,
    RANK,
    TERMINAL_TRACKING_STATUSES,
    NotATrackingEvent,
    StandardTrackingEvent,
    TrackingPayloadError,
    TrackingScan,
    TrackingUpdate,
    apply_scans,
    fulfillment_trigger_for,
    map_aftership_status,
    map_easypost_status,
    map_shippo_status,
    normalise_carrier,
    parse_aftership,
    parse_easypost,
    parse_shippo,
    parse_standard,
    shippo_event_id,
    should_apply,
)

S = TrackingStatus
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROPERTY = settings(max_examples=300, deadline=None)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body(name: str) -> Any:
    return json.loads(raw(name))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


T0 = utc(2024, 8, 1)


def scan(status: TrackingStatus, minute: int) -> TrackingScan:
    return TrackingScan(status=status, raw_status=status.value, occurred_at=T0 + timedelta(minutes=minute))


# -- EasyPost ---------------------------------------------------------------------------------


def test_the_official_easypost_event_parses_into_a_fedex_update_in_transit() -> None:
    update = parse_easypost(body("easypost/event-body.json"))

    assert update.provider == "easypost"
    assert update.provider_event_id == "evt_1"
    assert update.carrier == "fedex"
    assert update.tracking_number == "1"
    assert update.status is S.IN_TRANSIT
    assert (update.raw_status, update.raw_substatus) == ("in_transit", "arrived_at_facility")
    assert update.estimated_delivery == utc(2024, 8, 5)
    assert update.public_url == "https://track.easypost.com/1"


def test_the_easypost_history_has_seven_scans_oldest_first_in_utc() -> None:
    update = parse_easypost(body("easypost/event-body.json"))

    assert len(update.scans) == 7
    times = [s.occurred_at for s in update.scans]
    assert times == sorted(times)
    assert all(t.utcoffset() == timedelta(0) for t in times)
    first, last = update.scans[0], update.scans[-1]
    assert (first.status, first.raw_status, first.raw_substatus) == (
        S.LABEL_CREATED,
        "pre_transit",
        "label_created",
    )
    assert first.occurred_at == utc(2024, 7, 31, 15, 0)
    assert first.location == "US"  # city and state are null in the payload
    assert last.occurred_at == utc(2024, 8, 2, 18, 50)
    assert last.location == "EDISON, NJ, US"
    assert update.scans[1].location == "ORLANDO, FL, US"
    assert update.scans[3].occurred_at == utc(2024, 8, 1, 14, 42, 13)


def test_scans_come_out_oldest_first_whatever_order_the_provider_lists_them_in() -> None:
    event = body("easypost/event-body.json")
    event["result"]["tracking_details"].reverse()
    payload = body("aftership/delivered.json")
    payload["msg"]["checkpoints"].reverse()

    for update in (parse_easypost(event), parse_aftership(payload)):
        times = [s.occurred_at for s in update.scans]
        assert times == sorted(times)
        assert update.scans[0].status is S.LABEL_CREATED


def test_the_current_easypost_status_happened_at_its_latest_scan() -> None:
    update = parse_easypost(body("easypost/event-body.json"))

    assert update.occurred_at == utc(2024, 8, 2, 18, 50)
    assert update.scans[-1].status is update.status


def test_an_easypost_tracker_without_details_gets_its_current_status_as_the_one_scan() -> None:
    event = body("easypost/event-body.json")
    event["result"]["tracking_details"] = []
    event["result"]["status"] = "pre_transit"

    update = parse_easypost(event)

    assert update.status is S.LABEL_CREATED
    assert update.occurred_at == utc(2024, 8, 2, 19, 26, 51)  # the tracker's updated_at
    assert [(s.status, s.occurred_at) for s in update.scans] == [(S.LABEL_CREATED, update.occurred_at)]


@pytest.mark.parametrize(
    ("spelling", "slug"),
    [
        ("FedEx", "fedex"),
        ("USPS", "usps"),
        ("UPS", "ups"),
        ("DHLExpress", "dhl_express"),
        ("CanadaPost", "canada_post"),
    ],
)
def test_easypost_carrier_names_become_the_shared_slugs(spelling: str, slug: str) -> None:
    event = body("easypost/event-body.json")
    event["result"]["carrier"] = spelling

    assert parse_easypost(event).carrier == slug


def test_other_easypost_events_are_recognised_as_not_about_tracking() -> None:
    with pytest.raises(NotATrackingEvent) as caught:
        parse_easypost({"id": "evt_2", "description": "batch.updated", "result": {"object": "Batch"}})

    assert caught.value.event_type == "batch.updated"
    assert isinstance(caught.value, TrackingPayloadError)


# -- Shippo ------------------------------------------------------------------------------------


def test_a_shippo_transit_with_out_for_delivery_substatus_is_out_for_delivery() -> None:
    update = parse_shippo(
        body("shippo/transit-out-for-delivery.json"), raw("shippo/transit-out-for-delivery.json")
    )

    assert update.provider == "shippo"
    assert (update.carrier, update.tracking_number) == ("usps", "9205590164917312751089")
    assert update.status is S.OUT_FOR_DELIVERY
    assert (update.raw_status, update.raw_substatus) == ("TRANSIT", "out_for_delivery")
    assert update.occurred_at == utc(2024, 8, 5, 12, 10)
    assert update.estimated_delivery == utc(2024, 8, 5, 20)
    assert update.public_url is None
    assert [s.status for s in update.scans] == [
        S.LABEL_CREATED,
        S.IN_TRANSIT,
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
    ]
    assert update.scans[-1].location == "Spotsylvania, VA, US"
    assert update.scans[-1].message == "Out for Delivery, Expected Delivery by 8:00pm"


def test_shippo_delivered_failure_and_returned_map_with_raw_values_kept() -> None:
    delivered = parse_shippo(body("shippo/delivered.json"), raw("shippo/delivered.json"))
    failed = parse_shippo(body("shippo/failure.json"), raw("shippo/failure.json"))
    returned = parse_shippo(body("shippo/returned.json"), raw("shippo/returned.json"))

    assert (delivered.status, delivered.raw_status, delivered.raw_substatus) == (
        S.DELIVERED,
        "DELIVERED",
        "delivered",
    )
    assert (failed.status, failed.raw_status, failed.raw_substatus) == (S.FAILED, "FAILURE", "package_lost")
    assert (returned.status, returned.raw_status, returned.raw_substatus) == (
        S.RETURNED_TO_SENDER,
        "RETURNED",
        "return_to_sender",
    )
    # The address problem on the way is kept as an exception scan in the history.
    assert [s.status for s in returned.scans][-2:] == [S.EXCEPTION, S.RETURNED_TO_SENDER]
    assert returned.scans[-2].raw_substatus == "address_issue"
    assert failed.estimated_delivery is None
    assert failed.scans[-1].location is None


def test_the_shippo_current_status_is_not_counted_twice_when_the_history_repeats_it() -> None:
    update = parse_shippo(body("shippo/delivered.json"), raw("shippo/delivered.json"))

    assert len(update.scans) == 5
    assert update.scans[-1].status is S.DELIVERED


def test_the_shippo_current_status_joins_the_history_when_the_history_lacks_it() -> None:
    payload = body("shippo/delivered.json")
    payload["data"]["tracking_history"] = payload["data"]["tracking_history"][:-1]

    update = parse_shippo(payload, b"{}")

    assert [s.status for s in update.scans][-2:] == [S.OUT_FOR_DELIVERY, S.DELIVERED]


def test_shippo_updates_are_deduplicated_on_carrier_tracking_number_and_status_object_id() -> None:
    payload = body("shippo/delivered.json")
    first = parse_shippo(payload, raw("shippo/delivered.json"))
    # A retry of the same update, serialised differently, is the same event...
    retry = parse_shippo(copy.deepcopy(payload), json.dumps(payload).encode())
    # ...and the next update of the same parcel is a different one.
    earlier = parse_shippo(
        body("shippo/transit-out-for-delivery.json"), raw("shippo/transit-out-for-delivery.json")
    )

    assert first.provider_event_id == retry.provider_event_id
    assert first.provider_event_id != earlier.provider_event_id
    assert first.provider_event_id == shippo_event_id(
        "usps", "9205590164917312751089", "0b2a6e4c1f7a4a4e9b1d2c3e4f5a6b05", b"ignored"
    )
    assert len(first.provider_event_id) == 64


def test_a_shippo_status_without_object_id_is_deduplicated_on_the_raw_body() -> None:
    payload = body("shippo/delivered.json")
    del payload["data"]["tracking_status"]["object_id"]

    one = parse_shippo(payload, b'{"exact": "bytes"}')
    same = parse_shippo(payload, b'{"exact": "bytes"}')
    other = parse_shippo(payload, b'{"exact":"bytes"}')

    assert one.provider_event_id == same.provider_event_id != other.provider_event_id


@pytest.mark.parametrize(
    ("status", "substatus", "ours"),
    [
        ("UNKNOWN", None, S.UNKNOWN),
        ("PRE_TRANSIT", None, S.LABEL_CREATED),
        ("TRANSIT", None, S.IN_TRANSIT),
        ("TRANSIT", "package_departed", S.IN_TRANSIT),
        ("TRANSIT", "out_for_delivery", S.OUT_FOR_DELIVERY),
        ("TRANSIT", "pickup_available", S.AVAILABLE_FOR_PICKUP),
        ("TRANSIT", "delivery_attempted", S.DELIVERY_ATTEMPTED),
        ("TRANSIT", "notice_left", S.DELIVERY_ATTEMPTED),
        ("TRANSIT", "delayed", S.EXCEPTION),
        ("TRANSIT", "address_issue", S.EXCEPTION),
        ("TRANSIT", "package_held", S.EXCEPTION),
        ("TRANSIT", "package_damaged", S.EXCEPTION),
        ("DELIVERED", None, S.DELIVERED),
        ("RETURNED", None, S.RETURNED_TO_SENDER),
        ("FAILURE", None, S.FAILED),
        # A substatus only refines TRANSIT: a delivered parcel with a stray code stays delivered.
        ("DELIVERED", "out_for_delivery", S.DELIVERED),
    ],
)
def test_shippo_statuses_map_as_the_table_says(
    status: str, substatus: str | None, ours: TrackingStatus
) -> None:
    assert map_shippo_status(status, substatus) is ours


# -- AfterShip ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "tag", "subtag"),
    [
        ("out-for-delivery", S.OUT_FOR_DELIVERY, "OutForDelivery", "OutForDelivery_001"),
        ("delivered", S.DELIVERED, "Delivered", "Delivered_001"),
        ("attempt-fail", S.DELIVERY_ATTEMPTED, "AttemptFail", "AttemptFail_001"),
        ("exception-returning", S.RETURNED_TO_SENDER, "Exception", "Exception_010"),
    ],
)
def test_aftership_tags_map_with_raw_tag_and_subtag_kept(
    name: str, status: TrackingStatus, tag: str, subtag: str
) -> None:
    update = parse_aftership(body(f"aftership/{name}.json"))

    assert update.provider == "aftership"
    assert update.carrier == "fedex"
    assert (update.status, update.raw_status, update.raw_substatus) == (status, tag, subtag)
    assert update.scans[-1].status is status
    assert update.occurred_at == update.scans[-1].occurred_at


def test_aftership_checkpoint_times_in_local_offsets_become_utc() -> None:
    update = parse_aftership(body("aftership/out-for-delivery.json"))

    # "2024-08-05T08:05:00-04:00" on the out-for-delivery checkpoint.
    assert update.occurred_at == utc(2024, 8, 5, 12, 5)
    assert update.scans[0].occurred_at == utc(2024, 8, 1, 16, 2)
    assert update.scans[-1].location == "BROOKLYN, NY, USA"
    assert update.provider_event_id == "5b3f2a8e-0d4c-4c51-9a6e-2d5b8f7c1a01"
    assert update.estimated_delivery == utc(2024, 8, 5)
    assert update.public_url == "https://www.fedex.com/fedextrack/?trknbr=786612345678"


def test_an_aftership_checkpoint_time_without_offset_is_read_as_utc_whatever_the_machine_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not UTC here, so reading the time in the machine's own zone would show.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    payload = body("aftership/out-for-delivery.json")
    payload["msg"]["checkpoints"][-1]["checkpoint_time"] = "2024-08-05T08:05:00"
    try:
        assert parse_aftership(payload).occurred_at == utc(2024, 8, 5, 8, 5)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_aftership_tag_with_no_matching_checkpoint_happened_at_the_tracking_update_time() -> None:
    payload = body("aftership/delivered.json")
    payload["msg"]["checkpoints"] = payload["msg"]["checkpoints"][:-1]

    update = parse_aftership(payload)

    assert update.occurred_at == utc(2024, 8, 5, 18, 31, 44)
    assert update.scans[-1].status is S.DELIVERED


@pytest.mark.parametrize(
    ("tag", "subtag", "ours"),
    [
        ("Pending", None, S.UNKNOWN),
        ("InfoReceived", "InfoReceived_001", S.LABEL_CREATED),
        ("InTransit", "InTransit_007", S.IN_TRANSIT),
        ("OutForDelivery", "OutForDelivery_001", S.OUT_FOR_DELIVERY),
        ("AvailableForPickup", "AvailableForPickup_001", S.AVAILABLE_FOR_PICKUP),
        ("AttemptFail", "AttemptFail_001", S.DELIVERY_ATTEMPTED),
        ("Delivered", "Delivered_001", S.DELIVERED),
        ("Exception", "Exception_004", S.EXCEPTION),  # customs delay
        ("Exception", "Exception_003", S.EXCEPTION),  # refused by the customer
        ("Exception", "Exception_010", S.RETURNED_TO_SENDER),  # returning to sender
        ("Exception", "Exception_011", S.RETURNED_TO_SENDER),  # returned to sender
        ("Exception", "Exception_012", S.FAILED),  # damaged
        ("Exception", "Exception_013", S.FAILED),  # lost
        ("Exception", None, S.EXCEPTION),
        ("Expired", "Expired_001", S.EXCEPTION),
    ],
)
def test_aftership_tags_and_subtags_map_as_the_table_says(
    tag: str, subtag: str | None, ours: TrackingStatus
) -> None:
    assert map_aftership_status(tag, subtag) is ours


def test_other_aftership_events_are_recognised_as_not_about_tracking() -> None:
    with pytest.raises(NotATrackingEvent):
        parse_aftership({"event": "edd_revise", "event_id": "x", "msg": {}})


# -- EasyPost status table and carriers --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("unknown", S.UNKNOWN),
        ("error", S.UNKNOWN),
        ("pre_transit", S.LABEL_CREATED),
        ("in_transit", S.IN_TRANSIT),
        ("out_for_delivery", S.OUT_FOR_DELIVERY),
        ("available_for_pickup", S.AVAILABLE_FOR_PICKUP),
        ("delivered", S.DELIVERED),
        ("return_to_sender", S.RETURNED_TO_SENDER),
        ("failure", S.FAILED),
        ("cancelled", S.CANCELLED),
        ("a_status_easypost_adds_later", S.UNKNOWN),
    ],
)
def test_easypost_statuses_map_as_the_table_says(status: str, ours: TrackingStatus) -> None:
    assert map_easypost_status(status) is ours


@pytest.mark.parametrize(
    ("raw_name", "slug"),
    [
        ("dhl_express", "dhl_express"),  # Shippo
        ("DHLExpress", "dhl_express"),  # EasyPost
        ("dhl", "dhl_express"),  # AfterShip
        ("canada-post", "canada_post"),  # AfterShip
        ("Some New Carrier", "some_new_carrier"),
    ],
)
def test_every_provider_spelling_of_a_carrier_gets_one_slug(raw_name: str, slug: str) -> None:
    assert normalise_carrier(raw_name) == slug


# -- Standard Webhooks (our payload) ----------------------------------------------------------

STANDARD = {
    "type": "tracking.updated",
    "timestamp": "2024-08-05T12:06:00Z",
    "data": {
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "status": "out_for_delivery",
        "raw_status": "OFD",
        "occurred_at": "2024-08-05T08:05:00-04:00",
        "estimated_delivery": "2024-08-05T23:59:00Z",
        "message": "On vehicle for delivery",
        "location": "BROOKLYN, NY, US",
    },
}


def test_our_standard_payload_parses_with_the_webhook_id_as_dedup_key() -> None:
    update = parse_standard(STANDARD, "msg_2Kx")

    assert update.provider == "standard"
    assert update.provider_event_id == "msg_2Kx"
    assert (update.carrier, update.tracking_number) == ("ups", "1Z999AA10123456784")
    assert (update.status, update.raw_status, update.raw_substatus) == (S.OUT_FOR_DELIVERY, "OFD", None)
    assert update.occurred_at == utc(2024, 8, 5, 12, 5)
    assert [(s.status, s.occurred_at, s.location) for s in update.scans] == [
        (S.OUT_FOR_DELIVERY, utc(2024, 8, 5, 12, 5), "BROOKLYN, NY, US")
    ]


def test_a_standard_payload_without_raw_status_keeps_our_status_as_the_raw_one() -> None:
    payload = copy.deepcopy(STANDARD)
    del payload["data"]["raw_status"]

    assert parse_standard(payload, "msg_1").raw_status == "out_for_delivery"


def test_the_standard_payload_model_has_a_json_schema_for_the_openapi_document() -> None:
    schema = StandardTrackingEvent.model_json_schema()

    assert schema["properties"]["type"]["const"] == "tracking.updated"
    assert "data" in schema["required"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.update(type="order.created"), "type"),
        (lambda p: p["data"].update(status="lost_in_space"), "data.status"),
        (lambda p: p["data"].update(occurred_at="2024-08-05T08:05:00"), "data.occurred_at"),  # no offset
        (lambda p: p["data"].pop("tracking_number"), "data.tracking_number"),
        (lambda p: p["data"].update(surprise=1), "data.surprise"),
    ],
)
def test_a_malformed_standard_payload_names_the_field(change: Any, field: str) -> None:
    payload = copy.deepcopy(STANDARD)
    change(payload)

    with pytest.raises(TrackingPayloadError) as caught:
        parse_standard(payload, "msg_1")

    assert field in str(caught.value)
    assert [".".join(map(str, e.loc)) for e in caught.value.errors] == [field]


def test_a_standard_payload_without_webhook_id_is_refused() -> None:
    with pytest.raises(TrackingPayloadError, match="webhook-id"):
        parse_standard(STANDARD, " ")


# -- malformed payloads ------------------------------------------------------------------------


def _without(path: tuple[str | int, ...]) -> Any:
    def change(payload: Any) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _set(path: tuple[str | int, ...], value: object) -> Any:
    def change(payload: Any) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


EASYPOST_BREAKAGES = [
    (_without(("result", "tracking_code")), "result.tracking_code: is missing"),
    (_set(("result", "tracking_code"), 12345), "result.tracking_code: must be a string"),
    (_set(("result", "tracking_code"), "  "), "result.tracking_code: must not be empty"),
    (_set(("result",), None), "result: is missing"),
    (_set(("result",), ["not", "a", "tracker"]), "result: must be an object"),
    (_without(("id",)), "id: is missing"),
    (_set(("result", "tracking_details"), {"0": {}}), "result.tracking_details: must be a list"),
    (_set(("result", "tracking_details", 2, "datetime"), "yesterday"), "result.tracking_details[2].datetime"),
    (_set(("result", "tracking_details", 2, "datetime"), 1722614400), "must be an ISO 8601 time string"),
    (_set(("result", "est_delivery_date"), "soon"), "result.est_delivery_date"),
    (_set(("result", "carrier"), "---"), "carrier"),
]


@pytest.mark.parametrize(("change", "message"), EASYPOST_BREAKAGES)
def test_a_malformed_easypost_payload_raises_a_payload_error_naming_the_field(
    change: Any, message: str
) -> None:
    payload = body("easypost/event-body.json")
    change(payload)

    with pytest.raises(TrackingPayloadError, match=re.escape(message)):
        parse_easypost(payload)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_without(("data", "tracking_number")), "data.tracking_number: is missing"),
        (_set(("data", "tracking_status"), None), "data.tracking_status: is missing"),
        (_set(("data", "tracking_status", "status_date"), "5 Aug"), "data.tracking_status.status_date"),
        (_set(("data", "tracking_status", "substatus"), "out_for_delivery"), "substatus: must be an object"),
        (_set(("data", "tracking_history"), "none"), "data.tracking_history: must be a list"),
        (_set(("event",), "transaction_created"), "not a tracking update"),
    ],
)
def test_a_malformed_shippo_payload_raises_a_payload_error_naming_the_field(
    change: Any, message: str
) -> None:
    payload = body("shippo/delivered.json")
    change(payload)

    with pytest.raises(TrackingPayloadError, match=re.escape(message)):
        parse_shippo(payload, b"")


def test_a_shippo_status_with_no_time_at_all_is_malformed() -> None:
    payload = body("shippo/delivered.json")
    for key in ("status_date", "object_updated", "object_created"):
        payload["data"]["tracking_status"][key] = None

    with pytest.raises(TrackingPayloadError, match=re.escape("data.tracking_status.status_date: is missing")):
        parse_shippo(payload, b"")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_without(("msg", "tracking_number")), "msg.tracking_number: is missing"),
        (_without(("event_id",)), "event_id: is missing"),
        (
            _set(("msg", "checkpoints", 0, "checkpoint_time"), "32/13/2024"),
            "msg.checkpoints[0].checkpoint_time",
        ),
        (_set(("msg", "tag"), ["Delivered"]), "msg.tag: must be a string"),
        (_set(("msg",), "tracking"), "msg: must be an object"),
    ],
)
def test_a_malformed_aftership_payload_raises_a_payload_error_naming_the_field(
    change: Any, message: str
) -> None:
    payload = body("aftership/delivered.json")
    change(payload)

    with pytest.raises(TrackingPayloadError, match=re.escape(message)):
        parse_aftership(payload)


def test_an_aftership_update_with_no_time_for_its_status_is_malformed() -> None:
    payload = body("aftership/delivered.json")
    payload["msg"]["checkpoints"] = []
    payload["msg"]["updated_at"] = None
    del payload["ts"]

    with pytest.raises(TrackingPayloadError, match=re.escape("msg.updated_at: is missing")):
        parse_aftership(payload)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

PARSERS = {
    "easypost/event-body.json": parse_easypost,
    "shippo/delivered.json": lambda p: parse_shippo(p, b"{}"),
    "aftership/delivered.json": parse_aftership,
    "standard": lambda p: parse_standard(p, "msg_1"),
}


@PROPERTY
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data())
def test_any_field_replaced_by_any_json_either_parses_or_raises_a_payload_error(
    name: str, data: st.DataObject
) -> None:
    payload = copy.deepcopy(STANDARD) if name == "standard" else body(name)
    path = data.draw(st.sampled_from(_paths(payload)))
    _set(path, data.draw(JSON))(payload)

    try:
        update = PARSERS[name](payload)
    except TrackingPayloadError:
        return  # anything else (KeyError, TypeError, AttributeError...) fails the test
    assert isinstance(update, TrackingUpdate)


@PROPERTY
@given(name=st.sampled_from(sorted(PARSERS)), payload=JSON)
def test_any_json_at_all_either_parses_or_raises_a_payload_error(name: str, payload: Any) -> None:
    try:
        update = PARSERS[name](payload)
    except TrackingPayloadError:
        return
    assert isinstance(update, TrackingUpdate)


# -- the ordering rule, by example -------------------------------------------------------------


def test_an_in_transit_scan_arriving_after_the_later_delivery_is_refused() -> None:
    delivered, in_transit = scan(S.DELIVERED, 30), scan(S.IN_TRANSIT, 20)

    assert should_apply(None, None, delivered)
    assert not should_apply(S.DELIVERED, delivered.occurred_at, in_transit)


def test_a_duplicate_scan_is_refused() -> None:
    in_transit = scan(S.IN_TRANSIT, 10)

    assert not should_apply(S.IN_TRANSIT, in_transit.occurred_at, in_transit)


def test_a_failed_shipment_may_recover_to_in_transit() -> None:
    assert should_apply(S.FAILED, T0, scan(S.IN_TRANSIT, 60))
    assert should_apply(S.EXCEPTION, T0, scan(S.IN_TRANSIT, 60))


def test_in_transit_after_out_for_delivery_is_refused_even_when_newer() -> None:
    assert not should_apply(S.OUT_FOR_DELIVERY, T0, scan(S.IN_TRANSIT, 60))


def test_an_older_scan_is_refused_even_with_a_higher_rank() -> None:
    assert not should_apply(S.IN_TRANSIT, T0 + timedelta(minutes=50), scan(S.DELIVERED, 40))


def test_a_newer_scan_of_equal_or_higher_rank_is_applied() -> None:
    assert should_apply(S.OUT_FOR_DELIVERY, T0, scan(S.DELIVERY_ATTEMPTED, 1))
    assert should_apply(S.DELIVERY_ATTEMPTED, T0, scan(S.OUT_FOR_DELIVERY, 1))
    assert should_apply(S.IN_TRANSIT, T0, scan(S.DELIVERED, 1))


def test_nothing_moves_a_delivered_or_returned_shipment() -> None:
    for terminal in (S.DELIVERED, S.RETURNED_TO_SENDER):
        assert not should_apply(terminal, T0, scan(S.RETURNED_TO_SENDER, 60))
        assert not should_apply(terminal, T0, scan(S.DELIVERED, 60))


def test_a_cancelled_label_does_not_move_a_shipped_parcel() -> None:
    assert not should_apply(S.IN_TRANSIT, T0, scan(S.CANCELLED, 60))
    assert fulfillment_trigger_for(S.CANCELLED) is None


def test_with_no_state_yet_any_scan_applies() -> None:
    assert should_apply(None, None, scan(S.UNKNOWN, 0))
    assert should_apply(S.IN_TRANSIT, None, scan(S.IN_TRANSIT, 0))  # a status recorded without a time


def test_a_naive_current_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="time zone"):
        should_apply(S.IN_TRANSIT, datetime(2024, 8, 1), scan(S.DELIVERED, 0))


def test_the_easypost_history_replayed_leaves_the_fulfillment_in_transit_at_the_last_scan() -> None:
    update = parse_easypost(body("easypost/event-body.json"))

    outcome = apply_scans(None, None, update.scans)

    assert (outcome.status, outcome.at) == (S.IN_TRANSIT, update.occurred_at)
    assert len(outcome.applied) == 7
    assert apply_scans(outcome.status, outcome.at, update.scans).applied == ()  # a retry changes nothing


# -- ranks, triggers, alerts -------------------------------------------------------------------


def test_every_tracking_status_has_a_rank_and_a_trigger_decision() -> None:
    assert set(RANK) == set(TrackingStatus)
    for status in TrackingStatus:
        fulfillment_trigger_for(status)  # raises KeyError if a status was forgotten


def test_statuses_that_say_nothing_about_goods_moving_fire_no_trigger() -> None:
    assert {s for s in TrackingStatus if fulfillment_trigger_for(s) is None} == {
        S.UNKNOWN,
        S.LABEL_CREATED,
        S.CANCELLED,
    }


def test_every_scan_trigger_is_allowed_from_every_shipped_non_terminal_fulfillment() -> None:
    moving = [f for f, row in FULFILLMENT_TRANSITIONS.items() if FulfillmentTrigger.SCAN_IN_TRANSIT in row]
    for status in TrackingStatus:
        trigger = fulfillment_trigger_for(status)
        if trigger is None:
            continue
        for current in moving:
            target = next_fulfillment_status(current, trigger)
            assert target.value == status.value


def test_terminal_tracking_statuses_are_exactly_the_scans_after_which_no_scan_moves_the_fulfillment() -> None:
    # A returned parcel is not terminal for the fulfillment (it waits for a reship or a refund),
    # but no carrier scan moves it any more.
    def takes_scans(state: FulfillmentStatus) -> bool:
        return any(t.name.startswith("SCAN_") for t in allowed_fulfillment_triggers(state))

    reached_terminal = {
        s
        for s in TrackingStatus
        if (t := fulfillment_trigger_for(s)) is not None
        and not takes_scans(next_fulfillment_status(FulfillmentStatus.SHIPPED, t))
    }

    assert reached_terminal == set(TERMINAL_TRACKING_STATUSES)


def test_alert_statuses_are_the_ones_someone_must_look_at() -> None:
    assert {S.DELIVERY_ATTEMPTED, S.EXCEPTION, S.RETURNED_TO_SENDER, S.FAILED} == ALERT_STATUSES


# -- the ordering rule, by property ------------------------------------------------------------

#: Histories of scans at distinct event times (minutes after T0), in event-time order.
HISTORIES = st.lists(
    st.tuples(st.sampled_from(list(TrackingStatus)), st.integers(0, 10_000)),
    min_size=1,
    max_size=8,
    unique_by=lambda item: item[1],
).map(lambda items: sorted((scan(s, m) for s, m in items), key=lambda x: x.occurred_at))


def _final(scans: list[TrackingScan]) -> tuple[TrackingStatus | None, datetime | None]:
    outcome = apply_scans(None, None, scans)
    return outcome.status, outcome.at


def test_arrival_order_can_change_the_outcome_when_a_newer_scan_ranks_lower() -> None:
    # The smallest counterexample Hypothesis finds for "the outcome is order-independent":
    # the carrier says out_for_delivery, then (the van came back) in_transit. In event-time
    # order in_transit is refused (lower rank); if it arrives first it is applied, and then
    # out_for_delivery is refused (older). The rule as specified cannot give both the same end.
    out_for_delivery, back_at_depot = scan(S.OUT_FOR_DELIVERY, 0), scan(S.IN_TRANSIT, 1)

    in_event_order = _final([out_for_delivery, back_at_depot])
    reversed_arrival = _final([back_at_depot, out_for_delivery])

    assert in_event_order == (S.OUT_FOR_DELIVERY, out_for_delivery.occurred_at)
    assert reversed_arrival == (S.IN_TRANSIT, back_at_depot.occurred_at)


@PROPERTY
@given(history=HISTORIES, data=st.data())
def test_when_the_newest_scan_is_the_most_advanced_every_arrival_order_ends_there(
    history: list[TrackingScan], data: st.DataObject
) -> None:
    # The weaker property that holds: order independence for histories whose newest scan ranks
    # at least as high as every other and is the only terminal one (the normal case).
    newest = history[-1]
    history = [
        *(
            s
            for s in history[:-1]
            if RANK[s.status] <= RANK[newest.status] and s.status not in TERMINAL_TRACKING_STATUSES
        ),
        newest,
    ]
    arrival = data.draw(st.permutations(history))

    assert _final(list(arrival)) == _final(history) == (newest.status, newest.occurred_at)


@PROPERTY
@given(history=HISTORIES, data=st.data())
def test_out_of_order_arrival_never_ends_more_advanced_than_event_order(
    history: list[TrackingScan], data: st.DataObject
) -> None:
    arrival = list(data.draw(st.permutations(history)))

    arrived, ordered = _final(arrival)[0], _final(history)[0]

    assert arrived is not None and ordered is not None
    assert RANK[arrived] <= RANK[ordered]


@PROPERTY
@given(history=HISTORIES, data=st.data())
def test_replayed_scans_change_nothing_whenever_they_arrive(
    history: list[TrackingScan], data: st.DataObject
) -> None:
    arrival = list(data.draw(st.permutations(history)))
    replays = data.draw(st.lists(st.sampled_from(arrival), max_size=6))
    with_replays = list(arrival)
    for replay in replays:
        first_seen = with_replays.index(replay)
        with_replays.insert(data.draw(st.integers(first_seen + 1, len(with_replays))), replay)

    assert _final(with_replays) == _final(arrival)


@PROPERTY
@given(history=HISTORIES, data=st.data())
def test_a_fulfillment_never_moves_back_in_rank_or_time(
    history: list[TrackingScan], data: st.DataObject
) -> None:
    applied = apply_scans(None, None, data.draw(st.permutations(history))).applied

    for before, after in itertools.pairwise(applied):
        assert after.occurred_at > before.occurred_at
        assert RANK[after.status] >= RANK[before.status]
        assert before.status not in TERMINAL_TRACKING_STATUSES


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "http://track.example/1", "data:text/html,x", "https://", "https://a b/"]
)
def test_a_carriers_link_that_is_not_https_is_dropped_not_put_into_emails(link: str) -> None:
    event = json.loads(raw("easypost/event-body.json"))
    event["result"]["public_url"] = link
    assert parse_easypost(event).public_url is None


def test_our_standard_payload_refuses_a_link_that_is_not_https() -> None:
    payload = {
        "type": "tracking.updated",
        "data": {
            "carrier": "ups",
            "tracking_number": "1Z1",
            "status": "in_transit",
            "occurred_at": "2026-11-26T10:00:00Z",
            "public_url": "javascript:alert(document.cookie)",
        },
    }
    with pytest.raises(TrackingPayloadError):
        parse_standard(payload, "msg_1")
    payload["data"]["public_url"] = "https://track.example/1Z1?x=1"  # type: ignore[index]
    assert parse_standard(payload, "msg_1").public_url == "https://track.example/1Z1?x=1"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_with_no_utc_equivalent_is_a_payload_error_not_a_crash(moment: str) -> None:
    event = json.loads(raw("easypost/event-body.json"))
    event["result"]["updated_at"] = moment
    for detail in event["result"].get("tracking_details", []):
        detail["datetime"] = moment
    with pytest.raises(TrackingPayloadError):
        parse_easypost(event)
