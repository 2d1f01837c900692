"""Detection latency of dockwatch's own service loop against fixed-interval polling, on a virtual clock.

Run by hand:  python bench/latency.py [--days 30] [--seed 1 [2 ...]] [--budget 14 [60 300]]
(several seeds: a table per seed, then one of all seeds and one of all seeds' changes pooled)

No sleeps: the same seed gives the same numbers. A synthetic LL2 timeline (stations, ports,
visiting vehicles, events with webcasts) is generated for ``--days`` days. Each time field is
shown by LL2 the way it really behaves:

* ``on_time``: announced hours or days ahead with the right time;
* ``slip_later`` / ``slip_earlier``: announced with a wrong time that LL2 corrects before it
  passes (slips of minutes or hours; an earlier slip is corrected shortly before the moment);
* ``late_edit``: LL2 corrects the time only after the originally planned time has passed (the
  real time is earlier or later than planned; later means our detector announces too early), and
  only 5-60 minutes after the real event too;
* ``unannounced`` / ``after_the_fact``: a docking record that appears only after the docking, a
  departure field that is set only after the undocking;
* webcasts going live up to 30 minutes before their event's date, with or without a
  ``vid_urls[].start_time``.

The simulated LL2 enforces 15 calls in any rolling hour per IP (a call an hour old has left the
window, as in Django REST framework's throttle; with ``--budget N``, N + 1) and answers an excess
call with 429 and a Retry-After. The snapshot of each page is LL2's state when the call arrives.

Pollers, each against a fresh LL2:

* ``dockwatch`` (``dockwatch N/h`` for another budget): ``dockwatch run``'s own ``Service``
  (``bot/service.py``) with its real store (a SQLite file), LL2 client, planner, detection and
  corrections, the default ``stale_after``/``webcast_window``, ``interval`` 10 min and
  ``min_interval`` 1 min, against an LL2 speaking HTTP on 127.0.0.1 (``run_service``). Its poll
  loop sleeps on a ``VirtualClock`` that moves to the next wake-up once the loop is asleep again;
  a request takes no virtual time. What it recorded is read back from its notification table.
* ``fixed 8.57m``: a poll of both lists every 60/7 min, the densest fixed interval 15 calls/hour
  allows; ``fixed 10m``: every base interval. These run what a cycle runs (``detect`` plus
  ``corrections`` over the ``KnownState`` the store would keep) in a discrete-event simulation
  whose calls take a little network time, so LL2 sees them slightly after they were counted.

Latency is the time of the poll whose ``detect()`` announced a change minus the time the change
really happened (the real docking or undocking; the moment the live flag turned true). A change
is *scheduled* when LL2 showed its exact time before it happened, otherwise *unscheduled*. A
change announced before it happened (a late edit of a delayed docking) is counted as wrong, as is
an announcement that matches no real change; a real change never announced is missed.

Every announcement made before its real change (the first one or a re-announcement ``#2``) is a
*false announcement*; it is *corrected* by a correction (rescheduled or withdrawn) whose
``corrects`` is its key. Reported: how many, how many stay uncorrected (the goal is 0), the time
from the announcement to its correction, whether the re-announcement came and how long after the
real change; also false announcements whose time was only refined in place (an edit, not a
retraction), and retractions of announcements that were not early (wrong retractions).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import random
import sqlite3
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Generic, TypeVar

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dockwatch.bot.config import config_from_mapping  # noqa: E402
from dockwatch.bot.corrections import corrections  # noqa: E402
from dockwatch.bot.detect import DEFAULT_STALE_AFTER, DEFAULT_WEBCAST_WINDOW, detect  # noqa: E402
from dockwatch.bot.metrics import Metrics  # noqa: E402
from dockwatch.bot.model import (  # noqa: E402  # noqa: E402
    Change,
    ChangeKind,
    DockingRecord,
    Endpoint,
    Event,
    KnownState,
    Notice,
    Party,
    Port,
    Revision,
    Snapshot,
    Station,
    VehicleId,
    Webcast,
    departed_key,
    docked_key,
    relocated_key,
    revision_key,
    revision_of,
    webcast_key,
)
from dockwatch.bot.runtime import open_runtime  # noqa: E402
from dockwatch.bot.service import Service  # noqa: E402
from dockwatch.bot.timer import VirtualClock  # noqa: E402

START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
LL2_LIMIT = 15
"""Calls LL2 accepts per IP in any rolling hour."""
PER_HOUR = 14
"""dockwatch's own budget (``api.requests_per_hour``), one call below LL2's limit."""
INTERVAL = timedelta(minutes=10)
MIN_INTERVAL = timedelta(minutes=1)
UPCOMING_GRACE = timedelta(days=1)
"""Events stay on ``/events/upcoming/`` for a day after their date."""
QUIET_START = timedelta(hours=6)
"""Changes this soon after the baseline poll are not measured (the timeline is still settling)."""
DRAIN = timedelta(hours=3)
"""Polling goes on this long after the timeline ends, so late changes can still be seen."""
SCHEDULED_TARGET = timedelta(minutes=2)
UNSCHEDULED_TARGET = INTERVAL
SCHEDULED_TARGET_14 = timedelta(seconds=45)
UNSCHEDULED_TARGET_14 = timedelta(minutes=6)
TINY = timedelta(microseconds=1)

T = TypeVar("T")


# --- the synthetic LL2 timeline ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Versions(Generic[T]):
    """One field as LL2 shows it over time: ``(since, value)`` pairs in time order."""

    history: tuple[tuple[datetime, T], ...]

    def at(self, moment: datetime) -> T:
        """The value shown at ``moment`` (the first value before the field was ever edited)."""
        value = self.history[0][1]
        for since, shown in self.history:
            if since > moment:
                break
            value = shown
        return value

    def edit_times(self) -> list[datetime]:
        return [since for since, _ in self.history]


@dataclass(frozen=True, slots=True)
class SimDocking:
    """A docking record as LL2 publishes and edits it."""

    id: int
    port: Port
    station: Station
    chaser: Party
    published: datetime
    docking: Versions[datetime | None]
    departure: Versions[datetime | None]

    def view(self, moment: datetime) -> DockingRecord | None:
        """The record on LL2's docking page at ``moment``, or None before it is published."""
        if moment < self.published:
            return None
        target = Party("space_station", self.station.id, self.station.name)
        return DockingRecord(
            id=self.id,
            docking=self.docking.at(moment),
            departure=self.departure.at(moment),
            port=self.port,
            station=self.station,
            chaser=self.chaser,
            target=target,
        )


