"""``dockwatch run`` with Discord: a docking reaches a channel webhook and a bot channel as embeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.builders import ll2_docking
from tests.fakes.discord import FakeDiscord
from tests.fakes.ll2 import FakeLL2
from tests.service_harness import StartRun, eventually

HOOK_ID, CHANNEL_ID = 123456789012345678, 223456789012345678


def discord_table(fake: FakeDiscord) -> str:
    hook = f"{fake.base_url}/webhooks/{HOOK_ID}/{'T' * 68}"
    return (
        f'[discord]\nwebhook_urls = ["{hook}"]\ntoken = "{fake.token}"\n'
        f'channel_ids = [{CHANNEL_ID}]\napi_base_url = "{fake.base_url}"\n'
    )


async def test_a_docking_reaches_the_webhook_and_the_bot_channel_once(
    start_run: StartRun, fake_ll2: FakeLL2, fake_discord: FakeDiscord
) -> None:
    running = await start_run(fake_ll2, [], tables=discord_table(fake_discord))
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(
        lambda: len(fake_discord.messages(HOOK_ID)) == 1 and len(fake_discord.messages(CHANNEL_ID)) == 1
    )
    await eventually(lambda: len(fake_ll2.counted_requests) >= 8)
    code, err = await running.stop()

    (embed,) = fake_discord.messages(CHANNEL_ID)[0]["embeds"]
    assert embed["title"] == "Cargo Dragon C209 docked at International Space Station"
    assert len(fake_discord.messages(HOOK_ID)) == 1 and len(fake_discord.messages(CHANNEL_ID)) == 1
    assert code == 0
    assert "Traceback" not in err
    assert "discord slash commands unavailable" in err  # the fake speaks REST, not the gateway
