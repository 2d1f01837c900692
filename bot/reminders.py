"""Reminders before planned dockings, departures and events: which are due now, and when to poll
so each goes out on fresh data.

Pure functions over plain data (no I/O, no clock: ``now`` is passed in), tested table-driven.

A reminder is keyed by (what it reminds of, lead time, planned time), so each planned time is
reminded of once per lead time. When LL2 moves the planned time by more than
``RESCHEDULE_THRESHOLD``, the new time gets reminders of its own; a smaller move is the same plan,
already reminded of. A reminder is due from ``EARLY`` before its moment (planned time minus lead)
until its tolerance after (half the lead, at most 30 minutes); later than that it is never sent,
since "in 10 minutes" would be false. A planned time that passes without the event happening is
the announcement and correction rules' business, not the reminders'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockwatch.bot.detect import docking_message, event_message
from dockwatch.bot.durations import format_duration
from dockwatch.bot.model import (
    REMINDER_SAME_PLAN,
    Change,
    ChangeKind,
    DockingRecord,
    Event,
    Message,
    parse_reminder_key,
    reminder_key,
)
from dockwatch.bot.preferences import tolerance

RESCHEDULE_THRESHOLD = REMINDER_SAME_PLAN
EARLY = timedelta(minutes=1)
"""How long before its moment a reminder may go out: the poll that sends it comes just before."""
POLL_BEFORE = timedelta(seconds=30)
"""The planner polls this long before each reminder moment (inside ``EARLY``)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One planned time LL2 announced: a docking, a departure or an event's date."""

    kind: ChangeKind
    """The reminder kind for it."""
    ll2_id: int
    at: datetime
    message: Message
    """The reminder's fields as LL2 tells them now (key and lead filled in per reminder)."""


def planned(dockings: Iterable[DockingRecord], events: Iterable[Event], now: datetime) -> list[Planned]:
    """Every planned time still ahead of ``now``, from the poll's own records."""
    plans: list[Planned] = []
    for record in dockings:
        if record.docking is not None and record.docking > now:
            message = docking_message(record, ChangeKind.DOCKING_REMINDER, "", now)
            plans.append(Planned(ChangeKind.DOCKING_REMINDER, record.id, record.docking, message))
        if record.departure is not None and record.departure > now:
            message = docking_message(record, ChangeKind.DEPARTURE_REMINDER, "", now)
            plans.append(Planned(ChangeKind.DEPARTURE_REMINDER, record.id, record.departure, message))
    for event in events:
        # A date LL2 gives only to the day (or hour) is a placeholder: "in 10 minutes" would be made up.
        if event.date is not None and event.date > now and event.exact_date:
            message = event_message(event, ChangeKind.EVENT_REMINDER, "", now)
            plans.append(Planned(ChangeKind.EVENT_REMINDER, event.id, event.date, message))
    return plans


def due_reminders(
    dockings: Iterable[DockingRecord],
    events: Iterable[Event],
    leads: Collection[timedelta],
    recorded_keys: Collection[str],
    now: datetime,
) -> list[Change]:
    """The reminders to record now: one per planned time and lead time in use whose moment is within
    ``EARLY`` ahead or its tolerance behind, unless that plan was reminded of for that lead already."""
    sent = _reminded(recorded_keys)
    changes: list[Change] = []
    for plan in planned(dockings, events, now):
        for lead in sorted(leads, reverse=True):
            moment = plan.at - lead
            if not moment - EARLY <= now <= moment + tolerance(lead):
                continue
            key = reminder_key(plan.kind, plan.ll2_id, lead, plan.at)
            if _already(sent, key, plan.at):
                continue
            message = plan.message.model_copy(
                update={"key": key, "lead_seconds": int(lead.total_seconds()), "expected": plan.at}
            )
            changes.append(Change(key, plan.kind, True, message))
    return changes


def reminder_moments(
    dockings: Iterable[DockingRecord],
    events: Iterable[Event],
    leads: Collection[timedelta],
    recorded_keys: Collection[str],
    now: datetime,
    horizon: timedelta,
) -> tuple[datetime, ...]:
    """When to poll for the reminders not sent yet: ``POLL_BEFORE`` each one's moment, within
    ``horizon``, so the reminder goes out on data seconds old; and once more halfway through its
    tolerance, a second chance should that poll fail.

    Two fixed times per reminder, never "now": the planner drops a time its last poll already
    passed, so a reminder that is never recorded (LL2 dropped the record from its pages, or keeps
    failing) costs two polls, not a poll every ``min_interval`` until its tolerance runs out."""
    sent = _reminded(recorded_keys)
    moments: set[datetime] = set()
    for plan in planned(dockings, events, now):
        for lead in leads:
            moment = plan.at - lead
            if moment + tolerance(lead) < now or moment > now + horizon:
                continue
            if _already(sent, reminder_key(plan.kind, plan.ll2_id, lead, plan.at), plan.at):
                continue
            moments.update((moment - POLL_BEFORE, moment + tolerance(lead) / 2))
    return tuple(sorted(moments))


def _reminded(recorded_keys: Iterable[str]) -> dict[tuple[str, int], list[datetime]]:
    """The planned times already reminded of, by (what, lead seconds)."""
    sent: dict[tuple[str, int], list[datetime]] = defaultdict(list)
    for key in recorded_keys:
        parsed = parse_reminder_key(key)
        if parsed is not None:
            base, lead, expected = parsed
            sent[base, lead].append(expected)
    return sent


def _already(sent: dict[tuple[str, int], list[datetime]], key: str, at: datetime) -> bool:
    parsed = parse_reminder_key(key)
    assert parsed is not None  # reminder_key makes parseable keys
    base, lead, _ = parsed
    return any(abs(at - earlier) <= RESCHEDULE_THRESHOLD for earlier in sent.get((base, lead), ()))


def too_late(message: Message, now: datetime) -> str | None:
    """Why a recorded reminder must not go out now (retried, or held through quiet hours, past its
    tolerance: "in 10 minutes" would be false), or ``None`` when it may, or it is no reminder."""
    if message.lead_seconds is None or message.expected is None:
        return None
    lead = timedelta(seconds=message.lead_seconds)
    if now <= message.expected - lead + tolerance(lead):
        return None
    return f"expired: its moment passed more than {format_duration(tolerance(lead))} ago"
