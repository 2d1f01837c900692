"""Matrix (matrix-nio): notices with an HTML body to rooms, through one account on one homeserver.

Every message is an ``m.notice`` (the default push rule ``.m.rule.suppress_notices`` keeps notices
from pinging anyone, which is what a bot's announcements should do, in quiet hours or not) with a
plain ``body`` and an ``org.matrix.custom.html`` ``formatted_body``.

Each event is sent with a transaction id derived from the delivery: the homeserver answers a
repeated ``PUT .../send/m.room.message/{txnId}`` with the event it made the first time, so a retry
after a crash or a lost answer cannot post twice. Transaction ids are scoped to the device, so a
password login always names the same device (``DEVICE_ID``), and a retry after a fresh login is
still recognised. Homeservers remember a transaction for a while (Synapse: about half an hour).

A correction edits the original with an ``m.replace`` event and, since an edit notifies nobody and
bumps no unread count, replies to it (``m.in_reply_to``) with the short correction.

nio itself would sleep through every 429 and retry every timeout forever; both are turned off
(``max_limit_exceeded=0``, ``max_timeouts=0``) so a rate limit becomes ``RetryLater`` with the
homeserver's ``retry_after_ms`` and the dispatcher, not a stuck send, waits it out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Any, assert_never

import aiohttp

# nio ships annotations but no py.typed marker: mypy would refuse the import as untyped.
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LocalProtocolError,
    LoginResponse,
    RoomSendResponse,
    WhoamiResponse,
)

from dockwatch.bot.errors import DeliveryError, PermanentFailure, PlatformUnavailable, RetryLater, TargetGone
from dockwatch.bot.model import KINDS, ChangeKind, Message, Receipt
from dockwatch.bot.retry_after import parse_retry_after
from dockwatch.notifiers.base import PLAIN, Presentation, Target, edit_into_correction, mask_url, redact_urls
from dockwatch.notifiers.matrix import PLATFORM, PREFIX, MatrixConfig, room_of
from dockwatch.notifiers.text import correction_line, correction_reply, details, headline, http_link

MAX_FIELD = 200  # characters of one LL2 string: every event stays far below Matrix's 65536 bytes
MAX_URL = 1000
MAX_REPLY = 1000  # the correction reply names the vehicle and the place, both LL2 strings
HTML = "org.matrix.custom.html"
DEVICE_ID = "DOCKWATCH"
"""The device a password login names, every time: transaction ids are remembered per device."""
DEVICE_NAME = "dockwatch"
SEND_TIMEOUT = 60.0
"""At most this long for one send, edit or reply, a new login after a lost session included."""
REQUEST_TIMEOUT = 30.0
TOKEN_PAUSE = 3600.0
"""How long deliveries wait when the homeserver no longer accepts the configured access token:
a person has to give a new one (and restart), which takes a while."""
LONGEST_WAIT = timedelta(hours=24)
TOKEN_ERRORS = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}
GONE_ERRORS = {"M_FORBIDDEN", "M_NOT_FOUND"}

log = logging.getLogger(__name__)


class _NoAnswerDumps(logging.Filter):
    """nio logs every answer it validates, whole, at DEBUG (a login's access token with it), and a
    warning for every error answer; the notifier reports each failure in one line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not text.startswith(("Validating response schema", "Error validating response"))


_NO_ANSWER_DUMPS = _NoAnswerDumps()


def render(message: Message, zone: tzinfo = UTC) -> tuple[str, str]:
    """The message as a plain ``body`` and an HTML ``formatted_body``: every LL2 string clipped (and
    escaped in the HTML), times in the room's ``zone``; a correction says what LL2 tells now."""
    emoji = KINDS[message.kind].emoji
    title = _clip(headline(message))
    plain, html = [f"{emoji} {title}"], [f"{emoji} <b>{escape(title, quote=False)}</b>"]
    if (line := correction_line(message, zone)) is not None:
        plain.append(line)
        html.append(f"<i>{escape(line, quote=False)}</i>")
    for label, value in details(message, zone):
        if label == "Watch":  # a link below instead: the URL would be clipped like any LL2 string
            continue
        plain.append(f"{label}: {_clip(value)}")
        html.append(f"<b>{escape(label)}:</b> {escape(_clip(value), quote=False)}")
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
            if (url := http_link(message.webcast_url, MAX_URL)) is not None:
                plain.append(f"Watch the webcast: {url}")
                html.append(f'<a href="{escape(url, quote=True)}">Watch the webcast</a>')
        case _:
            assert_never(message.kind)
    return "\n".join(plain), "<br>".join(html)


def render_reply(message: Message, zone: tzinfo = UTC) -> tuple[str, str]:
    """The short correction posted in reply to the corrected message, plain and HTML."""
    text = correction_reply(message, zone)
    if len(text) > MAX_REPLY:
        text = text[: MAX_REPLY - 1] + "…"
    return text, escape(text, quote=False)


def notice(body: str, html: str) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": body, "format": HTML, "formatted_body": html}


def edit_content(original_event_id: str, body: str, html: str) -> dict[str, Any]:
    """An ``m.replace`` of ``original_event_id``: clients show ``m.new_content`` in its place; the
    ``* `` body is what a client without edits shows."""
    return {
        "msgtype": "m.notice",
        "body": f"* {body}",
        "m.new_content": notice(body, html),
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
    }


def reply_content(original_event_id: str, body: str, html: str) -> dict[str, Any]:
    """A reply without the quoted fallback, which Matrix 1.13 dropped: clients show the original."""
    return {**notice(body, html), "m.relates_to": {"m.in_reply_to": {"event_id": original_event_id}}}


def transaction_id(delivery_id: int, message: Message, purpose: str = "") -> str:
    """``dw<delivery id>-<digest of the message key>[.purpose]``: the same for every attempt of one
    delivery. The key's digest keeps two dockwatch installations that share an account (and
    number their deliveries alike) from having one's message taken for a retry of the other's."""
    digest = hashlib.sha256(message.key.encode()).hexdigest()[:12]
    return f"dw{delivery_id}-{digest}{f'.{purpose}' if purpose else ''}"


def _clip(value: str) -> str:
    return value if len(value) <= MAX_FIELD else value[: MAX_FIELD - 1] + "…"


class MatrixNotifier:
    """Sends to the rooms in ``room_ids`` as the account the config names.

    With ``access_token`` the token is checked once at start (``whoami``); with ``user`` and
    ``password`` the notifier logs in at start, and again once when the homeserver ends the session
    (a token it no longer accepts), then repeats the request with the same transaction id.
    """

    name = "matrix"

    def __init__(
        self,
        config: MatrixConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        send_timeout: float = SEND_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        logging.getLogger("nio.responses").addFilter(_NO_ANSWER_DUMPS)  # once: the same object
        self.config = config
        self._clock = clock or (lambda: datetime.now(UTC))
        self._send_timeout = send_timeout
        self._rooms = frozenset(config.room_ids)
        self._login_lock = asyncio.Lock()
        self.client: Any = AsyncClient(
            config.homeserver,
            user=config.user or "",
            device_id=DEVICE_ID if config.password is not None else "",
            config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=request_timeout),
        )
        if config.access_token is not None:
            self.client.access_token = config.access_token.get_secret_value()

    async def start(self) -> None:
        """``whoami`` with a configured token, else a password login: a refused credential or an
        unreachable homeserver is reported here, once, in one line."""
        try:
            if self.config.access_token is None:
                await self._login()
                return
            answer = await self.client.whoami()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise PlatformUnavailable(f"matrix: {self._unreachable(error)}") from None
        if isinstance(answer, WhoamiResponse):
            return
        if _is_token_error(answer):
            raise PlatformUnavailable("matrix.access_token: rejected by the homeserver")
        raise PlatformUnavailable(f"matrix: whoami failed: {self._text(answer)}")

    async def _login(self) -> None:
        password = self.config.password
        assert password is not None  # the config requires one where there is no token
        answer = await self.client.login(password.get_secret_value(), device_name=DEVICE_NAME)
        if isinstance(answer, LoginResponse):
            return
        if answer.status_code == "M_FORBIDDEN":
            raise PlatformUnavailable(f"matrix.password: rejected by the homeserver ({self._text(answer)})")
        raise PlatformUnavailable(f"matrix: login failed: {self._text(answer)}")

    async def close(self) -> None:
        await self.client.close()

    def targets(self) -> Sequence[Target]:
        return PLATFORM.targets(self.config)

    def handles(self, target_key: str) -> bool:
        return target_key.startswith(PREFIX) and room_of(target_key) in self._rooms

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        """Post the notice; ``presentation.silent`` changes nothing, since notices never ping."""
        body, html = render(message, presentation.zone)
        room = room_of(target_key)
        return await self._post(room, notice(body, html), transaction_id(delivery_id, message))

    async def edit(self, receipt: Receipt, message: Message, presentation: Presentation = PLAIN) -> Receipt:
        """Replace a notice sent earlier with an ``m.replace`` event. Its transaction id is derived
        from the original and the new message, so a retried correction edits once. The receipt
        stays the original's: a later edit must name the original, never an edit."""
        room, event_id = receipt.message.get("room_id"), receipt.message.get("event_id")
        if (
            receipt.platform != self.name
            or not isinstance(room, str)
            or not isinstance(event_id, str)
            or not event_id.startswith("$")
        ):
            raise PermanentFailure(f"not a Matrix message receipt: {receipt.describe()}")
        body, html = render(message, presentation.zone)
        digest = hashlib.sha256(f"{event_id}\n{message.key}".encode()).hexdigest()[:24]
        try:
            await self._post(room, edit_content(event_id, body, html), f"dwedit-{digest}")
        except TargetGone as gone:
            if "M_NOT_FOUND" not in str(gone):
                raise
            # Some homeservers answer an edit of an event they do not know with 404 M_NOT_FOUND (Synapse
            # with 400): the event is gone, not the room; the correction is posted on its own, and a
            # room that is really gone says so to that send.
            raise PermanentFailure(str(gone)) from None
        return Receipt(platform=self.name, message={"room_id": room, "event_id": event_id})

    async def correct(
        self,
        target_key: str,
        message: Message,
        original: Receipt,
        *,
        delivery_id: int,
        presentation: Presentation = PLAIN,
    ) -> Receipt:
        """Edit the original into the correction, then reply to it so the room is told (REFINED: the
        edit alone). An original the homeserver will not let us edit (an event it does not know)
        gets the correction alone, posted as ``send`` does."""
        edited, done = await edit_into_correction(
            self, target_key, message, original, delivery_id=delivery_id, presentation=presentation
        )
        if done:
            return edited
        room, event_id = str(edited.message["room_id"]), str(edited.message["event_id"])
        body, html = render_reply(message, presentation.zone)
        content = reply_content(event_id, body, html)
        return await self._post(room, content, transaction_id(delivery_id, message, "reply"))

    async def _post(self, room: str, content: dict[str, Any], tx_id: str) -> Receipt:
        """One ``m.room.message`` event, bounded by the send timeout; with a password, a session the
        homeserver ended is logged in again once, and the same transaction repeated."""
        where = f"matrix room {room}"
        async with self._delivering(where):
            session = self.client.access_token
            answer = await self.client.room_send(room, "m.room.message", content, tx_id=tx_id)
            if _is_token_error(answer) and self.config.password is not None:
                await self._login_again(where, session)
                answer = await self.client.room_send(room, "m.room.message", content, tx_id=tx_id)
            if isinstance(answer, RoomSendResponse):
                return Receipt(platform=self.name, message={"room_id": room, "event_id": answer.event_id})
            raise self._delivery_error(where, answer)

    async def _login_again(self, where: str, session: str) -> None:
        """A new session for the same device; one login however many sends noticed the old one end."""
        async with self._login_lock:
            if self.client.access_token != session:
                return  # another send logged in meanwhile
            log.info("matrix session ended by the homeserver; logging in again")
            try:
                await self._login()
            except PlatformUnavailable as error:
                raise RetryLater(f"{where}: session ended, new login refused: {error}", TOKEN_PAUSE) from None

    @asynccontextmanager
    async def _delivering(self, where: str) -> AsyncIterator[None]:
        """Transport failures as ``RetryLater``, and no send longer than the send timeout."""
        try:
            async with asyncio.timeout(self._send_timeout):
                yield
        except TimeoutError:
            raise RetryLater(f"{where}: the homeserver did not answer in time") from None
        except (aiohttp.ClientError, OSError) as error:
            raise RetryLater(f"{where}: {self._unreachable(error)}") from None
        except LocalProtocolError as error:  # not logged in: start() has not succeeded
            raise RetryLater(f"{where}: {self._safe(str(error))}") from None

    def _delivery_error(self, where: str, answer: Any) -> DeliveryError:
        """The homeserver's answer as dockwatch's failure. Matrix's error code decides first; an
        answer without one did not come from the homeserver (a proxy's error page)."""
        text = f"{where}: {self._text(answer)}"
        status, code = _status(answer), answer.status_code
        if code == "M_LIMIT_EXCEEDED" or status == 429:
            return RetryLater(text, retry_after=self._retry_after(answer))
        if _is_token_error(answer):
            # A send cannot take the platform down (the dispatcher would dead-letter anything but a
            # delivery error), and a token is fixed in the config: the messages wait for the
            # restart, whose whoami then holds the platform back until the token works.
            fix = (
                "the homeserver no longer accepts matrix.access_token; give a new one and restart"
                if self.config.access_token is not None
                else "the homeserver ended the new session at once"
            )
            return RetryLater(
                f"{text}: {fix} (deliveries wait {TOKEN_PAUSE / 3600:g} h at a time)", retry_after=TOKEN_PAUSE
            )
        if code in GONE_ERRORS:
            return TargetGone(text)
        if code is None or status is None or status >= 500:
            return RetryLater(text)
        return PermanentFailure(text)

    def _retry_after(self, answer: Any) -> float | None:
        """``retry_after_ms`` from the body, else the ``Retry-After`` header (Matrix 1.10 on)."""
        if isinstance(answer.retry_after_ms, int):
            return answer.retry_after_ms / 1000
        response = answer.transport_response
        header = response.headers.get("Retry-After") if response is not None else None
        wait = parse_retry_after(header, self._clock(), longest=LONGEST_WAIT)
        return wait.total_seconds() if wait is not None else None

    def _text(self, answer: Any) -> str:
        status = _status(answer)
        parts = [f"HTTP {status}" if status is not None else "", answer.status_code or "", answer.message]
        return self._safe(" ".join(part for part in parts if part))

    def _unreachable(self, error: BaseException) -> str:
        detail = f": {error}" if str(error) else ""
        where = mask_url(self.config.homeserver)
        return self._safe(f"cannot reach the homeserver {where}: {type(error).__name__}{detail}")

    def _safe(self, text: str) -> str:
        """URLs masked and the credentials struck out: error texts reach logs and ``status``."""
        text = redact_urls(text)
        secrets = [s.get_secret_value() for s in (self.config.access_token, self.config.password) if s]
        for secret in [*secrets, self.client.access_token]:
            if isinstance(secret, str) and secret:
                text = text.replace(secret, "***")
        return text


def _status(answer: Any) -> int | None:
    response = answer.transport_response
    return int(response.status) if response is not None else None


def _is_token_error(answer: Any) -> bool:
    """M_UNKNOWN_TOKEN (or a 401 without a code): the homeserver does not know our session."""
    return isinstance(answer, ErrorResponse) and (
        answer.status_code in TOKEN_ERRORS or _status(answer) == 401
    )
