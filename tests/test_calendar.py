"""/calendar.ics: planned and recent dockings, departures and events, read back with icalendar.

The pure specs build the calendar from plain records; the store specs show that the ``SEQUENCE``,
the cancelled times and the ``LAST-MODIFIED`` come from what the store keeps across polls; the HTTP
specs serve the real web app on the test clock against the fake LL2.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from icalendar import Event as VEvent
from multidict import CIMultiDict

from dockwatch.bot.calendar import build_calendar
from dockwatch.bot.config import Config
from dockwatch.bot.ll2.wire import parse_dockings, parse_events
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import (
    Change,
    ChangeKind,
    Correction,
    DockingHistory,
    DockingRecord,
    Event,
    EventHistory,
    Message,
    Party,
    Port,
    Revision,
    Snapshot,
    Station,
    SubscriptionFilter,
    TimeHistory,
    Webcast,
)
from dockwatch.bot.pipeline import run_cycle
from dockwatch.bot.runtime import Runtime
from dockwatch.bot.service import Service
from dockwatch.bot.web import create_web_app
from dockwatch.storage import Store
from tests.builders import ll2_docking, ll2_event
from tests.conftest import Clock, serving
from tests.fakes.ll2 import FakeLL2

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LL2 = "https://ll.test/2.3.0"
ISS = Station(4, "International Space Station")
TIANGONG = Station(18, "Tiangong space station")
UNSET: Any = object()


def docking(
    record_id: int = 630,
    *,
    at: datetime | None = NOW + 2 * DAY,
    leaves: datetime | None = None,
    vehicle: str = "Progress MS-33",
    port: str = "Poisk zenith",
    station: Station | None = ISS,
    given: datetime | None = UNSET,
    leaves_given: datetime | None = UNSET,
    revision: int = 0,
    departure_revision: int = 0,
    revised_at: datetime = NOW - DAY,
) -> DockingHistory:
    record = DockingRecord(
        record_id,
        at,
        leaves,
        Port(record_id + 1000, port),
        station,
        Party("spacecraft_flight", record_id + 2000, vehicle),
        None,
    )
    return DockingHistory(
        record,
        TimeHistory(at if given is UNSET else given, revision),
        TimeHistory(leaves if leaves_given is UNSET else leaves_given, departure_revision),
        first_seen=NOW - 30 * DAY,
        revised_at=revised_at,
    )


def event(
    event_id: int = 1096,
    *,
    at: datetime | None = NOW + 2 * DAY,
    name: str = "Progress MS-33 Docking",
    location: str | None = "International Space Station",
    webcast: str | None = "https://www.youtube.com/watch?v=ms33",
    given: datetime | None = UNSET,
    revision: int = 0,
) -> EventHistory:
    webcasts = (Webcast(webcast),) if webcast else ()
    return EventHistory(
        Event(event_id, name, at, webcasts=webcasts, type_name="Docking", location=location),
        TimeHistory(at if given is UNSET else given, revision),
        first_seen=NOW - 30 * DAY,
        revised_at=NOW - DAY,
    )


def calendar(
    dockings: Sequence[DockingHistory] = (),
    events: Sequence[EventHistory] = (),
    happened: Mapping[str, datetime] | None = None,
    *,
    now: datetime = NOW,
    wanted: SubscriptionFilter | None = None,
) -> dict[str, VEvent]:
    """The calendar's entries by UID, as a calendar client parses them."""
    body = build_calendar(dockings, events, happened or {}, now=now, ll2_base=LL2, wanted=wanted)
    return {str(entry["UID"]): entry for entry in Calendar.from_ical(body).walk("VEVENT")}


def only(entries: dict[str, VEvent]) -> VEvent:
    assert len(entries) == 1, list(entries)
    return next(iter(entries.values()))


# --- what an entry says ------------------------------------------------------------------------


def test_a_planned_docking_reads_who_docks_where_at_a_glance() -> None:
    entry = calendar([docking()])["docking-630@dockwatch"]

    assert entry["SUMMARY"] == "Progress MS-33 docks at ISS, Poisk zenith"


