"""The one subscription model every chat platform uses, and the queries their commands answer.

A subscription is a delivery target (``telegram:<chat id>``, ``discord:channel:<id>``) with a filter
(which kinds of change and which stations) and the chat's preferences (reminder lead times, quiet
hours, time zone). Platforms parse their command syntax into the arguments here and render the
replies; the meaning lives in this file, once.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from dockwatch.bot.durations import format_duration, humanize, parse_duration
from dockwatch.bot.model import (
    KINDS,
    SUBSCRIBABLE_KINDS,
    ChangeKind,
    DockingRecord,
    Event,
    SubscriptionFilter,
)
from dockwatch.bot.preferences import (
    LONGEST_LEAD,
    MAX_LEADS,
    NO_PREFERENCES,
    QUIET_USAGE,
    SHORTEST_LEAD,
    Preferences,
    QuietHours,
    describe_leads,
    parse_leads,
    parse_zone,
)
from dockwatch.storage import Store

KIND_WORDS: Mapping[str, ChangeKind] = MappingProxyType(
    {spec.word: kind for kind, spec in KINDS.items() if spec.word is not None}
)
"""The words chat commands accept for each kind, from the kinds table."""
_STATION_WORD = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
MAX_STATIONS = 5
SUBSCRIBE_USAGE = f"usage: /subscribe [{'|'.join(KIND_WORDS)} ...] [station ...], e.g. /subscribe docked iss"


class UsageError(ValueError):
    """A command's arguments do not parse; the message is the one-line answer to give."""


def parse_subscription(args: Sequence[str]) -> SubscriptionFilter:
    """``["docked", "webcast", "iss"]`` -> those kinds at stations matching "iss"; none -> everything."""
    kinds: set[ChangeKind] = set()
    stations: set[str] = set()
    for arg in args:
        word = arg.strip(",;").lower()
        if not word or word in ("all", "any"):
            continue
        if word in KIND_WORDS:
            kinds.add(KIND_WORDS[word])
        elif close := difflib.get_close_matches(word, KIND_WORDS, n=1, cutoff=0.75):
            raise UsageError(f"{arg[:40]!r}: did you mean {close[0]!r}? {SUBSCRIBE_USAGE}")
        elif _STATION_WORD.match(word):
            stations.add(word)
        else:
            raise UsageError(f"{arg[:40]!r} is not a kind or a station name; {SUBSCRIBE_USAGE}")
    if len(stations) > MAX_STATIONS:
        raise UsageError(f"at most {MAX_STATIONS} stations; {SUBSCRIBE_USAGE}")
    return SubscriptionFilter(frozenset(kinds) or None, frozenset(stations) or None)


def parse_query(kinds: Sequence[str], stations: Sequence[str]) -> SubscriptionFilter:
    """The filter of a URL such as ``/calendar.ics?kinds=docked,departed&station=iss``: each value a
    comma-separated list (a parameter may repeat) of the words ``/subscribe`` takes. A URL says which
    word is a kind and which a station, so, unlike in ``parse_subscription``, a word that is no kind
    is an error, never a station; ``UsageError`` names the value in one line."""
    chosen: set[ChangeKind] = set()
    for word in _listed(kinds):
        if word in KIND_WORDS:
            chosen.add(KIND_WORDS[word])
        elif word not in ("all", "any"):
            close = difflib.get_close_matches(word, KIND_WORDS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"kinds: {word[:40]!r} is not a kind{hint}; use {', '.join(KIND_WORDS)}")
    places: set[str] = set()
    for word in _listed(stations):
        if _STATION_WORD.match(word):
            places.add(word)
        elif word not in ("all", "any"):
            raise UsageError(
                f"station: {word[:40]!r} is not a station name (2 to 40 letters, digits or '-', e.g. iss)"
            )
    places -= {"all", "any"}
    if len(places) > MAX_STATIONS:
        raise UsageError(f"station: at most {MAX_STATIONS} stations")
    return SubscriptionFilter(frozenset(chosen) or None, frozenset(places) or None)


def _listed(values: Sequence[str]) -> list[str]:
    return [word.lower() for value in values for word in (w.strip() for w in value.split(",")) if word]


def describe(subscription: SubscriptionFilter) -> str:
    """'docked and webcast at iss', 'everything at any station'."""
    if subscription.kinds is None:
        kinds = "everything"
    elif not subscription.kinds:
        return "nothing (every kind is switched off)"
    else:
        names = [word for word, kind in KIND_WORDS.items() if kind in subscription.kinds]
        kinds = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    stations = " or ".join(sorted(subscription.stations)) if subscription.stations else "any station"
    return f"{kinds} at {stations}"


