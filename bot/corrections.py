"""Corrections: when LL2 changes its mind about a docking, departure or relocation already announced.

Pure functions over plain data, like ``detect``. LL2 shows planned times that pass before the event
really happens and corrects them later, so an announced fact is checked against every new snapshot:

* **Rescheduled**: its time moved back into the future by more than ``TOLERANCE``: a correction
  (``Revision.RESCHEDULED``, with the time LL2 now expects) retracts it.
* **Withdrawn**: its time was removed: a correction (``Revision.WITHDRAWN``) retracts it.
* **Refined**: its time changed by a minute or more but stays in the past: an update
  (``Revision.REFINED``) edits it in place. Facts older than ``stale_after`` are not refined.
* A retracted fact whose new time passes is announced again under a revision key (``docked:630#2``),
  so receivers see a new ``webhook-id``; a retracted fact rescheduled once more (by more than
  ``TOLERANCE``) or then withdrawn gets another correction.
* A fact recorded silently (the baseline, or stale) that LL2 moves into the future, or whose time it
  removes, is retracted silently; once its new time passes it is announced (``#2``) like any fact.
* Facts announced as happening more than ``RETRACT_WITHIN`` (7 days) ago are history: not corrected.

Each correction has its own key, ``correction:<n>:<key corrected>``, numbered per announcement, and
is only produced when LL2's state differs from what dockwatch last said, so nothing is corrected twice
for the same LL2 state. A record whose chaser changed is a reused id (see ``detect``): it says nothing
about the fact announced under that id, which is left alone. A record missing from the page says
nothing either (pages shift); only a removed time withdraws.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

from dockwatch.bot.model import (
    CORRECTABLE_KINDS,
    Change,
    ChangeKind,
    Correction,
    DockingRecord,
    KnownState,
    Message,
    Notice,
    Revision,
    Snapshot,
    correction_key,
    revision_key,
    revision_of,
)

TOLERANCE = timedelta(minutes=5)
"""A time that moved less than this into the future is waited for, not retracted."""
REFINE_STEP = timedelta(minutes=1)
"""Messages show minutes: a smaller change is not worth an edit."""
RETRACT_WITHIN = timedelta(days=7)
"""A fact announced as happening longer ago than this is history: LL2 editing it is not news."""


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one fact stands: its latest announcement and what dockwatch last said of it."""

    key: str
    """The key of the latest announcement: ``docked:630``, then ``docked:630#2``, ..."""
    revision: int
    message: Message
    """The announcement, with the times of later refinements."""
    told: bool
    """Whether that announcement was announced (not recorded silently)."""
    retracted: bool = False
    expected: datetime | None = None
    """For a retracted fact: the time the last correction said LL2 expects (``None``: withdrawn)."""
    notes: int = 0
    """How many corrections were made to this announcement."""


def standings(notices: Iterable[Notice]) -> dict[str, Standing]:
    """Fold the recorded notifications (oldest first) into each fact's standing, by base key."""
    facts: dict[str, Standing] = {}
    for notice in notices:
        message = notice.message
        if message.kind not in CORRECTABLE_KINDS:
            continue
        correction = message.correction
        if correction is None:
            base, revision = revision_of(message.key)
            latest = facts.get(base)
            if latest is None or revision > latest.revision:
                facts[base] = Standing(message.key, revision, message, notice.announced)
            continue
        base, _ = revision_of(correction.corrects)
        latest = facts.get(base)
        if latest is None or latest.key != correction.corrects:
            continue
        notes = latest.notes + 1
        match correction.reason:
            case Revision.RESCHEDULED | Revision.WITHDRAWN:
                facts[base] = replace(latest, retracted=True, expected=correction.expected, notes=notes)
            case Revision.REFINED:
                facts[base] = replace(latest, message=_with_times(latest.message, message), notes=notes)
            case _:
                assert_never(correction.reason)
    return facts


