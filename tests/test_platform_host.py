"""How one process holds its platforms: each started on its own, retried until it runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp

from dockwatch.bot.config import config_from_mapping
from dockwatch.bot.platforms import PlatformHost
from dockwatch.notifiers import PlatformContext
from tests.conftest import SECRET, Clock
from tests.fakes.telegram import FakeTelegram
from tests.service_harness import eventually


def telegram_config(fake: FakeTelegram, token: str) -> dict[str, object]:
    return {
        "webhooks": [{"url": "http://127.0.0.1:9/hook", "secret": SECRET}],
        "telegram": {"token": token, "chat_ids": [111], "api_base_url": fake.base_url},
    }


async def test_a_platform_that_cannot_start_is_unavailable_and_the_others_are_not(
    fake_telegram: FakeTelegram, clock: Clock
) -> None:
    config = config_from_mapping(telegram_config(fake_telegram, "1:refused"), source="test", environ={})
    async with aiohttp.ClientSession() as session:
        host = PlatformHost.build(config, PlatformContext(session, clock))
        await host.start()
        try:
            assert host.unavailable() == {"telegram": "telegram.token: rejected by the Telegram Bot API"}
            assert {t.key for t in host.targets()} >= {"telegram:111"}  # still configured
        finally:
            await host.close()


async def test_run_keeps_retrying_a_platform_until_it_starts(
    fake_telegram: FakeTelegram, clock: Clock
) -> None:
    token = fake_telegram.token
    fake_telegram.token = "9:not-yet"  # the Bot API refuses our token until it is fixed
    config = config_from_mapping(telegram_config(fake_telegram, token), source="test", environ={})
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        context = PlatformContext(session, clock)
        host = PlatformHost.build(config, context)
        await host.start()
        assert "telegram" in host.unavailable()
        retrying = asyncio.create_task(host.keep_starting(context, stop, first_retry=timedelta(seconds=0.05)))
        try:
            fake_telegram.token = token
            await eventually(lambda: not host.unavailable(), within=10)
        finally:
            stop.set()
            await retrying
            await host.close()
