"""Named leases in the store, on SQLite and PostgreSQL: one holder at a time, decided by the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockwatch.storage import Lease, Store, leases

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
TERM = timedelta(seconds=30)
POLLER = "poller"


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    async with Store.open(any_db_url) as opened:
        yield opened


async def take(store: Store, holder: str, at: datetime) -> Lease:
    return await store.acquire_lease(POLLER, holder, now=at, until=at + TERM)


async def test_the_first_instance_to_ask_gets_the_lease(store: Store) -> None:
    lease = await take(store, "a", NOW)

    assert (lease.held, lease.holder, lease.expires_at, lease.previous) == (True, "a", NOW + TERM, None)
    assert await store.lease(POLLER) == Lease(POLLER, "a", NOW + TERM, NOW)


async def test_the_holder_renews_its_lease_and_keeps_the_moment_it_took_it(store: Store) -> None:
    await take(store, "a", NOW)

    renewed = await take(store, "a", NOW + timedelta(seconds=10))

    assert renewed.held
    assert (renewed.expires_at, renewed.acquired_at) == (NOW + timedelta(seconds=40), NOW)


@pytest.mark.parametrize(
    "after", [timedelta(0), timedelta(seconds=29), TERM], ids=["at once", "1s before", "at expiry"]
)
async def test_another_instance_cannot_take_a_lease_that_has_not_lapsed(
    store: Store, after: timedelta
) -> None:
    await take(store, "a", NOW)

    refused = await take(store, "b", NOW + after)

    assert (refused.held, refused.holder, refused.expires_at) == (False, "a", NOW + TERM)
    assert (await store.lease(POLLER)) == Lease(POLLER, "a", NOW + TERM, NOW)


async def test_a_lapsed_lease_is_taken_over_with_a_term_of_its_own(store: Store) -> None:
    await take(store, "a", NOW)
    later = NOW + TERM + timedelta(milliseconds=1)

    taken = await take(store, "b", later)

    assert (taken.held, taken.holder, taken.previous) == (True, "b", "a")
    assert (taken.expires_at, taken.acquired_at) == (later + TERM, later)
    assert not (await take(store, "a", later + timedelta(seconds=1))).held  # the old holder is out


async def test_a_released_lease_is_free_at_once(store: Store) -> None:
    await take(store, "a", NOW)

    assert await store.release_lease(POLLER, "a")

    assert await store.lease(POLLER) is None
    taken = await take(store, "b", NOW + timedelta(seconds=1))
    assert (taken.held, taken.previous) == (True, None)


async def test_releasing_leaves_alone_a_lease_another_instance_took_over(store: Store) -> None:
    await take(store, "a", NOW)
    await take(store, "b", NOW + TERM + timedelta(seconds=1))

    assert not await store.release_lease(POLLER, "a")

    lease = await store.lease(POLLER)
    assert lease is not None and lease.holder == "b"


async def test_leases_of_different_names_are_independent(store: Store) -> None:
    await take(store, "a", NOW)

    other = await store.acquire_lease("janitor", "b", now=NOW, until=NOW + TERM)

    assert other.held and (await take(store, "a", NOW)).held


@pytest.mark.parametrize("lapsed", [False, True], ids=["first row", "lapsed lease"])
async def test_instances_asking_at_the_same_moment_never_both_get_the_lease(
    any_db_url: str, lapsed: bool
) -> None:
    """Separate stores (engines, connections), like separate processes, ask together: one wins."""
    contenders = [f"instance-{n}" for n in range(4)]
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(Store.open(any_db_url)) for _ in contenders]
        at = NOW
        for round_ in range(5):
            if lapsed:
                await take(stores[0], f"dead-{round_}", at)
                at += TERM + timedelta(seconds=1)
            else:
                await stores[0].release_lease(POLLER, _holder(await stores[0].lease(POLLER)))

            leases = await asyncio.gather(
                *(take(s, name, at) for s, name in zip(stores, contenders, strict=True))
            )

            winners = [lease.holder for lease in leases if lease.held]
            assert len(winners) == 1, leases
            assert {lease.holder for lease in leases} == set(winners)  # the losers saw the winner
            current = await stores[0].lease(POLLER)
            assert current is not None and current.holder == winners[0]
            at += TERM + timedelta(seconds=1)


def _holder(lease: Lease | None) -> str:
    return "" if lease is None else lease.holder


class _ReleaseAfterFirstStatement:
    """The asking instance's session, letting another instance's release commit right after the
    ``INSERT ... ON CONFLICT DO NOTHING`` (which locks nothing on PostgreSQL)."""

    def __init__(self, session: Any, release: Callable[[], Awaitable[object]]) -> None:
        self._session, self._release, self._statements = session, release, 0

    async def exec(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._session.exec(*args, **kwargs)
        self._statements += 1
        if self._statements == 1:
            await self._release()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


async def test_a_release_landing_between_the_insert_and_the_take_leaves_the_lease_free(
    postgres_url: str,
) -> None:
    """A poller stopping cleanly while a standby asks (a rolling restart): no crash, and the next
    ask takes the lease."""
    async with Store.open(postgres_url) as poller, Store.open(postgres_url) as standby:
        assert (await take(poller, "a", NOW)).held
        async with standby._transaction() as session:
            asked = await leases.acquire(
                _ReleaseAfterFirstStatement(session, lambda: poller.release_lease("poller", "a")),
                "poller",
                "b",
                now=NOW,
                until=NOW + timedelta(minutes=2),
            )
        again = await take(standby, "b", NOW)

    assert not asked.held
    assert again.held
