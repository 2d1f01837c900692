"""Notifiers: one file per platform behind the ``Notifier`` protocol, listed in this registry."""

from notifiers.base import Notifier, Target
from notifiers.console import ConsoleNotifier
from notifiers.webhook import WebhookNotifier

REGISTRY: dict[str, type[Notifier]] = {
    ConsoleNotifier.name: ConsoleNotifier,
    WebhookNotifier.name: WebhookNotifier,
}

__all__ = ["REGISTRY", "ConsoleNotifier", "Notifier", "Target", "WebhookNotifier"]
