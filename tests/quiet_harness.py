"""What the quiet-hours specs share: a real store with chat targets that chose quiet hours, the real
Telegram and Discord notifiers against the fakes, and dockings recorded the way a poll records them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
from discord.http import Route

from dockwatch.bot.detect import detect
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import Change, KnownState, Message, Snapshot
from dockwatch.bot.preferences import QuietHours
from dockwatch.notifiers.discord import DEFAULT_API, DiscordConfig
from dockwatch.notifiers.discord.notifier import DiscordNotifier
from dockwatch.notifiers.telegram import TelegramConfig
from dockwatch.notifiers.telegram.notifier import TelegramNotifier, TelegramPacing
from dockwatch.storage import Store, TargetInfo
from tests.builders import ll2_docking
from tests.conftest import Clock, started
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram

CHAT = 111
CHANNEL_ID, HOOK_ID = 223456789012345678, 123456789012345678
HOOK_TOKEN = "T" * 68


@asynccontextmanager
async def telegram(fake: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    """The real notifier, its pacing and the fake's limits off: a spec sends a few messages to one
    chat within a second, which the Bot API's one-a-second window would spread over real seconds."""
    fake.enforce_limits = False
    config = TelegramConfig(token=fake.token, api_base_url=fake.base_url)
    unpaced = TelegramPacing(per_second=1000, per_chat_second=1000, per_group_minute=1000)
    async with started(TelegramNotifier.from_settings(config)) as opened:
        yield TelegramNotifier(config, opened.bot, pacing=unpaced)


def hook_url(fake: FakeDiscord) -> str:
    return f"{fake.base_url}/webhooks/{HOOK_ID}/{HOOK_TOKEN}"


@asynccontextmanager
async def discord(fake: FakeDiscord, http: aiohttp.ClientSession) -> AsyncIterator[DiscordNotifier]:
    """The real notifier with a bot (channel ``CHANNEL_ID``) and a channel webhook (``HOOK_ID``)."""
    config = DiscordConfig(
        webhook_urls=[hook_url(fake)],
        token=fake.token,
        channel_ids=[CHANNEL_ID],
        api_base_url=fake.base_url,
    )
    try:
        async with started(DiscordNotifier(config, http)) as opened:
            yield opened
    finally:
        Route.BASE = DEFAULT_API


async def target_with_quiet_hours(
    store: Store, key: str, quiet: str | None, timezone: str | None = None
) -> None:
    """A configured target that chose ``quiet`` hours (``None``: none) on its own clock."""
    await store.sync_targets([TargetInfo(key, key.partition(":")[0], key)])
    await store.save_preferences(
        key, quiet=None if quiet is None else QuietHours.parse(quiet), timezone=timezone
    )


async def record_dockings(store: Store, clock: Clock, *vehicles: str, first_id: int = 1) -> list[Change]:
    """One docking a minute ago per vehicle (docking ids from ``first_id``), recorded and owed to
    every enabled target; the announcements, oldest first."""
    raw = [
        ll2_docking(
            first_id + index,
            docking=clock.now - timedelta(minutes=1),
            port=(first_id + index, f"port {first_id + index}"),
            vehicle=(10_000 + first_id + index, vehicle),
        )
        for index, vehicle in enumerate(vehicles)
    ]
    snapshot = Snapshot(tuple(parse_dockings(raw, "test", legacy=False)), ())
    changes = detect(KnownState(baseline_done=True), snapshot, clock.now)
    await store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)
    return changes


def announced(message: Message) -> Change:
    return Change(message.key, message.kind, True, message)


async def record(store: Store, clock: Clock, changes: Sequence[Change]) -> None:
    """Record ``changes`` (a correction, reminders) as one poll cycle would."""
    await store.record_cycle(Snapshot((), ()), changes, started_at=clock.now, now=clock.now)