def test_a_departure_names_the_vehicle_and_the_station_it_leaves() -> None:
    entries = calendar([docking(at=NOW - 90 * DAY, leaves=NOW + DAY)])

    assert list(entries) == ["departure-630@dockwatch"]
    assert entries["departure-630@dockwatch"]["SUMMARY"] == "Progress MS-33 departs ISS"


def test_an_event_is_summarised_by_its_ll2_name() -> None:
    assert only(calendar(events=[event(name="US Spacewalk 93")]))["SUMMARY"] == "US Spacewalk 93"


def test_a_station_without_a_short_name_is_named_in_full() -> None:
    entry = only(calendar([docking(station=TIANGONG, vehicle="Tianzhou-9", port="Tianhe aft")]))

    assert entry["SUMMARY"] == "Tianzhou-9 docks at Tiangong space station, Tianhe aft"


def test_uids_come_from_the_ll2_id_and_the_kind() -> None:
    entries = calendar([docking(at=NOW - DAY, leaves=NOW + DAY)], [event()])

    assert set(entries) == {"docking-630@dockwatch", "departure-630@dockwatch", "event-1096@dockwatch"}


def test_the_same_records_give_the_same_bytes_at_every_request() -> None:
    """DTSTAMP is when the entry changed, not the response time: clients can poll with the ETag."""
    records, events = [docking(at=NOW - DAY, leaves=NOW + DAY)], [event()]

    first = build_calendar(records, events, {}, now=NOW, ll2_base=LL2)
    later = build_calendar(records, events, {}, now=NOW + timedelta(minutes=5), ll2_base=LL2)

    assert first == later


