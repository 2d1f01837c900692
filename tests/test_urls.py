"""storage/urls.py reads plain SQLite URLs without SQLAlchemy: it must read every URL as SQLAlchemy's
``make_url`` does, and render it as ``URL.render_as_string`` does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dockwatch.storage.engine import async_url
from dockwatch.storage.urls import (
    DatabaseUrl,
    NotADatabaseUrl,
    parse_url,
    shown_url,
    sqlite_path,
    with_database,
)

URLS = [
    "sqlite:///dockwatch.db",
    "sqlite:////var/lib/dockwatch/dockwatch.db",
    "sqlite+aiosqlite:///dockwatch.db",
    "sqlite+pysqlite:////tmp/a b/+c.db",
    "sqlite:///",
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite:///caf\u00e9.db",
    "sqlite:///a%20b.db",
    "sqlite:///x.db?mode=ro&uri=true",
    "sqlite://host/x.db",
    "postgresql://dockwatch:s%40cret@db.example:5432/dockwatch",
    "postgresql+asyncpg://dockwatch@[::1]/dockwatch?ssl=require",
    "mysql://x/y",
]


def sqlalchemy_sqlite_path(url: str) -> str | None:
    """What ``sqlite_path`` returned when it asked SQLAlchemy."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def assert_read_as_sqlalchemy_reads_it(url: str) -> None:
    parsed = make_url(url)
    assert parse_url(url) == DatabaseUrl(parsed.get_backend_name(), parsed.database)
    assert shown_url(url) == parsed.render_as_string(hide_password=True)
    elsewhere = "/srv/dock watch/caf\u00e9%.db"
    assert with_database(url, elsewhere) == parsed.set(database=elsewhere).render_as_string(
        hide_password=False
    )
    if parsed.get_backend_name() in ("sqlite", "postgresql"):
        assert sqlite_path(url) == sqlalchemy_sqlite_path(url)


@pytest.mark.parametrize("url", URLS)
def test_a_url_is_read_and_shown_as_sqlalchemy_reads_and_shows_it(url: str) -> None:
    assert_read_as_sqlalchemy_reads_it(url)


@given(st.text())
def test_any_sqlite_path_is_read_as_sqlalchemy_reads_it(path: str) -> None:
    assert_read_as_sqlalchemy_reads_it(f"sqlite:///{path}")


def test_what_is_no_database_url_is_refused_as_sqlalchemy_refuses_it() -> None:
    with pytest.raises(ArgumentError):
        make_url("dockwatch.db")
    with pytest.raises(NotADatabaseUrl):
        parse_url("dockwatch.db")