def toggled(subscription: SubscriptionFilter, kind: ChangeKind) -> SubscriptionFilter:
    """The filter with ``kind`` switched; switching off the last kind leaves that kind only off."""
    current = set(subscription.kinds) if subscription.kinds is not None else set(SUBSCRIBABLE_KINDS)
    current ^= {kind}
    kinds = None if current == set(SUBSCRIBABLE_KINDS) else frozenset(current)
    return SubscriptionFilter(kinds, subscription.stations)


STATION_CHOICES = {"iss": "ISS", "tiangong": "Tiangong"}
"""The stations offered as buttons; any other can still be named in /subscribe."""


def toggled_station(subscription: SubscriptionFilter, station: str) -> SubscriptionFilter:
    """Switch one station in or out; "any" clears the station filter."""
    if station == "any":
        return SubscriptionFilter(subscription.kinds, None)
    current = set(subscription.stations or ()) ^ {station}
    return SubscriptionFilter(subscription.kinds, frozenset(current) or None)


REMIND_USAGE = (
    f"usage: /remind <lead time> ... (at most {MAX_LEADS}, each from {format_duration(SHORTEST_LEAD)}"
    f" to {format_duration(LONGEST_LEAD)}), e.g. /remind 1h 10m; /remind off stops reminders"
)
QUIET_COMMAND_USAGE = (
    "usage: /quiet HH:MM-HH:MM [digest], e.g. /quiet 22:00-07:00 digest; /quiet off ends quiet hours"
)
TIMEZONE_USAGE = "usage: /timezone <IANA zone name>, e.g. /timezone Europe/Berlin"
NOT_SUBSCRIBED = "Not subscribed here yet: subscribe first with /subscribe."


def _words(args: Sequence[str]) -> list[str]:
    """Arguments as typed, split on spaces and commas: ``"1h, 10m"`` and ``["1h", "10m"]`` alike."""
    return [word for arg in args for word in re.split(r"[\s,;]+", arg) if word]


def parse_remind(args: Sequence[str]) -> tuple[timedelta, ...]:
    """``["1h", "10m"]`` -> the lead times, longest first; ``["off"]`` -> none."""
    words = _words(args)
    if not words:
        raise UsageError(f"no lead time given; {REMIND_USAGE}")
    if any(word.lower() == "off" for word in words):
        if len(words) > 1:
            raise UsageError(f"'off' stands alone; {REMIND_USAGE}")
        return ()
    for word in words:
        try:
            parse_duration(word)
        except ValueError:  # its own message offers '90s', which is no lead time
            raise UsageError(f"{word[:40]!r} is not a lead time like '1h' or '10m'; {REMIND_USAGE}") from None
    try:
        return parse_leads(words)
    except ValueError as error:
        raise UsageError(f"{error}; {REMIND_USAGE}") from None


def parse_quiet(args: Sequence[str]) -> QuietHours | None:
    """``["22:00-07:00", "digest"]`` -> those quiet hours; ``["off"]`` -> none."""
    text = " ".join(_words(args))
    if not text:
        raise UsageError(f"no quiet hours given; {QUIET_COMMAND_USAGE}")
    if text.lower() == "off":
        return None
    try:
        return QuietHours.parse(text)
    except ValueError as error:
        reason = str(error)  # its usage is the config's; the command's replaces it
        answer = reason.replace(QUIET_USAGE, QUIET_COMMAND_USAGE)
        raise UsageError(answer if answer != reason else f"{reason}; {QUIET_COMMAND_USAGE}") from None


def parse_timezone(args: Sequence[str]) -> str:
    """``["Europe/Berlin"]`` (or ``["europe/berlin"]``) -> the zone's IANA name as the system spells it."""
    words = _words(args)
    if not words:
        raise UsageError(f"no time zone given; {TIMEZONE_USAGE}")
    try:
        return parse_zone("_".join(words)).key
    except ValueError as error:  # it names the input, the expected shape and a near miss already
        raise UsageError(str(error)) from None


def describe_reminders(leads: Sequence[timedelta]) -> str:
    """'1h and 10m before each planned docking, departure or event'; 'off'."""
    return "off" if not leads else f"{describe_leads(leads)} each planned docking, departure or event"


def describe_zone(preferences: Preferences) -> str:
    """'Europe/Berlin'; 'UTC (the default)' for a chat that chose none."""
    return preferences.timezone or "UTC (the default)"


def describe_quiet(preferences: Preferences) -> str:
    """'22:00-07:00 Europe/Berlin time, alerts held for one digest at the end'; 'off'."""
    quiet = preferences.quiet
    if quiet is None:
        return "off"
    how = "alerts held for one digest at the end" if quiet.digest else "alerts arrive without a sound"
    return f"{quiet.start:%H:%M}-{quiet.end:%H:%M} {preferences.timezone or 'UTC'} time, {how}"