@dataclass(frozen=True, slots=True)
class SimEvent:
    """An LL2 event with one webcast whose live flag is true from ``live_from`` to ``live_until``."""

    id: int
    name: str
    type_name: str
    published: datetime
    date: Versions[datetime]
    start_time: Versions[datetime | None]
    live_from: datetime
    live_until: datetime

    def view(self, moment: datetime) -> Event | None:
        """The event on ``/events/upcoming/`` at ``moment``, or None when it is not listed."""
        date = self.date.at(moment)
        if moment < self.published or date < moment - UPCOMING_GRACE:
            return None
        live = self.live_from <= moment < self.live_until
        webcast = Webcast(
            url=f"https://www.youtube.com/watch?v=sim{self.id}",
            live=live,
            priority=10,
            title=self.name,
            start_time=self.start_time.at(moment),
        )
        return Event(
            id=self.id,
            name=self.name,
            date=date,
            webcast_live=live,
            webcasts=(webcast,),
            type_name=self.type_name,
            location="International Space Station",
        )


@dataclass(frozen=True, slots=True)
class Truth:
    """A change that really happened, and which announcement keys stand for it."""

    kind: str
    cause: str
    happened: datetime
    scheduled: bool
    visible: datetime
    """The first moment a poll would announce it: LL2's own lag ends here."""
    keys: frozenset[str]
    measured: bool
    """Happened between the baseline and the end of the timeline (later ones only keep keys known)."""


@dataclass(slots=True)
class Timeline:
    """Everything LL2 will ever show, and the ground truth it is derived from."""

    dockings: list[SimDocking] = field(default_factory=list)
    events: list[SimEvent] = field(default_factory=list)
    truths: list[Truth] = field(default_factory=list)

    def docking_page(self, moment: datetime) -> tuple[DockingRecord, ...]:
        records = (d.view(moment) for d in self.dockings)
        return tuple(r for r in records if r is not None)

    def events_page(self, moment: datetime) -> tuple[Event, ...]:
        events = [e for e in (s.view(moment) for s in self.events) if e is not None]
        return tuple(sorted(events, key=lambda e: (e.date or moment, e.id)))


DOCKING_MODES = {
    "on_time": 0.45,
    "slip_later": 0.15,
    "slip_earlier": 0.08,
    "late_edit": 0.17,
    "unannounced": 0.15,
}
DEPARTURE_MODES = {
    "on_time": 0.45,
    "slip_later": 0.15,
    "slip_earlier": 0.08,
    "late_edit": 0.17,
    "after_the_fact": 0.15,
}
STATIONS = {
    Station(4, "International Space Station"): [
        "Harmony forward",
        "Harmony zenith",
        "Unity nadir",
        "Poisk zenith",
        "Rassvet nadir",
        "Prichal nadir",
    ],
    Station(18, "Tiangong"): ["Tianhe forward", "Tianhe aft", "Tianhe radial"],
}
RELOCATION_PORTS = {4: "Zvezda aft", 18: "Tianhe nadir"}
"""Where a vehicle moves when it relocates (any number of movers may share it: detection does not care)."""


