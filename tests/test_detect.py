"""Specification of change detection: ``dockwatch.bot.detect.detect(previous, snapshot, now)``.

Every timeline here is invented and relative to ``NOW``; nothing reads a clock or touches I/O. Each test
states one rule of the "Change detection" section of issue 2 (webcast flags and reused ids: issue 10)
and fails if ``detect`` breaks it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.detect import detect
from dockwatch.bot.model import (
    Change,
    ChangeKind,
    DockingRecord,
    Event,
    KnownState,
    Party,
    Port,
    Ref,
    Snapshot,
    Station,
    Webcast,
    docked_key,
    docking_key,
    relocated_key,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)

DOCKED = ChangeKind.DOCKED
DEPARTED = ChangeKind.DEPARTED
RELOCATED = ChangeKind.RELOCATED
WEBCAST = ChangeKind.WEBCAST_STARTED

ISS = Station(id=4, name="International Space Station", image_url="https://img.test/iss.jpg")
ISS_TARGET = Party(kind="space_station", id=4, name="International Space Station")
HARMONY_FORWARD = Port(id=20, name="Harmony forward")
HARMONY_ZENITH = Port(id=21, name="Harmony zenith")
UNITY_NADIR = Port(id=1, name="Unity nadir")

DRAGON = Party(
    kind="spacecraft_flight", id=877, name="Crew Dragon C212", image_url="https://img.test/c212.jpg"
)
SOYUZ = Party(kind="spacecraft_flight", id=901, name="Soyuz MS-28")
# Same LL2 id as DRAGON but another kind of object: a different vehicle.
PAYLOAD_877 = Party(kind="payload_flight", id=877, name="Tug 877")
SERVICER = Party(kind="payload_flight", id=55, name="Orbital Servicer 2")
COMSAT = Party(kind="payload_flight", id=56, name="Comsat 1")


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def later(**delta: float) -> datetime:
    return NOW + timedelta(**delta)


def docking(
    record_id: int,
    *,
    port: Port = HARMONY_FORWARD,
    chaser: Party | None = DRAGON,
    docking: datetime | None = ago(hours=1),  # noqa: B008 - NOW is fixed, so this default is too
    departure: datetime | None = None,
    station: Station | None = ISS,
    target: Party | None = ISS_TARGET,
) -> DockingRecord:
    """One LL2 docking record, by default Crew Dragon at Harmony forward an hour ago, still there."""
    return DockingRecord(
        id=record_id,
        docking=docking,
        departure=departure,
        port=port,
        station=station,
        chaser=chaser,
        target=target,
    )


def event(
    event_id: int,
    *,
    live: bool = False,
    vid_live: Sequence[bool] = (),
    streams: Sequence[Webcast] = (),
    date: datetime | None = ago(minutes=10),  # noqa: B008 - NOW is fixed, so this default is too
) -> Event:
    """An LL2 event, by default ten minutes ago; ``vid_live`` gives one stream per flag, with priority
    numbers 0, 1, 2... in that order; ``streams`` adds streams as given."""
    webcasts = tuple(
        Webcast(url=f"https://video.test/{event_id}/{n}", live=flag, priority=n)
        for n, flag in enumerate(vid_live)
    )
    return Event(
        id=event_id,
        name=f"Event {event_id}",
        date=date,
        webcast_live=live,
        webcasts=webcasts + tuple(streams),
    )


def stream(
    name: str,
    *,
    priority: int = 10,
    live: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Webcast:
    """One ``vid_urls`` entry at ``https://video.test/<name>``."""
    return Webcast(
        url=f"https://video.test/{name}", live=live, priority=priority, start_time=start, end_time=end
    )


def snapshot(*items: DockingRecord | Event) -> Snapshot:
    return Snapshot(
        dockings=tuple(i for i in items if isinstance(i, DockingRecord)),
        events=tuple(i for i in items if isinstance(i, Event)),
    )


def known(*records: DockingRecord, keys: Iterable[str] = ()) -> KnownState:
    """What the store remembers after the baseline: these records and these recorded keys.

    Like the store, it remembers each record recorded as docked (``docked:<id>`` or
    ``relocated:<id>``) with the vehicle it has here.
    """
    keys = frozenset(keys)
    return KnownState(
        dockings={r.id: r for r in records},
        recorded_keys=keys,
        baseline_done=True,
        docked_vehicles={
            r.id: r.chaser.identity
            for r in records
            if r.chaser is not None and {docked_key(r.id), relocated_key(r.id)} & keys
        },
    )


def remember(previous: KnownState, seen: Snapshot, changes: Iterable[Change]) -> KnownState:
    """The state the store holds after a cycle recorded ``seen`` and ``changes``.

    Like the store: the latest version of each record, and for a docking recorded under its plain
    key (``docked:<id>``, ``relocated:<id>``) the vehicle in its message.
    """
    changes = list(changes)
    return KnownState(
        dockings={**previous.dockings, **{r.id: r for r in seen.dockings}},
        recorded_keys=previous.recorded_keys | {c.key for c in changes},
        baseline_done=True,
        docked_vehicles={
            **previous.docked_vehicles,
            **{
                c.message.docking_event_id: (c.message.vehicle.kind, c.message.vehicle.id)
                for c in changes
                if c.message.docking_event_id is not None
                and c.message.vehicle is not None
                and c.key
                in {docked_key(c.message.docking_event_id), relocated_key(c.message.docking_event_id)}
            },
        },
    )


