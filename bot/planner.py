"""When to poll which LL2 endpoint next: each when something can change there, always in budget.

Pure functions over plain data (no I/O, no clock: ``now`` is passed in), tested table-driven.

``/docking_events/`` and ``/events/upcoming/`` cost one call each, and most of the time only one of
them can tell us anything new, so each has a schedule of its own inside the one hourly budget:

* LL2 says ahead of time when most changes will happen: planned docking and departure times,
  webcast start times, and the moments reminders are due. Those *exact moments* get a poll of
  their endpoint a few seconds after they pass (reminders: shortly before). A paced read that
  would fall less than ``min_interval`` before one waits for it instead: read just before, it
  would hold the exact poll back by ``min_interval``.
* A docking LL2 never announced can show up at any time, so dockings are also read at a *steady
  pace*: as densely as the budget sustains after the events' floor and a spare for exact moments
  (6 minutes at the free tier's 14 calls an hour), a pace never sparser than ``interval``; while
  a webcast window or planned moments need the budget, the dockings wait for them (``bench/latency.py``
  reports the longest gap).
* A webcast without a start time goes live somewhere around its event's date: from
  ``WEBCAST_LEAD`` before it until ``WEBCAST_TAIL`` after it the events are read at the steady
  pace and dockings at half of it, so the two together stay near the budget; an hour either side
  (``FRINGE_*``) at two steady paces, for dates LL2 corrects only after the event. Fringe reads
  rank with the steady ones: webcasts rarely go live there, and ranked above the dockings they
  took the budget the dockings' pace needs. A stream with a start time is polled for at that
  time, and its event read densely from then until ``WEBCAST_TAIL`` after the event's date, or
  after the start time when that is the later (it has no fringe: the start time is polled for
  exactly).
* Outside windows, events are read at a *floor* pace (five steady paces: 30 minutes at the free
  tier) for dates that move and webcasts LL2 flags live where no date said they would be.

A poll is never planned where it would break the rolling hourly budget. When the budget is short,
exact moments go first, then window polls, then steady ones; a poll is put off when it would leave
no budget for an exact moment within the hour, or (a steady one) for the window polls of the
hour: the next one (a window read, or the exact one that took its place), and every later one at
the window's pace while a window already open lasts. Once the dockings are unread
for ``STARVED`` of their in-window paces, a dockings read keeps room for the next window read only:
two overlapping windows and a cluster of planned dockings would otherwise hold their steady reads
off for over an hour.
The constants were tuned with ``bench/latency.py`` (see bench/README.md).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import assert_never

from dockwatch.bot.model import ALL_ENDPOINTS, KINDS, DockingRecord, Endpoint, Event, Moment

WINDOW = timedelta(hours=1)
SETTLE = timedelta(seconds=20)
"""Polling this long after a planned moment lets LL2's clock and ours disagree a little."""
WEBCAST_LEAD = timedelta(minutes=45)
WEBCAST_TAIL = timedelta(minutes=30)
"""Webcasts go live up to half an hour before their event's date: the window is read densely."""
FRINGE_LEAD = timedelta(minutes=60)
FRINGE_TAIL = timedelta(minutes=60)
FRINGE_PACE = 2.0
"""Around the window, read at twice its pace: for dates LL2 corrects only after the event was
early or late."""
HORIZON = timedelta(days=8)
LOOKBACK = timedelta(hours=1)
"""Moments this recent are still handed to the planner, which drops those its endpoint's last poll
already covered: a re-plan between a moment and its poll (after the other endpoint's poll, a
restart, a poll the budget put off) must not lose that poll."""
EVENTS_FLOOR = 5
"""Outside webcast windows, events are read once every this many steady paces."""
STARVED = 2
"""Dockings unread for this many of their in-window paces (24 minutes at the free tier) stop making
room for every later window read of the hour, only for the next one."""
SPARE_PER_HOUR = 2
"""Calls an hour the steady paces leave unspent, for exact moments and webcast windows."""


@dataclass(frozen=True, slots=True)
class Watch:
    """What the planner knows about one endpoint: its last poll and the moments worth polling it."""

    last_poll: datetime | None = None
    exact_moments: tuple[datetime, ...] = ()
    """Planned changes: poll ``SETTLE`` after each."""
    poll_at: tuple[datetime, ...] = ()
    """Polls wanted at exactly these times (shortly before reminders), not ``SETTLE`` after."""


