"""The protocols every platform implements, and the few helpers their config models share.

A platform is one unit: a ``Platform`` object (its config table, how its targets are listed and
shown, how its notifier and optional chat front-end are built) exported by one module and
registered under the entry-point group ``dockwatch.platforms``. The platform module must import
without its SDK; the SDK is imported when ``notifier()`` is first called.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TextIO, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator

from dockwatch.bot.errors import PermanentFailure
from dockwatch.bot.model import Message, Receipt, Revision
from dockwatch.bot.preferences import (
    NOT_CONFIGURED,
    QUIET_USAGE,
    ConfiguredPreferences,
    QuietHours,
    parse_leads,
    parse_zone,
)

if TYPE_CHECKING:
    import aiohttp

    from dockwatch.bot.subscriptions import Subscriptions

ENTRY_POINT_GROUP = "dockwatch.platforms"
log = logging.getLogger(__name__)


def http_url(value: str, *, shown: str | None = None) -> str:
    """Validate an http(s) URL in config; ``shown`` is what the error may print (URLs carry tokens)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {shown if shown is not None else repr(value)}")
    return value


def mask_url(url: str) -> str:
    """Scheme and host only: webhook paths and queries often carry tokens. A URL written without its
    scheme (``hooks.example.com/hook/TOKEN``) keeps its first part, as written."""
    parts = urlsplit(url)
    if not parts.netloc:
        host, slash, rest = url.partition("/")
        return host.rpartition("@")[2] + ("/…" if slash and rest.strip("/") else "")
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{tail}"


_URL_IN_TEXT = re.compile(r"""https?://[^\s'"<>]+""")


