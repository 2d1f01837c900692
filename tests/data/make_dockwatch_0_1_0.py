"""Writes ``dockwatch-0.1.0.sql``: a database made by dockwatch 0.1.0's own code, dumped as SQL.

It runs against the 0.1.0 tree (commit 805f2a6, whose packages were the top-level ``bot`` and
``storage``), never against this one, so the fixture holds exactly what 0.1.0 wrote::

    mkdir /tmp/dockwatch-0.1.0 && git archive 805f2a6 | tar -x -C /tmp/dockwatch-0.1.0
    cd /tmp/dockwatch-0.1.0 && PYTHONPATH=. python /path/to/tests/data/make_dockwatch_0_1_0.py OUT.db
    sqlite3 OUT.db .dump  # below the two comment lines that open dockwatch-0.1.0.sql

What it holds (times on 2026-01-01, UTC): a baseline poll at 11:00 (docking 1, event 5), webhook
``FIXTURE_HOOK_B`` disabled by a 410 at 11:05, docking 630 announced at 11:10 and delivered to
webhook ``FIXTURE_HOOK_A``, docking 631 announced at 11:20 whose delivery failed once and is
queued for 11:21, and a Telegram chat subscribed to departures only.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from bot.detect import detect
from bot.ll2.wire import parse_dockings, parse_events
from bot.model import ChangeKind, Snapshot, SubscriptionFilter
from notifiers.webhook import target_key
from storage import Store, TargetInfo
from tests.builders import ll2_docking, ll2_event
from tests.fakes.ll2 import background_docking

FIXTURE_HOOK_A = "http://127.0.0.1:9/fixture-a"
FIXTURE_HOOK_B = "http://127.0.0.1:9/fixture-b"
T0 = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


def fixture_dockings() -> list[dict[str, object]]:
    """The LL2 docking page as it stood at 11:20 (the tests serve the same page after the upgrade)."""
    return [
        ll2_docking(631, docking=T0 + timedelta(minutes=18), port=(31, "Harmony forward")),
        ll2_docking(630, docking=T0 + timedelta(minutes=8), vehicle=(878, "Crew Dragon C212")),
        ll2_docking(1, docking=T0 - timedelta(days=20), port=(1, "Unity nadir")),
        background_docking(),
    ]


def fixture_events() -> list[dict[str, object]]:
    return [ll2_event(5, date=T0 + timedelta(days=2))]


async def cycle(store: Store, dockings: list[dict[str, object]], now: datetime) -> None:
    snapshot = Snapshot(
        tuple(parse_dockings(dockings, "fixture", legacy=False)),
        tuple(parse_events(fixture_events(), "fixture")),
    )
    changes = detect(await store.load_known_state(), snapshot, now)
    await store.record_cycle(snapshot, changes, started_at=now, now=now)


async def main(path: str) -> None:
    hook_a, hook_b = target_key(FIXTURE_HOOK_A), target_key(FIXTURE_HOOK_B)
    page = fixture_dockings()
    async with Store.open(f"sqlite:///{path}") as store:
        await store.sync_targets(
            [TargetInfo(hook_a, "webhook", "fixture a"), TargetInfo(hook_b, "webhook", "fixture b")]
        )
        await store.save_subscription(
            "telegram:12345",
            notifier="telegram",
            label="Launch fans",
            subscription=SubscriptionFilter(frozenset({ChangeKind.DEPARTED}), frozenset({"iss"})),
        )
        await store.record_api_call(T0, "/docking_events/")
        await cycle(store, page[2:], T0)
        await store.disable_target(hook_b, reason="HTTP 410 Gone", now=T0 + timedelta(minutes=5))

        now = T0 + timedelta(minutes=10)
        await cycle(store, page[1:], now)
        (delivered,) = await store.claim_due(now, lease_until=now + timedelta(minutes=2))
        await store.mark_delivered(delivered.id, now)

        now = T0 + timedelta(minutes=20)
        await cycle(store, page, now)
        (failed,) = await store.claim_due(now, lease_until=now + timedelta(minutes=2))
        await store.mark_retry(
            failed.id, now=now, next_attempt_at=now + timedelta(seconds=60), error="HTTP 502"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