def test_times_are_utc_moments_without_an_invented_end() -> None:
    at = datetime(2026, 1, 3, 14, 36, 39, tzinfo=UTC)
    body = build_calendar([docking(at=at)], [], {}, now=NOW, ll2_base=LL2)
    entry = only({str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")})

    assert b"DTSTART:20260103T143639Z" in body
    assert entry.start == at and entry.start.utcoffset() == timedelta(0)
    assert "DTEND" not in entry and "DURATION" not in entry


def test_the_sequence_is_how_often_ll2_changed_that_time() -> None:
    entries = calendar([docking(at=NOW - DAY, leaves=NOW + DAY, revision=2, departure_revision=0)])

    assert entries["docking-630@dockwatch"]["SEQUENCE"] == 2
    assert entries["departure-630@dockwatch"]["SEQUENCE"] == 0


def test_last_modified_and_dtstamp_are_when_the_record_changed_and_created_when_first_seen() -> None:
    entry = only(calendar([docking(revised_at=NOW - 3 * DAY)]))

    assert entry["LAST-MODIFIED"].dt == NOW - 3 * DAY
    assert entry["DTSTAMP"].dt == NOW - 3 * DAY
    assert entry["CREATED"].dt == NOW - 30 * DAY


def test_last_modified_moves_to_when_the_fact_was_recorded_as_happened() -> None:
    entry = only(
        calendar([docking(at=NOW - DAY, revised_at=NOW - 2 * DAY)], happened={"docked:630": NOW - DAY})
    )

    assert entry["LAST-MODIFIED"].dt == NOW - DAY


def test_an_event_s_webcast_is_its_url_and_in_its_description() -> None:
    entry = only(calendar(events=[event(webcast="https://plus.nasa.gov/progress-93/")]))

    assert entry["URL"] == "https://plus.nasa.gov/progress-93/"
    assert "Webcast: https://plus.nasa.gov/progress-93/" in entry["DESCRIPTION"]
    assert f"LL2: {LL2}/events/1096/" in entry["DESCRIPTION"]


@pytest.mark.parametrize(
    "webcast", ["https://www.youtube.com/watch?v=x\r\nX-Injected: 1", "javascript:alert(1)", " \n"]
)
def test_a_webcast_url_that_is_no_clean_http_link_is_left_out(webcast: str) -> None:
    entry = only(calendar(events=[event(webcast=webcast)]))

    assert entry["URL"] == f"{LL2}/events/1096/"
    assert "Webcast:" not in entry["DESCRIPTION"]


def test_control_characters_from_ll2_never_reach_the_calendar() -> None:
    entry = only(calendar(events=[event(name="Prog\x01ress\x0b MS-33 docking", location="I\x00SS")]))

    assert (entry["SUMMARY"], entry["LOCATION"]) == ("Progress MS-33 docking", "ISS")


def test_a_docking_without_a_webcast_links_its_ll2_record() -> None:
    entry = only(calendar([docking()]))

    assert entry["URL"] == f"{LL2}/docking_events/630/"
    assert "Webcast" not in entry["DESCRIPTION"]
    for line in ("Station: International Space Station", "Port: Poisk zenith", "Vehicle: Progress MS-33"):
        assert line in entry["DESCRIPTION"].splitlines()


def test_a_docking_gets_the_webcast_of_the_ll2_event_that_names_its_vehicle() -> None:
    entries = calendar([docking()], [event(at=NOW + 2 * DAY - timedelta(hours=2))])

    assert entries["docking-630@dockwatch"]["URL"] == "https://www.youtube.com/watch?v=ms33"
    assert "Webcast: https://www.youtube.com/watch?v=ms33" in entries["docking-630@dockwatch"]["DESCRIPTION"]


@pytest.mark.parametrize(
    ("vehicle", "event_at"),
    [
        ("Progress MS-3", NOW + 2 * DAY),  # "Progress MS-33 Docking" is another vehicle's
        ("Progress MS-33", NOW + 2 * DAY + timedelta(hours=7)),  # too far from the docking
    ],
    ids=["a-name-inside-another", "seven-hours-apart"],
)
def test_a_docking_never_borrows_a_webcast_that_is_not_its_own(vehicle: str, event_at: datetime) -> None:
    entries = calendar([docking(vehicle=vehicle)], [event(at=event_at)])

    assert entries["docking-630@dockwatch"]["URL"] == f"{LL2}/docking_events/630/"


def test_names_with_commas_semicolons_and_newlines_read_back_unchanged() -> None:
    vehicle = 'Soyuz MS-28; "Crew", \\ and\nmore'

    entry = only(calendar([docking(vehicle=vehicle)]))

    assert entry["SUMMARY"] == f"{vehicle} docks at ISS, Poisk zenith"


# --- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "happened", "status"),
    [
        (docking(at=NOW + DAY), {}, "TENTATIVE"),
        (docking(at=NOW - DAY), {"docked:630": NOW - DAY}, "CONFIRMED"),
        (docking(at=NOW - timedelta(minutes=1)), {}, "TENTATIVE"),
        (docking(at=NOW + DAY), {"docked:630": NOW - DAY}, "TENTATIVE"),
        (docking(at=NOW - DAY), {"relocated:630": NOW - DAY}, "CONFIRMED"),
        (docking(at=NOW - DAY), {"docked:630/spacecraft_flight:2630": NOW - DAY}, "CONFIRMED"),
        (docking(at=None, given=NOW + DAY, revision=1), {}, "CANCELLED"),
        (docking(at=None, given=NOW - DAY, revision=1), {"docked:630": NOW - 2 * DAY}, "CANCELLED"),
    ],
    ids=[
        "planned",
        "passed-and-recorded",
        "passed-not-recorded-yet",
        "recorded-but-moved-ahead",
        "a-relocation-recorded",
        "a-reused-id-s-docking-recorded",
        "withdrawn",
        "withdrawn-after-it-was-announced",
    ],
)
def test_an_entry_is_tentative_until_it_happens_confirmed_after_and_cancelled_when_withdrawn(
    history: DockingHistory, happened: dict[str, datetime], status: str
) -> None:
    assert only(calendar([history], happened=happened))["STATUS"] == status


def test_a_withdrawn_time_stays_where_it_was_and_says_why() -> None:
    entry = only(calendar([docking(at=None, given=NOW + DAY, revision=1)]))

    assert entry.start == NOW + DAY
    assert "LL2 no longer gives a time for it" in entry["DESCRIPTION"]


def test_a_departure_is_confirmed_by_its_own_fact_not_the_docking_s() -> None:
    entries = calendar([docking(at=NOW - 9 * DAY, leaves=NOW - DAY)], happened={"docked:630": NOW - 9 * DAY})

    assert entries["departure-630@dockwatch"]["STATUS"] == "TENTATIVE"


def test_an_event_is_confirmed_once_its_webcast_was_announced() -> None:
    entries = calendar(events=[event(at=NOW - DAY)], happened={"webcast:1096": NOW - DAY})

    assert entries["event-1096@dockwatch"]["STATUS"] == "CONFIRMED"


def test_a_time_never_given_makes_no_entry() -> None:
    assert calendar([docking(at=None, given=None)]) == {}


# --- window and filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        (NOW - 7 * DAY, True),
        (NOW - 7 * DAY - timedelta(seconds=1), False),
        (NOW + 60 * DAY, True),
        (NOW + 60 * DAY + timedelta(seconds=1), False),
    ],
    ids=["7-days-back", "just-before", "60-days-ahead", "just-after"],
)
def test_the_calendar_spans_7_days_back_and_60_ahead(at: datetime, shown: bool) -> None:
    assert bool(calendar([docking(at=at)], [event(at=at)])) is shown


