"""The one protocol every platform implements: render a ``Message`` and send it to one target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from dockwatch.bot.model import Message


def http_url(value: str, *, shown: str | None = None) -> str:
    """Validate an http(s) URL in config; ``shown`` is what the error may print (URLs carry tokens)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {shown if shown is not None else value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Target:
    """Where a notifier can send. ``key`` is stored with each delivery; ``label`` is safe to print."""

    key: str
    notifier: str
    label: str


class Notifier(Protocol):
    """A platform. ``send`` returns when the platform accepted the message, else raises.

    Failures are ``bot.errors.DeliveryError`` subclasses: ``RetryLater`` (transient, maybe with the
    platform's ``retry_after``), ``PermanentFailure`` (this message can never go there) and
    ``TargetGone`` (the target must be disabled). Anything else is treated as transient.
    """

    name: str

    def targets(self) -> Sequence[Target]:
        """The targets the config names (chat subscriptions come from the store instead)."""
        ...

    def handles(self, target_key: str) -> bool:
        """Whether ``target_key`` is one this notifier can still send to."""
        ...

    async def send(self, target_key: str, message: Message, *, delivery_id: int) -> str | None:
        """Deliver; return the target's new key if the platform moved it (else ``None``)."""
        ...
