"""``dockwatch run`` keeps its SQLite file in sight: deleted or replaced under it, it stops.

Carrying on would deliver nothing ("no such table") and, worse, the next start would baseline a
fresh database silently, losing every change in between. Stopping at once with exit 3 and one line
lets the operator (and systemd) see it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from dockwatch.bot.errors import StorageError

CHECK_EVERY = timedelta(seconds=2)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


async def watch_database_file(
    path: str, stop: asyncio.Event, *, every: timedelta = CHECK_EVERY
) -> StorageError | None:
    """Return a ``StorageError`` (having set ``stop``) once the file at ``path`` is gone or replaced;
    ``None`` when ``stop`` was set for another reason."""
    file = Path(path)
    known = await asyncio.to_thread(_identity, file)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())
            return None
        except TimeoutError:
            pass
        now = await asyncio.to_thread(_identity, file)
        if now != known:
            what = "deleted" if now is None else "replaced by another file"
            stop.set()
            return StorageError(f"the database {os.fspath(file)} was {what} while dockwatch ran; stopping")
    return None
