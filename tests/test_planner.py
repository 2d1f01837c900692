"""The poll planner: each endpoint read when something can change there, never outside the budget."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dockwatch.bot.model import ALL_ENDPOINTS, DockingRecord, Endpoint, Event, Port, Webcast
from dockwatch.bot.planner import (
    FRINGE_LEAD,
    FRINGE_TAIL,
    SETTLE,
    WEBCAST_LEAD,
    WEBCAST_TAIL,
    BudgetView,
    PlannedPoll,
    PlanState,
    Watch,
    moments_from,
    paces,
    plan_next_poll,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)
INTERVAL = timedelta(minutes=10)
DOCKINGS, EVENTS = frozenset({Endpoint.DOCKINGS}), frozenset({Endpoint.EVENTS})


def minutes(n: float) -> datetime:
    return NOW + timedelta(minutes=n)


def state(
    *,
    docked: float | None = 0,
    evented: float | None = 0,
    exact: tuple[float, ...] = (),
    webcasts: tuple[float, ...] = (),
    windows: tuple[tuple[float, float], ...] = (),
    fringes: tuple[tuple[float, float], ...] = (),
    poll_at: tuple[float, ...] = (),
) -> PlanState:
    """Last polls of the dockings and the events, docking moments, webcast starts, windows, fringes."""
    return PlanState(
        interval=INTERVAL,
        min_interval=MIN,
        dockings=Watch(
            None if docked is None else minutes(docked),
            tuple(minutes(m) for m in exact),
            tuple(minutes(m) for m in poll_at),
        ),
        events=Watch(None if evented is None else minutes(evented), tuple(minutes(m) for m in webcasts)),
        windows=tuple((minutes(a), minutes(b)) for a, b in windows),
        fringes=tuple((minutes(a), minutes(b)) for a, b in fringes),
    )


def budget(*calls_at: float, per_hour: int = 14, hold: float | None = None) -> BudgetView:
    return BudgetView(
        per_hour=per_hour,
        calls=tuple(minutes(m) for m in calls_at),
        hold_until=None if hold is None else minutes(hold),
    )


@pytest.mark.parametrize(
    ("plan", "calls", "expected"),
    [
        (state(docked=None, evented=None), budget(), PlannedPoll(NOW, ALL_ENDPOINTS)),
        (state(evented=None), budget(0), PlannedPoll(NOW, ALL_ENDPOINTS)),
        (state(), budget(0, 0), PlannedPoll(minutes(6), DOCKINGS)),
        (state(docked=5, evented=0), budget(0, 5), PlannedPoll(minutes(11), DOCKINGS)),
        (state(docked=25, evented=0), budget(0, 25), PlannedPoll(minutes(30), EVENTS)),
        (state(docked=24, evented=0), budget(0, 24), PlannedPoll(minutes(30), ALL_ENDPOINTS)),
        (state(exact=(4,)), budget(0, 0), PlannedPoll(minutes(4) + SETTLE, DOCKINGS)),
        (state(exact=(0.2,)), budget(0, 0), PlannedPoll(minutes(1), DOCKINGS)),
        (state(webcasts=(3,)), budget(0, 0), PlannedPoll(minutes(3) + SETTLE, EVENTS)),
        (state(exact=(-5,)), budget(0, 0), PlannedPoll(minutes(6), DOCKINGS)),
        (state(windows=((2, 60),), evented=-10), budget(0, -10), PlannedPoll(minutes(2), EVENTS)),
        (state(windows=((-3, 60),), docked=0, evented=-1), budget(0, -1), PlannedPoll(minutes(5), EVENTS)),
        (state(windows=((-60, -1),)), budget(0, 0), PlannedPoll(minutes(6), DOCKINGS)),
        (state(poll_at=(4,)), budget(0, 0), PlannedPoll(minutes(4), DOCKINGS)),
        (state(poll_at=(0,)), budget(0, 0), PlannedPoll(minutes(6), DOCKINGS)),
        (state(poll_at=(4,)), budget(*[-30] * 14), PlannedPoll(minutes(30), ALL_ENDPOINTS)),
    ],
    ids=[
        "first poll of a process: both endpoints at once",
        "an endpoint never read: both at once",
        "nothing near: the dockings at the steady pace",
        "the dockings are read more often than the events",
        "the events' floor pace comes round",
        "both due together: one poll reads both",
        "a planned docking: the dockings just after it",
        "a moment right after the last poll: not before min_interval",
        "a webcast start time: the events just after it",
        "a moment already covered by the last poll: ignored",
        "a window opening: the events at its start",
        "inside a window: the events at the steady pace",
        "a window that has closed: ignored",
        "shortly before a reminder: at the time asked, not after it",
        "a reminder poll the last poll already made: ignored",
        "a reminder poll the budget cannot afford: when it can (the events' floor is due by then too)",
    ],
)
def test_the_next_poll_reads_the_endpoint_something_can_change_at(
    plan: PlanState, calls: BudgetView, expected: PlannedPoll
) -> None:
    assert plan_next_poll(plan, calls, NOW) == expected


def test_the_steady_pace_spends_the_budget_the_events_floor_and_the_spare_leave() -> None:
    free = paces(14, INTERVAL, MIN)
    paid = paces(60, INTERVAL, MIN)

    assert (free.dockings, free.events, free.events_in_window) == (
        timedelta(minutes=6),
        timedelta(minutes=30),
        timedelta(minutes=6),
    )
    assert free.dockings_in_window == 2 * free.dockings
    assert paid.dockings < timedelta(minutes=1, seconds=20)
    assert paces(6000, INTERVAL, MIN).dockings == MIN  # never denser than min_interval
    assert paces(4, INTERVAL, MIN).dockings == INTERVAL  # never sparser than interval


def test_inside_a_window_the_dockings_slow_to_half_pace() -> None:
    plan = state(windows=((0, 50),), docked=0, evented=5)

    assert plan_next_poll(plan, budget(0, 5), NOW) == PlannedPoll(minutes(11), EVENTS)
    later = state(windows=((0, 50),), docked=0, evented=11)
    assert plan_next_poll(later, budget(0, 5, 11), minutes(11)) == PlannedPoll(minutes(12), DOCKINGS)


def test_a_steady_read_due_just_before_an_exact_moment_waits_for_it() -> None:
    """Read at +6 the dockings could not be read again before +7 (min_interval): the planned
    docking at +5:50 would be seen a minute late. One read at +6:10 serves both."""
    plan = state(exact=(5 + 50 / 60,))

    assert plan_next_poll(plan, budget(0, 0), NOW) == PlannedPoll(minutes(5 + 50 / 60) + SETTLE, DOCKINGS)


def test_a_fringe_read_ranks_with_the_dockings_steady_read() -> None:
    """Both are due when the one call left comes free at +5: the dockings, due first at +1, get it."""
    plan = state(docked=-5, evented=-8, fringes=((-30, 60),))

    assert plan_next_poll(plan, budget(-55, *[-10] * 13), NOW) == PlannedPoll(minutes(5), DOCKINGS)


def test_a_poll_waits_until_the_oldest_calls_leave_the_hour() -> None:
    calls = budget(*range(-55, 1, 4), per_hour=14)  # 14 calls, oldest at -55

    assert plan_next_poll(state(exact=(0.5,)), calls, NOW) == PlannedPoll(minutes(5), DOCKINGS)


def test_a_hold_from_ll2_is_never_broken() -> None:
    assert plan_next_poll(state(exact=(2,)), budget(0, 0, hold=30), NOW).at == minutes(30)


def test_a_steady_poll_yields_to_an_exact_moment_it_would_starve() -> None:
    # 13 of 14 calls spent until +55: room for one poll before then, the docking's at +8.
    calls = budget(*[-5] * 13)

    assert plan_next_poll(state(exact=(8,)), calls, NOW) == PlannedPoll(minutes(8) + SETTLE, DOCKINGS)


def test_a_steady_poll_yields_to_the_window_poll_it_would_starve() -> None:
    # One call left until +55: the events' window poll at +4 gets it, not the dockings' steady one.
    plan = state(windows=((4, 60),), docked=-5, evented=-10)

    assert plan_next_poll(plan, budget(*[-5] * 13), NOW) == PlannedPoll(minutes(4), EVENTS)


def test_a_steady_poll_yields_to_the_later_window_polls_of_an_open_window() -> None:
    """Room for two calls until +20: the dockings' read at +2 would leave the events' window reads
    at +6 and +12 only one of them."""
    plan = state(windows=((-10, 60),), docked=-10, evented=0)

    assert plan_next_poll(plan, budget(*[-40] * 10, -10, 0), NOW) == PlannedPoll(minutes(6), EVENTS)


def test_a_steady_poll_yields_to_the_later_window_polls_when_the_next_one_is_a_webcast_start() -> None:
    """As above, with a start time at +6:30 taking the place of the +6 window read: the window's
    reads after it still need their room."""
    plan = state(windows=((-10, 60),), docked=-10, evented=0, webcasts=(6.5,))

    assert plan_next_poll(plan, budget(*[-40] * 10, -10, 0), NOW) == PlannedPoll(
        minutes(6.5) + timedelta(seconds=20), EVENTS
    )


def test_when_both_are_overdue_and_only_one_fits_the_more_urgent_goes_first() -> None:
    plan = state(windows=((-20, 60),), docked=-15, evented=-20)

    assert plan_next_poll(plan, budget(*[-59] * 13), NOW) == PlannedPoll(NOW, EVENTS)


def follow(
    per_hour: int,
    until: float,
    *,
    docking_moments: tuple[float, ...] = (),
    webcast_starts: tuple[float, ...] = (),
    windows: tuple[tuple[float, float], ...] = (),
) -> list[PlannedPoll]:
    """Every poll the planner asks for from ``NOW`` to ``until``, each made when it was planned."""
    polls: list[PlannedPoll] = []
    calls: list[datetime] = []
    last: dict[Endpoint, datetime] = {}
    now = NOW
    while now < minutes(until):
        plan = PlanState(
            interval=INTERVAL,
            min_interval=MIN,
            dockings=Watch(last.get(Endpoint.DOCKINGS), tuple(minutes(m) for m in docking_moments)),
            events=Watch(last.get(Endpoint.EVENTS), tuple(minutes(m) for m in webcast_starts)),
            windows=tuple((minutes(a), minutes(b)) for a, b in windows),
        )
        planned = plan_next_poll(plan, BudgetView(per_hour, tuple(calls)), now)
        polls.append(planned)
        now = planned.at
        calls += [now] * len(planned.endpoints)
        last.update(dict.fromkeys(planned.endpoints, now))
    return polls


def busiest_hour(polls: list[PlannedPoll]) -> int:
    """The most calls any rolling hour saw."""
    calls = [p.at for p in polls for _ in p.endpoints]
    return max(sum(1 for c in calls if t - timedelta(hours=1) < c <= t) for t in calls)


@pytest.mark.parametrize("per_hour", [2, 4, 14, 30, 60], ids=lambda n: f"{n} calls/hour")
def test_polling_as_planned_never_exceeds_the_budget(per_hour: int) -> None:
    """Follow the planner for six hours of windows and moments on both endpoints; count calls per
    rolling hour."""
    polls = follow(
        per_hour,
        360,
        docking_moments=tuple(range(3, 360, 7)),
        webcast_starts=tuple(range(5, 360, 11)),
        windows=((0, 120), (200, 360)),
    )

    assert busiest_hour(polls) <= per_hour


def test_overlapping_windows_and_a_cluster_of_planned_dockings_never_starve_the_dockings_for_long() -> None:
    """Once the dockings are ``STARVED`` window paces late, a steady read keeps room for the next
    window read only, not for all of them: two windows and four planned dockings within the hour
    would otherwise take every call (the dockings went unread for 75 minutes)."""
    polls = follow(14, 300, docking_moments=(225.5, 226.5, 227.5, 228.5), windows=((130, 205), (167, 242)))
    dockings_read = [p.at for p in polls if Endpoint.DOCKINGS in p.endpoints]

    longest = max(b - a for a, b in itertools.pairwise(dockings_read))
    assert longest <= timedelta(minutes=35), longest
    assert busiest_hour(polls) <= 14


def affordable_one_by_one(budget: BudgetView, moments: list[datetime], planned: list[datetime]) -> bool:
    """The rolling-hour rule as written: each moment in time order is ``affordable``, counting the
    planned calls and every earlier moment as made."""
    taken = list(planned)
    for moment in sorted(moments):
        if not budget.affordable(moment, taken):
            return False
        taken.append(moment)
    return True


offsets = st.lists(st.integers(min_value=-120, max_value=120), max_size=30)


@example(made=[-60], moments=[0], planned=[], per_hour=1, hold=None)  # a call just left the hour
@example(made=[], moments=[5], planned=[], per_hour=1, hold=5)  # the hold ends as the moment comes
@example(made=[], moments=[4], planned=[], per_hour=1, hold=5)  # a moment inside the hold
@given(
    made=offsets,
    moments=offsets,
    planned=st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    per_hour=st.integers(min_value=1, max_value=30),
    hold=st.none() | st.integers(min_value=-60, max_value=120),
)
def test_affording_each_moment_is_the_rolling_hour_rule_for_each_in_time_order(
    made: list[int], moments: list[int], planned: list[int], per_hour: int, hold: int | None
) -> None:
    """``affords_each`` answers what ``affordable`` one moment at a time answers (it only counts
    with bisection, for plans at 100,000 calls an hour)."""
    view = budget(*made, per_hour=per_hour, hold=hold)
    at = [minutes(m) for m in moments]
    taken = [minutes(m) for m in planned]

    assert view.affords_each(at, taken) == affordable_one_by_one(view, at, taken)


def test_moments_come_from_planned_dockings_departures_and_webcast_starts() -> None:
    dockings = [
        DockingRecord(1, minutes(30), minutes(60 * 24 * 30), Port(1, "a"), None, None, None),
        DockingRecord(2, minutes(-600), minutes(90), Port(2, "b"), None, None, None),
        DockingRecord(3, minutes(-900), None, Port(3, "c"), None, None, None),
    ]
    events = [
        Event(7, "Docking webcast", minutes(120), webcasts=(Webcast("https://v", start_time=minutes(95)),)),
        Event(8, "Already announced", minutes(40)),
    ]

    moments = moments_from(dockings, events, frozenset({"webcast:8"}), NOW)

    assert moments.dockings == (minutes(30), minutes(90))
    assert moments.events == (minutes(95),)
    # A stream with a start time: dense only from that time on.
    assert moments.windows == ((minutes(95), minutes(120) + WEBCAST_TAIL),)


def test_an_event_whose_stream_has_a_start_time_has_no_fringes() -> None:
    """The start time is polled for exactly; reads around the date would only take the dockings' budget."""
    with_start = Event(7, "Spacewalk", minutes(120), webcasts=(Webcast("https://v", start_time=minutes(95)),))
    without = Event(8, "Briefing", minutes(300), webcasts=(Webcast("https://w"),))

    moments = moments_from([], [with_start, without], frozenset(), NOW)

    assert moments.fringes == ((minutes(300) - FRINGE_LEAD, minutes(300) + FRINGE_TAIL),)


