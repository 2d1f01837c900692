"""The Discord platform: channel webhooks, or a bot posting to channels and serving /dockwatch.

This module imports without discord.py: the CLI lists, labels and masks Discord targets from the
config alone; ``notifier.py`` and ``commands.py`` (discord.py) are imported when the platform is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from dockwatch.notifiers.base import (
    FrontEnd,
    Leads,
    Notifier,
    PlatformContext,
    Quiet,
    Target,
    ZoneName,
    configured_preferences,
    http_url,
    list_from_text,
)

PREFIX = "discord:"
DEFAULT_API = "https://discord.com/api/v10"
WEBHOOK_URL = re.compile(r"/webhooks/(?P<id>\d{17,20})/(?P<token>[A-Za-z0-9._-]{60,68})/?$")
"""What discord.py accepts: a 17-20 digit snowflake and a 60-68 character token."""


class DiscordConfig(BaseModel):
    """The ``[discord]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_urls: list[str] = []
    token: SecretStr | None = None
    channel_ids: list[int] = []
    api_base_url: str = DEFAULT_API
    username: str = "dockwatch"
    avatar_url: str | None = None
    reminders: Leads | None = None
    """Lead times for the static targets (``webhook_urls``, ``channel_ids``)."""
    quiet: Quiet | None = None
    """Quiet hours for the static targets, in ``timezone``: messages carry Discord's
    suppress-notifications flag (or, with ``digest``, wait for one digest at the end)."""
    timezone: ZoneName | None = None
    """The zone quiet hours are read in; messages show each reader their own time anyway."""

    @field_validator("webhook_urls", "channel_ids", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return list_from_text(value)

    @field_validator("webhook_urls")
    @classmethod
    def _webhooks(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("https://", "http://")) or not WEBHOOK_URL.search(url):
                raise ValueError(
                    "each must look like https://discord.com/api/webhooks/ID/TOKEN "
                    "(ID: 17-20 digits; TOKEN: 60-68 letters, digits, '.', '_' or '-')"
                )
        return value

    @model_validator(mode="after")
    def _usable(self) -> DiscordConfig:
        if self.channel_ids and self.token is None:
            raise ValueError("channel_ids needs a bot token (token = ...): only a bot can post to a channel")
        if not self.webhook_urls and self.token is None:
            raise ValueError("configures nothing: add webhook_urls, or a bot token")
        return self

    @field_validator("api_base_url", "avatar_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_url(value) if value else value


def webhook_key(url: str) -> str:
    match = WEBHOOK_URL.search(url)
    assert match is not None
    return f"{PREFIX}webhook:{match['id']}"


def channel_key(channel_id: int) -> str:
    return f"{PREFIX}channel:{channel_id}"


class DiscordPlatform:
    """``[discord]``: webhook targets always; channel targets and slash commands with a bot token."""

    name = "discord"
    table = "discord"
    many = False
    settings_model = DiscordConfig

    def targets(self, settings: DiscordConfig) -> Sequence[Target]:
        chosen = configured_preferences(settings.reminders, settings.quiet, settings.timezone)
        hooks = [
            Target(key, self.name, f"Discord webhook {key.rsplit(':', 1)[1]}", chosen)
            for key in dict.fromkeys(webhook_key(url) for url in settings.webhook_urls)
        ]
        if settings.token is None:
            return hooks
        return hooks + [
            Target(channel_key(c), self.name, f"Discord channel {c}", chosen) for c in settings.channel_ids
        ]

    def subscribable(self, settings: DiscordConfig) -> bool:
        """With a bot token, channels subscribe themselves with /dockwatch subscribe."""
        return settings.token is not None

    def describe(self, settings: DiscordConfig) -> list[str]:
        lines = [f"discord webhook {webhook_key(url)}  token: hidden" for url in settings.webhook_urls]
        if settings.token is not None:
            lines += [f"discord channel {channel}  bot token: hidden" for channel in settings.channel_ids]
            lines.append("discord bot            channels may /dockwatch subscribe (with dockwatch run)")
        return lines

    def notifier(self, settings: DiscordConfig, context: PlatformContext) -> Notifier:
        from dockwatch.notifiers.discord.notifier import DiscordNotifier

        return DiscordNotifier(settings, context.session)

    def front_end(
        self, settings: DiscordConfig, notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        if settings.token is None or context.subscriptions is None:
            return None
        from dockwatch.notifiers.discord.commands import SlashCommands
        from dockwatch.notifiers.discord.notifier import DiscordNotifier

        assert isinstance(notifier, DiscordNotifier)
        return SlashCommands(notifier, context.subscriptions, context.clock)


PLATFORM = DiscordPlatform()
