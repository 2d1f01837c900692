"""Change detection: what is new in a snapshot, compared with what the store already knows.

Pure functions over plain data: no I/O and no clock (``now`` is passed in), so every rule below is
tested table-driven. The rules, in short:

* The first successful cycle (baseline) records every fact and announces none.
* A docking is announced once its time has passed (LL2 lists planned dockings with future times).
* A departure comes only from the ``departure`` field, once its time has passed. A record vanishing
  from the page, or a smaller page, is never a departure.
* A vehicle leaving one port and docking at another within six hours is one relocation.
* A docking id LL2 reused for another chaser (a known vehicle, payload or station where another
  known one was recorded as docked under that id) is a different docking: its docking, departure or
  relocation get keys of their own (``docked:630/spacecraft_flight:912``) and are judged like a new
  record's; the first vehicle's keys (``docked:630``, ``departed:630``) are never used for it.
* A webcast start is announced once per event, however often the live flag flaps, and only while
  the flag is believed: from ``webcast_window`` (3 h) before the event's date to ``webcast_window``
  after it, and, when the linked stream has a ``start_time`` or ``end_time``, no earlier than 30
  minutes before its start and no later than 30 minutes after its end (all edges included). A flag
  outside that is not a fact: nothing is recorded for it (LL2 leaves flags on long after events,
  and on launches rescheduled after a scrub), so the event's real webcast, once inside the window,
  is still announced, once. An event first seen in this poll follows the same rule.
* The webcast link is the live stream with the highest ``priority`` number, else the
  highest-priority stream; ties keep LL2's order.
* A fact whose own time is older than ``stale_after`` is recorded silently (backfilled history).
* Every fact has a key derived from LL2 ids; a key already recorded is never produced again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockwatch.bot.model import (
    Change,
    ChangeKind,
    DockingRecord,
    Event,
    KnownState,
    Message,
    Party,
    Port,
    Ref,
    Snapshot,
    Station,
    VehicleId,
    VehicleRef,
    docking_key,
    webcast_key,
)

DEFAULT_STALE_AFTER = timedelta(hours=48)
DEFAULT_WEBCAST_WINDOW = timedelta(hours=3)
STREAM_MARGIN = timedelta(minutes=30)
"""How far outside its own ``start_time``/``end_time`` a stream's live flag is still believed."""
RELOCATION_WINDOW = timedelta(hours=6)


def detect(
    previous: KnownState,
    snapshot: Snapshot,
    now: datetime,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    webcast_window: timedelta = DEFAULT_WEBCAST_WINDOW,
) -> list[Change]:
    """Return the facts in ``snapshot`` that ``previous`` has not recorded, oldest first."""
    keys = previous.recorded_keys
    current = {r.id: r for r in snapshot.dockings}  # one record per id, whatever the page held
    records = {**previous.dockings, **current}
    own = {r.id: _keys_of(r, previous.docked_vehicles) for r in records.values()}
    changes: list[Change] = []

    departures = [r for r in current.values() if _has_departed(r, own[r.id], now, keys)]
    dockings = [r for r in current.values() if _has_docked(r, own[r.id], now, keys)]
    folded_departures: set[int] = set()

    for record in dockings:
        origin = _relocation_origin(record, records.values(), departures, own, keys)
        if origin is None:
            changes.append(_docked(record, own[record.id].docked))
            continue
        if origin.id in {d.id for d in departures}:
            # Both halves seen in one cycle: the departure is recorded silently, the move announced.
            folded_departures.add(origin.id)
        changes.append(_relocated(record, origin, own[record.id].relocated))

    for record in departures:
        departed = _departed(record, own[record.id].departed)
        if record.id in folded_departures:
            departed = Change(departed.key, departed.kind, False, departed.message)
        changes.append(departed)

    events = {e.id: e for e in snapshot.events}
    changes.extend(
        _webcast_started(e, now)
        for e in events.values()
        if webcast_key(e.id) not in keys and webcast_believed(e, now, webcast_window)
    )

    changes.sort(key=lambda c: (c.message.occurred_at, c.key))
    return [_silence_if_needed(c, previous, now, stale_after) for c in changes]


def webcast_believed(event: Event, now: datetime, window: timedelta = DEFAULT_WEBCAST_WINDOW) -> bool:
    """Whether ``event`` is live at ``now`` as far as dockwatch believes LL2's flags.

    A flag (``webcast_live`` or a stream's ``live``) counts only from ``window`` before the event's
    date to ``window`` after it, and, when the stream the announcement would link has a
    ``start_time`` or ``end_time``, only from 30 minutes before the one to 30 minutes after the
    other. Without a date the event cannot be placed, so its flag is not believed.
    """
    if not event.is_live or event.date is None:
        return False
    if not event.date - window <= now <= event.date + window:
        return False
    stream = event.webcast
    if stream is None:
        return True
    if stream.start_time is not None and now < stream.start_time - STREAM_MARGIN:
        return False
    return not (stream.end_time is not None and now > stream.end_time + STREAM_MARGIN)


@dataclass(frozen=True, slots=True)
class _DockingKeys:
    """The keys one docking record's facts are recorded under."""

    docked: str
    departed: str
    relocated: str


def _keys_of(record: DockingRecord, docked_vehicles: Mapping[int, VehicleId]) -> _DockingKeys:
    reused_for = _reused_for(record, docked_vehicles)
    return _DockingKeys(
        docked=docking_key(ChangeKind.DOCKED, record.id, reused_for),
        departed=docking_key(ChangeKind.DEPARTED, record.id, reused_for),
        relocated=docking_key(ChangeKind.RELOCATED, record.id, reused_for),
    )


