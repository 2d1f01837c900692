"""LL2's JSON parsed into domain types: recorded 2.3.0 and 2.2.0 payloads, and what counts as invalid."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dockwatch.bot.errors import UpstreamError
from dockwatch.bot.ll2.wire import parse_dockings, parse_events, parse_page
from dockwatch.bot.model import DockingRecord, Event, Party, Port, Station

DATA = Path(__file__).parent / "data"
PAGE_A = "ll2_2.3.0_docking_events_page_a.json"
PAGE_B = "ll2_2.3.0_docking_events_page_b.json"
LEGACY_615 = "ll2_2.2.0_docking_event_615.json"
EVENT_1096 = "ll2_2.3.0_event_1096.json"

DOCKINGS = "/docking_events/"
EVENTS = "/events/upcoming/"

ISS_IMAGE = (
    "https://thespacedevs-dev.nyc3.digitaloceanspaces.com/media/images/"
    "international2520space2520station_image_20190220215716.jpeg"
)
C209_IMAGE = "https://thespacedevs-dev.nyc3.digitaloceanspaces.com/media/images/crs-28_dragon_d_image_20230530191602.jpeg"
SPADEX_IMAGE = "https://thespacedevs-prod.nyc3.digitaloceanspaces.com/media/images/spadex_chaser__image_20241228193355.png"
TIANGONG_IMAGE = "https://thespacedevs-prod.nyc3.digitaloceanspaces.com/media/images/tiangong_space__image_20231031004146.png"
TIANZHOU_IMAGE = (
    "https://thespacedevs-prod.nyc3.digitaloceanspaces.com/media/images/tianzhou_image_20210513100807.jpg"
)
YOUTUBE = "https://www.youtube.com/watch?v=pgdwNzCThVg"
NASA_PLUS = "https://plus.nasa.gov/scheduled-video/progress-90-cargo-ship-docking/"


def load(name: str) -> Any:
    with (DATA / name).open(encoding="utf-8") as handle:
        return json.load(handle)


def raw_docking(record_id: int) -> dict[str, Any]:
    """One record from the recorded 2.3.0 pages, as a fresh copy a test may edit."""
    for name in (PAGE_A, PAGE_B):
        for record in load(name)["results"]:
            if record["id"] == record_id:
                return copy.deepcopy(record)
    raise LookupError(record_id)


def parse_one(raw: dict[str, Any], *, legacy: bool = False) -> DockingRecord:
    (record,) = parse_dockings([raw], DOCKINGS, legacy=legacy)
    return record


def parse_event(raw: dict[str, Any]) -> Event:
    (event,) = parse_events([raw], EVENTS)
    return event


def upstream_error(call: Any) -> str:
    """Run ``call``, expect an ``UpstreamError`` and return its message."""
    with pytest.raises(UpstreamError) as caught:
        call()
    return str(caught.value)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- recorded 2.3.0 pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "ids"),
    [
        (PAGE_A, 15, [622, 630, 629, 624, 631]),
        (PAGE_B, 16, [611, 613, 619, 620, 621, 616]),
    ],
    ids=["page a", "page b"],
)
def test_every_record_of_a_recorded_2_3_0_page_parses_in_order(name: str, count: int, ids: list[int]) -> None:
    page = parse_page(load(name), DOCKINGS)

    records = parse_dockings(page.results, DOCKINGS, legacy=False)

    assert page.count == count
    assert page.next is None
    assert [record.id for record in records] == ids


def test_a_spacecraft_flight_docked_at_a_station_is_normalised_on_both_sides() -> None:
    record = parse_one(raw_docking(622))

    assert record == DockingRecord(
        id=622,
        docking=utc(2025, 4, 22, 12, 40),
        departure=utc(2025, 5, 23, 16, 5),
        port=Port(30, "Harmony zenith"),
        station=Station(4, "International Space Station", ISS_IMAGE),
        chaser=Party("spacecraft_flight", 877, "Cargo Dragon C209", C209_IMAGE),
        target=Party("space_station", 4, "International Space Station", ISS_IMAGE),
    )


def test_the_chaser_id_is_the_flight_not_the_spacecraft() -> None:
    raw = raw_docking(622)

    record = parse_one(raw)

    assert raw["flight_vehicle_chaser"]["spacecraft"]["id"] == 474
    assert record.chaser is not None
    assert record.chaser.id == 877


def test_a_planned_departure_in_the_future_is_kept_as_given() -> None:
    record = parse_one(raw_docking(630))

    assert record.departure == utc(2026, 3, 12, 11, 6)


@pytest.mark.parametrize("record_id", [621, 616], ids=["SpaDEx 621", "SpaDEx 616"])
def test_a_payload_to_payload_docking_has_no_station_and_payload_flights_on_both_sides(
    record_id: int,
) -> None:
    record = parse_one(raw_docking(record_id))

    assert record.station is None
    assert record.chaser == Party("payload_flight", 37, "SpaDEx Chaser (SDX01)", SPADEX_IMAGE)
    assert record.target == Party("payload_flight", 38, "SpaDEx Target (SDX02)", SPADEX_IMAGE)
    assert record.port == Port(54, "SpaDEx Target (SDX02)")


@pytest.mark.parametrize("record_id", [621, 616], ids=["SpaDEx 621", "SpaDEx 616"])
def test_a_payload_to_payload_docking_takes_place_at_its_target(record_id: int) -> None:
    record = parse_one(raw_docking(record_id))

    assert record.where == "SpaDEx Target (SDX02)"


def test_a_payload_to_payload_docking_is_named_after_the_target_even_when_the_port_differs() -> None:
    raw = raw_docking(621)
    raw["docking_location"]["name"] = "Forward docking ring"

    record = parse_one(raw)

    assert record.where == "SpaDEx Target (SDX02)"


def test_a_station_target_stands_in_when_the_docking_location_names_no_station() -> None:
    raw = raw_docking(622)
    raw["docking_location"]["spacestation"] = None

    record = parse_one(raw)

    assert record.station == Station(4, "International Space Station", ISS_IMAGE)


@pytest.mark.parametrize(
    ("side", "field", "value", "expected"),
    [
        (
            "chaser",
            "space_station_chaser",
            {"id": 18, "name": "Tiangong space station", "image": None},
            Party("space_station", 18, "Tiangong space station", None),
        ),
        (
            "target",
            "flight_vehicle_target",
            {"id": 900, "spacecraft": {"id": 600, "name": "Soyuz MS-27", "image": None}},
            Party("spacecraft_flight", 900, "Soyuz MS-27", None),
        ),
    ],
    ids=["station as chaser", "spacecraft flight as target"],
)
def test_either_side_may_be_any_of_the_three_ll2_kinds(
    side: str, field: str, value: dict[str, Any], expected: Party
) -> None:
    raw = raw_docking(622)
    for kind in ("flight_vehicle", "payload_flight", "space_station"):
        raw[f"{kind}_{side}"] = None
    raw[field] = value

    record = parse_one(raw)

    assert getattr(record, side) == expected


def test_a_record_with_all_three_chaser_fields_null_has_no_chaser() -> None:
    raw = raw_docking(622)
    raw["flight_vehicle_chaser"] = raw["payload_flight_chaser"] = raw["space_station_chaser"] = None

    record = parse_one(raw)

    assert record.chaser is None
    assert record.vehicle_name == "Unknown vehicle"


def test_the_parsed_record_keeps_the_original_dict_as_raw() -> None:
    raw = raw_docking(622)

    record = parse_one(raw)

    assert record.raw == raw
    assert record.raw["url"] == "https://lldev.thespacedevs.com/2.3.0/docking_events/622/?format=api"


def test_unknown_extra_fields_are_ignored() -> None:
    plain = raw_docking(622)
    extended = raw_docking(622)
    extended["brand_new_field"] = {"nested": [1, 2, 3]}
    extended["docking_location"]["new_port_attribute"] = True
    extended["flight_vehicle_chaser"]["spacecraft"]["new_spacecraft_attribute"] = "x"
    page = {"count": 1, "next": None, "results": [extended], "facets": {"anything": 1}}

    records = parse_dockings(parse_page(page, DOCKINGS).results, DOCKINGS, legacy=False)

    assert records == [parse_one(plain)]


# --- timestamps ------------------------------------------------------------------------------------


def test_every_docking_and_departure_time_is_timezone_aware_utc() -> None:
    results = load(PAGE_A)["results"] + load(PAGE_B)["results"]

    records = parse_dockings(results, DOCKINGS, legacy=False)
    times = [t for r in records for t in (r.docking, r.departure) if t is not None]

    assert len(times) == 18
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)


def test_a_timestamp_with_an_offset_denotes_the_same_instant() -> None:
    raw = raw_docking(622)
    raw["docking"] = "2025-04-22T14:40:00+02:00"

    record = parse_one(raw)

    assert record.docking == utc(2025, 4, 22, 12, 40)


# --- 2.2.0 ----------------------------------------------------------------------------------------


def test_a_2_2_0_record_parses_into_the_same_domain_shape() -> None:
    record = parse_one(load(LEGACY_615), legacy=True)

    assert record == DockingRecord(
        id=615,
        docking=utc(2024, 11, 15, 18, 32),
        departure=None,
        port=Port(32, "Tianhe aft"),
        station=Station(18, "Tiangong space station", TIANGONG_IMAGE),
        chaser=Party("spacecraft_flight", 864, "Tianzhou-8", TIANZHOU_IMAGE),
        target=Party("space_station", 18, "Tiangong space station", TIANGONG_IMAGE),
    )


def test_a_2_2_0_record_keeps_the_original_dict_as_raw() -> None:
    raw = load(LEGACY_615)

    record = parse_one(raw, legacy=True)

    assert record.raw == raw


# --- events ---------------------------------------------------------------------------------------


def test_a_detailed_event_parses_with_its_webcasts() -> None:
    event = parse_event(load(EVENT_1096))

    assert (event.id, event.name, event.type_name, event.location) == (
        1096,
        "Progress MS-29 Docking",
        "Docking",
        "International Space Station",
    )
    assert event.date == utc(2024, 11, 23, 14, 36, 51)
    assert event.webcast_live is False
    assert [(w.url, w.live, w.priority) for w in event.webcasts] == [
        (YOUTUBE, False, 9),
        (NASA_PLUS, False, 10),
    ]
    assert event.webcasts[1].title == "Progress 90 Cargo Ship Docking"
    assert event.webcasts[1].start_time == utc(2024, 11, 23, 13, 45)
    assert event.webcasts[1].end_time == utc(2024, 11, 23, 14, 39)
    assert event.image_url is not None
    assert event.image_url.endswith("progress2520ms-112520docking_image_20190318202147.jpeg")


def test_event_times_are_timezone_aware_utc() -> None:
    event = parse_event(load(EVENT_1096))

    times = [event.date, *(w.start_time for w in event.webcasts), *(w.end_time for w in event.webcasts)]

    assert all(t is not None and t.utcoffset() == timedelta(0) for t in times)


def test_the_parsed_event_keeps_the_original_dict_as_raw() -> None:
    raw = load(EVENT_1096)

    event = parse_event(raw)

    assert event.raw == raw


def _with_webcasts(live: tuple[bool, bool], priorities: tuple[int, int]) -> dict[str, Any]:
    raw: dict[str, Any] = load(EVENT_1096)
    for vid, is_live, priority in zip(raw["vid_urls"], live, priorities, strict=True):
        vid["live"] = is_live
        vid["priority"] = priority
    return raw


@pytest.mark.parametrize(
    ("live", "priorities", "expected"),
    [
        ((False, False), (9, 10), NASA_PLUS),
        ((False, False), (10, 9), YOUTUBE),
        ((False, True), (10, 9), NASA_PLUS),
        ((True, False), (9, 10), YOUTUBE),
        ((True, True), (10, 9), YOUTUBE),
        ((True, True), (10, 10), YOUTUBE),
    ],
    ids=[
        "none live: the highest priority number (NASA's 10 over Roscosmos TV's 9, as recorded)",
        "none live: the highest priority number wherever it is listed",
        "the live stream beats a higher priority",
        "the live stream beats a higher priority listed later",
        "several live: the highest priority number among them",
        "a tie keeps LL2's order",
    ],
)
def test_the_webcast_url_is_the_live_stream_else_the_highest_priority_number(
    live: tuple[bool, bool], priorities: tuple[int, int], expected: str
) -> None:
    event = parse_event(_with_webcasts(live, priorities))

    assert event.webcast_url == expected


def test_an_event_is_live_when_any_webcast_is_live() -> None:
    event = parse_event(_with_webcasts((False, True), (9, 10)))

    assert event.webcast_live is False
    assert event.is_live is True


def test_an_event_is_live_when_its_webcast_live_flag_is_set() -> None:
    raw = load(EVENT_1096)
    raw["webcast_live"] = True

    event = parse_event(raw)

    assert event.is_live is True


def test_an_event_without_vid_urls_has_no_webcasts() -> None:
    event_data = load(EVENT_1096)
    del event_data["vid_urls"]

    event = parse_event(event_data)

    assert event.webcasts == ()
    assert event.webcast_url is None
    assert event.is_live is False
    assert event.name == "Progress MS-29 Docking"


def test_an_event_without_the_webcast_live_flag_is_an_upstream_error() -> None:
    """Silently reading a missing flag as "not live" would miss every webcast; say so instead."""
    event_data = load(EVENT_1096)
    del event_data["webcast_live"]

    with pytest.raises(UpstreamError, match=r"results\[0\]\.webcast_live"):
        parse_events([event_data], "LL2 /events/upcoming/")


# --- invalid payloads -----------------------------------------------------------------------------


def names_field(message: str, index: int, field: str) -> bool:
    """The message points at the bad field by its full path: ``results[3].docking``."""
    return f"results[{index}].{field}:" in message


def _set(index: int, field: str, value: Any) -> Any:
    def edit(results: list[dict[str, Any]]) -> None:
        results[index][field] = value

    return edit


def _delete(index: int, field: str) -> Any:
    def edit(results: list[dict[str, Any]]) -> None:
        del results[index][field]

    return edit


def _delete_port_id(results: list[dict[str, Any]]) -> None:
    del results[2]["docking_location"]["id"]


@pytest.mark.parametrize(
    ("edit", "index", "field"),
    [
        (_set(3, "docking", "yesterday"), 3, "docking"),
        (_set(1, "docking", "2025-09-18T11:24:00"), 1, "docking"),
        (_set(4, "departure", "2026-03-06 17:00"), 4, "departure"),
        (_delete(0, "id"), 0, "id"),
        (_set(2, "id", "six hundred"), 2, "id"),
        (_delete(1, "docking_location"), 1, "docking_location"),
        (_delete_port_id, 2, "docking_location.id"),
    ],
    ids=[
        "docking is not a date",
        "docking is a naive datetime without timezone",
        "departure is a naive datetime without timezone",
        "id is missing",
        "id is not an integer",
        "docking_location is missing",
        "a nested field is missing",
    ],
)
def test_an_invalid_docking_record_is_an_upstream_error_naming_endpoint_and_field(
    edit: Any, index: int, field: str
) -> None:
    results = load(PAGE_A)["results"]
    edit(results)

    message = upstream_error(lambda: parse_dockings(results, DOCKINGS, legacy=False))

    assert "\n" not in message
    assert DOCKINGS in message
    assert names_field(message, index, field), message


def test_an_invalid_2_2_0_record_is_an_upstream_error_naming_endpoint_and_field() -> None:
    raw = load(LEGACY_615)
    raw["docking"] = "2024-11-15T18:32:00"

    message = upstream_error(lambda: parse_dockings([raw], "/docking_event/", legacy=True))

    assert "\n" not in message
    assert "/docking_event/" in message
    assert names_field(message, 0, "docking"), message


def test_an_invalid_event_is_an_upstream_error_naming_endpoint_and_field() -> None:
    first = load(EVENT_1096)
    second = load(EVENT_1096)
    second["vid_urls"][1]["live"] = "maybe"

    message = upstream_error(lambda: parse_events([first, second], EVENTS))

    assert "\n" not in message
    assert EVENTS in message
    assert names_field(message, 1, "vid_urls.1.live"), message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"count": 5, "next": None}, "results"),
        ({"count": 5, "next": None, "results": {"id": 622}}, "results"),
        ({"next": None, "results": []}, "count"),
        (["not", "a", "page"], "(top level)"),
        (None, "(top level)"),
    ],
    ids=[
        "page missing results",
        "results not a list",
        "page missing count",
        "page is a list",
        "page is null",
    ],
)
def test_an_invalid_page_is_an_upstream_error_naming_endpoint_and_field(payload: object, field: str) -> None:
    message = upstream_error(lambda: parse_page(payload, DOCKINGS))

    assert "\n" not in message
    assert DOCKINGS in message
    assert field in message.removeprefix(DOCKINGS)
