"""A group that became a supergroup: the delivery lands once at the new id, the subscription moves,
and the move is remembered, so a chat id the config still names is sent to at its new id by every
later process (and the operator is told to update the file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockwatch.bot import commands
from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.corrections import corrections
from dockwatch.bot.detect import detect
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import KnownState, Snapshot, SubscriptionFilter
from dockwatch.notifiers.telegram import PLATFORM, TelegramConfig
from dockwatch.notifiers.telegram.notifier import TelegramNotifier
from dockwatch.notifiers.webhook import target_key as webhook_key
from dockwatch.storage import Store, TargetInfo, TargetMove
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock, started
from tests.fakes.telegram import FakeTelegram
from tests.test_cli import dockwatch


async def record_docking(store: Store, clock: Clock, record_id: int) -> None:
    raw = [
        ll2_docking(
            record_id, docking=clock.now - timedelta(minutes=1), port=(record_id, f"port {record_id}")
        )
    ]
    snapshot = Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ())
    changes = detect(KnownState(baseline_done=True), snapshot, clock.now)
    await store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)


async def test_a_migrated_group_keeps_its_subscription_under_the_new_id_and_gets_each_message_once(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    fake_telegram.migrate[-333] = -100333
    await store.save_subscription(
        "telegram:-333", notifier="telegram", label="g", subscription=SubscriptionFilter()
    )
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    async with started(TelegramNotifier.from_settings(config)) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await record_docking(store, clock, 1)
        await dispatcher.deliver_due()
        clock.advance(timedelta(minutes=5))
        await record_docking(store, clock, 2)
        await dispatcher.deliver_due()

    assert len(fake_telegram.sent(-100333)) == 2
    attempts_at_old_id = [
        c for c in fake_telegram.calls if c.method == "sendMessage" and c.params["chat_id"] == -333
    ]
    assert len(attempts_at_old_id) == 1
    assert await store.subscription("telegram:-333") is None
    assert await store.subscription("telegram:-100333") == SubscriptionFilter()


async def test_a_group_that_moves_to_an_id_already_subscribed_keeps_delivering_each_message_once(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    """The supergroup's id was subscribed too: the move must not trip over the queue it already has.

    (In the round that discovers the move, the old id's message lands at the new id while the new
    id's own copy may be in flight: that first message can arrive twice. Everything after, once.)
    """
    fake_telegram.migrate[-333] = -100333
    for chat in ("telegram:-333", "telegram:-100333"):
        await store.save_subscription(chat, notifier="telegram", label="g", subscription=SubscriptionFilter())
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    async with started(TelegramNotifier.from_settings(config)) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await record_docking(store, clock, 1)
        await record_docking(store, clock, 2)
        await dispatcher.deliver_due()
        clock.advance(timedelta(minutes=5))
        await record_docking(store, clock, 3)
        await dispatcher.deliver_due()

    texts = [m["text"] for m in fake_telegram.sent(-100333)]
    assert [sum(f"port {n}" in text for text in texts) for n in (2, 3)] == [1, 1]
    assert {row.status for row, _ in await store.deliveries()} <= {"delivered", "dead"}  # nothing stuck
    assert fake_telegram.sent(-333) == []


def sends_to(fake: FakeTelegram, chat: int) -> int:
    """Every sendMessage call made to ``chat``, accepted or not (a migrated group's are refused)."""
    return sum(1 for c in fake.calls if c.method == "sendMessage" and c.params["chat_id"] == chat)


@asynccontextmanager
async def process(
    db_url: str, config: TelegramConfig, clock: Clock
) -> AsyncIterator[tuple[Store, Dispatcher]]:
    """One dockwatch process as ``open_runtime`` starts it: the store opened, the config's targets
    synced, the notifier started."""
    async with Store.open(db_url) as store, started(TelegramNotifier.from_settings(config)) as notifier:
        await store.sync_targets(TargetInfo(t.key, t.notifier, t.label) for t in PLATFORM.targets(config))
        yield store, Dispatcher(store, [notifier], clock)


async def deliver_two_processes_in_a_row(db_url: str, fake: FakeTelegram, clock: Clock) -> None:
    """The config lists group -333, which became supergroup -100333; each process announces a docking."""
    fake.migrate[-333] = -100333
    fake.enforce_limits = False  # processes an hour apart: the fake's per-chat second runs on wall time
    config = TelegramConfig(token=fake.token, chat_ids=[-333], api_base_url=fake.base_url)
    for record_id in (1, 2):
        async with process(db_url, config, clock) as (store, dispatcher):
            await record_docking(store, clock, record_id)
            await dispatcher.deliver_due()
        clock.advance(timedelta(hours=1))


async def test_a_configured_chat_that_moved_is_sent_to_at_its_new_id_by_the_next_process(
    fake_telegram: FakeTelegram, db_url: str, clock: Clock
) -> None:
    await deliver_two_processes_in_a_row(db_url, fake_telegram, clock)

    assert sends_to(fake_telegram, -333) == 1
    assert len(fake_telegram.sent(-100333)) == 2


async def test_the_moved_chat_stays_the_configured_target_and_its_old_id_is_not_created_again(
    fake_telegram: FakeTelegram, db_url: str, clock: Clock
) -> None:
    await deliver_two_processes_in_a_row(db_url, fake_telegram, clock)

    async with Store.open_read_only(db_url) as store:
        targets = [(t.key, t.source, t.configured) for t in await store.targets()]
        owed = {d.target_key for d, _ in await store.deliveries()}
    assert targets == [("telegram:-100333", "config", True)]
    assert owed == {"telegram:-333", "telegram:-100333"}  # -333: the one delivery that found the move


# --- the store, on SQLite and PostgreSQL ------------------------------------------------------

T1 = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
T2 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


@pytest.fixture
async def any_store(any_db_url: str) -> AsyncIterator[Store]:
    async with Store.open(any_db_url) as opened:
        yield opened


def configured(*keys: str) -> list[TargetInfo]:
    return [TargetInfo(key, "telegram", f"Telegram chat {key.partition(':')[2]}") for key in keys]


async def test_a_move_is_remembered_with_when_it_happened(any_store: Store) -> None:
    await any_store.sync_targets(configured("telegram:-333"))

    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)

    assert await any_store.target_moves() == [TargetMove("telegram:-333", "telegram:-100333", T1)]


async def test_a_key_that_moved_twice_resolves_to_its_newest_key(any_store: Store) -> None:
    await any_store.move_target("telegram:-1", "telegram:-2", now=T1)

    await any_store.move_target("telegram:-2", "telegram:-3", now=T2)

    assert await any_store.target_moves() == [
        TargetMove("telegram:-1", "telegram:-3", T1),
        TargetMove("telegram:-2", "telegram:-3", T2),
    ]


async def test_a_key_that_moves_back_leaves_no_loop(any_store: Store) -> None:
    await any_store.move_target("telegram:-1", "telegram:-2", now=T1)

    await any_store.move_target("telegram:-2", "telegram:-1", now=T2)

    assert await any_store.target_moves() == [TargetMove("telegram:-2", "telegram:-1", T2)]


async def test_a_configured_key_that_moved_is_synced_onto_its_new_key(any_store: Store) -> None:
    await any_store.sync_targets(configured("telegram:-333"))
    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)

    await any_store.sync_targets(configured("telegram:-333"))  # the next start, the same config

    assert [(t.key, t.configured, t.label) for t in await any_store.targets()] == [
        ("telegram:-100333", True, "Telegram chat -333")
    ]


