"""The real service loop on a virtual clock: hours of polling against the fake LL2 in seconds.

The service, the store, the LL2 client and the webhook notifier are the real ones; only time is
virtual. The clock moves to the next moment anything sleeps until once the poll loop and the lease
loop are both asleep again, so every poll has finished before time moves on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.config import Config
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import ALL_ENDPOINTS, Endpoint, Snapshot
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.bot.service import Service
from dockwatch.bot.timer import VirtualClock
from dockwatch.bot.web import is_healthy
from tests.builders import ll2_docking, ll2_event
from tests.conftest import free_tier
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import eventually

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
SLEEPERS = 2
"""The poll loop and the lease loop."""


@asynccontextmanager
async def running(config: Config, clock: VirtualClock) -> AsyncIterator[tuple[Service, Runtime]]:
    async with open_runtime(config, clock=clock.now) as app:
        service = Service(app, config, Metrics("test"), timer=clock)
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop, stop_bound=timedelta(seconds=1)))
        try:
            yield service, app
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)


async def run_until(clock: VirtualClock, until: datetime) -> None:
    """Let the service work through virtual time up to ``until``."""
    while True:
        await asyncio.wait_for(clock.settled(SLEEPERS), timeout=20)
        wakeup = clock.next_wakeup()
        if wakeup is None or wakeup > until:
            return
        clock.advance()


def reads(fake_ll2: FakeLL2) -> Counter[str]:
    return Counter(r.path.rsplit("/", 2)[-2] for r in fake_ll2.counted_requests)


async def test_with_nothing_planned_an_hour_reads_the_dockings_every_6_minutes_and_the_events_twice(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    clock = VirtualClock(START)
    async with running(free_tier(config), clock):
        await run_until(clock, START + timedelta(hours=1))

    # The baseline reads both; then the dockings at +6, +12, ... +60 and the events at +30, +60.
    assert reads(fake_ll2) == {"docking_events": 11, "upcoming": 3}


async def test_a_planned_docking_is_read_20_s_after_its_time_and_announced_once(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    docking_at = START + timedelta(minutes=17, seconds=10)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    clock = VirtualClock(START)
    async with running(free_tier(config), clock) as (service, _):
        await run_until(clock, docking_at + timedelta(seconds=20))
        await eventually(lambda: len(webhook_receiver.accepted) == 1)
        await run_until(clock, START + timedelta(hours=2))

    assert service.health.last_success_at is not None
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert webhook_receiver.accepted[0].json["data"]["docking"] == "2026-01-01T12:17:10Z"


async def test_a_webcast_without_a_start_time_is_announced_within_the_steady_pace_inside_its_window(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    event_at = START + timedelta(hours=3)
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    fake_ll2.events = [ll2_event(77, date=event_at, video_url="https://youtu.be/walk")]
    live_at = event_at - timedelta(minutes=12)
    clock = VirtualClock(START)
    async with running(free_tier(config), clock):
        await run_until(clock, live_at)
        fake_ll2.events = [ll2_event(77, date=event_at, video_url="https://youtu.be/walk", live=True)]
        await run_until(clock, live_at + timedelta(minutes=6))
        await eventually(lambda: len(webhook_receiver.accepted) == 1)

    assert [r.id for r in webhook_receiver.accepted] == ["webcast:77"]


async def test_a_list_that_keeps_failing_while_the_other_is_read_fine_leaves_the_poller_unhealthy(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    clock = VirtualClock(START)
    config = free_tier(config)
    async with running(config, clock) as (service, _):
        await run_until(clock, START + timedelta(minutes=1))  # the baseline reads both
        fake_ll2.events = [{"id": 77, "name": "no webcast_live flag"}]  # every events read fails
        await run_until(clock, START + timedelta(minutes=45))
        failing_soon = service.health.failing_since
        soon = is_healthy(service.health.last_success_at, clock.now(), config.poll.interval, failing_soon)
        await run_until(clock, START + timedelta(hours=2))
        health, now = service.health, clock.now()

    assert reads(fake_ll2)["docking_events"] > 15  # the dockings were read fine all along
    assert health.last_success_at is not None and now - health.last_success_at < timedelta(minutes=7)
    assert failing_soon == health.failing_since == START + timedelta(minutes=30)  # the first events read
    assert soon  # 15 minutes of one list failing: not yet stale
    assert not is_healthy(health.last_success_at, now, config.poll.interval, health.failing_since)


async def test_at_the_defaults_a_poller_reading_both_lists_fine_stays_healthy(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    """The events are read only every 30 minutes, three base intervals: that must not look stale."""
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    clock = VirtualClock(START)
    config = free_tier(config)
    healthy: list[bool] = []
    async with running(config, clock) as (service, _):
        while clock.now() < START + timedelta(hours=3):
            await run_until(clock, clock.now() + timedelta(minutes=1))
            health = service.health
            healthy.append(
                is_healthy(health.last_success_at, clock.now(), config.poll.interval, health.failing_since)
            )
            if clock.next_wakeup() is not None and clock.next_wakeup() > clock.now() + timedelta(minutes=1):
                clock.advance(clock.now() + timedelta(minutes=1))

    assert all(healthy)


async def test_a_new_poller_reads_both_lists_first_whatever_the_last_poll_read(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    config = free_tier(config)
    clock = VirtualClock(START)
    async with running(config, clock):
        await run_until(clock, START + timedelta(minutes=7))  # the baseline, then the dockings
    before = len(fake_ll2.counted_requests)

    async with running(config, clock):
        await run_until(clock, clock.now() + timedelta(minutes=1, seconds=30))

    assert [r.path.rsplit("/", 2)[-2] for r in fake_ll2.counted_requests[before:]] == [
        "docking_events",
        "upcoming",
    ]


async def test_a_poll_asked_for_while_one_runs_comes_right_after_it(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ll2.dockings = [ll2_docking(600, docking=START - timedelta(days=3))]
    clock = VirtualClock(START)
    async with running(free_tier(config), clock) as (service, app):
        await run_until(clock, START + timedelta(minutes=1))  # the baseline
        real_fetch, fetching, go_on = app.ll2.fetch_snapshot, asyncio.Event(), asyncio.Event()

        async def held_fetch(endpoints: frozenset[Endpoint] = ALL_ENDPOINTS) -> Snapshot:
            fetching.set()
            await go_on.wait()
            return await real_fetch(endpoints)

        monkeypatch.setattr(app.ll2, "fetch_snapshot", held_fetch)
        before, asked_at = len(fake_ll2.counted_requests), clock.now()
        service.poll_soon(frozenset({Endpoint.EVENTS}))
        await asyncio.wait_for(fetching.wait(), timeout=10)
        service.poll_soon()  # asked while that poll runs
        go_on.set()
        await asyncio.wait_for(clock.settled(SLEEPERS), timeout=20)

    assert clock.now() == asked_at  # no time passed: both polls came at once
    assert [r.path.rsplit("/", 2)[-2] for r in fake_ll2.counted_requests[before:]] == [
        "upcoming",
        "docking_events",
        "upcoming",
    ]


async def test_a_crowded_day_never_costs_more_calls_in_any_hour_than_the_budget(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config
) -> None:
    """Planned dockings two minutes apart, overlapping webcast windows and the steady paces all want
    the same hours: each rolling hour still sees at most ``requests_per_hour`` calls."""
    fake_ll2.dockings = [
        ll2_docking(700 + i, docking=START + timedelta(hours=1, minutes=2 * i)) for i in range(12)
    ]
    fake_ll2.events = [ll2_event(80 + i, date=START + timedelta(hours=1, minutes=20 * i)) for i in range(6)]
    clock = VirtualClock(START)
    calls_at: list[datetime] = []
    async with running(free_tier(config), clock):
        while clock.now() < START + timedelta(hours=5):
            await asyncio.wait_for(clock.settled(SLEEPERS), timeout=20)
            calls_at += [clock.now()] * (len(fake_ll2.counted_requests) - len(calls_at))
            clock.advance()
        await eventually(lambda: len(webhook_receiver.accepted) == 12)

    busiest = max(sum(1 for t in calls_at if start <= t < start + timedelta(hours=1)) for start in calls_at)
    assert 12 <= busiest <= 14  # crowded enough to press on the budget, and never past it
    assert sorted(r.id for r in webhook_receiver.accepted) == [f"docked:{700 + i}" for i in range(12)]