class TimelineBuilder:
    """Draws a random but reproducible timeline: per port, a chain of visits; plus standalone events."""

    def __init__(self, seed: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.end = START + timedelta(days=days)
        self.timeline = Timeline()
        self.next_id = {"docking": 1000, "event": 5000, "vehicle": 800, "port": 30}

    def new_id(self, kind: str) -> int:
        self.next_id[kind] += 1
        return self.next_id[kind]

    def between(self, low: timedelta, high: timedelta) -> timedelta:
        """A uniformly drawn duration, whole seconds."""
        return timedelta(seconds=self.rng.randint(int(low.total_seconds()), int(high.total_seconds())))

    def pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def in_range(self, moment: datetime) -> bool:
        return START + QUIET_START <= moment < self.end

    def build(self) -> Timeline:
        """The whole timeline: every port's visits, relocations, and events between them."""
        for station, port_names in STATIONS.items():
            for name in port_names:
                self.port_visits(station, Port(self.new_id("port"), name))
        moment = START + self.between(timedelta(hours=6), timedelta(hours=30))
        while moment < self.end:
            self.standalone_event(moment)
            moment += self.between(timedelta(hours=10), timedelta(hours=40))
        return self.timeline

    def port_visits(self, station: Station, port: Port) -> None:
        """Visits one after another at ``port``; the first may already be docked at the baseline."""
        moment = START - self.between(timedelta(days=1), timedelta(days=40))
        if self.rng.random() < 0.3:
            moment = START + self.between(timedelta(hours=8), timedelta(days=6))
        while moment < self.end:
            stay = self.between(timedelta(days=1), timedelta(days=12))
            departure = moment + stay
            vehicle = Party("spacecraft_flight", self.new_id("vehicle"), f"Vehicle {self.next_id['vehicle']}")
            self.visit(station, port, vehicle, moment, departure)
            if self.in_range(departure) and self.rng.random() < 0.15:
                relocated = departure + self.between(timedelta(minutes=25), timedelta(minutes=90))
                spare = Port(self.new_id("port"), RELOCATION_PORTS[station.id])
                self.visit(station, spare, vehicle, relocated, None, relocation=True)
            moment = departure + self.between(timedelta(hours=6), timedelta(days=5))

    def visit(
        self,
        station: Station,
        port: Port,
        vehicle: Party,
        docked: datetime,
        departed: datetime | None,
        *,
        relocation: bool = False,
    ) -> None:
        """One docking record: its docking and departure as LL2 shows them, events, ground truth."""
        before_start = docked < START
        docking_mode = "on_time" if before_start or relocation else self.pick(DOCKING_MODES)
        docking = self.field_history(docked, docking_mode)
        published = docking[0][0]
        if before_start:
            published = min(published, docked - timedelta(days=1))
            docking = ((published, docked),)
        departure_mode = "on_time" if relocation else self.pick(DEPARTURE_MODES)
        departure: tuple[tuple[datetime, datetime | None], ...] = ((published, None),)
        if departed is not None:
            shown = self.field_history(departed, departure_mode)
            departure += tuple((max(since, published), value) for since, value in shown)
        record = SimDocking(
            id=self.new_id("docking"),
            port=port,
            station=station,
            chaser=vehicle,
            published=published,
            docking=Versions(docking),
            departure=Versions(departure),
        )
        self.timeline.dockings.append(record)
        if docked > START:
            keys = frozenset({docked_key(record.id), relocated_key(record.id)})
            self.truth(record, "docking", "relocation" if relocation else docking_mode, docked, keys)
            self.maybe_event(f"{vehicle.name} Docking", "Docking", docked, docking, docking_mode)
        if departed is not None and departed > START:
            keys = frozenset({departed_key(record.id)})
            self.truth(record, "departure", departure_mode, departed, keys)
            self.maybe_event(f"{vehicle.name} Undocking", "Undocking", departed, departure, departure_mode)

    def field_history(self, real: datetime, mode: str) -> tuple[tuple[datetime, datetime | None], ...]:
        """How LL2 shows a time that really is ``real``: ``(since, shown)`` pairs."""
        announced = real - self.between(timedelta(hours=2), timedelta(days=10))
        if mode == "on_time":
            return ((announced, real),)
        if mode == "slip_later":
            if self.rng.random() < 0.5:
                slip = self.between(timedelta(minutes=3), timedelta(minutes=50))
            else:
                slip = self.between(timedelta(hours=1), timedelta(hours=30))
            planned = real - slip
            announced = min(announced, planned - HOUR)
            edit = announced + self.between(timedelta(0), planned - 2 * MINUTE - announced)
            return ((announced, planned), (edit, real))
        if mode == "slip_earlier":
            planned = real + self.between(timedelta(minutes=3), timedelta(minutes=40))
            announced = min(announced, real - 2 * HOUR)
            edit = real - self.between(2 * MINUTE, HOUR)
            return ((announced, planned), (edit, real))
        if mode == "late_edit":
            offset = self.between(timedelta(minutes=3), timedelta(minutes=45))
            planned = real + offset if self.rng.random() < 0.5 else real - offset
            announced = min(announced, planned - HOUR)
            edit = max(planned, real) + self.between(timedelta(minutes=5), timedelta(minutes=60))
            return ((announced, planned), (edit, real))
        # unannounced / after_the_fact: nothing until LL2 catches up, then the real time.
        return ((real + self.between(timedelta(minutes=2), timedelta(minutes=45)), real),)

    def truth(
        self, record: SimDocking, kind: str, cause: str, happened: datetime, keys: frozenset[str]
    ) -> None:
        """Record a real docking or undocking, classified from what LL2 showed just before it."""
        shown = record.docking if kind == "docking" else record.departure

        def announceable(moment: datetime) -> bool:
            view = record.view(moment)
            value = None if view is None else (view.docking if kind == "docking" else view.departure)
            return value is not None and value <= moment

        values = [v for _, v in shown.history if v is not None]
        visible = first_true(announceable, [record.published, *shown.edit_times(), *values])
        just_before = record.view(happened - TINY)
        scheduled = just_before is not None and shown.at(happened - TINY) == happened
        truth = Truth(kind, cause, happened, scheduled, visible, keys, self.in_range(happened))
        self.timeline.truths.append(truth)

    def maybe_event(
        self,
        name: str,
        type_name: str,
        real: datetime,
        shown: tuple[tuple[datetime, datetime | None], ...],
        mode: str,
    ) -> None:
        """Most announced dockings and undockings get an LL2 event with a webcast."""
        dated = tuple((since, value) for since, value in shown if value is not None)
        if mode in ("unannounced", "after_the_fact") or not dated or self.rng.random() < 0.2:
            return
        self.event(name, type_name, real, dated, mode)

    def standalone_event(self, real: datetime) -> None:
        """A spacewalk, briefing or other event with a webcast, announced days ahead."""
        mode = self.pick({"on_time": 0.6, "slip_later": 0.25, "late_edit": 0.15})
        shown = self.field_history(real, mode)
        dated = tuple((since, value) for since, value in shown if value is not None)
        kind = self.rng.choice(["Spacewalk", "Press Conference", "Berthing", "Spacewalk Briefing"])
        self.event(f"{kind} {self.next_id['event'] + 1}", kind, real, dated, mode)

    def event(
        self,
        name: str,
        type_name: str,
        real: datetime,
        dated: tuple[tuple[datetime, datetime], ...],
        mode: str,
    ) -> None:
        """An event dated like its field, whose webcast goes live up to 30 minutes before the real date."""
        lead = self.between(timedelta(0), timedelta(minutes=30))
        live_from = real - lead
        with_start_time = mode != "late_edit" and self.rng.random() < 0.6
        start_time: tuple[tuple[datetime, datetime | None], ...] = ((dated[0][0], None),)
        if with_start_time:
            start_time = tuple((since, value - lead) for since, value in dated)
        published = dated[0][0] + self.between(timedelta(0), timedelta(hours=12))
        published = min(published, live_from - HOUR)
        sim = SimEvent(
            id=self.new_id("event"),
            name=name,
            type_name=type_name,
            published=published,
            date=Versions(dated),
            start_time=Versions(start_time),
            live_from=live_from,
            live_until=real + self.between(timedelta(minutes=30), timedelta(hours=4)),
        )
        self.timeline.events.append(sim)
        if live_from <= START:
            return
        scheduled = sim.start_time.at(live_from - TINY) == live_from and published < live_from
        cause = "webcast_start_time" if with_start_time else "webcast_no_start_time"
        keys = frozenset({webcast_key(sim.id)})
        visible = max(live_from, published)
        truth = Truth("webcast", cause, live_from, scheduled, visible, keys, self.in_range(live_from))
        self.timeline.truths.append(truth)


def first_true(predicate: Callable[[datetime], bool], candidates: Iterable[datetime]) -> datetime:
    """The earliest candidate at which ``predicate`` holds (it only changes at a candidate)."""
    return min((c for c in candidates if predicate(c)), default=datetime.max.replace(tzinfo=UTC))


# --- the simulated LL2, the client and the store -------------------------------------------------


class RateLimitedLL2:
    """Accepts ``limit`` calls in any rolling hour; a call an hour old has left the window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.accepted: deque[datetime] = deque()
        self.arrivals: list[datetime] = []
        self.docking_arrivals: list[datetime] = []
        self.rejected = 0

    def call(self, arrival: datetime, endpoint: Endpoint | None = None) -> datetime | None:
        """Count a call; None if it is served, else the moment a call would be allowed again (429)."""
        while self.accepted and self.accepted[0] <= arrival - HOUR:
            self.accepted.popleft()
        self.arrivals.append(arrival)
        if endpoint is Endpoint.DOCKINGS:
            self.docking_arrivals.append(arrival)
        if len(self.accepted) >= self.limit:
            self.rejected += 1
            return self.accepted[len(self.accepted) - self.limit] + HOUR
        self.accepted.append(arrival)
        return None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    started: datetime
    finished: datetime
    snapshot: Snapshot | None
    hold_until: datetime | None = None


class Client:
    """Two calls per poll (the docking page, then the events page), each with a little network time."""

    def __init__(self, timeline: Timeline, ll2: RateLimitedLL2, rng: random.Random) -> None:
        self.timeline = timeline
        self.ll2 = ll2
        self.rng = rng

    def latency(self, low_ms: int, high_ms: int) -> timedelta:
        return timedelta(milliseconds=self.rng.randint(low_ms, high_ms))

    def poll(self, started: datetime) -> PollOutcome:
        """Fetch the docking page, then the events page; a 429 on either fails the poll."""
        clock = started
        pages: dict[Endpoint, datetime] = {}
        for endpoint in (Endpoint.DOCKINGS, Endpoint.EVENTS):
            arrival = clock + self.latency(30, 300)
            retry_at = self.ll2.call(arrival, endpoint)
            clock = arrival + self.latency(100, 900) + self.latency(30, 300)
            if retry_at is not None:
                wait = max(1, math.ceil((retry_at - arrival).total_seconds()))
                return PollOutcome(started, clock, None, clock + timedelta(seconds=wait))
            pages[endpoint] = arrival
        snapshot = Snapshot(
            self.timeline.docking_page(pages[Endpoint.DOCKINGS]),
            self.timeline.events_page(pages[Endpoint.EVENTS]),
        )
        return PollOutcome(started, clock, snapshot)


@dataclass(frozen=True, slots=True)
class Announcement:
    """A fact announced to readers: the first one under its base key, or a re-announcement (``#2``)."""

    key: str
    revision: int
    truth: int | None
    """The index of the real change it stands for (``None``: none)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class Note:
    """A correction dockwatch sent about an announcement: a retraction or a refined time."""

    key: str
    corrects: str
    reason: Revision
    at: datetime


DOCKING_KINDS = frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.RELOCATED})
"""The kinds ``load_known_state`` reads back as ``docking_notices``."""


class Watcher:
    """The store, the detector and the corrections: keeps ``KnownState`` between polls as the store does.

    Each cycle runs what ``bot/pipeline.py`` runs: ``detect`` plus ``corrections`` over the state the
    store would load (``storage/store.py`` ``load_known_state``), with the service's defaults, and
    remembers the changes as ``record_cycle`` does: new keys only, in order.
    """

    def __init__(self, truths: Sequence[Truth]) -> None:
        self.known = KnownState()
        self.by_key = {key: index for index, truth in enumerate(truths) for key in truth.keys}
        self.events: dict[int, Event] = {}
        self.detected: dict[int, datetime] = {}
        self.announcements: list[Announcement] = []
        self.notes: list[Note] = []
        self.unmatched: list[str] = []

    def observe(self, snapshot: Snapshot, now: datetime) -> None:
        """Run ``detect`` and ``corrections`` and record their changes (every key, announced or not)."""
        known = self.known
        changes = detect(
            known, snapshot, now, stale_after=DEFAULT_STALE_AFTER, webcast_window=DEFAULT_WEBCAST_WINDOW
        )
        changes += corrections(known, snapshot, now, stale_after=DEFAULT_STALE_AFTER)
        recorded = set(known.recorded_keys)
        fresh: list[Change] = []
        for change in changes:
            if change.key not in recorded:  # the store skips a key it holds already
                recorded.add(change.key)
                fresh.append(change)
        relocation_announced = any(c.announce and c.kind is ChangeKind.RELOCATED for c in fresh)
        for change in fresh:
            if change.message.correction is not None:
                correction = change.message.correction
                self.notes.append(Note(change.key, correction.corrects, correction.reason, now))
            elif change.announce or (relocation_announced and self._folded(change)):
                self._announced(change, now)
        notices = tuple(Notice(c.message, c.announce) for c in fresh if c.kind in DOCKING_KINDS)
        self.known = KnownState(
            dockings={**known.dockings, **{r.id: r for r in snapshot.dockings}},
            recorded_keys=frozenset(recorded),
            baseline_done=True,
            docked_vehicles=docked_vehicles(known.docked_vehicles, notices),
            docking_notices=known.docking_notices + notices,
        )
        self.events.update((e.id, e) for e in snapshot.events)

    def record(self, key: str, kind: str, announced: bool, payload: dict[str, object], at: datetime) -> None:
        """One notification the real service recorded (``run_service``), as ``observe`` counts it."""
        correction = payload.get("correction")
        if isinstance(correction, dict):
            self.notes.append(Note(key, str(correction["corrects"]), Revision(correction["reason"]), at))
        elif announced:
            self._announce(key, at)

    def _folded(self, change: Change) -> bool:
        """A departure recorded silently because the relocation announced in the same cycle covers it."""
        return self.known.baseline_done and change.kind is ChangeKind.DEPARTED

    def _announced(self, change: Change, now: datetime) -> None:
        self._announce(change.key, now)

    def _announce(self, key: str, now: datetime) -> None:
        base, revision = revision_of(key)
        index = self.by_key.get(base)
        if index is None:
            self.unmatched.append(key)
        else:
            self.detected.setdefault(index, now)
        self.announcements.append(Announcement(key, revision, index, now))


def docked_vehicles(known: Mapping[int, VehicleId], notices: Iterable[Notice]) -> dict[int, VehicleId]:
    """``KnownState.docked_vehicles`` after ``notices`` are stored, as ``storage/store.py`` derives it.

    The vehicle of each plain ``docked:<id>`` or ``relocated:<id>`` notification, when known.
    """
    vehicles = dict(known)
    for notice in notices:
        message = notice.message
        record_id, vehicle = message.docking_event_id, message.vehicle
        if message.kind not in (ChangeKind.DOCKED, ChangeKind.RELOCATED) or record_id is None:
            continue
        if vehicle is not None and message.key in (docked_key(record_id), relocated_key(record_id)):
            vehicles[record_id] = (vehicle.kind, vehicle.id)
    return vehicles


# --- pollers -------------------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    """What one poller did over the whole timeline."""

    name: str
    detected: dict[int, datetime]
    unmatched: list[str]
    polls: int
    failed_polls: int
    arrivals: list[datetime]
    docking_arrivals: list[datetime]
    rejected: int
    announcements: list[Announcement]
    notes: list[Note]


# --- dockwatch itself: the real service loop on a virtual clock --------------------------------


def wire_docking(record: DockingRecord) -> dict[str, object]:
    """A docking record as LL2 2.3.0 sends it (what ``bot/ll2/wire.py`` parses back)."""
    station = None if record.station is None else {"id": record.station.id, "name": record.station.name}
    chaser = record.chaser
    return {
        "id": record.id,
        "url": f"https://ll.sim/2.3.0/docking_events/{record.id}/",
        "docking": iso(record.docking),
        "departure": iso(record.departure),
        "docking_location": {"id": record.port.id, "name": record.port.name, "spacestation": station},
        "space_station_target": station,
        "flight_vehicle_target": None,
        "payload_flight_target": None,
        "flight_vehicle_chaser": None
        if chaser is None
        else {"id": chaser.id, "spacecraft": {"id": chaser.id + 10_000, "name": chaser.name}},
        "space_station_chaser": None,
        "payload_flight_chaser": None,
    }


def wire_event(event: Event) -> dict[str, object]:
    """An event as LL2 2.3.0's ``/events/upcoming/?mode=normal`` sends it."""
    return {
        "id": event.id,
        "name": event.name,
        "date": iso(event.date),
        "webcast_live": event.webcast_live,
        "type": {"id": 1, "name": event.type_name},
        "location": event.location,
        "vid_urls": [
            {
                "url": w.url,
                "live": w.live,
                "priority": w.priority,
                "title": w.title,
                "start_time": iso(w.start_time),
                "end_time": iso(w.end_time),
            }
            for w in event.webcasts
        ],
    }


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def simulated_ll2(timeline: Timeline, ll2: RateLimitedLL2, now: Callable[[], datetime]) -> web.Application:
    """LL2's HTTP for the timeline at the virtual ``now``, enforcing the rolling hourly limit."""

    def page(results: list[dict[str, object]]) -> web.Response:
        return web.json_response({"count": len(results), "next": None, "previous": None, "results": results})

    def limited(request: web.Request, endpoint: Endpoint | None = None) -> web.Response | None:
        retry_at = ll2.call(now(), endpoint)
        if retry_at is None:
            return None
        wait = max(1, math.ceil((retry_at - now()).total_seconds()))
        return web.Response(status=429, headers={"Retry-After": str(wait)})

    async def dockings(request: web.Request) -> web.Response:
        return limited(request, Endpoint.DOCKINGS) or page(
            [wire_docking(r) for r in timeline.docking_page(now())]
        )

    async def events(request: web.Request) -> web.Response:
        return limited(request) or page([wire_event(e) for e in timeline.events_page(now())])

    async def throttle(request: web.Request) -> web.Response:
        moment = now()
        used = [a for a in ll2.accepted if a > moment - HOUR]
        wait = (used[0] + HOUR - moment).total_seconds() if len(used) >= ll2.limit else 0
        return web.json_response(
            {"your_request_limit": ll2.limit, "current_use": len(used), "next_use_secs": math.ceil(wait)}
        )

    app = web.Application()
    app.router.add_get("/2.3.0/docking_events/", dockings)
    app.router.add_get("/2.3.0/events/upcoming/", events)
    app.router.add_get("/2.3.0/api-throttle/", throttle)
    return app


def run_service(timeline: Timeline, seed: int, until: datetime, per_hour: int = PER_HOUR) -> RunResult:
    """``dockwatch run``'s own loop (``bot/service.py``) over the timeline, on a virtual clock.

    The real ``Service`` with the real store (a SQLite file), LL2 client, planner, detection and
    corrections, against an LL2 on 127.0.0.1 that serves the timeline as it is at the virtual now
    and answers a call over LL2's limit with 429. The clock moves to the next moment the service
    sleeps until whenever its poll loop and lease loop are both asleep, so each poll is over before
    time moves on; requests take no virtual time. No targets: what is measured is when each fact is
    recorded, read back from the notification table afterwards.
    """
    del seed  # the service's own polling has no randomness: the timeline alone decides
    ll2 = RateLimitedLL2(per_hour + LL2_LIMIT - PER_HOUR)
    with tempfile.TemporaryDirectory() as directory:
        database = Path(directory) / "state.db"
        polls = asyncio.run(_serve_and_poll(timeline, ll2, until, per_hour, database))
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT key, kind, announced, payload, created_at FROM notification ORDER BY id"
            ).fetchall()
            failed = db.execute("SELECT count(*) FROM poll_log WHERE result != 'ok'").fetchone()[0]
    watcher = Watcher(timeline.truths)
    for key, created, announced, payload, kind in _cycles(rows):
        watcher.record(key, kind, announced, payload, created)
    name = "dockwatch" if per_hour == PER_HOUR else f"dockwatch {per_hour}/h"
    return result_of(name, watcher, polls, failed, ll2)


def _cycles(
    rows: Sequence[tuple[str, str, int, str, str]],
) -> Iterable[tuple[str, datetime, bool, dict[str, object], str]]:
    """Each notification row, a departure folded into a relocation announced in the same cycle
    counted as announced (as ``Watcher.observe`` counts it)."""
    by_cycle: dict[str, list[tuple[str, str, int, str, str]]] = {}
    for row in rows:
        by_cycle.setdefault(row[4], []).append(row)
    baseline = rows[0][4] if rows else None
    for created, cycle in by_cycle.items():
        relocation = any(
            kind == ChangeKind.RELOCATED.value and announced for _, kind, announced, _, _ in cycle
        )
        moment = datetime.fromisoformat(created).replace(tzinfo=UTC)
        for key, kind, announced, payload, _ in cycle:
            folded = relocation and kind == ChangeKind.DEPARTED.value and created != baseline
            yield key, moment, bool(announced) or folded, json.loads(payload), kind


async def _serve_and_poll(
    timeline: Timeline, ll2: RateLimitedLL2, until: datetime, per_hour: int, database: Path
) -> int:
    clock = VirtualClock(START)
    runner = web.AppRunner(simulated_ll2(timeline, ll2, clock.now), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = config_from_mapping(
        {
            "api": {"base_url": f"http://127.0.0.1:{port}/2.3.0", "requests_per_hour": per_hour},
            "storage": {"url": f"sqlite:///{database}"},
            "poll": {"interval": "10m", "min_interval": "1m"},
            "run": {"failover": "3h"},  # one lease renewal an hour: the bench measures polls
        },
        source="bench",
        environ={},
    )
    polls = 0
    try:
        async with open_runtime(config, clock=clock.now) as app:
            service = Service(app, config, Metrics("bench"), timer=clock)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop, stop_bound=timedelta(seconds=1)))
            while True:
                # The poll loop and the lease loop asleep again: everything woken has done its work.
                await asyncio.wait_for(clock.settled(2), timeout=120)
                wakeup = clock.next_wakeup()
                if wakeup is None or wakeup > until:
                    break
                if wakeup == service.health.next_poll_at:
                    polls += 1
                clock.advance()
            stop.set()
            await task
    finally:
        await runner.cleanup()
    return polls