@dataclass(frozen=True, slots=True)
class PlanState:
    """What the planner needs to know about LL2's data and our own polling."""

    interval: timedelta
    """The sparsest steady pace of the dockings, whatever the budget would allow. Not a bound on
    their gaps: planned moments and open webcast windows go first when the budget is short, and a
    read due less than ``min_interval`` before a planned moment waits for it (bench/latency.py
    reports the longest gap)."""
    min_interval: timedelta
    """The shortest time between two reads of one endpoint."""
    dockings: Watch = Watch()
    events: Watch = Watch()
    windows: tuple[tuple[datetime, datetime], ...] = ()
    """Spans in which a webcast is likely to go live: the events are read at the steady pace."""
    fringes: tuple[tuple[datetime, datetime], ...] = ()
    """Spans in which a webcast can go live if LL2's date is off: read at ``FRINGE_PACE`` times it."""

    def watch(self, endpoint: Endpoint) -> Watch:
        match endpoint:
            case Endpoint.DOCKINGS:
                return self.dockings
            case Endpoint.EVENTS:
                return self.events
            case _:
                assert_never(endpoint)


@dataclass(frozen=True, slots=True)
class PlannedPoll:
    """The next poll: when, and which endpoints it reads."""

    at: datetime
    endpoints: frozenset[Endpoint]


@dataclass(frozen=True, slots=True)
class BudgetView:
    """The rolling budget: calls already made (any order), the allowance, and a hold from LL2."""

    per_hour: int
    calls: tuple[datetime, ...] = ()
    hold_until: datetime | None = None

    def affordable(self, at: datetime, extra: Sequence[datetime] = (), calls: int = 1) -> bool:
        """Whether ``calls`` calls at ``at`` fit, counting ``extra`` planned calls as already made."""
        if self.hold_until is not None and at < self.hold_until:
            return False
        made = sum(1 for call in self.calls if at - WINDOW < call <= at)
        planned = sum(1 for call in extra if at - WINDOW < call <= at)
        return made + planned + calls <= self.per_hour

    def affords_each(self, moments: Iterable[datetime], planned: Sequence[datetime] = ()) -> bool:
        """Whether a call at each of ``moments`` fits, each counting ``planned`` and the moments
        before it as made: ``affordable`` for each in time order, counted by bisection instead of
        over every call. A plan at 100,000 calls an hour holds thousands of calls and projects
        thousands of window reads: one moment at a time, that took 1.7 s of the event loop a plan
        (``bench/planning.py``)."""
        made = sorted(self.calls)
        taken = sorted(planned)
        for moment in sorted(moments):
            if self.hold_until is not None and moment < self.hold_until:
                return False
            since = moment - WINDOW
            counted = _between(made, since, moment) + _between(taken, since, moment)
            if counted + 1 > self.per_hour:
                return False
            insort(taken, moment)
        return True

    def earliest(self, at: datetime, extra: Sequence[datetime] = (), calls: int = 1) -> datetime:
        """The first moment at or after ``at`` when ``calls`` calls fit."""
        if self.hold_until is not None:
            at = max(at, self.hold_until)
        # Affordability only changes when a call leaves the window: try ``at`` and those instants.
        expiries = sorted({call + WINDOW for call in (*self.calls, *extra) if call + WINDOW > at})
        for candidate in (at, *expiries):
            if self.affordable(candidate, extra, calls):
                return candidate
        return at + WINDOW  # unreachable unless per_hour < calls


@dataclass(frozen=True, slots=True)
class Paces:
    """How often each endpoint is read when no exact moment calls for it."""

    dockings: timedelta
    dockings_in_window: timedelta
    events: timedelta
    events_in_window: timedelta


def paces(per_hour: int, interval: timedelta, min_interval: timedelta) -> Paces:
    """The steady paces a budget of ``per_hour`` calls sustains.

    Dockings at rate ``r`` and the events' floor at ``r / EVENTS_FLOOR`` leave ``SPARE_PER_HOUR``
    of the budget unspent; inside a window the events take the steady pace and dockings half of it.
    """
    rate = max(1.0, (per_hour - SPARE_PER_HOUR) / (1 + 1 / EVENTS_FLOOR))
    steady = min(interval, max(min_interval, WINDOW / rate))
    return Paces(
        dockings=steady,
        dockings_in_window=2 * steady,
        events=EVENTS_FLOOR * steady,
        events_in_window=1 * steady,
    )


