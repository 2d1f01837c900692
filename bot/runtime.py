"""Wiring: open the store, one HTTP session, the LL2 client and the notifiers, and close them again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import aiohttp

from dockwatch import __version__
from dockwatch.bot.config import Config
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.ll2 import CallBudget, LL2Client
from dockwatch.notifiers import REGISTRY, ConsoleNotifier, Notifier
from dockwatch.storage import Store, TargetInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    """The resources one dockwatch process uses, opened together and closed together."""

    config: Config
    store: Store
    ll2: LL2Client
    budget: CallBudget
    notifiers: Sequence[Notifier]
    dispatcher: Dispatcher
    clock: Callable[[], datetime]


def build_notifiers(
    config: Config, session: aiohttp.ClientSession, *, console: TextIO | None
) -> list[Notifier]:
    """One notifier per configured platform table; the console one only when a stream is given."""
    notifiers: list[Notifier] = []
    for table, factory in REGISTRY.items():
        settings = getattr(config, table)
        if settings:
            notifiers.append(factory(settings, session))
    if console is not None:
        notifiers.append(ConsoleNotifier(console))
    return notifiers


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    clock: Callable[[], datetime] = utc_now,
    console: TextIO | None = None,
) -> AsyncIterator[Runtime]:
    async with (
        Store.open(config.storage.url) as store,
        aiohttp.ClientSession(headers={"user-agent": f"dockwatch/{__version__}"}) as session,
        AsyncExitStack() as stack,
    ):
        notifiers = build_notifiers(config, session, console=console)
        for notifier in notifiers:
            if isinstance(notifier, AbstractAsyncContextManager):
                await stack.enter_async_context(notifier)
        await store.sync_targets(
            TargetInfo(t.key, t.notifier, t.label) for n in notifiers for t in n.targets()
        )
        budget = CallBudget(store, config.api.requests_per_hour)
        ll2 = LL2Client(
            session,
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
            notifiers=notifiers,
            dispatcher=Dispatcher(store, notifiers, clock),
            clock=clock,
        )
