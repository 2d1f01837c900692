"""Alembic owns the schema: the revisions build what the models describe, 0001 is exactly 0.1.0's
schema, starts upgrade once under a lock, and a database that is not ours (or is newer) is refused.

PostgreSQL runs too when ``TEST_POSTGRES_URL`` names a server dockwatch may create databases on
(e.g. ``postgresql://postgres@127.0.0.1/postgres``); each test gets a fresh database there.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from dockwatch.bot.errors import StorageError
from dockwatch.bot.model import Receipt, TimeHistory
from dockwatch.storage import Store, TargetInfo, TargetMove
from dockwatch.storage.engine import async_url
from dockwatch.storage.schema import BASELINE, alembic_config, head, revision_graph
from tests.conftest import DATA, database_from_sql, file_digest


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


async def run_sync_on(url: str, work: Any) -> Any:
    """Run ``work(connection)`` on a plain connection (no dockwatch engine settings)."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_an_empty_database_is_upgraded_to_exactly_what_the_models_describe(any_db_url: str) -> None:
    """The check that catches a model change made without a revision."""
    async with Store.open(any_db_url):
        pass

    assert await run_sync_on(any_db_url, schema_diff) == []


def sqlite_schema(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(path)) as database:
        rows = database.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {name: sql for name, sql in rows if name != "alembic_version"}


def test_revision_0001_creates_exactly_the_0_1_0_schema(tmp_path: Path) -> None:
    released = database_from_sql(tmp_path / "released.db", "dockwatch-0.1.0.sql")
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'revision.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), BASELINE)
    engine.dispose()

    assert sqlite_schema(tmp_path / "revision.db") == sqlite_schema(released)


async def test_a_0_1_0_database_is_stamped_at_0001_and_upgraded_in_place(tmp_path: Path) -> None:
    path = database_from_sql(tmp_path / "dockwatch.db", "dockwatch-0.1.0.sql")

    async with Store.open(f"sqlite:///{path}") as store:
        before, after = store.upgraded_from, store.schema

    assert before is not None and before.unversioned
    assert after.revision == head()
    with closing(sqlite3.connect(path)) as database:
        assert database.execute("SELECT count(*) FROM notification").fetchone() == (5,)


async def test_a_0_1_0_postgresql_database_is_stamped_and_upgraded_with_its_chats_repaired(
    postgres_url: str,
) -> None:
    def make_0_1_0(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), BASELINE)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql(
            "INSERT INTO target (key, notifier, label, source, configured, enabled, kinds, stations) VALUES "
            "('telegram:1', 'telegram', 'fans', 'config', false, true, '[\"docking.departed\"]', 'null'),"
            "('webhook:a', 'webhook', 'ops', 'config', true, true, 'null', 'null')"
        )

    await run_sync_on(postgres_url, make_0_1_0)

    async with Store.open(postgres_url) as store:
        assert store.upgraded_from is not None and store.upgraded_from.unversioned
        targets = [(t.key, t.source, t.configured) for t in await store.targets()]

    assert targets == [("telegram:1", "chat", True), ("webhook:a", "config", True)]


async def test_revision_0001_makes_no_sequence_0_1_0_did_not_have_on_postgresql(postgres_url: str) -> None:
    def sequences(connection: Connection) -> list[str]:
        command.upgrade(alembic_config(connection), BASELINE)
        rows = connection.exec_driver_sql("SELECT sequence_name FROM information_schema.sequences")
        return sorted(row[0] for row in rows)

    # What 0.1.0's create_all made on PostgreSQL 15 (read off a database made by commit 805f2a6).
    assert await run_sync_on(postgres_url, sequences) == [
        "api_call_id_seq",
        "delivery_id_seq",
        "docking_record_id_seq",
        "event_record_id_seq",
        "notification_id_seq",
        "poll_log_id_seq",
    ]


