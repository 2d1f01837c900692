"""The state store: every read and write dockwatch makes, each write in one short transaction.

The one that matters most is ``record_cycle``: new state, notifications and their delivery rows are
committed together (a transactional outbox), so a crash leaves either the previous state or the
complete new one, and a recorded notification always has its deliveries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import reduce
from typing import Any, cast

from sqlalchemy import String, Table, delete, exists, func, insert, literal, or_, text, update
from sqlalchemy import cast as sql_cast
from sqlalchemy import select as core_select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased, defer
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dockwatch.bot.errors import LeaseLost, StorageError, StorageUnavailable
from dockwatch.bot.model import (
    CORRECTABLE_KINDS,
    KINDS,
    Change,
    ChangeKind,
    Correction,
    DockingHistory,
    DockingRecord,
    Event,
    EventHistory,
    KnownState,
    Message,
    Notice,
    PartyKind,
    Receipt,
    Revision,
    Snapshot,
    SubscriptionFilter,
    VehicleId,
    docked_key,
    fact_of,
    relocated_key,
    reminder_prefix,
    same_plan,
)
from dockwatch.bot.preferences import (
    NO_PREFERENCES,
    NOT_CONFIGURED,
    ConfiguredPreferences,
    Preferences,
    QuietHours,
)
from dockwatch.storage import leases
from dockwatch.storage.engine import READ_ONLY, create_engine, dialect_insert, is_transient
from dockwatch.storage.moves import TargetMove
from dockwatch.storage.peek import HOT_JOURNAL
from dockwatch.storage.rows import (
    QUIET_OFF,
    docking_from_row,
    docking_history,
    docking_to_row,
    event_from_row,
    event_history,
    event_matches_row,
    event_to_row,
    reminder_leads_of,
    reminder_seconds,
    subscription_filter,
    target_filter,
    target_preferences,
)
from dockwatch.storage.schema import (
    MigrationFailed,
    SchemaState,
    require_current,
    schema_state,
    upgrade,
)
from dockwatch.storage.tables import (
    ApiCallRow,
    ApiHoldRow,
    DeliveryRow,
    DeliveryStatus,
    DockingRow,
    EventRow,
    LeaseRow,
    NotificationRow,
    PlatformStateRow,
    PollRow,
    TargetMoveRow,
    TargetRow,
    UTCDateTime,
)
from dockwatch.storage.urls import existing_sqlite_file, rollback_journal_beside


class Unset:
    """The type of ``UNSET``: "leave this choice as it is", where ``None`` means "switch it off"."""


UNSET = Unset()


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """A configured delivery target as the store knows it: no secrets, only a key and a label."""

    key: str
    notifier: str
    label: str
    preferences: ConfiguredPreferences = NOT_CONFIGURED
    """The config's choices; each one set replaces the target's at every start, each one unset
    leaves what the chat chose with its commands."""


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for sending, with the message it carries: the claim itself.

    Every write that ends the claim (``mark_delivered``, ``mark_retry``, ``mark_held``, ``mark_dead``,
    ``mark_superseded``) or extends it (``renew_claim``) applies only while the row is still
    ``sending`` under this ``owner`` and ``lease_until``: once the lease lapsed and another instance
    claimed the delivery, it is theirs.
    """

    id: int
    target_key: str
    attempt: int
    notification_created_at: datetime
    message: Message
    lease_until: datetime
    owner: str
    """The owner token that claimed it (``Runtime.instance``)."""
    original: Receipt | None = None
    """For a correction: the receipt of this target's delivery of the announcement it corrects."""
    original_delivered: bool = False
    """For a correction: whether that announcement reached this target at all."""
    last_error: str | None = None
    """Why the previous attempt failed, if one did."""
    preferences: Preferences = NO_PREFERENCES
    """The target's choices as they are now (quiet hours, zone): how the message is shown."""
    held: bool = False
    """Postponed to the end of the target's quiet hours, for a digest."""


@dataclass(frozen=True, slots=True)
class ApiReservation:
    """What ``reserve_api_calls`` decided: the ids of the calls it counted (none when refused), and the
    window and hold it decided on, so a refusal can say when the next call is allowed."""

    ids: tuple[int, ...]
    calls: tuple[datetime, ...]
    hold_until: datetime | None
    hold_reason: str | None


DOCKING_KINDS = [kind.value for kind in CORRECTABLE_KINDS]
BUDGET_LOCK = 0x646F636B  # "dock": PostgreSQL advisory lock serialising budget reservations
CYCLE_LOCK = 0x64637963  # "dcyc": PostgreSQL advisory lock serialising recorded cycles
TARGETS_LOCK_TIMEOUT = "30s"
"""How long an announcing cycle waits for the target table on PostgreSQL: a chat's own write takes
milliseconds, so only a transaction someone left open waits this long."""


@dataclass(frozen=True, slots=True)
class RecordedCycle:
    recorded: int
    announced: int
    deliveries: int
    announced_kinds: tuple[str, ...] = ()
    announced_keys: tuple[str, ...] = ()
    """The notifications this call recorded and announced (not those another writer recorded first)."""


