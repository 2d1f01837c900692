"""The /dockwatch slash commands: tree shape, permission checks, and the shared logic behind them.

Interactions arrive over Discord's gateway, which no test server here speaks; the handlers are
called with a small stand-in interaction that records the response, and everything they do goes
through the real store and the shared subscription model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import ChangeKind, Snapshot, SubscriptionFilter
from dockwatch.bot.preferences import Preferences, QuietHours
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


def test_the_tree_has_one_dockwatch_group_with_the_eight_commands() -> None:
    client = discord.Client(intents=discord.Intents.none())
    tree = build_tree(client, Subscriptions(None), lambda: None)  # type: ignore[arg-type]

    (group,) = tree.get_commands()
    assert group.name == "dockwatch"
    assert sorted(c.name for c in group.commands) == [
        "docked",
        "next",
        "quiet",
        "remind",
        "settings",
        "subscribe",
        "timezone",
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


# --- reminders, quiet hours and the channel's time zone ----------------------------------------

KEY = f"discord:channel:{CHANNEL}"


def the_answer(asked: Any) -> str:
    ((text, options),) = asked.response.sent
    assert options["ephemeral"]
    return str(text)


async def subscribed(commands: DockwatchCommands) -> None:
    await DockwatchCommands.subscribe.callback(commands, interaction(manage_channels=True), None, None)


def test_the_preference_commands_take_one_required_option_each() -> None:
    client = discord.Client(intents=discord.Intents.none())
    (group,) = build_tree(client, Subscriptions(None), lambda: None).get_commands()  # type: ignore[arg-type]

    options = {
        c.name: [(p.name, p.required) for p in c.parameters]
        for c in group.commands
        if c.name in ("remind", "quiet", "timezone")
    }
    assert options == {"remind": [("leads", True)], "quiet": [("span", True)], "timezone": [("zone", True)]}


async def test_remind_sets_the_channels_lead_times(commands: DockwatchCommands, store: Store) -> None:
    await subscribed(commands)
    asked = interaction(manage_channels=True)

    await DockwatchCommands.remind.callback(commands, asked, "1h 10m")

    assert the_answer(asked) == "Reminders: 1h and 10m before each planned docking, departure or event."
    preferences = await store.preferences(KEY)
    assert preferences is not None
    assert preferences.reminders == (timedelta(hours=1), timedelta(minutes=10))


async def test_remind_off_stops_reminders(commands: DockwatchCommands, store: Store) -> None:
    await subscribed(commands)
    await DockwatchCommands.remind.callback(commands, interaction(manage_channels=True), "1h")
    asked = interaction(manage_channels=True)

    await DockwatchCommands.remind.callback(commands, asked, "off")

    assert the_answer(asked) == "Reminders: off."
    assert await store.preferences(KEY) == Preferences()


async def test_quiet_sets_the_channels_quiet_hours(commands: DockwatchCommands, store: Store) -> None:
    await subscribed(commands)
    asked = interaction(manage_channels=True)

    await DockwatchCommands.quiet.callback(commands, asked, "22:00-07:00 digest")

    assert the_answer(asked) == (
        "Quiet hours: 22:00-07:00 UTC time, alerts held for one digest at the end."
        " Set this channel's zone with /dockwatch timezone."
    )
    preferences = await store.preferences(KEY)
    assert preferences is not None and preferences.quiet == QuietHours(time(22), time(7), digest=True)


async def test_quiet_off_ends_quiet_hours(commands: DockwatchCommands, store: Store) -> None:
    await subscribed(commands)
    await DockwatchCommands.quiet.callback(commands, interaction(manage_channels=True), "22:00-07:00")
    asked = interaction(manage_channels=True)

    await DockwatchCommands.quiet.callback(commands, asked, "off")

    assert the_answer(asked) == "Quiet hours: off."
    assert await store.preferences(KEY) == Preferences()


async def test_timezone_sets_the_zone_for_quiet_hours_and_keeps_readers_own_times(
    commands: DockwatchCommands, store: Store
) -> None:
    await subscribed(commands)
    asked = interaction(manage_channels=True)

    await DockwatchCommands.timezone.callback(commands, asked, "Europe/Berlin")

    assert the_answer(asked) == (
        "Time zone: Europe/Berlin, where it is 13:00 CET now."
        " Quiet hours follow it; times in messages still show each reader their own clock."
    )
    preferences = await store.preferences(KEY)
    assert preferences is not None and preferences.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("command", "value", "answer"),
    [
        ("remind", "2m", "lead time '2m' must be from 5m to 7d; usage: /dockwatch remind <lead time>"),
        ("remind", "1h 2h 3h 4h 5h", "at most 4 lead times, got 5; usage: /dockwatch remind"),
        ("quiet", "25:00-07:00", "'25:00-07:00': hours are 0-23 and minutes 0-59; usage: /dockwatch quiet"),
        (
            "timezone",
            "Europe/Berln",
            "'Europe/Berln' is not a time zone name like 'Europe/Berlin' (did you mean",
        ),
    ],
    ids=["lead too short", "too many leads", "no such hour", "mistyped zone"],
)
async def test_bad_input_is_answered_in_one_line_and_changes_nothing(
    commands: DockwatchCommands, store: Store, command: str, value: str, answer: str
) -> None:
    await subscribed(commands)
    await DockwatchCommands.remind.callback(commands, interaction(manage_channels=True), "30m")
    before = await store.preferences(KEY)
    asked = interaction(manage_channels=True)

    await getattr(DockwatchCommands, command).callback(commands, asked, value)

    assert the_answer(asked).startswith(answer) and "\n" not in the_answer(asked)
    assert await store.preferences(KEY) == before


@pytest.mark.parametrize(
    ("command", "value"), [("remind", "1h"), ("quiet", "22:00-07:00"), ("timezone", "UTC")]
)
async def test_changing_choices_without_manage_channels_is_refused_ephemerally(
    commands: DockwatchCommands, store: Store, command: str, value: str
) -> None:
    await subscribed(commands)
    asked = interaction(manage_channels=False)

    await getattr(DockwatchCommands, command).callback(commands, asked, value)

    assert the_answer(asked) == REFUSAL
    assert await store.preferences(KEY) == Preferences()


@pytest.mark.parametrize(
    ("command", "value"), [("remind", "1h"), ("quiet", "22:00-07:00"), ("timezone", "UTC")]
)
async def test_a_channel_that_is_not_subscribed_is_told_to_subscribe_first(
    commands: DockwatchCommands, store: Store, command: str, value: str
) -> None:
    asked = interaction(manage_channels=True)

    await getattr(DockwatchCommands, command).callback(commands, asked, value)

    assert the_answer(asked) == "Not subscribed here yet: subscribe first with /dockwatch subscribe."
    assert await store.preferences(KEY) is None


async def test_settings_show_reminders_quiet_hours_and_zone(commands: DockwatchCommands) -> None:
    await subscribed(commands)
    await DockwatchCommands.remind.callback(commands, interaction(manage_channels=True), "1d")
    await DockwatchCommands.quiet.callback(commands, interaction(manage_channels=True), "23:30-06:00 digest")
    await DockwatchCommands.timezone.callback(commands, interaction(manage_channels=True), "America/New_York")
    asked = interaction(manage_channels=True)

    await DockwatchCommands.settings.callback(commands, asked)

    ((text, _),) = asked.response.sent
    assert text.splitlines()[:4] == [
        "Alerts here: **everything at any station**",
        "Reminders: **1d before each planned docking, departure or event**",
        "Quiet hours: **23:30-06:00 America/New_York time, alerts held for one digest at the end**",
        "Time zone: **America/New_York**",
    ]
