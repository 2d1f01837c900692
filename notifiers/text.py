"""Plain-text wording shared by every platform, so a docking reads the same everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta

from dockwatch.bot.durations import humanize
from dockwatch.bot.model import ChangeKind, Message


def headline(message: Message) -> str:
    """One sentence a person reads at a glance: 'Cargo Dragon C209 docked at the ISS'."""
    vehicle = message.vehicle_name
    if message.kind is ChangeKind.DOCKED:
        return f"{vehicle} docked at {message.place}"
    if message.kind is ChangeKind.DEPARTED:
        return f"{vehicle} departed {message.place}"
    if message.kind is ChangeKind.RELOCATED:
        return f"{vehicle} moved to another port at {message.place}"
    return f"Webcast live: {message.event_name or 'an LL2 event'}"


def details(message: Message) -> list[tuple[str, str]]:
    """The facts behind the headline as (label, value) pairs, in reading order."""
    rows: list[tuple[str, str]] = []
    if message.kind is ChangeKind.WEBCAST_STARTED:
        if message.location:
            rows.append(("Where", message.location))
        if message.event_date is not None:
            rows.append(("Event time", _utc(message.event_date)))
        if message.webcast_url:
            rows.append(("Watch", message.webcast_url))
        return rows
    if message.station is not None:
        rows.append(("Station", message.station.name))
    elif message.location:
        rows.append(("Target", message.location))
    if message.previous_port is not None and message.port is not None:
        rows.append(("Port", f"{message.previous_port.name} → {message.port.name}"))
    elif message.port is not None:
        rows.append(("Port", message.port.name))
    rows.append(("Vehicle", message.vehicle_name))
    if message.kind is ChangeKind.DEPARTED:
        if message.departure is not None:
            rows.append(("Departed", _utc(message.departure)))
        if message.docked_seconds is not None:
            rows.append(("Stayed", humanize(timedelta(seconds=message.docked_seconds))))
    elif message.docking is not None:
        rows.append(("Docked", _utc(message.docking)))
    return rows


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
