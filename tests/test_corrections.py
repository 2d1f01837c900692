"""Specification of corrections: ``dockwatch.bot.corrections.corrections(previous, snapshot, now)``.

Each case is a timeline: at each step LL2 shows some docking records, detection and corrections run
as a poll would, and what they record is remembered as the store would. A step's result lists what
was recorded: a key, and for a correction its reason and expected time (minutes after ``T0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.corrections import corrections, standings
from dockwatch.bot.detect import detect
from dockwatch.bot.model import (
    Change,
    DockingRecord,
    KnownState,
    Notice,
    Party,
    Port,
    Snapshot,
    Station,
    revision_of,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
ISS = Station(id=4, name="International Space Station")
OTHER_STATION = Station(id=18, name="Tiangong")
FORWARD = Port(id=20, name="Harmony forward")
ZENITH = Port(id=21, name="Harmony zenith")
DRAGON = Party(kind="spacecraft_flight", id=877, name="Crew Dragon C212")
CYGNUS = Party(kind="spacecraft_flight", id=990, name="Cygnus NG-24")
STALE = timedelta(hours=48)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(
    record_id: int = 630,
    *,
    docking: float | None = None,
    departure: float | None = None,
    port: Port = FORWARD,
    chaser: Party | None = DRAGON,
    station: Station | None = ISS,
) -> DockingRecord:
    """A Crew Dragon docking record; times are minutes after ``T0`` (``None``: no time)."""
    return DockingRecord(
        id=record_id,
        docking=None if docking is None else at(docking),
        departure=None if departure is None else at(departure),
        port=port,
        station=station,
        chaser=chaser,
        target=None,
    )


@dataclass
class Timeline:
    """The store's memory across polls, as ``record_cycle`` would keep it."""

    state: KnownState = field(default_factory=lambda: KnownState(baseline_done=True))

    def poll(self, minute: float, *records: DockingRecord) -> list[str]:
        now = at(minute)
        snapshot = Snapshot(tuple(records), ())
        found = detect(self.state, snapshot, now, stale_after=STALE)
        found += corrections(self.state, snapshot, now, stale_after=STALE)
        self.remember(snapshot, found)
        return [describe(c) for c in found]

    def remember(self, snapshot: Snapshot, changes: Sequence[Change]) -> None:
        self.state = KnownState(
            dockings={**self.state.dockings, **{r.id: r for r in snapshot.dockings}},
            recorded_keys=self.state.recorded_keys | {c.key for c in changes},
            baseline_done=True,
            docking_notices=self.state.docking_notices
            + tuple(Notice(c.message, c.announce) for c in changes),
        )


def describe(change: Change) -> str:
    """``docked:630``; ``correction:1:docked:630 rescheduled +40``; ``... (silent)``."""
    text = change.key
    correction = change.message.correction
    if correction is not None:
        text += f" {correction.reason.value}"
        if correction.expected is not None:
            text += f" {(correction.expected - T0).total_seconds() / 60:+g}"
    return text if change.announce else f"{text} (silent)"


Step = tuple[float, tuple[DockingRecord, ...], list[str]]

