"""A database dockwatch 0.1.0 wrote, opened by this version: upgraded in place, nothing lost, nothing
sent twice.

The fixture (``tests/data/dockwatch-0.1.0.sql``, written by 0.1.0's own code) holds dockings 1, 630
and 631; ``docked:630`` delivered to webhook A; ``docked:631`` queued to A for a retry; webhook B
disabled by a 410; and a Telegram chat subscribed to departures from the ISS. Target keys are
derived from webhook URLs, so the fixture's two are re-pointed at this test's receivers; the chat
is served by the fake Bot API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dockwatch.bot.config import config_from_mapping
from dockwatch.bot.model import ChangeKind, SubscriptionFilter
from dockwatch.bot.pipeline import run_cycle
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.notifiers.webhook import target_key
from dockwatch.storage.schema import head
from tests.builders import ll2_docking, ll2_event
from tests.conftest import SECRET, Clock, ReceiverFactory, database_from_sql
from tests.fakes.ll2 import FakeLL2, background_docking
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver

FIXTURE_HOOK_A = "http://127.0.0.1:9/fixture-a"
FIXTURE_HOOK_B = "http://127.0.0.1:9/fixture-b"
T0 = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


def page_as_0_1_0_last_saw_it() -> list[dict[str, Any]]:
    """The docking page of the fixture's last poll (11:20); any difference would be announced."""
    return [
        ll2_docking(631, docking=T0 + timedelta(minutes=18), port=(31, "Harmony forward")),
        ll2_docking(630, docking=T0 + timedelta(minutes=8), vehicle=(878, "Crew Dragon C212")),
        ll2_docking(1, docking=T0 - timedelta(days=20), port=(1, "Unity nadir")),
        background_docking(),
    ]


@dataclass
class Upgraded:
    app: Runtime
    hook_a: WebhookReceiver
    hook_b: WebhookReceiver
    path: Path


@pytest.fixture
async def upgraded(
    tmp_path: Path,
    fake_ll2: FakeLL2,
    fake_telegram: FakeTelegram,
    start_receiver: ReceiverFactory,
    clock: Clock,
) -> AsyncIterator[Upgraded]:
    """The 0.1.0 database opened by today's runtime at 12:00, which upgrades it on the way."""
    hook_a, hook_b = await start_receiver(), await start_receiver()
    path = database_from_sql(
        tmp_path / "dockwatch.db",
        "dockwatch-0.1.0.sql",
        {
            target_key(FIXTURE_HOOK_A): target_key(hook_a.url),
            target_key(FIXTURE_HOOK_B): target_key(hook_b.url),
        },
    )
    fake_ll2.dockings = page_as_0_1_0_last_saw_it()
    fake_ll2.events = [ll2_event(5, date=T0 + timedelta(days=2))]
    config = config_from_mapping(
        {
            "api": {"base_url": fake_ll2.base_url, "requests_per_hour": 1000},
            "storage": {"url": f"sqlite:///{path}"},
            "webhooks": [{"url": hook_a.url, "secret": SECRET}, {"url": hook_b.url, "secret": SECRET}],
            "telegram": {"token": fake_telegram.token, "api_base_url": fake_telegram.base_url},
        },
        source="test",
        environ={},
    )
    clock.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    async with open_runtime(config, clock=clock) as app:
        yield Upgraded(app, hook_a, hook_b, path)


async def cycle(app: Runtime) -> None:
    outcome = await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))
    assert outcome.error is None


async def test_the_queued_delivery_is_delivered_once_and_nothing_is_announced_again(
    upgraded: Upgraded, clock: Clock
) -> None:
    await cycle(upgraded.app)
    clock.advance(timedelta(minutes=10))
    await cycle(upgraded.app)

    assert [r.id for r in upgraded.hook_a.accepted] == ["docked:631"]
    assert upgraded.hook_b.received == []
    statuses = [(key, d.status, d.attempts) for d, key in await upgraded.app.store.deliveries()]
    assert statuses == [("docked:630", "delivered", 1), ("docked:631", "delivered", 2)]


async def test_the_chat_subscription_keeps_its_filter(upgraded: Upgraded) -> None:
    subscription = await upgraded.app.store.subscription("telegram:12345")

    assert subscription == SubscriptionFilter(frozenset({ChangeKind.DEPARTED}), frozenset({"iss"}))


async def test_the_chat_subscription_still_gets_what_it_asked_for(
    upgraded: Upgraded, fake_ll2: FakeLL2, fake_telegram: FakeTelegram, clock: Clock
) -> None:
    """0.1.0 saved it as a config target, which the first start would have silenced (revision 0003)."""
    fake_ll2.dockings[2] = ll2_docking(
        1,
        docking=T0 - timedelta(days=20),
        departure=clock.now - timedelta(minutes=1),
        port=(1, "Unity nadir"),
    )

    await cycle(upgraded.app)

    assert [m["text"].splitlines()[0] for m in fake_telegram.sent(12345)] == [
        "👋 <b>Cargo Dragon C209 departed International Space Station</b>"
    ]
    assert [r.id for r in upgraded.hook_a.accepted] == ["docked:631", "departed:1"]


async def test_the_disabled_target_stays_disabled_and_gets_nothing_new(
    upgraded: Upgraded, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings.insert(
        0, ll2_docking(632, docking=clock.now - timedelta(minutes=1), port=(2, "Zvezda aft"))
    )

    await cycle(upgraded.app)

    targets = {t.key: t for t in await upgraded.app.store.targets()}
    disabled = targets[target_key(upgraded.hook_b.url)]
    assert (disabled.enabled, disabled.disabled_reason) == (False, "HTTP 410 Gone")
    assert sorted(r.id for r in upgraded.hook_a.accepted) == ["docked:631", "docked:632"]
    assert upgraded.hook_b.received == []


async def test_the_database_is_at_the_head_revision_with_every_row_kept(upgraded: Upgraded) -> None:
    with closing(sqlite3.connect(upgraded.path)) as database:
        (revision,) = database.execute("SELECT version_num FROM alembic_version").fetchone()
        counts = {
            table: database.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("docking_record", "event_record", "notification", "delivery", "target", "poll_log")
        }

    assert revision == head()
    assert counts == {
        "docking_record": 4,
        "event_record": 1,
        "notification": 5,
        "delivery": 2,
        "target": 3,
        "poll_log": 3,
    }
