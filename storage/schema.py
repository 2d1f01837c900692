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
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from dockwatch.bot.errors import StorageError
from dockwatch.storage.revisions import (
    BASELINE,
    MIGRATIONS,
    TABLES_0_1_0,
    VERSION_TABLE,
    SchemaState,
    classify,
    head,
    revision_graph,
)

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

__all__ = [
    "BASELINE",
    "MIGRATIONS",
    "TABLES_0_1_0",
    "VERSION_TABLE",
    "MigrationFailed",
    "SchemaState",
    "alembic_config",
    "head",
    "require_current",
    "revision_graph",
    "schema_state",
    "upgrade",
]


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


def schema_state(connection: Connection, where: str) -> SchemaState:
    """Read the database's revision without writing anything; someone else's database, or one a
    newer dockwatch upgraded, is a ``StorageError`` naming ``where``."""
    tables = set(inspect(connection).get_table_names())
    versions = None
    if VERSION_TABLE in tables:
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return classify(tables, versions, where)


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
