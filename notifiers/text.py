"""Plain-text wording shared by every platform, so a docking reads the same everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import assert_never

from dockwatch.bot.durations import humanize
from dockwatch.bot.model import ChangeKind, Message


def headline(message: Message) -> str:
    """One sentence a person reads at a glance: 'Cargo Dragon C209 docked at the ISS'."""
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
        case _:
            assert_never(message.kind)


def details(message: Message) -> list[tuple[str, str]]:
    """The facts behind the headline as (label, value) pairs, in reading order."""
    match message.kind:
        case ChangeKind.DOCKED | ChangeKind.RELOCATED:
            rows = _docking_rows(message)
            if message.docking is not None:
                rows.append(("Docked", _utc(message.docking)))
            return rows
        case ChangeKind.DEPARTED:
            rows = _docking_rows(message)
            if message.departure is not None:
                rows.append(("Departed", _utc(message.departure)))
            if message.docked_seconds is not None:
                rows.append(("Stayed", humanize(timedelta(seconds=message.docked_seconds))))
            return rows
        case ChangeKind.WEBCAST_STARTED:
            return _webcast_rows(message)
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


def _webcast_rows(message: Message) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if message.location:
        rows.append(("Where", message.location))
    if message.event_date is not None:
        rows.append(("Event time", _utc(message.event_date)))
    if message.webcast_url:
        rows.append(("Watch", message.webcast_url))
    return rows


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
