"""Issue 10 end to end: a docking announced to a webhook, a Discord bot channel, a Discord webhook and
a Telegram chat, which LL2 then moves 40 minutes ahead. Every platform corrects what it said (Discord
and Telegram edit and reply, the webhook receives ``notification.corrected``), and the docking is
announced again, once, when its new time passes.

The real runtime (store, aiohttp, discord.py, python-telegram-bot) runs against the fakes on
127.0.0.1, one poll per ``run_cycle``, on the test clock, on SQLite and on PostgreSQL. A photo
original (corrected through ``editMessageCaption``) cannot arise here, since dockwatch sends Telegram
text only; ``tests/test_telegram_notifier.py`` corrects one at the notifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.runtime import Runtime
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock
from tests.fakes.discord import GUILD_ID, FakeDiscord
from tests.fakes.ll2 import FakeLL2
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver

HOOK_ID, CHANNEL_ID = 123456789012345678, 223456789012345678
HOOK_TOKEN = "T" * 68
CHAT_ID = 111
DOCKED = "Cargo Dragon C209 docked at International Space Station"
NOT_YET = "Correction: Cargo Dragon C209 has not docked at International Space Station yet"
EXPECTED_LINE = "LL2 now expects it at 2026-01-01 12:45 UTC."
"""12:00 + 5 minutes until LL2 changes its mind + the 40 minutes it moves the docking by."""
EXPECTED_UNIX = 1767271500  # 2026-01-01 12:45 UTC


@pytest.fixture(autouse=True)
def _discord_api_restored() -> Iterator[None]:
    """discord.py keeps its API and gateway URLs process-wide; the runtime points them at the fake."""
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@pytest.fixture
def config(
    fake_ll2: FakeLL2,
    webhook_receiver: WebhookReceiver,
    fake_discord: FakeDiscord,
    fake_telegram: FakeTelegram,
    any_db_url: str,
) -> Config:
    """One target on each platform: a signed webhook, a Discord channel through the bot, a Discord
    channel webhook and a Telegram chat (this module's ``app`` opens the real runtime on it)."""
    return config_from_mapping(
        {
            "api": {"base_url": fake_ll2.base_url, "requests_per_hour": 1000},
            "storage": {"url": any_db_url},
            "webhooks": [{"url": webhook_receiver.url, "secret": SECRET}],
            "discord": {
                "webhook_urls": [f"{fake_discord.base_url}/webhooks/{HOOK_ID}/{HOOK_TOKEN}"],
                "token": fake_discord.token,
                "channel_ids": [CHANNEL_ID],
                "api_base_url": fake_discord.base_url,
            },
            "telegram": {
                "token": fake_telegram.token,
                "chat_ids": [CHAT_ID],
                "api_base_url": fake_telegram.base_url,
            },
        },
        source="test",
        environ={},
    )


async def cycle(app: Runtime) -> CycleOutcome:
    return await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


async def announce_a_docking(app: Runtime, fake_ll2: FakeLL2, clock: Clock) -> None:
    await cycle(app)  # the baseline
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]
    await cycle(app)


async def ll2_moves_it_40_minutes_ahead(app: Runtime, fake_ll2: FakeLL2, clock: Clock) -> None:
    """Five minutes after the announcement LL2 expects the docking 40 minutes later; one poll."""
    clock.advance(timedelta(minutes=5))
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now + timedelta(minutes=40))]
    await cycle(app)


def only(items: list[Any]) -> Any:
    """The one item of ``items``, failing with the list when there are more or none."""
    assert len(items) == 1, items
    return items[0]


def embed_of(message: dict[str, Any] | None) -> dict[str, Any]:
    assert message is not None
    embed: dict[str, Any] = only(message["embeds"])
    return embed


def fields_of(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed["fields"]}


async def test_a_docking_is_announced_once_to_each_of_the_four_targets(
    app: Runtime,
    fake_ll2: FakeLL2,
    clock: Clock,
    webhook_receiver: WebhookReceiver,
    fake_discord: FakeDiscord,
    fake_telegram: FakeTelegram,
) -> None:
    await announce_a_docking(app, fake_ll2, clock)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert embed_of(only(fake_discord.messages(CHANNEL_ID)))["title"] == DOCKED
    assert embed_of(only(fake_discord.messages(HOOK_ID)))["title"] == DOCKED
    assert only(fake_telegram.sent(CHAT_ID))["text"].startswith(f"🛰 <b>{DOCKED}</b>")


async def test_a_rescheduled_docking_edits_the_discord_bot_message_and_replies_to_it(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, fake_discord: FakeDiscord
) -> None:
    await announce_a_docking(app, fake_ll2, clock)
    original = only(fake_discord.shown(CHANNEL_ID))

    await ll2_moves_it_40_minutes_ahead(app, fake_ll2, clock)

    edit = only([e for e in fake_discord.edits if f"/channels/{CHANNEL_ID}/" in e.path])
    assert edit.path.endswith(f"/channels/{CHANNEL_ID}/messages/{original['id']}")
    shown = embed_of(fake_discord.message(original["id"]))
    assert (shown["title"], shown["description"]) == (NOT_YET, EXPECTED_LINE)
    assert fields_of(shown)["Expected"] == f"<t:{EXPECTED_UNIX}:f> (<t:{EXPECTED_UNIX}:R>)"
    reply = only(fake_discord.replies(original["id"]))
    assert reply["content"] == f"{NOT_YET}. {EXPECTED_LINE}"
    assert reply["message_reference"]["channel_id"] == str(CHANNEL_ID)
    assert len(fake_discord.messages(CHANNEL_ID)) == 2  # the announcement and the reply, nothing else


