"""/calendar.ics: planned and recent dockings, departures and events as iCalendar (RFC 5545).

Pure: the records, what dockwatch recorded about their facts and ``now`` go in, the calendar's bytes
come out (icalendar does the escaping, folding and UTC forms), so every rule is tested table-driven.

Calendar clients replace a subscribed calendar at each refresh and keep an entry by its ``UID``: an
entry's UID is its LL2 record and kind, its ``SEQUENCE`` rises when LL2 moves its time, and a time
LL2 withdrew stays where it was, ``CANCELLED``, so a subscriber sees that it was called off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from dockwatch.bot.model import (
    ChangeKind,
    DockingHistory,
    DockingRecord,
    EventHistory,
    SubscriptionFilter,
    TimeHistory,
    departed_key,
    docked_key,
    docking_key,
    plain_text,
    relocated_key,
    web_link,
    webcast_key,
)

PAST = timedelta(days=7)
AHEAD = timedelta(days=60)
REFRESH = timedelta(minutes=30)
"""How often a client should fetch again (RFC 7986 ``REFRESH-INTERVAL``): planned times move by the
hour, and a client polling every minute would spend nothing but the server's time."""
WEBCAST_NEAR = timedelta(hours=6)
"""How far from a docking or departure an LL2 event naming the vehicle may be to lend it its webcast
(LL2 links neither to the other; "Progress MS-29 Docking" is an event, docking 630 a record)."""
PRODID = "-//dockwatch//calendar//EN"
SHORT_PLACES = {"international space station": "ISS"}
"""How a summary names a station, read at a glance: "docks at ISS, Poisk zenith"."""

DOCKING_KINDS = frozenset({ChangeKind.DOCKED, ChangeKind.RELOCATED})


class Status(StrEnum):
    """An entry's ``STATUS`` (RFC 5545, 3.8.1.11). Ours rather than icalendar's ``STATUS``: icalendar
    (with its hundred modules, some 6 MB with feedgen's) loads only when a calendar is rendered,
    not in every ``dockwatch run`` that never serves one."""

    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Entry:
    """One VEVENT, before icalendar writes it."""

    uid: str
    start: datetime
    summary: str
    status: Status
    sequence: int
    created: datetime
    modified: datetime
    description: str
    url: str | None
    location: str | None = None


def facts_of(dockings: Iterable[DockingHistory], events: Iterable[EventHistory]) -> set[str]:
    """The fact keys whose recorded state decides the entries' status: what to ask the store."""
    facts: set[str] = set()
    for history in dockings:
        facts.update(_docking_facts(history.record), _departure_facts(history.record))
    facts.update(webcast_key(history.event.id) for history in events)
    return facts


def build_calendar(
    dockings: Sequence[DockingHistory],
    events: Sequence[EventHistory],
    happened: Mapping[str, datetime],
    *,
    now: datetime,
    ll2_base: str,
    wanted: SubscriptionFilter | None = None,
    scope: str | None = None,
) -> bytes:
    """The calendar of ``calendar_entries``; ``scope`` (what ``wanted`` keeps, in words) names it."""
    entries = calendar_entries(
        dockings, events, happened, now=now, ll2_base=ll2_base, wanted=wanted or SubscriptionFilter()
    )
    return render_calendar(entries, scope=scope)


def calendar_entries(
    dockings: Sequence[DockingHistory],
    events: Sequence[EventHistory],
    happened: Mapping[str, datetime],
    *,
    now: datetime,
    ll2_base: str,
    wanted: SubscriptionFilter,
) -> list[Entry]:
    """Every docking, departure and event time from ``PAST`` before ``now`` to ``AHEAD`` after it
    that ``wanted`` keeps, in time order.

    ``happened`` maps the facts dockwatch recorded as having happened (see ``facts_of``) to when it
    last said so: a time that has passed is ``CONFIRMED`` once its fact is there, and ``TENTATIVE``
    until then, like every time still ahead.
    """
    moments = _moments(dockings, events, ll2_base.rstrip("/"), wanted)
    found = [entry for moment in moments if (entry := _entry(moment, happened, now)) is not None]
    return sorted(found, key=lambda entry: (entry.start, entry.uid))