def test_a_stream_starting_after_its_event_s_date_is_read_densely_after_its_start_time() -> None:
    """Its window is not the date's: a start 40 minutes late would give an empty one, and no reads."""
    late = Event(7, "Spacewalk", minutes(120), webcasts=(Webcast("https://v", start_time=minutes(160)),))

    moments = moments_from([], [late], frozenset(), minutes(185))

    assert moments.windows == ((minutes(160), minutes(160) + WEBCAST_TAIL),)


def test_an_event_flagged_live_but_not_announced_still_gets_its_window() -> None:
    """LL2 leaves webcast_live on for years and after scrubs: only an announced webcast is done."""
    stale_flag = Event(9, "Scrubbed, flag left on", minutes(300), webcast_live=True)

    moments = moments_from([], [stale_flag], frozenset(), NOW)

    assert moments.windows == ((minutes(300) - WEBCAST_LEAD, minutes(300) + WEBCAST_TAIL),)
    assert moments.fringes == ((minutes(300) - FRINGE_LEAD, minutes(300) + FRINGE_TAIL),)


def test_a_planned_moment_that_just_passed_is_still_polled_for_after_a_re_plan() -> None:
    """The events were read 5 s after a planned docking: the dockings' poll 20 s after it stays."""
    docking = DockingRecord(1, minutes(-5 / 60), None, Port(1, "a"), None, None, None)
    moments = moments_from([docking], [], frozenset(), NOW)
    plan = PlanState(
        interval=INTERVAL,
        min_interval=timedelta(seconds=10),
        dockings=Watch(minutes(-3), moments.dockings),
        events=Watch(NOW, moments.events),
    )

    assert plan_next_poll(plan, budget(-3, 0), NOW) == PlannedPoll(minutes(-5 / 60) + SETTLE, DOCKINGS)