def run_fixed(
    timeline: Timeline, seed: int, until: datetime, polls_per_hour: Fraction, name: str
) -> RunResult:
    """A poll every ``1/polls_per_hour`` hours on an exact grid, whatever LL2 has announced."""
    ll2 = RateLimitedLL2(LL2_LIMIT)
    client = Client(timeline, ll2, random.Random(f"{seed}-network-{name}"))
    watcher = Watcher(timeline.truths)
    step_us = Fraction(3_600_000_000) / polls_per_hour
    polls = failed = 0
    moment = START
    while moment < until:
        outcome = client.poll(moment)
        if outcome.snapshot is None:
            failed += 1
        else:
            watcher.observe(outcome.snapshot, outcome.finished)
        polls += 1
        moment = START + timedelta(microseconds=math.floor(polls * step_us))
    return result_of(name, watcher, polls, failed, ll2)


def result_of(name: str, watcher: Watcher, polls: int, failed: int, ll2: RateLimitedLL2) -> RunResult:
    return RunResult(
        name,
        watcher.detected,
        watcher.unmatched,
        polls,
        failed,
        ll2.arrivals,
        ll2.docking_arrivals,
        ll2.rejected,
        watcher.announcements,
        watcher.notes,
    )


# --- report --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    """Latencies of one poller, split the way the issue's targets are."""

    scheduled: list[timedelta] = field(default_factory=list)
    unscheduled: list[timedelta] = field(default_factory=list)
    unscheduled_after_ll2: list[timedelta] = field(default_factory=list)
    dockings_after_ll2: list[timedelta] = field(default_factory=list)
    """Unscheduled docking, departure and relocation changes, from the moment LL2 showed them."""
    webcasts_after_ll2: list[timedelta] = field(default_factory=list)
    """Webcasts without a start time going live, from the moment LL2 showed them (issue 14)."""
    by_cause: dict[str, list[timedelta]] = field(default_factory=dict)
    missed: list[Truth] = field(default_factory=list)
    early: list[tuple[Truth, timedelta]] = field(default_factory=list)
    false: list[FalseAnnouncement] = field(default_factory=list)
    """Every announcement (first or ``#2``) made before its fact really happened."""
    wrong_retractions: list[Note] = field(default_factory=list)
    """Retractions of announcements that were not too early."""

    @property
    def retracted(self) -> list[FalseAnnouncement]:
        return [f for f in self.false if f.retraction is not None]

    @property
    def uncorrected(self) -> list[FalseAnnouncement]:
        """Never corrected: neither retracted nor its time refined in place (issue 10 counts both:
        a refinement edits the message readers saw to the time it really happened)."""
        return [f for f in self.false if f.correction is None]

    @property
    def correction_latency(self) -> list[timedelta]:
        """From each false announcement to its first correction, retraction or refinement."""
        return [f.correction.at - f.announcement.at for f in self.false if f.correction is not None]

    @property
    def again_lateness(self) -> list[timedelta]:
        """From the real event to the re-announcement that followed a retraction (negative: early again)."""
        return [f.again.at - f.truth.happened for f in self.false if f.again is not None]


