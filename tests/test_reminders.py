"""Reminder planning, table-driven: which reminders are due at a moment, and when to poll for them.

A planned docking at ``PLANNED`` (13:00) is reminded of ``lead`` before; the columns say when the
poll happens, what was reminded of before, and what is due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.ll2.wire import parse_dockings, parse_events
from dockwatch.bot.model import ChangeKind, DockingRecord, Event, reminder_key
from dockwatch.bot.planner import HORIZON
from dockwatch.bot.reminders import POLL_BEFORE, due_reminders, reminder_moments
from tests.builders import ll2_docking, ll2_event

PLANNED = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)


def docking_at(
    at: datetime | None, *, departure: datetime | None = None, record_id: int = 630
) -> DockingRecord:
    (record,) = parse_dockings(
        [ll2_docking(record_id, docking=at, departure=departure, vehicle=(50, "Crew Dragon Endeavour"))],
        "test",
        legacy=False,
    )
    return record


def event_at(at: datetime, precision: str = "Minute") -> Event:
    (event,) = parse_events(
        [ll2_event(77, date=at, video_url="https://youtu.be/crew12", precision=precision)], "test"
    )
    return event


def sent_for(planned: datetime, lead: timedelta) -> str:
    """The key a reminder about the docking planned at ``planned`` was recorded under."""
    return reminder_key(ChangeKind.DOCKING_REMINDER, 630, lead, planned)


@pytest.mark.parametrize(
    ("now", "leads", "recorded", "due"),
    [
        pytest.param(PLANNED - H, [H], [], [H], id="at its moment"),
        pytest.param(PLANNED - H - 30 * timedelta(seconds=1), [H], [], [H], id="the poll just before it"),
        pytest.param(PLANNED - H - 2 * M, [H], [], [], id="two minutes early: not yet"),
        pytest.param(PLANNED - H + 30 * M, [H], [], [H], id="late by its whole tolerance (30 min)"),
        pytest.param(PLANNED - H + 31 * M, [H], [], [], id="later than its tolerance: never"),
        pytest.param(PLANNED - 10 * M + 5 * M, [10 * M], [], [10 * M], id="10m lead: late by half of it"),
        pytest.param(PLANNED - 10 * M + 6 * M, [10 * M], [], [], id="10m lead: later than half of it"),
        pytest.param(PLANNED - 2 * H + 31 * M, [2 * H], [], [], id="2h lead: tolerance stops at 30 min"),
        pytest.param(PLANNED - H, [H, 10 * M], [], [H], id="of two leads, the one whose moment it is"),
        pytest.param(PLANNED - H, [H], [sent_for(PLANNED, H)], [], id="already reminded of"),
        pytest.param(PLANNED - H, [H], [sent_for(PLANNED, 10 * M)], [H], id="another lead's reminder"),
        pytest.param(
            PLANNED - H, [H], [sent_for(PLANNED - 10 * M, H)], [], id="moved by 10 minutes: the same plan"
        ),
        pytest.param(
            PLANNED - H, [H], [sent_for(PLANNED - 15 * M, H)], [], id="moved by exactly 15 minutes: the same"
        ),
        pytest.param(
            PLANNED - H, [H], [sent_for(PLANNED - 20 * M, H)], [H], id="moved by 20 minutes: reminded again"
        ),
        pytest.param(PLANNED + M, [H, 10 * M], [], [], id="a planned time that passed: none"),
        pytest.param(PLANNED - H, [], [], [], id="no target asked for reminders"),
    ],
)
def test_a_planned_docking_is_reminded_of_once_per_lead_and_planned_time(
    now: datetime, leads: list[timedelta], recorded: list[str], due: list[timedelta]
) -> None:
    changes = due_reminders([docking_at(PLANNED)], [], set(leads), frozenset(recorded), now)

    assert [timedelta(seconds=c.message.lead_seconds or 0) for c in changes] == due
    assert all(c.kind is ChangeKind.DOCKING_REMINDER and c.announce for c in changes)


def test_a_reminder_carries_its_lead_the_planned_time_and_the_announcements_fields() -> None:
    (change,) = due_reminders([docking_at(PLANNED)], [], {H}, frozenset(), PLANNED - H)

    message = change.message
    assert change.key == message.key == "remind-docking:630:3600@2026-01-01T13:00:00Z"
    assert (message.lead_seconds, message.expected) == (3600, PLANNED)
    assert message.vehicle is not None and message.vehicle.name == "Crew Dragon Endeavour"
    assert message.station is not None and message.port is not None
    assert (message.docking_event_id, message.docking) == (630, PLANNED)


def test_a_planned_departure_gets_a_departure_reminder() -> None:
    record = docking_at(PLANNED - timedelta(days=30), departure=PLANNED)

    (change,) = due_reminders([record], [], {H}, frozenset(), PLANNED - H)

    assert change.kind is ChangeKind.DEPARTURE_REMINDER
    assert change.key == "remind-departure:630:3600@2026-01-01T13:00:00Z"
    assert change.message.departure == PLANNED


def test_an_event_is_reminded_of_with_its_webcast_link() -> None:
    (change,) = due_reminders([], [event_at(PLANNED)], {10 * M}, frozenset(), PLANNED - 10 * M)

    assert change.kind is ChangeKind.EVENT_REMINDER
    assert change.message.event_name == "Crew-12 Docking"
    assert change.message.webcast_url == "https://youtu.be/crew12"
    assert change.message.expected == change.message.event_date == PLANNED


@pytest.mark.parametrize(
    ("precision", "reminded"),
    [("Second", True), ("Minute", True), ("Hour", False), ("Day", False), ("Month", False)],
)
def test_an_event_is_reminded_of_only_when_ll2_gives_its_time_to_the_minute(
    precision: str, reminded: bool
) -> None:
    changes = due_reminders([], [event_at(PLANNED, precision)], {10 * M}, frozenset(), PLANNED - 10 * M)

    assert bool(changes) is reminded


def test_a_departure_planned_months_ahead_is_neither_reminded_of_nor_polled_for_yet() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = docking_at(now - timedelta(days=10), departure=now + timedelta(days=120))
    week = timedelta(days=7)

    assert due_reminders([record], [], {week}, frozenset(), now) == []
    assert reminder_moments([record], [], {week}, frozenset(), now, HORIZON) == ()


def test_a_seven_day_reminder_comes_a_week_ahead() -> None:
    week = timedelta(days=7)
    record = docking_at(PLANNED - timedelta(days=90), departure=PLANNED + week)

    (change,) = due_reminders([record], [], {week}, frozenset(), PLANNED)

    assert (change.kind, change.message.lead_seconds) == (ChangeKind.DEPARTURE_REMINDER, 7 * 86400)


HOUR_POLLS = [PLANNED - H - POLL_BEFORE, PLANNED - H + 15 * M]
TEN_MINUTE_POLLS = [PLANNED - 10 * M - POLL_BEFORE, PLANNED - 10 * M + timedelta(minutes=2.5)]


@pytest.mark.parametrize(
    ("now", "recorded", "polls"),
    [
        pytest.param(
            PLANNED - 3 * H, [], HOUR_POLLS + TEN_MINUTE_POLLS, id="ahead: just before, and a second chance"
        ),
        pytest.param(PLANNED - 3 * H, [sent_for(PLANNED, H)], TEN_MINUTE_POLLS, id="one sent"),
        pytest.param(
            PLANNED - H + 10 * M, [], HOUR_POLLS + TEN_MINUTE_POLLS, id="late: the same fixed times"
        ),
        pytest.param(PLANNED - 10 * M + 6 * M, [], [], id="past every tolerance"),
    ],
)
def test_the_poller_is_asked_to_poll_shortly_before_each_reminder_not_yet_sent(
    now: datetime, recorded: list[str], polls: list[datetime]
) -> None:
    moments = reminder_moments([docking_at(PLANNED)], [], {H, 10 * M}, frozenset(recorded), now, HORIZON)

    assert list(moments) == polls