async def test_the_old_key_of_a_configured_chat_gets_no_deliveries_after_a_restart(any_store: Store) -> None:
    await any_store.sync_targets(configured("telegram:-333"))
    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)
    await any_store.sync_targets(configured("telegram:-333"))

    await record_docking(any_store, Clock(T2), 1)

    assert [d.target_key for d, _ in await any_store.deliveries()] == ["telegram:-100333"]


async def test_a_config_naming_the_old_and_the_new_id_makes_one_target_under_the_new_id(
    any_store: Store,
) -> None:
    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)

    await any_store.sync_targets(configured("telegram:-333", "telegram:-100333"))

    assert [(t.key, t.label) for t in await any_store.targets()] == [
        ("telegram:-100333", "Telegram chat -100333")
    ]


async def test_a_target_still_at_a_moved_key_follows_its_chat_at_the_next_start(any_store: Store) -> None:
    """E.g. a chat that /subscribed under its old id: its row and what it is owed move on."""
    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)
    await any_store.save_subscription(
        "telegram:-333", notifier="telegram", label="g", subscription=SubscriptionFilter()
    )
    await record_docking(any_store, Clock(T2), 1)

    await any_store.sync_targets([])

    assert [t.key for t in await any_store.targets()] == ["telegram:-100333"]
    assert [(d.target_key, d.status) for d, _ in await any_store.deliveries()] == [
        ("telegram:-100333", "queued")
    ]


async def test_a_chat_that_subscribed_itself_and_moved_stays_a_chat_target(any_store: Store) -> None:
    await any_store.save_subscription(
        "telegram:-333", notifier="telegram", label="g", subscription=SubscriptionFilter()
    )
    await any_store.move_target("telegram:-333", "telegram:-100333", now=T1)

    await any_store.sync_targets([])

    assert [(t.key, t.source, t.enabled) for t in await any_store.targets()] == [
        ("telegram:-100333", "chat", True)
    ]


