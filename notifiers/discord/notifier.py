"""Discord (discord.py): rich embeds through channel webhooks, or through a bot to channel ids.

Webhook mode needs no bot: the message is executed with ``wait=true`` so a failure is seen. Bot
mode sends through discord.py's REST client with a nonce derived from the delivery and
``enforce_nonce``, so a retry after a crash cannot post twice. discord.py itself follows the
``X-RateLimit-*`` headers and 429 ``retry_after`` (per bucket and global) before a request is made.
A sent message is edited in place through its receipt, by the same webhook or the bot.

A correction edits the original and, since an edit notifies nobody, posts a short correction: a
reply (``message_reference``) through the bot; through a webhook, whose execute endpoint cannot
reply, a new message carrying the original's jump URL (its guild is read from the webhook).

A channel whose quiet hours hold its messages gets one digest when they end: an embed whose
description lists each message (its headline and a ``<t:…:f>`` time, which every reader sees in
their own zone), at most 4096 characters. A digest is never edited: a correction of a message it
listed is posted on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, assert_never

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from dockwatch.bot.durations import humanize
from dockwatch.bot.errors import PermanentFailure, PlatformUnavailable, RetryLater, TargetGone
from dockwatch.bot.model import KINDS, REMINDER_KINDS, ChangeKind, Message, Receipt, Revision
from dockwatch.notifiers.base import (
    PLAIN,
    REDACTING,
    Presentation,
    Target,
    digest_receipt,
    edit_into_correction,
    is_digest,
)
from dockwatch.notifiers.discord import (
    DEFAULT_API,
    PLATFORM,
    PREFIX,
    WEBHOOK_URL,
    DiscordConfig,
    channel_key,
    webhook_key,
)
from dockwatch.notifiers.pacing import SlidingWindow
from dockwatch.notifiers.text import (
    DIGEST_TITLE,
    correction_line,
    correction_reply,
    fact,
    fit_lines,
    has_happened,
    headline,
)

MAX_FIELD_TEXT = 200  # one LL2 string; all of them together stay far below the 6000 total
GONE_CODES = {10003, 10004, 10015, 50027}  # unknown channel, guild, webhook; invalid webhook token
UNKNOWN_MESSAGE = 10008  # deleted by a person: the channel is still there, the message is not
PAUSE_CODES = {50001: "Missing Access", 50013: "Missing Permissions"}
PAUSE = 3600.0
SEND_TIMEOUT = 60.0
"""At most this long for one send or edit, discord.py's own waits on rate limits included."""
MAX_RATELIMIT_SLEEP = 30.0
GLOBAL_PER_SECOND = 50
"""Discord's global limit for a bot. discord.py learns of it only from a 429, and a fan-out to
hundreds of channels then collects hundreds of them (which count towards Discord's IP ban of 10,000
invalid requests in 10 minutes); the bot's requests are paced under it instead."""
CORRECTION_COLOUR = 0x95A5A6  # grey: what the message announced has not happened (yet)
MAX_CONTENT = 2000  # characters of a message's content
MAX_DESCRIPTION = 4096  # characters of an embed's description
MAX_DIGEST_LINE = 300  # a headline names the vehicle and the place: two LL2 strings
DIGEST_COLOUR = 0x34495E  # night blue

log = logging.getLogger(__name__)


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


