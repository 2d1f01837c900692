"""What a target chose about when and how it is told: reminder lead times, quiet hours, its time zone.

Domain types and their pure rules, shared by the config (static targets), the chat commands
(subscribed chats), the store (one row per target) and the dispatcher (silent or held). No clock is
read here: ``now`` is always handed in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dockwatch.bot.durations import format_duration, parse_duration

MAX_LEADS = 4
SHORTEST_LEAD = timedelta(minutes=5)
LONGEST_LEAD = timedelta(days=7)
LONGEST_TOLERANCE = timedelta(minutes=30)


def parse_leads(texts: Iterable[str]) -> tuple[timedelta, ...]:
    """``["1h", "10m"]`` -> (1 h, 10 min), longest first, duplicates dropped; ``ValueError`` naming
    the first lead time that cannot work."""
    leads: set[timedelta] = set()
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"a lead time is a duration like '1h' or '10m', got {text!r}")
        lead = parse_duration(text)
        if not SHORTEST_LEAD <= lead <= LONGEST_LEAD:
            raise ValueError(
                f"lead time {text.strip()!r} must be from {format_duration(SHORTEST_LEAD)}"
                f" to {format_duration(LONGEST_LEAD)}"
            )
        leads.add(lead)
    if len(leads) > MAX_LEADS:
        raise ValueError(f"at most {MAX_LEADS} lead times, got {len(leads)}")
    return tuple(sorted(leads, reverse=True))


def tolerance(lead: timedelta) -> timedelta:
    """How late a reminder may still go out: half its lead, at most 30 minutes. Later than that, "in
    10 minutes" would be wrong, so it is not sent at all."""
    return min(lead / 2, LONGEST_TOLERANCE)


def describe_leads(leads: Sequence[timedelta]) -> str:
    """'1h and 10m before'; 'off'."""
    if not leads:
        return "off"
    words = [format_duration(lead) for lead in leads]
    joined = " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
    return f"{joined} before"


LONGEST_QUIET_HOURS = 20
LONGEST_QUIET = timedelta(hours=LONGEST_QUIET_HOURS)
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(?:\s(digest))?\s*$", re.IGNORECASE)
QUIET_USAGE = "quiet hours are HH:MM-HH:MM, optionally followed by 'digest', e.g. '22:00-07:00 digest'"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span of local wall-clock time, ``start`` inclusive, ``end`` exclusive, that may cross
    midnight. ``digest``: hold messages and send one digest when it ends, instead of sending them at
    once without a sound."""

    start: time
    end: time
    digest: bool = False

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _SPAN.match(text)
        if match is None:
            raise ValueError(f"{text.strip()[:40]!r}: {QUIET_USAGE}")
        h1, m1, h2, m2, digest = match.groups()
        try:
            start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
        except ValueError:
            raise ValueError(f"{text.strip()[:40]!r}: hours are 0-23 and minutes 0-59") from None
        if start == end:
            raise ValueError(f"{text.strip()[:40]!r}: the span is empty; {QUIET_USAGE}")
        quiet = cls(start, end, digest is not None)
        if quiet.length > LONGEST_QUIET:
            # Held for a digest, a message must still go out within its 24 hours; and a span that
            # long leaves its end where a DST change can swallow it.
            raise ValueError(f"{text.strip()[:40]!r}: quiet hours last at most {LONGEST_QUIET_HOURS} hours")
        return quiet

    @property
    def length(self) -> timedelta:
        """The span on a day without a clock change."""
        start = timedelta(hours=self.start.hour, minutes=self.start.minute)
        end = timedelta(hours=self.end.hour, minutes=self.end.minute)
        return (end - start) % timedelta(days=1)

    def __str__(self) -> str:
        span = f"{self.start:%H:%M}-{self.end:%H:%M}"
        return f"{span} digest" if self.digest else span

    def contains(self, moment: datetime, zone: tzinfo) -> bool:
        """Whether ``moment`` falls in the span on the wall clock of ``zone``."""
        local = moment.astimezone(zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, zone: tzinfo) -> datetime:
        """The first instant after ``moment`` at which the wall clock of ``zone`` reads ``end`` or
        later: where a DST change skips ``end`` (02:30 on a spring-forward night), the span ends when
        the clock jumps past it, not an hour late; where a fall-back repeats it, at whichever of the
        two comes next (the repeated half hour before the second is in the span again), not a day
        late."""
        local = moment.astimezone(zone)
        for days in range(3):
            day = (local + timedelta(days=days)).date()
            for candidate in _instants_at(datetime.combine(day, self.end), zone):
                if candidate > moment and not self.contains(candidate, zone):
                    return candidate
        raise AssertionError("a wall-clock time recurs within three days")  # pragma: no cover


def _instants_at(wall: datetime, zone: tzinfo) -> tuple[datetime, ...]:
    """The instants at which the clock of ``zone`` reads ``wall``, earliest first: two where a
    fall-back repeats it; where a spring-forward skips it, the instant the clock jumps past it."""
    first = _first_instant_at(wall, zone)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if second > first and second.astimezone(zone).replace(tzinfo=None) == wall:
        return first, second
    return (first,)


def _first_instant_at(wall: datetime, zone: tzinfo) -> datetime:
    """The first UTC instant at which the clock of ``zone`` reads ``wall`` or later."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) == wall:
        return early  # it exists (the first of two, when a fall-back repeats it)
    # In a gap: ``fold=1`` reads it with the offset after the jump, which lands before the jump.
    low, high = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), early
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name (``Europe/Berlin``, case as written or not); ``ValueError`` with a
    "did you mean" for a near miss (``Europe/Berlinn``, ``berlin``)."""
    text = name.strip()
    if not text or len(text) > 64 or text.startswith(("/", ".")) or ".." in text:
        raise ValueError(f"{text[:40]!r} is not a time zone name like 'Europe/Berlin'")
    names = _zone_names()
    exact = {zone.lower(): zone for zone in names}
    if text.lower() in exact:
        text = exact[text.lower()]
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    by_city = {zone.rpartition("/")[2].lower(): zone for zone in names}
    close = difflib.get_close_matches(text.lower(), list(exact), n=1, cutoff=0.8) or [
        exact[by_city[match].lower()]
        for match in difflib.get_close_matches(text.lower().replace(" ", "_"), list(by_city), n=1)
    ]
    hint = f" (did you mean {exact.get(close[0], close[0])!r}?)" if close else ""
    raise ValueError(f"{text[:40]!r} is not a time zone name like 'Europe/Berlin'{hint}")


@dataclass(frozen=True, slots=True)
class Preferences:
    """A target's choices; the defaults are: no reminders, no quiet hours, UTC."""

    reminders: tuple[timedelta, ...] = ()
    quiet: QuietHours | None = None
    timezone: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The target's zone; UTC when it chose none (or one this system no longer knows)."""
        if self.timezone is None:
            return ZoneInfo("UTC")
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def is_quiet(self, now: datetime) -> bool:
        return self.quiet is not None and self.quiet.contains(now, self.zone)


NO_PREFERENCES = Preferences()


@dataclass(frozen=True, slots=True)
class ConfiguredPreferences:
    """What a config file sets for a static target; ``None`` leaves that choice to the chat's own
    commands, a value replaces it at every start."""

    reminders: tuple[timedelta, ...] | None = None
    quiet: QuietHours | None = None
    timezone: str | None = None


NOT_CONFIGURED = ConfiguredPreferences()
