"""Domain types shared by every room: what LL2 told us, what changed, and the message about it.

LL2's wire format is parsed into these in ``bot/ll2``; detection, storage and notifiers only ever see
these types, so an LL2 quirk is handled once, at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict

PartyKind = Literal["spacecraft_flight", "payload_flight", "space_station"]


class ChangeKind(StrEnum):
    """The things dockwatch announces; the values are stored and are the webhook ``type`` strings."""

    DOCKED = "docking.docked"
    DEPARTED = "docking.departed"
    RELOCATED = "docking.relocated"
    WEBCAST_STARTED = "event.webcast_started"
    DOCKING_REMINDER = "docking.reminder"
    DEPARTURE_REMINDER = "departure.reminder"
    EVENT_REMINDER = "event.reminder"
    TEST = "dockwatch.test"


class Moment(StrEnum):
    """What the planner polls for so a kind is announced soon after it happens."""

    DOCKING = "docking"
    """A docking record's planned ``docking`` time."""
    DEPARTURE = "departure"
    """A docking record's planned ``departure`` time."""
    EVENT_WINDOW = "event_window"
    """An event's planned webcast starts, and a dense window around the event's date."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything about one kind that is not per message: its row of the kinds table."""

    key_prefix: str
    """Notification keys are ``<key_prefix>:<LL2 id>``, so the same fact always has the same key.

    A docking id LL2 reused for another chaser adds that chaser: ``docked:630/spacecraft_flight:912``
    (see ``docking_key``). A reminder's key adds its lead and planned time (``reminder_key``)."""
    webhook_type: str
    """The webhook body's ``type``: a public contract, never renamed."""
    title: str
    word: str | None
    """The word chat commands use for the kind: ``/subscribe docked``; ``None`` for a kind nobody
    subscribes to by name (a reminder follows the kind it reminds of; a test goes where it is sent)."""
    colour: int
    """The Discord embed colour."""
    emoji: str
    """The mark before a Telegram headline."""
    moment: Moment | None
    """What the planner polls for to see it happen; ``None`` for a kind detection never finds."""
    reminds: ChangeKind | None = None
    """For a reminder: the kind it precedes, whose filter it passes (a chat subscribed to ``docked``
    with reminders on gets docking reminders)."""

    def key(self, ll2_id: int) -> str:
        return f"{self.key_prefix}:{ll2_id}"


def _spec(kind: ChangeKind) -> KindSpec:
    # A match rather than a dict literal: mypy rejects this function when a kind has no row.
    match kind:
        case ChangeKind.DOCKED:
            return KindSpec("docked", "docking.docked", "Docked", "docked", 0x2ECC71, "🛰", Moment.DOCKING)
        case ChangeKind.DEPARTED:
            return KindSpec(
                "departed", "docking.departed", "Departed", "departed", 0xE67E22, "👋", Moment.DEPARTURE
            )
        case ChangeKind.RELOCATED:
            return KindSpec(
                "relocated", "docking.relocated", "Relocated", "relocated", 0x3498DB, "🔁", Moment.DOCKING
            )
        case ChangeKind.WEBCAST_STARTED:
            return KindSpec(
                "webcast",
                "event.webcast_started",
                "Webcast started",
                "webcast",
                0xE74C3C,
                "🔴",
                Moment.EVENT_WINDOW,
            )
        case ChangeKind.DOCKING_REMINDER:
            return KindSpec(
                "remind-docking",
                "docking.reminder",
                "Docking soon",
                None,
                0x1ABC9C,
                "⏰",
                None,
                ChangeKind.DOCKED,
            )
        case ChangeKind.DEPARTURE_REMINDER:
            return KindSpec(
                "remind-departure",
                "departure.reminder",
                "Departure soon",
                None,
                0xF39C12,
                "⏰",
                None,
                ChangeKind.DEPARTED,
            )
        case ChangeKind.EVENT_REMINDER:
            return KindSpec(
                "remind-event",
                "event.reminder",
                "Event soon",
                None,
                0x9B59B6,
                "⏰",
                None,
                ChangeKind.WEBCAST_STARTED,
            )
        case ChangeKind.TEST:
            return KindSpec("test", "dockwatch.test", "Test message", None, 0x7F8C8D, "🧪", None)
        case _:
            assert_never(kind)