RETRACTING = frozenset({Revision.RESCHEDULED, Revision.WITHDRAWN})


@dataclass(frozen=True, slots=True)
class FalseAnnouncement:
    """An announcement made before its fact happened, and what dockwatch said about it afterwards."""

    truth: Truth
    announcement: Announcement
    retraction: Note | None
    """The first correction (rescheduled or withdrawn) whose ``corrects`` is this announcement's key."""
    refinement: Note | None
    """The first refined-time update of it, which edits the time but does not retract it."""
    again: Announcement | None
    """The next revision's announcement (``docked:630#2``), if one came after the retraction."""

    @property
    def early_by(self) -> timedelta:
        return self.truth.happened - self.announcement.at

    @property
    def correction(self) -> Note | None:
        """The first correction of either kind: a retraction, or a refined time edited in place."""
        notes = [n for n in (self.retraction, self.refinement) if n is not None]
        return min(notes, key=lambda n: n.at, default=None)


def false_announcements(timeline: Timeline, result: RunResult) -> tuple[list[FalseAnnouncement], list[Note]]:
    """Announcements made before their real change, with their corrections; and wrong retractions."""
    found: list[FalseAnnouncement] = []
    early_keys: set[str] = set()
    for announcement in result.announcements:
        if announcement.truth is None:
            continue
        truth = timeline.truths[announcement.truth]
        if announcement.at >= truth.happened:
            continue
        early_keys.add(announcement.key)
        if not truth.measured:
            continue
        notes = [n for n in result.notes if n.corrects == announcement.key]
        retraction = next((n for n in notes if n.reason in RETRACTING), None)
        refinement = next((n for n in notes if n.reason is Revision.REFINED), None)
        base, revision = revision_of(announcement.key)
        next_key = revision_key(base, revision + 1)
        again = next((a for a in result.announcements if a.key == next_key), None)
        found.append(FalseAnnouncement(truth, announcement, retraction, refinement, again))
    wrong = [n for n in result.notes if n.reason in RETRACTING and n.corrects not in early_keys]
    return found, wrong


