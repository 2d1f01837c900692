"""The state store: SQLite set up for a long-lived writer, raw copies kept, times kept in UTC."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwatch.bot.detect import detect
from dockwatch.bot.errors import StorageError
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import KnownState, Snapshot
from dockwatch.storage import Store, TargetInfo
from dockwatch.storage.engine import async_url
from tests.builders import ll2_docking

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
OWNER = "host-a:1:aaaaaa"
OTHER = "host-b:2:bbbbbb"


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    """This module's store runs each spec on SQLite and on PostgreSQL."""
    async with Store.open(any_db_url) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(db_url: str) -> AsyncIterator[Store]:
    """For the specs that look at how SQLite keeps the data (they read the file with sqlite3)."""
    async with Store.open(db_url) as opened:
        yield opened


def snapshot_of(*raw: dict[str, object]) -> Snapshot:
    return Snapshot(tuple(parse_dockings(list(raw), "test", legacy=False)), ())


def query(db_url: str, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as connection:
        return connection.execute(sql).fetchall()


async def test_sqlite_runs_in_wal_mode(sqlite_store: Store, db_url: str) -> None:
    assert query(db_url, "PRAGMA journal_mode") == [("wal",)]


async def test_the_raw_ll2_json_is_kept_and_refreshed_when_a_used_field_changes(
    sqlite_store: Store, db_url: str
) -> None:
    store = sqlite_store
    first = ll2_docking(1, docking=NOW - timedelta(days=1))
    await store.record_cycle(snapshot_of(first), [], started_at=NOW, now=NOW)
    moved = ll2_docking(1, docking=NOW - timedelta(days=1), departure=NOW + timedelta(days=30))
    await store.record_cycle(snapshot_of(moved), [], started_at=NOW, now=NOW + timedelta(minutes=10))

    ((raw,),) = query(db_url, "SELECT raw FROM docking_record WHERE id = 1")
    assert json.loads(str(raw)) == moved


async def test_an_unchanged_record_is_only_marked_as_seen_again(sqlite_store: Store, db_url: str) -> None:
    store = sqlite_store
    record = ll2_docking(1, docking=NOW - timedelta(days=1))
    await store.record_cycle(snapshot_of(record), [], started_at=NOW, now=NOW)

    await store.record_cycle(snapshot_of(record), [], started_at=NOW, now=NOW + timedelta(minutes=10))

    ((first_seen, last_seen),) = query(db_url, "SELECT first_seen, last_seen FROM docking_record")
    assert (first_seen, last_seen) == ("2026-01-01 12:00:00.000000", "2026-01-01 12:10:00.000000")


async def test_known_state_round_trips_records_with_aware_utc_times(store: Store) -> None:
    snapshot = snapshot_of(ll2_docking(1, docking=NOW - timedelta(days=1), departure=NOW + timedelta(days=3)))
    await store.record_cycle(snapshot, [], started_at=NOW, now=NOW)

    known = await store.load_known_state()

    assert known.dockings == {1: snapshot.dockings[0]}
    assert known.dockings[1].docking is not None and known.dockings[1].docking.tzinfo is UTC


async def test_concurrent_writers_queue_instead_of_failing(any_db_url: str) -> None:
    async with Store.open(any_db_url) as one, Store.open(any_db_url) as two:
        snapshot = snapshot_of(ll2_docking(1, docking=NOW - timedelta(minutes=5)))
        changes = detect(KnownState(baseline_done=True), snapshot, NOW)

        results = await asyncio.gather(
            *(
                store.record_cycle(snapshot, changes, started_at=NOW, now=NOW)
                for store in (one, two, one, two)
            )
        )

    assert sorted(r.recorded for r in results) == [0, 0, 0, 1]


async def test_a_baseline_needs_a_successful_poll_not_just_a_failed_one(store: Store) -> None:
    await store.record_poll_failure(started_at=NOW, now=NOW, result="upstream_error", detail="HTTP 500")
    assert not (await store.load_known_state()).baseline_done

    await store.record_cycle(snapshot_of(), [], started_at=NOW, now=NOW)
    assert (await store.load_known_state()).baseline_done


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///dockwatch.db", "sqlite+aiosqlite:///dockwatch.db"),
        ("sqlite:////var/lib/dockwatch/state.db", "sqlite+aiosqlite:////var/lib/dockwatch/state.db"),
        ("postgresql://dock:pw@db/dockwatch", "postgresql+asyncpg://dock:pw@db/dockwatch"),
    ],
    ids=["relative sqlite", "absolute sqlite", "postgresql"],
)
def test_plain_urls_get_the_async_driver(url: str, expected: str) -> None:
    assert async_url(url) == expected


