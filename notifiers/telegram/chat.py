"""The Telegram bot inside ``dockwatch run``: chats subscribe, tune and ask what is docked.

Thin glue over python-telegram-bot's ``Application``: parsing and replies here, meaning in
``bot/subscriptions.py``. In groups and channels only administrators may change a chat's
subscription; nothing a chat types can affect another chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from html import escape

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from dockwatch.bot.errors import PlatformUnavailable
from dockwatch.bot.model import SubscriptionFilter
from dockwatch.bot.preferences import Preferences
from dockwatch.bot.subscriptions import (
    KIND_WORDS,
    STATION_CHOICES,
    SUBSCRIBE_USAGE,
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
from dockwatch.notifiers.telegram import chat_key
from dockwatch.notifiers.telegram.notifier import TelegramNotifier
from dockwatch.notifiers.text import local_time

log = logging.getLogger(__name__)

HELP = (
    "<b>dockwatch</b> tells this chat when a vehicle docks at or departs from a space station, "
    "moves to another port, or when a docking webcast goes live.\n\n"
    "/subscribe [docked|departed|relocated|webcast ...] [station ...]: start (or change) alerts, "
    "e.g. <code>/subscribe docked webcast iss</code>\n"
    "/unsubscribe: stop alerts\n"
    "/remind 1h 10m: reminders before planned dockings, departures and events "
    "(at most 4, each 5m to 7d); /remind off stops them\n"
    "/quiet 22:00-07:00 [digest]: quiet hours, when alerts arrive without a sound (or wait for one "
    "digest at the end); /quiet off ends them\n"
    "/timezone Europe/Berlin: this chat's time zone, for times shown here and for quiet hours\n"
    "/settings: this chat's settings, and buttons for kinds and stations\n"
    "/docked: what is docked where now\n"
    "/next: planned dockings, departures and events in the next 7 days\n\n"
    "In groups and channels only administrators may change alerts."
)
COMMANDS = (
    "start",
    "help",
    "subscribe",
    "unsubscribe",
    "remind",
    "quiet",
    "timezone",
    "settings",
    "docked",
    "next",
)
REFUSAL = "Only this chat's administrators can change its alerts."
_ANY_CHAT = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST


class TelegramBot:
    """Long-polls ``getUpdates`` and answers the commands above."""

    def __init__(
        self, notifier: TelegramNotifier, subscriptions: Subscriptions, clock: Callable[[], datetime]
    ) -> None:
        self._subscriptions = subscriptions
        self._clock = clock
        self._pacing = notifier.pacing  # the notifier's: one token, one set of limits
        self.application: Application = ApplicationBuilder().bot(notifier.bot).build()  # type: ignore[type-arg]
        app = self.application
        app.add_handler(CommandHandler(["start", "help"], self._help, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("subscribe", self._subscribe, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("unsubscribe", self._unsubscribe, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("remind", self._remind, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("quiet", self._quiet, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("timezone", self._timezone, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("settings", self._settings, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("docked", self._docked, filters=_ANY_CHAT))
        app.add_handler(CommandHandler("next", self._next, filters=_ANY_CHAT))
        app.add_handler(CallbackQueryHandler(self._toggle, pattern=r"^(toggle|station):"))
        app.add_handler(MessageHandler(filters.COMMAND & _ANY_CHAT, self._unknown))
        app.add_error_handler(self._error)

    async def start(self) -> None:
        try:
            await self.application.initialize()
            await self.application.start()
            assert self.application.updater is not None
            await self.application.updater.start_polling(poll_interval=0.0, timeout=10)
        except InvalidToken:
            raise PlatformUnavailable("telegram.token: rejected by the Telegram Bot API") from None
        except TelegramError as error:
            raise PlatformUnavailable(f"telegram bot not started: {error.message}") from None
        log.info("telegram bot polling username=%s", self.application.bot.username)

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # --- commands ---------------------------------------------------------------------------

    async def _help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, HELP)

    async def _subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or not await _may_change(update, context):
            await self._reply(update, REFUSAL)
            return
        try:
            subscription = parse_subscription(context.args or [])
        except UsageError as error:
            await self._reply(update, escape(str(error)))
            return
        await self._subscriptions.subscribe(
            chat_key(chat.id), notifier="telegram", label=_label(chat), subscription=subscription
        )
        await self._reply(update, f"Subscribed: {escape(describe(subscription))}.")

    async def _unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or not await _may_change(update, context):
            await self._reply(update, REFUSAL)
            return
        if context.args:
            await self._reply(update, "usage: /unsubscribe (no arguments)")
            return
        stopped = await self._subscriptions.unsubscribe(chat_key(chat.id), now=self._clock())
        await self._reply(
            update, "Unsubscribed; no more alerts here." if stopped else "This chat was not subscribed."
        )

    async def _remind(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def change(key: str) -> str:
            leads = parse_remind(context.args or [])
            preferences = await self._subscriptions.set_reminders(key, leads)
            return f"Reminders: {describe_reminders(preferences.reminders)}."

        await self._change(update, context, change)

    async def _quiet(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def change(key: str) -> str:
            quiet = parse_quiet(context.args or [])
            preferences = await self._subscriptions.set_quiet(key, quiet)
            hint = (
                " Set this chat's zone with /timezone."
                if quiet is not None and preferences.timezone is None
                else ""
            )
            return f"Quiet hours: {describe_quiet(preferences)}.{hint}"

        await self._change(update, context, change)

    async def _timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async def change(key: str) -> str:
            zone = parse_timezone(context.args or [])
            preferences = await self._subscriptions.set_timezone(key, zone)
            return (
                f"Time zone: {zone}, where it is {local_clock(preferences.zone, self._clock())} now."
                " Alerts, /next and /docked show times in it, and quiet hours follow it."
            )

        await self._change(update, context, change)

    async def _change(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        change: Callable[[str], Awaitable[str]],
    ) -> None:
        """One path for every command that changes a chat's choices: who may, then what they typed
        (a mistake is answered in one line and changes nothing), then the confirmation."""
        chat = update.effective_chat
        if chat is None or not await _may_change(update, context):
            await self._reply(update, REFUSAL)
            return
        try:
            answer = await change(chat_key(chat.id))
        except UsageError as error:
            answer = str(error)
        await self._reply(update, escape(answer))

    async def _settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or not await _may_change(update, context):
            await self._reply(update, REFUSAL)
            return
        key = chat_key(chat.id)
        current = await self._subscriptions.current(key)
        if current is None:
            await self._reply(update, "This chat is not subscribed yet: " + escape(SUBSCRIBE_USAGE))
            return
        preferences = await self._subscriptions.preferences(key)
        await self._reply(update, _settings_text(current, preferences), markup=_keyboard(current))

    async def _toggle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None:
            return
        if not await _may_change(update, context):
            await query.answer(REFUSAL, show_alert=True)
            return
        action, _, word = (query.data or "").partition(":")
        current = await self._subscriptions.current(chat_key(chat.id))
        valid = word in KIND_WORDS if action == "toggle" else word in STATION_CHOICES or word == "any"
        if not valid or current is None:
            await query.answer("This button is out of date; send /settings again.")
            return
        updated = toggled(current, KIND_WORDS[word]) if action == "toggle" else toggled_station(current, word)
        await self._subscriptions.subscribe(
            chat_key(chat.id), notifier="telegram", label=_label(chat), subscription=updated
        )
        await query.answer(f"Now: {describe(updated)}")
        preferences = await self._subscriptions.preferences(chat_key(chat.id))
        await query.edit_message_text(
            _settings_text(updated, preferences), parse_mode=ParseMode.HTML, reply_markup=_keyboard(updated)
        )

    async def _docked(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        now = self._clock()
        zone = await self._zone(update)
        lines = []
        for place, records in (await self._subscriptions.docked_now(now)).items():
            lines.append(f"<b>{escape(place)}</b>")
            for r in sorted(records, key=lambda r: r.port.name):
                since = f", since {local_time(r.docking, zone)}" if r.docking is not None else ""
                lines.append(
                    f"• {escape(r.port.name)}: {escape(r.vehicle_name)} ({docked_for(r, now)}{since})"
                )
        await self._reply(update, _fit("\n".join(lines)) or "Nothing is docked, as far as LL2 has told us.")

    async def _next(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        items = await self._subscriptions.next_days(self._clock())
        zone = await self._zone(update)
        lines = [
            f"{_weekday_time(item.at, zone)} · {escape(item.what)} · {escape(item.text)}"
            for item in items[:40]
        ]
        await self._reply(update, _fit("\n".join(lines)) or "Nothing planned in the next 7 days.")

    async def _zone(self, update: Update) -> tzinfo:
        """The chat's zone for the times it asks about; anyone may ask, so no permission check."""
        chat = update.effective_chat
        return UTC if chat is None else await self._subscriptions.zone(chat_key(chat.id))

    async def _unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        command = (message.text or "").split()[0] if message is not None and message.text else ""
        addressee = command.partition("@")[2]
        if addressee and addressee.lower() != (context.bot.username or "").lower():
            return  # a command for another bot in the same group
        await self._reply(update, "Unknown command; try /help.")

    async def _reply(self, update: Update, text: str, *, markup: InlineKeyboardMarkup | None = None) -> None:
        message = update.effective_message
        if message is not None:
            async with self._pacing.slot(message.chat_id):
                await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup, do_quote=False)

    async def _error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.warning("telegram update failed error=%s", context.error)