def render_calendar(entries: Iterable[Entry], *, scope: str | None = None) -> bytes:
    """The iCalendar text. No ``METHOD``: it is a published calendar, not a scheduling message, so
    each ``DTSTAMP`` is when the entry last changed (RFC 5545, 3.8.7.2), like ``LAST-MODIFIED``,
    and the same state gives the same bytes (an ETag clients can poll cheaply)."""
    from icalendar import Calendar, vDuration
    from icalendar import Event as VEvent
    from icalendar.enums import STATUS

    calendar = Calendar.new(
        prodid=PRODID,
        uid="calendar@dockwatch",
        name=f"dockwatch: {scope}" if scope else "dockwatch",
        description=(
            "Space station dockings, departures and events from Launch Library 2, "
            f"{PAST.days} days back and {AHEAD.days} days ahead"
        ),
    )
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))  # what Outlook and Apple Calendar read
    for entry in entries:
        calendar.add_component(
            VEvent.new(
                uid=entry.uid,
                start=entry.start.astimezone(UTC),
                summary=entry.summary,
                status=STATUS(entry.status),
                sequence=entry.sequence,
                stamp=entry.modified.astimezone(UTC),
                last_modified=entry.modified.astimezone(UTC),
                created=entry.created.astimezone(UTC),
                description=entry.description,
                url=entry.url,
                location=entry.location,
            )
        )
    body: bytes = calendar.to_ical()
    return body


@dataclass(frozen=True, slots=True)
class _Moment:
    """One time of one record, with what its entry would say."""

    uid: str
    summary: str
    at: datetime | None
    """LL2's time now; ``None`` when it gives none."""
    time: TimeHistory
    facts: set[str]
    """The facts whose recording confirms it happened."""
    first_seen: datetime
    revised_at: datetime
    lines: list[str]
    webcast: str | None
    link: str
    location: str | None


def _moments(
    dockings: Iterable[DockingHistory], events: Sequence[EventHistory], base: str, wanted: SubscriptionFilter
) -> Iterator[_Moment]:
    for history in dockings:
        record, seen = history.record, (history.first_seen, history.revised_at)
        if not wanted.accepts_place(record.where):
            continue
        link, lines = f"{base}/docking_events/{record.id}/", _docking_lines(record)
        if _wants(wanted, DOCKING_KINDS):
            yield _Moment(
                f"docking-{record.id}@dockwatch",
                f"{record.vehicle_name} docks at {_short(record.where)}, {record.port.name}",
                record.docking,
                history.docking,
                _docking_facts(record),
                *seen,
                lines,
                _webcast_for(record, record.docking or history.docking.given, events),
                link,
                record.where,
            )
        if _wants(wanted, {ChangeKind.DEPARTED}):
            yield _Moment(
                f"departure-{record.id}@dockwatch",
                f"{record.vehicle_name} departs {_short(record.where)}",
                record.departure,
                history.departure,
                _departure_facts(record),
                *seen,
                lines,
                _webcast_for(record, record.departure or history.departure.given, events),
                link,
                record.where,
            )
    if not _wants(wanted, {ChangeKind.WEBCAST_STARTED}):
        return
    for dated in events:
        event = dated.event
        if wanted.accepts_place(event.location or ""):
            yield _Moment(
                f"event-{event.id}@dockwatch",
                event.name,
                event.date,
                dated.date,
                {webcast_key(event.id)},
                dated.first_seen,
                dated.revised_at,
                [line for line in (_line("Type", event.type_name), _line("Where", event.location)) if line],
                event.webcast_url,
                f"{base}/events/{event.id}/",
                event.location,
            )