def summary(changes: Iterable[Change]) -> list[tuple[str, ChangeKind, bool]]:
    return [(c.key, c.kind, c.announce) for c in changes]


# --- Baseline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (snapshot(docking(101, docking=ago(days=30))), [("docked:101", DOCKED, False)]),
        (snapshot(docking(101, docking=ago(minutes=1))), [("docked:101", DOCKED, False)]),
        (
            snapshot(docking(101, docking=ago(days=30), departure=ago(minutes=5))),
            [("docked:101", DOCKED, False), ("departed:101", DEPARTED, False)],
        ),
        (snapshot(event(7, live=True)), [("webcast:7", WEBCAST, False)]),
        (snapshot(event(7, vid_live=[False, True])), [("webcast:7", WEBCAST, False)]),
        (
            snapshot(
                docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3)),
                docking(102, port=HARMONY_ZENITH, docking=ago(hours=2)),
            ),
            [
                ("docked:101", DOCKED, False),
                ("departed:101", DEPARTED, False),
                ("relocated:102", RELOCATED, False),
            ],
        ),
    ],
    ids=[
        "old docking",
        "docking that just happened",
        "departure that just happened",
        "webcast already live",
        "stream already flagged live",
        "relocation that just happened",
    ],
)
def test_baseline_records_every_fact_silently(seen: Snapshot, expected: list[tuple[str, ChangeKind, bool]]):
    assert summary(detect(KnownState(), seen, NOW)) == expected


def test_webcast_live_at_baseline_is_not_announced_in_the_next_cycle():
    seen = snapshot(event(7, live=True))
    after_baseline = remember(KnownState(), seen, detect(KnownState(), seen, NOW))

    assert detect(after_baseline, seen, NOW + timedelta(minutes=15)) == []


def test_planned_docking_seen_at_baseline_is_announced_once_its_time_passes():
    planned = snapshot(docking(101, docking=later(hours=2)))
    after_baseline = remember(KnownState(), planned, detect(KnownState(), planned, NOW))

    assert summary(detect(after_baseline, planned, later(hours=3))) == [("docked:101", DOCKED, True)]


# --- Docked ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("docked_at", "expected"),
    [
        (ago(hours=1), [("docked:101", DOCKED, True)]),
        (NOW, [("docked:101", DOCKED, True)]),
        (later(seconds=1), []),
        (later(days=3), []),
    ],
    ids=["an hour ago", "exactly now", "one second from now", "planned in three days"],
)
def test_docking_is_announced_only_once_its_time_has_passed(
    docked_at: datetime, expected: list[tuple[str, ChangeKind, bool]]
):
    assert summary(detect(known(), snapshot(docking(101, docking=docked_at)), NOW)) == expected


def test_planned_docking_is_announced_when_its_time_passes_and_the_record_still_says_so():
    record = docking(101, docking=NOW)
    first = snapshot(record)
    before = remember(known(), first, detect(known(), first, ago(hours=2)))

    assert summary(detect(before, first, NOW)) == [("docked:101", DOCKED, True)]


def test_planned_docking_postponed_by_ll2_is_not_announced_at_its_old_time():
    first = snapshot(docking(101, docking=NOW))
    before = remember(known(), first, detect(known(), first, ago(hours=2)))

    assert detect(before, snapshot(docking(101, docking=later(hours=3))), NOW) == []


def test_planned_docking_that_vanishes_from_the_page_is_never_announced():
    first = snapshot(docking(101, docking=NOW))
    before = remember(known(), first, detect(known(), first, ago(hours=2)))

    assert detect(before, snapshot(), NOW) == []


def test_docking_without_a_chaser_is_announced_as_an_unknown_vehicle():
    changes = detect(known(), snapshot(docking(101, chaser=None)), NOW)

    assert [(c.key, c.announce, c.message.vehicle, c.message.vehicle_name) for c in changes] == [
        ("docked:101", True, None, "Unknown vehicle")
    ]


def test_payload_to_payload_docking_is_announced_at_the_target_vehicle():
    record = docking(
        301, port=Port(id=900, name="Comsat 1 aft"), station=None, chaser=SERVICER, target=COMSAT
    )

    changes = detect(known(), snapshot(record), NOW)

    assert [(c.key, c.kind, c.announce, c.message.station, c.message.location) for c in changes] == [
        ("docked:301", DOCKED, True, None, "Comsat 1")
    ]