@pytest.mark.parametrize(
    ("kinds", "uids"),
    [
        (None, {"docking-1", "departure-2", "event-1096"}),
        ({ChangeKind.DOCKED}, {"docking-1"}),
        ({ChangeKind.RELOCATED}, {"docking-1"}),
        ({ChangeKind.DEPARTED}, {"departure-2"}),
        ({ChangeKind.WEBCAST_STARTED}, {"event-1096"}),
        ({ChangeKind.DOCKED, ChangeKind.DEPARTED}, {"docking-1", "departure-2"}),
    ],
    ids=["all", "docked", "relocated", "departed", "webcast", "docked-and-departed"],
)
def test_the_kinds_filter_picks_dockings_departures_or_events(
    kinds: set[ChangeKind] | None, uids: set[str]
) -> None:
    wanted = SubscriptionFilter(frozenset(kinds) if kinds else None)
    records = [docking(1, at=NOW + DAY), docking(2, at=NOW - 60 * DAY, leaves=NOW + DAY)]

    entries = calendar(records, [event()], wanted=wanted)

    assert {uid.removesuffix("@dockwatch") for uid in entries} == uids


def test_the_station_filter_keeps_the_places_named_like_a_subscription() -> None:
    records = [docking(1), docking(2, station=TIANGONG, vehicle="Tianzhou-9")]
    events = [event(), event(2000, name="Shenzhou-22 Docking", location="Tiangong space station")]

    at_iss = calendar(records, events, wanted=SubscriptionFilter(stations=frozenset({"iss"})))
    at_tiangong = calendar(records, events, wanted=SubscriptionFilter(stations=frozenset({"tiangong"})))

    assert set(at_iss) == {"docking-1@dockwatch", "event-1096@dockwatch"}
    assert set(at_tiangong) == {"docking-2@dockwatch", "event-2000@dockwatch"}


# --- what the store keeps across polls ----------------------------------------------------------


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    async with Store.open(any_db_url) as opened:
        yield opened


async def poll(
    store: Store, at: datetime, dockings: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()
) -> None:
    snapshot = Snapshot(
        tuple(parse_dockings(dockings, "test", legacy=False)), tuple(parse_events(list(events), "test"))
    )
    await store.record_cycle(snapshot, [], started_at=at, now=at)


async def stored_calendar(store: Store, now: datetime) -> dict[str, VEvent]:
    window = (now - 7 * DAY, now + 60 * DAY)
    dockings = await store.calendar_dockings(*window)
    events = await store.calendar_events(*window)
    return calendar(dockings, events, {}, now=now)


async def test_the_sequence_rises_each_time_ll2_moves_a_planned_time(store: Store) -> None:
    await poll(store, NOW, [ll2_docking(630, docking=NOW + 2 * DAY)])
    first = await stored_calendar(store, NOW)
    await poll(
        store, NOW + timedelta(hours=1), [ll2_docking(630, docking=NOW + 2 * DAY + timedelta(minutes=30))]
    )
    await poll(
        store, NOW + timedelta(hours=2), [ll2_docking(630, docking=NOW + 2 * DAY + timedelta(minutes=30))]
    )
    moved = await stored_calendar(store, NOW + timedelta(hours=2))

    assert first["docking-630@dockwatch"]["SEQUENCE"] == 0
    assert moved["docking-630@dockwatch"]["SEQUENCE"] == 1
    assert moved["docking-630@dockwatch"].start == NOW + 2 * DAY + timedelta(minutes=30)