def corrections(
    previous: KnownState, snapshot: Snapshot, now: datetime, *, stale_after: timedelta
) -> list[Change]:
    """The corrections, updates and re-announcements ``snapshot`` calls for, oldest first."""
    if not previous.baseline_done:
        return []
    records = {r.id: r for r in snapshot.dockings}
    changes: list[Change] = []
    for standing in standings(previous.docking_notices).values():
        record = records.get(standing.message.docking_event_id or -1)
        if record is None or not _same_parties(record, standing.message):
            continue
        change = _judge(standing, record, now, stale_after)
        if change is not None and change.key not in previous.recorded_keys:
            changes.append(change)
    changes.sort(key=lambda c: (c.message.occurred_at, c.key))
    return changes


def _judge(standing: Standing, record: DockingRecord, now: datetime, stale_after: timedelta) -> Change | None:
    """What LL2's current time for the fact calls for. A fact recorded silently (the baseline, or
    stale) is retracted silently, so that once it really happens it is announced like any other."""
    said = _time_of(standing.message)
    time = record.departure if standing.message.kind is ChangeKind.DEPARTED else record.docking
    told = standing.told
    if not standing.retracted:
        if said is not None and now - said > RETRACT_WITHIN:
            return None
        if time is None:
            return _correct(standing, record, now, Revision.WITHDRAWN, None, announce=told)
        if time > now + TOLERANCE:
            return _correct(standing, record, now, Revision.RESCHEDULED, time, announce=told)
        moved = said is None or abs(time - said) >= REFINE_STEP
        if told and time <= now and moved and now - time <= stale_after:
            return _correct(standing, record, now, Revision.REFINED, None, announce=True)
        return None
    if time is None:
        if standing.expected is None:
            return None
        return _correct(standing, record, now, Revision.WITHDRAWN, None, announce=told)
    if time > now + TOLERANCE:
        expected = standing.expected
        if expected is None or abs(time - expected) > TOLERANCE:
            return _correct(standing, record, now, Revision.RESCHEDULED, time, announce=told)
        return None
    if time > now:
        return None  # due within minutes: announced again once it has passed
    return _announce_again(standing, record, time, now, stale_after)


def _correct(
    standing: Standing,
    record: DockingRecord,
    now: datetime,
    reason: Revision,
    expected: datetime | None,
    *,
    announce: bool,
) -> Change:
    key = correction_key(standing.notes + 1, standing.key)
    message = _with_times(standing.message, _times_of(record, standing.message)).model_copy(
        update={
            "key": key,
            "occurred_at": now,
            "correction": Correction(reason=reason, corrects=standing.key, expected=expected),
        }
    )
    return Change(key, message.kind, announce, message)


def _announce_again(
    standing: Standing, record: DockingRecord, time: datetime, now: datetime, stale_after: timedelta
) -> Change:
    base, revision = revision_of(standing.key)
    key = revision_key(base, revision + 1)
    message = _with_times(standing.message, _times_of(record, standing.message)).model_copy(
        update={"key": key, "occurred_at": time}
    )
    return Change(key, message.kind, now - time <= stale_after, message)


def _times_of(record: DockingRecord, message: Message) -> Message:
    stay = None
    if record.docking is not None and record.departure is not None and record.docking <= record.departure:
        stay = int((record.departure - record.docking).total_seconds())
    return message.model_copy(
        update={"docking": record.docking, "departure": record.departure, "docked_seconds": stay}
    )


def _with_times(message: Message, source: Message) -> Message:
    occurred = _time_of(source) or message.occurred_at
    return message.model_copy(
        update={
            "docking": source.docking,
            "departure": source.departure,
            "docked_seconds": source.docked_seconds,
            "occurred_at": occurred,
        }
    )


def _time_of(message: Message) -> datetime | None:
    return message.departure if message.kind is ChangeKind.DEPARTED else message.docking


def _same_parties(record: DockingRecord, message: Message) -> bool:
    """The record still describes the announced visit: ``detect``'s rule for a reused id, so the two
    never disagree. Only a known chaser where another known one was announced makes a reused id; LL2
    filling in, dropping a vehicle or editing the station is an edit of the same docking."""
    vehicle, chaser = message.vehicle, record.chaser
    return vehicle is None or chaser is None or (vehicle.kind, vehicle.id) == (chaser.kind, chaser.id)
