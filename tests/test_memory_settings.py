"""What keeps ``dockwatch run``'s memory to what it holds: few malloc arenas, a fixed SQLite pool."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import event, text

from dockwatch.bot import malloc
from dockwatch.storage.engine import SQLITE_POOL_SIZE, create_engine

GLIBC = hasattr(os, "confstr") and malloc._glibc_version() is not None


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_run_caps_glibc_malloc_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)

    assert malloc.limit_arenas() is True


def test_an_arena_limit_from_the_environment_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")

    assert malloc.limit_arenas() is False


def test_arenas_are_left_alone_on_another_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(malloc, "_glibc_version", lambda: None)

    assert malloc.limit_arenas() is False


async def test_many_concurrent_sqlite_sessions_share_a_fixed_few_connections(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/pool.db")
    opened = []
    event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(connection))

    async def read() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    try:
        await asyncio.gather(*(read() for _ in range(50)))
    finally:
        await engine.dispose()

    assert len(opened) == SQLITE_POOL_SIZE  # none opened and closed again beyond the pool