# --- Already recorded ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "seen"),
    [
        (
            known(docking(101), keys={"docked:101"}),
            snapshot(docking(101)),
        ),
        (
            known(
                docking(101, docking=ago(days=9), departure=ago(hours=2)), keys={"docked:101", "departed:101"}
            ),
            snapshot(docking(101, docking=ago(days=9), departure=ago(hours=2))),
        ),
        (
            # The origin has fallen off the page and out of the store: without its key, 102 would look new.
            known(docking(102, port=HARMONY_ZENITH), keys={"relocated:102"}),
            snapshot(docking(102, port=HARMONY_ZENITH)),
        ),
        (
            known(keys={"webcast:7"}),
            snapshot(event(7, live=True, vid_live=[True])),
        ),
        (
            # 630 was Crew Dragon's; Soyuz's docking and departure under the reused id are recorded.
            KnownState(
                dockings={630: docking(630, chaser=SOYUZ, docking=ago(days=2), departure=ago(hours=2))},
                recorded_keys=frozenset(
                    {"docked:630", "docked:630/spacecraft_flight:901", "departed:630/spacecraft_flight:901"}
                ),
                baseline_done=True,
                docked_vehicles={630: DRAGON.identity},
            ),
            snapshot(docking(630, chaser=SOYUZ, docking=ago(days=2), departure=ago(hours=2))),
        ),
    ],
    ids=[
        "docked:<id>",
        "departed:<id>",
        "relocated:<id>",
        "webcast:<id>",
        "<kind>:<id>/<chaser> of a reused id",
    ],
)
def test_already_recorded_key_is_never_produced_again(previous: KnownState, seen: Snapshot):
    assert detect(previous, seen, NOW) == []


# --- Departed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("departed_at", "expected"),
    [
        (ago(hours=1), [("departed:101", DEPARTED, True)]),
        (NOW, [("departed:101", DEPARTED, True)]),
        (later(seconds=1), []),
        (later(days=70), []),
    ],
    ids=["an hour ago", "exactly now", "one second from now", "planned in seventy days"],
)
def test_departure_is_announced_only_once_its_time_has_passed(
    departed_at: datetime, expected: list[tuple[str, ChangeKind, bool]]
):
    docked = docking(101, docking=ago(days=90))
    previous = known(docked, keys={"docked:101"})

    assert summary(
        detect(previous, snapshot(docking(101, docking=ago(days=90), departure=departed_at)), NOW)
    ) == (expected)


def test_planned_departure_is_not_announced_before_its_time():
    # LL2 seed record 630: docked at Unity nadir in September, departure planned for March.
    record_630 = docking(
        630,
        port=UNITY_NADIR,
        docking=datetime(2025, 9, 18, 11, 24, tzinfo=UTC),
        departure=datetime(2026, 3, 12, 11, 6, tzinfo=UTC),
    )

    assert detect(known(record_630, keys={"docked:630"}), snapshot(record_630), NOW) == []


def test_departure_time_edited_after_it_was_announced_is_not_a_new_departure():
    announced = docking(101, docking=ago(days=9), departure=ago(hours=3))
    edited = docking(101, docking=ago(days=9), departure=ago(hours=2))

    assert detect(known(announced, keys={"docked:101", "departed:101"}), snapshot(edited), NOW) == []


@pytest.mark.parametrize(
    "seen",
    [
        snapshot(
            docking(102, port=HARMONY_ZENITH, chaser=SOYUZ),
            docking(103, port=UNITY_NADIR, chaser=PAYLOAD_877),
        ),
        snapshot(),
        snapshot(docking(101, docking=ago(days=9))),
    ],
    ids=["record vanished from the page", "empty page", "smaller page"],
)
def test_departure_comes_only_from_the_departure_field(seen: Snapshot):
    previous = known(
        docking(101, docking=ago(days=9)),
        docking(102, port=HARMONY_ZENITH, chaser=SOYUZ),
        docking(103, port=UNITY_NADIR, chaser=PAYLOAD_877),
        keys={"docked:101", "docked:102", "docked:103"},
    )

    assert detect(previous, seen, NOW) == []


def test_departure_message_carries_how_long_the_vehicle_stayed():
    stayed = timedelta(days=3, hours=4, minutes=5, seconds=6)
    record = docking(101, docking=ago(hours=1) - stayed, departure=ago(hours=1))

    changes = detect(known(docking(101, docking=record.docking), keys={"docked:101"}), snapshot(record), NOW)

    assert [(c.key, c.message.occurred_at, c.message.docked_seconds) for c in changes] == [
        ("departed:101", ago(hours=1), int(stayed.total_seconds()))
    ]


# --- Relocated ----------------------------------------------------------------------------------------


def test_move_to_another_port_seen_in_one_cycle_is_one_relocation():
    before = docking(101, port=HARMONY_FORWARD, docking=ago(days=30))
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3))
    arrived = docking(102, port=HARMONY_ZENITH, docking=ago(hours=1))

    changes = detect(known(before, keys={"docked:101"}), snapshot(arrived, left), NOW)

    assert summary(changes) == [("departed:101", DEPARTED, False), ("relocated:102", RELOCATED, True)]