async def test_a_time_given_for_the_first_time_is_no_change(store: Store) -> None:
    await poll(store, NOW, [ll2_docking(630, docking=NOW - DAY)])
    await poll(
        store, NOW + timedelta(hours=1), [ll2_docking(630, docking=NOW - DAY, departure=NOW + 5 * DAY)]
    )

    entries = await stored_calendar(store, NOW + timedelta(hours=1))

    assert entries["departure-630@dockwatch"]["SEQUENCE"] == 0


async def test_a_withdrawn_time_is_cancelled_where_it_was_and_counts_again_when_given_back(
    store: Store,
) -> None:
    planned = NOW + 2 * DAY
    await poll(store, NOW, [ll2_docking(630, docking=planned)])
    await poll(store, NOW + timedelta(hours=1), [ll2_docking(630, docking=None)])
    withdrawn = (await stored_calendar(store, NOW + timedelta(hours=1)))["docking-630@dockwatch"]
    await poll(store, NOW + timedelta(hours=2), [ll2_docking(630, docking=planned + DAY)])
    given_back = (await stored_calendar(store, NOW + timedelta(hours=2)))["docking-630@dockwatch"]

    assert (withdrawn["STATUS"], withdrawn.start, withdrawn["SEQUENCE"]) == ("CANCELLED", planned, 1)
    assert (given_back["STATUS"], given_back.start, given_back["SEQUENCE"]) == ("TENTATIVE", planned + DAY, 2)


async def test_an_event_s_sequence_rises_when_its_date_moves(store: Store) -> None:
    await poll(store, NOW, [], [ll2_event(1096, date=NOW + DAY)])
    await poll(store, NOW + timedelta(hours=1), [], [ll2_event(1096, date=NOW + DAY + timedelta(hours=3))])

    entry = (await stored_calendar(store, NOW + timedelta(hours=1)))["event-1096@dockwatch"]

    assert (entry["SEQUENCE"], entry.start) == (1, NOW + DAY + timedelta(hours=3))


async def test_last_modified_is_when_ll2_last_changed_the_record_not_the_last_poll(store: Store) -> None:
    await poll(store, NOW, [ll2_docking(630, docking=NOW + 2 * DAY)])
    await poll(store, NOW + timedelta(hours=1), [ll2_docking(630, docking=NOW + 3 * DAY)])
    await poll(store, NOW + timedelta(hours=2), [ll2_docking(630, docking=NOW + 3 * DAY)])

    entry = (await stored_calendar(store, NOW + timedelta(hours=2)))["docking-630@dockwatch"]

    assert entry["LAST-MODIFIED"].dt == NOW + timedelta(hours=1)
    assert entry["CREATED"].dt == NOW


def notice(key: str, *, announce: bool = True, correction: Revision | None = None) -> Change:
    """A recorded docking notification about record 630; a correction corrects ``docked:630``."""
    corrects = Correction(reason=correction, corrects="docked:630") if correction else None
    message = Message(
        kind=ChangeKind.DOCKED, key=key, occurred_at=NOW, docking_event_id=630, correction=corrects
    )
    return Change(key, ChangeKind.DOCKED, announce, message)


async def record(store: Store, at: datetime, *changes: Change) -> None:
    await store.record_cycle(Snapshot((), ()), list(changes), started_at=at, now=at)


async def test_a_fact_has_happened_until_a_correction_takes_it_back_and_again_once_re_announced(
    store: Store,
) -> None:
    await record(store, NOW, notice("docked:630"))
    announced = await store.happened_facts({"docked:630", "departed:630"})
    await record(store, NOW + HOUR, notice("correction:1:docked:630", correction=Revision.RESCHEDULED))
    taken_back = await store.happened_facts({"docked:630"})
    await record(store, NOW + 2 * HOUR, notice("docked:630#2"))
    again = await store.happened_facts({"docked:630"})

    assert announced == {"docked:630": NOW}
    assert taken_back == {}
    assert again == {"docked:630": NOW + 2 * HOUR}


