"""CPU cost of one poll cycle over a 100-record docking page, against a bare ``json.loads``.

Run by hand:  python bench/cycle.py [--rounds 30]

The page is the eleven real 2.3.0 seed records repeated with fresh ids up to 100 (normal mode, as
dockwatch asks for), plus the seed event page. Three numbers per cycle kind, CPU seconds from
``time.process_time`` (the fake LL2 runs in another process so its CPU is not counted):

* ``json.loads``: decoding the docking page's bytes, the floor any client pays;
* ``steady cycle``: ``run_cycle`` when nothing changed (fetch over HTTP, parse, detect, write the
  snapshot in one transaction, look for due deliveries): what every poll costs;
* ``announcing cycle``: the same with one new docking announced to a console target.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from dockwatch.bot.config import config_from_mapping  # noqa: E402
from dockwatch.bot.pipeline import run_cycle  # noqa: E402
from dockwatch.bot.runtime import open_runtime  # noqa: E402

DATA = ROOT / "tests" / "data"


def hundred_records() -> list[dict[str, Any]]:
    seeds = []
    for name in ("ll2_2.3.0_docking_events_page_a.json", "ll2_2.3.0_docking_events_page_b.json"):
        seeds += json.loads((DATA / name).read_text())["results"]
    records = []
    for index in range(100):
        record = copy.deepcopy(seeds[index % len(seeds)])
        record["id"] = 10_000 + index
        records.append(record)
    return records


def serve(port_queue: Any, pages: dict[str, bytes]) -> None:
    """The fake LL2, in its own process so its CPU time is not billed to the cycle."""

    async def handler(request: web.Request) -> web.Response:
        body = pages.get(request.path, b'{"your_request_limit": 100000, "current_use": 0}')
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def page(results: list[dict[str, Any]]) -> bytes:
    return json.dumps({"count": len(results), "next": None, "results": results}).encode()


async def measure(rounds: int) -> dict[str, list[float]]:
    records = hundred_records()
    event = json.loads((DATA / "ll2_2.3.0_event_1096.json").read_text())
    docking_bytes = page(records)
    with_new = copy.deepcopy(records)
    timings: dict[str, list[float]] = {"json.loads": [], "steady cycle": [], "announcing cycle": []}

    for _ in range(rounds):
        started = time.process_time()
        json.loads(docking_bytes)
        timings["json.loads"].append(time.process_time() - started)

    manager = multiprocessing.Manager()
    pages = manager.dict({"/2.3.0/docking_events/": docking_bytes, "/2.3.0/events/upcoming/": page([event])})
    ports = manager.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, pages), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = config_from_mapping(
                {
                    "api": {"base_url": f"http://127.0.0.1:{port}/2.3.0", "requests_per_hour": 100_000},
                    "storage": {"url": f"sqlite:///{directory}/bench.db"},
                },
                source="bench",
                environ={},
            )
            async with open_runtime(config, clock=lambda: clock[0], console=io.StringIO()) as app:
                detect = config.detect
                cycle = partial(
                    run_cycle, stale_after=detect.stale_after, webcast_window=detect.webcast_window
                )
                await cycle(app)  # baseline
                for round_number in range(rounds):
                    clock[0] += timedelta(minutes=10)
                    started = time.process_time()
                    await cycle(app)
                    timings["steady cycle"].append(time.process_time() - started)

                    clock[0] += timedelta(minutes=10)
                    new = copy.deepcopy(records[0])
                    new["id"] = 50_000 + round_number
                    new["docking"] = (clock[0] - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    with_new.insert(0, new)
                    pages["/2.3.0/docking_events/"] = page(with_new[:100])
                    started = time.process_time()
                    outcome = await cycle(app)
                    timings["announcing cycle"].append(time.process_time() - started)
                    assert outcome.recorded is not None and outcome.recorded.announced == 1
    finally:
        server.terminate()
        manager.shutdown()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    timings = asyncio.run(measure(args.rounds))
    floor = statistics.median(timings["json.loads"])
    size = len(page(hundred_records()))
    print(f"100-record docking page ({size / 1000:.0f} kB), {args.rounds} rounds, CPU time per operation")
    print(f"{'operation':<18} {'median ms':>10} {'p90 ms':>8} {'x json.loads':>13}")
    for name, values in timings.items():
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(values)
        print(f"{name:<18} {median * 1000:>10.2f} {p90 * 1000:>8.2f} {median / floor:>13.1f}")


if __name__ == "__main__":
    main()
