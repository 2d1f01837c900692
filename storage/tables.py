"""The tables: what was seen, what was announced, what is owed to whom, and how LL2 was used."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from dockwatch.bot.model import Receipt


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, whatever the backend keeps (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ReceiptJSON(TypeDecorator[Receipt]):
    """A ``Receipt`` kept as JSON, so the row hands back the domain type and not a bare dict."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Receipt | None, dialect: Dialect) -> Any:
        return None if value is None else value.model_dump(mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> Receipt | None:
        return None if value is None else Receipt.model_validate(value)


def _time(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(sa_column=Column(JSON, nullable=False))


def _revision() -> Any:
    return Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPERSEDED = "superseded"
    """Never sent because LL2 took the fact back first (a correction retracted it): not a failure."""


class DockingRow(SQLModel, table=True):
    """The latest version of each docking record LL2 showed us."""

    __tablename__ = "docking_record"

    id: int = Field(primary_key=True)
    docking: datetime | None = _time(nullable=True)
    departure: datetime | None = _time(nullable=True)
    port_id: int
    port_name: str
    station_id: int | None = None
    station_name: str | None = None
    station_image_url: str | None = None
    chaser_kind: str | None = None
    chaser_id: int | None = None
    chaser_name: str | None = None
    chaser_image_url: str | None = None
    target_kind: str | None = None
    target_id: int | None = None
    target_name: str | None = None
    target_image_url: str | None = None
    raw: dict[str, Any] = _json()
    first_seen: datetime = _time()
    last_seen: datetime = _time()
    docking_revision: int = _revision()
    """How often LL2 moved or withdrew the docking time after giving one (revision 0010): the
    calendar's ``SEQUENCE``. Counted here because the row keeps only LL2's latest version."""
    departure_revision: int = _revision()
    docking_given: datetime | None = _time(nullable=True)
    """The last docking time LL2 gave: ``docking``, or the one it withdrew (revision 0010)."""
    departure_given: datetime | None = _time(nullable=True)
    revised_at: datetime | None = _time(nullable=True)
    """When a field dockwatch uses last changed (revision 0010); ``None`` for a row unchanged since
    before that revision, whose ``first_seen`` stands in."""


class EventRow(SQLModel, table=True):
    """The latest version of each upcoming event LL2 showed us."""

    __tablename__ = "event_record"

    id: int = Field(primary_key=True)
    name: str
    date: datetime | None = _time(nullable=True)
    type_name: str | None = None
    location: str | None = None
    webcast_live: bool = False
    webcast_url: str | None = None
    webcast_start: datetime | None = _time(nullable=True)
    image_url: str | None = None
    raw: dict[str, Any] = _json()
    first_seen: datetime = _time()
    last_seen: datetime = _time()
    date_revision: int = _revision()
    """How often LL2 moved or withdrew the date after giving one (revision 0010), as for a docking."""
    date_given: datetime | None = _time(nullable=True)
    revised_at: datetime | None = _time(nullable=True)


class NotificationRow(SQLModel, table=True):
    """Every fact ever recorded; ``key`` is unique, which makes a double announcement impossible."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kind: str
    announced: bool
    payload: dict[str, Any] = _json()
    occurred_at: datetime = _time()
    created_at: datetime = _time()
    fact: str | None = Field(default=None, index=True)
    """For a docking notification, the fact it is about (revision 0008): ``docked:630`` for
    ``docked:630``, ``docked:630#2`` and ``correction:1:docked:630``. A target gets one fact's
    messages in the order they were recorded."""


class DeliveryRow(SQLModel, table=True):
    """One notification owed to one target: the outbox row the dispatcher works through."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "target_key"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notification.id")
    target_key: str = Field(index=True)
    status: str = DeliveryStatus.QUEUED
    attempts: int = 0
    next_attempt_at: datetime = _time()
    last_error: str | None = None
    created_at: datetime = _time()
    updated_at: datetime = _time()
    delivered_at: datetime | None = _time(nullable=True)
    receipt: Receipt | None = Field(default=None, sa_column=Column(ReceiptJSON(), nullable=True))
    """The platform's message identity once delivered (revision 0002; ``None`` before it)."""
    claimed_by: str | None = None
    """The owner token of the claim while ``sending`` (revision 0007): writes after the send succeed
    only while it still holds, so two instances never both record (or send) one delivery. It stays
    on the row after, naming the instance that recorded the outcome; a release at stop clears it."""
    held: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    """Postponed to the end of its target's quiet hours, to go out in one digest (revision 0009)."""
    original_id: int | None = None
    """For a correction: this target's delivery of the announcement it corrects (revision 0006),
    whose receipt it edits and which must have been delivered (the order of one fact's messages is
    kept by ``NotificationRow.fact``)."""


class TargetRow(SQLModel, table=True):
    """A delivery target: from the config or a chat subscription, its filter, and whether it still
    accepts messages (a 410, a blocked bot)."""

    __tablename__ = "target"

    key: str = Field(primary_key=True)
    notifier: str
    label: str
    source: str = "config"  # "config": listed in the config file; "chat": subscribed from a chat
    configured: bool = True
    enabled: bool = True
    kinds: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    stations: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    disabled_reason: str | None = None
    disabled_at: datetime | None = _time(nullable=True)
    reminders: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """The chat's own reminder lead times in seconds, longest first (revision 0009); ``[]``: it
    switched them off; ``None``: it chose nothing, the config's apply."""
    quiet: str | None = None
    """The chat's own quiet hours as written, ``22:00-07:00`` or ``22:00-07:00 digest``, or ``off``
    (revision 0009); ``None``: the config's apply."""
    timezone: str | None = None
    """The chat's own IANA zone name (revision 0009); ``None``: the config's, else UTC."""
    config_reminders: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """What the config file says for a static target, rewritten at every start (revision 0009)."""
    config_quiet: str | None = None
    config_timezone: str | None = None


class PollRow(SQLModel, table=True):
    """One poll cycle and how it ended."""

    __tablename__ = "poll_log"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = _time(index=True)
    finished_at: datetime = _time()
    result: str
    detail: str | None = None
    changes_recorded: int = 0
    changes_announced: int = 0


class ApiCallRow(SQLModel, table=True):
    """One request to LL2 that counts against the hourly budget."""

    __tablename__ = "api_call"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(index=True)
    path: str


class ApiHoldRow(SQLModel, table=True):
    """LL2 told us to wait (429 ``Retry-After`` or ``/api-throttle/``) until ``until``."""

    __tablename__ = "api_hold"

    id: int = Field(default=1, primary_key=True)
    until: datetime = _time()
    reason: str


class PlatformStateRow(SQLModel, table=True):
    """Whether a configured platform could start, as the last ``poll-once`` or ``run`` found it,
    so ``dockwatch status`` (another process) can say which one is down and why."""

    __tablename__ = "platform_state"

    name: str = Field(primary_key=True)
    error: str | None = None
    since: datetime = _time()
    checked_at: datetime = _time()


class TargetMoveRow(SQLModel, table=True):
    """A target that changed address (a Telegram group that became a supergroup): ``old_key`` now
    lives at ``new_key``, so a config that still names ``old_key`` is sent to ``new_key``. Chains are
    kept collapsed: ``new_key`` is always the newest address, never itself a moved key."""

    __tablename__ = "target_move"

    old_key: str = Field(primary_key=True)
    new_key: str
    moved_at: datetime = _time()


class LeaseRow(SQLModel, table=True):
    """A role only one instance may hold at a time (``poller``: the one that polls LL2), until
    ``expires_at``; the holder renews it, any instance takes it over once it has lapsed."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = _time()
    acquired_at: datetime = _time()
