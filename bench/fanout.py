"""CPU of recording one notification for N chat targets, and of a steady cycle beside them (issue 14).

Run by hand:  python bench/fanout.py [--targets 10000 100000] [--steady 5] [--postgres URL]

Per N and backend, in a fresh child process (so its peak RSS is its own): a fresh database (a
temporary SQLite file; with ``--postgres`` or ``TEST_POSTGRES_URL``, also a database created on that
server and dropped afterwards), N chat subscriptions inserted in one statement (``save_subscription``
one by one would take longer than what is measured), a baseline cycle, then, CPU seconds from
``time.process_time`` (PostgreSQL's own CPU is not counted):

* ``announce``: ``Store.record_cycle`` with one new docking announced, owed to all N targets;
* ``steady``: ``Store.record_cycle`` when nothing changed (median of ``--steady`` rounds);
* ``leads``: ``Store.reminder_leads``, which every poll and every planning asks before it (median);
* ``peak RSS``: the child's ``ru_maxrss`` at the end, setup included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, make_url, select  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from dockwatch.bot.detect import detect  # noqa: E402
from dockwatch.bot.ll2.wire import parse_dockings  # noqa: E402
from dockwatch.bot.model import KnownState, Snapshot  # noqa: E402
from dockwatch.storage import Store  # noqa: E402
from dockwatch.storage.engine import async_url, create_engine  # noqa: E402
from dockwatch.storage.tables import DeliveryRow, TargetRow  # noqa: E402
from tests.builders import ll2_docking  # noqa: E402

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


async def add_chats(url: str, count: int, choices: int = 1) -> None:
    """Insert ``count`` chat subscriptions as ``save_subscription`` would leave them, in bulk; with
    ``choices`` > 1, spread over that many distinct reminder choices (``/remind``), all of which
    want an announcement: how many *different* choices there are is what a fan-out's cost follows."""
    engine = create_engine(url)
    try:
        rows = [
            {
                "key": f"telegram:{-1_000_000 - index}",
                "notifier": "telegram",
                "label": f"chat {index}",
                "source": "chat",
                "configured": True,
                "enabled": True,
                "reminders": [3600 + index % choices] if choices > 1 else None,
            }
            for index in range(count)
        ]
        async with engine.begin() as connection:
            for start in range(0, count, 5_000):
                await connection.execute(insert(TargetRow), rows[start : start + 5_000])
    finally:
        await engine.dispose()


def snapshot_of(count: int) -> Snapshot:
    raw = [
        ll2_docking(i, docking=NOW - timedelta(days=2), port=(i, f"port {i}")) for i in range(1, count + 1)
    ]
    return Snapshot(tuple(parse_dockings(raw, "bench", legacy=False)), ())


async def measure(url: str, targets: int, steady_rounds: int, choices: int) -> dict[str, Any]:
    async with Store.open(url) as store:
        await add_chats(url, targets, choices)
        old = snapshot_of(3)
        await store.record_cycle(old, detect(KnownState(), old, NOW), started_at=NOW, now=NOW)
        now = NOW + timedelta(minutes=10)
        new = Snapshot(
            old.dockings
            + tuple(
                parse_dockings(
                    [ll2_docking(99, docking=now - timedelta(minutes=1), port=(99, "port 99"))],
                    "bench",
                    legacy=False,
                )
            ),
            (),
        )
        changes = detect(KnownState(dockings={d.id: d for d in old.dockings}, baseline_done=True), new, now)
        assert sum(c.announce for c in changes) == 1, changes
        started = time.process_time()
        recorded = await store.record_cycle(new, changes, started_at=now, now=now)
        announce = time.process_time() - started
        assert recorded.deliveries == targets, recorded
        steady, leads = [], []
        for _ in range(steady_rounds):
            now += timedelta(minutes=10)
            started = time.process_time()
            await store.reminder_leads()
            leads.append(time.process_time() - started)
            started = time.process_time()
            await store.record_cycle(new, [], started_at=now, now=now)
            steady.append(time.process_time() - started)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            owed = (await connection.execute(select(func.count()).select_from(DeliveryRow))).scalar_one()
    finally:
        await engine.dispose()
    assert owed == targets, owed
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "announce": announce,
        "steady": statistics.median(steady),
        "leads": statistics.median(leads),
        "rss_mb": peak_kib / 1024,
    }


async def child(
    backend: str, server: str | None, targets: int, steady_rounds: int, choices: int
) -> dict[str, Any]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            return await measure(f"sqlite:///{directory}/bench.db", targets, steady_rounds, choices)
    assert server is not None
    admin = create_async_engine(async_url(server), isolation_level="AUTOCOMMIT")
    name = f"dockwatch_bench_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            return await measure(url, targets, steady_rounds, choices)
        finally:
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--steady", type=int, default=5, help="steady cycles to take the median of")
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"), help="server URL")
    parser.add_argument(
        "--choices", type=int, default=1, help="distinct reminder choices among the chats (all want it)"
    )
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "TARGETS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, targets = args.child[0], int(args.child[1])
        print(json.dumps(asyncio.run(child(backend, args.postgres, targets, args.steady, args.choices))))
        return
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"CPU seconds of Store.record_cycle, steady = median of {args.steady}, {args.choices} choice(s)")
    print(f"{'backend':<11} {'targets':>8} {'announce s':>11} {'steady s':>9} {'leads s':>8} {'RSS MB':>7}")
    for backend in backends:
        for targets in args.targets:
            command = [
                sys.executable,
                __file__,
                "--child",
                backend,
                str(targets),
                "--steady",
                str(args.steady),
                "--choices",
                str(args.choices),
            ]
            if args.postgres:
                command += ["--postgres", args.postgres]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            print(
                f"{backend:<11} {targets:>8} {result['announce']:>11.2f} {result['steady']:>9.3f}"
                f" {result['leads']:>8.3f} {result['rss_mb']:>7.0f}"
            )


if __name__ == "__main__":
    main()
