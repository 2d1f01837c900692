"""Database URLs: a plain SQLite file URL read here, every other URL by SQLAlchemy's ``make_url``.

Importing SQLAlchemy is most of what ``check-config`` costs on a new installation, whose database
does not exist yet and whose ``storage.url`` is, almost always, ``sqlite:///some/file.db``. A SQLite
URL with no host, no query and no percent-escape is parsed and rendered here exactly as ``make_url``
and ``URL.render_as_string`` do (``tests/test_urls.py`` holds the two side by side); anything else
goes to SQLAlchemy, so the two can never disagree about a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_PLAIN_SQLITE = re.compile(r"(sqlite(?:\+\w+)?):///([^?%]*)")
"""``sqlite:///path`` (or ``sqlite+driver:///path``): the path is everything after the third slash."""


class NotADatabaseUrl(ValueError):
    """The URL does not parse as a database URL at all (SQLAlchemy's ``ArgumentError``)."""


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """What dockwatch needs to know of a database URL."""

    backend: str
    """``sqlite``, ``postgresql``, or whatever else the URL names (the driver left out)."""
    database: str | None


def parse_url(url: str) -> DatabaseUrl:
    """The backend and database ``url`` names; ``NotADatabaseUrl`` when it is no database URL."""
    plain = _PLAIN_SQLITE.fullmatch(url)
    if plain is not None:
        return DatabaseUrl("sqlite", plain[2])
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise NotADatabaseUrl(str(error)) from None
    return DatabaseUrl(parsed.get_backend_name(), parsed.database)


def with_database(url: str, database: str) -> str:
    """``url`` naming ``database`` instead, password and all (for the engine, never for showing)."""
    plain = _PLAIN_SQLITE.fullmatch(url)
    if plain is not None:
        return _render_plain(plain[1], database)
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def shown_url(url: str) -> str:
    """``url`` as it may be shown: its password replaced with ``***``."""
    plain = _PLAIN_SQLITE.fullmatch(url)
    if plain is not None:
        return _render_plain(plain[1], plain[2])
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> str | None:
    """The file behind a SQLite URL; ``None`` for PostgreSQL and in-memory SQLite."""
    plain = _PLAIN_SQLITE.fullmatch(url)
    if plain is not None:
        return plain[2] if plain[2] not in ("", ":memory:") else None
    from dockwatch.storage.engine import async_url

    parsed = parse_url(async_url(url))
    if parsed.backend != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def existing_sqlite_file(url: str) -> bool:
    """Whether ``url`` names a SQLite file that already exists."""
    path = sqlite_path(url)
    return path is not None and Path(path).is_file()


def rollback_journal_beside(url: str) -> bool:
    """Whether a SQLite rollback journal lies beside the file of ``url``: a writer outside WAL mode
    is in a transaction, or crashed in one (a *hot* journal, which a read-only open cannot roll back)."""
    path = sqlite_path(url)
    return path is not None and Path(f"{path}-journal").exists()


def _render_plain(drivername: str, database: str) -> str:
    return f"{drivername}:///{quote(database, safe=' +/')}"
