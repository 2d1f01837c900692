"""Discord slash commands: ``/dockwatch subscribe|unsubscribe|remind|quiet|timezone|settings|docked|next``.

Thin glue over discord.py's ``app_commands``: the meaning lives in ``bot/subscriptions.py`` (the same
model the Telegram bot uses). Changing a channel's alerts needs Manage Channels, checked on every
use (Discord's default permissions apply to a whole top-level command, and ``docked`` and ``next``
are for everyone); anyone else gets an ephemeral refusal. Times stay ``<t:>`` timestamps, which show
every reader their own clock: a channel's time zone only decides when its quiet hours are.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import discord
from discord import app_commands

from dockwatch.bot.errors import PlatformUnavailable
from dockwatch.bot.model import SubscriptionFilter
from dockwatch.bot.preferences import Preferences
from dockwatch.bot.subscriptions import (
    KIND_WORDS,
    STATION_CHOICES,
    Subscriptions,
    UsageError,
    describe,
    describe_quiet,
    describe_reminders,
    describe_settings,
    docked_for,
    local_clock,
    parse_quiet,
    parse_remind,
    parse_subscription,
    parse_timezone,
    toggled,
    toggled_station,
)
from dockwatch.notifiers.discord import channel_key
from dockwatch.notifiers.discord.notifier import DiscordNotifier

log = logging.getLogger(__name__)

REFUSAL = "Only members with Manage Channels can change this channel's alerts."
MAX_REPLY = 1900  # Discord allows 2000 characters of content
_COMMAND = re.compile(r"(?<![\w/])/(subscribe|remind|quiet|timezone)\b")


class DockwatchCommands(app_commands.Group):
    """The ``/dockwatch`` command group."""

    def __init__(self, subscriptions: Subscriptions, clock: Callable[[], datetime]) -> None:
        super().__init__(name="dockwatch", description="Space station docking and webcast alerts")
        self.subscriptions = subscriptions
        self._clock = clock

    @app_commands.command(
        name="subscribe", description="Alert this channel (kinds: docked departed relocated webcast)"
    )
    @app_commands.describe(kinds="e.g. 'docked webcast'; empty for all", station="e.g. 'iss'; empty for any")
    @app_commands.guild_only()
    async def subscribe(
        self, interaction: discord.Interaction, kinds: str | None = None, station: str | None = None
    ) -> None:
        if not _may_change(interaction):
            await _ephemeral(interaction, REFUSAL)
            return
        try:
            subscription = parse_subscription((kinds or "").split() + (station or "").split())
        except UsageError as error:
            await _ephemeral(interaction, _in_discord(str(error)))
            return
        await self._save(interaction, subscription)
        await _ephemeral(interaction, f"Subscribed: {describe(subscription)}.")

    @app_commands.command(name="unsubscribe", description="Stop alerts in this channel")
    @app_commands.guild_only()
    async def unsubscribe(self, interaction: discord.Interaction) -> None:
        if not _may_change(interaction):
            await _ephemeral(interaction, REFUSAL)
            return
        stopped = await self.subscriptions.unsubscribe(_key(interaction), now=self._clock())
        await _ephemeral(interaction, "Unsubscribed." if stopped else "This channel was not subscribed.")

    @app_commands.command(
        name="remind", description="Reminders before planned dockings, departures and events here"
    )
    @app_commands.describe(leads="e.g. '1h 10m' (at most 4, each from 5m to 7d), or 'off'")
    @app_commands.guild_only()
    async def remind(self, interaction: discord.Interaction, leads: str) -> None:
        async def change(key: str) -> str:
            preferences = await self.subscriptions.set_reminders(key, parse_remind([leads]))
            return f"Reminders: {describe_reminders(preferences.reminders)}."

        await _change(interaction, change)

    @app_commands.command(name="quiet", description="Quiet hours for this channel: silent, or one digest")
    @app_commands.describe(span="e.g. '22:00-07:00', '22:00-07:00 digest', or 'off'")
    @app_commands.guild_only()
    async def quiet(self, interaction: discord.Interaction, span: str) -> None:
        async def change(key: str) -> str:
            quiet = parse_quiet([span])
            preferences = await self.subscriptions.set_quiet(key, quiet)
            hint = (
                " Set this channel's zone with /timezone."
                if quiet is not None and preferences.timezone is None
                else ""
            )
            return f"Quiet hours: {describe_quiet(preferences)}.{hint}"

        await _change(interaction, change)

    @app_commands.command(name="timezone", description="The time zone this channel's quiet hours are in")
    @app_commands.describe(zone="an IANA name, e.g. 'Europe/Berlin'")
    @app_commands.guild_only()
    async def timezone(self, interaction: discord.Interaction, zone: str) -> None:
        async def change(key: str) -> str:
            name = parse_timezone([zone])
            preferences = await self.subscriptions.set_timezone(key, name)
            return (
                f"Time zone: {name}, where it is {local_clock(preferences.zone, self._clock())} now."
                " Quiet hours follow it; times in messages still show each reader their own clock."
            )

        await _change(interaction, change)

    @app_commands.command(name="settings", description="This channel's settings; switch kinds and stations")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction) -> None:
        if not _may_change(interaction):
            await _ephemeral(interaction, REFUSAL)
            return
        key = _key(interaction)
        current = await self.subscriptions.current(key)
        if current is None:
            await _ephemeral(interaction, "This channel is not subscribed yet: use /dockwatch subscribe.")
            return
        preferences = await self.subscriptions.preferences(key)
        await _ephemeral(interaction, _settings_text(current, preferences), view=SettingsView(self, current))

    @app_commands.command(name="docked", description="What is docked at each station now")
    async def docked(self, interaction: discord.Interaction) -> None:
        now = self._clock()
        lines = []
        for place, records in (await self.subscriptions.docked_now(now)).items():
            lines.append(f"**{discord.utils.escape_markdown(place)}**")
            lines += [
                f"• {_plain(r.port.name)}: {_plain(r.vehicle_name)} ({docked_for(r, now)})"
                for r in sorted(records, key=lambda r: r.port.name)
            ]
        await _ephemeral(
            interaction, _clip("\n".join(lines)) or "Nothing is docked, as far as LL2 has told us."
        )

    @app_commands.command(
        name="next", description="Planned dockings, departures and events in the next 7 days"
    )
    async def next(self, interaction: discord.Interaction) -> None:
        items = await self.subscriptions.next_days(self._clock())
        lines = [f"<t:{int(i.at.timestamp())}:f> · {i.what} · {_plain(i.text)}" for i in items]
        await _ephemeral(interaction, _clip("\n".join(lines)) or "Nothing planned in the next 7 days.")

    async def _save(self, interaction: discord.Interaction, subscription: SubscriptionFilter) -> None:
        channel = interaction.channel
        label = f"#{getattr(channel, 'name', None) or interaction.channel_id}"
        await self.subscriptions.subscribe(
            _key(interaction), notifier="discord", label=label, subscription=subscription
        )


class SettingsView(discord.ui.View):
    """Ephemeral toggles; each press re-checks the member's permission."""

    def __init__(self, commands: DockwatchCommands, current: SubscriptionFilter) -> None:
        super().__init__(timeout=600)
        self._commands = commands
        for word, kind in KIND_WORDS.items():
            on = current.kinds is None or kind in current.kinds
            self.add_item(_Toggle(f"toggle:{word}", word, on, row=0))
        for word, name in STATION_CHOICES.items():
            self.add_item(
                _Toggle(f"station:{word}", name, bool(current.stations and word in current.stations), row=1)
            )
        self.add_item(_Toggle("station:any", "any station", current.stations is None, row=1))

    async def press(self, interaction: discord.Interaction, custom_id: str) -> None:
        if not _may_change(interaction):
            await _ephemeral(interaction, REFUSAL)
            return
        current = await self._commands.subscriptions.current(_key(interaction))
        if current is None:
            await _ephemeral(interaction, "This channel is no longer subscribed.")
            return
        action, _, word = custom_id.partition(":")
        updated = toggled(current, KIND_WORDS[word]) if action == "toggle" else toggled_station(current, word)
        await self._commands._save(interaction, updated)
        preferences = await self._commands.subscriptions.preferences(_key(interaction))
        await interaction.response.edit_message(
            content=_settings_text(updated, preferences), view=SettingsView(self._commands, updated)
        )


