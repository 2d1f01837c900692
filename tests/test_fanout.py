"""Fan-out at scale (issue 14): a steady cycle reads no targets, and one announcement's deliveries are
written in bulk, exactly one to each target its filter lets in.

Every spec runs on SQLite and on PostgreSQL (``any_db_url``). Statements are counted on every engine
(``before_cursor_execute`` on ``Engine``): the store's own engine is not public.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, null, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from dockwatch.bot.detect import detect
from dockwatch.bot.errors import StorageUnavailable
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import Change, ChangeKind, KnownState, Snapshot
from dockwatch.storage import Store
from dockwatch.storage.engine import create_engine
from dockwatch.storage.tables import DeliveryRow, TargetRow
from tests.builders import ll2_docking

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CHATS = 2_000


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    async with Store.open(any_db_url) as opened:
        yield opened


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the spec runs (an executemany counts once)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])  # (connection, cursor, statement, parameters, context, executemany)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def chat(index: int, **columns: Any) -> dict[str, Any]:
    return {
        "key": f"telegram:{-1_000_000 - index}",
        "notifier": "telegram",
        "label": f"chat {index}",
        "source": "chat",
        "configured": True,
        "enabled": True,
        "kinds": None,
        "stations": None,
        "reminders": None,
        "config_reminders": None,
        **columns,
    }


def mixed_chats(count: int) -> tuple[list[dict[str, Any]], set[str]]:
    """``count`` chats with every filter outcome for a docking at the ISS, and the keys it reaches."""
    chats = []
    for index in range(count):
        match index % 6:
            case 0:
                chats.append(chat(index, kinds=[ChangeKind.DEPARTED.value]))  # another kind only
            case 1:
                chats.append(chat(index, stations=["tiangong"]))  # another station only
            case 2:
                chats.append(chat(index, enabled=False))  # blocked the bot
            case 3:
                chats.append(chat(index, kinds=[ChangeKind.DOCKED.value], stations=["iss"]))
            case _:
                chats.append(chat(index))
    reached = {chats[i]["key"] for i in range(count) if i % 6 in (3, 4, 5)}
    return chats, reached


async def add_chats(url: str, chats: list[dict[str, Any]]) -> None:
    """In one statement: ``save_subscription`` one by one is not what these specs are about."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for start in range(0, len(chats), 1_000):
                await connection.execute(insert(TargetRow), chats[start : start + 1_000])
    finally:
        await engine.dispose()