def test_relocation_message_names_the_port_the_vehicle_came_from():
    before = docking(101, port=HARMONY_FORWARD, docking=ago(days=30))
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3))
    arrived = docking(102, port=HARMONY_ZENITH, docking=ago(hours=1))

    changes = detect(known(before, keys={"docked:101"}), snapshot(arrived, left), NOW)

    assert [(c.key, c.message.previous_port, c.message.port) for c in changes if c.announce] == [
        ("relocated:102", Ref(id=20, name="Harmony forward"), Ref(id=21, name="Harmony zenith"))
    ]


@pytest.mark.parametrize(
    "seen",
    [
        snapshot(
            docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3)),
            docking(102, port=HARMONY_ZENITH, docking=ago(hours=1)),
        ),
        snapshot(docking(102, port=HARMONY_ZENITH, docking=ago(hours=1))),
    ],
    ids=["origin still on the page", "origin fallen off the page"],
)
def test_docking_after_an_announced_departure_from_another_port_is_a_relocation(seen: Snapshot):
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3))

    changes = detect(known(left, keys={"docked:101", "departed:101"}), seen, NOW)

    assert [(c.key, c.kind, c.announce, c.message.previous_port) for c in changes] == [
        ("relocated:102", RELOCATED, True, Ref(id=20, name="Harmony forward"))
    ]


def test_planned_docking_at_another_port_becomes_a_relocation_when_it_happens():
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3))
    planned = docking(102, port=HARMONY_ZENITH, docking=later(hours=1))
    first = snapshot(left, planned)
    before = known(docking(101, docking=ago(days=30)), keys={"docked:101"})
    after_departure = remember(before, first, detect(before, first, NOW))

    changes = detect(after_departure, first, later(hours=2))

    assert [(c.key, c.kind, c.announce, c.message.previous_port) for c in changes] == [
        ("relocated:102", RELOCATED, True, Ref(id=20, name="Harmony forward"))
    ]


@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (timedelta(hours=6), [("relocated:102", RELOCATED, True)]),
        (timedelta(hours=6, seconds=1), [("docked:102", DOCKED, True)]),
        (timedelta(days=7), [("docked:102", DOCKED, True)]),
    ],
    ids=["six hours after leaving", "six hours and a second after", "a week after"],
)
def test_docking_more_than_six_hours_after_the_departure_is_a_plain_docking(
    gap: timedelta, expected: list[tuple[str, ChangeKind, bool]]
):
    arrived_at = ago(minutes=30)
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=60), departure=arrived_at - gap)
    arrived = docking(102, port=HARMONY_ZENITH, docking=arrived_at)

    changes = detect(known(left, keys={"docked:101", "departed:101"}), snapshot(left, arrived), NOW)

    assert summary(changes) == expected


def test_docking_that_began_before_the_departure_is_not_a_relocation():
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=60), departure=ago(hours=1))
    arrived = docking(102, port=HARMONY_ZENITH, docking=ago(hours=2))

    changes = detect(known(left, keys={"docked:101", "departed:101"}), snapshot(left, arrived), NOW)

    assert summary(changes) == [("docked:102", DOCKED, True)]


def test_departure_nobody_heard_about_does_not_make_a_relocation():
    # 101 was stored with a planned departure, then fell off the page before that time came: its
    # departure is never announced (vanished records are not departures), so 102 cannot be "moved from".
    planned_to_leave = docking(101, port=HARMONY_FORWARD, docking=ago(days=60), departure=ago(hours=3))
    arrived = docking(102, port=HARMONY_ZENITH, docking=ago(hours=1))

    changes = detect(known(planned_to_leave, keys={"docked:101"}), snapshot(arrived), NOW)

    assert summary(changes) == [("docked:102", DOCKED, True)]


def test_redocking_at_the_same_port_is_not_a_relocation():
    left = docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3))
    back = docking(102, port=HARMONY_FORWARD, docking=ago(hours=1))

    changes = detect(
        known(docking(101, docking=ago(days=30)), keys={"docked:101"}), snapshot(left, back), NOW
    )

    assert summary(changes) == [("departed:101", DEPARTED, True), ("docked:102", DOCKED, True)]


@pytest.mark.parametrize(
    "newcomer",
    [SOYUZ, PAYLOAD_877],
    ids=["another flight", "same id but a payload flight"],
)
def test_another_vehicle_docking_at_another_port_is_not_a_relocation(newcomer: Party):
    left = docking(101, port=HARMONY_FORWARD, chaser=DRAGON, docking=ago(days=30), departure=ago(hours=3))
    arrived = docking(102, port=HARMONY_ZENITH, chaser=newcomer, docking=ago(hours=1))

    changes = detect(
        known(docking(101, docking=ago(days=30)), keys={"docked:101"}), snapshot(left, arrived), NOW
    )

    assert summary(changes) == [("departed:101", DEPARTED, True), ("docked:102", DOCKED, True)]