TIMELINES: dict[str, list[Step]] = {
    "a docking announced too early is retracted when LL2 moves it 40 minutes ahead": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50),), ["correction:1:docked:630 rescheduled +50"]),
    ],
    "a retracted docking is announced again under revision 2 once its new time passes": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50),), ["correction:1:docked:630 rescheduled +50"]),
        (30, (record(docking=50),), []),
        (51, (record(docking=50),), ["docked:630#2"]),
        (60, (record(docking=50),), []),
    ],
    "a docking whose time is removed is withdrawn": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=None),), ["correction:1:docked:630 withdrawn"]),
        (20, (record(docking=None),), []),
    ],
    "a time refined while it stays in the past is an update, not a new announcement": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=7),), ["correction:1:docked:630 refined"]),
        (20, (record(docking=7),), []),
    ],
    "a refinement of less than a minute changes nothing": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=0.5),), []),
    ],
    "a time moved less than five minutes ahead is waited for, then refined": [
        (1, (record(docking=0),), ["docked:630"]),
        (2, (record(docking=6),), []),
        (7, (record(docking=6),), ["correction:1:docked:630 refined"]),
    ],
    "corrected twice in a row: each new expected time is a correction of its own": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50),), ["correction:1:docked:630 rescheduled +50"]),
        (20, (record(docking=120),), ["correction:2:docked:630 rescheduled +120"]),
        (30, (record(docking=122),), []),
    ],
    "rescheduled then withdrawn": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50),), ["correction:1:docked:630 rescheduled +50"]),
        (20, (record(docking=None),), ["correction:2:docked:630 withdrawn"]),
        (30, (record(docking=None),), []),
    ],
    "withdrawn, then given a time that has passed: announced again": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=None),), ["correction:1:docked:630 withdrawn"]),
        (40, (record(docking=35),), ["docked:630#2"]),
    ],
    "a second announcement can be corrected in its turn": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50),), ["correction:1:docked:630 rescheduled +50"]),
        (51, (record(docking=50),), ["docked:630#2"]),
        (55, (record(docking=90),), ["correction:1:docked:630#2 rescheduled +90"]),
        (91, (record(docking=90),), ["docked:630#3"]),
    ],
    "a departure announced too early is retracted and announced again": [
        (1, (record(docking=-3000, departure=0),), ["docked:630 (silent)", "departed:630"]),
        (5, (record(docking=-3000, departure=30),), ["correction:1:departed:630 rescheduled +30"]),
        (31, (record(docking=-3000, departure=30),), ["departed:630#2"]),
    ],
    "a relocation whose second docking is rescheduled is corrected": [
        (
            1,
            (record(631, docking=-3000, departure=-30, port=ZENITH), record(docking=0)),
            ["docked:631 (silent)", "departed:631 (silent)", "relocated:630"],
        ),
        (
            10,
            (record(631, docking=-3000, departure=-30, port=ZENITH), record(docking=45)),
            ["correction:1:relocated:630 rescheduled +45"],
        ),
        (
            46,
            (record(631, docking=-3000, departure=-30, port=ZENITH), record(docking=45)),
            ["relocated:630#2"],
        ),
    ],
    "a record missing from the page corrects nothing": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (), []),
    ],
    "an id reused by another vehicle says nothing about the docking announced under it": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=300, chaser=CYGNUS),), []),
    ],
    "a planned docking never announced is never corrected": [
        (1, (record(docking=50),), []),
        (10, (record(docking=90),), []),
        (91, (record(docking=90),), ["docked:630"]),
    ],
    "a re-announcement whose time is already stale is recorded silently": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=None),), ["correction:1:docked:630 withdrawn"]),
        (4000, (record(docking=20),), ["docked:630#2 (silent)"]),
        (4010, (record(docking=None),), ["correction:1:docked:630#2 withdrawn (silent)"]),
    ],
    "a fact recorded silently that LL2 moves ahead is retracted silently, then announced when it happens": [
        (1, (record(docking=-3000),), ["docked:630 (silent)"]),  # stale when first seen
        (10, (record(docking=60),), ["correction:1:docked:630 rescheduled +60 (silent)"]),
        (61, (record(docking=60),), ["docked:630#2"]),
    ],
    "a vehicle LL2 fills in later is the same docking, still corrected": [
        (1, (record(docking=0, chaser=None),), ["docked:630"]),
        (10, (record(docking=40),), ["correction:1:docked:630 rescheduled +40"]),
        (41, (record(docking=40),), ["docked:630#2"]),
    ],
    "a vehicle LL2 drops is the same docking, still corrected": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=40, chaser=None),), ["correction:1:docked:630 rescheduled +40"]),
    ],
    "a station LL2 edits is the same docking, still corrected": [
        (1, (record(docking=0),), ["docked:630"]),
        (10, (record(docking=50, station=OTHER_STATION),), ["correction:1:docked:630 rescheduled +50"]),
        (51, (record(docking=50, station=OTHER_STATION),), ["docked:630#2"]),
    ],
    "a fact announced as happening more than a week ago is history, not corrected": [
        (1, (record(docking=0),), ["docked:630"]),
        (10_090, (record(docking=None),), []),
    ],
}


@pytest.mark.parametrize("steps", list(TIMELINES.values()), ids=list(TIMELINES))
def test_corrections_follow_what_ll2_says_now(steps: list[Step]) -> None:
    timeline = Timeline()
    for minute, records, expected in steps:
        assert timeline.poll(minute, *records) == expected, f"at minute {minute}"


def test_nothing_is_corrected_before_the_baseline_is_done() -> None:
    timeline = Timeline()
    timeline.poll(1, record(docking=0))
    before_baseline = replace(timeline.state, baseline_done=False)

    assert corrections(before_baseline, Snapshot((record(docking=50),), ()), at(10), stale_after=STALE) == []


def test_the_baseline_s_facts_moved_ahead_are_announced_when_they_really_happen() -> None:
    """The baseline sees a planned docking whose time has just passed (LL2's early times) and
    records it silently; LL2 then moves it ahead: the real docking must not go unannounced."""
    timeline = Timeline(KnownState())
    assert timeline.poll(1, record(docking=0)) == ["docked:630 (silent)"]

    assert timeline.poll(10, record(docking=50)) == ["correction:1:docked:630 rescheduled +50 (silent)"]
    assert timeline.poll(51, record(docking=50)) == ["docked:630#2"]


def test_a_correction_carries_the_fact_as_ll2_tells_it_now() -> None:
    timeline = Timeline()
    timeline.poll(1, record(docking=0))
    timeline.poll(10, record(docking=50))

    correction = timeline.state.docking_notices[-1].message
    assert correction.correction is not None
    assert (correction.kind.value, correction.docking, correction.occurred_at) == (
        "docking.docked",
        at(50),
        at(10),
    )
    assert correction.correction.corrects == "docked:630"
    assert correction.vehicle is not None and correction.vehicle.name == "Crew Dragon C212"


def test_a_refined_time_is_what_later_comparisons_start_from() -> None:
    timeline = Timeline()
    timeline.poll(1, record(docking=0))
    timeline.poll(10, record(docking=7))

    standing = standings(timeline.state.docking_notices)["docked:630"]
    assert (standing.key, standing.message.docking, standing.notes) == ("docked:630", at(7), 1)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("docked:630", ("docked:630", 1)),
        ("docked:630#2", ("docked:630", 2)),
        ("departed:7#12", ("departed:7", 12)),
    ],
)
def test_revision_keys_read_back(key: str, expected: tuple[str, int]) -> None:
    assert revision_of(key) == expected
