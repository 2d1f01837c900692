"""Named leases: a role (``poller``) held by one instance at a time, until it lapses or is released.

Taking a lease is one write transaction: the first instance ever to ask inserts the row
(``INSERT ... ON CONFLICT DO NOTHING``, so two first askers do not collide), then a conditional
``UPDATE`` takes it only where the asker already holds it or it has lapsed. The database decides:
on SQLite the transaction holds the write lock (``BEGIN IMMEDIATE``); on PostgreSQL a concurrent
``UPDATE`` of the row waits for the other and re-checks the condition against the committed row, so
two contenders asking at the same moment never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, literal, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from dockwatch.storage.engine import dialect_insert
from dockwatch.storage.tables import LeaseRow, UTCDateTime


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the lease ``name`` and until when, as the database says after an attempt."""

    name: str
    holder: str
    expires_at: datetime
    acquired_at: datetime
    held: bool = False
    """Whether the instance that asked holds it now."""
    previous: str | None = None
    """Who held it before the attempt (``None``: nobody had yet, or it was released)."""


async def acquire(session: AsyncSession, name: str, holder: str, *, now: datetime, until: datetime) -> Lease:
    """Take or renew ``name`` for ``holder`` until ``until`` if it is free, lapsed (its expiry is
    before ``now``) or ``holder``'s already; otherwise leave it to its holder."""
    inserted = await session.exec(
        dialect_insert(session.get_bind().dialect.name, LeaseRow)
        .values(name=name, holder=holder, expires_at=until, acquired_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    before = None if int(inserted.rowcount) == 1 else await session.get(LeaseRow, name)
    previous = None if before is None else before.holder
    taken = await session.exec(
        update(LeaseRow)
        .where(col(LeaseRow.name) == name)
        .where((col(LeaseRow.holder) == holder) | (col(LeaseRow.expires_at) < now))
        .values(
            holder=holder,
            expires_at=until,
            # A renewal keeps the moment the holder took it; a takeover starts a new term.
            acquired_at=case(
                (col(LeaseRow.holder) == holder, col(LeaseRow.acquired_at)),
                else_=literal(now, UTCDateTime()),
            ),
        )
        .execution_options(synchronize_session=False)
    )
    row = await session.get(LeaseRow, name, populate_existing=True)
    if row is None:
        # Its holder released it between our insert (which found it there) and our update, on
        # PostgreSQL, where ON CONFLICT DO NOTHING locks nothing: it is free, and the next ask takes it.
        return Lease(name, "", now, now, held=False, previous=previous)
    held = int(taken.rowcount) == 1
    return Lease(name, row.holder, row.expires_at, row.acquired_at, held=held, previous=previous)


async def release(session: AsyncSession, name: str, holder: str) -> bool:
    """Give ``name`` up at once, if ``holder`` still holds it (a lapsed lease another instance took
    over is left alone)."""
    result = await session.exec(
        delete(LeaseRow).where(col(LeaseRow.name) == name).where(col(LeaseRow.holder) == holder)
    )
    return int(result.rowcount) == 1


async def current(session: AsyncSession, name: str) -> Lease | None:
    """The lease ``name`` as it stands (possibly lapsed), or ``None`` when nobody has held it."""
    row = await session.get(LeaseRow, name)
    return None if row is None else Lease(row.name, row.holder, row.expires_at, row.acquired_at)
