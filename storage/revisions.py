"""Which schema revision a database is at, from two facts any driver can read: its table names and
what ``alembic_version`` records.

No SQLAlchemy here: ``storage/schema.py`` reads those facts through a SQLAlchemy connection (every
command that opens the store), ``storage/peek.py`` through the standard library's ``sqlite3``
(``check-config``, which must not pay for the store's libraries to show a revision), and both hand
them to ``classify``, so the two can never disagree about a database.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dockwatch.bot.errors import StorageError

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


def classify(tables: Collection[str], versions: Sequence[str] | None, where: str) -> SchemaState:
    """Where a database with ``tables`` stands, ``versions`` being the rows of ``alembic_version``
    (``None`` without that table); someone else's database, or one a newer dockwatch upgraded, is a
    ``StorageError`` naming ``where``."""
    tables = set(tables)
    ours = tables >= TABLES_0_1_0
    revision = _recorded_revision(versions, where) if versions is not None else None
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


def _recorded_revision(versions: Sequence[str], where: str) -> str | None:
    """What ``alembic_version`` records, as alembic's ``get_current_revision`` reads it; dockwatch's
    history has no branches, so more than one row is a database dockwatch did not make."""
    if len(versions) > 1:
        raise StorageError(
            f"{where} records {len(versions)} schema revisions ({', '.join(sorted(versions))}); "
            "dockwatch's have no branches"
        )
    return versions[0] if versions else None
