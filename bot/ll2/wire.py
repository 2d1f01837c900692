"""LL2's JSON as it arrives (2.3.0, and 2.2.0 for users pinned to it), parsed into domain types.

Only the fields dockwatch uses are declared; everything else LL2 sends is ignored, so new upstream
fields never break parsing while a missing or mistyped field we rely on fails loudly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, ValidationError

from dockwatch.bot.errors import UpstreamError
from dockwatch.bot.model import DockingRecord, Event, Party, Port, Station, Webcast


def _to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timestamp that must carry a zone (LL2 sends ``Z``), normalised to ``datetime.UTC``."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Image(_Wire):
    image_url: str | None = None


class Named(_Wire):
    id: int
    name: str
    image: Image | None = None

    @property
    def image_url(self) -> str | None:
        return self.image.image_url if self.image is not None else None


class SpacecraftFlight(_Wire):
    id: int
    spacecraft: Named


class PayloadFlight(_Wire):
    id: int
    payload: Named


class DockingLocation(_Wire):
    id: int
    name: str
    spacestation: Named | None = None


class DockingEvent(_Wire):
    """A 2.3.0 ``/docking_events/`` record: each side is one of three nullable fields."""

    id: int
    docking: UtcDatetime | None = None
    departure: UtcDatetime | None = None
    docking_location: DockingLocation
    flight_vehicle_chaser: SpacecraftFlight | None = None
    payload_flight_chaser: PayloadFlight | None = None
    space_station_chaser: Named | None = None
    flight_vehicle_target: SpacecraftFlight | None = None
    payload_flight_target: PayloadFlight | None = None
    space_station_target: Named | None = None

    def to_domain(self) -> DockingRecord:
        station = self.docking_location.spacestation or self.space_station_target
        return DockingRecord(
            id=self.id,
            docking=self.docking,
            departure=self.departure,
            port=Port(self.docking_location.id, self.docking_location.name),
            station=_station(station),
            chaser=_party(self.flight_vehicle_chaser, self.payload_flight_chaser, self.space_station_chaser),
            target=_party(self.flight_vehicle_target, self.payload_flight_target, self.space_station_target),
        )


class LegacySpacecraftConfig(_Wire):
    image_url: str | None = None


class LegacySpacecraft(_Wire):
    id: int
    name: str
    spacecraft_config: LegacySpacecraftConfig | None = None


class LegacyFlightVehicle(_Wire):
    id: int
    spacecraft: LegacySpacecraft


class LegacyStation(_Wire):
    id: int
    name: str
    image_url: str | None = None


class LegacyDockingLocation(_Wire):
    id: int
    name: str
    spacestation: LegacyStation | None = None


class LegacyDockingEvent(_Wire):
    """A 2.2.0 ``/docking_event/`` record: one flight vehicle docking to one space station."""

    id: int
    docking: UtcDatetime | None = None
    departure: UtcDatetime | None = None
    flight_vehicle: LegacyFlightVehicle | None = None
    docking_location: LegacyDockingLocation
    space_station: LegacyStation | None = None

    def to_domain(self) -> DockingRecord:
        station = self.space_station or self.docking_location.spacestation
        vehicle = self.flight_vehicle
        chaser = None
        if vehicle is not None:
            config = vehicle.spacecraft.spacecraft_config
            chaser = Party(
                "spacecraft_flight",
                vehicle.id,
                vehicle.spacecraft.name,
                config.image_url if config else None,
            )
        return DockingRecord(
            id=self.id,
            docking=self.docking,
            departure=self.departure,
            port=Port(self.docking_location.id, self.docking_location.name),
            station=Station(station.id, station.name, station.image_url) if station else None,
            chaser=chaser,
            target=Party("space_station", station.id, station.name, station.image_url) if station else None,
        )


class VidUrl(_Wire):
    url: str
    live: bool = False
    priority: int = 0
    title: str | None = None
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None


class EventType(_Wire):
    name: str


class DatePrecision(_Wire):
    name: str


class LL2Event(_Wire):
    """An ``/events/`` record in list, normal or detailed mode (2.3.0) or 2.2.0's shape."""

    id: int
    name: str
    date: UtcDatetime | None = None
    date_precision: DatePrecision | None = None
    webcast_live: bool  # required: a missing flag must not read as "not live"
    vid_urls: list[VidUrl] = []
    type: EventType | None = None
    location: str | None = None
    image: Image | None = None
    feature_image: str | None = None  # 2.2.0

    def to_domain(self) -> Event:
        image = self.image.image_url if self.image is not None else self.feature_image
        return Event(
            id=self.id,
            name=self.name,
            date=self.date,
            webcast_live=self.webcast_live,
            webcasts=tuple(
                Webcast(v.url, v.live, v.priority, v.title, v.start_time, v.end_time) for v in self.vid_urls
            ),
            type_name=self.type.name if self.type is not None else None,
            location=self.location,
            image_url=image,
            date_precision=self.date_precision.name if self.date_precision is not None else None,
        )


class Page(_Wire):
    """A paginated LL2 list; ``results`` stays raw until the record type is known."""

    count: int
    next: str | None = None
    results: list[dict[str, Any]]


def _station(named: Named | None) -> Station | None:
    return Station(named.id, named.name, named.image_url) if named is not None else None


def _party(
    flight: SpacecraftFlight | None, payload: PayloadFlight | None, station: Named | None
) -> Party | None:
    if flight is not None:
        craft = flight.spacecraft
        return Party("spacecraft_flight", flight.id, craft.name, craft.image_url)
    if payload is not None:
        return Party("payload_flight", payload.id, payload.payload.name, payload.payload.image_url)
    if station is not None:
        return Party("space_station", station.id, station.name, station.image_url)
    return None


def _describe(error: ValidationError, where: str, prefix: str = "") -> str:
    first = error.errors()[0]
    parts = [prefix] if prefix else []
    parts += [str(part) for part in first["loc"]]
    path = ".".join(parts) or "(top level)"
    return f"{where}: unexpected payload at {path}: {first['msg']}"


def parse_page(payload: object, where: str) -> Page:
    try:
        return Page.model_validate(payload)
    except ValidationError as error:
        raise UpstreamError(_describe(error, where)) from None


def parse_dockings(results: list[dict[str, Any]], where: str, *, legacy: bool) -> list[DockingRecord]:
    model: type[DockingEvent] | type[LegacyDockingEvent] = LegacyDockingEvent if legacy else DockingEvent
    records = []
    for index, raw in enumerate(results):
        try:
            records.append(replace(model.model_validate(raw).to_domain(), raw=raw))
        except ValidationError as error:
            raise UpstreamError(_describe(error, where, f"results[{index}]")) from None
    return records


def parse_events(results: list[dict[str, Any]], where: str) -> list[Event]:
    events = []
    for index, raw in enumerate(results):
        try:
            events.append(replace(LL2Event.model_validate(raw).to_domain(), raw=raw))
        except ValidationError as error:
            raise UpstreamError(_describe(error, where, f"results[{index}]")) from None
    return events