def test_vehicle_without_a_chaser_never_relocates():
    left = docking(101, port=HARMONY_FORWARD, chaser=None, docking=ago(days=30), departure=ago(hours=3))
    arrived = docking(102, port=HARMONY_ZENITH, chaser=None, docking=ago(hours=1))
    before = docking(101, port=HARMONY_FORWARD, chaser=None, docking=ago(days=30))

    changes = detect(known(before, keys={"docked:101"}), snapshot(left, arrived), NOW)

    assert summary(changes) == [("departed:101", DEPARTED, True), ("docked:102", DOCKED, True)]


# --- Reused ids -------------------------------------------------------------------------------------

STATION_CHASER = Party(kind="space_station", id=18, name="Tiangong")
# Docking 630 was recorded as Crew Dragon's: LL2 later put another chaser on the same id.
DRAGON_AT_630 = docking(630, chaser=DRAGON, docking=ago(days=30))


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (
            docking(630, chaser=SOYUZ, docking=ago(hours=1)),
            [("docked:630/spacecraft_flight:901", DOCKED, True)],
        ),
        (
            docking(630, chaser=PAYLOAD_877, docking=ago(hours=1)),
            [("docked:630/payload_flight:877", DOCKED, True)],
        ),
        (
            docking(630, chaser=STATION_CHASER, docking=ago(hours=1)),
            [("docked:630/space_station:18", DOCKED, True)],
        ),
        (docking(630, chaser=SOYUZ, docking=later(hours=2)), []),
        (
            docking(630, chaser=SOYUZ, docking=ago(days=3)),
            [("docked:630/spacecraft_flight:901", DOCKED, False)],
        ),
        (
            docking(630, chaser=SOYUZ, docking=ago(hours=5), departure=ago(hours=1)),
            [
                ("docked:630/spacecraft_flight:901", DOCKED, True),
                ("departed:630/spacecraft_flight:901", DEPARTED, True),
            ],
        ),
    ],
    ids=[
        "another flight, docked an hour ago",
        "a payload flight with the same number",
        "a station as the chaser",
        "another flight, docking planned",
        "another flight, docked three days ago (stale)",
        "another flight, docked and already gone",
    ],
)
def test_docking_id_reused_for_another_chaser_is_judged_as_a_new_docking(
    seen: DockingRecord, expected: list[tuple[str, ChangeKind, bool]]
):
    assert summary(detect(known(DRAGON_AT_630, keys={"docked:630"}), snapshot(seen), NOW)) == expected


def test_docking_id_reused_for_another_chaser_is_never_a_departure_of_the_first_vehicle():
    # 0.1.0 announced departed:630 here: a departure of Crew Dragon, which never left port 630.
    reused = docking(630, chaser=SOYUZ, docking=ago(hours=5), departure=ago(hours=1))

    changes = detect(known(DRAGON_AT_630, keys={"docked:630"}), snapshot(reused), NOW)

    assert [(c.key, c.message.vehicle_name) for c in changes if c.kind is DEPARTED] == [
        ("departed:630/spacecraft_flight:901", "Soyuz MS-28")
    ]


def test_departure_after_a_reused_docking_has_the_reused_docking_s_key():
    previous = known(
        docking(630, chaser=DRAGON, docking=ago(days=30), departure=ago(days=20)),
        keys={"docked:630", "departed:630"},
    )
    docked = snapshot(docking(630, chaser=SOYUZ, docking=ago(hours=30)))
    after_docking = remember(previous, docked, detect(previous, docked, ago(hours=29)))

    left = snapshot(docking(630, chaser=SOYUZ, docking=ago(hours=30), departure=ago(minutes=5)))

    assert summary(detect(after_docking, left, NOW)) == [
        ("departed:630/spacecraft_flight:901", DEPARTED, True)
    ]


def test_reused_id_first_seen_as_a_planned_docking_is_announced_when_its_time_passes():
    # The store keeps only LL2's latest chaser: after this first cycle it holds Soyuz for 630.
    previous = known(DRAGON_AT_630, keys={"docked:630"})
    planned = snapshot(docking(630, chaser=SOYUZ, docking=NOW))
    before = remember(previous, planned, detect(previous, planned, ago(hours=2)))

    assert summary(detect(before, planned, NOW)) == [("docked:630/spacecraft_flight:901", DOCKED, True)]


@pytest.mark.parametrize(
    ("recorded_chaser", "seen_chaser"),
    [
        (DRAGON, DRAGON),
        (DRAGON, Party(kind="spacecraft_flight", id=877, name="Crew Dragon C212 Endurance")),
        (None, DRAGON),
        (DRAGON, None),
    ],
    ids=["same vehicle", "same vehicle renamed", "unknown vehicle filled in", "vehicle dropped"],
)
def test_chaser_edit_that_is_no_other_vehicle_keeps_the_docking_s_keys(
    recorded_chaser: Party | None, seen_chaser: Party | None
):
    previous = known(docking(630, chaser=recorded_chaser, docking=ago(days=30)), keys={"docked:630"})
    left = docking(630, chaser=seen_chaser, docking=ago(days=30), departure=ago(hours=1))

    assert summary(detect(previous, snapshot(left), NOW)) == [("departed:630", DEPARTED, True)]


