"""Builders for LL2 2.3.0 JSON records with times relative to a test's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dockwatch.bot.detect import detect
from dockwatch.bot.ll2.wire import parse_dockings, parse_events
from dockwatch.bot.model import (
    KINDS,
    REMINDER_KINDS,
    ChangeKind,
    Correction,
    KnownState,
    Message,
    Ref,
    Revision,
    Snapshot,
    VehicleRef,
    trial_message,
)
from dockwatch.bot.reminders import due_reminders

_NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
DETECTED_KINDS = [kind for kind in ChangeKind if KINDS[kind].moment is not None]
"""The kinds detection announces and corrections correct: not reminders, not the test message."""
ISS = {"id": 4, "name": "International Space Station", "image": {"image_url": "https://img.test/iss.jpg"}}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ll2_docking(
    record_id: int,
    *,
    docking: datetime | None,
    departure: datetime | None = None,
    port: tuple[int, str] = (30, "Harmony zenith"),
    vehicle: tuple[int, str] | None = (877, "Cargo Dragon C209"),
    station: dict[str, Any] | None = ISS,
) -> dict[str, Any]:
    """A 2.3.0 ``/docking_events/`` record with a spacecraft-flight chaser (or none)."""
    chaser = None
    if vehicle is not None:
        flight_id, name = vehicle
        chaser = {
            "id": flight_id,
            "spacecraft": {
                "id": flight_id + 10_000,
                "name": name,
                "image": {"image_url": f"https://img.test/{flight_id}.jpg"},
            },
        }
    return {
        "id": record_id,
        "url": f"https://ll.test/2.3.0/docking_events/{record_id}/",
        "docking": iso(docking),
        "departure": iso(departure),
        "docking_location": {"id": port[0], "name": port[1], "spacestation": station},
        "space_station_target": station,
        "flight_vehicle_target": None,
        "payload_flight_target": None,
        "flight_vehicle_chaser": chaser,
        "space_station_chaser": None,
        "payload_flight_chaser": None,
    }


def ll2_event(
    event_id: int,
    *,
    date: datetime,
    live: bool = False,
    name: str = "Crew-12 Docking",
    video_url: str = "https://www.youtube.com/watch?v=test",
    precision: str = "Minute",
) -> dict[str, Any]:
    return {
        "id": event_id,
        "name": name,
        "date": iso(date),
        "date_precision": {"id": 1, "name": precision, "abbrev": precision[:3].upper()},
        "webcast_live": live,
        "type": {"id": 2, "name": "Docking"},
        "location": "International Space Station",
        "image": {"image_url": "https://img.test/event.jpg"},
        "vid_urls": [{"priority": 10, "url": video_url, "live": live, "title": name}],
    }


def message_with(
    kind: ChangeKind, *, vehicle: str, station: str, port: str, event: str, webcast_url: str | None
) -> Message:
    """A message of ``kind`` with every text field set from arbitrary (LL2) strings."""
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return Message(
        kind=kind,
        key="k:1",
        occurred_at=now,
        station=Ref(id=1, name=station),
        port=Ref(id=2, name=port),
        previous_port=Ref(id=3, name=port) if kind is ChangeKind.RELOCATED else None,
        vehicle=VehicleRef(id=3, name=vehicle, kind="spacecraft_flight"),
        location=station,
        docking=now - timedelta(days=3),
        departure=now,
        docked_seconds=3 * 86400,
        event_name=event,
        event_date=now,
        webcast_url=webcast_url,
        lead_seconds=3600 if kind in REMINDER_KINDS else None,
        expected=now + timedelta(hours=1) if kind in REMINDER_KINDS else None,
    )


def messages_of_every_kind() -> dict[ChangeKind, Message]:
    """Real detection output for a docking, a departure, a relocation and a webcast start."""
    records = parse_dockings(
        [
            ll2_docking(1, docking=_NOW - timedelta(minutes=5), vehicle=(10, "Cygnus NG-23")),
            ll2_docking(
                2,
                docking=_NOW - timedelta(days=30),
                departure=_NOW - timedelta(minutes=50),
                vehicle=(20, "Soyuz MS-27"),
                port=(42, "Prichal nadir"),
            ),
            ll2_docking(
                3,
                docking=_NOW - timedelta(minutes=20),
                vehicle=(20, "Soyuz MS-27"),
                port=(2, "Rassvet nadir"),
            ),
            ll2_docking(
                4,
                docking=_NOW - timedelta(days=20),
                departure=_NOW - timedelta(minutes=1),
                vehicle=(30, "Progress MS-32"),
            ),
        ],
        "test",
        legacy=False,
    )
    events = parse_events([ll2_event(9, date=_NOW + timedelta(minutes=20), live=True)], "test")
    changes = detect(KnownState(baseline_done=True), Snapshot(tuple(records), tuple(events)), _NOW)
    messages = {c.kind: c.message for c in changes if c.announce}
    planned = parse_dockings(
        [
            ll2_docking(5, docking=_NOW + timedelta(hours=1), vehicle=(50, "Crew Dragon Endeavour")),
            ll2_docking(
                6,
                docking=_NOW - timedelta(days=90),
                departure=_NOW + timedelta(hours=1),
                vehicle=(60, "Soyuz MS-28"),
            ),
        ],
        "test",
        legacy=False,
    )
    soon = parse_events([ll2_event(10, date=_NOW + timedelta(hours=1))], "test")
    reminders = due_reminders(planned, soon, {timedelta(hours=1)}, frozenset(), _NOW)
    messages |= {c.kind: c.message for c in reminders}
    messages[ChangeKind.TEST] = trial_message(_NOW)
    return messages


def correction_of(message: Message, reason: Revision, when: datetime | None) -> Message:
    """A correction of ``message`` as detection makes it: the same kind and fields, LL2's new time
    ``when`` (``None``: withdrawn) in the kind's time field, and a key of its own."""
    field = {
        ChangeKind.DOCKED: "docking",
        ChangeKind.RELOCATED: "docking",
        ChangeKind.DEPARTED: "departure",
        ChangeKind.WEBCAST_STARTED: "event_date",
    }[message.kind]
    happened = reason is Revision.REFINED
    return message.model_copy(
        update={
            "key": f"correction:1:{message.key}",
            field: when,
            "docked_seconds": message.docked_seconds if happened else None,
            "correction": Correction(
                reason=reason,
                corrects=message.key,
                expected=when if reason is Revision.RESCHEDULED else None,
            ),
        }
    )
