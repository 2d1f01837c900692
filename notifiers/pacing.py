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
        """No request in the current window and none waiting for it: the window can be forgotten (a
        new one for the same key starts empty, which is then the truth)."""
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
    """One ``SlidingWindow`` per key (a chat), created on first use and forgotten soon after it is idle.

    A fan-out to 100,000 chats touches each chat once: kept until some count piles up, their
    windows (each with a lock) would grow with the audience instead of with the traffic. Windows
    are kept in order of last use (or last look), the least recent at the front: each use looks at
    a few of those, drops the idle ones and moves the others to the back. What is held is then about
    the windows used within one ``period`` (30 a second for Telegram's chats), whatever the number
    of keys.
    """

    SWEEP = 2
    """Least recently used windows looked at per use: more than one, so the idle ones shrink even
    while new keys keep coming."""

    def __init__(self, factory: Callable[[], SlidingWindow]) -> None:
        self._factory = factory
        self._windows: dict[Hashable, SlidingWindow] = {}

    def __getitem__(self, key: Hashable) -> SlidingWindow:
        window = self._windows.pop(key, None)  # re-inserted at the end: the most recently used
        self._forget_idle()
        if window is None:
            window = self._factory()
        self._windows[key] = window
        return window

    def __len__(self) -> int:
        return len(self._windows)

    def _forget_idle(self) -> None:
        for _ in range(self.SWEEP):
            oldest = next(iter(self._windows), None)
            if oldest is None:
                return
            window = self._windows.pop(oldest)
            if not window.idle():  # still limiting its key, or waited for: looked at again later
                self._windows[oldest] = window