class _Why(IntEnum):
    """Why an endpoint wants a poll, most urgent first: the order polls go in when the budget is short."""

    EXACT = 0
    WINDOW = 1
    STEADY = 2


@dataclass(frozen=True, slots=True)
class _Want:
    endpoint: Endpoint
    at: datetime
    why: _Why
    exact: tuple[datetime, ...]
    """This endpoint's exact moments still to come, for the budget reservation."""


@dataclass(frozen=True, slots=True)
class Moments:
    """What LL2 last told us is worth polling for, by endpoint."""

    dockings: tuple[datetime, ...] = ()
    events: tuple[datetime, ...] = ()
    windows: tuple[tuple[datetime, datetime], ...] = ()
    fringes: tuple[tuple[datetime, datetime], ...] = ()


def moments_from(
    dockings: Iterable[DockingRecord], events: Iterable[Event], recorded_keys: frozenset[str], now: datetime
) -> Moments:
    """Exact moments of each endpoint and webcast windows worth polling for.

    Each kind's row in the kinds table names the moment that kind happens at; kinds sharing a
    moment (docked and relocated) share its polls. An event whose webcast was announced has no
    window any more. A stream with a start time is polled for at that time; only if it is not live
    by then is its event late, and read densely from then on. Only an event without a start time
    has fringes: a start time is polled for exactly, and its fringe reads took the budget the
    dockings' pace needs.
    """
    dockings, events = tuple(dockings), tuple(events)
    since = now - LOOKBACK
    docking_moments: set[datetime] = set()
    event_moments: set[datetime] = set()
    windows: set[tuple[datetime, datetime]] = set()
    fringes: set[tuple[datetime, datetime]] = set()
    horizon = now + HORIZON
    for spec in KINDS.values():
        match spec.moment:
            case Moment.DOCKING:
                docking_moments.update(
                    r.docking for r in dockings if r.docking is not None and since < r.docking <= horizon
                )
            case Moment.DEPARTURE:
                docking_moments.update(
                    r.departure
                    for r in dockings
                    if r.departure is not None and since < r.departure <= horizon
                )
            case Moment.EVENT_WINDOW:
                for event in events:
                    if spec.key(event.id) in recorded_keys:
                        continue
                    starts = [w.start_time for w in event.webcasts if w.start_time is not None]
                    event_moments.update(start for start in starts if since < start <= horizon)
                    if event.date is not None and event.date <= horizon:
                        lead = min(starts, default=event.date - WEBCAST_LEAD)
                        settles = max(event.date, lead)  # a stream starting late is late after its start
                        if now - FRINGE_TAIL < settles:
                            windows.add((lead, settles + WEBCAST_TAIL))
                            if not starts:
                                fringes.add((event.date - FRINGE_LEAD, event.date + FRINGE_TAIL))
            case None:
                pass  # reminders are planned from the lead times in use, not from the kinds table
            case _:
                assert_never(spec.moment)
    return Moments(
        tuple(sorted(docking_moments)),
        tuple(sorted(event_moments)),
        tuple(sorted(windows)),
        tuple(sorted(fringes)),
    )


