"""Alembic's environment: migrations run on the connection dockwatch hands over.

``dockwatch.storage.schema`` starts Alembic itself, inside a transaction that already holds the
migration lock (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and passes that
connection in ``config.attributes``; Alembic sees the open transaction and leaves it to the caller,
so the check, the upgrade and the version stamp commit together or not at all.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import dockwatch.storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection), "dockwatch runs its migrations on a connection it passes in"
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite alters most things by copying the table; batch mode does that for it.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