async def test_the_upgrade_is_logged_once_and_only_when_something_was_applied(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dockwatch"):
        for _ in range(3):
            async with Store.open(db_url):
                pass

    upgrades = [r.getMessage() for r in caplog.records if r.name.startswith("dockwatch")]
    assert upgrades == [f"database upgraded from empty to {head()}"]


async def test_a_database_of_a_newer_dockwatch_is_refused_by_name(any_db_url: str) -> None:
    async with Store.open(any_db_url):
        pass
    await run_sync_on(
        any_db_url, lambda c: c.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_x'")
    )

    with pytest.raises(StorageError, match=r"upgraded by a newer dockwatch \(schema revision 0099_x"):
        async with Store.open(any_db_url):
            pass


async def test_someone_elses_database_is_refused_and_left_byte_identical(foreign_sqlite: Path) -> None:
    before = file_digest(foreign_sqlite)

    with pytest.raises(StorageError, match=r"is not a dockwatch database \(it has other tables: foo\)"):
        async with Store.open(f"sqlite:///{foreign_sqlite}"):
            pass

    assert file_digest(foreign_sqlite) == before
    assert sorted(p.name for p in foreign_sqlite.parent.iterdir()) == ["inventory.db"]


async def test_someone_elses_postgresql_database_is_refused(postgres_url: str) -> None:
    await run_sync_on(postgres_url, lambda c: c.exec_driver_sql("CREATE TABLE foo (id integer)"))

    with pytest.raises(StorageError, match="is not a dockwatch database"):
        async with Store.open(postgres_url):
            pass


def test_the_revisions_read_without_alembic_are_alembic_s_own() -> None:
    """Every start reads the revision graph from the files' text; alembic reads it by running them."""
    script = ScriptDirectory.from_config(alembic_config())
    alembic_graph = {r.revision: r.down_revision for r in script.walk_revisions()}

    assert revision_graph() == alembic_graph
    assert head() == script.get_current_head()


async def test_a_database_recording_two_revisions_is_refused_by_name(any_db_url: str) -> None:
    async with Store.open(any_db_url):
        pass
    await run_sync_on(
        any_db_url, lambda c: c.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{BASELINE}')")
    )

    for opening in (Store.open, Store.open_read_only):
        with pytest.raises(StorageError, match=r"records 2 schema revisions \(0001_initial, "):
            async with opening(any_db_url):
                pass


async def test_an_upgrade_alembic_refuses_is_a_storage_error_naming_the_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise CommandError("Can't locate revision identified by '0002_delivery_receipt'")

    monkeypatch.setattr(command, "upgrade", refuse)

    with pytest.raises(StorageError, match=r"cannot open database sqlite:///.*: Can't locate revision"):
        async with Store.open(db_url):
            pass


def test_every_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'dockwatch.db'}")
    with engine.begin() as connection:
        config = alembic_config(connection)
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        command.upgrade(config, "head")
        assert schema_diff(connection) == []
    engine.dispose()


START = """
import asyncio, sys
from dockwatch.storage import Store

async def main(url):
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.readline()
    async with Store.open(url) as store:
        print(store.upgraded_from.describe() if store.upgraded_from else "current")

asyncio.run(main(sys.argv[1]))
"""


async def start_simultaneously(url: str, count: int) -> list[tuple[int, str, str]]:
    """``count`` processes open ``url`` at the same moment (each waits for "go" once imported)."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            START,
            url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    results = await asyncio.gather(*(p.communicate(b"go\n") for p in processes))
    return [
        (p.returncode or 0, out.decode().strip(), err.decode())
        for p, (out, err) in zip(processes, results, strict=True)
    ]


async def test_simultaneous_starts_on_a_fresh_file_all_succeed_and_upgrade_it_once(db_url: str) -> None:
    results = await start_simultaneously(db_url, 8)

    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert sorted(out for _, out, _ in results) == ["current"] * 7 + ["empty"]
    with closing(sqlite3.connect(sqlite_path(db_url))) as database:
        assert database.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]


async def test_simultaneous_starts_on_postgresql_upgrade_it_once(postgres_url: str) -> None:
    results = await start_simultaneously(postgres_url, 8)

    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    assert sorted(out for _, out, _ in results) == ["current"] * 7 + ["empty"]


def test_the_fixture_is_what_0_1_0_wrote() -> None:
    """Guards the fixture against hand edits: it must stay a plain dump without Alembic's table."""
    sql = (DATA / "dockwatch-0.1.0.sql").read_text()
    assert "alembic_version" not in sql and "receipt" not in sql


