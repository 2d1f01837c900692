"""Telegram (python-telegram-bot): HTML messages to chats, paced the way the Bot API limits them.

Limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): about 30
messages a second overall, one a second per chat, 20 a minute per group or channel. They are kept
proactively; a 429 that still comes back postpones only that chat, by the ``retry_after`` it names.
An edit of a sent message (found through its receipt) takes a place in the same windows.

A chat whose quiet hours hold its messages gets one digest when they end: a line per message (its
headline and time), at most 4096 characters. A digest is never edited: a correction of a message
it listed is posted on its own.

A correction edits the original (``editMessageText``, or ``editMessageCaption`` when the receipt says
the original was a photo) and replies to it with a short correction, since an edit notifies nobody.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, timedelta, tzinfo
from html import escape
from typing import Any, assert_never

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter, TelegramError

from dockwatch.bot.errors import PermanentFailure, PlatformUnavailable, RetryLater, TargetGone
from dockwatch.bot.model import KINDS, ChangeKind, Message, Receipt
from dockwatch.notifiers.base import (
    PLAIN,
    Presentation,
    Target,
    digest_receipt,
    edit_into_correction,
    is_digest,
)
from dockwatch.notifiers.pacing import KeyedWindows, SlidingWindow
from dockwatch.notifiers.telegram import PLATFORM, PREFIX, TelegramConfig, chat_key, chat_of
from dockwatch.notifiers.text import (
    DIGEST_TITLE,
    correction_line,
    correction_reply,
    details,
    digest_time,
    fit_lines,
    headline,
    http_link,
)

MAX_FIELD = 200  # characters of one LL2 string; keeps every message far below 4096
MAX_URL = 1000
MAX_CAPTION = 1024
MAX_REPLY = 1000  # the correction reply names the vehicle and the place, both LL2 strings
MAX_MESSAGE = 4096
MAX_DIGEST_LINE = 300  # a headline names the vehicle and the place: two LL2 strings
TEXT, PHOTO = "text", "photo"
"""What a receipt's ``sent_as`` says the message was: it decides how the message is edited."""

log = logging.getLogger(__name__)


class _NoPageDumps(logging.Filter):
    """python-telegram-bot logs the whole body of an answer that is not JSON (a proxy's HTML error
    page, often many lines) before it raises; the error logged next says what happened in one line
    ("Bad Gateway (502)"), so the dump is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Can not load invalid JSON data")


_NO_PAGE_DUMPS = _NoPageDumps()


def render_html(message: Message, zone: tzinfo = UTC) -> str:
    """The message in Telegram's HTML: every LL2 string escaped and bounded, times in the chat's
    ``zone``; a correction says what LL2 tells now under its headline."""
    lines = _heading(message, zone)
    lines += [
        f"<b>{escape(label)}:</b> {_text(value)}"
        for label, value in details(message, zone)
        if label != "Watch"
    ]
    match message.kind:
        case (
            ChangeKind.DOCKED
            | ChangeKind.DEPARTED
            | ChangeKind.RELOCATED
            | ChangeKind.DOCKING_REMINDER
            | ChangeKind.DEPARTURE_REMINDER
            | ChangeKind.TEST
        ):
            pass
        case ChangeKind.WEBCAST_STARTED | ChangeKind.EVENT_REMINDER:
            # A link rather than the "Watch" row: the URL would be clipped like any LL2 string.
            if (url := http_link(message.webcast_url, MAX_URL)) is not None:
                lines.append(f'<a href="{escape(url, quote=True)}">Watch the webcast</a>')
        case _:
            assert_never(message.kind)
    return "\n".join(lines)


def _heading(message: Message, zone: tzinfo = UTC) -> list[str]:
    lines = [f"{KINDS[message.kind].emoji} <b>{_text(headline(message))}</b>"]
    if (line := correction_line(message, zone)) is not None:
        lines.append(f"<i>{escape(line, quote=False)}</i>")
    return lines


def render_caption(message: Message, zone: tzinfo = UTC) -> str:
    """The message as a photo's caption (1024 characters): the whole of it when it fits, else its
    headline (and correction line)."""
    text = render_html(message, zone)
    if len(text) <= MAX_CAPTION:  # the HTML's length bounds the length Telegram counts
        return text
    return "\n".join(_heading(message, zone))


def render_reply(message: Message, zone: tzinfo = UTC) -> str:
    """The short correction posted in reply to the corrected message."""
    text = correction_reply(message, zone)
    if len(text) > MAX_REPLY:
        text = text[: MAX_REPLY - 1] + "…"
    return escape(text, quote=False)


def render_digest(messages: Sequence[Message], zone: tzinfo = UTC) -> str:
    """One line per message, "🛰 Cygnus NG-23 docked at International Space Station · 03:12 CET",
    within Telegram's 4096 characters (counted on the HTML, which is never shorter than the text
    Telegram counts), the rest counted in "… and 3 more"."""
    lines = [
        f"{KINDS[message.kind].emoji} {_text(headline(message), MAX_DIGEST_LINE)}"
        f" · {escape(digest_time(message.occurred_at, zone), quote=False)}"
        for message in messages
    ]
    return fit_lines([f"🌙 <b>{escape(DIGEST_TITLE)}</b>"], lines, MAX_MESSAGE)


def preview_url(message: Message) -> str | None:
    """The link shown as the message's preview: the webcast, else the vehicle image."""
    return http_link(message.webcast_url, MAX_URL) or http_link(message.image_url, MAX_URL)


