"""A Launch Library 2 stand-in on 127.0.0.1: serves scripted pages, records calls, fails on demand."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

FAILURES = ("http_500", "http_429", "not_json", "truncated", "invalid", "slow", "html", "empty", "reset")


def background_docking() -> dict[str, Any]:
    """A long-finished stay, so the fake's docking page is never empty (LL2's never is)."""
    from tests.builders import ll2_docking

    return ll2_docking(
        100_000,
        docking=datetime(2024, 1, 10, tzinfo=UTC),
        departure=datetime(2024, 3, 1, tzinfo=UTC),
        port=(99, "Poisk zenith"),
        vehicle=(99_999, "Soyuz MS-24"),
    )


def page(results: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    return {"count": len(results), "next": next_url, "previous": None, "results": results}


@dataclass
class RecordedRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    """When it arrived (``time.monotonic``)."""


@dataclass
class FakeLL2:
    """Speaks LL2's HTTP for the endpoints dockwatch uses (2.3.0 and 2.2.0 paths).

    ``fail_next`` queues failure modes applied to the next counted (non-throttle) requests.
    """

    dockings: list[dict[str, Any]] = field(default_factory=lambda: [background_docking()])
    events: list[dict[str, Any]] = field(default_factory=list)
    extra_docking_pages: list[list[dict[str, Any]]] = field(default_factory=list)
    throttle: dict[str, Any] = field(
        default_factory=lambda: {
            "your_request_limit": 15,
            "limit_frequency_secs": 3600,
            "current_use": 0,
            "next_use_secs": 0,
            "ident": "127.0.0.1",
        }
    )
    throttle_status: int = 200
    throttle_delay: float = 0.0
    retry_after: str | None = "120"
    slow_seconds: float = 5.0
    fail_next: deque[str] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    base_url: str = ""

    @property
    def counted_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if not r.path.endswith("/api-throttle/")]

    def app(self) -> web.Application:
        app = web.Application()
        for version, dockings, events in (
            ("2.3.0", "docking_events", "events"),
            ("2.2.0", "docking_event", "event"),
        ):
            app.router.add_get(f"/{version}/{dockings}/", self._dockings)
            app.router.add_get(f"/{version}/{events}/upcoming/", self._events)
            app.router.add_get(f"/{version}/api-throttle/", self._throttle)
        return app

    def _record(self, request: web.Request) -> None:
        self.requests.append(RecordedRequest(request.path, dict(request.query), dict(request.headers)))

    async def _dockings(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        failure = await self._failure(request)
        if failure is not None:
            return failure
        page_number = int(request.query.get("page", "0"))
        pages = [self.dockings, *self.extra_docking_pages]
        next_url = None
        if page_number + 1 < len(pages):
            next_url = str(request.url.with_query({**request.query, "page": str(page_number + 1)}))
        return web.json_response(page(pages[page_number], next_url))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        failure = await self._failure(request)
        return failure if failure is not None else web.json_response(page(self.events))

    async def _throttle(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        await asyncio.sleep(self.throttle_delay)
        if self.throttle_status != 200:
            return web.Response(status=self.throttle_status, text="nope")
        return web.json_response(self.throttle)

    async def _failure(self, request: web.Request) -> web.StreamResponse | None:
        if not self.fail_next:
            return None
        mode = self.fail_next.popleft()
        if mode == "reset":  # the connection drops after the request arrived, before any answer
            assert request.transport is not None
            request.transport.close()
            return web.Response(text="never seen")
        if mode == "http_500":
            return web.json_response({"detail": "server error"}, status=500)
        if mode == "http_429":
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response({"detail": "Request was throttled."}, status=429, headers=headers)
        if mode == "not_json":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if mode == "html":
            return web.Response(text="<!DOCTYPE html><p>Bad gateway</p>", status=502)
        if mode == "truncated":
            body = json.dumps(page(self.dockings or [{"id": 1}]))
            return web.Response(text=body[: len(body) // 2], content_type="application/json")
        if mode == "invalid":
            return web.json_response({"count": 1, "next": None, "results": [{"id": "x"}]})
        if mode == "redirect":  # to a host that is not LL2, with a docking only it knows
            return web.Response(
                status=301, headers={"Location": "http://mirror.example.net/2.3.0/docking_events/"}
            )
        if mode == "empty":
            return web.json_response(page([]))
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            return web.json_response(page([]))
        raise AssertionError(f"unknown failure mode {mode!r}")