def plan_next_poll(state: PlanState, budget: BudgetView, now: datetime) -> PlannedPoll:
    """The next poll: never before ``now``, never outside the budget.

    A process that has not read both endpoints yet reads both at once; after that, the endpoint
    wanted first is read alone, or both when both are wanted by then.
    """
    if state.dockings.last_poll is None or state.events.last_poll is None:
        return PlannedPoll(budget.earliest(now, calls=len(ALL_ENDPOINTS)), ALL_ENDPOINTS)
    pace = paces(budget.per_hour, state.interval, state.min_interval)
    wants = sorted(
        (_wanted(state, endpoint, pace, now) for endpoint in Endpoint), key=lambda w: (w.at, w.why)
    )
    first = wants[0]
    chosen = budget.earliest(first.at)
    # The budget may push the poll back; by then another endpoint may be due too. Read it as well
    # if that fits, else the more urgent one alone.
    due = [w for w in wants if w.at <= chosen]
    due.sort(key=lambda w: (w.why, w.at))
    if len(due) > 1 and budget.affordable(chosen, calls=len(due)):
        endpoints = frozenset(w.endpoint for w in due)
    else:
        endpoints = frozenset({due[0].endpoint})
    # Keep enough budget for every exact moment in the coming hour, and for the window polls of
    # the hour when this one is only a steady one; if this poll would starve one, poll for that
    # instead.
    urgency = min(w.why for w in wants if w.endpoint in endpoints)
    # ... all of them while the dockings are read at all: once ``STARVED`` window paces late, a
    # dockings read keeps room for the next window read only, or windows and planned moments
    # together could hold the dockings off for over an hour.
    starved = (
        Endpoint.DOCKINGS in endpoints
        and chosen - state.dockings.last_poll > STARVED * pace.dockings_in_window
    )
    reserved = sorted(
        {
            (moment, want.endpoint)
            for want in wants
            for moment in want.exact
            if chosen < moment <= chosen + WINDOW
        }
        | {
            (at, w.endpoint)
            for w in wants
            if w.why < urgency
            for at in ((w.at,) if starved else _window_reads(state, w, pace, chosen))
            if chosen < at <= chosen + WINDOW
        }
    )
    if reserved and not budget.affords_each((m for m, _ in reserved), [chosen] * len(endpoints)):
        moment, endpoint = reserved[0]
        return PlannedPoll(budget.earliest(moment), frozenset({endpoint}))
    return PlannedPoll(chosen, endpoints)


def _wanted(state: PlanState, endpoint: Endpoint, pace: Paces, now: datetime) -> _Want:
    """When ``endpoint`` wants its next read, and why."""
    watch = state.watch(endpoint)
    last = watch.last_poll
    assert last is not None
    floor = max(now, last + state.min_interval)
    exact = sorted(
        {max(floor, m + SETTLE) for m in watch.exact_moments if m + SETTLE > last}
        | {max(floor, m) for m in watch.poll_at if m > last}
    )
    live = [(start, end) for start, end in state.windows if end >= floor]
    match endpoint:
        case Endpoint.DOCKINGS:
            steady = last + pace.dockings
            inside = [(start, end) for start, end in live if start <= steady <= end]
            if inside:
                # Half pace while a webcast may go live, back to full pace when its window closes.
                steady = min(last + pace.dockings_in_window, max(end for _, end in inside))
            want = _Want(endpoint, max(floor, steady), _Why.STEADY, tuple(exact))
        case Endpoint.EVENTS:
            want = _Want(endpoint, max(floor, last + pace.events), _Why.STEADY, tuple(exact))
            for spans, every, why in (
                (state.windows, pace.events_in_window, _Why.WINDOW),
                (state.fringes, FRINGE_PACE * pace.events_in_window, _Why.STEADY),
            ):
                paced = max(floor, last + every)
                for start, end in spans:
                    at = max(paced, start)
                    if at <= end and at < want.at:
                        want = _Want(endpoint, at, why, tuple(exact))
        case _:
            assert_never(endpoint)
    if exact and exact[0] < want.at + state.min_interval:
        return _Want(endpoint, exact[0], _Why.EXACT, tuple(exact))
    return want


def _window_reads(state: PlanState, want: _Want, pace: Paces, now: datetime) -> list[datetime]:
    """The poll ``want`` asks for and, for an events poll inside an open window (a window read, or
    an exact one that took its place), the window's later reads within the hour.

    Only windows open at ``now`` are projected: one still to open may close at its first read (a
    webcast start time that comes true).
    """
    reads = [want.at]
    if want.endpoint is not Endpoint.EVENTS or want.why is _Why.STEADY:
        return reads
    open_now = [(start, end) for start, end in state.windows if start <= now]
    at = want.at + pace.events_in_window
    while at <= now + WINDOW and any(start <= at <= end for start, end in open_now):
        reads.append(at)
        at += pace.events_in_window
    return reads


def _between(ordered: Sequence[datetime], after: datetime, until: datetime) -> int:
    """How many of ``ordered`` (ascending) lie in ``(after, until]``."""
    return bisect_right(ordered, until) - bisect_right(ordered, after)
