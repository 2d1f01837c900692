"""``dockwatch run`` with Discord: a docking reaches a channel webhook and a bot channel as embeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.builders import ll2_docking
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.ll2 import FakeLL2
from tests.service_harness import StartRun, eventually, start_poll_once

HOOK_ID, CHANNEL_ID = 123456789012345678, 223456789012345678


def discord_table(fake: FakeDiscord) -> str:
    hook = f"{fake.base_url}/webhooks/{HOOK_ID}/{'T' * 68}"
    return (
        f'[discord]\nwebhook_urls = ["{hook}"]\ntoken = "{fake.token}"\n'
        f'channel_ids = [{CHANNEL_ID}]\napi_base_url = "{fake.base_url}"\n'
    )


async def test_a_docking_reaches_the_webhook_and_the_bot_channel_once(
    start_run: StartRun, fake_ll2: FakeLL2, fake_discord_gateway: FakeGateway
) -> None:
    fake_discord = fake_discord_gateway.rest
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
    assert fake_discord_gateway.identified.is_set()  # one client: REST sends and the gateway session


async def test_a_channel_subscribed_by_slash_command_gets_the_docking(
    start_run: StartRun, fake_ll2: FakeLL2, fake_discord_gateway: FakeGateway
) -> None:
    gateway, rest = fake_discord_gateway, fake_discord_gateway.rest
    table = f'[discord]\ntoken = "{rest.token}"\napi_base_url = "{rest.base_url}"\n'
    running = await start_run(fake_ll2, [], tables=table)
    await eventually(lambda: gateway.identified.is_set() and bool(gateway.synced_commands))

    await gateway.slash("subscribe", channel_id=CHANNEL_ID, manage_channels=False)
    await eventually(lambda: len(gateway.responses) == 1)
    await gateway.slash(
        "subscribe", channel_id=CHANNEL_ID, manage_channels=True, kinds="docked", station="iss"
    )
    await eventually(lambda: len(gateway.responses) == 2)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(rest.messages(CHANNEL_ID)) == 1)
    await gateway.slash("docked", channel_id=CHANNEL_ID, manage_channels=False)
    await eventually(lambda: len(gateway.responses) == 3)
    code, err = await running.stop()

    refusal, confirmation, docked = (r["data"] for r in gateway.responses)
    assert "**International Space Station**" in docked["content"] and "Cargo Dragon C209" in docked["content"]
    assert refusal["content"] == "Only members with Manage Channels can change this channel's alerts."
    assert refusal["flags"] == 64  # ephemeral
    assert confirmation["content"] == "Subscribed: docked at iss."
    assert [c["name"] for c in gateway.synced_commands] == ["dockwatch"]
    assert code == 0 and "Traceback" not in err


async def test_a_quiet_poll_once_with_a_discord_bot_prints_nothing(
    tmp_path: Path, fake_ll2: FakeLL2, fake_discord: FakeDiscord
) -> None:
    """cron mails whatever a run prints: discord.py's voice and intents warnings must not reach it."""
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\n[storage]\nurl = "sqlite:///state.db"\n'
        + discord_table(fake_discord)
    )
    process = await start_poll_once(config)
    _out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert (process.returncode, err.decode()) == (0, "")
    assert fake_discord.logins >= 1
