"""Delivery: retried until it lands or is dead-lettered visibly; one bad target never blocks others."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockwatch.bot.config import Config, StorageConfig
from dockwatch.bot.dispatch import DEAD_AFTER, LEASE, backoff
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.notifiers.webhook import WebhookConfig
from dockwatch.storage.tables import DeliveryRow
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock, ReceiverFactory
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def config(config: Config, any_db_url: str) -> Config:
    """The shared test config on each backend: these specs run on SQLite and on PostgreSQL."""
    return config.model_copy(update={"storage": StorageConfig(url=any_db_url)})


async def cycle(app: Runtime) -> CycleOutcome:
    return await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


async def announce_a_docking(app: Runtime, fake_ll2: FakeLL2, clock: Clock, record_id: int = 630) -> None:
    """Baseline (if not yet done), then a docking that the next cycle announces."""
    await cycle(app)
    fake_ll2.dockings = [ll2_docking(record_id, docking=clock.now - timedelta(minutes=1))]
    await cycle(app)


async def only_delivery(app: Runtime) -> DeliveryRow:
    (row, _key), *rest = await app.store.deliveries()
    assert rest == []
    return row


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (40, 3600)],
    ids=[
        "first retry after 10 s",
        "doubles",
        "doubles again",
        "still doubling",
        "capped at 1 h",
        "stays capped",
    ],
)
def test_backoff_doubles_from_ten_seconds_up_to_an_hour(attempt: int, delay: int) -> None:
    assert backoff(attempt) == timedelta(seconds=delay)


async def test_a_failed_delivery_stays_queued_with_its_error_and_next_attempt(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(503)

    await announce_a_docking(app, fake_ll2, clock)

    row = await only_delivery(app)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)
    assert row.last_error is not None and row.last_error.endswith("HTTP 503")


async def test_a_queued_delivery_is_not_resent_before_it_is_due(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(503)
    await announce_a_docking(app, fake_ll2, clock)

    clock.advance(timedelta(seconds=9))
    await cycle(app)

    assert len(webhook_receiver.received) == 1


async def test_a_delivery_failing_at_first_lands_exactly_once_when_the_receiver_recovers(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.extend([500, 502])
    await announce_a_docking(app, fake_ll2, clock)

    for _ in range(4):
        clock.advance(timedelta(seconds=30))
        await cycle(app)

    assert [r.status for r in webhook_receiver.received] == [500, 502, 200]
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    row = await only_delivery(app)
    assert (row.status, row.attempts) == ("delivered", 3)


async def test_a_receivers_retry_after_is_honoured_when_longer_than_the_backoff(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(429)
    webhook_receiver.headers_for_status[429] = {"Retry-After": "120"}

    await announce_a_docking(app, fake_ll2, clock)

    row = await only_delivery(app)
    assert row.next_attempt_at == clock.now + timedelta(seconds=120)


@pytest.mark.parametrize(
    "retry_after", ["inf", "1e12", "9" * 20, "99999999999"], ids=["inf", "1e12", "20 digits", "1e11"]
)
async def test_a_hostile_retry_after_never_postpones_past_the_dead_letter_deadline(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock, retry_after: str
) -> None:
    webhook_receiver.statuses.append(429)
    webhook_receiver.headers_for_status[429] = {"Retry-After": retry_after}

    await announce_a_docking(app, fake_ll2, clock)

    row = await only_delivery(app)
    assert row.status == "queued"
    assert row.next_attempt_at <= clock.now + DEAD_AFTER


async def test_a_delivery_that_keeps_failing_is_dead_lettered_after_24_hours(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.extend([500] * 100)
    await announce_a_docking(app, fake_ll2, clock)
    recorded_at = clock.now

    while clock.now < recorded_at + DEAD_AFTER + timedelta(hours=2):
        clock.advance(timedelta(minutes=30))
        await cycle(app)

    row = await only_delivery(app)
    assert row.status == "dead"
    assert row.last_error is not None and row.last_error.startswith("gave up after 24 h")
    attempts_when_dead = len(webhook_receiver.received)
    clock.advance(timedelta(hours=5))
    await cycle(app)
    assert len(webhook_receiver.received) == attempts_when_dead
    assert (await app.store.delivery_counts()).get("dead") == 1


async def test_one_failing_target_never_blocks_another(
    fake_ll2: FakeLL2, start_receiver: ReceiverFactory, config: Config, clock: Clock
) -> None:
    broken, healthy = await start_receiver(), await start_receiver()
    broken.statuses.extend([500] * 10)
    two_targets = config.model_copy(
        update={
            "platforms": {
                "webhooks": [
                    WebhookConfig(url=broken.url, secret=SECRET),
                    WebhookConfig(url=healthy.url, secret=SECRET),
                ]
            }
        }
    )

    async with open_runtime(two_targets, clock=clock) as app:
        await announce_a_docking(app, fake_ll2, clock)

    assert [r.id for r in healthy.accepted] == ["docked:630"]
    assert [r.status for r in broken.received] == [500]


async def test_a_410_disables_the_target_and_it_gets_nothing_more(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(410)
    await announce_a_docking(app, fake_ll2, clock)

    clock.advance(timedelta(minutes=10))
    fake_ll2.dockings.append(
        ll2_docking(631, docking=clock.now - timedelta(minutes=1), port=(1, "Unity nadir"))
    )
    await cycle(app)

    assert len(webhook_receiver.received) == 1
    row = await only_delivery(app)
    assert (row.status, row.attempts) == ("dead", 1)  # the answered attempt is counted
    (target,) = await app.store.targets()
    assert not target.enabled
    assert target.disabled_reason is not None and "410" in target.disabled_reason


async def test_a_target_removed_from_the_config_dead_letters_what_it_was_owed(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, config: Config, clock: Clock
) -> None:
    webhook_receiver.statuses.append(500)
    async with open_runtime(config, clock=clock) as app:
        await announce_a_docking(app, fake_ll2, clock)

    clock.advance(timedelta(minutes=1))
    async with open_runtime(config.model_copy(update={"platforms": {}}), clock=clock) as app:
        await cycle(app)
        row = await only_delivery(app)

    assert row.status == "dead"
    assert row.last_error == "target is no longer configured"
    assert len(webhook_receiver.received) == 1


async def test_a_delivery_left_sending_by_a_crash_is_retried_after_its_lease(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(500)
    await announce_a_docking(app, fake_ll2, clock)
    clock.advance(timedelta(seconds=10))
    claimed = await app.store.claim_due(clock.now, lease_until=clock.now + LEASE, owner="crashed")
    assert len(claimed) == 1  # ...and the process dies while sending

    clock.advance(LEASE - timedelta(seconds=1))
    await cycle(app)
    assert len(webhook_receiver.received) == 1
    clock.advance(timedelta(seconds=1))
    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]


async def test_a_delivery_whose_lease_lapsed_and_was_claimed_elsewhere_is_not_sent_twice(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(500)
    await announce_a_docking(app, fake_ll2, clock)
    clock.advance(timedelta(seconds=10))
    (stale,) = await app.store.claim_due(clock.now, lease_until=clock.now + LEASE, owner="slow")
    clock.advance(LEASE)
    (fresh,) = await app.store.claim_due(clock.now, lease_until=clock.now + LEASE, owner="another")

    assert not await app.store.renew_claim(stale, clock.now + LEASE)
    assert await app.store.renew_claim(fresh, clock.now + LEASE)


async def test_the_last_retry_is_scheduled_no_later_than_the_24_hour_deadline(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.extend([500, 429])
    webhook_receiver.headers_for_status[429] = {"Retry-After": "3600"}
    await announce_a_docking(app, fake_ll2, clock)
    recorded_at = clock.now
    clock.advance(DEAD_AFTER - timedelta(minutes=10))
    await cycle(app)  # the receiver asks for an hour; only ten minutes are left

    row = await only_delivery(app)
    assert row.status == "queued"
    assert row.next_attempt_at == recorded_at + DEAD_AFTER


async def test_a_message_the_receiver_keeps_rejecting_does_not_hold_back_the_next_one(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.rejected_ids.add("docked:630")
    await cycle(app)  # baseline
    fake_ll2.dockings = [
        ll2_docking(630, docking=clock.now - timedelta(minutes=2)),
        ll2_docking(631, docking=clock.now - timedelta(minutes=1), port=(1, "Unity nadir")),
    ]
    await cycle(app)
    started = clock.now

    while not webhook_receiver.accepted and clock.now < started + timedelta(minutes=10):
        clock.advance(timedelta(seconds=10))
        await app.dispatcher.deliver_due()

    assert [r.id for r in webhook_receiver.accepted] == ["docked:631"]
    assert clock.now - started <= timedelta(seconds=30)  # one retry interval or so, not A's backoff


async def test_a_message_parked_behind_another_s_retry_after_never_goes_out_past_its_deadline(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    """B keeps failing for 20 h; then A, ahead of it, meets a 429 asking for a day: B is parked only
    until its own 24 h deadline, and is dead-lettered there rather than sent a day late."""
    webhook_receiver.rejected_ids.add("docked:630")
    await announce_a_docking(app, fake_ll2, clock)  # B
    b_created = clock.now
    while True:
        next_due = await app.store.next_due()
        assert next_due is not None
        if next_due >= b_created + timedelta(hours=20):
            break
        clock.now = max(clock.now, next_due)
        await app.dispatcher.deliver_due()
    clock.now = next_due - timedelta(seconds=1)
    fake_ll2.dockings.append(
        ll2_docking(631, docking=clock.now - timedelta(minutes=1), port=(1, "Unity nadir"))
    )
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=False)
    webhook_receiver.rejected_ids.clear()  # the receiver would take B now...
    webhook_receiver.statuses.append(429)  # ...but answers A, first in the batch, "come back tomorrow"
    webhook_receiver.headers_for_status[429] = {"Retry-After": "86400"}
    clock.now = next_due
    await app.dispatcher.deliver_due()

    rows = {key: row for row, key in await app.store.deliveries()}
    assert rows["docked:630"].next_attempt_at <= b_created + DEAD_AFTER
    clock.now = b_created + DEAD_AFTER
    await app.dispatcher.deliver_due()
    rows = {key: row for row, key in await app.store.deliveries()}
    assert rows["docked:630"].status == "dead"
    assert rows["docked:630"].last_error is not None
    assert rows["docked:630"].last_error.startswith("gave up after 24 h: waiting: earlier delivery failed")
    assert "docked:630" not in [r.id for r in webhook_receiver.accepted]
