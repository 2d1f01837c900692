"""The console script as users run it: a subprocess against the fake LL2 and a webhook receiver."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwatch.bot.model import SubscriptionFilter
from dockwatch.bot.preferences import QuietHours
from dockwatch.storage import Store
from tests.builders import ll2_docking
from tests.conftest import SECRET
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).parents[1]


@dataclass
class Run:
    code: int
    out: str
    err: str


async def dockwatch(*args: str, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m dockwatch`` (the console script's twin) and wait for it, serving fakes meanwhile."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKWATCH_")}
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dockwatch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


INFO_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:]+ INFO ")


def assert_one_line_error(run: Run, *parts: str) -> None:
    """One line of error and no traceback; INFO log lines (a first start creating the database
    logs that it did) are the run's story, not part of the error."""
    lines = [line for line in run.err.strip().splitlines() if not INFO_LOG_LINE.match(line)]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err
    for part in parts:
        assert part in lines[0]


@pytest.fixture
def config_file(tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver) -> Path:
    path = tmp_path / "dockwatch.toml"
    path.write_text(
        f"""
[api]
base_url = "{fake_ll2.base_url}"
requests_per_hour = 14

[storage]
url = "sqlite:///state.db"

[[webhooks]]
url = "{webhook_receiver.url}"
secret = "${{HOOK_SECRET}}"
name = "ops receiver"
"""
    )
    return path


ENV = {"HOOK_SECRET": SECRET}


async def test_poll_once_announces_a_real_docking_once_across_runs(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    now = datetime.now(UTC)
    fake_ll2.dockings = [ll2_docking(1, docking=now - timedelta(days=20))]
    baseline = await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    fake_ll2.dockings.insert(0, ll2_docking(630, docking=now - timedelta(minutes=3), port=(1, "Unity nadir")))

    announce = await dockwatch("poll-once", "--config", str(config_file), env=ENV)
    again = await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)

    assert (baseline.code, announce.code, again.code) == (0, 0, 0), announce.err
    assert (baseline.out, baseline.err) == ("", "")  # -q: silent, so cron mails only problems
    assert announce.out.startswith("poll ok: 1 new notification, 0 recorded silently, 1 delivered")
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert (config_file.parent / "state.db").exists()


async def test_poll_once_exits_1_with_one_line_when_ll2_fails(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    fake_ll2.fail_next.append("http_500")

    run = await dockwatch("poll-once", "--config", str(config_file), env=ENV)

    assert run.code == 1
    assert_one_line_error(run, "upstream error", "/docking_events/", "HTTP 500")
    assert webhook_receiver.received == []


async def test_poll_once_exits_1_and_says_when_the_budget_allows_the_next_call(
    config_file: Path, fake_ll2: FakeLL2
) -> None:
    fake_ll2.throttle.update(current_use=15, next_use_secs=1200)

    run = await dockwatch("poll-once", "--config", str(config_file), env=ENV)

    assert run.code == 1
    assert_one_line_error(run, "next call allowed at")
    assert fake_ll2.counted_requests == []


async def test_poll_once_exits_0_when_only_a_delivery_failed(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=3))]
    webhook_receiver.statuses.append(500)

    run = await dockwatch("poll-once", "--config", str(config_file), env=ENV)

    assert run.code == 0
    assert "1 queued for retry" in run.out


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("[api]\nbase_url = 'ftp://ll.example'\n", ["api.base_url", "http(s)"]),
        ("[api]\ncolour = 'blue'\n", ["unknown key api.colour"]),
        ("[detect]\nstale_after = 'two days'\n", ["detect.stale_after"]),
        ("[api\n", ["invalid TOML"]),
        ("[[webhooks]]\nurl = 'https://x.test/h'\nsecret = '${NOT_SET_ANYWHERE}'\n", ["NOT_SET_ANYWHERE"]),
    ],
    ids=["non-http base_url", "unknown key", "bad duration", "broken toml", "missing env secret"],
)
@pytest.mark.parametrize("command", ["poll-once", "check-config", "status"])
async def test_configuration_errors_exit_2_with_one_line_naming_the_key(
    tmp_path: Path, command: str, content: str, parts: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)

    run = await dockwatch(command, "--config", str(path))

    assert run.code == 2
    assert_one_line_error(run, "config error", str(path), *parts)


