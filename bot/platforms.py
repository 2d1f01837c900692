"""The process's platforms: built from the config, started one by one, each failure isolated.

A platform that cannot start (a rejected token, its API unreachable) is reported in one line and
marked unavailable: its deliveries stay queued while every other platform delivers, ``status``,
``/healthz`` and ``/metrics`` name it, and ``dockwatch run`` retries its start with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dockwatch.bot.config import Config
from dockwatch.bot.errors import DockwatchError, PlatformUnavailable
from dockwatch.notifiers import FrontEnd, Notifier, Platform, PlatformContext, Target
from dockwatch.notifiers.console import PLATFORM as CONSOLE
from dockwatch.notifiers.console import ConsoleConfig

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=10)


@dataclass
class PlatformUnit:
    """One configured platform in this process: its notifier, its front-end, and whether it runs."""

    platform: Platform
    settings: Any
    notifier: Notifier
    front_end: FrontEnd | None = None
    error: str | None = "not started"
    front_end_running: bool = False

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def available(self) -> bool:
        return self.error is None


class PlatformHost:
    """Every platform unit of one process, and the one place their health is kept."""

    def __init__(self, units: Sequence[PlatformUnit]) -> None:
        self.units = list(units)

    @classmethod
    def build(cls, config: Config, context: PlatformContext, *, console: bool = False) -> PlatformHost:
        pairs: list[tuple[Platform, Any]] = config.configured_platforms()
        if console and all(p.name != CONSOLE.name for p, _ in pairs):
            pairs.append((CONSOLE, ConsoleConfig()))
        return cls([PlatformUnit(p, s, p.notifier(s, context)) for p, s in pairs])

    @property
    def notifiers(self) -> list[Notifier]:
        return [unit.notifier for unit in self.units]

    def targets(self) -> list[Target]:
        """Every configured target, the unavailable platforms' included (they are still configured)."""
        return [t for unit in self.units for t in unit.platform.targets(unit.settings)]

    def states(self) -> dict[str, str | None]:
        """Platform name to why it is not running, or ``None`` while it runs."""
        return {unit.name: unit.error for unit in self.units}

    def unavailable(self) -> dict[str, str]:
        """Platform name to the reason it is not running."""
        return {unit.name: unit.error for unit in self.units if unit.error is not None}

    async def start(self) -> None:
        """Start every notifier side by side; a failure marks only its own platform unavailable."""
        await asyncio.gather(*(self._start(unit) for unit in self.units if not unit.available))

    async def _start(self, unit: PlatformUnit) -> bool:
        try:
            await unit.notifier.start()
        except PlatformUnavailable as error:
            if unit.error != str(error):
                log.error("platform unavailable platform=%s error=%s", unit.name, error)
            unit.error = str(error)
            return False
        except Exception as error:  # the per-platform boundary: one platform never stops the others
            log.exception("platform start crashed platform=%s", unit.name)
            unit.error = f"{type(error).__name__}: {error}"
            return False
        if unit.error not in (None, "not started"):
            log.info("platform recovered platform=%s", unit.name)
        unit.error = None
        return True

    async def start_front_ends(self, context: PlatformContext) -> None:
        """Chat front-ends of the platforms that are running (``dockwatch run`` only)."""
        for unit in self.units:
            if not unit.available or unit.front_end_running:
                continue
            if unit.front_end is None:
                unit.front_end = unit.platform.front_end(unit.settings, unit.notifier, context)
            if unit.front_end is None:
                continue
            try:
                await unit.front_end.start()
            except PlatformUnavailable as error:
                log.error("platform unavailable platform=%s error=%s", unit.name, error)
                unit.error = str(error)
                continue
            unit.front_end_running = True

    async def keep_starting(
        self,
        context: PlatformContext,
        stop: asyncio.Event,
        *,
        on_change: Callable[[dict[str, str | None]], Awaitable[None]] | None = None,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        """Retry unavailable platforms with backoff (10 s doubling to 10 min) until ``stop``;
        ``on_change`` hears the new states whenever a retry changed one."""
        delay = first_retry
        while not stop.is_set():
            if self.unavailable():
                before = self.states()
                await self.start()
                await self.start_front_ends(context)
                delay = first_retry if not self.unavailable() else min(delay * 2, MAX_RETRY)
                if on_change is not None and self.states() != before:
                    try:
                        await on_change(self.states())
                    except DockwatchError as error:  # health bookkeeping must not stop the retries
                        log.warning("platform state not recorded error=%s", error)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay.total_seconds())
            except TimeoutError:
                continue

    async def close(self) -> None:
        for unit in self.units:
            if unit.front_end is not None and unit.front_end_running:
                try:
                    await unit.front_end.stop()
                except Exception:  # closing must reach every platform
                    log.exception("front-end stop failed platform=%s", unit.name)
        for unit in self.units:
            try:
                await unit.notifier.close()
            except Exception:
                log.exception("notifier close failed platform=%s", unit.name)