def summarise(timeline: Timeline, result: RunResult) -> Summary:
    """Match announcements to real changes: latency, early (announced before it happened), missed."""
    summary = Summary()
    for index, truth in enumerate(timeline.truths):
        if not truth.measured:
            continue
        at = result.detected.get(index)
        if at is None:
            summary.missed.append(truth)
            continue
        latency = at - truth.happened
        if latency < timedelta(0):
            summary.early.append((truth, -latency))
            continue
        (summary.scheduled if truth.scheduled else summary.unscheduled).append(latency)
        if not truth.scheduled:
            after_ll2 = at - max(truth.visible, truth.happened)
            summary.unscheduled_after_ll2.append(after_ll2)
            if truth.kind in ("docking", "departure"):
                summary.dockings_after_ll2.append(after_ll2)
        if truth.cause == "webcast_no_start_time":
            summary.webcasts_after_ll2.append(at - max(truth.visible, truth.happened))
        summary.by_cause.setdefault(f"{truth.kind}/{truth.cause}", []).append(latency)
    summary.false, summary.wrong_retractions = false_announcements(timeline, result)
    return summary


def percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def clock(value: timedelta | None) -> str:
    """A duration as m:ss."""
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 60}:{seconds % 60:02d}"


def pair(values: Sequence[timedelta]) -> str:
    return f"{clock(percentile(values, 0.5))} / {clock(percentile(values, 0.95))}"


