"""Read-only commands stay read-only: ``status``, ``check-config`` and ``db current`` never write the
database, change its journal mode or wait for its write lock, and say what is wrong in one line."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwatch.bot import commands
from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.detect import detect
from dockwatch.bot.errors import StorageError
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import KnownState, Receipt, Snapshot
from dockwatch.storage import Store, TargetInfo
from dockwatch.storage.schema import head
from tests.builders import ll2_docking
from tests.conftest import SECRET, crashed_writer_copy, database_from_sql, file_digest
from tests.test_cli import assert_one_line_error, dockwatch

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def write_config(directory: Path, database: Path) -> Path:
    path = directory / "dockwatch.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{database}"\n\n'
        f'[[webhooks]]\nurl = "https://hooks.example.org/dockwatch"\nsecret = "{SECRET}"\n'
    )
    return path


def config_for(database: Path) -> Config:
    return config_from_mapping({"storage": {"url": f"sqlite:///{database}"}}, source="test", environ={})


@pytest.fixture
async def ours(tmp_path: Path) -> Path:
    """A dockwatch database as ``run`` leaves it: WAL mode, one docking delivered with a receipt."""
    path = tmp_path / "dockwatch.db"
    async with Store.open(f"sqlite:///{path}") as store:
        await store.sync_targets([TargetInfo("telegram:7", "telegram", "ops chat")])
        snapshot = Snapshot(
            tuple(parse_dockings([ll2_docking(1, docking=NOW - timedelta(minutes=5))], "t", legacy=False)), ()
        )
        changes = detect(KnownState(baseline_done=True), snapshot, NOW)
        await store.record_cycle(snapshot, changes, started_at=NOW, now=NOW)
        (delivery,) = await store.claim_due(NOW, lease_until=NOW + timedelta(minutes=2), owner="test")
        receipt = Receipt(platform="telegram", message={"chat_id": 7, "message_id": 4242})
        await store.mark_delivered(delivery, NOW, receipt=receipt)
    return path


async def test_status_on_someone_elses_database_says_so_exits_3_and_changes_nothing(
    tmp_path: Path, foreign_sqlite: Path
) -> None:
    before = file_digest(foreign_sqlite)

    run = await dockwatch("status", "--config", str(write_config(tmp_path, foreign_sqlite)))

    assert run.code == 3
    assert_one_line_error(run, "storage error", "is not a dockwatch database")
    assert file_digest(foreign_sqlite) == before
    assert not foreign_sqlite.with_name("inventory.db-wal").exists()


async def test_status_on_a_0_1_0_database_says_to_run_db_upgrade_and_changes_nothing(tmp_path: Path) -> None:
    database = database_from_sql(tmp_path / "dockwatch.db", "dockwatch-0.1.0.sql")
    before = file_digest(database)

    run = await dockwatch("status", "--config", str(write_config(tmp_path, database)))

    assert run.code == 3
    assert_one_line_error(run, "0.1.0 (no revision recorded)", "run `dockwatch db upgrade`")
    assert file_digest(database) == before


async def test_status_leaves_a_dockwatch_database_byte_identical(tmp_path: Path, ours: Path) -> None:
    config = write_config(tmp_path, ours)
    before = file_digest(ours)
    listing = sorted(p.name for p in ours.parent.iterdir())

    run = await dockwatch("status", "--config", str(config))
    current = await dockwatch("db", "current", "--config", str(config))

    assert run.code == 0 and current.code == 0, run.err + current.err
    assert file_digest(ours) == before
    assert sorted(p.name for p in ours.parent.iterdir()) == listing  # no -wal or -shm left beside it
    with closing(sqlite3.connect(ours)) as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_status_reads_a_database_in_a_directory_it_cannot_write(tmp_path: Path, ours: Path) -> None:
    config = write_config(tmp_path, ours)
    ours.parent.chmod(0o555)
    try:
        if os.access(ours.parent, os.W_OK):
            pytest.skip("running as root: a read-only directory is still writable")
        run = await dockwatch("status", "--config", str(config))
    finally:
        ours.parent.chmod(0o755)

    assert run.code == 0, run.err


async def test_status_answers_while_another_process_holds_the_write_lock(ours: Path) -> None:
    with closing(sqlite3.connect(ours, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO api_call (at, path) VALUES ('2026-01-01 12:00:00.000000', '/x')")

        text = await asyncio.wait_for(commands.status(config_for(ours), NOW), timeout=5)

        writer.execute("ROLLBACK")
    assert "Deliveries: queued 0, sending 0, delivered 1, dead 0" in text


async def test_status_lists_recent_deliveries_with_the_platform_s_message_identity(ours: Path) -> None:
    text = await commands.status(config_for(ours), NOW)

    assert "Recent deliveries:\n  docked:1 -> telegram:7: telegram chat_id=7 message_id=4242" in text


async def test_status_on_a_database_of_a_newer_dockwatch_says_so(ours: Path) -> None:
    with closing(sqlite3.connect(ours)) as database, database:
        database.execute("UPDATE alembic_version SET version_num = '0099_later'")

    with pytest.raises(StorageError, match="upgraded by a newer dockwatch"):
        await commands.status(config_for(ours), NOW)


async def test_check_config_neither_creates_nor_touches_the_database(tmp_path: Path, ours: Path) -> None:
    missing = tmp_path / "elsewhere" / "new.db"
    (tmp_path / "elsewhere").mkdir()
    before = file_digest(ours)

    runs = [
        await dockwatch("check-config", "--config", str(write_config(directory, database)))
        for directory, database in ((tmp_path / "elsewhere", missing), (tmp_path, ours))
    ]

    assert [run.code for run in runs] == [0, 0], [run.err for run in runs]
    assert list((tmp_path / "elsewhere").iterdir()) == [tmp_path / "elsewhere" / "dockwatch.toml"]
    assert file_digest(ours) == before


async def test_check_config_refuses_someone_elses_database_and_changes_nothing(
    tmp_path: Path, foreign_sqlite: Path
) -> None:
    config = write_config(tmp_path, foreign_sqlite)
    before = file_digest(foreign_sqlite)
    listing = sorted(p.name for p in foreign_sqlite.parent.iterdir())

    run = await dockwatch("check-config", "--config", str(config))

    assert run.code == 3
    assert_one_line_error(run, "storage error", "is not a dockwatch database")
    assert file_digest(foreign_sqlite) == before
    assert sorted(p.name for p in foreign_sqlite.parent.iterdir()) == listing


async def test_db_current_reports_an_old_database_without_changing_it(tmp_path: Path) -> None:
    database = database_from_sql(tmp_path / "dockwatch.db", "dockwatch-0.1.0.sql")
    before = file_digest(database)

    run = await dockwatch("db", "current", "--config", str(write_config(tmp_path, database)))

    assert run.code == 0, run.err
    assert run.out.strip() == (
        f"database at revision 0.1.0 (no revision recorded); head is {head()}: run `dockwatch db upgrade`"
    )
    assert file_digest(database) == before


async def test_db_upgrade_upgrades_an_old_database_once_and_then_reports_it_current(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, database_from_sql(tmp_path / "dockwatch.db", "dockwatch-0.1.0.sql")))

    first = await dockwatch("-q", "db", "upgrade", "--config", config)
    second = await dockwatch("-q", "db", "upgrade", "--config", config)
    current = await dockwatch("db", "current", "--config", config)

    assert (first.code, second.code, current.code) == (0, 0, 0), first.err
    assert first.out.strip() == f"upgraded from 0.1.0 (no revision recorded) to {head()}"
    assert second.out.strip() == f"database at revision {head()}"
    assert current.out.strip() == f"database at revision {head()} (head)"


async def test_db_upgrade_refuses_someone_elses_database_and_changes_nothing(
    tmp_path: Path, foreign_sqlite: Path
) -> None:
    before = file_digest(foreign_sqlite)

    run = await dockwatch("db", "upgrade", "--config", str(write_config(tmp_path, foreign_sqlite)))

    assert run.code == 3
    assert_one_line_error(run, "is not a dockwatch database")
    assert file_digest(foreign_sqlite) == before


async def test_a_read_only_store_cannot_write(any_db_url: str) -> None:
    async with Store.open(any_db_url):
        pass

    async with Store.open_read_only(any_db_url) as store:
        with pytest.raises(StorageError, match=r"read-?only"):
            await store.record_api_call(NOW, "/docking_events/")


async def test_status_shows_an_ll2_hold_and_when_it_ends(ours: Path) -> None:
    async with Store.open(f"sqlite:///{ours}") as store:
        await store.set_api_hold(NOW + timedelta(minutes=40), "429 on /docking_events/")

    shown = await commands.status(config_for(ours), now=NOW)
    later = await commands.status(config_for(ours), now=NOW + timedelta(hours=1))

    assert (
        "LL2 asked us to wait: no calls until 2026-01-01 12:40 UTC (in 40 minutes) (429 on /docking_events/)"
        in shown
    ), shown
    assert "LL2 asked us to wait" not in later


async def test_a_crashed_writer_s_rollback_journal_is_rolled_back_by_the_next_read_write_open(
    tmp_path: Path, ours: Path
) -> None:
    """Only a read-write open can roll a hot journal back: the look before writing must not stop it."""
    crashed = crashed_writer_copy(ours, tmp_path / "crashed")

    async with Store.open(f"sqlite:///{crashed}") as store:
        assert store.schema.at_head
        assert [t.key for t in await store.targets()] == ["telegram:7"]

    assert not crashed.with_name("dockwatch.db-journal").exists()


async def test_status_on_a_crashed_writer_s_database_says_what_to_run_and_changes_nothing(
    tmp_path: Path, ours: Path
) -> None:
    crashed = crashed_writer_copy(ours, tmp_path / "crashed")
    before = file_digest(crashed)

    run = await dockwatch("status", "--config", str(write_config(tmp_path, crashed)))

    assert run.code == 3
    assert_one_line_error(run, "a writer stopped mid-transaction", "run `dockwatch db upgrade` once")
    assert file_digest(crashed) == before
