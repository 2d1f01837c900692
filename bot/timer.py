"""Waiting until a moment of the service's clock: the wall clock in production, a virtual one in
specs and benchmarks.

The service re-arms its poll after every poll (as Home Assistant's update coordinator does)
instead of handing a schedule to a scheduler that reads the wall clock itself, so whatever drives
the clock drives the service: ``bench/latency.py`` runs weeks of polling in seconds, and specs step
through a day without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

LONGEST_NAP = timedelta(seconds=30)
"""The wall clock is read again at least this often while waiting: it may jump (NTP, a suspended
host) where asyncio's monotonic clock does not."""


class Timer(Protocol):
    async def sleep_until(self, moment: datetime) -> None:
        """Return once the clock reads ``moment`` or later."""


class WallTimer:
    """Sleeps on asyncio's loop until ``clock()`` reaches the moment, reading it every ``recheck``."""

    def __init__(self, clock: Callable[[], datetime], *, recheck: timedelta = LONGEST_NAP) -> None:
        self._clock = clock
        self._recheck = recheck

    async def sleep_until(self, moment: datetime) -> None:
        """Return when the clock reads ``moment``, or when as long as it was away then has passed
        on the monotonic clock: a wall clock stepped back (NTP) must not make a lease renewal late."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, (moment - self._clock()).total_seconds())
        # Polling the clock is the point: no event fires when the wall clock reaches a moment.
        while (left := moment - self._clock()) > timedelta(0):
            monotonic_left = deadline - loop.time()
            if monotonic_left <= 0:
                break
            await asyncio.sleep(min(left.total_seconds(), monotonic_left, self._recheck.total_seconds()))
        await asyncio.sleep(0)  # a moment already past still yields, so a loop cannot spin


class VirtualClock:
    """A clock that moves only when told to: ``now`` for the runtime, ``sleep_until`` for the service.

    ``advance`` moves to the earliest moment anyone sleeps until and wakes them; ``settled`` waits
    until a given number of sleepers are waiting again, i.e. until everything woken has done its
    work and gone back to sleep.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_wakeup(self) -> datetime | None:
        live = [moment for moment, _, future in self._sleepers if not future.done()]
        return min(live, default=None)

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (moment, next(self._order), future))
        self._changed.set()
        await future

    async def settled(self, sleepers: int) -> None:
        """Wait until at least ``sleepers`` tasks are asleep on this clock."""
        while self.sleeping < sleepers:
            self._changed.clear()
            await self._changed.wait()

    def advance(self, until: datetime | None = None) -> datetime:
        """Move to the earliest wake-up (at most ``until``) and wake everyone due by then."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # a sleeper that was cancelled
        target = self._sleepers[0][0] if self._sleepers else until
        if target is None:
            raise RuntimeError("nothing sleeps on the virtual clock and no moment was given")
        if until is not None:
            target = min(target, until)
        self._now = max(self._now, target)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        return self._now