def _text(value: str, limit: int = MAX_FIELD) -> str:
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return escape(value, quote=False)


class TelegramPacing:
    """The three Bot API limits as sliding windows; ``slot(chat)`` holds a place in all that apply."""

    def __init__(self, *, per_second: int = 30, per_chat_second: int = 1, per_group_minute: int = 20) -> None:
        self.overall = SlidingWindow(per_second, 1.0)
        self.chats = KeyedWindows(lambda: SlidingWindow(per_chat_second, 1.0))
        self.groups = KeyedWindows(lambda: SlidingWindow(per_group_minute, 60.0))

    @asynccontextmanager
    async def slot(self, chat: int | str) -> AsyncIterator[None]:
        taken: list[tuple[SlidingWindow, list[float]]] = []
        try:
            for window in self._windows(chat):
                # Finished below even when the send is cancelled while waiting for the next window.
                taken.append((window, await window.acquire()))
            yield
        finally:
            for window, box in taken:
                window.finish(box)

    def _windows(self, chat: int | str) -> Iterator[SlidingWindow]:
        """The windows a message to ``chat`` takes, the slowest first, so a place in the overall
        window is never held while waiting. Each is looked up only when it is its turn: a chat's
        window looked up before waiting for the group's could be forgotten as idle meanwhile, and a
        second one made for the same chat."""
        if _is_group(chat):
            yield self.groups[chat]
        yield self.chats[chat]
        yield self.overall


def _is_group(chat: int | str) -> bool:
    """Groups, supergroups and channels have negative ids; public channels go by @username."""
    return isinstance(chat, str) or chat < 0


