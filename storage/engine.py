"""Engine set-up: the async driver for a plain URL, and SQLite made safe for a long-lived writer."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dockwatch.bot.errors import StorageError, without_credentials
from dockwatch.storage.urls import sqlite_path

# The async engine (SQLAlchemy's ORM with it) and aiosqlite load when an engine is made (telling
# whether a SQLite file exists, as `check-config` does first, is storage/urls.py's, without SQLAlchemy).
if TYPE_CHECKING:
    import aiosqlite
    from sqlalchemy.ext.asyncio import AsyncEngine

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 2
"""SQLite connections kept open, and never more: SQLite runs one writer at a time, so a second
connection (a read beside a write, WAL) is all concurrency buys. Each aiosqlite connection is a
thread with its own page cache; SQLAlchemy's default (5, plus 10 opened and closed again under
load) made a fan-out start and stop a thread and a connection for most of its writes."""


def async_url(url: str) -> str:
    """Map ``sqlite:///x.db`` or ``postgresql://...`` onto the async driver dockwatch uses."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StorageError(f"storage.url {without_credentials(url)!r} is not a database URL") from error
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise StorageError(f"storage.url: unsupported database {backend!r} (use sqlite or postgresql)")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def dialect_insert(dialect: str, table: Any) -> Any:
    """``INSERT`` into ``table`` in the dialect's own form, which has ``ON CONFLICT`` (SQLite and
    PostgreSQL alike); each dialect's module loads when first used, so SQLite never loads PostgreSQL's."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def create_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """Create the engine; for SQLite: WAL, a busy timeout and ``BEGIN IMMEDIATE`` for every write
    (reads, marked with the ``READ_ONLY`` execution option, begin deferred: WAL lets them run beside
    a writer).

    pysqlite's own transaction handling starts transactions lazily and as DEFERRED, so two
    processes could both read and then fail to upgrade to a write lock; taking the write lock up
    front (SQLAlchemy's documented recipe) makes concurrent cycles queue instead.

    ``read_only`` is for the commands that only look (``status``, ``db current``): SQLite opens the
    file with ``mode=ro`` (and ``immutable=1`` when no writer is live), so no statement can write it
    and no file is created beside it; PostgreSQL starts read-only transactions.
    """
    from sqlalchemy.ext.asyncio import create_async_engine

    target = async_url(url)
    path = sqlite_path(url)
    if read_only and path is not None:
        if not Path(path).is_file():
            raise StorageError(f"no database at {path}")
        query = {"mode": "ro", "uri": "true"}
        if not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists():
            # No writer has the file open (the last one checkpointed and removed its WAL): read it as
            # immutable, or SQLite would create -wal and -shm files beside it (and fail where only
            # reading is allowed). With a WAL present, a writer is live: read through it as usual;
            # a rollback journal may be a crashed writer's, which immutable would skip (a torn read).
            query["immutable"] = "1"
        target = URL.create(
            "sqlite+aiosqlite", database=Path(path).absolute().as_uri(), query=query
        ).render_as_string()
    _probe_sqlite(target)
    parsed = make_url(target)
    if parsed.get_backend_name() != "sqlite":
        # Pre-ping: a pooled connection the server dropped (a restart, a failover, a terminated
        # backend) is replaced at checkout instead of failing the first statement of a transaction.
        engine = create_async_engine(parsed, pool_pre_ping=True)
        return engine.execution_options(postgresql_readonly=True) if read_only else engine
    connect_args, connect_kwargs = parsed.get_dialect()().create_connect_args(parsed)
    engine = create_async_engine(
        parsed,
        async_creator=partial(_connect_sqlite, *connect_args, **connect_kwargs),
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=0,
    )
    event.listen(engine.sync_engine, "connect", _sqlite_reader if read_only else _sqlite_on_connect)
    event.listen(
        engine.sync_engine, "begin", _sqlite_begin_deferred if read_only else _sqlite_begin_immediate
    )
    return engine


TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03"})
"""PostgreSQL errors after which the same transaction may well succeed: the server shutting down or
not yet accepting connections (57P0x: also what ``pg_terminate_backend`` sends), a serialization
failure or deadlock (40001, 40P01: the documented remedy is to retry), too many connections
(53300) and a lock not granted in time (55P03: another transaction held it); with every connection
exception (class 08)."""
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is the database being briefly unreachable rather than the statement being
    wrong: a connection SQLAlchemy saw drop, a pool or connect timeout, a refused or reset connection,
    a PostgreSQL connection-class error, or SQLite still busy after its busy timeout.

    An integrity error, a missing table or a syntax error is never transient: retrying repeats it.
    """
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, DisconnectionError | PoolTimeout):
        return True
    for cause in _causes(error):
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
        code = getattr(cause, "sqlstate", None)
        if isinstance(code, str) and (code.startswith("08") or code in TRANSIENT_SQLSTATES):
            return True
        # The primary result code (the low byte of an extended one such as SQLITE_BUSY_SNAPSHOT).
        primary = getattr(cause, "sqlite_errorcode", 0) & 0xFF
        if isinstance(cause, sqlite3.OperationalError) and primary in (SQLITE_BUSY, SQLITE_LOCKED):
            return True
    return False


def _causes(error: BaseException) -> list[BaseException]:
    """``error``, the driver's error it wraps and what that was raised ``from`` (a few levels deep;
    not ``__context__``, which may be an unrelated error that was being handled)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < 8:
        current = pending.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, current.__cause__]
    return seen


def _probe_sqlite(url: str) -> None:
    """Open a SQLite file once with the stdlib driver first: when aiosqlite fails to connect, its
    worker thread outlives the event loop and prints a traceback at exit, after our one-line error.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    uri = parsed.query.get("uri") == "true"
    options = "&".join(f"{k}={v}" for k, v in {**parsed.query, "mode": "ro"}.items() if k != "uri")
    database = f"{parsed.database}?{options}" if uri else str(parsed.database)
    try:
        sqlite3.connect(database, uri=uri).close()
    except sqlite3.Error as error:
        raise StorageError(f"cannot open database {parsed.database}: {error}") from None


async def _connect_sqlite(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
    """``aiosqlite.connect`` as SQLAlchemy calls it, except that a failed open returns only once
    aiosqlite's worker thread has ended.

    When opening fails, aiosqlite queues its thread's stop without awaiting it; the thread then
    posts the stop's result to the event loop, which may be closed by then (``poll-once`` exits
    with the storage error at once): "RuntimeError: Event loop is closed" raised in the thread
    and a traceback on stderr. Joining the thread keeps the loop open until the thread is done.
    """
    import aiosqlite

    connection = aiosqlite.connect(*args, **kwargs)
    # As SQLAlchemy's own aiosqlite connect does: a worker thread never holds up interpreter exit.
    connection._thread.daemon = True
    try:
        return await connection
    except BaseException:
        await asyncio.to_thread(connection._thread.join, _WORKER_JOIN_TIMEOUT_S)
        raise


_WORKER_JOIN_TIMEOUT_S = 10.0


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # The timeout first: switching to WAL needs a lock another process starting may hold.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_reader(dbapi_connection: Any, _record: Any) -> None:
    """Connection settings only; ``query_only`` refuses writes even if a bug attempts one."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


READ_ONLY = "dockwatch_read_only"
"""Execution option: a read-only transaction begins DEFERRED and never waits for a writer's lock."""


def _sqlite_begin_immediate(connection: Any) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")
