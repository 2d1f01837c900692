"""A read-only look at a SQLite database through the standard library's ``sqlite3``.

``check-config`` shows where the database stands and which configured targets moved. Through the
store that costs SQLAlchemy, SQLModel and aiosqlite: more than twice what the rest of the command
costs (``bench/startup.py``), for one table listing and two small queries. This module asks the
same questions with ``sqlite3`` and hands the answers to the same ``revisions.classify``; the
queries are the store's (``Store.target_moves``), and ``tests/test_peek.py`` holds the two side by
side on every kind of database. PostgreSQL keeps going through the store.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dockwatch.bot.errors import StorageError
from dockwatch.storage.moves import TargetMove
from dockwatch.storage.revisions import VERSION_TABLE, SchemaState, classify

HOT_JOURNAL = (
    "a writer stopped mid-transaction and left its rollback journal beside it, which only a "
    "read-write open rolls back: run `dockwatch db upgrade` once"
)
"""Why a read-only open fails (SQLite: "attempt to write a readonly database") with a journal beside."""


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
"""SQLAlchemy's ``get_table_names`` for SQLite: SQLite's own tables are no part of the schema."""


@dataclass(frozen=True, slots=True)
class Peek:
    state: SchemaState
    moves: list[TargetMove]
    """Empty unless the schema is current: an older one may have no moves table yet (its upgrade
    reads the moves back from the receipts)."""


def peek_sqlite(path: str, where: str) -> Peek:
    """What ``path`` holds, opened read-only (``mode=ro``; ``immutable`` when no WAL or rollback
    journal lies beside it, as the store's read-only engine does, so no file is created next to it).
    """
    if not Path(path).is_file():
        raise StorageError(f"no database at {path}")
    live = Path(f"{path}-wal").exists() or Path(f"{path}-journal").exists()
    immutable = "" if live else "&immutable=1"  # a journal may be a crashed writer's: never skip it
    uri = f"{Path(path).absolute().as_uri()}?mode=ro{immutable}"
    try:
        with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as connection:
            connection.execute("PRAGMA query_only=ON")
            connection.execute("BEGIN")
            tables = {name for (name,) in connection.execute(_TABLES)}
            versions = None
            if VERSION_TABLE in tables:
                versions = [row[0] for row in connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")]
            state = classify(tables, versions, where)
            if not state.at_head:
                return Peek(state, [])
            rows = connection.execute(
                "SELECT old_key, new_key, moved_at FROM target_move ORDER BY old_key"
            ).fetchall()
    except sqlite3.Error as error:
        reason = HOT_JOURNAL if live and "readonly" in str(error) else _first_line(error)
        raise StorageError(f"cannot open database {where}: {reason}") from None
    return Peek(state, [TargetMove(old, new, _utc(moved_at)) for old, new, moved_at in rows])


def _utc(stored: str) -> datetime:
    """A timestamp as SQLAlchemy's SQLite ``DateTime`` keeps it: naive UTC text."""
    moment = datetime.fromisoformat(stored)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
