"""``dockwatch demo``: a four-cycle story told by the real pipeline, offline.

The pages are real LL2 responses (the project's seed pages) with their times shifted so that, from a
baseline, Cygnus NG-23 docks, Progress MS-32 departs and a docking webcast goes live. They are served
by a small LL2 stand-in on 127.0.0.1, so the real HTTP client, detection, SQLite outbox, dispatcher
and console notifier all run exactly as in production; only the clock is virtual.
"""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from dockwatch.bot.config import config_from_mapping
from dockwatch.bot.pipeline import run_cycle
from dockwatch.bot.runtime import open_runtime

# The seed docking the story is built around: Cygnus NG-23 (record 630) docked at this time.
_ANCHOR = datetime(2025, 9, 18, 11, 24, tzinfo=UTC)
_DEPARTING_RECORD = 629  # Progress MS-32, docked with no departure set in the seed
_WEBCAST_EVENT = 1096


@dataclass(frozen=True, slots=True)
class Step:
    now: datetime
    title: str
    dockings: dict[str, Any]
    events: dict[str, Any]


def _load(name: str) -> dict[str, Any]:
    text = resources.files("dockwatch.bot").joinpath("demo_pages", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _shift(value: str | None, delta: timedelta) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
    return _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_story(start: datetime) -> list[Step]:
    """The four steps, with every seed time shifted so the anchor docking falls an hour after ``start``."""
    delta = (start + timedelta(hours=1)) - _ANCHOR
    dockings = _load("docking_events.json")
    for record in dockings["results"]:
        record["docking"] = _shift(record["docking"], delta)
        record["departure"] = _shift(record["departure"], delta)
    events = _load("events_upcoming.json")
    event = events["results"][0]
    event_date = start + timedelta(hours=4, minutes=20)
    event["date"] = _iso(event_date)
    for video in event["vid_urls"]:
        video["start_time"] = _iso(event_date - timedelta(minutes=30))
        video["end_time"] = _iso(event_date + timedelta(minutes=15))
        video["live"] = False
    event["webcast_live"] = False

    departed = copy.deepcopy(dockings)
    for record in departed["results"]:
        if record["id"] == _DEPARTING_RECORD:
            record["departure"] = _iso(start + timedelta(hours=2, minutes=50))
    live = copy.deepcopy(events)
    live["results"][0]["webcast_live"] = True
    for video in live["results"][0]["vid_urls"]:
        video["live"] = video["source"] == "plus.nasa.gov"

    return [
        Step(
            start,
            "baseline: everything LL2 lists is recorded, nothing is announced",
            dockings,
            events,
        ),
        Step(
            start + timedelta(hours=1, minutes=10),
            "a planned docking time has passed",
            dockings,
            events,
        ),
        Step(
            start + timedelta(hours=3),
            "LL2 now gives Progress MS-32 a departure time",
            departed,
            events,
        ),
        Step(start + timedelta(hours=4), "an event's webcast is flagged live", departed, live),
    ]


class _LL2StandIn:
    """Serves the current step's pages at LL2's paths."""

    def __init__(self) -> None:
        self.step: Step | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2.3.0/docking_events/", self._dockings)
        app.router.add_get("/2.3.0/events/upcoming/", self._events)
        app.router.add_get("/2.3.0/api-throttle/", self._throttle)
        return app

    async def _dockings(self, _request: web.Request) -> web.Response:
        assert self.step is not None
        return web.json_response(self.step.dockings)

    async def _events(self, _request: web.Request) -> web.Response:
        assert self.step is not None
        return web.json_response(self.step.events)

    async def _throttle(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "your_request_limit": 1000,
                "limit_frequency_secs": 3600,
                "current_use": 0,
                "next_use_secs": 0,
            }
        )


async def run_demo(stream: TextIO) -> None:
    stand_in = _LL2StandIn()
    runner = web.AppRunner(stand_in.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with tempfile.TemporaryDirectory(prefix="dockwatch-demo-") as directory:
            await _tell_story(stand_in, f"http://127.0.0.1:{port}/2.3.0", Path(directory), stream)
    finally:
        await runner.cleanup()


async def _tell_story(stand_in: _LL2StandIn, base_url: str, directory: Path, out: TextIO) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    steps = build_story(start)
    clock_now = [start]
    config = config_from_mapping(
        {
            "api": {"base_url": base_url, "requests_per_hour": 1000},
            "storage": {"url": f"sqlite:///{directory / 'dockwatch.db'}"},
        },
        source="demo",
        environ={},
    )
    out.write("dockwatch demo: recorded LL2 pages replayed through the real pipeline (offline)\n")
    out.write(f"database: {directory / 'dockwatch.db'} (removed afterwards)\n")
    async with open_runtime(config, clock=lambda: clock_now[0], console=out) as app:
        for number, step in enumerate(steps, start=1):
            stand_in.step = step
            clock_now[0] = step.now
            out.write(f"\n── cycle {number} · {step.now:%Y-%m-%d %H:%M} UTC · {step.title}\n")
            outcome = await run_cycle(
                app, stale_after=config.detect.stale_after, webcast_window=config.detect.webcast_window
            )
            assert outcome.recorded is not None, outcome.error
            if outcome.recorded.announced == 0:
                out.write(
                    f"   {len(step.dockings['results'])} docking records and "
                    f"{len(step.events['results'])} event seen; "
                    f"{outcome.recorded.recorded} facts recorded silently, nothing announced\n"
                )
    out.write("\nThat is the whole pipeline. Point a config at LL2 and run `dockwatch poll-once`.\n")