async def test_a_rescheduled_docking_edits_the_discord_webhook_message_and_posts_a_link_to_it(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, fake_discord: FakeDiscord
) -> None:
    await announce_a_docking(app, fake_ll2, clock)
    original = only(fake_discord.shown(HOOK_ID))

    await ll2_moves_it_40_minutes_ahead(app, fake_ll2, clock)

    edit = only([e for e in fake_discord.edits if f"/webhooks/{HOOK_ID}/" in e.path])
    assert edit.path.endswith(f"/webhooks/{HOOK_ID}/{HOOK_TOKEN}/messages/{original['id']}")
    shown = embed_of(fake_discord.message(original["id"]))
    assert (shown["title"], shown["description"]) == (NOT_YET, EXPECTED_LINE)
    assert fields_of(shown)["Expected"] == f"<t:{EXPECTED_UNIX}:f> (<t:{EXPECTED_UNIX}:R>)"
    _announcement, correction = fake_discord.messages(HOOK_ID)
    link = f"https://discord.com/channels/{GUILD_ID}/{HOOK_ID}/{original['id']}"
    assert correction["content"] == f"{NOT_YET}. {EXPECTED_LINE}\n{link}"


async def test_a_rescheduled_docking_edits_the_telegram_message_and_replies_to_it(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, fake_telegram: FakeTelegram
) -> None:
    await announce_a_docking(app, fake_ll2, clock)
    original = only(fake_telegram.shown(CHAT_ID))["message_id"]

    await ll2_moves_it_40_minutes_ahead(app, fake_ll2, clock)

    edit = only(fake_telegram.edits(CHAT_ID))
    assert int(edit["message_id"]) == original
    assert edit["text"].startswith(f"🛰 <b>{NOT_YET}</b>\n<i>{EXPECTED_LINE}</i>\n")
    assert fake_telegram.edits(method="editMessageCaption") == []
    reply = only(fake_telegram.replies(CHAT_ID, original))
    assert reply["text"] == f"{NOT_YET}. {EXPECTED_LINE}"
    assert len(fake_telegram.sent(CHAT_ID)) == 2  # the announcement and the reply, nothing else


async def test_a_rescheduled_docking_reaches_the_webhook_as_notification_corrected(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    await announce_a_docking(app, fake_ll2, clock)

    await ll2_moves_it_40_minutes_ahead(app, fake_ll2, clock)

    _announcement, correction = webhook_receiver.accepted
    assert correction.id == "correction:1:docked:630"
    body = correction.json
    assert body["type"] == "notification.corrected"
    assert {name: body["data"][name] for name in ("corrects", "reason", "expected", "original_type")} == {
        "corrects": "docked:630",
        "reason": "rescheduled",
        "expected": "2026-01-01T12:45:00Z",
        "original_type": "docking.docked",
    }


async def test_when_the_new_time_passes_the_docking_is_announced_again_to_each_target_once(
    app: Runtime,
    fake_ll2: FakeLL2,
    clock: Clock,
    webhook_receiver: WebhookReceiver,
    fake_discord: FakeDiscord,
    fake_telegram: FakeTelegram,
) -> None:
    await announce_a_docking(app, fake_ll2, clock)
    await ll2_moves_it_40_minutes_ahead(app, fake_ll2, clock)
    before = {
        "discord channel": len(fake_discord.messages(CHANNEL_ID)),
        "discord webhook": len(fake_discord.messages(HOOK_ID)),
        "telegram": len(fake_telegram.sent(CHAT_ID)),
    }

    clock.advance(timedelta(minutes=41))  # 12:46: the docking LL2 expected at 12:45 has happened
    await cycle(app)
    await cycle(app)  # a further poll sends nothing

    assert [r.id for r in webhook_receiver.accepted] == [
        "docked:630",
        "correction:1:docked:630",
        "docked:630#2",
    ]
    again = webhook_receiver.accepted[-1].json
    assert (again["type"], again["data"]["docking"]) == ("docking.docked", "2026-01-01T12:45:00Z")
    new_on_channel = fake_discord.messages(CHANNEL_ID)[before["discord channel"] :]
    new_on_hook = fake_discord.messages(HOOK_ID)[before["discord webhook"] :]
    new_in_chat = fake_telegram.sent(CHAT_ID)[before["telegram"] :]
    docked_at = f"<t:{EXPECTED_UNIX}:f> (<t:{EXPECTED_UNIX}:R>)"
    for posted in (only(new_on_channel), only(new_on_hook)):
        embed = embed_of(posted)
        assert (embed["title"], fields_of(embed)["Docked"]) == (DOCKED, docked_at)
    assert only(new_in_chat)["text"].startswith(f"🛰 <b>{DOCKED}</b>")
    assert "<b>Docked:</b> 2026-01-01 12:45 UTC" in only(new_in_chat)["text"]
    assert len(fake_discord.edits) == 2 and len(fake_telegram.edits()) == 1  # the corrections' edits only
