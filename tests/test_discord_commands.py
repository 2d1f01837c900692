"""The /dockwatch slash commands: tree shape, permission checks, and the shared logic behind them.

Interactions arrive over Discord's gateway, which no test server here speaks; the handlers are
called with a small stand-in interaction that records the response, and everything they do goes
through the real store and the shared subscription model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import ChangeKind, Snapshot, SubscriptionFilter
from dockwatch.bot.subscriptions import Subscriptions
from dockwatch.notifiers.discord.commands import REFUSAL, DockwatchCommands, SettingsView, build_tree
from dockwatch.storage import Store
from tests.builders import ll2_docking
from tests.conftest import Clock

CHANNEL = 223456789012345678


@dataclass
class Recorder:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)

    async def send_message(self, text: str, **options: Any) -> None:
        self.sent.append((text, options))

    async def edit_message(self, **options: Any) -> None:
        self.edits.append(options)


def interaction(*, manage_channels: bool) -> Any:
    return SimpleNamespace(
        channel_id=CHANNEL,
        channel=SimpleNamespace(name="launches"),
        permissions=discord.Permissions(manage_channels=manage_channels),
        response=Recorder(),
    )


@pytest.fixture
async def commands(store: Store, clock: Clock) -> AsyncIterator[DockwatchCommands]:
    yield DockwatchCommands(Subscriptions(store), clock)


def test_the_tree_has_one_dockwatch_group_with_the_five_commands() -> None:
    client = discord.Client(intents=discord.Intents.none())
    tree = build_tree(client, Subscriptions(None), lambda: None)  # type: ignore[arg-type]

    (group,) = tree.get_commands()
    assert group.name == "dockwatch"
    assert sorted(c.name for c in group.commands) == [
        "docked",
        "next",
        "settings",
        "subscribe",
        "unsubscribe",
    ]
    subscribe = next(c for c in group.commands if c.name == "subscribe")
    assert [(p.name, p.required) for p in subscribe.parameters] == [("kinds", False), ("station", False)]
    assert subscribe.guild_only


async def test_subscribe_with_manage_channels_is_saved_and_confirmed(
    commands: DockwatchCommands, store: Store
) -> None:
    asked = interaction(manage_channels=True)

    await DockwatchCommands.subscribe.callback(commands, asked, "docked webcast", "iss")

    ((text, options),) = asked.response.sent
    assert text == "Subscribed: docked and webcast at iss." and options["ephemeral"]
    assert await store.subscription(f"discord:channel:{CHANNEL}") == SubscriptionFilter(
        frozenset({ChangeKind.DOCKED, ChangeKind.WEBCAST_STARTED}), frozenset({"iss"})
    )


@pytest.mark.parametrize("command", ["subscribe", "unsubscribe", "settings"])
async def test_changing_alerts_without_manage_channels_is_refused_ephemerally(
    commands: DockwatchCommands, store: Store, command: str
) -> None:
    asked = interaction(manage_channels=False)

    await getattr(DockwatchCommands, command).callback(commands, asked)

    assert asked.response.sent == [
        (REFUSAL, {"ephemeral": True, "allowed_mentions": asked.response.sent[0][1]["allowed_mentions"]})
    ]
    assert await store.subscription(f"discord:channel:{CHANNEL}") is None


async def test_malformed_arguments_get_the_usage_line(commands: DockwatchCommands) -> None:
    asked = interaction(manage_channels=True)

    await DockwatchCommands.subscribe.callback(commands, asked, "<@everyone>", None)

    ((text, _),) = asked.response.sent
    assert text.startswith("'<@everyone>' is not a kind or a station name; usage: /dockwatch subscribe")


async def test_settings_buttons_switch_a_kind(commands: DockwatchCommands, store: Store) -> None:
    asked = interaction(manage_channels=True)
    await DockwatchCommands.subscribe.callback(commands, asked, None, None)
    await DockwatchCommands.settings.callback(commands, asked)
    view = asked.response.sent[-1][1]["view"]
    assert isinstance(view, SettingsView)
    assert [b.custom_id for b in view.children] == [  # type: ignore[attr-defined]
        "toggle:docked",
        "toggle:departed",
        "toggle:relocated",
        "toggle:webcast",
        "station:iss",
        "station:tiangong",
        "station:any",
    ]

    await view.press(interaction(manage_channels=True), "toggle:relocated")

    assert (await store.subscription(f"discord:channel:{CHANNEL}")) == SubscriptionFilter(
        frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.WEBCAST_STARTED})
    )


async def test_docked_answers_everyone_with_days_docked(
    commands: DockwatchCommands, store: Store, clock: Clock
) -> None:
    raw = [ll2_docking(4, docking=clock.now - timedelta(days=20), vehicle=(40, "Crew Dragon @everyone"))]
    await store.record_cycle(
        Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ()), [], started_at=clock.now, now=clock.now
    )
    asked = interaction(manage_channels=False)

    await DockwatchCommands.docked.callback(commands, asked)

    ((text, options),) = asked.response.sent
    assert "**International Space Station**" in text and "(20 days)" in text
    assert "@everyone" not in text and options["allowed_mentions"].everyone is False
