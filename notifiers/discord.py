"""Discord (discord.py): rich embeds through channel webhooks, or through a bot to channel ids.

Webhook mode needs no bot: the message is executed with ``wait=true`` so a failure is seen. Bot
mode sends through discord.py's REST client with a nonce derived from the delivery and
``enforce_nonce``, so a retry after a crash cannot post twice. discord.py itself follows the
``X-RateLimit-*`` headers and 429 ``retry_after`` (per bucket and global) before a request is made.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from dockwatch.bot.durations import humanize
from dockwatch.bot.errors import PermanentFailure, RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message
from dockwatch.notifiers.base import Target
from dockwatch.notifiers.text import headline

PREFIX = "discord:"
DEFAULT_API = "https://discord.com/api/v10"
COLOURS = {
    ChangeKind.DOCKED: 0x2ECC71,
    ChangeKind.DEPARTED: 0xE67E22,
    ChangeKind.RELOCATED: 0x3498DB,
    ChangeKind.WEBCAST_STARTED: 0xE74C3C,
}
MAX_FIELD_TEXT = 200  # one LL2 string; all of them together stay far below the 6000 total
GONE_CODES = {10003, 10004, 10015, 50027}  # unknown channel, guild, webhook; invalid webhook token
PAUSE_CODES = {50001: "Missing Access", 50013: "Missing Permissions"}
PAUSE = 3600.0
_WEBHOOK_URL = re.compile(r"/webhooks/(?P<id>\d{15,21})/(?P<token>[\w.-]+)/?$")


class DiscordConfig(BaseModel):
    """The ``[discord]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_urls: list[str] = []
    token: SecretStr | None = None
    channel_ids: list[int] = []
    api_base_url: str = DEFAULT_API
    username: str = "dockwatch"
    avatar_url: str | None = None

    @field_validator("webhook_urls")
    @classmethod
    def _webhooks(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("https://", "http://")) or not _WEBHOOK_URL.search(url):
                raise ValueError("each must look like https://discord.com/api/webhooks/ID/TOKEN")
        return value


def use_api_base(api_base_url: str) -> None:
    """Point discord.py at ``api_base_url`` (and its gateway at ``/gateway`` on the same host).

    discord.py has no per-client API URL; its ``Route`` and ``DiscordWebSocket`` classes carry one
    for the whole process, and a dockwatch process runs one ``[discord]`` table.
    """
    base = api_base_url.rstrip("/")
    if base == DEFAULT_API:
        return
    Route.BASE = base
    url = yarl.URL(base)
    scheme = "wss" if url.scheme == "https" else "ws"
    DiscordWebSocket.DEFAULT_GATEWAY = url.with_scheme(scheme).with_path("/gateway")


def webhook_key(url: str) -> str:
    match = _WEBHOOK_URL.search(url)
    assert match is not None
    return f"{PREFIX}webhook:{match['id']}"


def channel_key(channel_id: int) -> str:
    return f"{PREFIX}channel:{channel_id}"


def build_embed(message: Message) -> discord.Embed:
    """The message as an embed, every LL2 string clipped and markdown-escaped, within every limit."""
    embed = discord.Embed(
        title=_clip(discord.utils.escape_mentions(discord.utils.escape_markdown(headline(message))), 256),
        colour=COLOURS[message.kind],
        timestamp=message.occurred_at,
    )
    if message.kind is ChangeKind.WEBCAST_STARTED:
        if message.location:
            embed.add_field(name="Where", value=_text(message.location), inline=True)
        if message.event_date is not None:
            embed.add_field(name="Event", value=_when(message.event_date), inline=True)
        if message.webcast_url and _is_url(message.webcast_url):
            embed.url = message.webcast_url
            embed.description = f"[Watch the webcast]({message.webcast_url})"
    else:
        embed.add_field(name="Station", value=_text(message.place), inline=True)
        port = message.port.name if message.port else "?"
        if message.previous_port is not None:
            port = f"{message.previous_port.name} → {port}"
        embed.add_field(name="Port", value=_text(port), inline=True)
        embed.add_field(name="Vehicle", value=_text(message.vehicle_name), inline=True)
        if message.kind is ChangeKind.DEPARTED and message.departure is not None:
            embed.add_field(name="Departed", value=_when(message.departure), inline=False)
            if message.docked_seconds is not None:
                stayed = humanize(timedelta(seconds=message.docked_seconds))
                embed.add_field(name="Stayed", value=stayed, inline=True)
        elif message.docking is not None:
            embed.add_field(name="Docked", value=_when(message.docking), inline=False)
    if message.image_url and _is_url(message.image_url):
        embed.set_thumbnail(url=message.image_url)
    embed.set_footer(text="dockwatch · data: The Space Devs' Launch Library 2")
    return embed


