"""The exception tree: every failure a user can meet is one of these, turned into one line by the CLI."""

from __future__ import annotations

import re
from datetime import datetime


class DockwatchError(Exception):
    """Base of every error dockwatch reports to a person instead of a traceback."""


class ConfigError(DockwatchError):
    """The configuration cannot be used; the message names the file and key."""


class UpstreamError(DockwatchError):
    """LL2 did not give a usable answer; the cycle stops before detection."""


class BudgetExhausted(UpstreamError):
    """Calling LL2 now would exceed the rolling request budget."""

    def __init__(self, message: str, next_allowed_at: datetime) -> None:
        super().__init__(message)
        self.next_allowed_at = next_allowed_at


class ResourceUnavailable(DockwatchError):
    """Something the process needs is taken or missing right now (a port in use): not a config error,
    so a supervisor restarting on failure tries again (exit 69, EX_UNAVAILABLE)."""


class StorageError(DockwatchError):
    """The state store could not be read or written."""


class LeaseLost(StorageError):
    """A poll's results were not recorded: this instance no longer holds the poller lease, and the
    instance that took it over polls (and records) instead."""


class StorageUnavailable(StorageError):
    """The database dropped the connection or could not be reached (a restart, a failover, a
    terminated backend): the same write may well succeed a moment later."""


class PlatformUnavailable(DockwatchError):
    """A platform cannot start (a rejected token, its API unreachable); the others carry on.

    ``scope`` narrows what waits: ``"channel"`` holds back only the platform's ``<name>:channel:``
    targets (a Discord bot token refused while its channel webhooks still work).
    """

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope


class DeliveryError(DockwatchError):
    """A notifier could not deliver one message to one target.

    Subclasses carry what the dispatcher needs to decide: retry later, give up, or disable the target.
    """


class RetryLater(DeliveryError):
    """A transient failure; ``retry_after`` (seconds) is the platform's own hint, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """This message can never be delivered to this target; retrying would not help."""


class TargetGone(DeliveryError):
    """The target no longer exists or refuses us for good (HTTP 410, blocked bot, deleted webhook)."""


_CREDENTIALS = re.compile(r"^([A-Za-z][\w+.-]*:/{0,2})?[^@/]*@")


def without_credentials(url: str) -> str:
    """``url`` as it may be shown: whatever precedes an ``@`` (user and password) masked, even when
    the rest does not parse as a URL (a mistyped URL still carries its password)."""
    return _CREDENTIALS.sub(lambda match: f"{match.group(1) or ''}***@", url, count=1)
