"""One docking notification fanned out to 500 subscribed Discord channels through the bot, against
Discord's per-route buckets and its 50 requests/s global limit.

Run by hand:  python bench/discord_fanout.py [--channels 500]

The real path end to end: a temporary SQLite store holding one ``/dockwatch subscribe``-style
subscription per channel (``Store.save_subscription``, key ``discord:channel:<id>``, filters that
all accept an ISS docking), a config whose ``[discord]`` table has a bot token and points
``api_base_url`` at the fake Discord, one docking detected by ``dockwatch.bot.detect.detect`` and
committed by ``Store.record_cycle`` (one delivery row per channel), then delivery by
``LiveDispatcher`` from ``bot/service.py`` (the dispatcher ``dockwatch run`` uses) with the real
``DiscordNotifier`` and discord.py's REST client (bot token, ``channel.send`` with a nonce) talking
HTTP to ``tests/fakes/discord.py``.

``tests/fakes/discord.py`` enforces per-route buckets (``channel:<id>``, ``bucket_size`` messages
per ``bucket_window`` seconds, with ``X-RateLimit-*`` headers) but no global limit, so the fake here
is a bench-local subclass adding Discord's global one: at most 50 accepted requests in any one
second, beyond that a global 429 (``"global": true``, ``X-RateLimit-Global``, ``Retry-After``).
It runs in a process of its own, so its CPU is not billed to the sender.

The ceiling is min(global 50/s, channels x bucket_size / bucket_window): with one message per
channel the per-route buckets allow far more than 50/s, so the ceiling is the global 50/s.
Reported: the span from the first to the last accepted message (the fake's arrival clock), the rate
that span gives against the ceiling (target >= 95%), the most accepted in any one-second window, the
429s the fake had to send (global / per-route; target 0), how the deliveries ended, the delivery
wall time and the sender's CPU time while delivering (``time.process_time``).

``--pace-global`` is an experiment, not the product: it wraps discord.py's ``HTTPClient.request`` in
this process with ``dockwatch.notifiers.pacing.SlidingWindow(50, 1.0)`` (the proactive pacing the
Telegram notifier has), to show what a global pacer in front of discord.py would give.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.telegram_fanout import Arrivals, deliver, subscribe_and_record  # noqa: E402
from dockwatch.bot.config import config_from_mapping  # noqa: E402
from dockwatch.bot.runtime import open_runtime  # noqa: E402
from dockwatch.bot.service import MAX_IN_FLIGHT  # noqa: E402
from dockwatch.notifiers.discord import channel_key  # noqa: E402
from dockwatch.notifiers.pacing import SlidingWindow  # noqa: E402
from tests.fakes.discord import FakeDiscord, _json  # noqa: E402

GLOBAL_PER_SECOND = 50  # Discord's global limit for a bot: requests a second
BUCKET_SIZE, BUCKET_WINDOW = 5, 5.0  # per-route bucket of POST /channels/{id}/messages
TARGET_SHARE = 0.95
REPORT_PATH = "/_bench/report"
FIRST_CHANNEL = 300_000_000_000_000_000  # snowflake-sized channel ids


def ceiling(channels: int) -> float:
    """Messages a second the limits allow for one message per channel."""
    return min(float(GLOBAL_PER_SECOND), channels * BUCKET_SIZE / BUCKET_WINDOW)


@dataclass
class GlobalLimitedDiscord(FakeDiscord):
    """The fake Discord plus the global limit: at most ``global_per_second`` accepted requests in
    any one second (sliding window, the fake's arrival clock), a global 429 beyond it. Every
    throttled request is logged with its arrival time and outcome."""

    global_per_second: int = GLOBAL_PER_SECOND
    global_limited: int = 0
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (at, bucket, outcome)
    _accepted_at: deque[float] = field(default_factory=deque)

    def _throttle(self, bucket: str) -> tuple[web.Response | None, dict[str, str]]:
        now = time.monotonic()
        window = self._accepted_at
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.global_per_second:
            retry = round(window[0] + 1.0 - now, 3)
            self.rate_limited += 1
            self.global_limited += 1
            self.log.append((now, bucket, "429-global"))
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry, "global": True},
                status=429,
                headers={
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Retry-After": str(retry),
                    "Via": "1.1 google",
                },
            ), {}
        limited, headers = super()._throttle(bucket)
        if limited is None:
            window.append(now)
            self.log.append((now, bucket, "accepted"))
        else:
            self.log.append((now, bucket, "429-route"))
        return limited, headers


def serve(port_queue: Any) -> None:
    """The fake Discord in its own process; ``GET /_bench/report`` hands its call log back."""

    fake = GlobalLimitedDiscord(bucket_size=BUCKET_SIZE, bucket_window=BUCKET_WINDOW)

    async def report(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "log": fake.log,
                "logins": fake.logins,
                "embed_violations": fake.limit_violations,
                "duplicates": sum(1 for p in fake.posts if p.body.get("_duplicate_nonce")),
            }
        )

    async def main() -> None:
        app = fake.app()
        app.router.add_get(REPORT_PATH, report)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put((runner.addresses[0][1], fake.token))
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class FakeReport(Arrivals):
    """What the fake Discord saw."""

    attempts: int
    accepted: list[float]  # arrival times (monotonic) of accepted messages, sorted
    accepted_channels: int
    global_429: int
    route_429: int
    embed_violations: int
    duplicates: int

    @property
    def violations(self) -> int:
        return self.global_429 + self.route_429 + self.embed_violations


async def fetch_report(base: str) -> FakeReport:
    async with aiohttp.ClientSession() as session, session.get(f"{base}{REPORT_PATH}") as response:
        body = await response.json()
    sends = [entry for entry in body["log"] if entry[1].startswith("channel:")]
    accepted = sorted(at for at, _bucket, outcome in sends if outcome == "accepted")
    channels = {bucket for _at, bucket, outcome in sends if outcome == "accepted"}
    return FakeReport(
        attempts=len(sends),
        accepted=accepted,
        accepted_channels=len(channels),
        global_429=sum(1 for entry in sends if entry[2] == "429-global"),
        route_429=sum(1 for entry in sends if entry[2] == "429-route"),
        embed_violations=len(body["embed_violations"]),
        duplicates=body["duplicates"],
    )


async def measure(count: int, give_up_after: float, *, paced: bool) -> None:
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    port, token = ports.get(timeout=10)
    base = f"http://127.0.0.1:{port}"
    channels = [FIRST_CHANNEL + index for index in range(count)]
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = config_from_mapping(
                {
                    "storage": {"url": f"sqlite:///{directory}/bench.db"},
                    "discord": {"token": token, "api_base_url": f"{base}/api/v10"},
                },
                source="bench",
                environ={},
            )
            async with open_runtime(config, clock=lambda: datetime.now(UTC)) as app:
                setup = time.perf_counter()
                targets = [(channel_key(channel), f"Discord channel {channel}") for channel in channels]
                deliveries = await subscribe_and_record(app, targets, "discord")
                setup = time.perf_counter() - setup
                wall, cpu, counts = await deliver(app, deliveries, give_up_after, look_every=0.25)
        fake = await fetch_report(base)
    finally:
        server.terminate()
        server.join()
    print_table(count, deliveries, setup, wall, cpu, counts, fake, paced=paced)


def outcomes(counts: dict[str, int]) -> str:
    queued = counts.get("queued", 0) + counts.get("sending", 0)
    return f"{counts.get('delivered', 0)} / {queued} / {counts.get('dead', 0)}"


def print_table(
    count: int,
    deliveries: int,
    setup: float,
    wall: float,
    cpu: float,
    counts: dict[str, int],
    fake: FakeReport,
    *,
    paced: bool,
) -> None:
    top = ceiling(count)
    target_rate = top * TARGET_SHARE
    accepted = len(fake.accepted)
    delivered = counts.get("delivered", 0)
    rows = [
        ("channels", f"{count}"),
        (
            "limits",
            f"global {GLOBAL_PER_SECOND}/s; per route {BUCKET_SIZE} per {BUCKET_WINDOW:g} s; "
            f"ceiling {top:g}/s",
        ),
        ("LiveDispatcher MAX_IN_FLIGHT", f"{MAX_IN_FLIGHT}"),
        ("deliveries recorded", f"{deliveries}"),
        ("setup (subscribe + record), s", f"{setup:.1f}"),
        ("message attempts / accepted", f"{fake.attempts} / {accepted} ({fake.accepted_channels} channels)"),
        ("first -> last accepted, s", f"{fake.span:.2f}"),
        ("rate, msg/s", f"{fake.rate:.2f} ({fake.rate / top:.1%} of {top:g})"),
        ("peak in any 1 s window", f"{fake.peak_one_second}"),
        ("429s: global / per-route", f"{fake.global_429} / {fake.route_429}"),
        ("embed limit violations", f"{fake.embed_violations}"),
        ("duplicate nonces (posted nothing)", f"{fake.duplicates}"),
        ("delivered / queued / dead", outcomes(counts)),
        ("delivery wall time, s", f"{wall:.1f} ({delivered / wall if wall else 0:.1f} delivered/s)"),
        ("sender CPU while delivering, s", f"{cpu:.2f} ({cpu / max(accepted, 1) * 1000:.2f} ms/msg)"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"Discord fan-out: one docking to {count} channels through the bot and LiveDispatcher")
    if paced:
        print("EXPERIMENT (--pace-global): discord.py's requests paced by a bench-local 50/s SlidingWindow")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    rate_ok = fake.rate >= target_rate and delivered == count
    print(
        f"targets: rate >= {target_rate:.1f}/s {'met' if rate_ok else 'NOT met'}, "
        f"0 violations {'met' if fake.violations == 0 else 'NOT met'}"
    )


def pace_discord_globally(per_second: int) -> None:
    """Bench-only experiment: every discord.py REST request in this process takes a slot of one
    ``SlidingWindow(per_second, 1.0)`` first (held until the request, retries included, is done)."""
    import discord.http

    original = discord.http.HTTPClient.request
    windows: dict[int, SlidingWindow] = {}  # one per event loop (asyncio.Lock binds to its loop)

    async def paced(self: Any, *args: Any, **kwargs: Any) -> Any:
        loop = id(asyncio.get_running_loop())
        window = windows.setdefault(loop, SlidingWindow(per_second, 1.0))
        async with window.slot():
            return await original(self, *args, **kwargs)

    discord.http.HTTPClient.request = paced  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--timeout", type=float, help="give up delivering after this many seconds")
    parser.add_argument(
        "--pace-global",
        action="store_true",
        help="experiment: pace discord.py's requests with a 50/s SlidingWindow (not what the product does)",
    )
    args = parser.parse_args()
    if args.pace_global:
        pace_discord_globally(GLOBAL_PER_SECOND)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    timeout = args.timeout
    if timeout is None:
        timeout = args.channels / (ceiling(args.channels) * TARGET_SHARE) + 90
    asyncio.run(measure(args.channels, timeout, paced=args.pace_global))


if __name__ == "__main__":
    main()
