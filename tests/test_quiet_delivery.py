"""Quiet hours without a digest: inside them a chat still gets each message at once, without a sound
(Telegram ``disable_notification``, Discord's suppress-notifications flag); outside them, with one.

Each spec runs a Dispatcher over a real store on SQLite, on a test clock, with the real notifier
against the fake platform.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.preferences import ConfiguredPreferences, QuietHours
from dockwatch.notifiers.discord import channel_key, webhook_key
from dockwatch.notifiers.telegram import chat_key
from dockwatch.storage import Store, TargetInfo
from tests.conftest import Clock
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.quiet_harness import (
    CHANNEL_ID,
    CHAT,
    HOOK_ID,
    discord,
    hook_url,
    record_dockings,
    target_with_quiet_hours,
    telegram,
)

NIGHT = datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
DAY = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def test_a_telegram_chat_in_its_quiet_hours_gets_the_message_without_a_sound(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    clock.now = NIGHT
    await target_with_quiet_hours(store, chat_key(CHAT), "22:00-07:00")
    async with telegram(fake_telegram) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_telegram.silent(CHAT) == [True]


async def test_a_telegram_chat_outside_its_quiet_hours_gets_the_message_with_a_sound(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    clock.now = DAY
    await target_with_quiet_hours(store, chat_key(CHAT), "22:00-07:00")
    async with telegram(fake_telegram) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_telegram.silent(CHAT) == [False]


async def test_quiet_hours_are_read_on_the_chats_own_clock(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    """21:30 UTC is 22:30 in Berlin in January: quiet there, though not yet 22:00 in UTC."""
    clock.now = datetime(2026, 1, 1, 21, 30, tzinfo=UTC)
    await target_with_quiet_hours(store, chat_key(CHAT), "22:00-07:00", "Europe/Berlin")
    async with telegram(fake_telegram) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_telegram.silent(CHAT) == [True]
    assert "22:29 CET" in fake_telegram.sent(CHAT)[0]["text"]  # its docking time, on the chat's clock


async def test_a_chat_is_quiet_again_each_night_and_not_during_the_day(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), "22:00-07:00")
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        for record_id, moment in enumerate((NIGHT, NIGHT + timedelta(hours=9), NIGHT + timedelta(days=1))):
            clock.now = moment  # 23:00, then 08:00, then 23:00 the next night
            await record_dockings(store, clock, f"Dragon {record_id}", first_id=record_id)
            await dispatcher.deliver_due()

    assert fake_telegram.silent(CHAT) == [True, False, True]


async def test_quiet_hours_from_the_config_make_a_static_chat_silent(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    clock.now = datetime(2026, 1, 1, 21, 30, tzinfo=UTC)
    configured = ConfiguredPreferences(quiet=QuietHours.parse("22:00-07:00"), timezone="Europe/Berlin")
    await store.sync_targets([TargetInfo(chat_key(CHAT), "telegram", "chat", configured)])
    async with telegram(fake_telegram) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_telegram.silent(CHAT) == [True]


async def test_a_discord_channel_in_its_quiet_hours_gets_the_suppress_notifications_flag(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    clock.now = NIGHT
    await target_with_quiet_hours(store, channel_key(CHANNEL_ID), "22:00-07:00")
    async with discord(fake_discord, http) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_discord.silent(CHANNEL_ID) == [True]


async def test_a_discord_channel_outside_its_quiet_hours_gets_no_flag(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    clock.now = DAY
    await target_with_quiet_hours(store, channel_key(CHANNEL_ID), "22:00-07:00")
    async with discord(fake_discord, http) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_discord.silent(CHANNEL_ID) == [False]


async def test_a_discord_channel_webhook_in_its_quiet_hours_gets_the_suppress_notifications_flag(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    clock.now = NIGHT
    await target_with_quiet_hours(store, webhook_key(hook_url(fake_discord)), "22:00-07:00")
    async with discord(fake_discord, http) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        await Dispatcher(store, [notifier], clock).deliver_due()

    assert fake_discord.silent(HOOK_ID) == [True]
