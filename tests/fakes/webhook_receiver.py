"""A webhook receiver on 127.0.0.1 that verifies Standard Webhooks signatures independently."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class WebhookReceiver:
    """Answers each POST with the next scripted status (200 when the script is empty).

    Only requests whose signature verifies with the shared secret count as ``accepted``.
    """

    secret: str
    statuses: deque[int] = field(default_factory=deque)
    headers_for_status: dict[int, dict[str, str]] = field(default_factory=dict)
    delay_seconds: float = 0.0
    rejected_ids: set[str] = field(default_factory=set)  # webhook-ids this receiver always answers 500
    before_answer: Callable[[ReceivedWebhook], Awaitable[None]] | None = None
    """Run once a POST is received and before it is answered: what happens between a send and its
    record (another instance claiming, the database dropping connections)."""
    received: list[ReceivedWebhook] = field(default_factory=list)
    url: str = ""

    @property
    def accepted(self) -> list[ReceivedWebhook]:
        return [r for r in self.received if r.verified and r.status == 200]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/moved", self._moved)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        status = self.statuses.popleft() if self.statuses else 200
        if headers.get("webhook-id") in self.rejected_ids:
            status = 500
        if not verified:
            status = 400
        received = ReceivedWebhook(headers, body, verified, status)
        self.received.append(received)
        if self.before_answer is not None:
            await self.before_answer(received)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return web.Response(status=status, headers=self.headers_for_status.get(status, {}))

    async def _moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/hook")