async def test_a_refined_time_still_happened(store: Store) -> None:
    await record(store, NOW, notice("docked:630"))
    await record(store, NOW + HOUR, notice("correction:1:docked:630", correction=Revision.REFINED))

    assert await store.happened_facts({"docked:630"}) == {"docked:630": NOW + HOUR}


async def test_a_fact_recorded_silently_happened_too(store: Store) -> None:
    """The baseline records what happened before dockwatch watched: it happened all the same."""
    await record(store, NOW, notice("docked:630", announce=False))

    assert await store.happened_facts({"docked:630"}) == {"docked:630": NOW}


# --- over HTTP, on the test clock ---------------------------------------------------------------


async def fetch(
    app: Runtime, config: Config, path: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    async with (
        serving(create_web_app(Service(app, config, Metrics("test")), app, config)) as server,
        aiohttp.ClientSession() as http,
        http.get(server.make_url(path), headers=headers) as response,
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


async def cycle(app: Runtime) -> None:
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


def entries_of(body: bytes) -> dict[str, VEvent]:
    return {str(entry["UID"]): entry for entry in Calendar.from_ical(body).walk("VEVENT")}


async def test_a_docking_turns_from_tentative_to_confirmed_once_dockwatch_announced_it(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [
        ll2_docking(630, docking=clock.now + timedelta(hours=1), vehicle=(77, "Progress MS-33"))
    ]
    await cycle(app)
    _, _, planned = await fetch(app, config, "/calendar.ics")
    clock.advance(timedelta(hours=2))
    await cycle(app)
    _, _, happened = await fetch(app, config, "/calendar.ics")

    assert entries_of(planned)["docking-630@dockwatch"]["STATUS"] == "TENTATIVE"
    assert entries_of(happened)["docking-630@dockwatch"]["STATUS"] == "CONFIRMED"


async def test_the_calendar_is_utf8_text_calendar_and_answers_304_to_its_etag(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now + DAY)]
    await cycle(app)

    status, headers, body = await fetch(app, config, "/calendar.ics")
    again, _, unchanged = await fetch(app, config, "/calendar.ics", {"If-None-Match": headers["ETag"]})

    assert status == 200 and headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "docking-630@dockwatch" in entries_of(body)
    assert (again, unchanged) == (304, b"")


async def test_the_url_filters_are_those_of_a_subscription(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    tiangong = {"id": 18, "name": "Tiangong space station", "image": None}
    fake_ll2.dockings = [
        ll2_docking(1, docking=clock.now + DAY, departure=clock.now + 9 * DAY),
        ll2_docking(2, docking=clock.now + DAY, station=tiangong, vehicle=(5, "Tianzhou-9")),
    ]
    fake_ll2.events = [ll2_event(1096, date=clock.now + DAY)]
    await cycle(app)

    _, _, body = await fetch(app, config, "/calendar.ics?kinds=docked&kinds=departed&station=iss")

    assert set(entries_of(body)) == {"docking-1@dockwatch", "departure-1@dockwatch"}
    assert Calendar.from_ical(body)["X-WR-CALNAME"] == "dockwatch: docked and departed at iss"


@pytest.mark.parametrize("path", ["/calendar.ics", "/feed.atom"])
@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("kinds=dockd", "'dockd' is not a kind (did you mean 'docked'?)"),
        ("kinds=iss", "'iss' is not a kind"),
        ("station=i%24s", "'i$s' is not a station name"),
        ("station=s1,s2,s3,s4,s5,s6", "at most 5 stations"),
        ("kind=docked", "unknown parameter 'kind' (did you mean 'kinds'?)"),
        ("stations=iss", "unknown parameter 'stations' (did you mean 'station'?)"),
    ],
    ids=["misspelt-kind", "a-station-as-kind", "bad-station", "too-many-stations", "kind", "stations"],
)
async def test_a_bad_filter_is_a_400_that_names_it_in_one_line(
    app: Runtime, config: Config, path: str, query: str, named: str
) -> None:
    status, headers, body = await fetch(app, config, f"{path}?{query}")

    assert status == 400
    assert headers["Content-Type"].startswith("text/plain")
    assert named in body.decode() and body.decode().count("\n") == 1