KINDS: Mapping[ChangeKind, KindSpec] = MappingProxyType({kind: _spec(kind) for kind in ChangeKind})
"""The kinds table: one row per ``ChangeKind``, in the enum's order."""

SUBSCRIBABLE_KINDS: tuple[ChangeKind, ...] = tuple(kind for kind, spec in KINDS.items() if spec.word)
"""The kinds a chat switches on and off by name; every other kind follows one of them, or none."""

REMINDER_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.reminds is not None)


def reminder_key(kind: ChangeKind, ll2_id: int, lead: timedelta, expected: datetime) -> str:
    """``remind-docking:630:3600@2026-11-23T10:00:00Z``: one reminder per (fact, lead, planned time),
    so a planned time is reminded of once per lead, and a new planned time gets reminders of its own."""
    at = expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{KINDS[kind].key(ll2_id)}:{int(lead.total_seconds())}@{at}"


REMINDER_SAME_PLAN = timedelta(minutes=15)
"""Planned times this close are one plan: LL2 nudging a docking by a few minutes is reminded of once;
moved further, the new time is reminded of again."""


def same_plan(key: str, other: str) -> bool:
    """Whether two reminder keys remind of one plan: the same fact and lead, planned times within
    ``REMINDER_SAME_PLAN``."""
    a, b = parse_reminder_key(key), parse_reminder_key(other)
    if a is None or b is None or a[:2] != b[:2]:
        return False
    return abs(a[2] - b[2]) <= REMINDER_SAME_PLAN


def reminder_prefix(key: str) -> str | None:
    """``remind-docking:630:3600@``: what every key of that fact and lead starts with."""
    parsed = parse_reminder_key(key)
    return None if parsed is None else f"{parsed[0]}:{parsed[1]}@"


def parse_reminder_key(key: str) -> tuple[str, int, datetime] | None:
    """``remind-docking:630:3600@2026-11-23T10:00:00Z`` -> (``remind-docking:630``, 3600, the time);
    ``None`` for any other key."""
    head, at, when = key.partition("@")
    base, _, lead = head.rpartition(":")
    if not at or not lead.isdigit() or not base.startswith(_REMINDER_PREFIXES):
        return None
    try:
        expected = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return base, int(lead), expected


_REMINDER_PREFIXES = tuple(f"{KINDS[kind].key_prefix}:" for kind in REMINDER_KINDS)


VehicleId = tuple[PartyKind, int]
"""A chaser's identity: LL2 numbers flights, payload flights and stations separately."""


def docking_key(kind: ChangeKind, record_id: int, reused_for: VehicleId | None = None) -> str:
    """The key of a docking record's fact: ``docked:630``.

    ``reused_for`` is the chaser of a record whose LL2 id was first recorded as docked with another
    vehicle: that is a different docking, so its facts get keys of their own,
    ``docked:630/spacecraft_flight:912``, and never collide with the first docking's.
    """
    key = KINDS[kind].key(record_id)
    if reused_for is None:
        return key
    party_kind, party_id = reused_for
    return f"{key}/{party_kind}:{party_id}"


def docked_key(record_id: int) -> str:
    return docking_key(ChangeKind.DOCKED, record_id)


def departed_key(record_id: int) -> str:
    return docking_key(ChangeKind.DEPARTED, record_id)


def relocated_key(record_id: int) -> str:
    return docking_key(ChangeKind.RELOCATED, record_id)


def webcast_key(event_id: int) -> str:
    return KINDS[ChangeKind.WEBCAST_STARTED].key(event_id)


CORRECTABLE_KINDS = frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.RELOCATED})
"""The kinds whose announcements a correction may retract or refine (a docking fact's)."""


def revision_of(key: str) -> tuple[str, int]:
    """``docked:630#2`` -> (``docked:630``, 2); a key without a suffix is revision 1."""
    base, _, revision = key.partition("#")
    return base, int(revision) if revision.isdigit() else 1