def build_embed(message: Message) -> discord.Embed:
    """The message as an embed, every LL2 string clipped and markdown-escaped, within every limit.

    A correction keeps the original's layout: its title says what is true now, the correction line
    opens the description and a time that has not come yet is shown as "Expected", never as "Docked".
    """
    happened = has_happened(message)
    # A reminder's title is the plan; how soon is a <t:R> timestamp, which Discord renders only
    # outside titles and keeps true for as long as the message is read.
    title = fact(message) if message.kind in REMINDER_KINDS else headline(message)
    embed = discord.Embed(
        title=_clip(_text_of(title), 256),
        colour=KINDS[message.kind].colour if happened else CORRECTION_COLOUR,
        timestamp=message.occurred_at,
    )
    match message.kind:
        case ChangeKind.DOCKED | ChangeKind.RELOCATED:
            _add_docking_fields(embed, message)
            if message.docking is not None and happened:
                embed.add_field(name="Docked", value=_when(message.docking), inline=False)
        case ChangeKind.DEPARTED:
            _add_docking_fields(embed, message)
            if message.departure is not None and happened:
                embed.add_field(name="Departed", value=_when(message.departure), inline=False)
                if message.docked_seconds is not None:
                    stayed = humanize(timedelta(seconds=message.docked_seconds))
                    embed.add_field(name="Stayed", value=stayed, inline=True)
            elif message.docking is not None:
                embed.add_field(name="Docked", value=_when(message.docking), inline=False)
        case ChangeKind.WEBCAST_STARTED:
            if message.location:
                embed.add_field(name="Where", value=_text(message.location), inline=True)
            if message.event_date is not None:
                embed.add_field(name="Event", value=_when(message.event_date), inline=True)
            if message.webcast_url and _is_url(message.webcast_url):
                embed.url = message.webcast_url
                embed.description = f"[Watch the webcast]({message.webcast_url})"
        case ChangeKind.DOCKING_REMINDER | ChangeKind.DEPARTURE_REMINDER:
            _add_docking_fields(embed, message)
            _add_planned(embed, message)
        case ChangeKind.EVENT_REMINDER:
            if message.location:
                embed.add_field(name="Where", value=_text(message.location), inline=True)
            _add_planned(embed, message)
            if message.webcast_url and _is_url(message.webcast_url):
                embed.url = message.webcast_url
                embed.description = f"{embed.description or ''}\n[Webcast]({message.webcast_url})".strip()
        case ChangeKind.TEST:
            embed.description = "Sent by `dockwatch test-target`: notifications will arrive here like this."
        case _:
            assert_never(message.kind)
    _add_correction(embed, message)
    if message.image_url and _is_url(message.image_url):
        embed.set_thumbnail(url=message.image_url)
    embed.set_footer(text="dockwatch · data: The Space Devs' Launch Library 2")
    return embed


def build_digest(messages: Sequence[Message]) -> discord.Embed:
    """One embed listing the messages held through the quiet hours, a line each ("🛰 Cygnus NG-23
    docked at International Space Station · <t:…:f>"), within a description's 4096 characters
    (counted as Discord does, in UTF-16), the rest counted in "… and 3 more"."""
    lines = [
        f"{KINDS[message.kind].emoji} {_clip(_text_of(headline(message)), MAX_DIGEST_LINE)}"
        f" · <t:{int(message.occurred_at.timestamp())}:f>"
        for message in messages
    ]
    embed = discord.Embed(
        title=DIGEST_TITLE, description=fit_lines([], lines, MAX_DESCRIPTION), colour=DIGEST_COLOUR
    )
    embed.set_footer(text="dockwatch · data: The Space Devs' Launch Library 2")
    return embed


def _add_planned(embed: discord.Embed, message: Message) -> None:
    """A reminder's planned time, relative (``in an hour``) and in each reader's own zone."""
    planned = message.expected or message.event_date
    if planned is None:
        embed.description = "Soon"
        return
    unix = int(planned.timestamp())
    embed.description = f"Planned <t:{unix}:R>"
    embed.add_field(name="Planned", value=f"<t:{unix}:f>", inline=False)


def _add_correction(embed: discord.Embed, message: Message) -> None:
    line = correction_line(message)
    if message.correction is None or line is None:
        return
    embed.description = f"{line}\n{embed.description}" if embed.description else line
    expected = message.correction.expected
    if message.correction.reason is Revision.RESCHEDULED and expected is not None:
        embed.add_field(name="Expected", value=_when(expected), inline=False)


def correction_content(message: Message, *, link: str | None = None) -> str:
    """The short correction posted after the edit: plain text within Discord's 2000 characters,
    ending with ``link`` (the original's jump URL) when given."""
    text = _text_of(correction_reply(message))
    if link is None:
        return _clip(text, MAX_CONTENT)
    return f"{_clip(text, MAX_CONTENT - len(link) - 1)}\n{link}"


