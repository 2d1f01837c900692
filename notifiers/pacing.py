"""Proactive pacing: wait before a request rather than collect a 429 after it.

A sliding-window log per limit: at most ``count`` requests in any ``period``, with a small safety
margin because the platform clocks our requests on arrival, not on departure.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable


class SlidingWindow:
    """At most ``count`` acquisitions in any ``period`` seconds (plus ``margin``)."""

    def __init__(
        self,
        count: int,
        period: float,
        *,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = count
        self.period = period + margin
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more acquisition fits (0 if it fits now)."""
        now = self._clock()
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if len(self._times) < self.count:
            return 0.0
        return self._times[0] + self.period - now

    def record(self) -> None:
        self._times.append(self._clock())

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.delay()) > 0:  # noqa: ASYNC110 - waiting for time, not an event
                await asyncio.sleep(wait)
            self.record()


class KeyedWindows:
    """One ``SlidingWindow`` per key (a chat), created on first use and dropped when idle."""

    def __init__(self, factory: Callable[[], SlidingWindow], *, max_idle: int = 10_000) -> None:
        self._factory = factory
        self._windows: dict[Hashable, SlidingWindow] = {}
        self._max_idle = max_idle

    def __getitem__(self, key: Hashable) -> SlidingWindow:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_idle:
                self._forget_idle()
            window = self._windows[key] = self._factory()
        return window

    def _forget_idle(self) -> None:
        for key in [k for k, w in self._windows.items() if w.delay() == 0 and not w._lock.locked()]:
            del self._windows[key]
