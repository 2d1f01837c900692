"""An ntfy server stand-in on 127.0.0.1 that speaks the publish API the real notifier uses.

``POST /<topic>`` (or ``PUT``) publishes: the body is the message, ``X-Title``/``Title``,
``X-Tags``/``Tags``, ``X-Priority``/``Priority``, ``X-Click``, ``X-Attach`` and ``X-Markdown`` are read
the way ntfy reads them, RFC 2047 encoded words decoded (by Python's own decoder, not ours). It answers
200 with the message as JSON (``id``, ``time``, ``event``, ``topic``, ...) and errors as ntfy does
(``{"code": 40101, "http": 401, "error": "unauthorized", ...}``): 401 without the credentials it was
told to require, 404 for a topic deleted by the test, 400 for a priority ntfy would not accept, 413
for a body over the message limit (a real server would turn it into an attachment), and any status a
test scripts (with its headers, e.g. ``Retry-After``). Every request is recorded, accepted or not.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from typing import Any

from aiohttp import web

MESSAGE_LIMIT = 4096
PRIORITIES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5}
ERRORS = {
    400: (40007, "invalid priority"),
    401: (40101, "unauthorized"),
    403: (40301, "forbidden"),
    404: (40401, "page not found"),
    413: (41301, "message too large"),
    429: (42901, "limit reached: too many requests"),
    500: (50001, "internal server error"),
    502: (50201, "bad gateway"),
    503: (50301, "service unavailable"),
}


@dataclass
class Publish:
    """One publish request as the server read it."""

    topic: str
    headers: dict[str, str]
    """Raw header values by lower-case name."""
    body: bytes
    status: int

    def param(self, *names: str) -> str | None:
        """A parameter the way ntfy reads it: the first header present, encoded words decoded."""
        for name in names:
            if name in self.headers:
                return str(make_header(decode_header(self.headers[name])))
        return None

    @property
    def title(self) -> str | None:
        return self.param("x-title", "title", "ti", "t")

    @property
    def tags(self) -> list[str]:
        text = self.param("x-tags", "tags", "tag", "ta")
        return [tag.strip() for tag in text.split(",")] if text else []

    @property
    def priority(self) -> int | None:
        text = self.param("x-priority", "priority", "prio", "p")
        if text is None:
            return None
        return PRIORITIES.get(text.lower()) or (int(text) if text.isdigit() else -1)

    @property
    def click(self) -> str | None:
        return self.param("x-click", "click")

    @property
    def attach(self) -> str | None:
        return self.param("x-attach", "attach", "a")

    @property
    def markdown(self) -> bool:
        return (self.param("x-markdown", "markdown", "md") or "").lower() in ("yes", "true", "1")

    @property
    def message(self) -> str:
        return self.body.decode()

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """User and password of a Basic ``Authorization`` header, decoded as UTF-8 as ntfy does."""
        scheme, _, credentials = (self.authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(credentials).decode().partition(":")
        return user, password


@dataclass
class FakeNtfy:
    token: str | None = None
    """When set, publishing needs ``Authorization: Bearer <token>`` (or the user below)."""
    user: tuple[str, str] | None = None
    """When set, publishing needs Basic auth with this user and password (or the token above)."""
    deleted: set[str] = field(default_factory=set)
    """Topics answered 404."""
    statuses: deque[int] = field(default_factory=deque)
    """Scripted answers for the next publishes, whatever they carry."""
    headers_for_status: dict[int, dict[str, str]] = field(default_factory=dict)
    requests: list[Publish] = field(default_factory=list)
    limit_violations: list[str] = field(default_factory=list)
    base_url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def topic_url(self, topic: str) -> str:
        return f"{self.base_url}/{topic}"

    def published(self, topic: str | None = None) -> list[Publish]:
        """The accepted publishes (to ``topic``), oldest first."""
        return [p for p in self.requests if p.status == 200 and topic in (None, p.topic)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("POST", "/{topic:[-_A-Za-z0-9]{1,64}}", self._publish)
        app.router.add_route("PUT", "/{topic:[-_A-Za-z0-9]{1,64}}", self._publish)
        return app

    async def _publish(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        for name, value in headers.items():
            if not (value.isascii() and value.isprintable()):
                self.limit_violations.append(f"header {name} is not printable ASCII: {value!r}")
        publish = Publish(request.match_info["topic"], headers, body, 200)
        self.requests.append(publish)
        publish.status = self._status(publish)
        if publish.status != 200:
            return self._error(publish.status)
        return web.json_response(self._message(publish))

    def _status(self, publish: Publish) -> int:
        if self.statuses:
            return self.statuses.popleft()
        if (self.token is not None or self.user is not None) and not self._authorized(publish):
            return 401
        if publish.topic in self.deleted:
            return 404
        if len(publish.body) > MESSAGE_LIMIT:
            self.limit_violations.append(f"body of {len(publish.body)} bytes")
            return 413
        if publish.priority is not None and not 1 <= publish.priority <= 5:
            return 400
        return 200

    def _authorized(self, publish: Publish) -> bool:
        if self.token is not None and publish.authorization == f"Bearer {self.token}":
            return True
        return self.user is not None and publish.basic_auth == self.user

    def _error(self, status: int) -> web.Response:
        code, text = ERRORS.get(status, (status * 100 + 1, "error"))
        answer = {"code": code, "http": status, "error": text, "link": "https://ntfy.sh/docs/publish/"}
        return web.json_response(answer, status=status, headers=self.headers_for_status.get(status, {}))

    def _message(self, publish: Publish) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": f"msg{next(self._ids):09d}",
            "time": int(time.time()),
            "expires": int(time.time()) + 43200,
            "event": "message",
            "topic": publish.topic,
            "message": publish.message,
        }
        if publish.title is not None:
            message["title"] = publish.title
        if publish.tags:
            message["tags"] = publish.tags
        if publish.priority not in (None, 3):
            message["priority"] = publish.priority
        if publish.click is not None:
            message["click"] = publish.click
        if publish.attach is not None:
            message["attachment"] = {"name": publish.attach.rsplit("/", 1)[-1], "url": publish.attach}
        if publish.markdown:
            message["content_type"] = "text/markdown"
        return message
