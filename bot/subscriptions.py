"""The one subscription model every chat platform uses, and the queries their commands answer.

A subscription is a delivery target (``telegram:<chat id>``, later ``discord:<channel id>``) with a
filter: which kinds of change and which stations. Platforms parse their command syntax into the
arguments here and render the replies; the meaning lives in this file, once.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from dockwatch.bot.durations import humanize
from dockwatch.bot.model import (
    KINDS,
    SUBSCRIBABLE_KINDS,
    ChangeKind,
    DockingRecord,
    Event,
    SubscriptionFilter,
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