async def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    run = await dockwatch("poll-once", "--config", str(tmp_path / "nope.toml"))

    assert run.code == 2
    assert_one_line_error(run, "nope.toml", "not found")


async def test_check_config_prints_a_summary_with_secrets_masked(config_file: Path) -> None:
    env = {**ENV, "DOCKWATCH_API__API_KEY": "ll2-private-key"}

    run = await dockwatch("check-config", "--config", str(config_file), env=env)

    assert run.code == 0, run.err
    assert "api.api_key            set (hidden)" in run.out
    assert "http://127.0.0.1:" in run.out and "/hook" not in run.out
    assert "ops receiver" in run.out
    assert SECRET not in run.out and "ll2-private-key" not in run.out
    assert "state.db" in run.out


async def test_status_shows_what_is_docked_the_last_poll_and_the_queue(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    now = datetime.now(UTC)
    fake_ll2.dockings = [
        ll2_docking(7, docking=now - timedelta(days=12, hours=2), vehicle=(5, "Soyuz MS-27"))
    ]
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)

    run = await dockwatch("status", "--config", str(config_file), env=ENV)

    assert run.code == 0, run.err
    assert "International Space Station" in run.out
    assert "Soyuz MS-27" in run.out and "12 days 2 hours" in run.out
    assert "Last poll:" in run.out and ": ok" in run.out
    assert "Deliveries: queued 0, sending 0, delivered 0, dead 0" in run.out
    assert "ops receiver  enabled" in run.out


async def test_an_unusable_database_exits_3_with_one_line(config_file: Path) -> None:
    text = config_file.read_text().replace("sqlite:///state.db", "sqlite:////proc/nope/x.db")
    config_file.write_text(text)

    run = await dockwatch("poll-once", "--config", str(config_file), env=ENV)

    assert run.code == 3
    assert_one_line_error(run, "storage error", "cannot open database")


async def test_demo_tells_the_whole_story_offline() -> None:
    run = await dockwatch("demo")

    assert run.code == 0, run.err
    headlines = [line for line in run.out.splitlines() if line.startswith("▶")]
    assert headlines == [
        "▶ Cygnus CRS NG-23 (S.S. William “Willie” C. McCool) docked at International Space Station",
        "▶ Progress MS-32 departed International Space Station",
        "▶ Webcast live: Progress MS-29 Docking",
    ]
    assert "nothing announced" in run.out


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "dockwatch"
    assert script.exists()


@pytest.mark.parametrize("command", ["poll-once", "run", "check-config"])
async def test_a_config_without_delivery_targets_is_refused(
    tmp_path: Path, fake_ll2: FakeLL2, command: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[api]\nbase_url = '{fake_ll2.base_url}'\n")

    run = await dockwatch(command, "--config", str(path))

    assert run.code == 2
    assert_one_line_error(run, "no delivery targets", "[[webhooks]]")
    assert fake_ll2.requests == []


async def test_status_does_not_create_a_database_at_a_mistyped_path(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[storage]\nurl = 'sqlite:///typo.db'\n")

    run = await dockwatch("status", "--config", str(path))

    assert run.code == 3
    assert_one_line_error(run, "no database at", "typo.db")
    assert not (tmp_path / "typo.db").exists()


async def test_a_target_disabled_by_a_410_can_be_enabled_again(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=3))]
    webhook_receiver.statuses.append(410)
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    disabled = await dockwatch("status", "--config", str(config_file), env=ENV)
    key = next(line.split()[0] for line in disabled.out.splitlines() if "DISABLED" in line)

    enabled = await dockwatch("enable-target", "--config", str(config_file), key, env=ENV)
    fake_ll2.dockings.insert(
        0, ll2_docking(631, docking=datetime.now(UTC) - timedelta(minutes=1), port=(1, "Unity"))
    )
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)

    assert enabled.code == 0 and "enabled" in enabled.out
    assert [r.id for r in webhook_receiver.accepted] == ["docked:631"]


