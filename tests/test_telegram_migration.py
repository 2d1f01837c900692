"""A group that became a supergroup: the delivery lands once at the new id and the subscription moves."""

from __future__ import annotations

from datetime import timedelta

from dockwatch.bot.detect import detect
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import KnownState, Snapshot, SubscriptionFilter
from dockwatch.notifiers.telegram import TelegramConfig
from dockwatch.notifiers.telegram.notifier import TelegramNotifier
from dockwatch.storage import Store
from tests.builders import ll2_docking
from tests.conftest import Clock, started
from tests.fakes.telegram import FakeTelegram


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
