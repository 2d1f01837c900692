"""One docking notification fanned out to 2,000 subscribed Telegram chats, against the paced limits.

Run by hand:  python bench/telegram_fanout.py [--chats 2000] [--group-share 0.3]

The real path end to end: a temporary SQLite store holding one ``/subscribe``-style subscription
per chat (``Store.save_subscription``, key ``telegram:<id>``; 70% private chats with positive ids,
30% groups with negative ids, filters that all accept an ISS docking), a config whose
``[telegram]`` table points at the fake Bot API, one docking detected by ``dockwatch.bot.detect.detect`` and
committed by ``Store.record_cycle`` (2,000 delivery rows), then delivery by ``LiveDispatcher`` from
``bot/service.py``, the dispatcher ``dockwatch run`` uses, with the real ``TelegramNotifier`` and
python-telegram-bot's ``Bot`` talking HTTP to ``tests/fakes/telegram.py``.

The fake runs in a process of its own (so its CPU is not billed to the sender) and enforces the
Bot API limits: 30 messages/s overall, 1/s per chat, 20/min per group, answering 429 and counting
a violation beyond them. Reported: the span from the first to the last accepted ``sendMessage``
(the fake's arrival clock), the rate that span gives against the 30/s ceiling (target >= 95%,
i.e. >= 28.5/s), the largest number accepted in any one-second window, the 429s (target 0), how the
deliveries ended, and the sender's CPU time while delivering (``time.process_time``).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from dockwatch.bot.config import config_from_mapping  # noqa: E402
from dockwatch.bot.detect import detect  # noqa: E402
from dockwatch.bot.ll2.wire import parse_dockings  # noqa: E402
from dockwatch.bot.model import ChangeKind, KnownState, Snapshot, SubscriptionFilter  # noqa: E402
from dockwatch.bot.runtime import Runtime, open_runtime  # noqa: E402
from dockwatch.bot.service import LiveDispatcher  # noqa: E402
from dockwatch.notifiers.telegram import chat_key  # noqa: E402
from tests.builders import ll2_docking  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

CEILING = 30.0  # messages a second, the Bot API's overall limit the fake enforces
TARGET_SHARE = 0.95
REPORT_PATH = "/_bench/report"
# Every filter a chat might have set that still accepts a docking at the ISS.
FILTERS = (
    SubscriptionFilter(),
    SubscriptionFilter(kinds=frozenset({ChangeKind.DOCKED})),
    SubscriptionFilter(stations=frozenset({"iss"})),
    SubscriptionFilter(
        kinds=frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED}), stations=frozenset({"iss"})
    ),
)


def serve(port_queue: Any) -> None:
    """The fake Bot API in its own process; ``GET /_bench/report`` hands its call log back."""

    fake = FakeTelegram()

    async def report(_request: web.Request) -> web.Response:
        calls = [
            {
                "method": call.method,
                "chat_id": call.params.get("chat_id"),
                "accepted": bool(call.params.get("_accepted")),
                "at": call.at,
            }
            for call in fake.calls
        ]
        return web.json_response({"violations": fake.violations, "calls": calls})

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


def chat_ids(count: int, group_share: float) -> list[int]:
    """``count`` distinct chats, ``group_share`` of them groups (negative ids), interleaved evenly."""
    groups = round(count * group_share)
    ids: list[int] = []
    for index in range(count):
        # Spread the groups through the list, the way subscriptions arrive over time.
        is_group = (index + 1) * groups // count > index * groups // count
        ids.append(-(1_000_000_000_000 + index) if is_group else 100_000 + index)
    return ids


class Arrivals:
    """Rates read from ``accepted``, the sorted arrival times of the messages a fake accepted; shared
    with ``bench/discord_fanout.py``."""

    accepted: list[float]

    @property
    def span(self) -> float:
        return self.accepted[-1] - self.accepted[0] if len(self.accepted) > 1 else 0.0

    @property
    def rate(self) -> float:
        """Messages a second over the span: N messages make N - 1 intervals."""
        return (len(self.accepted) - 1) / self.span if self.span > 0 else 0.0

    @property
    def peak_one_second(self) -> int:
        """The most accepted messages in any one-second window (the fake's own window)."""
        times = self.accepted
        return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


@dataclass
class FakeReport(Arrivals):
    """What the fake Bot API saw."""

    violations: int
    attempts: int
    accepted: list[float]  # arrival times (monotonic) of accepted sendMessage calls, sorted
    accepted_chats: int


async def fetch_report(base: str) -> FakeReport:
    async with aiohttp.ClientSession() as session, session.get(f"{base}{REPORT_PATH}") as response:
        body = await response.json()
    sends = [c for c in body["calls"] if c["method"] == "sendMessage"]
    accepted = sorted(c["at"] for c in sends if c["accepted"])
    chats = {c["chat_id"] for c in sends if c["accepted"]}
    return FakeReport(body["violations"], len(sends), accepted, len(chats))


async def subscribe_and_record(app: Runtime, targets: Sequence[tuple[str, str]], notifier: str) -> int:
    """Store one subscription per (key, label) of ``notifier``, the filters taking turns, and commit
    one announced docking; return its deliveries. ``bench/discord_fanout.py`` shares it."""
    for index, (key, label) in enumerate(targets):
        await app.store.save_subscription(
            key, notifier=notifier, label=label, subscription=FILTERS[index % len(FILTERS)]
        )
    now = app.clock()
    raw = [ll2_docking(9001, docking=now - timedelta(minutes=1), vehicle=(877, "Cargo Dragon <C209> & co"))]
    snapshot = Snapshot(tuple(parse_dockings(raw, "bench", legacy=False)), ())
    changes = detect(KnownState(baseline_done=True), snapshot, now)
    assert [c.announce for c in changes] == [True], changes
    recorded = await app.store.record_cycle(snapshot, changes, started_at=now, now=now)
    return recorded.deliveries


async def deliver(
    app: Runtime, expected: int, give_up_after: float, *, look_every: float = 0.5
) -> tuple[float, float, dict[str, int]]:
    """Run ``LiveDispatcher`` until nothing is queued or sending (or ``give_up_after`` s); return wall
    seconds, the sender's CPU seconds and the final delivery counts by status."""
    live = LiveDispatcher(app)
    wall, cpu = time.perf_counter(), time.process_time()
    live.start()
    deadline = wall + give_up_after
    counts: dict[str, int] = {}
    while time.perf_counter() < deadline:
        await asyncio.sleep(look_every)  # one small read transaction each time, cheap next to the sends
        counts = await app.store.delivery_counts()
        if counts.get("queued", 0) + counts.get("sending", 0) == 0 and sum(counts.values()) >= expected:
            break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await live.stop(timedelta(seconds=10))
    return wall, cpu, await app.store.delivery_counts()


async def measure(count: int, group_share: float, give_up_after: float) -> None:
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    port, token = ports.get(timeout=10)
    base = f"http://127.0.0.1:{port}"
    chats = chat_ids(count, group_share)
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = config_from_mapping(
                {
                    "storage": {"url": f"sqlite:///{directory}/bench.db"},
                    "telegram": {"token": token, "chat_ids": [], "api_base_url": f"{base}/bot"},
                },
                source="bench",
                environ={},
            )
            async with open_runtime(config, clock=lambda: datetime.now(UTC)) as app:
                setup = time.perf_counter()
                targets = [(chat_key(chat), f"Telegram chat {chat}") for chat in chats]
                deliveries = await subscribe_and_record(app, targets, "telegram")
                setup = time.perf_counter() - setup
                wall, cpu, counts = await deliver(app, deliveries, give_up_after)
        fake = await fetch_report(base)
    finally:
        server.terminate()
        server.join()
    print_table(count, group_share, deliveries, setup, wall, cpu, counts, fake)


def outcomes(counts: dict[str, int]) -> str:
    """Delivery rows by final status; one still ``sending`` counts as queued (it will be retried)."""
    queued = counts.get("queued", 0) + counts.get("sending", 0)
    return f"{counts.get('delivered', 0)} / {queued} / {counts.get('dead', 0)}"


def print_table(
    count: int,
    group_share: float,
    deliveries: int,
    setup: float,
    wall: float,
    cpu: float,
    counts: dict[str, int],
    fake: FakeReport,
) -> None:
    groups = round(count * group_share)
    target_rate = CEILING * TARGET_SHARE
    accepted = len(fake.accepted)
    rows = [
        ("chats (private / groups)", f"{count} ({count - groups} / {groups})"),
        ("deliveries recorded", f"{deliveries}"),
        ("setup (subscribe + record), s", f"{setup:.1f}"),
        ("sendMessage attempts / accepted", f"{fake.attempts} / {accepted} ({fake.accepted_chats} chats)"),
        ("first -> last accepted, s", f"{fake.span:.2f}"),
        ("rate, msg/s", f"{fake.rate:.2f} ({fake.rate / CEILING:.1%} of {CEILING:.0f})"),
        ("peak in any 1 s window", f"{fake.peak_one_second}"),
        ("limit violations (429)", f"{fake.violations}"),
        ("delivered / queued / dead", outcomes(counts)),
        ("delivery wall time, s", f"{wall:.1f}"),
        ("sender CPU while delivering, s", f"{cpu:.2f} ({cpu / max(accepted, 1) * 1000:.2f} ms/msg)"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"Telegram fan-out: one docking to {count} chats through LiveDispatcher")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    rate_ok = fake.rate >= target_rate
    print(
        f"targets: rate >= {target_rate:.1f}/s {'met' if rate_ok else 'NOT met'}, "
        f"0 violations {'met' if fake.violations == 0 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--group-share", type=float, default=0.3, help="share of chats that are groups")
    parser.add_argument("--timeout", type=float, help="give up delivering after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    timeout = args.timeout if args.timeout is not None else args.chats / (CEILING * TARGET_SHARE) + 60
    asyncio.run(measure(args.chats, args.group_share, timeout))


if __name__ == "__main__":
    main()
