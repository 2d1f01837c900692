"""Conversions between domain records and their table rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import cast

from dockwatch.bot.model import (
    ChangeKind,
    DockingHistory,
    DockingRecord,
    Event,
    EventHistory,
    Party,
    PartyKind,
    Port,
    Station,
    SubscriptionFilter,
    TimeHistory,
    Webcast,
)
from dockwatch.bot.preferences import Preferences, QuietHours
from dockwatch.storage.tables import DockingRow, EventRow, TargetRow


def docking_to_row(record: DockingRecord, row: DockingRow | None, now: datetime) -> DockingRow:
    """Update ``row`` (or make a new one) with what LL2 says about ``record`` now."""
    row = row or DockingRow(
        id=record.id,
        port_id=record.port.id,
        port_name=record.port.name,
        raw={},
        first_seen=now,
        last_seen=now,
    )
    row.raw = dict(record.raw)
    row.docking_revision += _revised(row.docking_given, row.docking, record.docking)
    row.departure_revision += _revised(row.departure_given, row.departure, record.departure)
    row.docking_given = _given(row.docking_given, record.docking)
    row.departure_given = _given(row.departure_given, record.departure)
    row.revised_at = now  # only new and changed records come here
    row.docking = record.docking
    row.departure = record.departure
    row.port_id = record.port.id
    row.port_name = record.port.name
    station = record.station
    row.station_id = station.id if station else None
    row.station_name = station.name if station else None
    row.station_image_url = station.image_url if station else None
    chaser, target = record.chaser, record.target
    row.chaser_kind, row.chaser_id = (chaser.kind, chaser.id) if chaser else (None, None)
    row.chaser_name, row.chaser_image_url = (chaser.name, chaser.image_url) if chaser else (None, None)
    row.target_kind, row.target_id = (target.kind, target.id) if target else (None, None)
    row.target_name, row.target_image_url = (target.name, target.image_url) if target else (None, None)
    row.last_seen = now
    return row


def docking_from_row(row: DockingRow) -> DockingRecord:
    """The record as detection sees it; the raw JSON copy stays in the database."""
    return DockingRecord(
        id=row.id,
        docking=row.docking,
        departure=row.departure,
        port=Port(row.port_id, row.port_name),
        station=Station(row.station_id, row.station_name or "", row.station_image_url)
        if row.station_id is not None
        else None,
        chaser=_party(row.chaser_kind, row.chaser_id, row.chaser_name, row.chaser_image_url),
        target=_party(row.target_kind, row.target_id, row.target_name, row.target_image_url),
    )


def docking_history(row: DockingRow) -> DockingHistory:
    return DockingHistory(
        docking_from_row(row),
        TimeHistory(row.docking_given, row.docking_revision),
        TimeHistory(row.departure_given, row.departure_revision),
        row.first_seen,
        row.revised_at or row.first_seen,
    )


def _revised(given: datetime | None, stored: datetime | None, fresh: datetime | None) -> int:
    """1 when LL2 moved or withdrew a time it had given; a first time given is no revision, so a
    calendar entry starts at ``SEQUENCE`` 0 when it first appears."""
    return int(given is not None and stored != fresh)


def _given(given: datetime | None, fresh: datetime | None) -> datetime | None:
    return fresh if fresh is not None else given


def _party(kind: str | None, id_: int | None, name: str | None, image: str | None) -> Party | None:
    if kind is None or id_ is None:
        return None
    return Party(cast(PartyKind, kind), id_, name or "", image)


def event_to_row(event: Event, row: EventRow | None, now: datetime) -> EventRow:
    row = row or EventRow(id=event.id, name=event.name, raw={}, first_seen=now, last_seen=now)
    row.raw = dict(event.raw)
    row.name = event.name
    row.date_revision += _revised(row.date_given, row.date, event.date)
    row.date_given = _given(row.date_given, event.date)
    row.revised_at = now  # only new and changed events come here
    row.date = event.date
    row.type_name = event.type_name
    row.location = event.location
    row.webcast_live = event.is_live
    row.webcast_url = event.webcast_url
    row.webcast_start = _first_start(event)
    row.image_url = event.image_url
    row.last_seen = now
    return row


def event_from_row(row: EventRow) -> Event:
    """The event as planning and the status page see it: one webcast, its planned start kept."""
    webcasts: tuple[Webcast, ...] = ()
    if row.webcast_url is not None:
        webcasts = (Webcast(row.webcast_url, live=row.webcast_live, start_time=row.webcast_start),)
    return Event(
        id=row.id,
        name=row.name,
        date=row.date,
        webcast_live=row.webcast_live,
        webcasts=webcasts,
        type_name=row.type_name,
        location=row.location,
        image_url=row.image_url,
    )


def event_history(row: EventRow) -> EventHistory:
    return EventHistory(
        event_from_row(row),
        TimeHistory(row.date_given, row.date_revision),
        row.first_seen,
        row.revised_at or row.first_seen,
    )


def event_matches_row(event: Event, row: EventRow) -> bool:
    """Whether ``row`` already holds every field of ``event`` that dockwatch uses."""
    stored = (row.name, row.date, row.type_name, row.location, row.webcast_live, row.webcast_url)
    fresh = (event.name, event.date, event.type_name, event.location, event.is_live, event.webcast_url)
    return stored == fresh and (row.image_url, row.webcast_start) == (event.image_url, _first_start(event))


def _first_start(event: Event) -> datetime | None:
    return min((w.start_time for w in event.webcasts if w.start_time is not None), default=None)


def target_filter(row: TargetRow) -> SubscriptionFilter:
    return subscription_filter(row.kinds, row.stations)


_KIND_VALUES = frozenset(kind.value for kind in ChangeKind)


def subscription_filter(
    kinds: Sequence[object] | None, stations: Sequence[object] | None
) -> SubscriptionFilter:
    """The filter from the two stored columns alone: a fan-out reads those, not whole rows. A stored
    kind this version does not know (a newer release's, a hand edit) matches nothing, rather than
    failing every cycle that announces something."""
    return SubscriptionFilter(
        frozenset(ChangeKind(k) for k in kinds if k in _KIND_VALUES) if kinds is not None else None,
        frozenset(s for s in stations if isinstance(s, str)) if stations is not None else None,
    )


def reminder_leads_of(
    reminders: Sequence[object] | None, config_reminders: Sequence[object] | None
) -> frozenset[int]:
    """The lead times in seconds a target is reminded at, from the two stored columns alone (a
    fan-out reads those, not whole rows): the chat's own, else the config's, as ``target_preferences``
    reads them."""
    return frozenset(_chosen_seconds(reminders, config_reminders))


def target_preferences(row: TargetRow) -> Preferences:
    """The row's choices: the chat's own where it made one, else the config's. A stored value this
    version cannot read (hand-edited, or a zone the system no longer has) counts as not chosen
    rather than failing every delivery to the target."""
    leads = tuple(timedelta(seconds=s) for s in _chosen_seconds(row.reminders, row.config_reminders))
    span = row.quiet if row.quiet is not None else row.config_quiet
    quiet = None
    if span and span != QUIET_OFF:
        with contextlib.suppress(ValueError):
            quiet = QuietHours.parse(span)
    return Preferences(reminders=leads, quiet=quiet, timezone=row.timezone or row.config_timezone)


def _chosen_seconds(
    reminders: Sequence[object] | None, config_reminders: Sequence[object] | None
) -> list[int]:
    seconds = reminders if reminders is not None else config_reminders
    return [s for s in seconds or () if isinstance(s, int) and s > 0]


QUIET_OFF = "off"
"""A chat's quiet hours when it switched them off (the config's no longer apply to it)."""


def reminder_seconds(leads: Iterable[timedelta]) -> list[int] | None:
    """Lead times as stored: whole seconds, longest first; ``None`` for none."""
    seconds = sorted({int(lead.total_seconds()) for lead in leads}, reverse=True)
    return seconds or None
