"""Schema revisions: Alembic owns the schema; dockwatch upgrades it at start and checks it read-only.

A database is in one of five states: empty (a fresh file), 0.1.0 (every 0.1.0 table but no
``alembic_version``: 0.1.0 created its tables with ``create_all``), versioned at a revision this code
knows, versioned at one it does not (a newer dockwatch upgraded it), or someone else's. The functions
here take a synchronous connection (run them with ``AsyncConnection.run_sync``) already inside the
transaction the caller opened, so one code path serves SQLite and PostgreSQL.

Every start checks the revision, but few upgrade: the check reads ``alembic_version`` and the
revision files' own ``revision``/``down_revision`` lines itself, and alembic (which brings mako and
pygments, and runs every revision file to learn the graph) is imported only to upgrade.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from dockwatch.bot.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_initial"
"""The revision that reproduces the 0.1.0 schema; an unversioned 0.1.0 database is stamped with it."""

TABLES_0_1_0 = frozenset(
    {
        "docking_record",
        "event_record",
        "notification",
        "delivery",
        "target",
        "poll_log",
        "api_call",
        "api_hold",
    }
)
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, made in code: users need no ``alembic.ini``."""
    from alembic.config import Config

    config = Config()
    # Options go through ConfigParser interpolation, where a literal "%" must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


class MigrationFailed(Exception):
    """Alembic refused or failed an upgrade (its ``CommandError``, which callers catch as this one so
    that only the upgrade path imports alembic)."""


@cache
def head() -> str:
    """The newest revision this code knows."""
    graph = revision_graph()
    heads = set(graph) - set(graph.values())
    assert len(heads) == 1, f"the revisions under {MIGRATIONS} have heads {sorted(heads)}, not one"
    return heads.pop()


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a dockwatch database stands: ``revision`` is ``None`` for an empty database and for a
    0.1.0 one (``unversioned``), which predates Alembic."""

    revision: str | None
    unversioned: bool = False

    @property
    def at_head(self) -> bool:
        return self.revision == head()

    def describe(self) -> str:
        if self.unversioned:
            return "0.1.0 (no revision recorded)"
        return self.revision or "empty"


def schema_state(connection: Connection, where: str) -> SchemaState:
    """Read the database's revision without writing anything; someone else's database, or one a
    newer dockwatch upgraded, is a ``StorageError`` naming ``where``."""
    tables = set(inspect(connection).get_table_names())
    ours = tables >= TABLES_0_1_0
    revision = _recorded_revision(connection, where) if VERSION_TABLE in tables else None
    if revision is not None:
        if revision in revision_graph():
            return SchemaState(revision)
        if ours:
            raise StorageError(
                f"{where} was upgraded by a newer dockwatch (schema revision {revision}, this one "
                f"knows up to {head()}): upgrade dockwatch"
            )
    elif ours:
        return SchemaState(None, unversioned=True)
    elif not tables - {VERSION_TABLE}:
        return SchemaState(None)
    others = ", ".join(sorted(tables - TABLES_0_1_0 - {VERSION_TABLE})[:5])
    detail = f" (it has other tables: {others})" if others else ""
    raise StorageError(f"{where} is not a dockwatch database{detail}")


def require_current(connection: Connection, where: str) -> SchemaState:
    """The read-only commands' check: a database older than the code is for ``db upgrade`` to fix."""
    state = schema_state(connection, where)
    if not state.at_head:
        raise StorageError(
            f"{where} is at schema revision {state.describe()}, older than this dockwatch "
            f"({head()}): run `dockwatch db upgrade`"
        )
    return state


def upgrade(connection: Connection, where: str) -> tuple[SchemaState, SchemaState]:
    """Bring the database to head; return the states before and after.

    Runs in the caller's transaction, under the migration lock it takes first: the check, the
    upgrade and the version stamp commit together, so a second process starting at the same moment
    waits, then finds nothing to do.
    """
    _lock_for_migrations(connection)
    before = schema_state(connection, where)
    if before.at_head:
        return before, before
    from alembic import command
    from alembic.util.exc import CommandError

    config = alembic_config(connection)
    try:
        if before.unversioned:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    except CommandError as error:
        raise MigrationFailed(str(error)) from error
    after = schema_state(connection, where)
    log.info("database upgraded from %s to %s", before.describe(), after.describe())
    return before, after


MIGRATION_LOCK = 0x646F636B77617463  # "dockwatc": any fixed bigint other applications are unlikely to use


def _lock_for_migrations(connection: Connection) -> None:
    """Simultaneous starts take turns, and the later ones find the schema current.

    On SQLite the engine began this transaction with ``BEGIN IMMEDIATE``, which already holds the
    database's one write lock (and SQLite DDL is transactional); PostgreSQL takes an advisory lock
    that its transaction's end releases.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def _recorded_revision(connection: Connection, where: str) -> str | None:
    """What ``alembic_version`` records, as alembic's ``get_current_revision`` reads it; dockwatch's
    history has no branches, so more than one row is a database dockwatch did not make."""
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise StorageError(
            f"{where} records {len(rows)} schema revisions ({', '.join(sorted(rows))}); "
            "dockwatch's have no branches"
        )
    return rows[0] if rows else None


_ASSIGNMENT = re.compile(r'^(revision|down_revision)\b[^=\n]*= *(None|"([^"]+)")[ \t\r]*$', re.MULTILINE)


@cache
def revision_graph() -> dict[str, str | None]:
    """Each revision under ``migrations/versions`` and the one it revises, read from the files'
    ``revision = "..."`` and ``down_revision = "..."`` lines without running them (alembic would
    import each file, and itself); ``tests/test_migrations.py`` checks this against alembic's view."""
    graph: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("[!_]*.py")):
        found = {match[1]: match[3] for match in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8"))}
        assert "revision" in found and "down_revision" in found, f"{path} names no (down_)revision"
        revision = found["revision"]
        assert revision is not None, f"{path} has no revision id"
        graph[revision] = found["down_revision"]
    return graph