def test_reused_docking_can_be_a_relocation_under_its_own_key():
    soyuz_left = docking(640, port=HARMONY_ZENITH, chaser=SOYUZ, docking=ago(days=60), departure=ago(hours=2))
    previous = known(DRAGON_AT_630, soyuz_left, keys={"docked:630", "docked:640", "departed:640"})

    changes = detect(previous, snapshot(docking(630, chaser=SOYUZ, docking=ago(hours=1))), NOW)

    assert [(c.key, c.kind, c.announce, c.message.previous_port) for c in changes] == [
        ("relocated:630/spacecraft_flight:901", RELOCATED, True, Ref(id=21, name="Harmony zenith"))
    ]


def test_departure_of_a_reused_docking_counts_as_the_origin_of_a_relocation():
    soyuz_left = docking(630, chaser=SOYUZ, docking=ago(days=2), departure=ago(hours=2))
    previous = KnownState(
        dockings={630: soyuz_left},
        recorded_keys=frozenset(
            {"docked:630", "docked:630/spacecraft_flight:901", "departed:630/spacecraft_flight:901"}
        ),
        baseline_done=True,
        docked_vehicles={630: DRAGON.identity},
    )
    arrived = docking(641, port=HARMONY_ZENITH, chaser=SOYUZ, docking=ago(hours=1))

    assert summary(detect(previous, snapshot(soyuz_left, arrived), NOW)) == [
        ("relocated:641", RELOCATED, True)
    ]


def test_reused_id_keys_name_the_new_chaser_and_leave_plain_keys_alone():
    assert [
        docking_key(DOCKED, 630),
        docking_key(DEPARTED, 630, ("payload_flight", 55)),
        docking_key(RELOCATED, 630, ("spacecraft_flight", 901)),
    ] == ["docked:630", "departed:630/payload_flight:55", "relocated:630/spacecraft_flight:901"]


# --- Stale window -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("docked_at", "announce"),
    [
        (ago(hours=48, seconds=1), False),
        (ago(days=400), False),
        (ago(hours=48), True),
        (ago(hours=47, minutes=59), True),
    ],
    ids=["a second past 48 h", "a year ago", "exactly 48 h", "just inside 48 h"],
)
def test_docking_older_than_the_stale_window_is_recorded_silently(docked_at: datetime, announce: bool):
    changes = detect(known(), snapshot(docking(101, docking=docked_at)), NOW)

    assert summary(changes) == [("docked:101", DOCKED, announce)]


@pytest.mark.parametrize(
    ("docked_at", "announce"),
    [(ago(hours=2), False), (ago(minutes=59), True)],
    ids=["two hours ago", "fifty-nine minutes ago"],
)
def test_stale_after_is_honoured_when_passed_explicitly(docked_at: datetime, announce: bool):
    changes = detect(known(), snapshot(docking(101, docking=docked_at)), NOW, stale_after=timedelta(hours=1))

    assert summary(changes) == [("docked:101", DOCKED, announce)]


def test_departure_older_than_the_stale_window_is_recorded_silently():
    record = docking(101, docking=ago(days=90), departure=ago(days=3))

    changes = detect(known(docking(101, docking=ago(days=90)), keys={"docked:101"}), snapshot(record), NOW)

    assert summary(changes) == [("departed:101", DEPARTED, False)]


# --- Webcast started ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "live_event",
    [event(7, live=True), event(7, vid_live=[False, True]), event(7, live=True, vid_live=[True])],
    ids=["webcast_live flag", "one of the vid_urls live", "both"],
)
def test_webcast_going_live_is_announced(live_event: Event):
    assert summary(detect(known(), snapshot(live_event), NOW)) == [("webcast:7", WEBCAST, True)]


@pytest.mark.parametrize(
    "quiet_event",
    [event(7), event(7, vid_live=[False, False])],
    ids=["no streams", "streams not live"],
)
def test_event_that_is_not_live_produces_nothing(quiet_event: Event):
    assert detect(known(), snapshot(quiet_event), NOW) == []


def test_webcast_flapping_back_to_live_is_not_announced_again():
    previous = known()
    produced: list[list[tuple[str, ChangeKind, bool]]] = []
    for minutes, live in [(0, True), (15, False), (30, True), (45, True)]:
        seen = snapshot(event(7, live=live))
        changes = detect(previous, seen, NOW + timedelta(minutes=minutes))
        produced.append(summary(changes))
        previous = remember(previous, seen, changes)

    assert produced == [[("webcast:7", WEBCAST, True)], [], [], []]


