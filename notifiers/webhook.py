"""Signed outbound webhooks per Standard Webhooks (https://www.standardwebhooks.com/).

The body is built from the stored message alone, so it is byte-identical on every retry; only
``webhook-timestamp`` and the signature change. ``webhook-id`` is the notification key, which
receivers use to drop a duplicate should a crash make us send twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, assert_never

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dockwatch import __version__
from dockwatch.bot.errors import RetryLater, TargetGone
from dockwatch.bot.model import KINDS, ChangeKind, Correction, Message, Receipt, Revision
from dockwatch.bot.retry_after import parse_retry_after
from dockwatch.notifiers.base import (
    PLAIN,
    FrontEnd,
    Leads,
    Notifier,
    PlatformContext,
    Presentation,
    Target,
    configured_preferences,
    http_url,
    mask_url,
)

# aiohttp loads with the first send: listing and masking targets (check-config) needs none of it.
if TYPE_CHECKING:
    import aiohttp

TIMEOUT_SECONDS = 15
LONGEST_RETRY_AFTER = timedelta(hours=24)
"""A receiver's ``Retry-After`` never postpones past the dead-letter deadline (24 h) anyway."""
SECRET_PREFIX = "whsec_"


class WebhookConfig(BaseModel):
    """One ``[[webhooks]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(repr=False)  # paths and queries often carry tokens
    secret: SecretStr
    name: str | None = None
    reminders: Leads | None = None
    """Lead times: ``docking.reminder`` (and the others) this long before each planned time."""
    quiet: object = None
    """Refused: a receiving system does not sleep (the key exists only to say so in one line)."""

    @field_validator("quiet")
    @classmethod
    def _no_quiet_hours(cls, value: object) -> object:
        if value is not None:
            raise ValueError(
                "webhooks get no quiet hours (a receiving system does not sleep): remove it, or set"
                " quiet hours on a chat target ([telegram] or [discord])"
            )
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, shown=repr(mask_url(value)))

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, value: SecretStr) -> SecretStr:
        secret_key(value.get_secret_value())
        return value


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not valid base64") from None
    if len(key) < 16:
        raise ValueError("is too short: use at least 16 random bytes (24 base64 characters)")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(message: Message) -> dict[str, Any]:
    """The public contract: ``{"type", "timestamp", "data"}``; see ``webhook.schema.json``.

    A correction is ``notification.corrected`` (``data.corrects``, ``reason``, ``expected`` when LL2
    gives a time, ``original_type``) or ``notification.updated`` (``data.updates``,
    ``original_type``), followed by the fact's fields as LL2 now tells them.
    """
    data = message.model_dump(
        mode="json", exclude={"kind", "key", "occurred_at", "correction"}, exclude_none=True
    )
    if message.kind is ChangeKind.TEST:
        data = {}  # about no fact: nothing a receiver could mistake for one
    body_type = KINDS[message.kind].webhook_type
    if message.correction is not None:
        body_type = message.correction.reason.webhook_type
        data = _correction_fields(message.correction, original_type=KINDS[message.kind].webhook_type) | data
    return {
        "type": body_type,
        "timestamp": message.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def _correction_fields(correction: Correction, *, original_type: str) -> dict[str, Any]:
    fields = correction.model_dump(mode="json", exclude_none=True)  # expected: formatted like every time
    match correction.reason:
        case Revision.RESCHEDULED | Revision.WITHDRAWN:
            head = {"corrects": fields["corrects"], "reason": fields["reason"]}
            if "expected" in fields:
                head["expected"] = fields["expected"]
            return head | {"original_type": original_type}
        case Revision.REFINED:
            return {"updates": fields["corrects"], "original_type": original_type}
        case _:
            assert_never(correction.reason)


def target_key(url: str) -> str:
    return "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16]


class WebhookNotifier:
    """POSTs one signed JSON body per delivery; 2xx delivers, 410 disables, anything else retries."""

    name = "webhook"

    def __init__(
        self,
        configs: Sequence[WebhookConfig],
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._hooks = {target_key(c.url): c for c in configs}

    async def start(self) -> None:
        return None  # nothing to log in to: each receiver answers for itself

    async def close(self) -> None:
        return None

    @property
    def timeout(self) -> float:
        """Seconds a receiver has to answer before the attempt counts as failed."""
        return self._timeout

    def targets(self) -> Sequence[Target]:
        return PLATFORM.targets(list(self._hooks.values()))

    def handles(self, target_key: str) -> bool:
        return target_key in self._hooks

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        import aiohttp

        config = self._hooks[target_key]
        body = json.dumps(webhook_body(message), separators=(",", ":"), ensure_ascii=False).encode()
        now = self._clock()
        timestamp = int(now.timestamp())
        key = secret_key(config.secret.get_secret_value())
        headers = {
            "content-type": "application/json",
            "user-agent": f"dockwatch/{__version__}",
            "webhook-id": message.key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, message.key, timestamp, body),
        }
        label = config.name or mask_url(config.url)
        try:
            async with self._session.post(
                config.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                status = response.status
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), now, longest=LONGEST_RETRY_AFTER
                )
        except TimeoutError:
            raise RetryLater(f"{label}: no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise RetryLater(f"{label}: {type(error).__name__}: {error}") from None
        if 200 <= status < 300:
            return Receipt(platform=self.name, message={"status": status})
        if status == 410:
            raise TargetGone(f"{label}: HTTP 410 Gone")
        if 300 <= status < 400:
            raise RetryLater(f"{label}: HTTP {status} redirect (not followed; fix the URL)")
        wait = retry_after.total_seconds() if retry_after is not None and status in (429, 503) else None
        raise RetryLater(f"{label}: HTTP {status}", retry_after=wait)


class WebhookPlatform:
    """``[[webhooks]]``: one signed POST per message to each receiver."""

    name = "webhook"
    table = "webhooks"
    many = True
    settings_model = WebhookConfig

    def targets(self, settings: Sequence[WebhookConfig]) -> Sequence[Target]:
        return [
            Target(
                key=target_key(config.url),
                notifier=self.name,
                label=config.name or mask_url(config.url),
                # A webhook has no commands of its own: what the config says is all there is, so
                # removing the key switches reminders off again.
                preferences=configured_preferences(config.reminders or ()),
            )
            for config in settings
        ]

    def describe(self, settings: Sequence[WebhookConfig]) -> list[str]:
        return [
            f"webhook {target_key(hook.url)}  {mask_url(hook.url)}{f' ({hook.name})' if hook.name else ''}"
            "  secret: hidden"
            for hook in settings
        ]

    def notifier(self, settings: Sequence[WebhookConfig], context: PlatformContext) -> Notifier:
        return WebhookNotifier(settings, context.session)

    def front_end(
        self, settings: Sequence[WebhookConfig], notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        return None


PLATFORM = WebhookPlatform()