def redact_urls(text: str) -> str:
    """Every URL in an error text masked like ``check-config`` shows it: libraries put whole URLs,
    tokens and all, into their exception messages, and those texts reach logs and ``status``."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """Masks every URL in the records of a library logger that puts whole URLs, tokens and all, into
    its messages (discord.py's webhook logger, at DEBUG), before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTING = RedactingFilter()


def list_from_text(value: object) -> object:
    """A list key set from the environment arrives as text: a JSON array or comma-separated items."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is neither a JSON array nor comma-separated values") from None
        return parsed
    return [item.strip() for item in text.split(",") if item.strip()]


def _leads(value: object) -> object:
    value = list_from_text(value)
    if not isinstance(value, list):
        raise ValueError(f'must be a list of lead times like ["1h", "10m"], got {value!r}')
    return parse_leads(value)


def _quiet(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"{QUIET_USAGE}, got {value!r}")
    if not value.strip():
        return None  # empty is unset, as config.example.toml shows the default and as for every key
    return QuietHours.parse(value)


def _zone(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"must be a time zone name like 'Europe/Berlin', got {value!r}")
    if not value.strip():
        return None  # empty is unset, as for ``quiet``
    return parse_zone(value).key


Leads = Annotated[tuple[timedelta, ...], BeforeValidator(_leads)]
"""``reminders = ["1h", "10m"]`` in a platform's config table."""
Quiet = Annotated[QuietHours | None, BeforeValidator(_quiet)]
"""``quiet = "22:00-07:00"`` (or ``"22:00-07:00 digest"``) in a chat platform's config table."""
ZoneName = Annotated[str | None, BeforeValidator(_zone)]
"""``timezone = "Europe/Berlin"``: an IANA zone name, checked (with "did you mean")."""


def configured_preferences(
    reminders: tuple[timedelta, ...] | None, quiet: QuietHours | None = None, timezone: str | None = None
) -> ConfiguredPreferences:
    return ConfiguredPreferences(reminders=reminders, quiet=quiet, timezone=timezone)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a notifier can send. ``key`` is stored with each delivery; ``label`` is safe to print."""

    key: str
    notifier: str
    label: str
    preferences: ConfiguredPreferences = NOT_CONFIGURED
    """What the config chose for it (reminders, quiet hours, zone); unset choices are the chat's."""


@dataclass(frozen=True, slots=True)
class Presentation:
    """How one delivery is shown, from its target's choices at the time it is sent: ``silent`` in the
    target's quiet hours (delivered without a sound), and times in ``zone``."""

    silent: bool = False
    zone: tzinfo = UTC


PLAIN = Presentation()


class Notifier(Protocol):
    """A platform's sender. ``send`` returns a ``Receipt`` when the platform accepted the message.

    Failures are ``dockwatch.bot.errors.DeliveryError`` subclasses: ``RetryLater`` (transient, maybe
    with the platform's ``retry_after``), ``PermanentFailure`` (this message can never go there) and
    ``TargetGone`` (the target must be disabled). Anything else is treated as transient.
    """

    name: str

    async def start(self) -> None:
        """Log in or check the credentials; raise ``PlatformUnavailable`` in one line if it cannot."""
        ...

    async def close(self) -> None: ...

    def targets(self) -> Sequence[Target]:
        """The targets the config names (chat subscriptions come from the store instead)."""
        ...

    def handles(self, target_key: str) -> bool:
        """Whether ``target_key`` is one this notifier can still send to."""
        ...

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        """Deliver one message to one target; ``delivery_id`` makes retries idempotent.

        ``presentation`` asks for a silent message (a platform that has no such thing ignores it)
        and for times in the target's zone (where the platform does not show each reader their own)."""
        ...


@runtime_checkable
class EditingNotifier(Notifier, Protocol):
    """A notifier that can change a message it sent, found again through its receipt."""

    async def edit(
        self, receipt: Receipt, message: Message, presentation: Presentation = PLAIN
    ) -> Receipt: ...


@runtime_checkable
class DigestingNotifier(Notifier, Protocol):
    """A notifier that can sum several messages up in one: what a target whose quiet hours hold its
    messages (``22:00-07:00 digest``) is sent when they end, instead of a burst of separate messages.

    Optional: only targets of a platform that has it are ever held; held deliveries that reach a
    notifier without it anyway (a platform changed under a target) are sent one by one.
    """

    async def send_digest(
        self,
        target_key: str,
        messages: Sequence[Message],
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """Deliver one message listing ``messages`` (oldest first), within the platform's length
        limit: what does not fit is counted in a last line, "… and 3 more". ``delivery_id`` is the
        first message's delivery. The receipt is marked (``digest_receipt``): the digest speaks for
        several messages, so it is never edited into a correction of one of them."""
        ...


DIGEST_MARK = "digest"
"""The key in ``Receipt.message`` that marks a digest's receipt."""


def digest_receipt(receipt: Receipt) -> Receipt:
    """``receipt`` marked as a digest's: ``edit`` refuses it, so a correction of one of the messages
    it listed is posted as a message of its own instead of wiping the whole digest."""
    return receipt.model_copy(update={"message": {**receipt.message, DIGEST_MARK: 1}})


def is_digest(receipt: Receipt) -> bool:
    return receipt.message.get(DIGEST_MARK) == 1


@runtime_checkable
class CorrectingNotifier(Notifier, Protocol):
    """A notifier that can bring a message it sent in line when LL2 changes its mind.

    ``message.correction`` is set; ``original`` is the receipt of this target's earlier message.
    For ``RESCHEDULED`` and ``WITHDRAWN`` the earlier message is edited (marked as a correction)
    and a short correction is posted as a reply to it, since an edit alone notifies nobody; for
    ``REFINED`` it is only edited. Where the earlier message can no longer be edited, the reply (or
    a standalone message) alone is the correction. Notifiers without ``correct`` get ``send``.
    """

    async def correct(
        self,
        target_key: str,
        message: Message,
        original: Receipt,
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt: ...


async def edit_into_correction(
    notifier: EditingNotifier,
    target_key: str,
    message: Message,
    original: Receipt,
    *,
    delivery_id: int,
    presentation: Presentation = PLAIN,
) -> tuple[Receipt, bool]:
    """The half of ``correct`` every chat platform shares: edit ``original`` into ``message``.

    Returns a receipt and whether the correction is complete: a refinement is the edit alone, and an
    original that cannot be edited (deleted, not ours, left behind) gets the correction posted alone
    through ``send``. Otherwise the caller replies to the edited message, whose receipt it gets.
    """
    try:
        edited = await notifier.edit(original, message, presentation)
    except PermanentFailure as error:
        log.info(
            "%s original not editable, correction posted alone key=%s target=%s error=%s",
            notifier.name,
            message.key,
            target_key,
            redact_urls(str(error)),
        )
        sent = await notifier.send(target_key, message, delivery_id=delivery_id, presentation=presentation)
        return sent, True
    correction = message.correction
    return edited, correction is None or correction.reason is Revision.REFINED


class FrontEnd(Protocol):
    """A platform's chat commands (Telegram /subscribe, Discord /dockwatch), run beside delivery."""

    async def start(self) -> None:
        """Begin answering; raise ``PlatformUnavailable`` when the platform refuses us."""
        ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PlatformContext:
    """What a process lends its platforms: shared resources, never the orchestration itself."""

    session: aiohttp.ClientSession
    clock: Callable[[], datetime]
    subscriptions: Subscriptions | None = None
    console: TextIO | None = None


class Platform(Protocol):
    """One delivery platform, as the CLI, the config loader and the runtime see it.

    ``table`` is its config table; ``many`` says whether it is an array of tables
    (``[[webhooks]]``) or one table (``[telegram]``). ``settings`` is always an instance of
    ``settings_model`` (or a list of them when ``many``).
    """

    @property
    def name(self) -> str:
        """The target-key prefix and the notifier's name: ``webhook``, ``discord``, ..."""
        ...

    @property
    def table(self) -> str: ...

    @property
    def many(self) -> bool: ...

    @property
    def settings_model(self) -> type[BaseModel]: ...

    def targets(self, settings: Any) -> Sequence[Target]:
        """The configured targets with safe labels, without importing the SDK."""
        ...

    def describe(self, settings: Any) -> list[str]:
        """``check-config`` lines, every secret masked."""
        ...

    def notifier(self, settings: Any, context: PlatformContext) -> Notifier:
        """Build the sender (importing the SDK here, not at module import)."""
        ...

    def front_end(self, settings: Any, notifier: Notifier, context: PlatformContext) -> FrontEnd | None:
        """The chat front-end sharing ``notifier``'s client, if the platform has one configured.

        Optional: a platform object without ``front_end`` has no chat front-end.
        """
        ...


@runtime_checkable
class MovablePlatform(Platform, Protocol):
    """A platform whose targets can change address (a Telegram group that became a supergroup).

    Optional: for any other platform ``check-config`` and ``status`` name the two target keys of a
    move and say to update the config.
    """

    def describe_move(self, settings: Any, old_key: str, new_key: str, moved_at: datetime) -> str:
        """The ``check-config`` and ``status`` line for a configured target that now lives at
        ``new_key``: what to write in the config instead."""
        ...
