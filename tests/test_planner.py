"""The poll planner: dense near moments LL2 announced, sparse otherwise, never outside the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.model import DockingRecord, Event, Port, Webcast
from dockwatch.bot.planner import (
    SETTLE,
    WEBCAST_LEAD,
    WEBCAST_TAIL,
    BudgetView,
    PlanState,
    moments_from,
    plan_next_poll,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)
INTERVAL = timedelta(minutes=10)


def minutes(n: float) -> datetime:
    return NOW + timedelta(minutes=n)


def state(
    *,
    last_poll: float | None = 0,
    exact: tuple[float, ...] = (),
    windows: tuple[tuple[float, float], ...] = (),
    poll_at: tuple[float, ...] = (),
) -> PlanState:
    return PlanState(
        interval=INTERVAL,
        min_interval=MIN,
        last_poll=None if last_poll is None else minutes(last_poll),
        exact_moments=tuple(minutes(m) for m in exact),
        windows=tuple((minutes(a), minutes(b)) for a, b in windows),
        poll_at=tuple(minutes(m) for m in poll_at),
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
        (state(last_poll=None), budget(), NOW),
        (state(), budget(0, 0), minutes(10)),
        (state(exact=(4,)), budget(0, 0), minutes(4) + SETTLE),
        (state(exact=(0.2,)), budget(0, 0), minutes(1)),
        (state(exact=(25,)), budget(0, 0), minutes(10)),
        (state(exact=(-5,)), budget(0, 0), minutes(10)),
        (state(windows=((-3, 30),)), budget(0, 0, per_hour=120), minutes(1)),
        (state(windows=((-3, 30),)), budget(0, 0, per_hour=14), minutes(60 * 2 / 14)),
        (state(windows=((9, 60),)), budget(0, 0), minutes(9)),
        (state(windows=((-60, -1),)), budget(0, 0), minutes(10)),
        (state(poll_at=(4,)), budget(0, 0), minutes(4)),
        (state(poll_at=(0,)), budget(0, 0), minutes(10)),
        (state(poll_at=(4,)), budget(*[-30] * 14, per_hour=14), minutes(30)),
    ],
    ids=[
        "first poll of a process is immediate",
        "nothing near: the base interval",
        "a planned moment: just after it",
        "a moment right after the last poll: not before min_interval",
        "a moment after the next base poll: base poll first",
        "a moment already covered by the last poll: ignored",
        "inside a webcast window: every min_interval when the budget allows",
        "inside a webcast window: at the pace the hourly budget sustains",
        "a window opening before the base poll: at its start",
        "a window that has closed: ignored",
        "shortly before a reminder: at the time asked, not after it",
        "a reminder poll the last poll already made: ignored",
        "a reminder poll the budget cannot afford: when it can",
    ],
)
def test_the_next_poll_follows_known_moments_within_budget(
    plan: PlanState, calls: BudgetView, expected: datetime
) -> None:
    assert plan_next_poll(plan, calls, NOW) == expected


def test_a_poll_waits_until_the_oldest_calls_leave_the_hour() -> None:
    calls = budget(*[m for m in range(-55, 1, 8) for _ in (0, 1)], per_hour=14)  # 14 calls, oldest at -55

    assert plan_next_poll(state(exact=(0.5,)), calls, NOW) == minutes(-55) + timedelta(hours=1)


def test_a_hold_from_ll2_is_never_broken() -> None:
    assert plan_next_poll(state(exact=(2,)), budget(0, 0, hold=30), NOW) == minutes(30)


def test_window_polling_yields_to_an_exact_moment_it_would_starve() -> None:
    # With 57 of 60 calls spent until +10 there is room for one poll before then: the docking's.
    calls = budget(*[-50] * 57, per_hour=60)

    assert plan_next_poll(state(windows=((-5, 60),), exact=(5,)), calls, NOW) == minutes(5) + SETTLE


def test_window_polling_goes_ahead_when_the_budget_covers_the_moment_too() -> None:
    calls = budget(*[-50] * 50, per_hour=60)

    assert plan_next_poll(state(windows=((-5, 60),), exact=(5,)), calls, NOW) == minutes(2)


@pytest.mark.parametrize("per_hour", [2, 4, 14, 30], ids=lambda n: f"{n} calls/hour")
def test_polling_as_planned_never_exceeds_the_budget(per_hour: int) -> None:
    """Follow the planner for six hours of dense windows and moments; count calls per rolling hour."""
    exact = tuple(float(m) for m in range(3, 360, 7))
    plan_calls: list[datetime] = []
    last: datetime | None = None
    now = NOW
    while now < minutes(360):
        plan = PlanState(
            interval=INTERVAL,
            min_interval=MIN,
            last_poll=last,
            exact_moments=tuple(minutes(m) for m in exact),
            windows=((minutes(0), minutes(360)),),
        )
        now = plan_next_poll(plan, BudgetView(per_hour, tuple(plan_calls)), now)
        plan_calls += [now, now]
        last = now

    worst = max(sum(1 for c in plan_calls if t - timedelta(hours=1) < c <= t) for t in plan_calls)
    assert worst <= per_hour


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

    exact, windows = moments_from(dockings, events, frozenset({"webcast:8"}), NOW)

    assert exact == (minutes(30), minutes(90), minutes(95))
    assert windows == ((minutes(120) - WEBCAST_LEAD, minutes(135)),)


def test_an_event_flagged_live_but_not_announced_still_gets_its_window() -> None:
    """LL2 leaves webcast_live on for years and after scrubs: only an announced webcast is done."""
    stale_flag = Event(9, "Scrubbed, flag left on", minutes(300), webcast_live=True)

    _, windows = moments_from([], [stale_flag], frozenset(), NOW)

    assert windows == ((minutes(300) - WEBCAST_LEAD, minutes(300) + WEBCAST_TAIL),)