async def test_a_database_older_than_the_code_is_refused_read_only_with_what_to_run(any_db_url: str) -> None:
    await run_sync_on(any_db_url, lambda c: command.upgrade(alembic_config(c), BASELINE))

    with pytest.raises(
        StorageError, match=f"at schema revision {BASELINE}, older .* run `dockwatch db upgrade`"
    ):
        async with Store.open_read_only(any_db_url):
            pass


# --- 0005: targets remember where they moved ----------------------------------------------------

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
MOVED_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
TABLES_AT_0004 = ("notification", "target", "delivery", "poll_log", "platform_state")


def database_at_0004_whose_configured_group_moved(connection: Connection) -> None:
    """What 0.2.0 left behind for a config listing group -333, which became supergroup -100333: the
    delivery that met the move (its receipt names ``moved_to``), a config row the next start made
    again at -333 with a delivery still queued for it, and the moved row marked as not in config."""
    command.upgrade(alembic_config(connection), "0004_platform_state")
    tables = SQLModel.metadata.tables
    connection.execute(
        tables["notification"].insert(),
        [
            {
                "id": n,
                "key": f"docked:{n}",
                "kind": "docking.docked",
                "announced": True,
                "payload": {},
                "occurred_at": T0,
                "created_at": T0,
            }
            for n in (1, 2)
        ],
    )
    connection.execute(
        tables["target"].insert(),
        [
            {
                "key": key,
                "notifier": key.partition(":")[0],
                "label": key,
                "source": "config",
                "configured": configured,
                "enabled": True,
                "kinds": None,
                "stations": None,
            }
            for key, configured in (("telegram:-333", True), ("telegram:-100333", False), ("webhook:a", True))
        ],
    )
    moved = Receipt(
        platform="telegram", message={"chat_id": -100333, "message_id": 7}, moved_to="telegram:-100333"
    )
    delivered = {"status": "delivered", "attempts": 1, "next_attempt_at": T0, "created_at": T0}
    connection.execute(
        tables["delivery"].insert(),
        [
            {
                **delivered,
                "notification_id": 1,
                "target_key": "telegram:-333",
                "receipt": moved,
                "delivered_at": MOVED_AT,
                "updated_at": MOVED_AT,
            },
            {
                **delivered,
                "notification_id": 1,
                "target_key": "webhook:a",
                "receipt": Receipt(platform="webhook", message={"status": 200}),
                "delivered_at": T0,
                "updated_at": T0,
            },
            {
                "notification_id": 2,
                "target_key": "telegram:-333",
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": T0,
                "created_at": T0,
                "updated_at": T0,
                "delivered_at": None,
                "receipt": None,
            },
        ],
    )
    connection.execute(
        tables["poll_log"].insert(),
        [
            {
                "started_at": T0,
                "finished_at": T0,
                "result": "ok",
                "changes_recorded": 2,
                "changes_announced": 2,
            }
        ],
    )
    connection.execute(
        tables["platform_state"].insert(),
        [{"name": "telegram", "error": None, "since": T0, "checked_at": T0}],
    )


def rows_of(connection: Connection, *tables: str) -> dict[str, list[Any]]:
    """Every row of ``tables``, in the columns revision 0004 has (later revisions may add some)."""
    columns = {table: [c["name"] for c in inspect(connection).get_columns(table)] for table in tables}
    old = {
        table: [c for c in names if (table, c) not in ADDED_AFTER_0004] for table, names in columns.items()
    }
    return {
        table: [
            tuple(row)
            for row in connection.exec_driver_sql(
                f"SELECT {', '.join(old[table])} FROM {table} ORDER BY 1, 2"
            )
        ]
        for table in tables
    }