class Store:
    """Async access to the dockwatch database; open it with ``Store.open(url)`` to read and write, or
    ``Store.open_read_only(url)`` to look without changing a byte."""

    def __init__(
        self, engine: AsyncEngine, schema: SchemaState, upgraded_from: SchemaState | None = None
    ) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self.schema = schema
        """The schema revision the database is at."""
        self.upgraded_from = upgraded_from
        """Where the schema was before this open upgraded it; ``None`` when it was already current."""

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Store]:
        """Open for reading and writing, first upgrading the schema to this code's (under a lock)."""
        if existing_sqlite_file(url) and not rollback_journal_beside(url):
            # Look before writing: connecting switches SQLite to WAL, which rewrites the file header
            # of whatever database a mistyped storage.url points at. A rollback journal beside it
            # may be a crashed writer's, which only a read-write connection can roll back: then the
            # upgrade's own check, under the write lock, is the look.
            async with cls.open_read_only(url, require_head=False):
                pass
        engine = create_engine(url)
        try:
            try:
                async with engine.begin() as connection:
                    before, after = await connection.run_sync(upgrade, _safe_url(url))
            except (SQLAlchemyError, MigrationFailed, OSError) as error:
                raise StorageError(f"cannot open database {_safe_url(url)}: {_first_line(error)}") from None
            yield cls(engine, after, None if before == after else before)
        finally:
            await engine.dispose()

    @classmethod
    @asynccontextmanager
    async def open_read_only(cls, url: str, *, require_head: bool = True) -> AsyncIterator[Store]:
        """Open without writing: no schema change, no journal-mode change, no write lock taken.

        The schema must be this code's (``require_head``), else a ``StorageError`` says what to do;
        ``dockwatch db current`` opens with ``require_head=False`` to report where it stands.
        """
        engine = create_engine(url, read_only=True)
        try:
            check = require_current if require_head else schema_state
            try:
                async with engine.connect() as connection:
                    state = await connection.run_sync(check, _safe_url(url))
            except (SQLAlchemyError, OSError) as error:
                hot = rollback_journal_beside(url) and "readonly" in _first_line(error)
                reason = HOT_JOURNAL if hot else _first_line(error)
                raise StorageError(f"cannot open database {_safe_url(url)}: {reason}") from None
            yield cls(engine, state)
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction: on SQLite it does not queue behind a writer (WAL)."""
        try:
            async with AsyncSession(self._reader, expire_on_commit=False) as session, session.begin():
                yield session
        except (SQLAlchemyError, OSError) as error:
            raise _storage_error(error) from None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            async with (
                AsyncSession(self._engine, expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session
        except (SQLAlchemyError, OSError) as error:
            raise _storage_error(error) from None

    # --- what detection needs -------------------------------------------------------------

    async def load_known_state(self, *, notices_for: Collection[int] | None = None) -> KnownState:
        """The known records and keys; with ``notices_for`` (docking ids: the poll's page), also what
        detection and corrections need beyond them: every docking notification about those records
        (which corrections fold) and the vehicle each docking id was first recorded with (reused
        ids). Only the poll asks for those; planning, the status page and chat commands do not."""
        async with self._reading() as session:
            rows = (await session.exec(select(DockingRow).options(_no_raw(DockingRow)))).all()
            keys = (await session.exec(select(NotificationRow.key))).all()
            ok_polls = await session.exec(
                select(func.count()).select_from(PollRow).where(PollRow.result == "ok")
            )
            notices: Iterable[tuple[Any, bool]] = ()
            if notices_for:
                about = col(NotificationRow.payload)["docking_event_id"].as_integer()
                notices = await session.exec(
                    select(NotificationRow.payload, NotificationRow.announced)
                    .where(col(NotificationRow.kind).in_(DOCKING_KINDS))
                    .where(about.in_(list(notices_for)))
                    .order_by(col(NotificationRow.id))
                )
            return KnownState(
                dockings={row.id: docking_from_row(row) for row in rows},
                recorded_keys=frozenset(keys),
                baseline_done=ok_polls.one() > 0,
                docking_notices=tuple(
                    Notice(Message.model_validate(payload), announced) for payload, announced in notices
                ),
                docked_vehicles=await _docked_vehicles(session) if notices_for else {},
            )

    async def record_cycle(
        self,
        snapshot: Snapshot,
        changes: Sequence[Change],
        *,
        started_at: datetime,
        now: datetime,
        fence: tuple[str, str] | None = None,
    ) -> RecordedCycle:
        """Commit the snapshot, the changes and their deliveries to enabled targets, all or nothing.

        Cycles recorded at once queue: SQLite runs write transactions one at a time, and on
        PostgreSQL an advisory lock does, or two cycles would both find a new docking (or key)
        missing and the second would fail on the unique key the first just inserted.

        ``fence`` (lease name, holder): commit only while ``holder`` holds that lease, so a poll
        that outlived its poller's lease (a stall, a frozen process) never records an older LL2
        answer after the new poller's; ``LeaseLost`` otherwise. The lease row is read under a share
        lock (PostgreSQL), which makes a takeover wait for this commit.
        """
        async with self._transaction() as session:
            if self._engine.dialect.name == "postgresql":
                await session.exec(select(func.pg_advisory_xact_lock(CYCLE_LOCK)))
                if any(change.announce for change in changes):
                    # The fan-out reads the targets' choices, then owes the message with statements
                    # that read the targets again: a chat changing its choice in between (READ
                    # COMMITTED) would be owed nothing, or twice. Target writes wait for this commit;
                    # taken before any other lock but the cycle's, so no writer waits the other way.
                    # A transaction left open on the table (an operator's psql) must not hold every
                    # instance's cycles for good: past TARGETS_LOCK_TIMEOUT the poll fails, and retries.
                    connection = await session.connection()
                    await connection.execute(text(f"SET LOCAL lock_timeout = '{TARGETS_LOCK_TIMEOUT}'"))
                    await connection.execute(text(f"LOCK TABLE {TargetRow.__tablename__} IN SHARE MODE"))
                    await connection.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
            if fence is not None:
                await _hold_fence(session, *fence, now=now)
            await _upsert_dockings(session, snapshot.dockings, now)
            await _upsert_events(session, snapshot.events, now)
            existing = set(
                (
                    await session.exec(
                        select(NotificationRow.key).where(
                            col(NotificationRow.key).in_([c.key for c in changes])
                        )
                    )
                ).all()
            )
            choices: _Choices | None = None  # read at the first announcement: most cycles have none
            deliveries = 0
            fresh: list[Change] = []
            for change in changes:
                if change.key in existing:
                    continue
                if change.message.lead_seconds is not None and await _reminded_already(session, change.key):
                    continue  # another writer reminded of this plan at a time a few minutes off
                notification_id = await _insert_notification(session, change, now)
                if notification_id is None:
                    continue  # another writer recorded it between our read and this insert
                fresh.append(change)
                if not change.announce:
                    continue  # (a baseline records hundreds of facts: none of them owes or retracts anything)
                await _supersede_reminders_of(session, change, now)
                if change.message.correction is not None:
                    owed = await _queue_correction(session, notification_id, change.message.correction, now)
                    deliveries += owed
                    continue
                if choices is None:
                    choices = await _choices(session)
                deliveries += await _owe(session, notification_id, choices, change.message, now)
            announced = tuple(c.key for c in fresh if c.announce)
            session.add(
                PollRow(
                    started_at=started_at,
                    finished_at=now,
                    result="ok",
                    changes_recorded=len(fresh),
                    changes_announced=len(announced),
                )
            )
            await _prune(session, now)
            kinds = tuple(c.kind.value for c in fresh if c.announce)
            return RecordedCycle(len(fresh), len(announced), deliveries, kinds, announced)

    async def record_poll_failure(
        self, *, started_at: datetime, now: datetime, result: str, detail: str
    ) -> None:
        async with self._transaction() as session:
            session.add(PollRow(started_at=started_at, finished_at=now, result=result, detail=detail))

    # --- targets ----------------------------------------------------------------------------

    async def sync_targets(self, targets: Iterable[TargetInfo]) -> None:
        """Mark exactly ``targets`` as configured; a target disabled earlier stays disabled, and a
        chat that subscribed itself and is now listed in the config becomes a config target.

        A configured key that moved (``move_target``) stands for its newest key: that one is the
        configured target, and the old key is neither created again nor sent anything.
        """
        async with self._transaction() as session:
            moves = {row.old_key: row.new_key for row in (await session.exec(select(TargetMoveRow))).all()}
            wanted: dict[str, TargetInfo] = {}
            for listed in targets:
                key = moves.get(listed.key, listed.key)
                if key == listed.key or key not in wanted:  # a key listed as itself keeps its own label
                    wanted[key] = replace(listed, key=key)
            # A row still at a moved key (saved before the move was remembered, or by a chat's
            # /subscribe under its old id) follows its chat now, not at its first failed delivery.
            left_behind = await session.exec(select(TargetRow.key).where(col(TargetRow.key).in_(list(moves))))
            for old_key in left_behind.all():
                await _move(session, old_key, moves[old_key])
            rows = await session.exec(
                select(TargetRow).where(
                    (col(TargetRow.source) == "config") | col(TargetRow.key).in_(list(wanted))
                )
            )
            for row in rows.all():
                target = wanted.pop(row.key, None)
                row.source = "config"
                row.configured = target is not None
                if target is not None:
                    row.label = target.label
                _configure(row, target.preferences if target is not None else NOT_CONFIGURED)
                session.add(row)
            new = []
            for target in wanted.values():
                row = TargetRow(key=target.key, notifier=target.notifier, label=target.label)
                _configure(row, target.preferences)
                new.append(row)
            await _insert_ignoring_duplicates(session, TargetRow, new)

    async def disable_target(self, key: str, *, reason: str, now: datetime) -> int:
        """Disable ``key`` and dead-letter what it still owes; return how many deliveries that was."""
        async with self._transaction() as session:
            row = await session.get(TargetRow, key)
            if row is not None:
                row.enabled = False
                row.disabled_reason = reason
                row.disabled_at = now
                session.add(row)
            result = await session.exec(
                update(DeliveryRow)
                .where(col(DeliveryRow.target_key) == key)
                .where(col(DeliveryRow.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
                .values(
                    status=DeliveryStatus.DEAD,
                    last_error=f"target disabled: {reason}",
                    updated_at=now,
                )
            )
            return int(result.rowcount)

    async def save_subscription(
        self, key: str, *, notifier: str, label: str, subscription: SubscriptionFilter
    ) -> None:
        """Create or replace a chat's subscription; (re-)subscribing also re-enables it.

        A target the config lists stays a config target; any other is the chat's own, which
        ``sync_targets`` leaves alone at the next start.
        """
        async with self._transaction() as session:
            row = await session.get(TargetRow, key)
            if row is None:
                row = TargetRow(key=key, notifier=notifier, label=label, source="chat")
            elif not (row.source == "config" and row.configured):
                row.source = "chat"
            row.label, row.enabled, row.disabled_reason, row.disabled_at = label, True, None, None
            row.kinds = (
                sorted(k.value for k in subscription.kinds) if subscription.kinds is not None else None
            )
            row.stations = sorted(subscription.stations) if subscription.stations is not None else None
            session.add(row)

    async def save_preferences(
        self,
        key: str,
        *,
        reminders: Sequence[timedelta] | None = None,
        quiet: QuietHours | Unset | None = UNSET,
        timezone: str | Unset | None = UNSET,
    ) -> Preferences | None:
        """Change what is given of an existing target's choices (``reminders=()`` switches reminders
        off, ``quiet=None`` quiet hours); the target's choices after, or ``None`` when ``key`` is no
        target."""
        async with self._transaction() as session:
            row = await session.get(TargetRow, key)
            if row is None:
                return None
            if reminders is not None:
                row.reminders = reminder_seconds(reminders) or []  # [] is "off", not "not chosen"
            if not isinstance(quiet, Unset):
                row.quiet = QUIET_OFF if quiet is None else str(quiet)
            if not isinstance(timezone, Unset):
                row.timezone = timezone
            session.add(row)
            return target_preferences(row)

    async def preferences(self, key: str) -> Preferences | None:
        """A target's choices; ``None`` when ``key`` is no target."""
        async with self._reading() as session:
            row = await session.get(TargetRow, key)
            return None if row is None else target_preferences(row)

    async def reminder_leads(self) -> frozenset[timedelta]:
        """Every lead time some enabled target asked for: the reminders worth planning.

        Every poll and every planning asks, so only the distinct choices come back (as text: JSON
        has no equality on PostgreSQL), a handful whatever the number of chats.
        """
        _kinds, _stations, own, config = _CHOICE_TEXTS
        async with self._reading() as session:
            rows = (await session.exec(_receives(select(own, config)).distinct())).all()
        seconds = set().union(*(reminder_leads_of(_json(own), _json(config)) for own, config in rows))
        return frozenset(timedelta(seconds=s) for s in seconds)

    async def subscription(self, key: str) -> SubscriptionFilter | None:
        """The filter of an enabled target, or ``None`` when it is not subscribed."""
        async with self._reading() as session:
            row = await session.get(TargetRow, key)
            return target_filter(row) if row is not None and row.enabled else None

    async def move_target(self, old_key: str, new_key: str, *, now: datetime) -> None:
        """A chat changed id (a group became a supergroup): carry its subscription and queue over, and
        remember the move, so a config still naming ``old_key`` is sent to ``new_key`` at the next
        start instead of being tried at the dead id first by every new process."""
        if old_key == new_key:
            return
        async with self._transaction() as session:
            await _move(session, old_key, new_key)
            # The new key is in use, so it is no longer moved anywhere (a move back, never seen on
            # Telegram, must not leave a loop); whatever resolved to the old key resolves to the new one.
            await session.exec(delete(TargetMoveRow).where(col(TargetMoveRow.old_key) == new_key))
            await session.exec(
                update(TargetMoveRow).where(col(TargetMoveRow.new_key) == old_key).values(new_key=new_key)
            )
            move = await session.get(TargetMoveRow, old_key)
            if move is None:
                session.add(TargetMoveRow(old_key=old_key, new_key=new_key, moved_at=now))
            elif move.new_key != new_key:
                move.new_key = new_key  # keeps moved_at: when the old key stopped working
                session.add(move)

    async def target_moves(self) -> list[TargetMove]:
        """Every remembered move, oldest key first: what a config that names an old key should say."""
        async with self._reading() as session:
            rows = await session.exec(select(TargetMoveRow).order_by(col(TargetMoveRow.old_key)))
            return [TargetMove(row.old_key, row.new_key, row.moved_at) for row in rows.all()]

    async def enable_target(self, key: str) -> bool:
        """Re-enable a disabled target; deliveries dead-lettered when it was disabled stay dead."""
        async with self._transaction() as session:
            row = await session.get(TargetRow, key)
            if row is None:
                return False
            row.enabled, row.disabled_reason, row.disabled_at = True, None, None
            session.add(row)
            return True

    async def targets(self) -> list[TargetRow]:
        async with self._reading() as session:
            return list((await session.exec(select(TargetRow).order_by(TargetRow.key))).all())

    # --- platforms ----------------------------------------------------------------------------

    async def record_platform_states(self, states: Mapping[str, str | None], now: datetime) -> None:
        """Remember each platform's start result (``None``: running); ``since`` moves only on a change."""
        async with self._transaction() as session:
            # Instances starting together may all write a new platform's first row: ON CONFLICT.
            await _insert_ignoring_duplicates(
                session,
                PlatformStateRow,
                [
                    PlatformStateRow(name=name, error=error, since=now, checked_at=now)
                    for name, error in states.items()
                ],
            )
            for name, error in states.items():
                row = await session.get(PlatformStateRow, name, populate_existing=True)
                assert row is not None  # inserted above, by us or by another instance
                if row.error != error:
                    row.error, row.since = error, now
                row.checked_at = now
                session.add(row)

    async def platform_states(self) -> list[PlatformStateRow]:
        async with self._reading() as session:
            return list((await session.exec(select(PlatformStateRow).order_by(PlatformStateRow.name))).all())

    # --- leases (one instance per role, e.g. the LL2 poller) -------------------------------

    async def acquire_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> leases.Lease:
        """Take or renew the lease ``name`` until ``until``, in one write transaction: granted when it
        is free, lapsed at ``now`` or already ``holder``'s (``held`` says which way it went)."""
        async with self._transaction() as session:
            return await leases.acquire(session, name, holder, now=now, until=until)

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up at a clean stop, so another instance takes it without waiting it out."""
        async with self._transaction() as session:
            return await leases.release(session, name, holder)

    async def lease(self, name: str) -> leases.Lease | None:
        """Who holds the lease ``name`` and until when (read-only; it may have lapsed)."""
        async with self._reading() as session:
            return await leases.current(session, name)

    # --- LL2 budget -------------------------------------------------------------------------

    async def api_calls_since(self, since: datetime) -> list[datetime]:
        async with self._reading() as session:
            rows = await session.exec(
                select(ApiCallRow.at).where(col(ApiCallRow.at) > since).order_by(col(ApiCallRow.at))
            )
            return list(rows.all())

    async def record_api_call(self, at: datetime, path: str) -> int:
        """Count one call whatever the budget says (it is being sent); return its id."""
        async with self._transaction() as session:
            row = ApiCallRow(at=at, path=path)
            session.add(row)
            await session.flush()
            return cast(int, row.id)

    async def reserve_api_calls(
        self,
        paths: Sequence[str],
        *,
        at: datetime,
        since: datetime,
        limit: int,
        longest_hold: timedelta = timedelta(hours=1),
    ) -> ApiReservation:
        """Count ``paths`` as calls made at ``at``, unless LL2's hold is still on or that would make
        more than ``limit`` calls after ``since``. A stored hold ending more than ``longest_hold``
        after ``at`` (0.1.0 could store one for decades, or a clock was wrong) is cut to that.

        The check and the count are one write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL:
        an advisory lock), so processes starting a cycle together can never both take the last call.
        """
        async with self._transaction() as session:
            if self._engine.dialect.name == "postgresql":
                await session.exec(select(func.pg_advisory_xact_lock(BUDGET_LOCK)))
            hold = await session.get(ApiHoldRow, 1)
            if hold is not None and hold.until > at + longest_hold:
                hold.until = at + longest_hold
                session.add(hold)
            made = await session.exec(
                select(ApiCallRow.at).where(col(ApiCallRow.at) > since).order_by(col(ApiCallRow.at))
            )
            calls = tuple(made.all())
            hold_until, reason = (hold.until, hold.reason) if hold is not None else (None, None)
            if (hold_until is not None and hold_until > at) or len(calls) + len(paths) > limit:
                return ApiReservation((), calls, hold_until, reason)
            rows = [ApiCallRow(at=at, path=path) for path in paths]
            session.add_all(rows)
            await session.flush()
            return ApiReservation(tuple(cast(int, row.id) for row in rows), calls, hold_until, reason)

    async def release_api_calls(self, call_ids: Iterable[int]) -> None:
        """Free counted calls that were never made: the cycle stopped before them, or the request
        never left the machine (DNS failure, refused connection)."""
        ids = list(call_ids)
        if ids:
            async with self._transaction() as session:
                await session.exec(delete(ApiCallRow).where(col(ApiCallRow.id).in_(ids)))

    async def api_hold(self) -> ApiHoldRow | None:
        async with self._reading() as session:
            return await session.get(ApiHoldRow, 1)

    async def set_api_hold(self, until: datetime, reason: str) -> None:
        async with self._transaction() as session:
            row = await session.get(ApiHoldRow, 1) or ApiHoldRow(until=until, reason=reason)
            row.until = until
            row.reason = reason
            session.add(row)

    # --- deliveries -------------------------------------------------------------------------

    async def claim_due(
        self,
        now: datetime,
        *,
        lease_until: datetime,
        owner: str,
        target_key: str | None = None,
        exclude_targets: Iterable[str] = (),
        exclude_platforms: Iterable[str] = (),
        limit: int = 500,
    ) -> list[DueDelivery]:
        """Claim due deliveries for ``owner``: mark them sending until ``lease_until`` and return them.

        The claim is atomic. On PostgreSQL the due rows are locked as they are read (``FOR UPDATE
        SKIP LOCKED``): a concurrent claim skips them, and one that read them before this commits
        re-checks them after and finds them no longer due; SQLite runs every write transaction
        alone (``BEGIN IMMEDIATE``). A delivery left in ``sending`` by a crash becomes due again when
        its lease runs out, and the next claim takes it over. ``exclude_platforms`` leaves the
        deliveries of platforms that cannot send now (one that failed to start) queued, while the
        others deliver.
        """
        async with self._transaction() as session:
            query = (
                select(DeliveryRow, NotificationRow)
                .join(NotificationRow, col(NotificationRow.id) == col(DeliveryRow.notification_id))
                .where(col(DeliveryRow.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
                .where(col(DeliveryRow.next_attempt_at) <= now)
                .order_by(col(DeliveryRow.next_attempt_at).asc(), col(DeliveryRow.id).asc())
                .limit(limit)
                .with_for_update(skip_locked=True, of=DeliveryRow)  # SQLite: no-op, serialised anyway
            )
            if target_key is not None:
                query = query.where(col(DeliveryRow.target_key) == target_key)
            query = _excluding(query, exclude_targets, exclude_platforms)
            claimed = []
            due = (await session.exec(query)).all()
            originals = await _originals(session, [d.original_id for d, _ in due if d.original_id])
            preferences = await _preferences(session, {d.target_key for d, _ in due})
            for delivery, notification in due:
                original = originals.get(delivery.original_id or 0)
                delivery.status = DeliveryStatus.SENDING
                delivery.claimed_by = owner
                delivery.next_attempt_at = lease_until
                delivery.updated_at = now
                session.add(delivery)
                assert delivery.id is not None
                claimed.append(
                    DueDelivery(
                        id=delivery.id,
                        target_key=delivery.target_key,
                        attempt=delivery.attempts + 1,
                        notification_created_at=notification.created_at,
                        message=Message.model_validate(notification.payload),
                        lease_until=lease_until,
                        owner=owner,
                        original=original.receipt if original is not None else None,
                        original_delivered=original is not None
                        and original.status == DeliveryStatus.DELIVERED,
                        last_error=delivery.last_error,
                        preferences=preferences.get(delivery.target_key, NO_PREFERENCES),
                        held=delivery.held,
                    )
                )
            return claimed

    async def renew_claim(self, claim: DueDelivery, lease_until: datetime) -> DueDelivery | None:
        """Extend the claim right before sending: the claim with its new lease, or ``None`` if the
        lease lapsed and another instance has taken the delivery over (it sends it, not us)."""
        renewed = await self._write_claimed(claim, next_attempt_at=lease_until)
        return replace(claim, lease_until=lease_until) if renewed else None

    async def next_due(
        self, *, exclude_targets: Iterable[str] = (), exclude_platforms: Iterable[str] = ()
    ) -> datetime | None:
        """When the next queued (or leased) delivery falls due, ignoring ``exclude_targets`` and the
        targets of ``exclude_platforms``."""
        async with self._reading() as session:
            query = select(func.min(DeliveryRow.next_attempt_at)).where(
                col(DeliveryRow.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
            )
            query = _excluding(query, exclude_targets, exclude_platforms)
            value = (await session.exec(query)).one()
            return None if value is None else UTCDateTime().process_result_value(value, self._engine.dialect)

    async def mark_delivered(
        self, claim: DueDelivery, now: datetime, *, receipt: Receipt | None = None
    ) -> bool:
        """Record the delivery and the platform's identity for the message (``receipt``), which a
        correction needs to edit it; false (nothing written) when the claim no longer holds."""
        return await self._write_claimed(
            claim,
            attempted=True,
            status=DeliveryStatus.DELIVERED,
            delivered_at=now,
            last_error=None,
            updated_at=now,
            receipt=receipt,
        )

    async def mark_retry(
        self,
        claim: DueDelivery,
        *,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        attempted: bool = True,
    ) -> bool:
        """Queue the claimed delivery again for ``next_attempt_at``; false when the claim no longer holds."""
        return await self._write_claimed(
            claim,
            attempted=attempted,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=next_attempt_at,
            last_error=error,
            updated_at=now,
        )

    async def mark_dead(
        self, claim: DueDelivery, *, now: datetime, error: str, attempted: bool = True
    ) -> bool:
        """Dead-letter the claimed delivery; false when the claim no longer holds."""
        return await self._write_claimed(
            claim,
            attempted=attempted,
            status=DeliveryStatus.DEAD,
            last_error=error,
            updated_at=now,
        )

    async def mark_held(self, claim: DueDelivery, *, now: datetime, until: datetime) -> bool:
        """Queue the claimed delivery again for ``until``, the end of its target's quiet hours, marked
        ``held`` so it goes out in that target's digest; not an attempt (its count and last error
        stay), since nothing was tried. False when the claim no longer holds."""
        return await self._write_claimed(
            claim, status=DeliveryStatus.QUEUED, next_attempt_at=until, held=True, updated_at=now
        )

    async def mark_superseded(self, claim: DueDelivery, *, now: datetime, reason: str) -> bool:
        """Close the claimed delivery unsent, for a reason that is no failure (a reminder come due too
        late to be true); false when the claim no longer holds."""
        return await self._write_claimed(
            claim, status=DeliveryStatus.SUPERSEDED, last_error=reason, updated_at=now
        )

    async def release_claims(self, delivery_ids: Iterable[int], now: datetime, *, owner: str) -> int:
        """Return ``owner``'s unfinished claims among ``delivery_ids`` to the queue (graceful stop);
        a delivery another instance has claimed since is left alone, or a stop here would make it
        send twice."""
        ids = list(delivery_ids)
        if not ids:
            return 0
        async with self._transaction() as session:
            result = await session.exec(
                update(DeliveryRow)
                .where(col(DeliveryRow.id).in_(ids))
                .where(col(DeliveryRow.status) == DeliveryStatus.SENDING)
                .where(col(DeliveryRow.claimed_by) == owner)
                .values(status=DeliveryStatus.QUEUED, claimed_by=None, next_attempt_at=now, updated_at=now)
            )
            return int(result.rowcount)

    async def _write_claimed(self, claim: DueDelivery, *, attempted: bool = False, **values: Any) -> bool:
        """Write ``values`` on the delivery if ``claim`` still holds it; whether it did.

        The claim holds while the row is ``sending`` under the claim's owner and lease; ``claimed_by``
        stays on the row after, naming the instance that recorded the outcome. A write retried
        because its connection dropped at COMMIT may find its own values already there (the first
        try did commit): that is the claim's write, not a lost claim.
        """
        written = {**values, "claimed_by": claim.owner}
        if attempted:
            written["attempts"] = col(DeliveryRow.attempts) + 1
        async with self._transaction() as session:
            result = await session.exec(
                update(DeliveryRow)
                .where(col(DeliveryRow.id) == claim.id)
                .where(col(DeliveryRow.status) == DeliveryStatus.SENDING)
                .where(col(DeliveryRow.claimed_by) == claim.owner)
                .where(col(DeliveryRow.next_attempt_at) == claim.lease_until)
                .values(**written)
            )
            if int(result.rowcount) == 1:
                return True
            row = await session.get(DeliveryRow, claim.id)
            expected = {"status": DeliveryStatus.SENDING, **values, "claimed_by": claim.owner}
            return row is not None and all(getattr(row, name) == value for name, value in expected.items())

    # --- reading for people -----------------------------------------------------------------

    async def delivery_counts(self) -> dict[str, int]:
        async with self._reading() as session:
            rows = await session.exec(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status))
            return {str(status): int(count) for status, count in rows.all()}

    async def delivery_counts_by_target(self) -> dict[str, dict[str, int]]:
        async with self._reading() as session:
            rows = await session.exec(
                select(DeliveryRow.target_key, DeliveryRow.status, func.count()).group_by(
                    DeliveryRow.target_key, DeliveryRow.status
                )
            )
            counts: dict[str, dict[str, int]] = {}
            for key, status, count in rows.all():
                counts.setdefault(str(key), {})[str(status)] = int(count)
            return counts

    async def deliveries(self) -> list[tuple[DeliveryRow, str]]:
        """Every delivery with its notification key, oldest first."""
        async with self._reading() as session:
            rows = await session.exec(
                select(DeliveryRow, NotificationRow.key)
                .join(NotificationRow, col(NotificationRow.id) == col(DeliveryRow.notification_id))
                .order_by(col(DeliveryRow.id))
            )
            return [(delivery, key) for delivery, key in rows.all()]

    async def recent_deliveries(self, limit: int = 10) -> list[tuple[DeliveryRow, str]]:
        """The newest delivered messages with their notification keys (and receipts)."""
        return await self._deliveries_with_keys(
            col(DeliveryRow.status) == DeliveryStatus.DELIVERED,
            col(DeliveryRow.delivered_at).desc(),
            col(DeliveryRow.id).desc(),
            limit=limit,
        )

    async def dead_deliveries(self, limit: int = 10) -> list[tuple[DeliveryRow, str]]:
        """The newest dead letters with their notification keys."""
        return await self._deliveries_with_keys(
            col(DeliveryRow.status) == DeliveryStatus.DEAD, col(DeliveryRow.updated_at).desc(), limit=limit
        )

    async def retrying_deliveries(self, limit: int = 10) -> list[tuple[DeliveryRow, str]]:
        """Queued deliveries that have failed at least once, next due first."""
        return await self._deliveries_with_keys(
            (col(DeliveryRow.status) == DeliveryStatus.QUEUED) & (col(DeliveryRow.attempts) > 0),
            col(DeliveryRow.next_attempt_at).asc(),
            limit=limit,
        )

    async def _deliveries_with_keys(
        self, condition: Any, *order: Any, limit: int
    ) -> list[tuple[DeliveryRow, str]]:
        async with self._reading() as session:
            rows = await session.exec(
                select(DeliveryRow, NotificationRow.key)
                .join(NotificationRow, col(NotificationRow.id) == col(DeliveryRow.notification_id))
                .where(condition)
                .order_by(*order)
                .limit(limit)
            )
            return [(delivery, key) for delivery, key in rows.all()]

    async def last_poll(self) -> PollRow | None:
        async with self._reading() as session:
            rows = await session.exec(select(PollRow).order_by(col(PollRow.id).desc()).limit(1))
            return rows.first()

    async def last_successful_poll(self) -> PollRow | None:
        async with self._reading() as session:
            rows = await session.exec(
                select(PollRow).where(PollRow.result == "ok").order_by(col(PollRow.id).desc()).limit(1)
            )
            return rows.first()

    async def docked_at(self, now: datetime) -> list[DockingRecord]:
        """Records whose docking has passed and whose departure has not, per what LL2 last said."""
        async with self._reading() as session:
            rows = await session.exec(
                select(DockingRow)
                .options(_no_raw(DockingRow))
                .where(col(DockingRow.docking) <= now)
                .where((col(DockingRow.departure).is_(None)) | (col(DockingRow.departure) > now))
                .order_by(col(DockingRow.station_name), col(DockingRow.port_name))
            )
            return [docking_from_row(row) for row in rows.all()]

    async def events(self) -> list[Event]:
        async with self._reading() as session:
            rows = await session.exec(
                select(EventRow).options(_no_raw(EventRow)).order_by(col(EventRow.date))
            )
            return [event_from_row(row) for row in rows.all()]

    async def dockings_between(self, start: datetime, end: datetime) -> list[DockingRecord]:
        """Records docked at any time in [start, end] (for occupancy timelines)."""
        async with self._reading() as session:
            rows = await session.exec(
                select(DockingRow)
                .options(_no_raw(DockingRow))
                .where(col(DockingRow.docking) <= end)
                .where((col(DockingRow.departure).is_(None)) | (col(DockingRow.departure) >= start))
                .order_by(col(DockingRow.docking))
            )
            return [docking_from_row(row) for row in rows.all()]

    async def notifications(self, limit: int = 20) -> list[NotificationRow]:
        async with self._reading() as session:
            rows = await session.exec(
                select(NotificationRow).order_by(col(NotificationRow.id).desc()).limit(limit)
            )
            return list(rows.all())

    # --- calendar and feed ------------------------------------------------------------------

    async def calendar_dockings(self, start: datetime, end: datetime) -> list[DockingHistory]:
        """Records with a docking or departure time in [start, end], counting a time LL2 withdrew
        (a calendar shows it cancelled where it was)."""
        given = (col(DockingRow.docking_given), col(DockingRow.departure_given))
        async with self._reading() as session:
            rows = await session.exec(
                select(DockingRow)
                .options(_no_raw(DockingRow))
                .where(or_(*(time.between(start, end) for time in given)))
                .order_by(col(DockingRow.id))
            )
            return [docking_history(row) for row in rows.all()]

    async def calendar_events(self, start: datetime, end: datetime) -> list[EventHistory]:
        """Events dated in [start, end], counting a date LL2 withdrew."""
        async with self._reading() as session:
            rows = await session.exec(
                select(EventRow)
                .options(_no_raw(EventRow))
                .where(col(EventRow.date_given).between(start, end))
                .order_by(col(EventRow.id))
            )
            return [event_history(row) for row in rows.all()]

    async def happened_facts(self, facts: Collection[str]) -> dict[str, datetime]:
        """The facts among ``facts`` (``docked:630``, ``webcast:1096``) that dockwatch recorded as
        having happened, announced or silently, with when it last said so; a fact whose latest word
        is a correction saying it has not happened (rescheduled, withdrawn) is left out."""
        wanted = list(facts)
        if not wanted:
            return {}
        async with self._reading() as session:
            rows = await session.exec(
                select(
                    NotificationRow.key,
                    NotificationRow.fact,
                    NotificationRow.payload,
                    NotificationRow.created_at,
                )
                .where(col(NotificationRow.fact).in_(wanted) | col(NotificationRow.key).in_(wanted))
                .order_by(col(NotificationRow.id))
            )
            happened: dict[str, datetime] = {}
            for key, fact, payload, created_at in rows.all():
                correction = Message.model_validate(payload).correction
                if correction is None or correction.reason is Revision.REFINED:
                    happened[fact or key] = created_at
                else:
                    happened.pop(fact or key, None)
            return happened

    async def announcements(self, kinds: Collection[ChangeKind], limit: int) -> list[NotificationRow]:
        """The newest announced notifications of ``kinds`` (corrections count as their fact's kind)."""
        async with self._reading() as session:
            rows = await session.exec(
                select(NotificationRow)
                .where(col(NotificationRow.announced))
                .where(col(NotificationRow.kind).in_([kind.value for kind in kinds]))
                .order_by(col(NotificationRow.id).desc())
                .limit(limit)
            )
            return list(rows.all())


API_CALLS_KEPT = timedelta(hours=2)  # the budget looks back one hour
POLLS_KEPT = timedelta(days=90)


async def _prune(session: AsyncSession, now: datetime) -> None:
    """Keep the bookkeeping tables bounded; notifications and deliveries are history and stay."""
    await session.exec(delete(ApiCallRow).where(col(ApiCallRow.at) < now - API_CALLS_KEPT))
    await session.exec(delete(PollRow).where(col(PollRow.started_at) < now - POLLS_KEPT))


async def _move(session: AsyncSession, old_key: str, new_key: str) -> None:
    """Carry ``old_key``'s target row and open deliveries over to ``new_key``, each notification
    still owed to the chat once."""
    row = await session.get(TargetRow, old_key)
    if row is not None:
        if await session.get(TargetRow, new_key) is None:
            session.add(TargetRow.model_validate({**row.model_dump(), "key": new_key}))
        # The old id no longer exists; keeping it would send every message there and,
        # migrated once more, to the new chat a second time.
        await session.delete(row)
    open_ = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    # The new id may be subscribed already: each notification still reaches the chat once.
    at_new = select(DeliveryRow.notification_id).where(col(DeliveryRow.target_key) == new_key)
    await session.exec(
        update(DeliveryRow)
        .where(col(DeliveryRow.target_key) == old_key)
        .where(col(DeliveryRow.status).in_(open_))
        .where(col(DeliveryRow.notification_id).in_(at_new))
        .values(status=DeliveryStatus.DEAD, last_error=f"duplicate: the chat moved to {new_key}")
    )
    delivered_at_old = (
        select(DeliveryRow.notification_id)
        .where(col(DeliveryRow.target_key) == old_key)
        .where(col(DeliveryRow.status) == DeliveryStatus.DELIVERED)
    )
    await session.exec(
        update(DeliveryRow)
        .where(col(DeliveryRow.target_key) == new_key)
        .where(col(DeliveryRow.status).in_(open_))
        .where(col(DeliveryRow.notification_id).in_(delivered_at_old))
        .values(
            status=DeliveryStatus.DEAD,
            last_error=f"duplicate: the chat already got it as {old_key} before it moved",
        )
    )
    await session.exec(
        update(DeliveryRow)
        .where(col(DeliveryRow.target_key) == old_key)
        .where(col(DeliveryRow.status).in_(open_))
        .values(target_key=new_key)
    )


def _excluding(query: Any, targets: Iterable[str], platforms: Iterable[str]) -> Any:
    """``query`` without the given targets, without any target of the given platforms (target
    keys are ``<platform>:<address>``), and without a delivery about a fact while an earlier one
    about the same fact to the same target is unsent: a correction waits for its original, and a
    later correction or re-announcement (``docked:630#2``) for the earlier corrections."""
    this, earlier, earlier_about = aliased(NotificationRow), aliased(DeliveryRow), aliased(NotificationRow)
    query = query.where(
        ~exists()
        .where(col(this.id) == col(DeliveryRow.notification_id))
        .where(col(this.fact).is_not(None))
        .where(col(earlier.target_key) == col(DeliveryRow.target_key))
        .where(col(earlier.id) < col(DeliveryRow.id))
        .where(col(earlier.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]))
        .where(col(earlier_about.id) == col(earlier.notification_id))
        .where(col(earlier_about.fact) == col(this.fact))
    )
    excluded = list(targets)
    if excluded:
        query = query.where(col(DeliveryRow.target_key).not_in(excluded))
    for platform in platforms:
        query = query.where(~col(DeliveryRow.target_key).startswith(f"{platform}:", autoescape=True))
    return query


