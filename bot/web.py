"""The HTTP face of ``dockwatch run``: /healthz, /metrics, the status page, /calendar.ics and /feed.atom
(aiohttp)."""

from __future__ import annotations

import difflib
import hashlib
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from dockwatch.bot.calendar import AHEAD, PAST, build_calendar, facts_of
from dockwatch.bot.config import Config
from dockwatch.bot.errors import DockwatchError
from dockwatch.bot.feed import FEED_KINDS, Announcement, build_feed
from dockwatch.bot.model import Message, SubscriptionFilter
from dockwatch.bot.runtime import Runtime
from dockwatch.bot.service import Service
from dockwatch.bot.status_page import TIMELINE_DAYS, StatusView, TargetHealth, render_status_page
from dockwatch.bot.subscriptions import UsageError, describe, parse_query, upcoming

UPCOMING = timedelta(days=7)
STALE_AFTER_INTERVALS = 3
FEED_SCAN = 1000
"""Announcements read for /feed.atom before its station filter keeps 50: years of dockwatch's."""

_SERVICE = web.AppKey("service", Service)
_RUNTIME = web.AppKey("runtime", Runtime)
_CONFIG = web.AppKey("config", Config)


def create_web_app(service: Service, app: Runtime, config: Config) -> web.Application:
    web_app = web.Application()
    web_app[_SERVICE], web_app[_RUNTIME], web_app[_CONFIG] = service, app, config
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/", status_page)
    web_app.router.add_get("/calendar.ics", calendar_feed)
    web_app.router.add_get("/feed.atom", atom_feed)
    return web_app


def is_healthy(
    last_success_at: datetime | None,
    now: datetime,
    interval: timedelta,
    failing_since: datetime | None = None,
) -> bool:
    """Healthy while the last successful poll is younger than three base intervals, and no LL2
    list has kept failing for that long (one list failing while the other is read fine)."""
    stale = STALE_AFTER_INTERVALS * interval
    fresh = last_success_at is not None and now - last_success_at < stale
    return fresh and (failing_since is None or now - failing_since < stale)


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
    healthy = health_error is None and is_healthy(
        health.last_success_at, now, config.poll.interval, health.failing_since
    )
    body = {
        "status": "ok" if healthy else "stale",
        "instance": app.instance,
        "role": str(service.role),
        "poller": service.leadership.poller,
        "last_poll_at": _iso(health.last_poll_at),
        "last_result": health.last_result,
        "last_success_at": _iso(health.last_success_at),
        "next_poll_at": _iso(health.next_poll_at),
        # Which LL2 lists that poll reads: "dockings", "events" or both.
        "next_poll_reads": sorted(health.next_endpoints) if health.next_poll_at else None,
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
        healthy=is_healthy(health.last_success_at, now, config.poll.interval, health.failing_since),
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


async def calendar_feed(request: web.Request) -> web.Response:
    """Dockings, departures and events, ``?kinds=docked,departed&station=iss`` as for /subscribe."""
    app, config = request.app[_RUNTIME], request.app[_CONFIG]
    wanted = _query_filter(request)
    now = app.clock()
    try:
        dockings = await app.store.calendar_dockings(now - PAST, now + AHEAD)
        events = await app.store.calendar_events(now - PAST, now + AHEAD)
        happened = await app.store.happened_facts(facts_of(dockings, events))
    except DockwatchError as error:
        raise _unavailable(error) from None
    body = build_calendar(
        dockings,
        events,
        happened,
        now=now,
        ll2_base=config.api.base_url,
        wanted=wanted,
        scope=_scope(wanted),
    )
    return _cacheable(request, body, "text/calendar")


async def atom_feed(request: web.Request) -> web.Response:
    """The latest 50 announcements, corrections included, filtered like /calendar.ics."""
    app, config = request.app[_RUNTIME], request.app[_CONFIG]
    wanted = _query_filter(request)
    kinds = [kind for kind in FEED_KINDS if wanted.kinds is None or kind in wanted.kinds]
    try:
        rows = await app.store.announcements(kinds, FEED_SCAN) if kinds else []
    except DockwatchError as error:
        raise _unavailable(error) from None
    body = build_feed(
        [Announcement(row.created_at, Message.model_validate(row.payload)) for row in rows],
        now=app.clock(),
        ll2_base=config.api.base_url,
        self_url=str(request.url),
        home_url=str(request.url.with_path("/").with_query(None)),
        wanted=wanted,
        scope=_scope(wanted),
    )
    return _cacheable(request, body, "application/atom+xml")


QUERY_PARAMETERS = ("kinds", "station")


def _query_filter(request: web.Request) -> SubscriptionFilter:
    """The ``kinds`` and ``station`` parameters; a bad one, or one it does not know (``kind=``, a typo
    that would otherwise answer everything), is a 400 naming it in one line."""
    unknown = sorted(set(request.query) - set(QUERY_PARAMETERS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], QUERY_PARAMETERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        text = f"unknown parameter {unknown[0][:40]!r}{hint}; use kinds= and station=\n"
        raise web.HTTPBadRequest(text=text, content_type="text/plain")
    try:
        return parse_query(request.query.getall("kinds", []), request.query.getall("station", []))
    except UsageError as error:
        raise web.HTTPBadRequest(text=f"{error}\n", content_type="text/plain") from None


def _scope(wanted: SubscriptionFilter) -> str | None:
    return None if wanted == SubscriptionFilter() else describe(wanted)


def _cacheable(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """The body with a strong ETag, or 304 to a client that has it: calendar apps and feed readers
    poll, and the same state always gives the same bytes."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    if any(tag.value in (etag, "*") for tag in request.if_none_match or ()):
        response = web.Response(status=304)
    else:
        response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.etag = etag
    response.headers["Cache-Control"] = "max-age=300"
    return response


def _unavailable(error: DockwatchError) -> web.HTTPServiceUnavailable:
    """A busy or unreachable database: one line and a hint to come back, never a traceback."""
    return web.HTTPServiceUnavailable(
        text=f"{error}\n", content_type="text/plain", headers={"Retry-After": "60"}
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
