"""A PostgreSQL connection lost around a send: the outcome is still recorded once, or the claim is
given up in one line, never recorded twice or sent twice while the claim holds.

Real PostgreSQL, real connections terminated by the server (``pg_terminate_backend``), the real
webhook notifier against the fake receiver.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from dockwatch.bot.dispatch import LEASE, RECORD_RETRY_DELAYS, Dispatcher
from dockwatch.notifiers.webhook import WebhookConfig, WebhookNotifier, target_key
from dockwatch.storage import Store, TargetInfo
from dockwatch.storage.engine import async_url, is_transient
from tests.conftest import SECRET, Clock
from tests.fakes.webhook_receiver import ReceivedWebhook, WebhookReceiver
from tests.test_claims import one_delivery, record_dockings

OTHER_BACKENDS = (
    "pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'"
)


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection of its own to the test database, as an operator's psql would be."""
    engine = create_async_engine(async_url(postgres_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    await engine.dispose()


async def terminate_the_store_s_connections(admin: AsyncEngine) -> int:
    """Terminate every other connection to the database and wait until they are gone."""
    async with admin.connect() as connection:
        terminated = len(
            (
                await connection.exec_driver_sql(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {OTHER_BACKENDS}"
                )
            ).all()
        )
        for _ in range(500):
            left = await connection.exec_driver_sql(
                f"SELECT count(*) FROM pg_stat_activity WHERE {OTHER_BACKENDS}"
            )
            if left.scalar_one() == 0:
                return int(terminated)
            await asyncio.sleep(0.01)
    raise AssertionError("the terminated backends did not exit")


async def drop_connections_writing_delivered(admin: AsyncEngine, times: int) -> None:
    """From now on, the first ``times`` statements that mark a delivery delivered lose their
    connection mid-write: the server terminates the backend running them (a sequence counts the
    drops, since each dropped transaction rolls back whatever it wrote)."""
    async with admin.connect() as connection:
        await connection.exec_driver_sql("CREATE SEQUENCE delivered_write_drops")
        await connection.exec_driver_sql(
            f"""
            CREATE FUNCTION drop_the_connection() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('delivered_write_drops') <= {times} THEN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                    PERFORM pg_sleep(10);  -- ends at once: the backend is terminated
                END IF;
                RETURN NEW;
            END $$
            """
        )
        await connection.exec_driver_sql(
            "CREATE TRIGGER drop_the_connection BEFORE UPDATE ON delivery FOR EACH ROW"
            " WHEN (NEW.status = 'delivered') EXECUTE FUNCTION drop_the_connection()"
        )


async def drops_so_far(admin: AsyncEngine) -> int:
    async with admin.connect() as connection:
        value = await connection.exec_driver_sql("SELECT last_value FROM delivered_write_drops")
        return int(value.scalar_one())


async def stop_dropping(admin: AsyncEngine) -> None:
    async with admin.connect() as connection:
        await connection.exec_driver_sql("DROP TRIGGER drop_the_connection ON delivery")


@pytest.fixture
async def store(postgres_url: str, webhook_receiver: WebhookReceiver, clock: Clock) -> AsyncIterator[Store]:
    """A PostgreSQL store owing one docking to ``webhook_receiver``."""
    async with Store.open(postgres_url) as opened:
        await opened.sync_targets([TargetInfo(target_key(webhook_receiver.url), "webhook", "receiver")])
        await record_dockings(opened, 1, 1, clock.now)
        yield opened


def dispatcher_for(
    store: Store,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    record_retry_delays: Sequence[float] = RECORD_RETRY_DELAYS,
) -> Dispatcher:
    notifier = WebhookNotifier([WebhookConfig(url=receiver.url, secret=SECRET)], http)
    return Dispatcher(store, [notifier], clock, owner="instance-a", record_retry_delays=record_retry_delays)


def lines(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(start)]


async def test_a_pooled_connection_the_server_terminated_is_replaced_before_it_is_used(
    store: Store, admin: AsyncEngine
) -> None:
    await store.delivery_counts()  # a connection is pooled now
    assert await terminate_the_store_s_connections(admin) >= 1

    assert await store.delivery_counts() == {"queued": 1}  # pre-ping: no error, no retry needed


async def test_connections_terminated_between_the_send_and_its_record_leave_it_delivered_once(
    store: Store,
    admin: AsyncEngine,
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    terminated: list[int] = []

    async def database_blip(_received: ReceivedWebhook) -> None:
        terminated.append(await terminate_the_store_s_connections(admin))

    webhook_receiver.before_answer = database_blip
    dispatcher = dispatcher_for(store, webhook_receiver, http, clock)

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        report = await dispatcher.deliver_due()
    webhook_receiver.before_answer = None
    clock.advance(LEASE + timedelta(minutes=1))  # long after the lease: nothing is left to resend
    again = await dispatcher.deliver_due()

    assert terminated and terminated[0] >= 1
    assert (report.delivered, again.delivered) == (1, 0)
    assert [r.id for r in webhook_receiver.accepted] == ["docked:1"]
    row = await one_delivery(store)
    assert (row.status, row.attempts, row.claimed_by) == ("delivered", 1, "instance-a")
    assert lines(caplog, "outcome not recorded") == [] and lines(caplog, "claim lost") == []


async def test_a_connection_dropped_while_the_outcome_is_written_is_retried_and_recorded_once(
    store: Store,
    admin: AsyncEngine,
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await drop_connections_writing_delivered(admin, times=2)
    dispatcher = dispatcher_for(store, webhook_receiver, http, clock)

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        report = await dispatcher.deliver_due()

    assert await drops_so_far(admin) == 3  # two writes dropped, the third went through
    assert report.delivered == 1
    assert [r.id for r in webhook_receiver.accepted] == ["docked:1"]
    row = await one_delivery(store)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert lines(caplog, "outcome not recorded") == [] and lines(caplog, "claim lost") == []


async def test_an_outcome_that_cannot_be_recorded_gives_the_claim_up_in_one_line_and_its_lease_lapses(
    store: Store,
    admin: AsyncEngine,
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await drop_connections_writing_delivered(admin, times=1000)
    dispatcher = dispatcher_for(store, webhook_receiver, http, clock, record_retry_delays=(0.01, 0.02, 0.05))

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        report = await dispatcher.deliver_due()

    assert await drops_so_far(admin) == 4  # four tries
    assert report.delivered == 0
    (given_up,) = lines(caplog, "outcome not recorded")
    assert "key=docked:1" in given_up and "outcome=delivered" in given_up and "tries=4" in given_up
    row = await one_delivery(store)
    assert (row.status, row.attempts, row.claimed_by) == ("sending", 0, "instance-a")

    # The documented exception: once the lease lapses it is sent again, with the same webhook-id.
    await stop_dropping(admin)
    clock.advance(LEASE)
    assert (await dispatcher.deliver_due()).delivered == 1
    assert [r.id for r in webhook_receiver.accepted] == ["docked:1", "docked:1"]
    assert (await one_delivery(store)).status == "delivered"


# --- what counts as transient ---------------------------------------------------------------


def sqlite_failure(path: Path, statement: str) -> SQLAlchemyError:
    """The error SQLAlchemy raises for ``statement`` on a SQLite file a second connection holds the
    write lock of (no busy timeout: it fails at once)."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)")
        holder.execute("INSERT OR IGNORE INTO t VALUES (1)")
        holder.execute("BEGIN IMMEDIATE")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        except SQLAlchemyError as error:
            return error
        finally:
            engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


@pytest.mark.parametrize(
    ("make_error", "transient"),
    [
        (lambda path: sqlite_failure(path, "INSERT INTO t VALUES (2)"), True),
        (lambda path: sqlite_failure(path, "SELECT * FROM missing"), False),
        (lambda path: sqlite_failure(path, "SELECT * FROM t WHERE"), False),
        (lambda _path: ConnectionRefusedError(111, "Connection refused"), True),
        (lambda _path: ValueError("a bug"), False),
    ],
    ids=["sqlite busy", "missing table", "syntax error", "connection refused", "not a database error"],
)
def test_only_an_unreachable_or_busy_database_counts_as_transient(
    tmp_path: Path, make_error: Callable[[Path], BaseException], transient: bool
) -> None:
    assert is_transient(make_error(tmp_path / "t.db")) is transient


async def test_a_statement_error_on_postgresql_is_not_transient(store: Store, admin: AsyncEngine) -> None:
    async with admin.connect() as connection:
        try:
            await connection.exec_driver_sql("INSERT INTO target (key) VALUES (NULL)")
        except SQLAlchemyError as error:
            assert not is_transient(error)
        else:
            raise AssertionError("the insert did not fail")