def longest_gap(moments: Sequence[datetime]) -> timedelta | None:
    """The longest time LL2's docking list went unread (after the baseline)."""
    return max((b - a for a, b in itertools.pairwise(moments)), default=None)


def peak_per_hour(arrivals: Sequence[datetime]) -> int:
    """The most calls LL2 saw in any rolling hour (a window ending at each call)."""
    peak = oldest = 0
    for newest, moment in enumerate(arrivals):
        while arrivals[oldest] <= moment - HOUR:
            oldest += 1
        peak = max(peak, newest - oldest + 1)
    return peak


def table_cells(result: RunResult, summary: Summary) -> dict[str, str]:
    """One poller's row of the main table: the latency columns, then the corrections columns."""
    return {
        "poller": result.name,
        "scheduled p50 / p95": pair(summary.scheduled),
        "unscheduled p50 / p95": pair(summary.unscheduled),
        "unsched. from LL2 p50 / p95": pair(summary.unscheduled_after_ll2),
        "unsched. dockings from LL2 p50 / p95": pair(summary.dockings_after_ll2),
        "webcasts w/o start from LL2 p50 / p95": pair(summary.webcasts_after_ll2),
        "peak calls/h": str(peak_per_hour(result.arrivals)),
        "longest dockings gap": clock(longest_gap(result.docking_arrivals)),
        "violations": str(result.rejected),
        "polls": str(result.polls),
        "too early": str(len(summary.false)),
        "retracted": str(len(summary.retracted)),
        "uncorrected false": str(len(summary.uncorrected)),
        "correction p50 / p95": pair(summary.correction_latency),
        "#2 announced": str(len(summary.again_lateness)),
        "#2 late p50 / p95": pair(summary.again_lateness),
        "refined": str(sum(f.retraction is None and f.refinement is not None for f in summary.false)),
        "wrong retractions": str(len(summary.wrong_retractions)),
    }


TEXT_COLUMNS = frozenset({"seed", "poller"})
"""Left-aligned; every other column holds numbers and is right-aligned."""


def print_table(rows: Sequence[dict[str, str]], columns: Sequence[str]) -> None:
    """A markdown table of ``rows`` under ``columns``."""
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}

    def line(cells: dict[str, str]) -> str:
        return (
            "| "
            + " | ".join(f"{cells[c]:{'<' if c in TEXT_COLUMNS else '>'}{widths[c]}}" for c in columns)
            + " |"
        )

    print(line({c: c for c in columns}))
    print(
        "|"
        + "|".join(
            "-" * (widths[c] + 2) if c in TEXT_COLUMNS else "-" * (widths[c] + 1) + ":" for c in columns
        )
        + "|"
    )
    for row in rows:
        print(line(row))


MAIN_COLUMNS = (
    "poller",
    "scheduled p50 / p95",
    "unscheduled p50 / p95",
    "peak calls/h",
    "violations",
    "polls",
    "too early",
    "retracted",
    "uncorrected false",
    "correction p50 / p95",
    "#2 announced",
    "#2 late p50 / p95",
    "refined",
    "wrong retractions",
    "longest dockings gap",
)


def print_report(
    timeline: Timeline, results: Sequence[RunResult], days: int, seed: int
) -> list[dict[str, str]]:
    """The main table, the per-cause breakdown and what went wrong; returns the main table's rows."""
    truths = [t for t in timeline.truths if t.measured]
    scheduled = sum(t.scheduled for t in truths)
    print(
        f"{days} days, seed {seed}: {len(truths)} real changes ({scheduled} scheduled, "
        f"{len(truths) - scheduled} unscheduled), {len(timeline.dockings)} docking records, "
        f"{len(timeline.events)} events; LL2 limit {LL2_LIMIT} calls/hour, dockwatch budget {PER_HOUR}"
    )
    summaries = {r.name: summarise(timeline, r) for r in results}
    rows = [table_cells(r, summaries[r.name]) for r in results]
    print()
    print_table(rows, MAIN_COLUMNS)
    print("\nlatency in m:ss, nearest-rank percentiles; unscheduled latency counts LL2's own lag too.")
    print(
        "too early: announcements (first or #2) made before the real change; retracted: followed by a\n"
        "correction (rescheduled or withdrawn) of that key; refined: not retracted, but its time later\n"
        "edited in place to when it really happened (notification.updated); uncorrected false: neither;\n"
        "correction: from the announcement to its first correction of either kind; #2 late: from the\n"
        "real change to the re-announcement after a retraction (negative: early again); wrong\n"
        "retractions: of announcements that were not early."
    )

    print("\nunscheduled p50 / p95 from the moment LL2 showed the change (LL2's lag left out):")
    for result in results:
        print(f"  {result.name:<12} {pair(summaries[result.name].unscheduled_after_ll2)}")

    causes = sorted({f"{t.kind}/{t.cause}" for t in truths})
    print(f"\n{'by cause (n real changes)':<38}" + "".join(f"{r.name + ' p50/p95/max':>28}" for r in results))
    for cause in causes:
        count = sum(f"{t.kind}/{t.cause}" == cause for t in truths)
        cells = ""
        for result in results:
            values = summaries[result.name].by_cause.get(cause, [])
            worst = clock(max(values)) if values else "-"
            cells += f"{pair(values) + ' / ' + worst:>28}"
        print(f"  {cause:<30} {count:>4} {cells}")

    print()
    for result in results:
        summary = summaries[result.name]
        early = ", ".join(f"{t.kind}/{t.cause} {clock(ahead)} early" for t, ahead in summary.early)
        print(
            f"{result.name}: missed {len(summary.missed)}, announced too early {len(summary.early)}, "
            f"announced without a real change {len(result.unmatched)}, failed polls {result.failed_polls}"
            + (f"\n  too early: {early}" if early else "")
        )

    print(
        "\ntoo-early announcements and their corrections (times from the announcement; real: from the event):"
    )
    for result in results:
        summary = summaries[result.name]
        refined = sum(f.retraction is None and f.refinement is not None for f in summary.false)
        print(
            f"{result.name}: too early {len(summary.false)}, retracted {len(summary.retracted)}, "
            f"refined in place {refined}, uncorrected {len(summary.uncorrected)}, "
            f"retractions of announcements that were not early {len(summary.wrong_retractions)}, "
            f"corrections sent {len(result.notes)}"
        )
        for false in summary.false:
            print(f"  {describe_false(false)}")

    print(
        "\ntargets (issue 14): scheduled p95 <= 0:45; from LL2 showing them, unscheduled docking changes"
        " p95 <= 6:00 and webcasts without a start time p95 <= 6:00; 0 violations; nothing missed"
    )
    print_verdicts(
        results,
        summaries,
        lambda result, summary: [
            ("scheduled", meets(summary.scheduled, SCHEDULED_TARGET_14)),
            ("unscheduled dockings", meets(summary.dockings_after_ll2, UNSCHEDULED_TARGET_14)),
            ("webcasts without a start time", meets(summary.webcasts_after_ll2, UNSCHEDULED_TARGET_14)),
            ("violations", "met" if result.rejected == 0 else "MISSED"),
            ("nothing missed", "met" if not summary.missed else "MISSED"),
        ],
    )
    print("\ntargets (issue 3): scheduled p95 <= 2:00, unscheduled p95 <= 10:00 (base interval), no 429")
    print("target (issue 10): no uncorrected false announcement")
    print_verdicts(
        results,
        summaries,
        lambda result, summary: [
            ("scheduled", meets(summary.scheduled, SCHEDULED_TARGET)),
            ("unscheduled from the real change", meets(summary.unscheduled, UNSCHEDULED_TARGET)),
            ("from LL2 showing it", meets(summary.unscheduled_after_ll2, UNSCHEDULED_TARGET)),
            ("violations", "met" if result.rejected == 0 else "MISSED"),
            ("uncorrected false", "met" if not summary.uncorrected else "MISSED"),
        ],
    )
    return rows