def revision_key(base: str, revision: int) -> str:
    return base if revision == 1 else f"{base}#{revision}"


def correction_key(number: int, corrected: str) -> str:
    return f"correction:{number}:{corrected}"


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a docking: a spacecraft flight, a payload flight or a space station."""

    kind: PartyKind
    id: int
    name: str
    image_url: str | None = None

    @property
    def identity(self) -> VehicleId:
        return (self.kind, self.id)


@dataclass(frozen=True, slots=True)
class Port:
    """A docking location (LL2 ``docking_location``)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Station:
    """A space station; absent for payload-to-payload dockings."""

    id: int
    name: str
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class DockingRecord:
    """One LL2 docking event, both sides normalised whatever their LL2 type.

    ``docking`` and ``departure`` may lie in the future: LL2 holds planned times there.
    """

    id: int
    docking: datetime | None
    departure: datetime | None
    port: Port
    station: Station | None
    chaser: Party | None
    target: Party | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def where(self) -> str:
        """The place a person would name: the station, else the target vehicle, else the port."""
        if self.station is not None:
            return self.station.name
        if self.target is not None:
            return self.target.name
        return self.port.name

    @property
    def vehicle_name(self) -> str:
        return self.chaser.name if self.chaser is not None else "Unknown vehicle"

    @property
    def image_url(self) -> str | None:
        if self.chaser is not None and self.chaser.image_url:
            return self.chaser.image_url
        return self.station.image_url if self.station is not None else None


@dataclass(frozen=True, slots=True)
class Webcast:
    """One entry of an event's ``vid_urls``; a higher ``priority`` number is a better stream."""

    url: str
    live: bool = False
    priority: int = 0
    title: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


EXACT_PRECISIONS = frozenset({"second", "minute"})
"""LL2 date precisions that name a time a reminder may count down to."""


@dataclass(frozen=True, slots=True)
class Event:
    """An LL2 event (a docking, an EVA, a briefing) with its webcasts."""

    id: int
    name: str
    date: datetime | None
    webcast_live: bool = False
    webcasts: tuple[Webcast, ...] = ()
    type_name: str | None = None
    location: str | None = None
    image_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    date_precision: str | None = None
    """LL2's ``date_precision`` name (``Minute``, ``Hour``, ``Day``, ``Month``...); ``None`` when it
    gives none (2.2.0). A ``Day`` or ``Month`` date is a placeholder, not a time."""

    @property
    def exact_date(self) -> bool:
        """Whether ``date`` is a time to the minute, one a reminder may count down to."""
        return self.date_precision is None or self.date_precision.lower() in EXACT_PRECISIONS

    @property
    def is_live(self) -> bool:
        return self.webcast_live or any(w.live for w in self.webcasts)

    @property
    def webcast(self) -> Webcast | None:
        """The stream to link: the live one with the highest ``priority`` number, else the
        highest-priority stream; ties keep LL2's order.

        LL2 gives official streams the higher numbers (NASA and SpaceX 10, Roscosmos TV 9, an
        unofficial restream 8).
        """
        candidates = [w for w in self.webcasts if w.live] or list(self.webcasts)
        return max(candidates, key=lambda w: w.priority) if candidates else None  # max keeps the first

    @property
    def webcast_url(self) -> str | None:
        webcast = self.webcast
        return webcast.url if webcast is not None else None


class Endpoint(StrEnum):
    """The LL2 lists dockwatch reads; the planner polls each on its own schedule."""

    DOCKINGS = "dockings"
    EVENTS = "events"


ALL_ENDPOINTS: frozenset[Endpoint] = frozenset(Endpoint)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one successful poll of LL2 returned.

    A poll may read only some endpoints (``fetched``); the list of one it did not read is empty and
    says nothing about LL2, which is why detection only ever looks at what a snapshot holds.
    """

    dockings: tuple[DockingRecord, ...]
    events: tuple[Event, ...]
    fetched: frozenset[Endpoint] = ALL_ENDPOINTS


@dataclass(frozen=True, slots=True)
class TimeHistory:
    """What the store remembers of one of a record's times beyond LL2's latest version of it."""

    given: datetime | None
    """The last time LL2 gave: the current one, or the one it withdrew (``None``: it never gave one)."""
    revision: int = 0
    """How often LL2 moved or withdrew it after first giving one."""


@dataclass(frozen=True, slots=True)
class DockingHistory:
    """A docking record as a calendar shows it: LL2's latest version and how its times changed."""

    record: DockingRecord
    docking: TimeHistory
    departure: TimeHistory
    first_seen: datetime
    revised_at: datetime
    """When a field dockwatch uses last changed."""