def describe_settings(subscription: SubscriptionFilter, preferences: Preferences) -> list[tuple[str, str]]:
    """Everything a chat chose, as (label, value) lines for each platform's /settings to mark up."""
    return [
        ("Alerts here", describe(subscription)),
        ("Reminders", describe_reminders(preferences.reminders)),
        ("Quiet hours", describe_quiet(preferences)),
        ("Time zone", describe_zone(preferences)),
    ]


def local_clock(zone: ZoneInfo, now: datetime) -> str:
    """'13:00 CET': what the chat's clock reads now, so whoever set a zone sees it is the one meant."""
    local = now.astimezone(zone)
    return f"{local:%H:%M} {local.tzname() or zone.key}"


@dataclass(frozen=True, slots=True)
class Upcoming:
    at: datetime
    what: str
    text: str


class Subscriptions:
    """Subscribe, unsubscribe and answer /docked and /next, for any platform."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def subscribe(
        self, key: str, *, notifier: str, label: str, subscription: SubscriptionFilter
    ) -> SubscriptionFilter:
        await self._store.save_subscription(key, notifier=notifier, label=label, subscription=subscription)
        return subscription

    async def unsubscribe(self, key: str, *, now: datetime) -> bool:
        """Stop deliveries to ``key``; false if it was not subscribed."""
        if await self._store.subscription(key) is None:
            return False
        await self._store.disable_target(key, reason="unsubscribed", now=now)
        return True

    async def current(self, key: str) -> SubscriptionFilter | None:
        return await self._store.subscription(key)

    async def preferences(self, key: str) -> Preferences:
        """The chat's choices; the defaults for a chat that never made any."""
        return await self._store.preferences(key) or NO_PREFERENCES

    async def zone(self, key: str) -> ZoneInfo:
        """The zone a chat reads times in: the one it chose, else UTC."""
        return (await self.preferences(key)).zone

    async def set_reminders(self, key: str, leads: Sequence[timedelta]) -> Preferences:
        """``()`` switches reminders off. Only a subscribed chat has choices to keep: ``UsageError``
        otherwise, and nothing is stored."""
        await self._require_subscription(key)
        return self._saved(await self._store.save_preferences(key, reminders=tuple(leads)))

    async def set_quiet(self, key: str, quiet: QuietHours | None) -> Preferences:
        """``None`` ends quiet hours; refused like ``set_reminders``."""
        await self._require_subscription(key)
        return self._saved(await self._store.save_preferences(key, quiet=quiet))

    async def set_timezone(self, key: str, zone: str) -> Preferences:
        """``zone`` as ``parse_timezone`` returns it; refused like ``set_reminders``."""
        await self._require_subscription(key)
        return self._saved(await self._store.save_preferences(key, timezone=zone))

    async def _require_subscription(self, key: str) -> None:
        if await self._store.subscription(key) is None:
            raise UsageError(NOT_SUBSCRIBED)

    @staticmethod
    def _saved(preferences: Preferences | None) -> Preferences:
        if preferences is None:  # the target vanished between the check and the write
            raise UsageError(NOT_SUBSCRIBED)
        return preferences

    async def docked_now(self, now: datetime) -> dict[str, list[DockingRecord]]:
        """What is docked at each place now, per what LL2 last said."""
        by_place: dict[str, list[DockingRecord]] = defaultdict(list)
        for record in await self._store.docked_at(now):
            by_place[record.where].append(record)
        return dict(sorted(by_place.items()))

    async def next_days(self, now: datetime, days: int = 7) -> list[Upcoming]:
        known = await self._store.load_known_state()
        return upcoming(known.dockings.values(), await self._store.events(), now, timedelta(days=days))


def upcoming(
    dockings: Iterable[DockingRecord], events: Iterable[Event], now: datetime, horizon: timedelta
) -> list[Upcoming]:
    """Planned dockings, departures and events between ``now`` and ``now + horizon``, in order."""
    items: list[Upcoming] = []
    for record in dockings:
        where = f"{record.vehicle_name} · {record.where} · {record.port.name}"
        if record.docking is not None and now < record.docking <= now + horizon:
            items.append(Upcoming(record.docking, "docking", where))
        if record.departure is not None and now < record.departure <= now + horizon:
            items.append(Upcoming(record.departure, "departure", where))
    for event in events:
        if event.date is not None and now < event.date <= now + horizon:
            items.append(Upcoming(event.date, event.type_name or "event", event.name))
    return sorted(items, key=lambda item: item.at)


def docked_for(record: DockingRecord, now: datetime) -> str:
    return humanize(now - record.docking) if record.docking is not None else "?"