def _when(moment: datetime) -> str:
    """Discord timestamps, so every reader sees their own local time."""
    unix = int(moment.timestamp())
    return f"<t:{unix}:f> (<t:{unix}:R>)"


def _text(value: str) -> str:
    """Markdown and mentions neutralised, clipped so the field stays small."""
    escaped = discord.utils.escape_mentions(discord.utils.escape_markdown(value))
    return _clip(escaped, MAX_FIELD_TEXT) or "?"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= 2048


class DiscordNotifier:
    """Webhook targets from ``webhook_urls``; channel targets (config or slash-command
    subscriptions) through the bot when a token is configured."""

    name = "discord"

    def __init__(self, config: DiscordConfig, session: aiohttp.ClientSession) -> None:
        self._config = config
        self._session = session
        self._webhooks = {webhook_key(url): url for url in config.webhook_urls}
        self._client: discord.Client | None = None
        use_api_base(config.api_base_url)

    @classmethod
    def from_settings(cls, settings: DiscordConfig, session: aiohttp.ClientSession) -> DiscordNotifier:
        return cls(settings, session)

    async def __aenter__(self) -> Self:
        if self._config.token is not None:
            self._client = discord.Client(intents=discord.Intents.none())
            # An outage or a bad token surfaces per delivery, where it is retried.
            with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, TimeoutError):
                await self._client.login(self._config.token.get_secret_value())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()

    def targets(self) -> Sequence[Target]:
        hooks = [Target(key, self.name, f"Discord webhook {key.rsplit(':', 1)[1]}") for key in self._webhooks]
        channels = [
            Target(channel_key(c), self.name, f"Discord channel {c}") for c in self._config.channel_ids
        ]
        return hooks + (channels if self._config.token is not None else [])

    def handles(self, target_key: str) -> bool:
        if target_key in self._webhooks:
            return True
        return self._config.token is not None and target_key.startswith(f"{PREFIX}channel:")

    async def send(self, target_key: str, message: Message, *, delivery_id: int) -> None:
        embed = build_embed(message)
        none = discord.AllowedMentions.none()
        try:
            if target_key in self._webhooks:
                webhook = discord.Webhook.from_url(self._webhook_url(target_key), session=self._session)
                await webhook.send(
                    embed=embed,
                    username=self._config.username,
                    avatar_url=self._config.avatar_url or discord.utils.MISSING,
                    wait=True,
                    allowed_mentions=none,
                )
            else:
                if self._client is None or self._config.token is None:
                    raise RetryLater(f"{target_key}: no Discord bot token configured")
                if self._client.http.token is None:  # the login at start failed (an outage): retry it
                    await self._client.login(self._config.token.get_secret_value())
                channel = self._client.get_partial_messageable(int(target_key.rsplit(":", 1)[1]))
                await channel.send(embed=embed, nonce=f"dw{delivery_id}", allowed_mentions=none)
        except discord.RateLimited as error:
            raise RetryLater(f"{target_key}: rate limited", retry_after=error.retry_after) from None
        except discord.HTTPException as error:
            raise _delivery_error(target_key, error) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RetryLater(f"{target_key}: {type(error).__name__}: {error}") from None

    def _webhook_url(self, target_key: str) -> str:
        """discord.py parses webhook URLs on discord.com only; keep the id and token, drop the host."""
        match = _WEBHOOK_URL.search(self._webhooks[target_key])
        assert match is not None
        return f"https://discord.com/api/webhooks/{match['id']}/{match['token']}"


def _delivery_error(target_key: str, error: discord.HTTPException) -> Exception:
    text = f"{target_key}: HTTP {error.status} (code {error.code}) {error.text}".strip()
    if error.code in GONE_CODES or error.status == 404:
        return TargetGone(text)
    if error.code in PAUSE_CODES:
        needs = "Send Messages and Embed Links" if error.code == 50013 else "View Channel"
        return RetryLater(f"{text}: the bot needs {needs} there; paused for an hour", retry_after=PAUSE)
    if error.status == 429 or error.status >= 500:
        return RetryLater(text)
    return PermanentFailure(text)