@dataclass(frozen=True, slots=True)
class EventHistory:
    """An event as a calendar shows it, like ``DockingHistory``."""

    event: Event
    date: TimeHistory
    first_seen: datetime
    revised_at: datetime


@dataclass(frozen=True, slots=True)
class KnownState:
    """What the store remembers, as detection needs it.

    ``recorded_keys`` holds the key of every change ever recorded, announced or silent; that set is
    what makes a second announcement of the same fact impossible. ``docking_notices`` are the
    recorded docking, departure and relocation notifications (corrections included) about the
    records on the poll's page, oldest first: what dockwatch has said about each fact, so a
    correction knows what it corrects. Only the poll loads them, and ``docked_vehicles``.

    ``docked_vehicles`` holds, for each docking id recorded as docked (``docked:<id>`` or
    ``relocated:<id>``), the vehicle it was recorded with, when that vehicle was known. ``dockings``
    holds only LL2's latest version of each record, so this is what tells a reused id apart.
    """

    dockings: Mapping[int, DockingRecord] = field(default_factory=dict)
    recorded_keys: frozenset[str] = frozenset()
    baseline_done: bool = False
    docked_vehicles: Mapping[int, VehicleId] = field(default_factory=dict)
    docking_notices: tuple[Notice, ...] = ()


@dataclass(frozen=True, slots=True)
class Notice:
    """A recorded notification: what it said, and whether it was announced to anyone."""

    message: Message
    announced: bool


class Revision(StrEnum):
    """How LL2 changed its mind about a fact dockwatch already announced."""

    RESCHEDULED = "rescheduled"
    """Its time moved back into the future: it has not happened yet."""
    WITHDRAWN = "withdrawn"
    """Its time was removed: LL2 no longer says when, or whether, it happens."""
    REFINED = "refined"
    """Its time changed but stays in the past: it happened, at another time."""

    @property
    def webhook_type(self) -> str:
        """The webhook body's ``type``: a public contract, never renamed."""
        match self:
            case Revision.RESCHEDULED | Revision.WITHDRAWN:
                return "notification.corrected"
            case Revision.REFINED:
                return "notification.updated"
            case _:
                assert_never(self)


class Correction(BaseModel):
    """What a correcting message says about the announcement it corrects."""

    model_config = ConfigDict(frozen=True)

    reason: Revision
    corrects: str
    """The key of the announcement (its webhook ``webhook-id``)."""
    expected: datetime | None = None
    """For ``RESCHEDULED``: the time LL2 now expects."""


class Ref(BaseModel):
    """A named LL2 object inside a message."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str


class VehicleRef(Ref):
    kind: PartyKind


class Message(BaseModel):
    """The platform-neutral notification; stored as JSON and rendered by each notifier.

    Every field but ``kind``, ``key`` and ``occurred_at`` is optional so one shape covers dockings and
    events; the webhook ``data`` object is this model minus those three.
    """

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    key: str
    occurred_at: datetime
    docking_event_id: int | None = None
    event_id: int | None = None
    station: Ref | None = None
    port: Ref | None = None
    previous_port: Ref | None = None
    vehicle: VehicleRef | None = None
    target: VehicleRef | None = None
    location: str | None = None
    docking: datetime | None = None
    departure: datetime | None = None
    docked_seconds: int | None = None
    event_name: str | None = None
    event_type: str | None = None
    event_date: datetime | None = None
    image_url: str | None = None
    webcast_url: str | None = None
    correction: Correction | None = None
    """Set on a message that corrects an earlier one: ``kind`` and the fields are the fact as LL2 now
    tells it, ``key`` is the correction's own key."""
    lead_seconds: int | None = None
    """For a reminder: how long before ``expected`` it was due."""
    expected: datetime | None = None
    """For a reminder: the planned time it reminds of (the docking, the departure, the event)."""

    @property
    def vehicle_name(self) -> str:
        return self.vehicle.name if self.vehicle is not None else "Unknown vehicle"

    @property
    def place(self) -> str:
        if self.station is not None:
            return self.station.name
        return self.location or "an unknown station"