ADDED_AFTER_0004 = {
    ("delivery", "original_id"),
    ("delivery", "claimed_by"),
    ("notification", "fact"),
    ("delivery", "held"),
    ("target", "reminders"),
    ("target", "quiet"),
    ("target", "timezone"),
    ("target", "config_reminders"),
    ("target", "config_quiet"),
    ("target", "config_timezone"),
    ("docking_record", "docking_revision"),
    ("docking_record", "departure_revision"),
    ("docking_record", "docking_given"),
    ("docking_record", "departure_given"),
    ("docking_record", "revised_at"),
    ("event_record", "date_revision"),
    ("event_record", "date_given"),
    ("event_record", "revised_at"),
}


async def test_revision_0005_keeps_every_row_of_a_0004_database_and_adds_the_moves_table(
    any_db_url: str,
) -> None:
    await run_sync_on(any_db_url, database_at_0004_whose_configured_group_moved)
    before = await run_sync_on(any_db_url, lambda c: rows_of(c, *TABLES_AT_0004))

    async with Store.open(any_db_url) as store:
        upgraded_from = store.upgraded_from

    assert upgraded_from is not None and upgraded_from.revision == "0004_platform_state"
    assert await run_sync_on(any_db_url, lambda c: rows_of(c, *TABLES_AT_0004)) == before
    assert await run_sync_on(any_db_url, lambda c: rows_of(c, "target_move")) == {
        "target_move": [("telegram:-333", "telegram:-100333", ANY)]
    }


async def test_revision_0005_reads_the_moves_that_already_happened_back_from_the_receipts(
    any_db_url: str,
) -> None:
    await run_sync_on(any_db_url, database_at_0004_whose_configured_group_moved)

    async with Store.open(any_db_url) as store:
        moves = await store.target_moves()

    assert moves == [TargetMove("telegram:-333", "telegram:-100333", MOVED_AT)]


async def test_after_the_upgrade_the_group_s_old_id_is_sent_nothing_more(any_db_url: str) -> None:
    await run_sync_on(any_db_url, database_at_0004_whose_configured_group_moved)

    async with Store.open(any_db_url) as store:
        await store.sync_targets(
            [
                TargetInfo("telegram:-333", "telegram", "Telegram chat -333"),
                TargetInfo("webhook:a", "webhook", "a"),
            ]
        )
        targets = [(t.key, t.configured) for t in await store.targets()]
        owed = [(key, d.target_key, d.status) for d, key in await store.deliveries()]

    assert targets == [("telegram:-100333", True), ("webhook:a", True)]
    assert owed == [
        ("docked:1", "telegram:-333", "delivered"),
        ("docked:1", "webhook:a", "delivered"),
        ("docked:2", "telegram:-100333", "queued"),
    ]


def database_at_0009_with_a_docking_and_an_event(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "0009_target_preferences")
    tables = SQLModel.metadata.tables
    seen = {"raw": {}, "first_seen": T0, "last_seen": MOVED_AT}
    connection.execute(
        tables["docking_record"].insert(),
        [{"id": 630, "docking": T0, "departure": None, "port_id": 1, "port_name": "Poisk zenith", **seen}],
    )
    connection.execute(
        tables["event_record"].insert(),
        [{"id": 1096, "name": "Progress MS-33 Docking", "date": T0, "webcast_live": False, **seen}],
    )


async def test_revision_0010_takes_a_stored_record_s_times_as_the_ones_ll2_gave(any_db_url: str) -> None:
    """How often LL2 moved them before was never kept: they start at revision 0, and a calendar
    still finds them (it looks records up by the times LL2 gave)."""
    await run_sync_on(any_db_url, database_at_0009_with_a_docking_and_an_event)

    async with Store.open(any_db_url) as store:
        dockings = await store.calendar_dockings(T0 - timedelta(days=1), T0 + timedelta(days=1))
        events = await store.calendar_events(T0 - timedelta(days=1), T0 + timedelta(days=1))

    assert [(h.record.id, h.docking, h.departure, h.revised_at) for h in dockings] == [
        (630, TimeHistory(T0, 0), TimeHistory(None, 0), T0)
    ]
    assert [(h.event.id, h.date, h.revised_at) for h in events] == [(1096, TimeHistory(T0, 0), T0)]