def _add_docking_fields(embed: discord.Embed, message: Message) -> None:
    embed.add_field(name="Station", value=_text(message.place), inline=True)
    port = message.port.name if message.port else "?"
    if message.previous_port is not None:
        port = f"{message.previous_port.name} → {port}"
    embed.add_field(name="Port", value=_text(port), inline=True)
    embed.add_field(name="Vehicle", value=_text(message.vehicle_name), inline=True)


def _when(moment: datetime) -> str:
    """Discord timestamps, so every reader sees their own local time."""
    unix = int(moment.timestamp())
    return f"<t:{unix}:f> (<t:{unix}:R>)"


def _text(value: str) -> str:
    """Markdown and mentions neutralised, clipped so the field stays small."""
    return _clip(_text_of(value), MAX_FIELD_TEXT) or "?"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= 2048


class DiscordNotifier:
    """Webhook targets from ``webhook_urls``; channel targets (config or slash-command
    subscriptions) through the bot when a token is configured.

    ``client`` is the process's one discord.py client: the slash-command front-end connects the
    gateway on it after ``start`` has logged it in.
    """

    name = "discord"

    def __init__(self, config: DiscordConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self._session = session
        self._webhooks = {webhook_key(url): url for url in config.webhook_urls}
        self.client: discord.Client | None = None
        self._global = SlidingWindow(GLOBAL_PER_SECOND, 1.0)
        use_api_base(config.api_base_url)
        for library_logger in ("discord.webhook.async_", "discord.http"):  # they log whole webhook URLs
            logging.getLogger(library_logger).addFilter(REDACTING)

    async def start(self) -> None:
        """Log the bot in; a failure holds back only the bot's channel targets (``scope``): channel
        webhooks need no bot and keep delivering."""
        if self.config.token is None:
            return
        if self.client is None or self.client.is_closed():
            # A rate limit longer than this is raised (RateLimited: retried later), not slept through.
            self.client = discord.Client(
                intents=discord.Intents.none(), max_ratelimit_timeout=MAX_RATELIMIT_SLEEP
            )
        _pace(self.client, self._global)
        try:
            await self.client.login(self.config.token.get_secret_value())
        except discord.LoginFailure:
            reason = "discord.token: rejected by Discord (HTTP 401)"
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as error:
            reason = f"discord: cannot log in: {type(error).__name__}: {error}"
        else:
            return
        # A new client next time: discord.py would leave this one's HTTP session open otherwise.
        await self.client.close()
        self.client = None
        raise PlatformUnavailable(reason, scope="channel")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    def targets(self) -> Sequence[Target]:
        return PLATFORM.targets(self.config)

    def handles(self, target_key: str) -> bool:
        if target_key in self._webhooks:
            return True
        return self.config.token is not None and target_key.startswith(f"{PREFIX}channel:")

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        """Post the embed; in the channel's quiet hours with Discord's suppress-notifications flag
        (``silent``: delivered, but nobody's device makes a sound)."""
        return await self._post(target_key, build_embed(message), f"dw{delivery_id}", presentation)

    async def send_digest(
        self,
        target_key: str,
        messages: Sequence[Message],
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """The messages held through the channel's quiet hours, in one embed. Its nonce differs from
        the first message's own, so a later send of that message alone is not taken for the digest."""
        receipt = await self._post(target_key, build_digest(messages), f"dwd{delivery_id}", presentation)
        return digest_receipt(receipt)

    async def _post(
        self, target_key: str, embed: discord.Embed, nonce: str, presentation: Presentation
    ) -> Receipt:
        none = discord.AllowedMentions.none()
        async with _delivering(target_key):
            if target_key in self._webhooks:
                webhook = discord.Webhook.from_url(self._webhook_url(target_key), session=self._session)
                sent = await webhook.send(
                    embed=embed,
                    username=self.config.username,
                    avatar_url=self.config.avatar_url or discord.utils.MISSING,
                    wait=True,
                    allowed_mentions=none,
                    silent=presentation.silent,
                )
                return self._webhook_receipt(webhook.id, sent)
            channel = self._channel(target_key, int(target_key.rsplit(":", 1)[1]))
            posted = await channel.send(
                embed=embed, nonce=nonce, allowed_mentions=none, silent=presentation.silent
            )
            return Receipt(platform=self.name, message={"channel_id": channel.id, "message_id": posted.id})

    async def edit(self, receipt: Receipt, message: Message, presentation: Presentation = PLAIN) -> Receipt:
        """Replace the embed of a message sent earlier, by the webhook or the bot that sent it."""
        if is_digest(receipt):
            raise PermanentFailure(f"a digest lists several messages, it is not edited: {receipt.describe()}")
        ids = _receipt_ids(receipt)
        embed = build_embed(message)
        none = discord.AllowedMentions.none()
        if "webhook_id" in ids:
            target_key = f"{PREFIX}webhook:{ids['webhook_id']}"
            if target_key not in self._webhooks:
                raise PermanentFailure(f"{target_key}: no longer configured; cannot edit its message")
            async with _delivering(target_key):
                webhook = discord.Webhook.from_url(self._webhook_url(target_key), session=self._session)
                edited = await webhook.edit_message(ids["message_id"], embed=embed, allowed_mentions=none)
                return self._webhook_receipt(webhook.id, edited)
        target_key = channel_key(ids["channel_id"])
        if self.config.token is None:
            raise PermanentFailure(f"{target_key}: no bot token configured; cannot edit its message")
        async with _delivering(target_key):
            channel = self._channel(target_key, ids["channel_id"])
            changed = await channel.get_partial_message(ids["message_id"]).edit(
                embed=embed, allowed_mentions=none
            )
            return Receipt(platform=self.name, message={"channel_id": channel.id, "message_id": changed.id})

    async def correct(
        self,
        target_key: str,
        message: Message,
        original: Receipt,
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """Edit the original into the correction, then reply to it so its readers are told (REFINED:
        the edit alone). An original that cannot be edited (deleted by a person, not ours, its
        webhook or bot gone from the config) gets the correction alone, posted as ``send`` does."""
        edited, done = await edit_into_correction(
            self, target_key, message, original, delivery_id=delivery_id, presentation=presentation
        )
        if done:
            return edited
        ids = _receipt_ids(edited)
        if "webhook_id" in ids:
            return await self._webhook_correction(ids, message, presentation)
        async with _delivering(target_key):
            channel = self._channel(target_key, ids["channel_id"])
            # fail_if_not_exists=False: deleted between the edit and now, the reply still lands.
            original_message = discord.MessageReference(
                message_id=ids["message_id"], channel_id=ids["channel_id"], fail_if_not_exists=False
            )
            posted = await channel.send(
                correction_content(message),
                reference=original_message,
                nonce=f"dw{delivery_id}",
                allowed_mentions=discord.AllowedMentions.none(),
                silent=presentation.silent,
            )
            return Receipt(platform=self.name, message={"channel_id": channel.id, "message_id": posted.id})

    async def _webhook_correction(
        self, ids: dict[str, int], message: Message, presentation: Presentation
    ) -> Receipt:
        """Execute-webhook cannot reply (no ``message_reference``): the short correction is a new
        message, with a link to the original when the webhook's guild is known."""
        target_key = f"{PREFIX}webhook:{ids['webhook_id']}"
        async with _delivering(target_key):
            webhook = discord.Webhook.from_url(self._webhook_url(target_key), session=self._session)
            guild_id = await _guild_of(webhook)
            link = None
            if guild_id is not None:
                link = f"https://discord.com/channels/{guild_id}/{ids['channel_id']}/{ids['message_id']}"
            sent = await webhook.send(
                correction_content(message, link=link),
                username=self.config.username,
                avatar_url=self.config.avatar_url or discord.utils.MISSING,
                wait=True,
                allowed_mentions=discord.AllowedMentions.none(),
                silent=presentation.silent,
            )
            return self._webhook_receipt(webhook.id, sent)

    def _webhook_receipt(self, webhook_id: int, sent: discord.WebhookMessage) -> Receipt:
        return Receipt(
            platform=self.name,
            message={"webhook_id": webhook_id, "channel_id": sent.channel.id, "message_id": sent.id},
        )

    def _channel(self, target_key: str, channel_id: int) -> discord.PartialMessageable:
        if self.client is None or self.client.http.token is None:
            raise RetryLater(f"{target_key}: the Discord bot is not logged in")
        return self.client.get_partial_messageable(channel_id)

    def _webhook_url(self, target_key: str) -> str:
        """discord.py parses webhook URLs on discord.com only; keep the id and token, drop the host."""
        match = WEBHOOK_URL.search(self._webhooks[target_key])
        assert match is not None
        return f"https://discord.com/api/webhooks/{match['id']}/{match['token']}"


def _pace(client: discord.Client, window: SlidingWindow) -> None:
    """Make every REST request of ``client`` (its one ``HTTPClient``) take a place in ``window``
    first. discord.py has no hook for it; wrapping the client's request method is the one place every
    bot request passes, its own retries included."""
    http = client.http
    if getattr(http.request, "_dockwatch_paced", False):
        return
    request = http.request

    async def paced(*args: Any, **kwargs: Any) -> Any:
        async with window.slot():
            return await request(*args, **kwargs)

    paced._dockwatch_paced = True  # type: ignore[attr-defined]
    http.request = paced  # type: ignore[method-assign]  # see the docstring


async def _guild_of(webhook: discord.Webhook) -> int | None:
    """The webhook's guild (GET /webhooks/{id}/{token}), or None when Discord does not tell: the
    link to the original is a courtesy, never a reason to hold back the correction."""
    try:
        fetched = await webhook.fetch(prefer_auth=False)
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
        return None
    return fetched.guild_id


def _text_of(value: str) -> str:
    """Plain text for a message's content: markdown and mentions neutralised."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(value))


def _receipt_ids(receipt: Receipt) -> dict[str, int]:
    """The receipt's Discord ids as ints (snowflakes), or PermanentFailure if it is not one of ours."""
    try:
        ids = {name: int(value) for name, value in receipt.message.items()}
    except ValueError:
        ids = {}
    if receipt.platform != "discord" or not {"channel_id", "message_id"} <= ids.keys():
        raise PermanentFailure(f"not a Discord message receipt: {receipt.describe()}")
    return ids


@asynccontextmanager
async def _delivering(target_key: str) -> AsyncIterator[None]:
    """discord.py's and aiohttp's failures as dockwatch's, for a send or an edit, within SEND_TIMEOUT:
    discord.py sleeps through a 429's ``retry_after`` inline (webhooks without any cap), and a
    Discord answering ``retry_after: 1e9`` must not hang a delivery forever."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            yield
    except discord.RateLimited as error:
        raise RetryLater(f"{target_key}: rate limited", retry_after=error.retry_after) from None
    except discord.HTTPException as error:
        raise _delivery_error(target_key, error) from None
    except (aiohttp.ClientError, TimeoutError) as error:
        raise RetryLater(f"{target_key}: {type(error).__name__}: {error}") from None


def _delivery_error(target_key: str, error: discord.HTTPException) -> Exception:
    text = f"{target_key}: HTTP {error.status} (code {error.code}) {error.text}".strip()
    if error.code == UNKNOWN_MESSAGE:
        return PermanentFailure(f"{text}: the message was deleted")
    if error.code in GONE_CODES or error.status == 404:
        return TargetGone(text)
    if error.code in PAUSE_CODES:
        needs = "Send Messages and Embed Links" if error.code == 50013 else "View Channel"
        return RetryLater(f"{text}: the bot needs {needs} there; paused for an hour", retry_after=PAUSE)
    if error.status == 429 or error.status >= 500:
        return RetryLater(text)
    return PermanentFailure(text)
