"""Notifiers: one file per platform behind the ``Notifier`` protocol, listed in this registry.

``REGISTRY`` maps a config table to the factory of its platform's notifier; adding a platform means
adding one file here, one entry below and one table (with its model) in the config.
"""

from collections.abc import Callable
from typing import Any

import aiohttp

from dockwatch.notifiers.base import Notifier, Target
from dockwatch.notifiers.console import ConsoleNotifier
from dockwatch.notifiers.discord import DiscordNotifier
from dockwatch.notifiers.telegram import TelegramNotifier
from dockwatch.notifiers.webhook import WebhookNotifier

NotifierFactory = Callable[[Any, aiohttp.ClientSession], Notifier]

REGISTRY: dict[str, NotifierFactory] = {
    "webhooks": WebhookNotifier.from_settings,
    "telegram": TelegramNotifier.from_settings,
    "discord": DiscordNotifier.from_settings,
}

__all__ = [
    "REGISTRY",
    "ConsoleNotifier",
    "DiscordNotifier",
    "Notifier",
    "NotifierFactory",
    "Target",
    "TelegramNotifier",
    "WebhookNotifier",
]
