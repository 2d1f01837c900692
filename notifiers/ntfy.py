"""ntfy (https://ntfy.sh, or any self-hosted server): one POST per message to a topic URL.

Published the header way (the body is the Markdown message, ``X-Title``, ``X-Tags`` and the rest are
headers), not as JSON to the server root, for two reasons. The configured URL is the topic's own, so
a server behind a reverse proxy that exposes only that path, or strips a prefix, works as written;
JSON publishing would have to guess the root. And ntfy's message limit (4096 bytes by default, past
which the body turns into a file attachment) then applies to the body alone, which is what is bounded
here; older servers read a JSON request only up to that same limit, title and escaping included,
and reject a longer one as invalid JSON.

Headers cannot carry what LL2 names may hold (any Unicode, line breaks), so a title that is not
printable ASCII is sent as RFC 2047 encoded words, which ntfy decodes; tags (ours and the config's)
are ASCII. ``X-Cache`` and ``X-Firebase`` are left to the server's defaults.

A notification already shown on a phone stays as it was shown, so a correction is a new message
whose body names the notification it corrects.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, assert_never
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from dockwatch import __version__
from dockwatch.bot.errors import PermanentFailure, RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message, Receipt, Revision
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
    list_from_text,
    mask_url,
    redact_urls,
)
from dockwatch.notifiers.text import correction_line, details, fact, headline

# aiohttp loads with the first send: listing and masking targets (check-config) needs none of it.
if TYPE_CHECKING:
    import aiohttp

TIMEOUT_SECONDS = 15
PAUSE = 3600.0
"""Refused credentials (401, 403) hold the target back this long: retrying sooner cannot help until
someone fixes the token, and a server that counts failed logins is not knocked on every minute."""
LONGEST_RETRY_AFTER = timedelta(hours=24)
"""A server's ``Retry-After`` never postpones past the dead-letter deadline (24 h) anyway."""
MAX_BODY_BYTES = 4096
"""ntfy's default ``message-size-limit``: a longer body is stored as a file attachment instead."""
MAX_TITLE = 250
"""Characters: a notification shows one line of title, and every push relay has a payload limit."""
FIELD_LIMITS = (200, 60, 20)
"""Characters of one LL2 string in the body, tried in turn until the body fits ``MAX_BODY_BYTES``."""
MAX_URL = 2000
TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
"""ntfy's topic names: the server has no topic at any other path."""
PRIORITIES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5}
PRIORITY_USAGE = "must be 1 to 5 or one of min, low, default, high, max"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~|&])")
"""What could turn an LL2 string inside a list item into emphasis, a link, code or an entity."""
_URL_SAFE = "".join(c for c in string.digits + string.ascii_letters + string.punctuation if c not in '<>"\\`')