# --- what the operator is told --------------------------------------------------------------------

TOKEN = "4242:AAHtestTOKENtestTOKENtestTOKEN12345"
MOVED = (
    "telegram.chat_ids: chat -333 became -100333 (a supergroup) on 2026-11-22; write -100333 in the config"
)


async def database_where_minus_333_moved(path: Path) -> str:
    url = f"sqlite:///{path}"
    async with Store.open(url) as store:
        await store.sync_targets(configured("telegram:-333"))
        await store.move_target("telegram:-333", "telegram:-100333", now=T1)
    return url


def telegram_config(url: str, chat_ids: list[int | str]) -> Config:
    return config_from_mapping(
        {"storage": {"url": url}, "telegram": {"token": TOKEN, "chat_ids": chat_ids}},
        source="test",
        environ={},
    )


async def test_check_config_names_a_configured_chat_that_moved_and_still_exits_0(tmp_path: Path) -> None:
    url = await database_where_minus_333_moved(tmp_path / "dockwatch.db")
    path = tmp_path / "dockwatch.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n[telegram]\ntoken = "{TOKEN}"\nchat_ids = [-333]\n')

    run = await dockwatch("check-config", "--config", str(path))

    assert run.code == 0, run.err
    assert f"\n  {MOVED}\n" in run.out + "\n"


async def test_status_names_a_configured_chat_that_moved(tmp_path: Path) -> None:
    url = await database_where_minus_333_moved(tmp_path / "dockwatch.db")

    text = await commands.status(telegram_config(url, [-333]), T2)

    assert f"\n  {MOVED}" in text


async def test_a_config_that_names_the_new_id_too_is_told_to_drop_the_old_one(tmp_path: Path) -> None:
    url = await database_where_minus_333_moved(tmp_path / "dockwatch.db")

    text = await commands.status(telegram_config(url, [-333, -100333]), T2)

    assert "chat -333 became -100333 (a supergroup) on 2026-11-22; remove -333 from the config" in text


async def test_a_config_already_naming_only_the_new_id_is_told_nothing(tmp_path: Path) -> None:
    url = await database_where_minus_333_moved(tmp_path / "dockwatch.db")

    text = await commands.status(telegram_config(url, [-100333]), T2)

    assert "became" not in text and commands.MOVES_HEADER not in text


async def test_a_chat_that_subscribed_itself_and_moved_is_not_a_config_to_update(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dockwatch.db'}"
    async with Store.open(url) as store:
        await store.save_subscription(
            "telegram:-333", notifier="telegram", label="g", subscription=SubscriptionFilter()
        )
        await store.move_target("telegram:-333", "telegram:-100333", now=T1)

    text = await commands.status(telegram_config(url, []), T2)

    assert "became" not in text and commands.MOVES_HEADER not in text


async def test_a_platform_that_cannot_describe_a_move_gets_a_line_naming_both_keys(tmp_path: Path) -> None:
    hook = "https://hooks.example.org/dockwatch"
    url = f"sqlite:///{tmp_path / 'dockwatch.db'}"
    async with Store.open(url) as store:
        await store.move_target(webhook_key(hook), "webhook:elsewhere", now=T1)
    config = config_from_mapping(
        {"storage": {"url": url}, "webhooks": [{"url": hook, "secret": SECRET}]}, source="test", environ={}
    )

    text = await commands.status(config, T2)

    assert (
        f"[webhooks] target {webhook_key(hook)} moved to webhook:elsewhere on 2026-11-22; update the config"
        in text
    )


async def test_a_chat_that_moved_after_an_announcement_still_gets_its_correction(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    fake_telegram.migrate[-333] = -100333
    await store.save_subscription(
        "telegram:-333", notifier="telegram", label="g", subscription=SubscriptionFilter()
    )
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    async with started(TelegramNotifier.from_settings(config)) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await record_docking(store, clock, 1)
        await dispatcher.deliver_due()  # lands at -100333; the chat's target moves there
        clock.advance(timedelta(minutes=5))
        later = ll2_docking(1, docking=clock.now + timedelta(minutes=40), port=(1, "port 1"))
        snapshot = Snapshot(tuple(parse_dockings([later], "t", legacy=False)), ())
        known = await store.load_known_state(notices_for={1})
        changes = corrections(known, snapshot, clock.now, stale_after=timedelta(hours=48))
        recorded = await store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)
        await dispatcher.deliver_due()

    assert recorded.deliveries == 1
    texts = [m["text"] for m in fake_telegram.sent(-100333)]
    assert len(texts) == 2 and "has not docked" in texts[1]
