"""Peak RSS of ``dockwatch run`` with N chat subscriptions and one notification fanned out to all (issue 14).

Run by hand:  python bench/run_memory.py [--subscriptions 0 10000 100000] [--deliver 180]

Per N, from scratch: a temporary SQLite database with the schema ``Store.open`` makes and N
Telegram chat subscriptions (``telegram:<id>``, source ``chat``, enabled, the columns
``save_subscription`` leaves) inserted in bulk by ``bench.fanout.add_chats``; the fake LL2
(``tests/fakes/ll2.py``) and the fake Telegram Bot API (``tests/fakes/telegram.py``, enforcing 30
messages/s overall) each in a process of its own, so neither's memory is counted; a config with
``[poll] interval = "20s"``, ``min_interval = "5s"``, ``[api] requests_per_hour = 1000`` and a
``[telegram]`` table pointing at the fake. Then ``dockwatch run --config FILE`` as a subprocess (as
``tests/service_harness.py`` starts it), and every 0.5 s its ``VmRSS`` and ``VmHWM`` from
``/proc/<pid>/status``:

* ``start``: VmRSS once ``/healthz`` answers;
* ``steady``: VmRSS after the baseline poll and one more steady poll, VmHWM so far (``steady peak``);
* the fake LL2 then shows one new docking at the ISS; the next poll announces it and records one
  delivery per chat (``recorded s``: seconds from the change to all N delivery rows committed);
* ``recorded RSS``: VmRSS once that poll is logged;
* ``peak``: VmHWM at the end of the window: the recording of the fan-out plus the first
  ``--deliver`` seconds of delivery (or until every delivery is done, if sooner). The fake paces
  at 30/s, so 100,000 deliveries would take about an hour; the window covers the recording and
  the start of delivery, not all of it. ``delivered`` says how many were delivered in the window.

Delivery progress is read from the SQLite file by this process (one small read every 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.fanout import add_chats  # noqa: E402
from dockwatch.storage import Store  # noqa: E402
from tests.builders import ll2_docking  # noqa: E402
from tests.fakes.ll2 import FakeLL2  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.service_harness import free_port  # noqa: E402

SAMPLE_EVERY = 0.5


def serve_ll2(port_queue: Any) -> None:
    """The fake LL2 in its own process; ``POST /_bench/announce`` adds one new docking at the ISS,
    ``GET /_bench/requests`` says how many docking pages it served."""
    fake = FakeLL2()
    fake.throttle["your_request_limit"] = 100_000

    async def announce(_request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        fake.dockings.insert(
            0, ll2_docking(9001, docking=now - timedelta(minutes=1), vehicle=(877, "Cargo Dragon C209"))
        )
        return web.json_response({"ok": True})

    async def requests(_request: web.Request) -> web.Response:
        pages = sum(1 for r in fake.requests if "docking_event" in r.path)
        return web.json_response({"docking_pages": pages})

    async def main() -> None:
        app = fake.app()
        app.router.add_post("/_bench/announce", announce)
        app.router.add_get("/_bench/requests", requests)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_telegram(port_queue: Any) -> None:
    """The fake Bot API in its own process (30 messages/s overall, as Telegram enforces). Its call
    log is trimmed to the last few thousand so its own memory stays small over a long run."""
    fake = FakeTelegram()

    async def trim() -> None:
        while True:
            await asyncio.sleep(5)
            if len(fake.calls) > 5_000:
                del fake.calls[:-1_000]
            fake._messages.clear()

    async def main() -> None:
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        task = asyncio.create_task(trim())
        await asyncio.Event().wait()
        task.cancel()

    asyncio.run(main())


def start_server(target: Any) -> tuple[multiprocessing.Process, int]:
    ports: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(ports,), daemon=True)
    process.start()
    return process, ports.get(timeout=30)


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                values[name] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


class Sampler:
    """VmRSS/VmHWM of the subprocess every ``SAMPLE_EVERY`` seconds, in the background."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, int]] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                rss, hwm = memory_kib(self.pid)
            except (FileNotFoundError, ProcessLookupError, KeyError):
                return
            self.samples.append((time.monotonic(), rss, hwm))
            await asyncio.sleep(SAMPLE_EVERY)

    def now(self) -> tuple[int, int]:
        return memory_kib(self.pid)


def counts(db: Path) -> dict[str, int]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute("SELECT status, count(*) FROM delivery GROUP BY status").fetchall()
    finally:
        connection.close()
    return dict(rows)