async def test_enabling_an_unknown_target_exits_2(config_file: Path) -> None:
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)

    run = await dockwatch("enable-target", "--config", str(config_file), "webhook:nope", env=ENV)

    assert run.code == 2
    assert_one_line_error(run, "no target 'webhook:nope'")


@pytest.mark.parametrize(
    "args", [["poll-once"], ["launch"], []], ids=["missing --config", "unknown command", "no command"]
)
async def test_usage_errors_are_one_line_and_exit_2(args: list[str]) -> None:
    run = await dockwatch(*args)

    assert run.code == 2
    assert_one_line_error(run, "dockwatch", "--help")


async def test_an_environment_variable_naming_a_whole_table_is_rejected(config_file: Path) -> None:
    run = await dockwatch("check-config", "--config", str(config_file), env={**ENV, "DOCKWATCH_API": "1"})

    assert run.code == 2
    assert_one_line_error(run, "DOCKWATCH_API", "DOCKWATCH_API__<KEY>")


async def test_status_lists_failing_deliveries_with_their_error(
    config_file: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=3))]
    webhook_receiver.statuses.append(502)
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)

    run = await dockwatch("status", "--config", str(config_file), env=ENV)

    assert "Retrying:" in run.out
    assert "docked:630 -> webhook:" in run.out and "attempt 1 failed" in run.out and "HTTP 502" in run.out


async def test_check_config_lists_chat_targets_without_their_tokens(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    hook = "https://discord.com/api/webhooks/123456789012345678/" + "S" * 68
    path.write_text(
        f"[telegram]\ntoken = '4242:SECRET-TOKEN-SECRET-TOKEN-SECRET-TOKEN'\nchat_ids = [111, '@launches']\n"
        f"[discord]\nwebhook_urls = ['{hook}']\n"
    )

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 0, run.err
    assert "telegram chat 111" in run.out and "telegram chat @launches" in run.out
    assert "discord webhook discord:webhook:123456789012345678" in run.out
    assert "SECRET-TOKEN" not in run.out and "S" * 68 not in run.out
    assert "targets                3" in run.out


async def test_run_with_its_web_port_in_use_exits_69_so_a_supervisor_retries(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "dockwatch.toml"
        config.write_text(
            f'[api]\nbase_url = "{fake_ll2.base_url}"\n[storage]\nurl = "sqlite:///state.db"\n'
            f'[web]\nlisten = "127.0.0.1:{port}"\n'
            f'[[webhooks]]\nurl = "{webhook_receiver.url}"\nsecret = "{SECRET}"\n'
        )

        run = await dockwatch("run", "--config", str(config))

    assert run.code == 69
    assert_one_line_error(run, "dockwatch: unavailable: web.listen: cannot listen on 127.0.0.1:")


async def test_status_shows_each_targets_reminders_quiet_hours_and_zone_on_its_line(
    config_file: Path, fake_ll2: FakeLL2
) -> None:
    config_file.write_text(config_file.read_text() + 'reminders = ["10m", "1h"]\n')
    await dockwatch("-q", "poll-once", "--config", str(config_file), env=ENV)
    async with Store.open(f"sqlite:///{config_file.parent / 'state.db'}") as store:
        await store.save_subscription(
            "telegram:555", notifier="telegram", label="Telegram chat 555", subscription=SubscriptionFilter()
        )
        await store.save_preferences(
            "telegram:555", quiet=QuietHours.parse("22:00-07:00"), timezone="Europe/Berlin"
        )

    run = await dockwatch("status", "--config", str(config_file), env=ENV)

    assert run.code == 0, run.err
    assert "  ops receiver  enabled  reminders 1h and 10m before\n" in run.out
    assert (
        "  telegram:555  Telegram chat 555  enabled  quiet 22:00-07:00, time zone Europe/Berlin\n" in run.out
    )
