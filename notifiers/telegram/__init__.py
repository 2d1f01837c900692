"""The Telegram platform: HTML messages to chats, and a bot that lets chats subscribe themselves.

This module imports without python-telegram-bot: the CLI lists and masks Telegram targets from the
config alone; ``notifier.py`` and ``chat.py`` (python-telegram-bot) are imported when it is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

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

PREFIX = "telegram:"


class TelegramConfig(BaseModel):
    """The ``[telegram]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    chat_ids: list[int | str] = []
    api_base_url: str = "https://api.telegram.org/bot"
    reminders: Leads | None = None
    """Lead times for the static chats (``chat_ids``); a chat changes its own with /remind."""
    quiet: Quiet | None = None
    """Quiet hours for the static chats, in ``timezone``."""
    timezone: ZoneName | None = None
    """The static chats' zone: the times they read and their quiet hours."""

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # Never echo it: the error names the shape, not the value.
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{35,}", value.get_secret_value()):
            raise ValueError(
                "is not a bot token: it looks like 123456789:AAH... (digits, ':' and 35 or more letters, "
                "digits, '_' or '-'), as @BotFather gives it"
            )
        return value

    @field_validator("chat_ids", mode="before")
    @classmethod
    def _chat_list(cls, value: object) -> object:
        return list_from_text(value)

    @field_validator("chat_ids")
    @classmethod
    def _chat_ids(cls, value: list[int | str]) -> list[int | str]:
        chats: list[int | str] = []
        for chat in value:
            if isinstance(chat, str) and re.fullmatch(r"-?\d+", chat.strip()):
                chat = int(chat)  # "-100123", as "${CHAT}" or the environment gives it
            if isinstance(chat, str) and not (chat.startswith("@") and len(chat) > 1):
                raise ValueError(f"{chat!r} is neither a numeric chat id nor an @channelusername")
            chats.append(chat)
        return chats

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


def chat_key(chat_id: int | str) -> str:
    return f"{PREFIX}{chat_id}"


def chat_of(target_key: str) -> int | str:
    raw = target_key.removeprefix(PREFIX)
    return int(raw) if raw.lstrip("-").isdigit() else raw


class TelegramPlatform:
    """``[telegram]``: static chats from the config, and chats that /subscribe (with ``run``)."""

    name = "telegram"
    table = "telegram"
    many = False
    settings_model = TelegramConfig

    def targets(self, settings: TelegramConfig) -> Sequence[Target]:
        chosen = configured_preferences(settings.reminders, settings.quiet, settings.timezone)
        return [
            Target(chat_key(chat), self.name, f"Telegram chat {chat}", chosen) for chat in settings.chat_ids
        ]

    def subscribable(self, settings: TelegramConfig) -> bool:
        """Chats subscribe themselves with /subscribe (with ``dockwatch run``)."""
        return True

    def describe(self, settings: TelegramConfig) -> list[str]:
        lines = [f"telegram chat {chat}  token: hidden" for chat in settings.chat_ids]
        return [*lines, "telegram bot           chats may /subscribe themselves (with dockwatch run)"]

    def describe_move(self, settings: TelegramConfig, old_key: str, new_key: str, moved_at: datetime) -> str:
        """A group in ``chat_ids`` became a supergroup: dockwatch sends to the new id, the file should
        say it too (a copy of the config, or a database started afresh, would try the old id again)."""
        old, new = chat_of(old_key), chat_of(new_key)
        fix = (
            f"remove {old} from the config ({new} is there already)"
            if new in settings.chat_ids
            else f"write {new} in the config"
        )
        return f"telegram.chat_ids: chat {old} became {new} (a supergroup) on {moved_at:%Y-%m-%d}; {fix}"

    def notifier(self, settings: TelegramConfig, context: PlatformContext) -> Notifier:
        from dockwatch.notifiers.telegram.notifier import TelegramNotifier

        return TelegramNotifier.from_settings(settings)

    def front_end(
        self, settings: TelegramConfig, notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        if context.subscriptions is None:
            return None
        from dockwatch.notifiers.telegram.chat import TelegramBot
        from dockwatch.notifiers.telegram.notifier import TelegramNotifier

        assert isinstance(notifier, TelegramNotifier)
        return TelegramBot(notifier, context.subscriptions, context.clock)


PLATFORM = TelegramPlatform()
