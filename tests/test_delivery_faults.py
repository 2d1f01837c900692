"""Delivery when a platform misbehaves in a way nobody typed: one dead letter, one line, no loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest

from dockwatch.bot.config import config_from_mapping
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.errors import ConfigError
from dockwatch.bot.model import Message, Receipt, SubscriptionFilter
from dockwatch.notifiers import Target
from dockwatch.notifiers.base import PLAIN, Presentation
from dockwatch.notifiers.discord import DiscordConfig, webhook_key
from dockwatch.notifiers.discord.notifier import DiscordNotifier
from dockwatch.notifiers.webhook import WebhookConfig, WebhookNotifier, target_key
from dockwatch.storage import Store, TargetInfo
from tests.conftest import SECRET, Clock
from tests.fakes.discord import FakeDiscord
from tests.test_telegram_migration import record_docking


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    """These specs run on SQLite and on PostgreSQL."""
    async with Store.open(any_db_url) as opened:
        yield opened


class CrashingNotifier:
    """A platform whose send fails with an exception that is not a DeliveryError (a bug)."""

    name = "crashing"

    def __init__(self) -> None:
        self.calls = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def targets(self) -> Sequence[Target]:
        return []

    def handles(self, target_key: str) -> bool:
        return True

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        self.calls += 1
        raise KeyError("embed")


async def test_an_untyped_send_failure_dead_letters_that_message_once_with_one_log_line(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await store.save_subscription(
        "crashing:1", notifier="crashing", label="c", subscription=SubscriptionFilter()
    )
    notifier = CrashingNotifier()
    dispatcher = Dispatcher(store, [notifier], clock)
    await record_docking(store, clock, 1)
    await record_docking(store, clock, 2)

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        first = await dispatcher.deliver_due()
        again = await dispatcher.deliver_due()

    assert (first.dead, first.retrying, again.dead) == (2, 0, 0)
    assert notifier.calls == 2  # each message tried once, the second not held behind the first
    dead = await store.dead_deliveries()
    assert {row.last_error for row, _ in dead} == {"unexpected KeyError: 'embed'"}
    assert all(record.exc_info is None for record in caplog.records if record.levelno >= logging.INFO)


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/1234567890123456/" + "T" * 68,  # 16-digit id
        "https://discord.com/api/webhooks/123456789012345678/short-token",
        "https://discord.com/api/webhooks/123456789012345678/" + "T" * 69,
        "https://discord.com/api/webhooks/123456789012345678/" + "T" * 59 + "!",
    ],
    ids=["short id", "short token", "long token", "bad character"],
)
def test_a_discord_webhook_url_discord_py_would_never_accept_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^inline: discord\.webhook_urls: each must look like"):
        config_from_mapping({"discord": {"webhook_urls": [url]}}, source="inline", environ={})


async def test_a_malformed_receiver_answer_never_puts_the_webhook_url_s_secrets_into_errors(
    store: Store, clock: Clock, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async def malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(malformed, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/PATH-TOKEN?key=QUERY-TOKEN"
    try:
        notifier = WebhookNotifier([WebhookConfig(url=url, secret=SECRET)], http)
        await store.sync_targets([TargetInfo(target_key(url), "webhook", "receiver")])
        await record_docking(store, clock, 1)
        with caplog.at_level(logging.DEBUG):
            report = await Dispatcher(store, [notifier], clock).deliver_due()
    finally:
        server.close()
        await server.wait_closed()

    (row, _key), *_ = await store.deliveries()
    assert report.retrying == 1 and row.last_error is not None
    assert f"http://127.0.0.1:{port}/…" in row.last_error
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("PATH-TOKEN", "QUERY-TOKEN"):
        assert secret not in row.last_error and secret not in logged


async def test_a_proxy_page_echoing_a_discord_webhook_url_never_puts_its_token_into_errors(
    store: Store,
    clock: Clock,
    http: aiohttp.ClientSession,
    fake_discord: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 403 page from a proxy in front of Discord that quotes the URL it blocked: discord.py puts the
    page into its error, and logs the whole URL at DEBUG; neither may carry the webhook token."""
    token = "T" * 68
    url = f"{fake_discord.base_url}/webhooks/123456789012345678/{token}"
    fake_discord.proxy_error.add(123456789012345678)
    notifier = DiscordNotifier(DiscordConfig(webhook_urls=[url], api_base_url=fake_discord.base_url), http)
    await store.sync_targets([TargetInfo(webhook_key(url), "discord", "hook")])
    await record_docking(store, clock, 1)
    with caplog.at_level(logging.DEBUG):
        await Dispatcher(store, [notifier], clock).deliver_due()

    (row, _key), *_ = await store.deliveries()
    ours = [r for r in caplog.records if not r.name.startswith("aiohttp.access")]  # the fake's own log
    logged = "\n".join(record.getMessage() for record in ours)
    assert row.last_error is not None and "403" in row.last_error, row.last_error
    assert token not in row.last_error, row.last_error
    assert token not in logged, logged
