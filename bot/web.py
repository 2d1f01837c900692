"""The HTTP face of ``dockwatch run``: /healthz, /metrics and the status page (aiohttp)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from dockwatch.bot.config import Config
from dockwatch.bot.errors import DockwatchError
from dockwatch.bot.model import Message
from dockwatch.bot.runtime import Runtime
from dockwatch.bot.service import Service
from dockwatch.bot.status_page import TIMELINE_DAYS, StatusView, TargetHealth, render_status_page
from dockwatch.bot.subscriptions import upcoming

UPCOMING = timedelta(days=7)
STALE_AFTER_INTERVALS = 3

_SERVICE = web.AppKey("service", Service)
_RUNTIME = web.AppKey("runtime", Runtime)
_CONFIG = web.AppKey("config", Config)


def create_web_app(service: Service, app: Runtime, config: Config) -> web.Application:
    web_app = web.Application()
    web_app[_SERVICE], web_app[_RUNTIME], web_app[_CONFIG] = service, app, config
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/", status_page)
    return web_app


def is_healthy(last_success_at: datetime | None, now: datetime, interval: timedelta) -> bool:
    """Healthy while the last successful poll is younger than three base intervals."""
    return last_success_at is not None and now - last_success_at < STALE_AFTER_INTERVALS * interval


async def healthz(request: web.Request) -> web.Response:
    """200 while the polls (this instance's, or on a standby the poller's, read from the database)
    are fresh; the numbers under ``database`` are the shared database's, the same on every instance."""
    service, app, config = request.app[_SERVICE], request.app[_RUNTIME], request.app[_CONFIG]
    now = app.clock()
    health = service.health
    try:
        health = await service.polling_health()
        counts = await app.store.delivery_counts()
        budget_left: int | None = await app.budget.remaining(now)
    except DockwatchError as error:  # the answer is about polling; a busy database must not hide it
        counts, budget_left = {}, None
        health_error: str | None = str(error)
    else:
        health_error = None
    healthy = health_error is None and is_healthy(health.last_success_at, now, config.poll.interval)
    body = {
        "status": "ok" if healthy else "stale",
        "instance": app.instance,
        "role": str(service.role),
        "poller": service.leadership.poller,
        "last_poll_at": _iso(health.last_poll_at),
        "last_result": health.last_result,
        "last_success_at": _iso(health.last_success_at),
        "next_poll_at": _iso(health.next_poll_at),
        "database": {
            "deliveries": {
                "queued": counts.get("queued", 0) + counts.get("sending", 0),
                "dead": counts.get("dead", 0),
            },
            "budget_left": budget_left,
        },
        # A platform that cannot start is named here; polling still works, so the status stays 200.
        "platforms": {
            unit.name: {"ok": unit.available, **({"error": unit.error} if unit.error else {})}
            for unit in app.platforms.units
        },
    }
    if health_error is not None:
        body["error"] = health_error
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    service, app = request.app[_SERVICE], request.app[_RUNTIME]
    service.metrics.set_budget_remaining(await app.budget.remaining(app.clock()))
    service.metrics.set_delivery_queue(await app.store.delivery_counts())
    for unit in app.platforms.units:
        service.metrics.set_platform_up(unit.name, unit.available)
    return web.Response(body=service.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def status_page(request: web.Request) -> web.Response:
    view = await gather_status(request.app[_SERVICE], request.app[_RUNTIME], request.app[_CONFIG])
    return web.Response(text=render_status_page(view), content_type="text/html")


async def gather_status(service: Service, app: Runtime, config: Config) -> StatusView:
    now = app.clock()
    store = app.store
    health = await service.polling_health()
    known = await store.load_known_state()
    coming = upcoming(known.dockings.values(), await store.events(), now, UPCOMING)
    per_target = await store.delivery_counts_by_target()
    targets = [
        TargetHealth(t.key, t.label, t.enabled, t.disabled_reason, per_target.get(t.key, {}))
        for t in await store.targets()
        if t.configured
    ]
    notifications = [
        (row.created_at, Message.model_validate(row.payload))
        for row in await store.notifications(limit=40)
        if row.announced
    ][:15]
    return StatusView(
        now=now,
        healthy=is_healthy(health.last_success_at, now, config.poll.interval),
        last_poll_at=health.last_poll_at,
        last_result=health.last_result,
        next_poll_at=health.next_poll_at,
        budget_left=await app.budget.remaining(now),
        budget_per_hour=config.api.requests_per_hour,
        docked=await store.docked_at(now),
        upcoming=coming,
        notifications=notifications,
        targets=targets,
        history=await store.dockings_between(now - timedelta(days=TIMELINE_DAYS), now),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
