"""The timers the service sleeps on: the wall clock's and the virtual one."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from dockwatch.bot.timer import VirtualClock, WallTimer

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def test_a_wall_timer_wakes_when_the_clock_reaches_the_moment() -> None:
    now = [START]
    timer = WallTimer(lambda: now[0], recheck=timedelta(milliseconds=10))
    sleeping = asyncio.create_task(timer.sleep_until(START + timedelta(hours=1)))
    await asyncio.sleep(0.05)
    assert not sleeping.done()

    now[0] = START + timedelta(hours=1)  # the clock jumps forward (a suspended host wakes up)

    await asyncio.wait_for(sleeping, timeout=1)


async def test_a_wall_timer_whose_clock_is_stepped_back_still_wakes_on_time() -> None:
    """NTP steps the clock back an hour: a lease renewal due in 0.2 s must not come an hour late."""
    now = [START]
    timer = WallTimer(lambda: now[0], recheck=timedelta(milliseconds=10))
    started = time.monotonic()
    sleeping = asyncio.create_task(timer.sleep_until(START + timedelta(seconds=0.2)))
    await asyncio.sleep(0.05)
    now[0] = START - timedelta(hours=1)

    await asyncio.wait_for(sleeping, timeout=2)

    assert 0.15 < time.monotonic() - started < 1.5


async def test_the_virtual_clock_wakes_sleepers_in_order_and_skips_cancelled_ones() -> None:
    clock = VirtualClock(START)
    woken: list[str] = []

    async def sleeper(name: str, minutes: int) -> None:
        await clock.sleep_until(START + timedelta(minutes=minutes))
        woken.append(name)

    later = asyncio.create_task(sleeper("later", 10))
    sooner = asyncio.create_task(sleeper("sooner", 5))
    gone = asyncio.create_task(sleeper("gone", 1))
    await clock.settled(3)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)

    assert clock.next_wakeup() == START + timedelta(minutes=5)
    assert clock.advance() == START + timedelta(minutes=5)
    await sooner
    assert clock.advance() == START + timedelta(minutes=10)
    await later
    assert woken == ["sooner", "later"]
    assert clock.now() == START + timedelta(minutes=10)