def describe_false(false: FalseAnnouncement) -> str:
    """One too-early announcement and what followed it, for the report."""
    truth, announced = false.truth, false.announcement.at
    text = f"{false.announcement.key} ({truth.kind}/{truth.cause}) {clock(false.early_by)} early: "
    if false.retraction is not None:
        text += f"{false.retraction.reason.value} after {clock(false.retraction.at - announced)}"
        if false.again is not None:
            text += f", {false.again.key} {clock(false.again.at - truth.happened)} after the real change"
        else:
            text += ", never announced again"
    else:
        text += "never retracted"
    if false.refinement is not None:
        after = false.refinement.at - announced
        real = false.refinement.at - truth.happened
        text += f"; time refined after {clock(after)} (real +{clock(real)})"
    return text


def print_verdicts(
    results: Sequence[RunResult],
    summaries: Mapping[str, Summary],
    checks: Callable[[RunResult, Summary], list[tuple[str, str]]],
) -> None:
    """One line per poller: each target's name and whether it was met."""
    for result in results:
        verdicts = checks(result, summaries[result.name])
        print(f"  {result.name:<12} " + "; ".join(f"{name} {verdict}" for name, verdict in verdicts))


def meets(values: Sequence[timedelta], target: timedelta) -> str:
    p95 = percentile(values, 0.95)
    return "met" if p95 is None or p95 <= target else "MISSED"


SEEDS_COLUMNS = (
    "seed",
    *MAIN_COLUMNS[:3],
    "unsched. from LL2 p50 / p95",
    "unsched. dockings from LL2 p50 / p95",
    "webcasts w/o start from LL2 p50 / p95",
    *MAIN_COLUMNS[3:5],
    *MAIN_COLUMNS[6:],
)


POOLED_COLUMNS = (
    "poller",
    "scheduled p50 / p95",
    "unsched. dockings from LL2 p50 / p95",
    "webcasts w/o start from LL2 p50 / p95",
    "violations",
    "missed",
    "longest dockings gap",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="one or more seeds")
    parser.add_argument(
        "--budget",
        type=int,
        nargs="+",
        default=[PER_HOUR],
        help="dockwatch budgets (calls/hour) to run the planner with; LL2 allows one call more each",
    )
    args = parser.parse_args()
    every: list[dict[str, str]] = []
    pooled: dict[str, Summary] = {}
    violations: dict[str, int] = {}
    gaps: dict[str, timedelta] = {}
    for number, seed in enumerate(args.seed):
        if number:
            print("\n" + "=" * 100 + "\n")
        timeline = TimelineBuilder(seed, args.days).build()
        until = START + timedelta(days=args.days) + DRAIN
        results = [
            *(run_service(timeline, seed, until, budget) for budget in args.budget),
            run_fixed(timeline, seed, until, Fraction(7), "fixed 8.57m"),
            run_fixed(timeline, seed, until, Fraction(6), "fixed 10m"),
        ]
        rows = print_report(timeline, results, args.days, seed)
        every.extend({"seed": str(seed), **row} for row in rows)
        for result in results:
            summary = summarise(timeline, result)
            pool = pooled.setdefault(result.name, Summary())
            pool.scheduled += summary.scheduled
            pool.dockings_after_ll2 += summary.dockings_after_ll2
            pool.webcasts_after_ll2 += summary.webcasts_after_ll2
            pool.missed += summary.missed
            violations[result.name] = violations.get(result.name, 0) + result.rejected
            gap = longest_gap(result.docking_arrivals) or timedelta(0)
            gaps[result.name] = max(gaps.get(result.name, timedelta(0)), gap)
    if len(args.seed) > 1:
        print(f"\nall seeds, {args.days} days:\n")
        print_table(every, SEEDS_COLUMNS)
        print(f"\nissue 14 targets over all seeds' changes pooled ({args.days} days each):\n")
        print_table(
            [
                {
                    "poller": name,
                    "scheduled p50 / p95": pair(pool.scheduled),
                    "unsched. dockings from LL2 p50 / p95": pair(pool.dockings_after_ll2),
                    "webcasts w/o start from LL2 p50 / p95": pair(pool.webcasts_after_ll2),
                    "violations": str(violations[name]),
                    "missed": str(len(pool.missed)),
                    "longest dockings gap": clock(gaps[name]),
                }
                for name, pool in pooled.items()
            ],
            POOLED_COLUMNS,
        )


if __name__ == "__main__":
    main()