@pytest.mark.parametrize(
    ("streams", "expected"),
    [
        (
            [
                stream("restream", priority=8),
                stream("roscosmos", priority=9),
                stream("nasa", priority=10),
            ],
            "https://video.test/nasa",
        ),
        (
            [stream("nasa", priority=10), stream("restream", priority=8, live=True)],
            "https://video.test/restream",
        ),
        (
            [
                stream("restream", priority=8, live=True),
                stream("nasa", priority=10, live=True),
                stream("roscosmos", priority=9, live=True),
            ],
            "https://video.test/nasa",
        ),
        (
            [stream("first", priority=10, live=True), stream("second", priority=10, live=True)],
            "https://video.test/first",
        ),
        ([stream("first", priority=9), stream("second", priority=9)], "https://video.test/first"),
        ([], None),
    ],
    ids=[
        "none flagged live: the highest priority number",
        "a live stream beats a higher priority that is not live",
        "several live: the highest priority number among them",
        "a tie among live streams keeps LL2's order",
        "a tie among streams not live keeps LL2's order",
        "no streams: no link",
    ],
)
def test_webcast_message_links_the_live_stream_with_the_highest_priority_number(
    streams: list[Webcast], expected: str | None
):
    changes = detect(known(), snapshot(event(7, live=True, streams=streams)), NOW)

    assert [(c.key, c.message.event_id, c.message.webcast_url) for c in changes] == [
        ("webcast:7", 7, expected)
    ]


# --- Webcast flags: believed only close to their event ----------------------------------------------


@pytest.mark.parametrize(
    ("event_date", "expected"),
    [
        (later(hours=3), [("webcast:7", WEBCAST, True)]),
        (later(hours=3, seconds=1), []),
        (NOW, [("webcast:7", WEBCAST, True)]),
        (ago(hours=3), [("webcast:7", WEBCAST, True)]),
        (ago(hours=3, seconds=1), []),
        (later(days=10), []),
        (ago(days=30), []),
        (None, []),
    ],
    ids=[
        "event exactly 3 h ahead",
        "event 3 h and a second ahead",
        "event now",
        "event exactly 3 h ago",
        "event 3 h and a second ago",
        "launch 10 days ahead, flag left on after a scrub",
        "event a month ago, flag never cleared",
        "event without a date",
    ],
)
def test_live_flag_is_believed_only_from_3_hours_before_the_event_to_3_hours_after(
    event_date: datetime | None, expected: list[tuple[str, ChangeKind, bool]]
):
    quiet = snapshot(event(7, date=event_date))
    seen_before = remember(known(), quiet, detect(known(), quiet, ago(minutes=10)))

    assert summary(detect(seen_before, snapshot(event(7, live=True, date=event_date)), NOW)) == expected


@pytest.mark.parametrize(
    ("event_date", "expected"),
    [
        (later(hours=2), [("webcast:7", WEBCAST, True)]),
        (later(hours=10), []),
        (ago(days=2), []),
        (None, []),
    ],
    ids=["inside the window", "10 hours ahead", "two days ago", "no date"],
)
def test_flag_on_an_event_first_seen_in_this_poll_is_announced_only_inside_the_window(
    event_date: datetime | None, expected: list[tuple[str, ChangeKind, bool]]
):
    new_event = event(7, vid_live=[True], date=event_date)

    assert summary(detect(known(), snapshot(new_event), NOW)) == expected


@pytest.mark.parametrize(
    ("event_date", "announce"),
    [(later(hours=1), True), (later(hours=1, seconds=1), False), (ago(hours=1, seconds=1), False)],
    ids=["exactly 1 h ahead", "1 h and a second ahead", "1 h and a second ago"],
)
def test_webcast_window_is_honoured_when_passed_explicitly(event_date: datetime, announce: bool):
    changes = detect(
        known(), snapshot(event(7, live=True, date=event_date)), NOW, webcast_window=timedelta(hours=1)
    )

    assert summary(changes) == ([("webcast:7", WEBCAST, True)] if announce else [])


@pytest.mark.parametrize(
    ("start", "end", "announce"),
    [
        (later(minutes=30), None, True),
        (later(minutes=30, seconds=1), None, False),
        (None, ago(minutes=30), True),
        (None, ago(minutes=30, seconds=1), False),
        (ago(minutes=20), later(minutes=40), True),
        (ago(hours=2), None, True),
        (None, later(hours=2), True),
        (ago(days=2, minutes=30), ago(days=2), False),
    ],
    ids=[
        "start exactly 30 min ahead",
        "start 30 min and a second ahead",
        "end exactly 30 min ago",
        "end 30 min and a second ago",
        "between start and end",
        "started 2 h ago, no end given",
        "ends in 2 h, no start given",
        "times of the attempt before a scrub",
    ],
)
def test_live_stream_is_believed_only_within_30_minutes_of_its_start_and_end_times(
    start: datetime | None, end: datetime | None, announce: bool
):
    on_air = event(7, date=NOW, streams=[stream("nasa", live=True, start=start, end=end)])

    changes = detect(known(), snapshot(on_air), NOW)

    assert summary(changes) == ([("webcast:7", WEBCAST, True)] if announce else [])