class Receipt(BaseModel):
    """What a platform answered when it accepted a message: enough to find that message again.

    Stored as JSON on the delivery row so a later correction can edit the message in place.
    ``message`` holds the platform's identity of it (Discord ``channel_id``/``webhook_id`` and
    ``message_id``; Telegram ``chat_id`` and ``message_id``; a webhook receiver's HTTP ``status``).
    ``moved_to`` is set when the platform delivered to a new address (a Telegram group that became
    a supergroup), so the target's key follows it.
    """

    model_config = ConfigDict(frozen=True)

    platform: str
    message: dict[str, str | int] = {}
    moved_to: str | None = None

    def describe(self) -> str:
        """One line for people: the platform and its message identity."""
        ids = " ".join(f"{name}={value}" for name, value in sorted(self.message.items()))
        moved = f" (target moved to {self.moved_to})" if self.moved_to else ""
        return f"{self.platform} {ids or '(no message id)'}{moved}"


@dataclass(frozen=True, slots=True)
class Change:
    """One detected fact. ``announce`` is false for facts recorded silently (baseline, stale, folded)."""

    key: str
    kind: ChangeKind
    announce: bool
    message: Message


STATION_ALIASES = {
    "iss": "international space station",
    "css": "tiangong",
    "tss": "tiangong",
}


@dataclass(frozen=True, slots=True)
class SubscriptionFilter:
    """Which notifications a chat wants: ``None`` means every kind, or every station.

    Stations match by case-insensitive substring of the place name, so "tiangong" matches
    "Tiangong space station"; a few common abbreviations ("iss", "css") are understood.
    """

    kinds: frozenset[ChangeKind] | None = None
    stations: frozenset[str] | None = None

    def accepts(self, message: Message) -> bool:
        kind = KINDS[message.kind].reminds or message.kind
        if self.kinds is not None and kind not in self.kinds:
            return False
        return self.accepts_place(message.place)

    def accepts_place(self, place: str) -> bool:
        """Whether ``place`` (a station, a target vehicle, an event's location) passes the station
        filter: the calendar asks it of records, which are no messages."""
        if self.stations is None:
            return True
        return any(STATION_ALIASES.get(s, s) in place.lower() for s in self.stations)


def fact_of(message: Message) -> str | None:
    """The docking fact a notification is about (``docked:630`` for ``docked:630``, ``docked:630#2``
    and ``correction:1:docked:630``); ``None`` for a webcast."""
    if message.kind not in CORRECTABLE_KINDS:
        return None
    key = message.correction.corrects if message.correction is not None else message.key
    return revision_of(key)[0]


def trial_message(now: datetime) -> Message:
    """The message ``dockwatch test-target`` sends: about no fact, marked as a test everywhere."""
    # To the microsecond: the key is the webhook-id a receiver drops duplicates by.
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Message(kind=ChangeKind.TEST, key=f"{KINDS[ChangeKind.TEST].key_prefix}:{stamp}", occurred_at=now)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_UNSAFE_IN_URL = re.compile("[\x00-\x20\x7f]")


def plain_text(text: str) -> str:
    """``text`` without the control characters LL2 may carry and no text format allows (iCalendar's
    TEXT, XML); line breaks and tabs stay."""
    return _CONTROL.sub("", text)


def web_link(url: str | None) -> str | None:
    """``url`` as a link safe to publish: http(s) only, no whitespace or control characters (which an
    LL2 field may carry and which break the formats it goes into), anything beyond ASCII
    percent-encoded; ``None`` when it is no such link."""
    if url is None:
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")) or _UNSAFE_IN_URL.search(url) or len(url) > 2000:
        return None
    return "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode()) for c in url)