class _Toggle(discord.ui.Button[SettingsView]):
    def __init__(self, custom_id: str, label: str, on: bool, *, row: int) -> None:
        style = discord.ButtonStyle.success if on else discord.ButtonStyle.secondary
        super().__init__(label=label, custom_id=custom_id, style=style, row=row)

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None and self.custom_id is not None
        await self.view.press(interaction, self.custom_id)


async def _on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """A failing command answers the user in one line instead of leaving them waiting."""
    log.warning(
        "discord command failed command=%s error=%s", interaction.command and interaction.command.name, error
    )
    text = "Something went wrong on dockwatch's side; please try again in a minute."
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


class SlashCommands:
    """The front-end: serves the command tree over the gateway of the notifier's logged-in client."""

    def __init__(
        self, notifier: DiscordNotifier, subscriptions: Subscriptions, clock: Callable[[], datetime]
    ) -> None:
        self._notifier = notifier
        self._subscriptions = subscriptions
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        client = self._notifier.client
        if client is None or client.http.token is None:
            raise PlatformUnavailable("discord: the bot is not logged in")
        tree = build_tree(client, self._subscriptions, self._clock)
        try:
            await tree.sync()
        except discord.DiscordException as error:  # commands registered earlier still work
            log.warning("discord slash commands not synced error=%s", error)
        self._task = asyncio.create_task(self._connect(client), name="discord-gateway")

    async def _connect(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except (discord.DiscordException, OSError) as error:
            log.warning("discord slash commands unavailable error=%s", error)

    async def stop(self) -> None:
        if self._notifier.client is not None:
            await self._notifier.client.close()  # ends the gateway session cleanly first
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def build_tree(
    client: discord.Client, subscriptions: Subscriptions, clock: Callable[[], datetime]
) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    tree.add_command(DockwatchCommands(subscriptions, clock))
    tree.on_error = _on_error  # type: ignore[method-assign]
    return tree


def _may_change(interaction: discord.Interaction) -> bool:
    return bool(interaction.permissions.manage_channels)


async def _change(interaction: discord.Interaction, change: Callable[[str], Awaitable[str]]) -> None:
    """One path for every command that changes a channel's choices: who may, then what they typed
    (a mistake is answered in one line and changes nothing), then the confirmation."""
    if not _may_change(interaction):
        await _ephemeral(interaction, REFUSAL)
        return
    try:
        answer = await change(_key(interaction))
    except UsageError as error:
        answer = str(error)
    await _ephemeral(interaction, _in_discord(answer))


def _in_discord(text: str) -> str:
    """The shared model names Telegram's commands; here they are ``/dockwatch`` subcommands."""
    return _COMMAND.sub(r"/dockwatch \1", text)


def _key(interaction: discord.Interaction) -> str:
    assert interaction.channel_id is not None
    return channel_key(interaction.channel_id)


async def _ephemeral(
    interaction: discord.Interaction, text: str, *, view: discord.ui.View | None = None
) -> None:
    kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": discord.AllowedMentions.none()}
    if view is not None:
        kwargs["view"] = view
    await interaction.response.send_message(text, **kwargs)


def _settings_text(subscription: SubscriptionFilter, preferences: Preferences) -> str:
    lines = [f"{label}: **{value}**" for label, value in describe_settings(subscription, preferences)]
    lines.append(
        "Press a button to switch a kind or a station; /dockwatch remind, quiet and timezone change"
        " the rest. Times in messages show each reader their own clock; the zone sets quiet hours."
    )
    return "\n".join(lines)


def _plain(value: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(value))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"