async def _reminded_already(session: AsyncSession, key: str) -> bool:
    """Whether a reminder of the same plan is recorded under another key: checked inside the cycle's
    write transaction, so two writers that saw the planned time a few minutes apart (``poll-once``
    beside ``run``) still remind of it once."""
    prefix = reminder_prefix(key)
    if prefix is None:
        return False
    keys = await session.exec(
        select(NotificationRow.key).where(col(NotificationRow.key).startswith(prefix, autoescape=True))
    )
    return any(same_plan(key, other) for other in keys.all())


_REMINDED_BY = {
    ChangeKind.DOCKED: ChangeKind.DOCKING_REMINDER,
    ChangeKind.RELOCATED: ChangeKind.DOCKING_REMINDER,
    ChangeKind.DEPARTED: ChangeKind.DEPARTURE_REMINDER,
}


async def _supersede_reminders_of(session: AsyncSession, change: Change, now: datetime) -> None:
    """Reminders still queued that a new fact makes untrue: those of an earlier planned time when
    LL2 moved it (a new reminder of the same fact and lead), and those of a docking or departure
    that has now happened. Only unclaimed ones: a reminder being sent goes out."""
    message = change.message
    stale: ColumnElement[bool]
    if (prefix := reminder_prefix(change.key)) is not None:
        reason = "superseded: LL2 moved the planned time"
        stale = col(NotificationRow.key).startswith(prefix, autoescape=True) & (
            col(NotificationRow.key) != change.key
        )
    elif (kind := _REMINDED_BY.get(change.kind)) is not None and message.docking_event_id is not None:
        reason = f"superseded: {KINDS[change.kind].title.lower()} before the reminder went out"
        stale = col(NotificationRow.key).startswith(
            f"{KINDS[kind].key(message.docking_event_id)}:", autoescape=True
        )
    else:
        return
    await session.exec(
        update(DeliveryRow)
        .where(col(DeliveryRow.status) == DeliveryStatus.QUEUED)
        .where(col(DeliveryRow.notification_id).in_(select(NotificationRow.id).where(stale)))
        .values(status=DeliveryStatus.SUPERSEDED, last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _configure(row: TargetRow, configured: ConfiguredPreferences) -> None:
    """Write what the config says for a listed target, every start: a key removed from the file is
    removed here too. A chat's own choice (``/remind``, ``/quiet``, ``/timezone``) is kept apart and
    wins over these."""
    row.config_reminders = reminder_seconds(configured.reminders or ())
    row.config_quiet = None if configured.quiet is None else str(configured.quiet)
    row.config_timezone = configured.timezone


@dataclass(frozen=True, slots=True)
class _Choice:
    """What some targets chose (filter and reminder lead times), shared by all the targets that
    chose alike, so one message is checked against each choice once, not once per target."""

    filter: SubscriptionFilter
    leads: frozenset[int]

    def wants(self, message: Message) -> bool:
        if message.lead_seconds is not None and message.lead_seconds not in self.leads:
            return False  # a reminder goes only to the targets that asked for its lead time
        return self.filter.accepts(message)


_CHOICE_TEXTS = tuple(
    func.coalesce(sql_cast(col(column), String), "")
    for column in (TargetRow.kinds, TargetRow.stations, TargetRow.reminders, TargetRow.config_reminders)
)
_SEPARATOR = "\x1f"
"""Between the fields of a choice: JSON text never holds a raw control character."""
_CHOSEN: ColumnElement[str] = reduce(
    lambda joined, field: joined + literal(_SEPARATOR, String) + field, _CHOICE_TEXTS[1:], _CHOICE_TEXTS[0]
)
"""What a target chose, as one text: its JSON columns as stored ('' for SQL NULL, which is never
equal to itself; JSON has no equality on PostgreSQL), so one ``IN`` of plain strings finds every
target that chose alike, and the database can look them up in a hash or an index, not row by row."""


def _json(text: str) -> Any:
    return json.loads(text) if text else None


def _receives(query: Any) -> Any:
    """Only the targets that receive messages: enabled, and configured or subscribed from a chat."""
    return query.where(col(TargetRow.enabled)).where(
        col(TargetRow.configured) | (col(TargetRow.source) == "chat")
    )


_Choices = dict[str, _Choice]
"""Each distinct choice of the targets that receive messages, by its text in ``_CHOSEN``."""


async def _choices(session: AsyncSession) -> _Choices:
    """The distinct choices of the targets that receive messages: a handful in practice, so a
    message is checked once per choice and the fan-out itself stays in SQL."""
    rows = await session.exec(_receives(select(_CHOSEN)).distinct())
    choices: _Choices = {}
    for chosen in rows.all():
        kinds, stations, reminders, config_reminders = chosen.split(_SEPARATOR)
        choices[chosen] = _Choice(
            subscription_filter(_json(kinds), _json(stations)),
            reminder_leads_of(_json(reminders), _json(config_reminders)),
        )
    return choices


_CHOICES_PER_STATEMENT = 30_000
"""Choices matched by one ``INSERT ... SELECT``: one parameter each, inside every backend's limit
on a statement's parameters (SQLite 32,766, asyncpg 32,767) with room for the few others, so even a
choice of its own for each of 100,000 chats is four statements (four scans of the targets)."""


async def _owe(
    session: AsyncSession,
    notification_id: int,
    choices: _Choices,
    message: Message,
    now: datetime,
) -> int:
    """Queue one delivery of the notification to every target whose choice wants ``message``.

    One ``INSERT ... SELECT`` per few thousand wanted choices: the database copies the target keys
    itself, so 100,000 deliveries never pass through Python (row-by-row ORM objects cost 30 s of
    CPU, a Core executemany still 3-4 s on SQLite). The targets cannot change between reading
    ``choices`` and these statements: SQLite's cycle holds the write lock, PostgreSQL's a share lock
    on the target table (``record_cycle``).
    """
    wanted = [chosen for chosen, choice in choices.items() if choice.wants(message)]
    table = cast(Table, DeliveryRow.__table__)  # type: ignore[attr-defined]
    delivery = _new_delivery(notification_id, "", now).model_dump(exclude={"id", "target_key"})
    template = {name: value for name, value in delivery.items() if value is not None}
    values = [literal(value, table.c[name].type) for name, value in template.items()]
    connection = await session.connection()
    owed = 0
    for start in range(0, len(wanted), _CHOICES_PER_STATEMENT):
        chosen = wanted[start : start + _CHOICES_PER_STATEMENT]
        targets = _receives(core_select(*values, col(TargetRow.key))).where(_CHOSEN.in_(chosen))
        result = await connection.execute(insert(table).from_select([*template, "target_key"], targets))
        owed += result.rowcount
    return owed


def _new_delivery(
    notification_id: int, target_key: str, now: datetime, *, original_id: int | None = None
) -> DeliveryRow:
    return DeliveryRow(
        notification_id=notification_id,
        target_key=target_key,
        status=DeliveryStatus.QUEUED,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        original_id=original_id,
    )


async def _queue_correction(
    session: AsyncSession, notification_id: int, correction: Correction, now: datetime
) -> int:
    """Owe a correction to each enabled target the corrected announcement reached or may still
    reach (at the address it moved to, for a chat that moved), after it. A retracted announcement
    never attempted is superseded instead (nobody was told); one attempted already may have landed
    (a timeout), so it is finished and then corrected. A few statements, whatever the fan-out: this
    runs inside the cycle's write transaction."""
    originals = (
        await session.exec(
            select(DeliveryRow)
            .join(NotificationRow, col(NotificationRow.id) == col(DeliveryRow.notification_id))
            .where(col(NotificationRow.key) == correction.corrects)
            .where(col(DeliveryRow.status).in_(list(_CORRECTABLE_ORIGINALS)))
        )
    ).all()
    if not originals:
        return 0
    moves = {row.old_key: row.new_key for row in (await session.exec(select(TargetMoveRow))).all()}
    enabled = set((await session.exec(select(TargetRow.key).where(col(TargetRow.enabled)))).all())
    superseded: set[int] = set()
    if correction.reason is not Revision.REFINED:
        never_tried = [
            o.id
            for o in originals
            if o.status == DeliveryStatus.QUEUED and o.attempts == 0 and o.id is not None
        ]
        superseded = await _supersede(session, never_tried, correction, now)
    owed = [
        _new_delivery(notification_id, moves.get(o.target_key, o.target_key), now, original_id=o.id)
        for o in originals
        if o.id not in superseded and moves.get(o.target_key, o.target_key) in enabled
    ]
    session.add_all(owed)
    return len(owed)


_CORRECTABLE_ORIGINALS = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DELIVERED)


async def _supersede(
    session: AsyncSession, delivery_ids: list[int], correction: Correction, now: datetime
) -> set[int]:
    """Mark never-attempted deliveries superseded, except any an instance claimed meanwhile (the
    conditions are re-checked in the update); return those it marked."""
    if not delivery_ids:
        return set()
    result = await session.exec(
        update(DeliveryRow)
        .where(col(DeliveryRow.id).in_(delivery_ids))
        .where(col(DeliveryRow.status) == DeliveryStatus.QUEUED)
        .where(col(DeliveryRow.attempts) == 0)
        .values(
            status=DeliveryStatus.SUPERSEDED,
            last_error=f"superseded: LL2 {correction.reason.value} it before it was sent",
            updated_at=now,
        )
        .returning(col(DeliveryRow.id))
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars().all())


async def _preferences(session: AsyncSession, keys: Collection[str]) -> dict[str, Preferences]:
    if not keys:
        return {}
    rows = await session.exec(select(TargetRow).where(col(TargetRow.key).in_(list(keys))))
    return {row.key: target_preferences(row) for row in rows.all()}


async def _originals(session: AsyncSession, ids: list[int]) -> dict[int, DeliveryRow]:
    if not ids:
        return {}
    rows = await session.exec(select(DeliveryRow).where(col(DeliveryRow.id).in_(ids)))
    return {row.id: row for row in rows.all() if row.id is not None}


async def _docked_vehicles(session: AsyncSession) -> dict[int, VehicleId]:
    """The vehicle each docking id was first recorded as docked with, from the stored messages.

    The docking record itself holds only LL2's latest chaser, which a reused id overwrites. Only the
    plain keys (``docked:<id>``, ``relocated:<id>``) count: a reused id's facts carry their chaser in
    the key. Only the three small JSON fields are read, not whole messages.
    """
    payload = col(NotificationRow.payload)
    query = select(
        NotificationRow.key,
        payload["docking_event_id"].as_integer(),
        payload[("vehicle", "kind")].as_string(),
        payload[("vehicle", "id")].as_integer(),
    ).where(col(NotificationRow.kind).in_([ChangeKind.DOCKED.value, ChangeKind.RELOCATED.value]))
    vehicles: dict[int, VehicleId] = {}
    for key, record_id, vehicle_kind, vehicle_id in (await session.exec(query)).all():
        if record_id is None or vehicle_kind is None or vehicle_id is None:
            continue  # an unknown vehicle: nothing to tell a reuse by
        if key in (docked_key(record_id), relocated_key(record_id)):
            vehicles[record_id] = (cast(PartyKind, vehicle_kind), vehicle_id)
    return vehicles


async def _upsert_dockings(session: AsyncSession, records: Sequence[DockingRecord], now: datetime) -> None:
    """Insert new records, rewrite changed ones, and only touch ``last_seen`` on the rest.

    Most polls change nothing, so the raw JSON copy is neither loaded nor rewritten for unchanged
    records; it is the copy as of the last change to a field dockwatch uses.
    """
    records = list({r.id: r for r in records}.values())
    ids = [r.id for r in records]
    query = select(DockingRow).where(col(DockingRow.id).in_(ids)).options(_no_raw(DockingRow))
    existing = {row.id: row for row in (await session.exec(query)).all()}
    new = []
    for record in records:
        row = existing.get(record.id)
        if row is None:
            new.append(docking_to_row(record, None, now))
        elif docking_from_row(row) != record:
            session.add(docking_to_row(record, row, now))
    await _insert_ignoring_duplicates(session, DockingRow, new)
    await _touch(session, DockingRow, ids, now)


async def _upsert_events(session: AsyncSession, events: Sequence[Event], now: datetime) -> None:
    events = list({e.id: e for e in events}.values())
    ids = [e.id for e in events]
    query = select(EventRow).where(col(EventRow.id).in_(ids)).options(_no_raw(EventRow))
    existing = {row.id: row for row in (await session.exec(query)).all()}
    new = []
    for event in events:
        row = existing.get(event.id)
        if row is None:
            new.append(event_to_row(event, None, now))
        elif not event_matches_row(event, row):
            session.add(event_to_row(event, row, now))
    await _insert_ignoring_duplicates(session, EventRow, new)
    await _touch(session, EventRow, ids, now)


def _insert(session: AsyncSession, table: type[SQLModel]) -> Any:
    """``INSERT`` in the dialect's own form, which has ``ON CONFLICT`` (both SQLite and PostgreSQL)."""
    return dialect_insert(session.sync_session.get_bind().dialect.name, table)


async def _insert_ignoring_duplicates(
    session: AsyncSession, table: type[SQLModel], rows: Sequence[SQLModel]
) -> None:
    """Insert ``rows``; one another writer inserted meanwhile is left as that writer wrote it (its
    next poll brings it up to date), instead of failing the whole cycle on the primary key."""
    if rows:
        await session.exec(
            _insert(session, table).values([row.model_dump() for row in rows]).on_conflict_do_nothing()
        )


async def _hold_fence(session: AsyncSession, name: str, holder: str, *, now: datetime) -> None:
    lease = (
        await session.exec(select(LeaseRow).where(col(LeaseRow.name) == name).with_for_update(read=True))
    ).one_or_none()
    if lease is None or lease.holder != holder or lease.expires_at <= now:
        raise LeaseLost(f"not recorded: this instance no longer holds the {name} lease")


async def _insert_notification(session: AsyncSession, change: Change, now: datetime) -> int | None:
    """Record ``change`` under its unique key; ``None`` when another writer recorded it first."""
    statement = (
        _insert(session, NotificationRow)
        .values(
            key=change.key,
            kind=change.kind.value,
            announced=change.announce,
            payload=change.message.model_dump(mode="json"),
            occurred_at=change.message.occurred_at,
            created_at=now,
            fact=fact_of(change.message),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(NotificationRow.id))
    )
    inserted: int | None = (await session.exec(statement)).scalar_one_or_none()
    return inserted


async def _touch(
    session: AsyncSession, table: type[DockingRow] | type[EventRow], ids: list[int], now: datetime
) -> None:
    if ids:
        await session.exec(update(table).where(col(table.id).in_(ids)).values(last_seen=now))


def _no_raw(table: type[DockingRow] | type[EventRow]) -> Any:
    """Leave the raw JSON copy unloaded: nothing but debugging reads it back."""
    return defer(cast(Any, table).raw)


def _storage_error(error: BaseException) -> StorageError:
    """The one-line error for a failed transaction; ``StorageUnavailable`` when it was the connection."""
    kind = StorageUnavailable if is_transient(error) else StorageError
    return kind(f"database error: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