def _priority(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{PRIORITY_USAGE}, got {str(value).lower()}")
    if isinstance(value, str):
        word = value.strip().lower()
        if word in PRIORITIES:
            return PRIORITIES[word]
        if word.isdigit():
            value = int(word)  # from the environment
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(f"{PRIORITY_USAGE}, got {value!r}")
    return value


def _tags(value: object) -> object:
    value = list_from_text(value)
    if not isinstance(value, list | tuple):
        raise ValueError(f'must be a list of tags like ["iss", "rotating_light"], got {value!r}')
    tags = []
    for tag in value:
        # ASCII: older ntfy servers decode encoded words in the title only, so a tag is sent as
        # written, and an emoji goes by its shortcode.
        if (
            not isinstance(tag, str)
            or not tag.strip()
            or "," in tag
            or not (tag.isascii() and tag.isprintable())
        ):
            raise ValueError(
                "each tag must be printable ASCII without commas (an emoji by its shortcode, like"
                f" 'rotating_light'), got {tag!r}"
            )
        tags.append(tag.strip())
    return tuple(tags)


Priority = Annotated[int, BeforeValidator(_priority)]
Tags = Annotated[tuple[str, ...], BeforeValidator(_tags)]


class NtfyConfig(BaseModel):
    """One ``[[ntfy]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(repr=False)  # on a public server the topic name is the only secret
    token: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    priority: Priority = 3
    tags: Tags = ()
    """Added to each message's own tags (an emoji shortcode shows as the emoji)."""
    reminders: Leads | None = None
    """Lead times: ``docking.reminder`` (and the others) this long before each planned time."""

    @field_validator("url")
    @classmethod
    def _topic_url(cls, value: str) -> str:
        shown = repr(mask_url(value))
        http_url(value, shown=shown)
        parts = urlsplit(value)
        path = parts.path.rstrip("/")
        if not TOPIC.fullmatch(path.rpartition("/")[2]):
            raise ValueError(
                "must be the URL of an ntfy topic, ending in its name (letters, digits, '-' and '_',"
                f" at most 64), like https://ntfy.sh/mytopic; got {shown}"
            )
        return urlunsplit(parts._replace(path=path, fragment=""))

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            token = value.get_secret_value()
            if not token or not token.isascii() or not token.isprintable() or " " in token:
                raise ValueError("must be an ntfy access token (tk_...): printable ASCII without spaces")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and (not value or ":" in value or not value.isprintable()):
            raise ValueError(f"must be a user name without ':', got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> NtfyConfig:
        if self.token is not None and (self.user is not None or self.password is not None):
            raise ValueError("give either token, or user and password, not both")
        if (self.user is None) != (self.password is None):
            raise ValueError("user and password go together: set both, or neither")
        if self.password is not None and not self.password.get_secret_value():
            raise ValueError("password is empty")
        if "@" in urlsplit(self.url).netloc and (self.token is not None or self.user is not None):
            raise ValueError("url carries user:password already: remove them from it, or token and user")
        return self


def target_key(url: str) -> str:
    """The topic's identity: server and path, without credentials written into the URL (``user:pw@``,
    ``?auth=``), so changing a password, as a 401 pause asks, keeps the target and what it is owed."""
    parts = urlsplit(url)
    topic = urlunsplit((parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower(), parts.path, "", ""))
    return "ntfy:" + hashlib.sha256(topic.encode()).hexdigest()[:16]


# --- rendering ---------------------------------------------------------------------------------------


def kind_tags(message: Message) -> list[str]:
    """An emoji shortcode (shown before the title) and a word (shown as a tag) for each kind."""
    match message.kind:
        case ChangeKind.DOCKED:
            return ["artificial_satellite", "docked"]
        case ChangeKind.DEPARTED:
            return ["wave", "departed"]
        case ChangeKind.RELOCATED:
            return ["repeat", "relocated"]
        case ChangeKind.WEBCAST_STARTED:
            return ["red_circle", "webcast"]
        case ChangeKind.DOCKING_REMINDER:
            return ["alarm_clock", "docking"]
        case ChangeKind.DEPARTURE_REMINDER:
            return ["alarm_clock", "departure"]
        case ChangeKind.EVENT_REMINDER:
            return ["alarm_clock", "event"]
        case ChangeKind.TEST:
            return ["test_tube", "test"]
        case _:
            assert_never(message.kind)


def tags_of(message: Message, extra: Sequence[str] = ()) -> list[str]:
    """The kind's tags, a warning sign and ``correction`` on a correction, then the config's."""
    tags = kind_tags(message)
    if message.correction is not None:
        tags = ["warning", *tags, "correction"]
    return tags + [tag for tag in extra if tag not in tags]


def title(message: Message) -> str:
    """The headline on one line; a refined time says it is an update, since the notification it
    updates cannot be changed and the headline alone would read like a second announcement."""
    text = headline(message)
    correction = message.correction
    if correction is not None:
        match correction.reason:
            case Revision.REFINED:
                text = f"Update: {text}"
            case Revision.RESCHEDULED | Revision.WITHDRAWN:
                pass  # the headline says "Correction: ..."
            case _:
                assert_never(correction.reason)
    return _clip(_one_line(text), MAX_TITLE)


def body(message: Message, zone: tzinfo = UTC) -> str:
    """The Markdown body, at most ``MAX_BODY_BYTES`` in UTF-8: LL2 strings are clipped shorter until
    it fits, so the server never turns it into an attachment."""
    for limit in FIELD_LIMITS:
        text = _body(message, zone, limit)
        if len(text.encode()) <= MAX_BODY_BYTES:
            return text
    return _clip_bytes(text, MAX_BODY_BYTES)  # unreachable with today's rows: a bound, not a hope


def _body(message: Message, zone: tzinfo, limit: int) -> str:
    blocks: list[str] = []
    if (line := correction_line(message, zone)) is not None:
        earlier = _markdown(fact(message), limit)
        blocks.append(f"*{line}*\n\nCorrects the earlier notification “{earlier}”.")
    rows = [
        f"- **{label}:** {_markdown(value, limit)}"
        for label, value in details(message, zone)
        if label != "Watch"
    ]
    if rows:
        blocks.append("\n".join(rows))
    if (url := click_url(message)) is not None:
        blocks.append(f"[Watch the webcast](<{url}>)")
    return "\n\n".join(blocks)


def click_url(message: Message) -> str | None:
    """Where tapping the notification goes: the webcast, when there is one."""
    return safe_url(message.webcast_url)


def attach_url(message: Message) -> str | None:
    """The image clients show with the notification: the vehicle's (for an event, the event's)."""
    return safe_url(message.image_url)


def safe_url(url: str | None) -> str | None:
    """``url`` percent-encoded into printable ASCII without ``<>"\\`` and spaces (fit for a header and
    a Markdown link), or ``None`` when it is not an http(s) URL or too long to be one anybody sends."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.netloc.isascii():
        return None
    quoted = quote(url.strip(), safe=_URL_SAFE)
    return quoted if len(quoted) <= MAX_URL else None


def header_text(value: str) -> str:
    """``value`` as it may stand in a header: printable ASCII as is, anything else (or text that
    looks like an encoded word) as RFC 2047 encoded words of at most 75 characters each."""
    if value.isascii() and value.isprintable() and "=?" not in value:
        return value
    words: list[bytes] = []
    chunk = b""
    for char in value:
        encoded = char.encode()
        if len(chunk) + len(encoded) > 45:  # 45 bytes are 60 base64 characters, 72 with the frame
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return " ".join(f"=?UTF-8?B?{base64.b64encode(word).decode()}?=" for word in words if word)


def _markdown(value: str, limit: int) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", _clip(_one_line(value), limit))


def _one_line(value: str) -> str:
    """Line breaks and other control characters as spaces (a title is one line, a row is one list
    item), and lone surrogates (which JSON escapes can carry) replaced, so the text encodes."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(" " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in value)
    return " ".join(cleaned.split())


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _clip_bytes(value: str, limit: int) -> str:
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    return encoded[: limit - len("…".encode())].decode("utf-8", "ignore") + "…"


# --- sending -----------------------------------------------------------------------------------------


class NtfyNotifier:
    """POSTs one message per delivery to the target's topic URL.

    2xx delivers (the receipt keeps ntfy's message id); 401 and 403 pause the target for an hour;
    404 disables it; 408, 429 and 5xx retry (after ``Retry-After`` when the server gives one); any
    other answer fails the message for good.
    """

    name = "ntfy"

    def __init__(
        self,
        configs: Sequence[NtfyConfig],
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._session = session
        self._clock = clock
        self._timeout = timeout
        self._topics = {target_key(c.url): c for c in configs}

    async def start(self) -> None:
        return None  # nothing to log in to: the server judges the credentials on each publish

    async def close(self) -> None:
        return None

    def targets(self) -> Sequence[Target]:
        return PLATFORM.targets(list(self._topics.values()))

    def handles(self, target_key: str) -> bool:
        return target_key in self._topics

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        import aiohttp

        config = self._topics[target_key]
        label = mask_url(config.url)
        headers = publish_headers(message, config)
        if (authorization := _authorization(config)) is not None:
            headers["Authorization"] = authorization
        try:
            async with self._session.post(
                config.url,
                data=body(message, presentation.zone).encode(),
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                status = response.status
                answer = await _json_answer(response)
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), self._clock(), longest=LONGEST_RETRY_AFTER
                )
        except TimeoutError:
            raise RetryLater(f"{label}: no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise RetryLater(f"{label}: {redact_urls(f'{type(error).__name__}: {error}')}") from None
        if 200 <= status < 300:
            ntfy_id = answer.get("id")
            return Receipt(platform=self.name, message={"id": ntfy_id} if isinstance(ntfy_id, str) else {})
        said = f"{label}: HTTP {status}{_reason(answer)}"
        if status in (401, 403):
            raise RetryLater(
                f"{said}: the server refuses our credentials; paused for an hour: check the token"
                " (or user and password)",
                retry_after=PAUSE,
            )
        if status in (404, 410):
            raise TargetGone(f"{said}: the topic is gone")
        if status in (408, 429) or status >= 500:
            wait = retry_after.total_seconds() if retry_after is not None else None
            raise RetryLater(said, retry_after=wait)
        if 300 <= status < 400:
            raise RetryLater(f"{said} redirect (not followed; fix the URL)")
        raise PermanentFailure(said)


def publish_headers(message: Message, config: NtfyConfig) -> dict[str, str]:
    """The publish request's headers but the credentials: every value printable ASCII."""
    headers = {
        "User-Agent": f"dockwatch/{__version__}",
        "Content-Type": "text/markdown; charset=utf-8",
        "X-Title": header_text(title(message)),
        "X-Markdown": "yes",
        "X-Tags": ",".join(tags_of(message, config.tags)),  # ours and the config's: ASCII
        # X-Priority, not Priority: proxies such as Cloudflare set the latter (RFC 9218) themselves.
        "X-Priority": str(config.priority),
    }
    if (click := click_url(message)) is not None:
        headers["X-Click"] = click
    if (attach := attach_url(message)) is not None:
        headers["X-Attach"] = attach
    return headers


def _authorization(config: NtfyConfig) -> str | None:
    """A token as Bearer, else user and password as Basic in UTF-8 (RFC 7617), the way ntfy reads
    them; credentials written into the URL are left to aiohttp, which sends those as Basic too."""
    if config.token is not None:
        return f"Bearer {config.token.get_secret_value()}"
    if config.user is not None and config.password is not None:
        pair = f"{config.user}:{config.password.get_secret_value()}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return None


async def _json_answer(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """ntfy answers JSON, errors included; a proxy's HTML page is no answer worth reading."""
    import aiohttp

    try:
        answer = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return {}
    return answer if isinstance(answer, dict) else {}


def _reason(answer: dict[str, Any]) -> str:
    """ntfy's own words for an error (``{"code": 40101, "error": "unauthorized", ...}``), briefly."""
    error = answer.get("error")
    if not isinstance(error, str) or not error.strip():
        return ""
    return f" ({_clip(redact_urls(_one_line(error)), 200)})"


class NtfyPlatform:
    """``[[ntfy]]``: one POST per message to each topic URL."""

    name = "ntfy"
    table = "ntfy"
    many = True
    settings_model = NtfyConfig

    def targets(self, settings: Sequence[NtfyConfig]) -> Sequence[Target]:
        return [
            Target(
                key=target_key(config.url),
                notifier=self.name,
                label=mask_url(config.url),
                # Like a webhook, a topic has no commands of its own: the config is all there is.
                preferences=configured_preferences(config.reminders or ()),
            )
            for config in settings
        ]

    def describe(self, settings: Sequence[NtfyConfig]) -> list[str]:
        return [
            f"ntfy {target_key(config.url)}  {mask_url(config.url)}{_settings(config)}" for config in settings
        ]

    def notifier(self, settings: Sequence[NtfyConfig], context: PlatformContext) -> Notifier:
        return NtfyNotifier(settings, context.session, clock=context.clock)

    def front_end(
        self, settings: Sequence[NtfyConfig], notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        return None


def _settings(config: NtfyConfig) -> str:
    parts = [f"priority {config.priority}"]
    if config.tags:
        parts.append(f"tags {', '.join(config.tags)}")
    if config.token is not None:
        parts.append("token: hidden")
    elif config.user is not None:
        parts.append(f"user {config.user}, password: hidden")
    elif "@" in urlsplit(config.url).netloc:
        parts.append("user and password in the url: hidden")
    return "  " + "  ".join(parts)


PLATFORM = NtfyPlatform()
