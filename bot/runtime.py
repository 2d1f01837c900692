"""Wiring: open the store, the HTTP sessions, the LL2 client and the notifiers, and close them again."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import aiohttp

from dockwatch import __version__
from dockwatch.bot.config import Config
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.ll2 import CallBudget, LL2Client, open_session
from dockwatch.bot.platforms import PlatformHost
from dockwatch.bot.subscriptions import Subscriptions
from dockwatch.notifiers import PlatformContext
from dockwatch.storage import Store, TargetInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def instance_id() -> str:
    """This process's name among the instances sharing a database: host, pid and a random part
    (a pid is reused after a restart; a claim or lease of the previous process must not match)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Runtime:
    """The resources one dockwatch process uses, opened together and closed together."""

    config: Config
    store: Store
    ll2: LL2Client
    budget: CallBudget
    platforms: PlatformHost
    context: PlatformContext
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    instance: str
    """Owner token of this process's claims and leases (``instance_id()``)."""


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    clock: Callable[[], datetime] = utc_now,
    console: TextIO | None = None,
    instance: str | None = None,
) -> AsyncIterator[Runtime]:
    """Open the store, the HTTP sessions (the platforms' and LL2's, which counts what it sends) and
    every configured platform (``console``: also print there).

    A platform that cannot start is left unavailable (see ``bot/platforms.py``); the runtime opens.
    """
    async with (
        Store.open(config.storage.url) as store,
        aiohttp.ClientSession(headers={"user-agent": f"dockwatch/{__version__}"}) as session,
        open_session() as ll2_session,
    ):
        instance = instance or instance_id()
        context = PlatformContext(session, clock, Subscriptions(store), console)
        host = PlatformHost.build(config, context, console=console is not None)
        try:
            await host.start()
            await store.record_platform_states(host.states(), clock())
            await store.sync_targets(
                TargetInfo(t.key, t.notifier, t.label, t.preferences) for t in host.targets()
            )
            budget = CallBudget(store, config.api.requests_per_hour)
            ll2 = LL2Client(
                ll2_session,
                base_url=config.api.base_url,
                api_key=config.api.api_key.get_secret_value(),
                budget=budget,
                clock=clock,
            )
            yield Runtime(
                config=config,
                store=store,
                ll2=ll2,
                budget=budget,
                platforms=host,
                context=context,
                dispatcher=Dispatcher(
                    store, host.notifiers, clock, owner=instance, unavailable=host.held_back
                ),
                clock=clock,
                instance=instance,
            )
        finally:
            await host.close()
