"""Several ``dockwatch run`` instances on one database, in one process: only the lease holder polls.

The instances share the test clock, which stands still unless a test moves it, so a lease lapses
only when a test says so; each test drives the lease checks it cares about with ``contend()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest

from dockwatch.bot.commands import status
from dockwatch.bot.config import Config, RunConfig
from dockwatch.bot.errors import StorageError
from dockwatch.bot.leadership import POLLER_LEASE, LeaseTiming, Role
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import ALL_ENDPOINTS, Endpoint, Snapshot
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.bot.service import Service
from dockwatch.bot.timer import WallTimer
from dockwatch.bot.web import create_web_app
from dockwatch.storage import Store
from tests.conftest import Clock, serving
from tests.fakes.ll2 import FakeLL2
from tests.service_harness import eventually, metric_samples

FAILOVER = timedelta(seconds=5)
TIMING = LeaseTiming(FAILOVER)


@pytest.fixture
def shared(config: Config) -> Config:
    return config.model_copy(update={"run": RunConfig(failover=FAILOVER)})


@asynccontextmanager
async def instance(
    config: Config, clock: Clock, name: str, *, recheck: timedelta = timedelta(milliseconds=20)
) -> AsyncIterator[tuple[Service, Runtime]]:
    """An instance named ``name`` running on the shared database until the block ends (a clean stop).

    Its timers read the test's clock every ``recheck``, so what falls due when the test moves the
    clock runs soon after."""
    async with open_runtime(config, clock=clock, instance=name) as app:
        service = Service(app, config, Metrics(name), timer=WallTimer(clock, recheck=recheck))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop, stop_bound=timedelta(seconds=1)))
        # Its first lease check is done, and as poller it has scheduled its polls (which follows the
        # lease: waiting on the lease alone raced with that under load).
        await eventually(
            lambda: (
                service.leadership.poller is not None and (service.role is not Role.POLLER or service.polling)
            )
        )
        try:
            yield service, app
        finally:
            stop.set()
            await task


def polling(service: Service) -> bool:
    return service.role is Role.POLLER and service.polling


async def test_of_two_instances_on_one_database_only_the_lease_holder_polls(
    shared: Config, clock: Clock, fake_ll2: FakeLL2
) -> None:
    async with instance(shared, clock, "a") as (a, _), instance(shared, clock, "b") as (b, _):
        await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # a's first poll
        await b.contend()

        assert polling(a)
        assert b.role is Role.STANDBY and not b.polling
        assert (a.leadership.poller, b.leadership.poller) == ("a", "a")


async def test_a_clean_stop_hands_polling_over_at_once_not_after_failover(
    shared: Config, clock: Clock, fake_ll2: FakeLL2
) -> None:
    first = AsyncExitStack()
    try:
        a, _ = await first.enter_async_context(instance(shared, clock, "a"))
        async with instance(shared, clock, "b") as (b, _):
            await b.contend()
            assert polling(a) and b.role is Role.STANDBY

            await first.aclose()  # a stops cleanly and releases the lease
            polls = len(fake_ll2.counted_requests)
            await b.contend()  # the clock has not moved: only the release can have freed the lease

            assert polling(b)
            b.poll_soon()
            await eventually(lambda: len(fake_ll2.counted_requests) >= polls + 2)  # b polls
    finally:
        await first.aclose()


async def test_a_poller_that_finds_the_lease_taken_stops_polling_and_cancels_its_poll_at_once(
    shared: Config, clock: Clock, fake_ll2: FakeLL2, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ll2.fail_next.append("slow")
    fake_ll2.slow_seconds = 4  # the first poll hangs on LL2
    async with instance(shared, clock, "a") as (a, app):
        await eventually(lambda: len(fake_ll2.counted_requests) == 1)
        with caplog.at_level(logging.INFO):
            # The lease lapsed unnoticed (a stalled renewal) and another instance took it.
            later = clock() + TIMING.term + timedelta(seconds=1)
            await app.store.acquire_lease(POLLER_LEASE, "c", now=later, until=later + timedelta(hours=1))
            await a.contend()
            await a.contend()

        assert a.role is Role.STANDBY and not a.polling
        await eventually(lambda: not a._polling.locked(), within=2)  # the hanging poll was cancelled
        assert await app.store.last_poll() is None  # and recorded nothing
        lines = [r.getMessage() for r in caplog.records if "no longer the poller" in r.getMessage()]
        assert len(lines) == 1 and "reason=c holds the lease until" in lines[0], lines


async def test_a_poller_that_loses_the_database_keeps_polling_until_its_lease_lapses_then_stops(
    shared: Config, clock: Clock, fake_ll2: FakeLL2, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with instance(shared, clock, "a") as (a, app):
        assert polling(a)

        async def unreachable(*_args: object, **_kwargs: object) -> None:
            raise StorageError("database error: connection refused")

        monkeypatch.setattr(app.store, "acquire_lease", unreachable)
        await a.contend()
        assert polling(a)  # its lease still holds: nobody else can poll yet

        clock.advance(TIMING.term)
        assert not a.leadership.may_poll(clock())  # no poll starts from here on
        await a.contend()

        assert a.role is Role.STANDBY and not a.polling


async def test_a_standby_takes_over_once_the_silent_poller_s_lease_has_lapsed(
    shared: Config, clock: Clock, fake_ll2: FakeLL2, caplog: pytest.LogCaptureFixture
) -> None:
    async with Store.open(shared.storage.url) as store:  # a poller that died (kill -9) left its lease
        await store.acquire_lease(POLLER_LEASE, "dead", now=clock(), until=clock() + TIMING.term)
    async with instance(shared, clock, "b") as (b, _):
        assert b.role is Role.STANDBY and b.leadership.poller == "dead"
        assert fake_ll2.counted_requests == []

        with caplog.at_level(logging.INFO):
            clock.advance(TIMING.term + timedelta(milliseconds=1))
            await b.contend()

        assert polling(b)
        assert "became the poller instance=b previous=dead" in caplog.text
        await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # and it polls


async def test_a_standby_reports_its_role_and_the_poller_s_health_from_the_database(
    shared: Config, clock: Clock, fake_ll2: FakeLL2, http: aiohttp.ClientSession
) -> None:
    async with instance(shared, clock, "a") as (a, _), instance(shared, clock, "b") as (b, app_b):
        await eventually(lambda: a.health.last_success_at is not None)  # a's first poll committed
        async with serving(create_web_app(b, app_b, shared)) as standby:
            async with http.get(standby.make_url("/healthz")) as response:
                status, body = response.status, await response.json()
            async with http.get(standby.make_url("/metrics")) as response:
                metrics = await response.text()

    assert status == 200, body
    assert (body["status"], body["role"], body["instance"], body["poller"]) == ("ok", "standby", "b", "a")
    assert body["last_result"] == "ok" and body["last_success_at"] is not None
    assert body["next_poll_at"] is None  # only the poller knows its plan
    assert set(body["database"]) == {"deliveries", "budget_left"}
    roles = {labels["role"]: value for labels, value in metric_samples(metrics, "dockwatch_role")}
    assert roles == {"poller": 0.0, "standby": 1.0}
    assert {labels["instance"] for labels, _ in metric_samples(metrics, "dockwatch_role")} == {"b"}


async def test_status_names_the_poller_and_when_its_lease_ends(shared: Config, clock: Clock) -> None:
    async with instance(shared, clock, "a") as (a, _):
        assert a.role is Role.POLLER
        holding = await status(shared, now=clock())
    clock.advance(timedelta(hours=1))
    async with Store.open(shared.storage.url) as store:  # a poller killed with SIGKILL left it
        await store.acquire_lease(POLLER_LEASE, "gone", now=clock(), until=clock() + TIMING.term)
    lapsed = await status(shared, now=clock() + timedelta(minutes=2))

    assert "Poller: a (dockwatch run; lease until 12:00:03 UTC)" in holding
    assert "Poller: none; the lease of gone ended 2026-01-01 13:00 UTC (1 minute ago)" in lapsed


async def test_a_poll_that_outlived_its_poller_s_lease_is_not_recorded(
    config: Config, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """LL2 answered, then the poll stalled past the lease (a frozen process) and another instance
    took over: the stale answer must not be committed after the new poller's newer ones."""
    # A frozen process: its lease check does not run either while the test moves the clock.
    async with instance(config, clock, "a", recheck=timedelta(minutes=5)) as (a, app):
        await eventually(lambda: a.health.last_success_at is not None)  # the baseline is recorded
        real_fetch = app.ll2.fetch_snapshot
        answered, go_on = asyncio.Event(), asyncio.Event()

        async def stalled_fetch(endpoints: frozenset[Endpoint] = ALL_ENDPOINTS) -> Snapshot:
            snapshot = await real_fetch(endpoints)
            answered.set()
            await go_on.wait()
            return snapshot

        monkeypatch.setattr(app.ll2, "fetch_snapshot", stalled_fetch)
        a.poll_soon()
        await eventually(answered.is_set)
        later = clock.advance(a.leadership.timing.term + timedelta(seconds=1))
        assert (
            await app.store.acquire_lease(POLLER_LEASE, "b", now=later, until=later + timedelta(minutes=2))
        ).held
        last_before = await app.store.last_poll()
        with caplog.at_level(logging.WARNING):
            go_on.set()
            await eventually(lambda: "poll discarded" in caplog.text)
        last_after = await app.store.last_poll()

    assert last_before is not None and last_after is not None
    assert last_after.id == last_before.id