@pytest.mark.parametrize(
    ("streams", "announce"),
    [
        ([stream("nasa", priority=10, start=later(hours=2)), stream("restream", priority=8)], False),
        ([stream("nasa", priority=10, start=ago(minutes=5)), stream("restream", priority=8)], True),
        (
            [
                stream("nasa", priority=10, start=later(hours=2)),
                stream("restream", priority=8, live=True, start=ago(minutes=5)),
            ],
            True,
        ),
    ],
    ids=[
        "the linked stream starts in 2 h",
        "the linked stream started 5 min ago",
        "the live stream is the link, not the higher priority one",
    ],
)
def test_event_flag_is_judged_by_the_times_of_the_stream_it_links(streams: list[Webcast], announce: bool):
    changes = detect(known(), snapshot(event(7, live=True, date=NOW, streams=streams)), NOW)

    assert summary(changes) == ([("webcast:7", WEBCAST, True)] if announce else [])


def test_flag_outside_the_window_is_not_recorded_so_the_real_webcast_is_still_announced_once():
    # A launch scrubbed and moved ten days out keeps webcast_live; the real webcast comes with the launch.
    launch = NOW + timedelta(days=10)
    previous = known()
    produced: list[list[tuple[str, ChangeKind, bool]]] = []
    for at, live in [
        (NOW, True),
        (NOW + timedelta(days=5), True),
        (launch - timedelta(days=1), False),
        (launch - timedelta(minutes=20), True),
        (launch, True),
    ]:
        seen = snapshot(event(7, live=live, date=launch))
        changes = detect(previous, seen, at)
        produced.append(summary(changes))
        previous = remember(previous, seen, changes)

    assert produced == [[], [], [], [("webcast:7", WEBCAST, True)], []]


def test_flag_outside_the_window_at_baseline_is_not_recorded_either():
    seen = snapshot(event(7, live=True, date=later(days=10)))

    assert detect(KnownState(), seen, NOW) == []


# --- Output -------------------------------------------------------------------------------------------


def test_changes_are_listed_oldest_first():
    seen = snapshot(
        event(7, live=True),
        docking(103, port=UNITY_NADIR, chaser=SOYUZ, docking=ago(hours=1)),
        docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=20)),
        docking(102, port=HARMONY_ZENITH, chaser=PAYLOAD_877, docking=ago(hours=5)),
    )

    changes = detect(known(docking(101, docking=ago(days=30)), keys={"docked:101"}), seen, NOW)

    assert [(c.key, c.message.occurred_at) for c in changes] == [
        ("departed:101", ago(hours=20)),
        ("docked:102", ago(hours=5)),
        ("docked:103", ago(hours=1)),
        ("webcast:7", NOW),
    ]


def test_detection_is_deterministic_whatever_the_page_order():
    items = [
        docking(101, port=HARMONY_FORWARD, docking=ago(days=30), departure=ago(hours=3)),
        docking(102, port=HARMONY_ZENITH, docking=ago(hours=1)),
        docking(103, port=UNITY_NADIR, chaser=SOYUZ, docking=ago(hours=1)),
        docking(104, port=Port(id=40, name="Poisk zenith"), chaser=PAYLOAD_877, docking=ago(hours=1)),
        event(7, live=True),
        event(8, vid_live=[True]),
    ]
    previous = known(docking(101, docking=ago(days=30)), keys={"docked:101"})

    results = [detect(previous, snapshot(*order), NOW) for order in itertools.permutations(items)]

    assert summary(results[0]) == [
        ("departed:101", DEPARTED, False),
        ("docked:103", DOCKED, True),
        ("docked:104", DOCKED, True),
        ("relocated:102", RELOCATED, True),
        ("webcast:7", WEBCAST, True),
        ("webcast:8", WEBCAST, True),
    ]
    assert all(result == results[0] for result in results)


def test_detect_does_not_mutate_its_inputs():
    previous = known(docking(101, docking=ago(days=30)), docking(105, chaser=SOYUZ), keys={"docked:101"})
    seen = snapshot(
        docking(101, docking=ago(days=30), departure=ago(hours=3)),
        docking(102, port=HARMONY_ZENITH, docking=ago(hours=1)),
        event(7, live=True),
    )
    previous_before, seen_before = copy.deepcopy(previous), copy.deepcopy(seen)

    detect(previous, seen, NOW)

    assert (previous, seen) == (previous_before, seen_before)


@pytest.mark.parametrize(
    "record",
    [
        docking(1, docking=None, departure=ago(minutes=5)),
        docking(1, docking=later(days=2), departure=ago(minutes=5)),
    ],
    ids=["no docking time at all", "docking time after the departure"],
)
def test_a_departure_without_a_docking_before_it_is_bad_data_not_news(record: DockingRecord) -> None:
    assert detect(known(), snapshot(record), NOW) == []


def test_a_record_repeated_in_one_snapshot_is_announced_once() -> None:
    record = docking(3, docking=ago(minutes=5))

    changes = detect(known(), snapshot(record, record, event(9, live=True), event(9, live=True)), NOW)

    assert summary(changes) == [("docked:3", DOCKED, True), ("webcast:9", WEBCAST, True)]
