"""The process's platforms: built from the config, started one by one, each failure isolated.

A platform that cannot start (a rejected token, its API unreachable or silent) is reported in one
line and marked unavailable: its deliveries stay queued while every other platform delivers,
``status``, ``/healthz`` and ``/metrics`` name it, and ``dockwatch run`` retries its start with
backoff. A failure may cover only part of a platform (a rejected Discord bot token leaves its
channel webhooks working): ``PlatformUnavailable.scope`` says which target keys it holds back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dockwatch.bot.config import Config
from dockwatch.bot.errors import ConfigError, DockwatchError, PlatformUnavailable
from dockwatch.notifiers import FrontEnd, Notifier, Platform, PlatformContext, Target
from dockwatch.notifiers.console import PLATFORM as CONSOLE
from dockwatch.notifiers.console import ConsoleConfig

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=10)
START_TIMEOUT = timedelta(seconds=30)
"""A platform API that accepts the connection and never answers must not hold up polling."""

StatesListener = Callable[[dict[str, str | None]], Awaitable[None]]


@dataclass
class PlatformUnit:
    """One configured platform in this process: its notifier, its front-end, and whether it runs."""

    platform: Platform
    settings: Any
    notifier: Notifier
    front_end: FrontEnd | None = None
    error: str | None = "not started"
    scope: str | None = None
    """The part of the platform's target keys the error holds back (``None``: all of them)."""
    front_end_running: bool = False

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def available(self) -> bool:
        return self.error is None

    @property
    def held_back(self) -> str:
        """The target-key prefix (before its ``:``) whose deliveries wait while this unit is down."""
        return self.name if self.scope is None else f"{self.name}:{self.scope}"


class PlatformHost:
    """Every platform unit of one process, and the one place their health is kept."""

    def __init__(self, units: Sequence[PlatformUnit], *, start_timeout: timedelta = START_TIMEOUT) -> None:
        self.units = list(units)
        self.start_timeout = start_timeout

    @classmethod
    def build(cls, config: Config, context: PlatformContext, *, console: bool = False) -> PlatformHost:
        pairs: list[tuple[Platform, Any]] = config.configured_platforms()
        if console and all(p.name != CONSOLE.name for p, _ in pairs):
            pairs.append((CONSOLE, ConsoleConfig()))
        units = []
        for platform, settings in pairs:
            try:
                notifier = platform.notifier(settings, context)
            except DockwatchError:
                raise
            except Exception as error:  # a plugin's bug is one line naming it, not a traceback
                raise ConfigError(
                    f"[{platform.table}]: platform {platform.name!r} cannot be built: "
                    f"{type(error).__name__}: {error}"
                ) from None
            units.append(PlatformUnit(platform, settings, notifier))
        return cls(units)

    @property
    def notifiers(self) -> list[Notifier]:
        return [unit.notifier for unit in self.units]

    def targets(self) -> list[Target]:
        """Every configured target, the unavailable platforms' included (they are still configured)."""
        return [t for unit in self.units for t in unit.platform.targets(unit.settings)]

    def states(self) -> dict[str, str | None]:
        """Platform name to why it is not running, or ``None`` while it runs."""
        return {unit.name: unit.error for unit in self.units}

    def held_back(self) -> dict[str, str]:
        """Target-key prefix to the reason its deliveries must wait (see ``PlatformUnit.held_back``)."""
        return {unit.held_back: unit.error for unit in self.units if unit.error is not None}

    async def start(self) -> None:
        """Start every notifier side by side; a failure marks only its own platform unavailable."""
        await asyncio.gather(*(self._start(unit) for unit in self.units if not unit.available))

    async def _start(self, unit: PlatformUnit) -> None:
        try:
            await asyncio.wait_for(unit.notifier.start(), timeout=self.start_timeout.total_seconds())
        except PlatformUnavailable as error:
            self._down(unit, str(error), error.scope)
            return
        except TimeoutError:
            seconds = self.start_timeout.total_seconds()
            self._down(unit, f"{unit.name}: no answer within {seconds:g} s at start", None)
            return
        except Exception as error:  # the per-platform boundary: one platform never stops the others
            log.debug("platform start crashed platform=%s", unit.name, exc_info=True)
            self._down(unit, f"{unit.name}: start failed: {type(error).__name__}: {error}", None)
            return
        if unit.error not in (None, "not started"):
            log.info("platform recovered platform=%s", unit.name)
        unit.error, unit.scope = None, None

    def _down(self, unit: PlatformUnit, error: str, scope: str | None) -> None:
        if unit.error != error:
            log.error("platform unavailable platform=%s error=%s", unit.name, error)
        unit.error, unit.scope = error, scope

    async def start_front_ends(self, context: PlatformContext) -> None:
        """Chat front-ends of the platforms that are running (``dockwatch run`` only)."""
        for unit in self.units:
            if not unit.available or unit.front_end_running:
                continue
            if unit.front_end is None:
                build = getattr(unit.platform, "front_end", None)  # optional for plugins
                unit.front_end = build(unit.settings, unit.notifier, context) if build else None
            if unit.front_end is None:
                continue
            try:
                await asyncio.wait_for(unit.front_end.start(), timeout=self.start_timeout.total_seconds())
            except Exception as error:  # the per-platform boundary, as for the notifier's start
                scope = error.scope if isinstance(error, PlatformUnavailable) else None
                reason = str(error) if isinstance(error, PlatformUnavailable) else None
                self._down(unit, reason or f"{unit.name}: chat front-end failed to start: {error!r}", scope)
                await self._stop_front_end(unit)
                continue
            unit.front_end_running = True

    async def keep_starting(
        self,
        context: PlatformContext,
        stop: asyncio.Event,
        *,
        on_change: StatesListener | None = None,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        """Retry unavailable platforms with backoff (``first_retry`` doubling to 10 min) until
        ``stop``; ``on_change`` hears the new states whenever a retry changed one. Never raises."""
        delay = first_retry
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay.total_seconds())
                return
            except TimeoutError:
                pass
            if not self.unavailable_names():
                delay = first_retry
                continue
            before = self.states()
            try:
                await self.start()
                await self.start_front_ends(context)
                if on_change is not None and self.states() != before:
                    await on_change(self.states())
            except Exception:  # the retry loop's boundary: it must outlive any one failure
                log.exception("platform retry failed")
            delay = first_retry if not self.unavailable_names() else min(delay * 2, MAX_RETRY)

    def unavailable_names(self) -> list[str]:
        return [unit.name for unit in self.units if unit.error is not None]

    async def close(self) -> None:
        for unit in self.units:
            await self._stop_front_end(unit)
        for unit in self.units:
            try:
                await unit.notifier.close()
            except Exception:  # closing must reach every platform
                log.exception("notifier close failed platform=%s", unit.name)

    async def _stop_front_end(self, unit: PlatformUnit) -> None:
        if unit.front_end is None:
            return
        try:
            await unit.front_end.stop()
        except Exception:  # closing must reach every platform
            log.exception("front-end stop failed platform=%s", unit.name)
        unit.front_end, unit.front_end_running = None, False