async def test_a_database_that_cannot_be_opened_leaves_no_sqlite_thread_running() -> None:
    before = set(threading.enumerate())

    with pytest.raises(StorageError, match="cannot open database"):
        async with Store.open("sqlite:////nonexistent-dir/deeper/dockwatch.db"):
            pass

    # A worker still running would post to this event loop after the test (or the CLI) closed it.
    started = [thread.name for thread in threading.enumerate() if thread not in before]
    assert [name for name in started if "_connection_worker_thread" in name] == []


async def test_a_failed_sqlite_connect_returns_only_once_aiosqlite_s_thread_has_ended() -> None:
    """The engine's own connect, past the probe: a file that vanishes or turns unreadable later."""
    from dockwatch.storage.engine import _connect_sqlite

    before = set(threading.enumerate())

    with pytest.raises(sqlite3.OperationalError):
        await _connect_sqlite("/nonexistent-dir/deeper/dockwatch.db")

    started = [thread for thread in threading.enumerate() if thread not in before]
    assert [t.name for t in started if "_connection_worker_thread" in t.name] == []


def test_an_unsupported_database_is_named(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported database 'mysql'"):
        async_url("mysql://x/y")


async def test_releasing_claims_at_stop_leaves_another_process_s_claims_alone(store: Store) -> None:
    from dockwatch.bot.model import ChangeKind, Message
    from dockwatch.storage import TargetInfo

    await store.sync_targets(
        [TargetInfo("webhook:a", "webhook", "a"), TargetInfo("webhook:b", "webhook", "b")]
    )
    snapshot = snapshot_of(ll2_docking(1, docking=NOW - timedelta(minutes=5)))
    changes = detect(KnownState(baseline_done=True), snapshot, NOW)
    assert [c.kind for c in changes] == [ChangeKind.DOCKED] and isinstance(changes[0].message, Message)
    await store.record_cycle(snapshot, changes, started_at=NOW, now=NOW)
    mine = await store.claim_due(
        NOW, lease_until=NOW + timedelta(minutes=5), owner=OWNER, target_key="webhook:a"
    )
    theirs = await store.claim_due(
        NOW, lease_until=NOW + timedelta(minutes=5), owner=OTHER, target_key="webhook:b"
    )

    released = await store.release_claims([d.id for d in mine + theirs], NOW, owner=OWNER)

    assert released == 1
    statuses = {d.target_key: d.status for d, _key in await store.deliveries()}
    assert statuses == {"webhook:a": "queued", "webhook:b": "sending"}
    assert len(theirs) == 1


async def test_old_budget_and_poll_bookkeeping_is_pruned_but_recent_rows_stay(
    sqlite_store: Store, db_url: str
) -> None:
    store = sqlite_store
    await store.record_api_call(NOW - timedelta(hours=3), "/docking_events/")
    await store.record_api_call(NOW - timedelta(minutes=30), "/docking_events/")
    await store.record_poll_failure(
        started_at=NOW - timedelta(days=100),
        now=NOW - timedelta(days=100),
        result="upstream_error",
        detail="x",
    )

    await store.record_cycle(snapshot_of(), [], started_at=NOW, now=NOW)

    assert await store.api_calls_since(NOW - timedelta(days=1)) == [NOW - timedelta(minutes=30)]
    assert query(db_url, "SELECT result FROM poll_log") == [("ok",)]


async def record_docking_for(store: Store, *target_keys: str) -> None:
    """One announced docking owed to each of ``target_keys`` (and to any subscribed chat)."""
    await store.sync_targets([TargetInfo(key, key.partition(":")[0], key) for key in target_keys])
    snapshot = snapshot_of(ll2_docking(1, docking=NOW - timedelta(minutes=5)))
    await store.record_cycle(
        snapshot, detect(KnownState(baseline_done=True), snapshot, NOW), started_at=NOW, now=NOW
    )


async def test_a_platform_that_cannot_send_keeps_its_deliveries_queued_while_others_are_claimed(
    store: Store,
) -> None:
    await record_docking_for(store, "discord:webhook:1", "telegram:7", "webhook:a", "discord_x:1")

    claimed = await store.claim_due(
        NOW, lease_until=NOW + timedelta(minutes=2), owner=OWNER, exclude_platforms=["discord"]
    )

    assert sorted(d.target_key for d in claimed) == ["discord_x:1", "telegram:7", "webhook:a"]
    statuses = {d.target_key: d.status for d, _key in await store.deliveries()}
    assert statuses["discord:webhook:1"] == "queued"


async def test_next_due_ignores_the_platforms_that_cannot_send(store: Store) -> None:
    await record_docking_for(store, "discord:webhook:1", "telegram:7")
    await store.claim_due(NOW, lease_until=NOW + timedelta(minutes=2), owner=OWNER, target_key="telegram:7")

    assert await store.next_due(exclude_platforms=["discord"]) == NOW + timedelta(minutes=2)
    assert await store.next_due(exclude_platforms=["discord", "telegram"]) is None
    assert await store.next_due() == NOW


async def test_a_platform_name_is_matched_literally_not_as_a_pattern(store: Store) -> None:
    await record_docking_for(store, "web_hook:1", "webxhook:1")

    claimed = await store.claim_due(
        NOW, lease_until=NOW + timedelta(minutes=2), owner=OWNER, exclude_platforms=["web_hook"]
    )

    assert [d.target_key for d in claimed] == ["webxhook:1"]


async def test_the_receipt_is_stored_on_the_delivery_and_listed_with_recent_deliveries(store: Store) -> None:
    from dockwatch.bot.model import Receipt

    await record_docking_for(store, "telegram:7", "webhook:a")
    telegram, hook = sorted(
        await store.claim_due(NOW, lease_until=NOW + timedelta(minutes=2), owner=OWNER),
        key=lambda d: d.target_key,
    )
    receipt = Receipt(platform="telegram", message={"chat_id": 7, "message_id": 4242})
    await store.mark_delivered(telegram, NOW + timedelta(seconds=1), receipt=receipt)
    await store.mark_delivered(hook, NOW + timedelta(seconds=2))

    recent = [(key, d.target_key, d.receipt) for d, key in await store.recent_deliveries()]

    assert recent == [("docked:1", "webhook:a", None), ("docked:1", "telegram:7", receipt)]


async def test_a_receipt_is_kept_as_plain_json(sqlite_store: Store, db_url: str) -> None:
    store = sqlite_store
    from dockwatch.bot.model import Receipt

    await record_docking_for(store, "telegram:7")
    (delivery,) = await store.claim_due(NOW, lease_until=NOW + timedelta(minutes=2), owner=OWNER)
    receipt = Receipt(
        platform="telegram", message={"chat_id": -100, "message_id": 9}, moved_to="telegram:-1007"
    )

    await store.mark_delivered(delivery, NOW, receipt=receipt)

    ((stored,),) = query(db_url, "SELECT receipt FROM delivery")
    assert json.loads(str(stored)) == {
        "platform": "telegram",
        "message": {"chat_id": -100, "message_id": 9},
        "moved_to": "telegram:-1007",
    }


async def test_a_chat_subscription_still_gets_deliveries_after_a_restart(store: Store) -> None:
    from dockwatch.bot.model import SubscriptionFilter

    await store.save_subscription(
        "telegram:5", notifier="telegram", label="fans", subscription=SubscriptionFilter()
    )
    await store.sync_targets([])  # the next start: the config lists no targets

    await record_docking_for(store)

    assert [d.target_key for d, _key in await store.deliveries()] == ["telegram:5"]


async def test_a_chat_the_config_starts_listing_becomes_a_config_target(store: Store) -> None:
    from dockwatch.bot.model import SubscriptionFilter

    await store.save_subscription(
        "telegram:5", notifier="telegram", label="fans", subscription=SubscriptionFilter()
    )

    await store.sync_targets([TargetInfo("telegram:5", "telegram", "Telegram chat 5")])

    assert [(t.source, t.configured, t.label) for t in await store.targets()] == [
        ("config", True, "Telegram chat 5")
    ]


async def test_the_vehicle_each_docking_id_was_first_recorded_as_docked_with_is_remembered(
    any_db_url: str,
) -> None:
    # LL2 reuses 630 for Soyuz MS-27: the docking record is overwritten, the first vehicle is not.
    dragon = snapshot_of(
        ll2_docking(630, docking=NOW - timedelta(days=30), vehicle=(877, "Cargo Dragon C209")),
        ll2_docking(631, docking=NOW - timedelta(days=9), vehicle=None),
    )
    soyuz = snapshot_of(ll2_docking(630, docking=NOW - timedelta(hours=1), vehicle=(20, "Soyuz MS-27")))
    async with Store.open(any_db_url) as store:
        await store.record_cycle(dragon, detect(KnownState(), dragon, NOW), started_at=NOW, now=NOW)
        later = NOW + timedelta(minutes=10)
        reused = detect(await store.load_known_state(notices_for={630}), soyuz, later)
        await store.record_cycle(soyuz, reused, started_at=later, now=later)

        known = await store.load_known_state(notices_for={630, 631})

    assert [c.key for c in reused] == ["docked:630/spacecraft_flight:20"]
    assert known.docked_vehicles == {630: ("spacecraft_flight", 877)}
    assert known.dockings[630].chaser is not None and known.dockings[630].chaser.id == 20


async def test_instances_recording_a_new_platform_s_state_at_once_all_succeed(any_db_url: str) -> None:
    """Eight instances starting together on an empty database all write the first platform_state row."""
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(Store.open(any_db_url)) for _ in range(8)]
        await asyncio.gather(*(s.record_platform_states({"webhook": None}, NOW) for s in stores))
        states = await stores[0].platform_states()

    assert [(s.name, s.error) for s in states] == [("webhook", None)]