async def _may_change(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Private chats decide for themselves; in groups only administrators; channel posts come from
    admins by construction, as do anonymous admins posting as the group."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if chat.type == ChatType.CHANNEL and update.callback_query is None:
        return True  # only a channel's admins can post in it; a button press is checked below
    message = update.effective_message
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    user = update.effective_user
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


def _fit(text: str, limit: int = 4000) -> str:
    """Cut a long reply at a line break so it stays under Telegram's 4096 characters."""
    if len(text) <= limit:
        return text
    return text[: text.rfind("\n", 0, limit - 2)] + "\n…"


def _label(chat: Chat) -> str:
    return chat.title or chat.username or chat.full_name or str(chat.id)


def _weekday_time(moment: datetime, zone: tzinfo) -> str:
    """'Sun 04 Jan 13:00 CET': a week ahead needs the weekday more than the year."""
    local = moment.astimezone(zone)
    return f"{local:%a %d %b %H:%M} {local.tzname() or 'UTC'}"


def _settings_text(subscription: SubscriptionFilter, preferences: Preferences) -> str:
    lines = [
        f"{label}: <b>{escape(value)}</b>" for label, value in describe_settings(subscription, preferences)
    ]
    lines.append("Tap a kind or a station to switch it; /remind, /quiet and /timezone change the rest.")
    return "\n".join(lines)


def _keyboard(subscription: SubscriptionFilter) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            f"{'✅' if subscription.kinds is None or kind in subscription.kinds else '▫️'} {word}",
            callback_data=f"toggle:{word}",
        )
        for word, kind in KIND_WORDS.items()
    ]
    stations = [
        InlineKeyboardButton(
            f"{'✅' if subscription.stations and word in subscription.stations else '▫️'} {name}",
            callback_data=f"station:{word}",
        )
        for word, name in STATION_CHOICES.items()
    ]
    stations.append(
        InlineKeyboardButton(
            f"{'✅' if subscription.stations is None else '▫️'} any station", callback_data="station:any"
        )
    )
    return InlineKeyboardMarkup([buttons[:2], buttons[2:], stations])