def poll_count(db: Path, announced: bool = False) -> int:
    """Polls logged (only those that announced something, with ``announced``)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    where = " WHERE changes_announced > 0" if announced else ""
    try:
        return int(connection.execute(f"SELECT count(*) FROM poll_log{where}").fetchone()[0])
    finally:
        connection.close()


async def wait_for(check: Any, within: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def mark(process: asyncio.subprocess.Process | None, launcher: str | None) -> None:
    """With ``--launcher``, signal SIGUSR1 (e.g. for a tracemalloc dump) at each measuring point."""
    if launcher and process is not None and process.returncode is None:
        process.send_signal(signal.SIGUSR1)


async def measure(subscriptions: int, deliver_window: float, launcher: str | None = None) -> dict[str, Any]:
    ll2_process, ll2_port = start_server(serve_ll2)
    telegram_process, telegram_port = start_server(serve_telegram)
    ll2 = f"http://127.0.0.1:{ll2_port}"
    process: asyncio.subprocess.Process | None = None
    try:
        with tempfile.TemporaryDirectory() as directory:
            db = Path(directory) / "bench.db"
            url = f"sqlite:///{db}"
            async with Store.open(url):
                pass  # the schema, as dockwatch makes it
            await add_chats(url, subscriptions)
            web_port = free_port()
            config = Path(directory) / "dockwatch.toml"
            config.write_text(
                f'[api]\nbase_url = "{ll2}/2.3.0"\nrequests_per_hour = 1000\n'
                f'[storage]\nurl = "{url}"\n'
                '[poll]\ninterval = "20s"\nmin_interval = "5s"\n'
                f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
                f'[telegram]\ntoken = "{FakeTelegram.token}"\nchat_ids = []\n'
                f'api_base_url = "http://127.0.0.1:{telegram_port}/bot"\n'
            )
            environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKWATCH_")}
            program = [launcher] if launcher else ["-m", "dockwatch"]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *program,
                "run",
                "--config",
                str(config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=open(Path(directory) / "run.log", "wb"),  # noqa: SIM115, ASYNC230
                env=environment,
                cwd=ROOT,
            )
            sampler = Sampler(process.pid)
            async with aiohttp.ClientSession() as http:

                def answering() -> bool:
                    return process is not None and process.returncode is None

                async def healthy() -> bool:
                    try:
                        async with http.get(f"http://127.0.0.1:{web_port}/healthz") as response:
                            await response.read()
                            return True
                    except aiohttp.ClientError:
                        return False

                deadline = time.monotonic() + 120
                while not await healthy():
                    if time.monotonic() > deadline or process.returncode is not None:
                        raise RuntimeError((Path(directory) / "run.log").read_text()[-3000:])
                    await asyncio.sleep(0.2)
                start_rss, _ = sampler.now()
                # The baseline poll, then one steady poll after it.
                await wait_for(lambda: poll_count(db) >= 1, 120, "the baseline poll")
                await wait_for(lambda: poll_count(db) >= 2, 120, "a steady poll")
                await asyncio.sleep(2)
                steady_rss, steady_hwm = sampler.now()
                mark(process, launcher)
                async with http.post(f"{ll2}/_bench/announce") as response:
                    await response.read()
                changed = time.monotonic()
                await wait_for(lambda: poll_count(db, announced=True) >= 1, 600, "the fan-out", every=1)
                assert sum(counts(db).values()) == subscriptions, counts(db)
                recorded = time.monotonic() - changed
                recorded_rss, recorded_hwm = sampler.now()
                mark(process, launcher)
                window_end = time.monotonic() + deliver_window
                final: dict[str, int] = {}
                while time.monotonic() < window_end:
                    await asyncio.sleep(2)
                    final = await asyncio.to_thread(counts, db)
                    if final.get("delivered", 0) + final.get("dead", 0) >= subscriptions:
                        break
                end_rss, end_hwm = sampler.now()
                mark(process, launcher)
                await asyncio.sleep(30 if launcher else 0)
                alive = answering()
            sampler.task.cancel()
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
            return {
                "subscriptions": subscriptions,
                "start_mb": start_rss / 1024,
                "steady_mb": steady_rss / 1024,
                "steady_peak_mb": steady_hwm / 1024,
                "recorded_s": recorded,
                "recorded_rss_mb": recorded_rss / 1024,
                "recorded_peak_mb": recorded_hwm / 1024,
                "end_rss_mb": end_rss / 1024,
                "peak_mb": end_hwm / 1024,
                "window_s": time.monotonic() - changed,
                "delivered": final.get("delivered", 0),
                "dead": final.get("dead", 0),
                "alive": alive,
                "max_sampled_rss_mb": max(s[1] for s in sampler.samples) / 1024,
            }
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        ll2_process.terminate()
        telegram_process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, nargs="+", default=[0, 10_000, 100_000])
    parser.add_argument("--deliver", type=float, default=180, help="seconds of delivery to watch")
    parser.add_argument("--json", action="store_true", help="also print each result as JSON")
    parser.add_argument(
        "--launcher",
        help="run 'python LAUNCHER run --config FILE' instead of 'python -m dockwatch run ...', and send"
        " it SIGUSR1 at the steady, recorded and end points (a tracemalloc wrapper, say)",
    )
    args = parser.parse_args()
    print(f"dockwatch run, SQLite, fake Telegram at 30 msg/s, delivery window {args.deliver:.0f} s")
    print(
        f"{'subs':>7} {'start MB':>9} {'steady MB':>10} {'steady peak':>12} {'recorded s':>11}"
        f" {'rec. RSS':>9} {'rec. peak':>10} {'peak MB':>8} {'end RSS MB':>11} {'delivered':>10}"
    )
    for subscriptions in args.subscriptions:
        result = asyncio.run(measure(subscriptions, args.deliver, args.launcher))
        print(
            f"{subscriptions:>7} {result['start_mb']:>9.0f} {result['steady_mb']:>10.0f}"
            f" {result['steady_peak_mb']:>12.0f} {result['recorded_s']:>11.1f}"
            f" {result['recorded_rss_mb']:>9.0f} {result['recorded_peak_mb']:>10.0f}"
            f" {result['peak_mb']:>8.0f}"
            f" {result['end_rss_mb']:>11.0f} {result['delivered']:>10}",
            flush=True,
        )
        if args.json:
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
