"""A platform that cannot start is reported in one line and isolated: the others still deliver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.builders import ll2_docking
from tests.conftest import SECRET
from tests.fakes.discord import FakeDiscord
from tests.fakes.ll2 import FakeLL2
from tests.fakes.matrix import FakeMatrix
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import StartRun, eventually, metric_samples
from tests.test_cli import ENV, dockwatch

CHANNEL_ID = 223456789012345678


def write_config(
    path: Path, fake_ll2: FakeLL2, receiver: WebhookReceiver, discord: FakeDiscord, token: str
) -> Path:
    path.write_text(
        f"""
[api]
base_url = "{fake_ll2.base_url}"

[storage]
url = "sqlite:///state.db"

[[webhooks]]
url = "{receiver.url}"
secret = "${{HOOK_SECRET}}"

[discord]
token = "{token}"
channel_ids = [{CHANNEL_ID}]
api_base_url = "{discord.base_url}"
"""
    )
    return path


async def test_a_rejected_discord_token_leaves_webhooks_delivering_and_poll_once_exits_0(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, fake_discord: FakeDiscord
) -> None:
    config = write_config(tmp_path / "dockwatch.toml", fake_ll2, webhook_receiver, fake_discord, "wrong")
    assert (await dockwatch("poll-once", "--config", str(config), env=ENV)).code == 0  # baseline
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]

    run = await dockwatch("poll-once", "--config", str(config), env=ENV)

    assert run.code == 0, run.err
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert fake_discord.messages(CHANNEL_ID) == []
    (line,) = [line for line in run.err.splitlines() if "platform unavailable" in line]
    assert "platform=discord" in line and "discord.token: rejected by Discord" in line
    assert "Traceback" not in run.err


async def test_the_unavailable_platforms_deliveries_wait_and_land_once_it_starts(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, fake_discord: FakeDiscord
) -> None:
    bad = write_config(tmp_path / "bad.toml", fake_ll2, webhook_receiver, fake_discord, "wrong")
    assert (await dockwatch("poll-once", "--config", str(bad), env=ENV)).code == 0
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]
    assert (await dockwatch("poll-once", "--config", str(bad), env=ENV)).code == 0
    status = await dockwatch("status", "--config", str(bad), env=ENV)
    assert "queued 1" in status.out, status.out
    assert "  discord  UNAVAILABLE since " in status.out
    assert ": discord.token: rejected by Discord (HTTP 401)" in status.out
    assert "  webhook  ok (checked " in status.out

    good = write_config(tmp_path / "good.toml", fake_ll2, webhook_receiver, fake_discord, fake_discord.token)
    run = await dockwatch("poll-once", "--config", str(good), env=ENV)

    assert run.code == 0, run.err
    assert len(fake_discord.messages(CHANNEL_ID)) == 1
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert "  discord  ok (checked " in (await dockwatch("status", "--config", str(good), env=ENV)).out


async def test_a_refused_telegram_token_is_one_line_and_webhooks_still_deliver(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, fake_telegram: FakeTelegram
) -> None:
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f"""
[api]
base_url = "{fake_ll2.base_url}"

[storage]
url = "sqlite:///state.db"

[[webhooks]]
url = "{webhook_receiver.url}"
secret = "{SECRET}"

[telegram]
token = "1:refusedrefusedrefusedrefusedrefused"
chat_ids = [111]
api_base_url = "{fake_telegram.base_url}"
"""
    )
    assert (await dockwatch("poll-once", "--config", str(config))).code == 0
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]

    run = await dockwatch("poll-once", "--config", str(config))

    assert run.code == 0, run.err
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert fake_telegram.sent(111) == []
    assert "platform=telegram error=telegram.token: rejected by the Telegram Bot API" in run.err


async def test_a_refused_matrix_token_is_one_line_and_webhooks_still_deliver(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, fake_matrix: FakeMatrix
) -> None:
    fake_matrix.joined.add("!room:fake.test")
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f"""
[api]
base_url = "{fake_ll2.base_url}"

[storage]
url = "sqlite:///state.db"

[[webhooks]]
url = "{webhook_receiver.url}"
secret = "{SECRET}"

[matrix]
homeserver = "{fake_matrix.homeserver}"
access_token = "syt_revoked_revoked_revoked"
room_ids = ["!room:fake.test"]
"""
    )
    assert (await dockwatch("poll-once", "--config", str(config))).code == 0
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]

    run = await dockwatch("poll-once", "--config", str(config))
    status = await dockwatch("status", "--config", str(config))

    assert run.code == 0, run.err
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert fake_matrix.messages("!room:fake.test") == []
    assert "platform=matrix error=matrix.access_token: rejected by the homeserver" in run.err
    assert "  matrix  UNAVAILABLE since " in status.out and "queued 1" in status.out
    assert "syt_revoked" not in run.err + status.out


async def test_run_names_the_unavailable_platform_in_healthz_and_metrics_and_keeps_polling(
    start_run: StartRun, fake_ll2: FakeLL2, fake_discord: FakeDiscord
) -> None:
    table = (
        f'[discord]\ntoken = "wrong"\nchannel_ids = [{CHANNEL_ID}]\n'
        f'api_base_url = "{fake_discord.base_url}"\n'
    )
    running = await start_run(fake_ll2, [], tables=table)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    await eventually(lambda: len(fake_ll2.counted_requests) >= 4)  # a second poll, so the first committed
    status, body = await running.get("/healthz")
    _, metrics = await running.get("/metrics")
    code, err = await running.stop()
    health = json.loads(body)

    assert status == 200
    assert health["platforms"]["discord"] == {
        "ok": False,
        "error": "discord.token: rejected by Discord (HTTP 401)",
    }
    assert metric_samples(metrics, "dockwatch_platform_up") == [
        ({"instance": health["instance"], "platform": "discord"}, 0.0)
    ]
    assert code == 0 and "Traceback" not in err


async def test_a_rejected_discord_bot_token_holds_back_only_the_bot_channels_not_the_webhooks(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, fake_discord: FakeDiscord
) -> None:
    hook_id = 123456789012345678
    config = write_config(tmp_path / "dockwatch.toml", fake_ll2, webhook_receiver, fake_discord, "wrong")
    config.write_text(
        config.read_text().replace(
            "[discord]\n",
            f'[discord]\nwebhook_urls = ["{fake_discord.base_url}/webhooks/{hook_id}/{"T" * 68}"]\n',
        )
    )
    assert (await dockwatch("poll-once", "--config", str(config), env=ENV)).code == 0
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]

    run = await dockwatch("poll-once", "--config", str(config), env=ENV)
    status = await dockwatch("status", "--config", str(config), env=ENV)

    assert run.code == 0, run.err
    assert len(fake_discord.messages(hook_id)) == 1
    assert fake_discord.messages(CHANNEL_ID) == []
    assert "queued 1" in status.out and "discord  UNAVAILABLE since " in status.out
