"""Plain-text wording shared by every platform, so a docking reads the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import assert_never

from dockwatch.bot.durations import humanize
from dockwatch.bot.model import ChangeKind, Message, Revision


def headline(message: Message) -> str:
    """One sentence a person reads at a glance: 'Cargo Dragon C209 docked at the ISS'; for a
    correction, what is true now: 'Correction: Cargo Dragon C209 has not docked at the ISS yet'; for
    a reminder, how soon: 'In 1 hour: Cargo Dragon C209 docks at the ISS'."""
    if (soon := lead_words(message)) is not None:
        return f"{soon[0].upper()}{soon[1:]}: {fact(message)}"
    correction = message.correction
    if correction is not None:
        match correction.reason:
            case Revision.RESCHEDULED | Revision.WITHDRAWN:
                return f"Correction: {_not_yet(message)}"
            case Revision.REFINED:
                pass
            case _:
                assert_never(correction.reason)
    return fact(message)


def fact(message: Message) -> str:
    """The fact as first announced, whatever happened to it since."""
    vehicle = message.vehicle_name
    match message.kind:
        case ChangeKind.DOCKED:
            return f"{vehicle} docked at {message.place}"
        case ChangeKind.DEPARTED:
            return f"{vehicle} departed {message.place}"
        case ChangeKind.RELOCATED:
            return f"{vehicle} moved to another port at {message.place}"
        case ChangeKind.WEBCAST_STARTED:
            return f"Webcast live: {message.event_name or 'an LL2 event'}"
        case ChangeKind.DOCKING_REMINDER:
            return f"{vehicle} docks at {message.place}"
        case ChangeKind.DEPARTURE_REMINDER:
            return f"{vehicle} departs {message.place}"
        case ChangeKind.EVENT_REMINDER:
            return f"{message.event_name or 'An LL2 event'} begins"
        case ChangeKind.TEST:
            return "dockwatch test message: this target works"
        case _:
            assert_never(message.kind)


def lead_words(message: Message) -> str | None:
    """For a reminder, how long before the planned time it was due: 'in 1 hour', 'in 10 minutes'."""
    if message.lead_seconds is None:
        return None
    return f"in {humanize(timedelta(seconds=message.lead_seconds))}"


def _not_yet(message: Message) -> str:
    vehicle = message.vehicle_name
    match message.kind:
        case ChangeKind.DOCKED:
            return f"{vehicle} has not docked at {message.place} yet"
        case ChangeKind.DEPARTED:
            return f"{vehicle} has not departed {message.place} yet"
        case ChangeKind.RELOCATED:
            return f"{vehicle} has not moved to another port at {message.place} yet"
        case ChangeKind.WEBCAST_STARTED:
            return f"the webcast of {message.event_name or 'an LL2 event'} is not live yet"
        case (
            ChangeKind.DOCKING_REMINDER
            | ChangeKind.DEPARTURE_REMINDER
            | ChangeKind.EVENT_REMINDER
            | ChangeKind.TEST
        ):
            return fact(message)  # never corrected: a reminder is about a plan, a test about nothing
        case _:
            assert_never(message.kind)


def correction_line(message: Message, zone: tzinfo = UTC) -> str | None:
    """What LL2 says now, for a correction: 'LL2 now expects it at 2026-11-23 13:30 UTC'."""
    correction = message.correction
    if correction is None:
        return None
    match correction.reason:
        case Revision.RESCHEDULED:
            when = (
                local_time(correction.expected, zone) if correction.expected is not None else "a later time"
            )
            return f"LL2 now expects it at {when}."
        case Revision.WITHDRAWN:
            return "LL2 no longer gives a time for it."
        case Revision.REFINED:
            return "LL2 has refined its time."
        case _:
            assert_never(correction.reason)


def correction_reply(message: Message, zone: tzinfo = UTC) -> str:
    """The short message posted in reply to the corrected one, so its readers are told."""
    line = correction_line(message, zone) or ""
    return f"{headline(message)}. {line}".strip()


def has_happened(message: Message) -> bool:
    """Whether the message's fact happened: false for a correction saying it has not (yet), whose
    docking or departure time is then a plan, never to be shown as "Docked" or "Departed"."""
    return message.correction is None or message.correction.reason is Revision.REFINED


def details(message: Message, zone: tzinfo = UTC) -> list[tuple[str, str]]:
    """The facts behind the headline as (label, value) pairs, in reading order, times in ``zone``."""
    match message.kind:
        case ChangeKind.DOCKED | ChangeKind.RELOCATED:
            rows = _docking_rows(message)
            if message.docking is not None and has_happened(message):
                rows.append(("Docked", local_time(message.docking, zone)))
            return rows
        case ChangeKind.DEPARTED:
            rows = _docking_rows(message)
            if not has_happened(message):
                return rows
            if message.departure is not None:
                rows.append(("Departed", local_time(message.departure, zone)))
            if message.docked_seconds is not None:
                rows.append(("Stayed", humanize(timedelta(seconds=message.docked_seconds))))
            return rows
        case ChangeKind.WEBCAST_STARTED:
            return _webcast_rows(message, zone)
        case ChangeKind.DOCKING_REMINDER | ChangeKind.DEPARTURE_REMINDER:
            rows = _docking_rows(message)
            if message.expected is not None:
                rows.append(("Planned", local_time(message.expected, zone)))
            return rows
        case ChangeKind.EVENT_REMINDER:
            return _webcast_rows(message, zone)
        case ChangeKind.TEST:
            return [("Sent by", "dockwatch test-target: notifications will arrive here like this")]
        case _:
            assert_never(message.kind)


def _docking_rows(message: Message) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if message.station is not None:
        rows.append(("Station", message.station.name))
    elif message.location:
        rows.append(("Target", message.location))
    if message.previous_port is not None and message.port is not None:
        rows.append(("Port", f"{message.previous_port.name} → {message.port.name}"))
    elif message.port is not None:
        rows.append(("Port", message.port.name))
    rows.append(("Vehicle", message.vehicle_name))
    return rows


def _webcast_rows(message: Message, zone: tzinfo) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if message.location:
        rows.append(("Where", message.location))
    if message.event_date is not None:
        rows.append(("Event time", local_time(message.event_date, zone)))
    if message.webcast_url:
        rows.append(("Watch", message.webcast_url))
    return rows


def local_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """'2026-11-23 14:00 CET': the wall clock of ``zone`` with its abbreviation (``UTC`` by default)."""
    local = moment.astimezone(zone)
    abbreviation = local.tzname() or "UTC"
    return f"{local:%Y-%m-%d %H:%M} {'UTC' if abbreviation in ('UTC', 'Etc/UTC') else abbreviation}"


DIGEST_TITLE = "While your quiet hours lasted"


def digest_time(moment: datetime, zone: tzinfo = UTC) -> str:
    """'03:12 CET': a digest lists one night's messages, so the wall clock of ``zone`` is enough."""
    return local_time(moment, zone).partition(" ")[2]


def utf16_length(text: str) -> int:
    """The length chat platforms count (JavaScript's): an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def fit_lines(
    heading: Sequence[str], lines: Sequence[str], limit: int, measure: Callable[[str], int] = utf16_length
) -> str:
    """``heading`` and as many of ``lines`` as fit in ``limit`` (by ``measure``), one a line; the
    lines that do not fit are counted in a last one, '… and 3 more', that fits too."""
    whole = "\n".join([*heading, *lines])
    if measure(whole) <= limit:
        return whole
    reserve = measure(f"\n… and {len(lines)} more")
    kept = list(heading)
    size = measure("\n".join(kept))
    for line in lines:
        grown = size + (1 if kept else 0) + measure(line)
        if grown + reserve > limit:
            break
        kept.append(line)
        size = grown
    left = len(lines) - (len(kept) - len(heading))
    return "\n".join([*kept, f"… and {left} more"])


def http_link(url: str | None, longest: int) -> str | None:
    """``url`` when it is an http(s) link of at most ``longest`` characters, else ``None``: LL2's URLs
    are claims, and a platform shows a link only when it is one."""
    if url and len(url) <= longest and url.startswith(("http://", "https://")):
        return url
    return None