def _reused_for(record: DockingRecord, docked_vehicles: Mapping[int, VehicleId]) -> VehicleId | None:
    """The chaser of a record whose id LL2 reused, or ``None`` for the docking first recorded under it.

    Only a known vehicle where another known one was recorded as docked counts: LL2 filling in, or
    dropping, a chaser it did not know is an edit of the same docking.
    """
    first = docked_vehicles.get(record.id)
    if first is None or record.chaser is None or record.chaser.identity == first:
        return None
    return record.chaser.identity


def _has_docked(record: DockingRecord, own: _DockingKeys, now: datetime, keys: frozenset[str]) -> bool:
    return (
        record.docking is not None
        and record.docking <= now
        and own.docked not in keys
        and own.relocated not in keys
    )


def _has_departed(record: DockingRecord, own: _DockingKeys, now: datetime, keys: frozenset[str]) -> bool:
    """A departure needs a docking before it: a record saying otherwise is bad data, not news."""
    return (
        record.departure is not None
        and record.docking is not None
        and record.docking <= record.departure <= now
        and own.departed not in keys
    )


def _same_vehicle(a: Party | None, b: Party | None) -> bool:
    return a is not None and b is not None and a.identity == b.identity


def _relocation_origin(
    record: DockingRecord,
    known: Iterable[DockingRecord],
    departures_now: list[DockingRecord],
    own: Mapping[int, _DockingKeys],
    keys: frozenset[str],
) -> DockingRecord | None:
    """The record this docking moved from: same vehicle, another port, departed up to 6 h before.

    Only a departure that is announced already or is being detected in this cycle counts, so a
    relocation never stands for a departure nobody will hear about.
    """
    assert record.docking is not None
    departing_now = {d.id for d in departures_now}
    candidates = [
        other
        for other in known
        if other.id != record.id
        and _same_vehicle(other.chaser, record.chaser)
        and other.port.id != record.port.id
        and other.departure is not None
        and timedelta(0) <= record.docking - other.departure <= RELOCATION_WINDOW
        and (own[other.id].departed in keys or other.id in departing_now)
    ]
    return max(candidates, key=lambda o: (o.departure, o.id), default=None)


def _silence_if_needed(change: Change, previous: KnownState, now: datetime, stale_after: timedelta) -> Change:
    if not change.announce:
        return change
    if not previous.baseline_done or _fact_time(change.message) < now - stale_after:
        return Change(change.key, change.kind, False, change.message)
    return change


def _fact_time(message: Message) -> datetime:
    """The time staleness is judged by: a webcast by its event's date, everything else by itself."""
    if message.kind is ChangeKind.WEBCAST_STARTED and message.event_date is not None:
        return message.event_date
    return message.occurred_at


def _ref(obj: Port | Station | None) -> Ref | None:
    return None if obj is None else Ref(id=obj.id, name=obj.name)


def _vehicle(party: Party | None) -> VehicleRef | None:
    if party is None:
        return None
    return VehicleRef(id=party.id, name=party.name, kind=party.kind)


def docking_message(record: DockingRecord, kind: ChangeKind, key: str, at: datetime) -> Message:
    """A message about ``record``: its docking fields as LL2 tells them now."""
    fields: Mapping[str, object] = {
        "kind": kind,
        "key": key,
        "occurred_at": at,
        "docking_event_id": record.id,
        "station": _ref(record.station),
        "port": _ref(record.port),
        "vehicle": _vehicle(record.chaser),
        "target": _vehicle(record.target),
        "location": record.where,
        "docking": record.docking,
        "departure": record.departure,
        "image_url": record.image_url,
    }
    return Message.model_validate(fields)


def _docked(record: DockingRecord, key: str) -> Change:
    assert record.docking is not None
    message = docking_message(record, ChangeKind.DOCKED, key, record.docking)
    return Change(key, ChangeKind.DOCKED, True, message)


def _relocated(record: DockingRecord, origin: DockingRecord, key: str) -> Change:
    assert record.docking is not None
    message = docking_message(record, ChangeKind.RELOCATED, key, record.docking).model_copy(
        update={"previous_port": _ref(origin.port)}
    )
    return Change(key, ChangeKind.RELOCATED, True, message)


def _departed(record: DockingRecord, key: str) -> Change:
    assert record.departure is not None
    stay = None
    if record.docking is not None and record.docking <= record.departure:
        stay = int((record.departure - record.docking).total_seconds())
    message = docking_message(record, ChangeKind.DEPARTED, key, record.departure).model_copy(
        update={"docked_seconds": stay}
    )
    return Change(key, ChangeKind.DEPARTED, True, message)


def _webcast_started(event: Event, now: datetime) -> Change:
    """A webcast start happens when we see it; LL2 gives no time for the flag turning true."""
    key = webcast_key(event.id)
    return Change(
        key, ChangeKind.WEBCAST_STARTED, True, event_message(event, ChangeKind.WEBCAST_STARTED, key, now)
    )


def event_message(event: Event, kind: ChangeKind, key: str, at: datetime) -> Message:
    """A message about ``event``: its fields and best webcast as LL2 tells them now."""
    return Message(
        kind=kind,
        key=key,
        occurred_at=at,
        event_id=event.id,
        event_name=event.name,
        event_type=event.type_name,
        event_date=event.date,
        location=event.location,
        image_url=event.image_url,
        webcast_url=event.webcast_url,
    )