async def deliveries_per_target(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            key = DeliveryRow.__table__.c.target_key  # type: ignore[attr-defined]
            rows = await connection.execute(select(key, func.count()).group_by(key))
            return {str(target): int(count) for target, count in rows}
    finally:
        await engine.dispose()


def snapshot_of(*raw: dict[str, Any]) -> Snapshot:
    return Snapshot(tuple(parse_dockings(list(raw), "test", legacy=False)), ())


OLD = ll2_docking(1, docking=NOW - timedelta(days=2))


def docking_2_docked() -> tuple[Snapshot, list[Change], datetime]:
    """Ten minutes after the baseline, docking 2 shows up docked: one announcement."""
    now = NOW + timedelta(minutes=10)
    snapshot = snapshot_of(OLD, ll2_docking(2, docking=now - timedelta(minutes=1)))
    known = KnownState(dockings={d.id: d for d in snapshot_of(OLD).dockings}, baseline_done=True)
    return snapshot, detect(known, snapshot, now), now


async def record_baseline(store: Store) -> None:
    snapshot = snapshot_of(OLD)
    await store.record_cycle(snapshot, detect(KnownState(), snapshot, NOW), started_at=NOW, now=NOW)


def reading_targets(sent: list[str]) -> list[str]:
    return [s for s in sent if re.search(r"\bFROM\s+\"?target\"?(\s|$)", s, re.IGNORECASE)]


def inserting_deliveries(sent: list[str]) -> list[str]:
    return [s for s in sent if re.match(r"\s*INSERT\s+INTO\s+\"?delivery\"?\s", s, re.IGNORECASE)]


async def test_a_cycle_that_announces_nothing_reads_no_targets(
    store: Store, any_db_url: str, statements: list[str]
) -> None:
    await add_chats(any_db_url, mixed_chats(200)[0])
    await record_baseline(store)
    statements.clear()

    now = NOW + timedelta(minutes=10)
    await store.record_cycle(snapshot_of(OLD), [], started_at=now, now=now)

    assert statements, "the listener saw the cycle"
    assert reading_targets(statements) == []


async def test_one_announcement_to_thousands_of_chats_is_a_bulk_insert_one_delivery_each(
    store: Store, any_db_url: str, statements: list[str]
) -> None:
    chats, reached = mixed_chats(CHATS)
    await add_chats(any_db_url, chats)
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()
    assert [c.kind for c in changes if c.announce] == [ChangeKind.DOCKED]
    statements.clear()

    recorded = await store.record_cycle(snapshot, changes, started_at=now, now=now)

    assert recorded.deliveries == len(reached) == 999
    assert 1 <= len(inserting_deliveries(statements)) <= 2
    assert await deliveries_per_target(any_db_url) == dict.fromkeys(reached, 1)


async def test_the_targets_of_an_announcement_are_read_without_their_other_columns(
    store: Store, any_db_url: str, statements: list[str]
) -> None:
    """Labels, quiet hours and zones of 100,000 chats are no part of deciding who is owed what."""
    await add_chats(any_db_url, mixed_chats(12)[0])
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()
    statements.clear()

    await store.record_cycle(snapshot, changes, started_at=now, now=now)

    read = reading_targets(statements)
    assert read, "the listener saw the targets read"
    assert not any("label" in s or "quiet" in s or "timezone" in s for s in read)


async def test_the_target_keys_of_an_announcement_never_leave_the_database(
    store: Store, any_db_url: str, statements: list[str]
) -> None:
    """The deliveries are copied from the target table by the database itself (``INSERT ...
    SELECT``): 100,000 keys through Python cost seconds of CPU on SQLite."""
    await add_chats(any_db_url, mixed_chats(60)[0])
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()
    statements.clear()

    await store.record_cycle(snapshot, changes, started_at=now, now=now)

    (inserting,) = inserting_deliveries(statements)
    assert re.search(r"\)\s*SELECT\b", inserting, re.IGNORECASE), inserting
    assert not [s for s in reading_targets(statements) if re.search(r"SELECT\s+target\.key\b", s, re.I)]


async def test_the_reminder_leads_are_the_distinct_choices_of_the_enabled_targets(
    store: Store, any_db_url: str
) -> None:
    """Read as distinct stored choices, not row by row: a chat's own choice (``[]``: off) wins over
    the config's, and a disabled chat's counts for nothing."""
    chats = [chat(i, reminders=[3600, 600]) for i in range(50)]
    chats += [chat(100 + i, reminders=[], config_reminders=[120]) for i in range(50)]
    chats += [chat(200 + i, config_reminders=[1800]) for i in range(50)]
    chats += [chat(300, reminders=[60], enabled=False), chat(301, reminders=[-5, 0])]
    await add_chats(any_db_url, chats)

    leads = await store.reminder_leads()

    assert leads == {timedelta(hours=1), timedelta(minutes=10), timedelta(minutes=30)}


async def test_more_wanted_choices_than_one_statement_matches_reach_every_chat_once(
    store: Store, any_db_url: str, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement matches a few hundred distinct choices; past that, the next statement the
    next ones, and no chat is owed twice or skipped."""
    monkeypatch.setattr("dockwatch.storage.store._CHOICES_PER_STATEMENT", 3)
    chats, reached = mixed_chats(60)
    chats += [chat(100 + i, stations=["iss", f"station-{i}"]) for i in range(8)]  # 8 more choices, all in
    reached |= {chat(100 + i)["key"] for i in range(8)}
    await add_chats(any_db_url, chats)
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()
    statements.clear()

    recorded = await store.record_cycle(snapshot, changes, started_at=now, now=now)

    assert recorded.deliveries == len(reached) == 38
    assert len(inserting_deliveries(statements)) == 4  # 10 wanted choices, 3 a statement
    assert await deliveries_per_target(any_db_url) == dict.fromkeys(reached, 1)


async def test_a_chat_with_a_kind_this_version_does_not_know_never_stops_an_announcement(
    store: Store, any_db_url: str
) -> None:
    await add_chats(any_db_url, [chat(1, kinds=["docking.teleported"]), chat(2)])
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()

    await store.record_cycle(snapshot, changes, started_at=now, now=now)

    assert await deliveries_per_target(any_db_url) == {chat(2)["key"]: 1}


async def test_chats_stored_with_sql_null_choices_are_reached_like_json_null_ones(
    store: Store, any_db_url: str
) -> None:
    """Rows written before a column existed, or by a migration, hold SQL NULL, not JSON ``null``."""
    await add_chats(any_db_url, [chat(1), chat(2), chat(3, stations=["tiangong"])])
    await set_columns(any_db_url, chat(2)["key"], kinds=null(), stations=null(), reminders=null())
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()

    await store.record_cycle(snapshot, changes, started_at=now, now=now)

    assert await deliveries_per_target(any_db_url) == {chat(1)["key"]: 1, chat(2)["key"]: 1}


async def set_columns(url: str, key: str, **values: Any) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(TargetRow).where(col(TargetRow.key) == key).values(**values))
    finally:
        await engine.dispose()


async def waiting_on_a_lock(url: str, writer: asyncio.Task[None]) -> bool:
    """Whether ``writer`` is blocked on a PostgreSQL lock (``False`` once it finished instead)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            deadline = asyncio.get_running_loop().time() + 60  # a loaded machine starts the writer late
            while asyncio.get_running_loop().time() < deadline:
                if writer.done():
                    return False
                waiting = await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                if waiting:
                    return True
                # PostgreSQL keeps one pg_stat_activity snapshot per transaction: without ending
                # it, a writer reaching its lock after the first look would never be seen.
                await connection.rollback()
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()
    raise AssertionError("the writer neither finished nor waited on a lock")


async def test_a_chat_changing_its_choice_during_a_fan_out_is_owed_the_message_once_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads each statement afresh (READ COMMITTED): a ``/remind 10m`` committed between
    reading the choices and owing the message would leave the chat out, or match it twice. Target
    writes wait for the cycle instead."""
    import dockwatch.storage.store as store_module

    wanting, changing = chat(1), chat(2)
    async with Store.open(postgres_url) as store:
        await add_chats(postgres_url, [wanting, changing])
        await record_baseline(store)
        read_choices = store_module._choices
        writers: list[asyncio.Task[None]] = []

        async def choices_then_a_chat_changes(session: Any) -> Any:
            choices = await read_choices(session)
            writer = asyncio.create_task(set_columns(postgres_url, changing["key"], reminders=[600]))
            writers.append(writer)
            assert await waiting_on_a_lock(postgres_url, writer), "the change landed inside the fan-out"
            return choices

        monkeypatch.setattr(store_module, "_choices", choices_then_a_chat_changes)
        snapshot, changes, now = docking_2_docked()
        await store.record_cycle(snapshot, changes, started_at=now, now=now)
        await writers[0]

        assert await deliveries_per_target(postgres_url) == {wanting["key"]: 1, changing["key"]: 1}
        preferences = await store.preferences(changing["key"])
        assert preferences is not None and preferences.reminders == (timedelta(minutes=10),)  # landed after


async def test_a_choice_of_its_own_for_each_of_thousands_of_chats_stays_inside_the_parameter_limits(
    store: Store, any_db_url: str
) -> None:
    """A full statement of distinct choices and one more: SQLite and asyncpg refuse more than about
    32,767 parameters in one statement."""
    from dockwatch.storage.store import _CHOICES_PER_STATEMENT

    count = _CHOICES_PER_STATEMENT + 1
    await add_chats(any_db_url, [chat(i, reminders=[3600 + i]) for i in range(count)])
    await record_baseline(store)
    snapshot, changes, now = docking_2_docked()

    recorded = await store.record_cycle(snapshot, changes, started_at=now, now=now)

    assert recorded.deliveries == count


async def test_a_transaction_left_open_on_the_targets_fails_the_announcing_cycle_in_time_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's psql session that wrote a label and never committed must not hold every
    instance's cycles for good: the cycle gives up (a poll failure, retried), records nothing, and
    records it all once the session ends."""
    monkeypatch.setattr("dockwatch.storage.store.TARGETS_LOCK_TIMEOUT", "200ms")
    async with Store.open(postgres_url) as store:
        await add_chats(postgres_url, [chat(1)])
        await record_baseline(store)
        snapshot, changes, now = docking_2_docked()
        operator = create_engine(postgres_url)
        try:
            async with operator.connect() as session:
                await session.execute(update(TargetRow).values(label="left open"))

                with pytest.raises(StorageUnavailable, match="lock timeout"):
                    await store.record_cycle(snapshot, changes, started_at=now, now=now)
                await session.rollback()
        finally:
            await operator.dispose()

        assert await deliveries_per_target(postgres_url) == {}
        recorded = await store.record_cycle(snapshot, changes, started_at=now, now=now)
        assert recorded.deliveries == 1
