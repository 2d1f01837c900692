"""``check-config``'s look at a SQLite database through the standard library says exactly what the
store says of the same file: the same revision and moves, or the same one-line refusal, and it
leaves the file as it found it."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command

from dockwatch.bot.errors import StorageError
from dockwatch.storage import Store, TargetInfo
from dockwatch.storage.peek import Peek, peek_sqlite
from dockwatch.storage.schema import BASELINE, alembic_config
from tests.conftest import crashed_writer_copy, database_from_sql, file_digest
from tests.test_migrations import run_sync_on

MOVED_AT = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


async def current_with_moves(path: Path) -> None:
    async with Store.open(f"sqlite:///{path}") as store:
        await store.sync_targets([TargetInfo("telegram:-100", "telegram", "ops")])
        await store.move_target("telegram:-100", "telegram:-1002000", now=MOVED_AT)
        await store.move_target("telegram:-5", "telegram:-1005", now=MOVED_AT)


async def empty_file(path: Path) -> None:
    path.touch()


async def dockwatch_0_1_0(path: Path) -> None:
    database_from_sql(path, "dockwatch-0.1.0.sql")


async def at_the_baseline_revision(path: Path) -> None:
    await run_sync_on(f"sqlite:///{path}", lambda c: command.upgrade(alembic_config(c), BASELINE))


async def of_a_newer_dockwatch(path: Path) -> None:
    await current_with_moves(path)
    with closing(sqlite3.connect(path)) as database, database:
        database.execute("UPDATE alembic_version SET version_num = '0099_x'")


async def recording_two_revisions(path: Path) -> None:
    await current_with_moves(path)
    with closing(sqlite3.connect(path)) as database, database:
        database.execute(f"INSERT INTO alembic_version VALUES ('{BASELINE}')")


async def someone_elses(path: Path) -> None:
    with closing(sqlite3.connect(path)) as database, database:
        database.execute("CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)")
        database.execute("CREATE TABLE bar (id INTEGER PRIMARY KEY AUTOINCREMENT)")  # and sqlite_sequence


async def not_a_database(path: Path) -> None:
    path.write_text("just some notes, not SQLite\n" * 100)


DATABASES: list[Callable[[Path], Awaitable[None]]] = [
    current_with_moves,
    empty_file,
    dockwatch_0_1_0,
    at_the_baseline_revision,
    of_a_newer_dockwatch,
    recording_two_revisions,
    someone_elses,
    not_a_database,
]


async def through_the_store(url: str) -> Peek | str:
    try:
        async with Store.open_read_only(url, require_head=False) as store:
            moves = await store.target_moves() if store.schema.at_head else []
            return Peek(store.schema, moves)
    except StorageError as error:
        return str(error)


def through_peek(path: Path, url: str) -> Peek | str:
    try:
        return peek_sqlite(str(path), url)
    except StorageError as error:
        return str(error)


@pytest.mark.parametrize("make", DATABASES, ids=lambda make: make.__name__)
async def test_peek_and_the_store_say_the_same_of_every_kind_of_database(
    tmp_path: Path, make: Callable[[Path], Awaitable[None]]
) -> None:
    path = tmp_path / "dockwatch.db"
    await make(path)
    url = f"sqlite:///{path}"

    assert through_peek(path, url) == await through_the_store(url)


async def test_the_moves_come_back_in_key_order_with_their_utc_times(tmp_path: Path) -> None:
    path = tmp_path / "dockwatch.db"
    await current_with_moves(path)

    peeked = peek_sqlite(str(path), "here")

    assert peeked.state.at_head
    assert [(m.old_key, m.new_key, m.moved_at) for m in peeked.moves] == [
        ("telegram:-100", "telegram:-1002000", MOVED_AT),
        ("telegram:-5", "telegram:-1005", MOVED_AT),
    ]


async def test_a_database_a_live_writer_holds_is_read_through_its_write_ahead_log(tmp_path: Path) -> None:
    """With a WAL beside the file a writer is live, and what it committed is only in that log."""
    path = tmp_path / "dockwatch.db"
    await current_with_moves(path)
    async with Store.open(f"sqlite:///{path}") as writer:
        await writer.move_target("telegram:-7", "telegram:-1007", now=MOVED_AT)
        assert path.with_name("dockwatch.db-wal").exists()

        peeked = peek_sqlite(str(path), "here")

    assert "telegram:-7" in [m.old_key for m in peeked.moves]


@pytest.mark.parametrize("make", [current_with_moves, someone_elses], ids=lambda make: make.__name__)
async def test_peeking_leaves_the_file_byte_identical_and_creates_nothing_beside_it(
    tmp_path: Path, make: Callable[[Path], Awaitable[None]]
) -> None:
    path = tmp_path / "dockwatch.db"
    await make(path)
    before, files = file_digest(path), sorted(p.name for p in tmp_path.iterdir())

    through_peek(path, "here")

    assert file_digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_a_missing_file_is_no_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"no database at .*missing\.db"):
        peek_sqlite(str(tmp_path / "missing.db"), "here")


async def test_a_crashed_writer_s_rollback_journal_is_refused_with_what_to_run(tmp_path: Path) -> None:
    """A hot journal means the file may hold half a transaction: reading around it could tear."""
    database = tmp_path / "dockwatch.db"
    await current_with_moves(database)

    crashed = crashed_writer_copy(database, tmp_path / "crashed")

    with pytest.raises(
        StorageError,
        match=r"^cannot open database here: a writer stopped mid-transaction.*"
        r"run `dockwatch db upgrade` once$",
    ):
        peek_sqlite(str(crashed), "here")
