"""When to poll LL2 next: densely around moments LL2 has announced, sparsely otherwise, always in budget.

Pure functions over plain data (no I/O, no clock: ``now`` is passed in), tested table-driven.

LL2 tells us ahead of time when most changes will happen: planned docking and departure times in
docking records, event dates, and the planned start of each webcast. Those *exact moments* get a
poll a few seconds after they pass, because detection announces a planned change as soon as its
time is in the past. An event's date also opens a *window* (webcasts go live up to 30 minutes
before the event) in which polls come every ``min_interval``, or as often as the hourly budget can
sustain if that is less often. Outside
all that, polls come every ``interval``. A poll is never planned where it would break the rolling
hourly budget, and a cheap poll is skipped when it would leave no budget for an exact moment
within the hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from dockwatch.bot.model import KINDS, DockingRecord, Event, Moment

WINDOW = timedelta(hours=1)
SETTLE = timedelta(seconds=20)
"""Polling this long after a planned moment lets LL2's clock and ours disagree a little."""
WEBCAST_LEAD = timedelta(minutes=35)
WEBCAST_TAIL = timedelta(minutes=15)
HORIZON = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class PlanState:
    """What the planner needs to know about LL2's data and our own polling."""

    interval: timedelta
    min_interval: timedelta
    last_poll: datetime | None = None
    exact_moments: tuple[datetime, ...] = ()
    windows: tuple[tuple[datetime, datetime], ...] = ()
    poll_at: tuple[datetime, ...] = ()
    """Polls wanted at exactly these times (shortly before reminders), not ``SETTLE`` after."""


@dataclass(frozen=True, slots=True)
class BudgetView:
    """The rolling budget: calls already made (any order), the allowance, and a hold from LL2."""

    per_hour: int
    calls: tuple[datetime, ...] = ()
    hold_until: datetime | None = None
    calls_per_poll: int = 2

    def affordable(self, at: datetime, extra: Sequence[datetime] = ()) -> bool:
        """Whether a poll at ``at`` fits, counting ``extra`` planned polls as already made."""
        if self.hold_until is not None and at < self.hold_until:
            return False
        made = sum(1 for call in self.calls if at - WINDOW < call <= at)
        planned = sum(self.calls_per_poll for poll in extra if at - WINDOW < poll <= at)
        return made + planned + self.calls_per_poll <= self.per_hour

    def earliest(self, at: datetime, extra: Sequence[datetime] = ()) -> datetime:
        """The first moment at or after ``at`` when a poll fits."""
        if self.hold_until is not None:
            at = max(at, self.hold_until)
        # Affordability only changes when a call leaves the window: try ``at`` and those instants.
        expiries = sorted({call + WINDOW for call in (*self.calls, *extra) if call + WINDOW > at})
        for candidate in (at, *expiries):
            if self.affordable(candidate, extra):
                return candidate
        return at + WINDOW  # unreachable unless per_hour < calls_per_poll


def moments_from(
    dockings: Iterable[DockingRecord], events: Iterable[Event], recorded_keys: frozenset[str], now: datetime
) -> tuple[tuple[datetime, ...], tuple[tuple[datetime, datetime], ...]]:
    """Exact moments and webcast windows worth polling for, from what LL2 last told us.

    Each kind's row in the kinds table names the moment that kind happens at; kinds sharing a
    moment (docked and relocated) share its polls.
    """
    dockings, events = tuple(dockings), tuple(events)
    exact: set[datetime] = set()
    windows: set[tuple[datetime, datetime]] = set()
    horizon = now + HORIZON
    for spec in KINDS.values():
        match spec.moment:
            case Moment.DOCKING:
                exact.update(
                    r.docking for r in dockings if r.docking is not None and now < r.docking <= horizon
                )
            case Moment.DEPARTURE:
                exact.update(
                    r.departure for r in dockings if r.departure is not None and now < r.departure <= horizon
                )
            case Moment.EVENT_WINDOW:
                for event in events:
                    if spec.key(event.id) in recorded_keys:
                        continue
                    for webcast in event.webcasts:
                        if webcast.start_time is not None and now < webcast.start_time <= horizon:
                            exact.add(webcast.start_time)
                    if event.date is not None and now - WEBCAST_TAIL < event.date <= horizon:
                        windows.add((event.date - WEBCAST_LEAD, event.date + WEBCAST_TAIL))
            case None:
                pass  # reminders are planned from the lead times in use, not from the kinds table
            case _:
                assert_never(spec.moment)
    return tuple(sorted(exact)), tuple(sorted(windows))


def plan_next_poll(state: PlanState, budget: BudgetView, now: datetime) -> datetime:
    """The time of the next poll: never before ``now``, never outside the budget."""
    floor = now if state.last_poll is None else max(now, state.last_poll + state.min_interval)
    since = state.last_poll or now - state.interval
    due_exact = sorted(
        {max(floor, m + SETTLE) for m in state.exact_moments if m + SETTLE > since}
        | {max(floor, m) for m in state.poll_at if m > since}
    )

    wanted = now if state.last_poll is None else state.last_poll + state.interval
    if due_exact:
        wanted = min(wanted, due_exact[0])
    # Inside a window, poll as densely as the budget can keep up with for a whole hour: bursting at
    # the window's start would leave nothing for the moment the webcast actually goes live.
    pace = max(state.min_interval, WINDOW * budget.calls_per_poll / budget.per_hour)
    paced = floor if state.last_poll is None else max(floor, state.last_poll + pace)
    for start, end in state.windows:
        if end >= floor:
            wanted = min(wanted, max(paced, start))
    wanted = max(wanted, floor)

    chosen = budget.earliest(wanted)
    # Keep enough budget for every exact moment in the coming hour; if this poll would starve one,
    # poll at that moment instead.
    reserved = [m for m in due_exact if chosen < m <= chosen + WINDOW]
    if reserved and not _leaves_room(budget, chosen, reserved):
        chosen = budget.earliest(reserved[0])
    return chosen


def _leaves_room(budget: BudgetView, poll: datetime, moments: Sequence[datetime]) -> bool:
    planned = [poll]
    for moment in moments:
        if not budget.affordable(moment, planned):
            return False
        planned.append(moment)
    return True