class TelegramNotifier:
    """Sends to static chats from the config and to chats that subscribed with /subscribe.

    ``bot`` and ``pacing`` are shared with the chat front-end: one token, one set of limits.
    """

    name = "telegram"

    def __init__(self, config: TelegramConfig, bot: Bot, *, pacing: TelegramPacing | None = None) -> None:
        logging.getLogger("telegram.request.BaseRequest").addFilter(_NO_PAGE_DUMPS)  # once: same object
        self.config = config
        self.bot = bot
        self.pacing = pacing or TelegramPacing()

    @classmethod
    def from_settings(cls, settings: TelegramConfig) -> TelegramNotifier:
        return cls(settings, Bot(settings.token.get_secret_value(), base_url=settings.api_base_url))

    async def start(self) -> None:
        """``getMe``: a refused token or an unreachable Bot API is reported here, once."""
        try:
            await self.bot.initialize()
        except InvalidToken:
            raise PlatformUnavailable("telegram.token: rejected by the Telegram Bot API") from None
        except TelegramError as error:
            raise PlatformUnavailable(
                f"telegram: getMe failed: {type(error).__name__}: {error.message}"
            ) from None

    async def close(self) -> None:
        await self.bot.shutdown()

    def targets(self) -> Sequence[Target]:
        return PLATFORM.targets(self.config)

    def handles(self, target_key: str) -> bool:
        return target_key.startswith(PREFIX) and len(target_key) > len(PREFIX)

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        return await self._deliver(
            target_key,
            lambda chat: self._post(
                chat, render_html(message, presentation.zone), presentation, _preview_options(message)
            ),
        )

    async def send_digest(
        self,
        target_key: str,
        messages: Sequence[Message],
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """The messages held through the chat's quiet hours, in one message without previews."""
        text = render_digest(messages, presentation.zone)
        no_preview = LinkPreviewOptions(is_disabled=True)
        receipt = await self._deliver(
            target_key, lambda chat: self._post(chat, text, presentation, no_preview)
        )
        return digest_receipt(receipt)

    async def _deliver(
        self, target_key: str, post: Callable[[int | str], Awaitable[TelegramMessage]]
    ) -> Receipt:
        chat = chat_of(target_key)
        try:
            sent = await post(chat)
            return self._receipt(sent)
        except ChatMigrated as migrated:
            # The group became a supergroup: deliver there, once, and tell the dispatcher.
            new_chat = migrated.new_chat_id
            try:
                sent = await post(new_chat)
            except TelegramError as error:
                raise _delivery_error(new_chat, error) from None
            return self._receipt(sent, moved_to=chat_key(new_chat))
        except TelegramError as error:
            raise _delivery_error(chat, error) from None

    def _receipt(self, sent: TelegramMessage, moved_to: str | None = None) -> Receipt:
        return Receipt(
            platform=self.name,
            message={"chat_id": sent.chat_id, "message_id": sent.message_id, "sent_as": TEXT},
            moved_to=moved_to,
        )

    async def edit(self, receipt: Receipt, message: Message, presentation: Presentation = PLAIN) -> Receipt:
        """Replace the text (or a photo's caption) of a message sent earlier; unchanged text counts
        as done. A receipt without ``sent_as`` is a text message: dockwatch sent nothing else."""
        if is_digest(receipt):
            raise PermanentFailure(f"a digest lists several messages, it is not edited: {receipt.describe()}")
        chat, message_id = receipt.message.get("chat_id"), receipt.message.get("message_id")
        sent_as = receipt.message.get("sent_as", TEXT)
        if (
            receipt.platform != self.name
            or chat is None
            or not isinstance(message_id, int)
            or sent_as not in (TEXT, PHOTO)
        ):
            raise PermanentFailure(f"not a Telegram message receipt: {receipt.describe()}")
        try:
            async with self.pacing.slot(chat):
                if sent_as == PHOTO:
                    await self.bot.edit_message_caption(
                        chat_id=chat,
                        message_id=message_id,
                        caption=render_caption(message, presentation.zone),
                        parse_mode=ParseMode.HTML,
                    )
                else:
                    await self.bot.edit_message_text(
                        render_html(message, presentation.zone),
                        chat_id=chat,
                        message_id=message_id,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=_preview_options(message),
                    )
        except BadRequest as error:
            reason = error.message.lower()
            if "message is not modified" not in reason:
                where = f"telegram chat {chat} message {message_id}"
                if "message to edit not found" in reason:
                    raise PermanentFailure(f"{where}: {error.message} (deleted?)") from None
                raise _delivery_error(chat, error) from None
        except ChatMigrated as error:
            # The old group is read-only now; its messages stay there, out of our reach.
            raise PermanentFailure(f"telegram chat {chat}: {error.message}") from None
        except TelegramError as error:
            raise _delivery_error(chat, error) from None
        return Receipt(
            platform=self.name, message={"chat_id": chat, "message_id": message_id, "sent_as": sent_as}
        )

    async def correct(
        self,
        target_key: str,
        message: Message,
        original: Receipt,
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """Edit the original into the correction, then reply to it so the chat is told (REFINED: the
        edit alone). An original that cannot be edited (deleted, or left behind in a group that
        became a supergroup) gets the correction alone, posted as ``send`` does (following the
        group to its new id)."""
        edited, done = await edit_into_correction(
            self, target_key, message, original, delivery_id=delivery_id, presentation=presentation
        )
        if done:
            return edited
        chat, message_id = edited.message["chat_id"], edited.message["message_id"]
        assert isinstance(message_id, int)  # edit() checked it
        try:
            async with self.pacing.slot(chat):
                sent = await self.bot.send_message(
                    chat,
                    render_reply(message, presentation.zone),
                    parse_mode=ParseMode.HTML,
                    disable_notification=presentation.silent,
                    # Deleted between the edit and now: the correction still lands, unattached.
                    reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except TelegramError as error:
            raise _delivery_error(chat, error) from None
        return self._receipt(sent)

    async def _post(
        self, chat: int | str, html: str, presentation: Presentation, preview: LinkPreviewOptions
    ) -> TelegramMessage:
        async with self.pacing.slot(chat):
            return await self.bot.send_message(
                chat,
                html,
                parse_mode=ParseMode.HTML,
                disable_notification=presentation.silent,
                link_preview_options=preview,
            )


def _preview_options(message: Message) -> LinkPreviewOptions:
    preview = preview_url(message)
    if preview is None:
        return LinkPreviewOptions(is_disabled=True)
    return LinkPreviewOptions(url=preview, prefer_large_media=True)


def _delivery_error(chat: int | str, error: TelegramError) -> Exception:
    """PTB's errors as dockwatch's. Order matters: ``BadRequest`` and ``TimedOut`` are
    ``NetworkError`` subclasses, and a bad request must never be retried blindly."""
    where = f"telegram chat {chat}"
    if isinstance(error, RetryAfter):
        return RetryLater(f"{where}: {error.message}", retry_after=_seconds(error))
    if isinstance(error, Forbidden):
        return TargetGone(f"{where}: {error.message}")
    if isinstance(error, BadRequest):
        if "chat not found" in error.message.lower():
            return TargetGone(f"{where}: {error.message}")
        return PermanentFailure(f"{where}: {error.message}")
    # TimedOut, other NetworkErrors, InvalidToken (fixable in the config while we retry), the rest.
    return RetryLater(f"{where}: {type(error).__name__}: {error.message}")


def _seconds(error: RetryAfter) -> float:
    value: Any = error._retry_after  # PTB keeps it as a timedelta; the public property warns
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