def _entry(moment: _Moment, happened: Mapping[str, datetime], now: datetime) -> Entry | None:
    """The moment's entry; ``None`` when it falls outside the window or LL2 never gave its time.

    LL2 gives moments, not spans, so an entry has no ``DTEND``: it lasts no time (RFC 5545, 3.6.1)
    rather than a length dockwatch would make up."""
    start = moment.at if moment.at is not None else moment.time.given
    if start is None or not now - PAST <= start <= now + AHEAD:
        return None
    recorded = [happened[fact] for fact in moment.facts if fact in happened]
    if moment.at is None:
        status, note = Status.CANCELLED, "Cancelled: LL2 no longer gives a time for it."
    elif moment.at <= now and recorded:
        status, note = Status.CONFIRMED, "Happened, as LL2 reported it."
    elif moment.at <= now:
        status, note = Status.TENTATIVE, "Planned for this time; dockwatch has not seen it happen yet."
    else:
        status, note = Status.TENTATIVE, "Planned: LL2 may still move it."
    if moment.time.revision:
        note += f" LL2 has changed this time {_times(moment.time.revision)}."
    webcast = web_link(moment.webcast)  # LL2's URLs are claims: a CR/LF in one broke the whole calendar
    watch = [f"Webcast: {webcast}"] if webcast else []
    return Entry(
        uid=moment.uid,
        start=start,
        summary=plain_text(moment.summary),
        status=status,
        sequence=moment.time.revision,
        created=moment.first_seen,
        modified=max([moment.revised_at, *recorded]),
        description=plain_text("\n".join([note, *moment.lines, *watch, f"LL2: {moment.link}"])),
        url=webcast or web_link(moment.link),
        location=plain_text(moment.location) if moment.location is not None else None,
    )


def _wants(wanted: SubscriptionFilter, kinds: Iterable[ChangeKind]) -> bool:
    return wanted.kinds is None or any(kind in wanted.kinds for kind in kinds)


def _docking_facts(record: DockingRecord) -> set[str]:
    """A docking is ``docked:<id>``, or ``relocated:<id>`` for a vehicle that moved ports; a reused
    LL2 id's facts carry the chaser (``docked:630/spacecraft_flight:912``)."""
    facts = {docked_key(record.id), relocated_key(record.id)}
    if record.chaser is not None:
        facts |= {docking_key(kind, record.id, record.chaser.identity) for kind in DOCKING_KINDS}
    return facts


def _departure_facts(record: DockingRecord) -> set[str]:
    facts = {departed_key(record.id)}
    if record.chaser is not None:
        facts.add(docking_key(ChangeKind.DEPARTED, record.id, record.chaser.identity))
    return facts


def _docking_lines(record: DockingRecord) -> list[str]:
    place = _line("Station", record.station.name) if record.station else _line("Target", record.where)
    lines = [place, _line("Port", record.port.name), _line("Vehicle", record.vehicle_name)]
    return [line for line in lines if line]


def _line(label: str, value: str | None) -> str | None:
    return f"{label}: {value}" if value else None


def _webcast_for(record: DockingRecord, at: datetime | None, events: Iterable[EventHistory]) -> str | None:
    """The webcast of the LL2 event that names the record's vehicle as a whole word ("Progress MS-33
    Docking", never "Progress MS-3" for "Progress MS-33") within ``WEBCAST_NEAR`` of ``at``."""
    if at is None or record.chaser is None or not record.chaser.name:
        return None
    named = re.compile(rf"(?<![\w-]){re.escape(record.chaser.name)}(?![\w-])", re.IGNORECASE)
    near: list[tuple[timedelta, str]] = []
    for history in events:
        event, url = history.event, history.event.webcast_url
        if (
            event.date is not None
            and url
            and abs(event.date - at) <= WEBCAST_NEAR
            and named.search(event.name)
        ):
            near.append((abs(event.date - at), url))
    return min(near)[1] if near else None


def _short(place: str) -> str:
    return SHORT_PLACES.get(place.lower(), place)


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
