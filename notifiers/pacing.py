"""Proactive pacing: wait before a request rather than collect a 429 after it.

A sliding-window log per limit: at most ``count`` requests in any ``period``. The platform counts a
request when it *arrives*; we can only stamp it when it leaves, and an event-loop stall (a garbage
collection, a burst of database work) between the two can squeeze more arrivals into a window than
the stamps say. So a slot is stamped twice: when it is taken, and again when the request has
finished, which is always after it arrived. With that, no stall can make us exceed the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager


class SlidingWindow:
    """At most ``count`` requests in any ``period`` seconds (plus a small ``margin``)."""

    def __init__(
        self,
        count: int,
        period: float,
        *,
        margin: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = count
        self.period = period + margin
        self._clock = clock
        self._stamps: list[list[float]] = []  # one mutable box per request, restamped when done
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more request fits (0 if it fits now)."""
        now = self._clock()
        self._stamps = [box for box in self._stamps if box[0] > now - self.period]
        if len(self._stamps) < self.count:
            return 0.0
        return min(box[0] for box in self._stamps) + self.period - now

    def idle(self) -> bool:
        """No request in the current window: the window can be forgotten."""
        self.delay()
        return not self._stamps and not self._lock.locked()

    def record(self) -> list[float]:
        box = [self._clock()]
        self._stamps.append(box)
        return box

    def finish(self, box: list[float]) -> None:
        """The request is done: it counts from now, the latest it can have arrived."""
        box[0] = max(box[0], self._clock())

    async def acquire(self) -> list[float]:
        async with self._lock:
            while (wait := self.delay()) > 0:  # noqa: ASYNC110 - waiting for time, not an event
                await asyncio.sleep(wait)
            return self.record()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        box = await self.acquire()
        try:
            yield
        finally:
            self.finish(box)


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
        for key in [k for k, w in self._windows.items() if w.idle()]:
            del self._windows[key]
