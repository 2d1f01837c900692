"""Corrections through the outbox: owed only where the original landed, sent after it, retried like
any delivery; run against the fake LL2 and webhook receivers with the real runtime."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockwatch.bot.commands import status
from dockwatch.bot.config import Config, StorageConfig
from dockwatch.bot.dispatch import DEAD_AFTER
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.notifiers.webhook import WebhookConfig
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock, ReceiverFactory
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def config(config: Config, any_db_url: str) -> Config:
    """The shared test config on each backend: these specs run on SQLite and on PostgreSQL."""
    return config.model_copy(update={"storage": StorageConfig(url=any_db_url)})


async def cycle(app: Runtime, *, deliver: bool = True) -> CycleOutcome:
    return await run_cycle(
        app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=deliver
    )


async def record_a_docking_unsent(app: Runtime, fake_ll2: FakeLL2, clock: Clock) -> None:
    """The announcement is recorded and queued, and nothing has tried to send it yet."""
    await cycle(app)
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]
    await cycle(app, deliver=False)


async def announce_a_docking(app: Runtime, fake_ll2: FakeLL2, clock: Clock) -> None:
    await cycle(app)  # the baseline
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]
    await cycle(app)


def ll2_moves_it(fake_ll2: FakeLL2, clock: Clock, minutes: float | None) -> None:
    docking = None if minutes is None else clock.now + timedelta(minutes=minutes)
    fake_ll2.dockings = [ll2_docking(630, docking=docking)]


async def statuses(app: Runtime) -> dict[str, str]:
    return {f"{key}": row.status for row, key in await app.store.deliveries()}


async def test_a_docking_ll2_reschedules_is_corrected_then_announced_again_when_it_happens(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await announce_a_docking(app, fake_ll2, clock)
    clock.advance(timedelta(minutes=5))
    ll2_moves_it(fake_ll2, clock, 40)
    await cycle(app)
    clock.advance(timedelta(minutes=41))
    await cycle(app)
    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == [
        "docked:630",
        "correction:1:docked:630",
        "docked:630#2",
    ]


async def test_a_correction_goes_only_to_targets_that_received_the_original(
    fake_ll2: FakeLL2, start_receiver: ReceiverFactory, config: Config, clock: Clock
) -> None:
    first, added_later = await start_receiver(), await start_receiver()
    one = config.model_copy(update={"platforms": {"webhooks": [WebhookConfig(url=first.url, secret=SECRET)]}})
    both = config.model_copy(
        update={
            "platforms": {
                "webhooks": [
                    WebhookConfig(url=first.url, secret=SECRET),
                    WebhookConfig(url=added_later.url, secret=SECRET),
                ]
            }
        }
    )
    async with open_runtime(one, clock=clock) as app:
        await announce_a_docking(app, fake_ll2, clock)

    ll2_moves_it(fake_ll2, clock, 40)
    async with open_runtime(both, clock=clock) as app:
        await cycle(app)

    assert [r.id for r in first.accepted] == ["docked:630", "correction:1:docked:630"]
    assert added_later.received == []


async def test_a_retracted_docking_never_tried_is_superseded_instead_of_corrected(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await record_a_docking_unsent(app, fake_ll2, clock)

    ll2_moves_it(fake_ll2, clock, 40)
    await cycle(app)
    clock.advance(timedelta(minutes=5))
    await cycle(app)

    assert webhook_receiver.received == []
    assert await statuses(app) == {"docked:630": "superseded"}


async def test_a_retracted_docking_already_tried_may_have_landed_so_it_is_finished_then_corrected(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    """A timeout or a reset after sending leaves the receiver holding the message, maybe: superseding
    it would leave a false "docked" there uncorrected."""
    webhook_receiver.statuses.append(503)
    await announce_a_docking(app, fake_ll2, clock)

    ll2_moves_it(fake_ll2, clock, 40)
    await cycle(app)
    clock.advance(timedelta(seconds=10))
    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630", "correction:1:docked:630"]


async def test_one_fact_s_messages_reach_a_target_in_the_order_they_were_recorded(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    """The first correction meets an outage and waits on its backoff; the withdrawal and, once LL2
    gives a passed time again, the re-announcement must not overtake it."""
    await announce_a_docking(app, fake_ll2, clock)
    webhook_receiver.rejected_ids.add("correction:1:docked:630")  # this one keeps failing a while
    ll2_moves_it(fake_ll2, clock, 40)
    await cycle(app)
    clock.advance(timedelta(minutes=1))
    ll2_moves_it(fake_ll2, clock, None)
    await cycle(app)  # correction:2 is recorded while correction:1 waits
    clock.advance(timedelta(minutes=1))
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(seconds=30))]
    await cycle(app)  # docked:630#2
    clock.advance(timedelta(minutes=2))
    await cycle(app)
    webhook_receiver.rejected_ids.clear()
    for _ in range(4):
        clock.advance(timedelta(minutes=2))
        await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == [
        "docked:630",
        "correction:1:docked:630",
        "correction:2:docked:630",
        "docked:630#2",
    ]


async def test_a_refinement_waits_for_its_original_and_follows_it(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.statuses.append(503)
    await announce_a_docking(app, fake_ll2, clock)
    ll2_moves_it(fake_ll2, clock, -8)  # it happened seven minutes earlier than LL2 first said
    await cycle(app)
    assert [r.status for r in webhook_receiver.received] == [503]  # the update did not jump the queue

    clock.advance(timedelta(seconds=10))
    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630", "correction:1:docked:630"]


async def test_an_update_whose_original_never_landed_is_dead_lettered_unsent(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    webhook_receiver.rejected_ids.add("docked:630")  # this receiver never takes the announcement
    await announce_a_docking(app, fake_ll2, clock)
    ll2_moves_it(fake_ll2, clock, -8)
    await cycle(app)

    clock.advance(DEAD_AFTER + timedelta(minutes=1))
    await cycle(app)
    await cycle(app)

    assert await statuses(app) == {"docked:630": "dead", "correction:1:docked:630": "dead"}
    assert {r.id for r in webhook_receiver.received} == {"docked:630"}
    rows = {key: row for row, key in await app.store.deliveries()}
    assert rows["correction:1:docked:630"].last_error == "the message it corrects was never delivered"
    assert rows["correction:1:docked:630"].attempts == 0


async def test_status_counts_superseded_deliveries_apart_from_failures(
    app: Runtime, config: Config, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await record_a_docking_unsent(app, fake_ll2, clock)
    ll2_moves_it(fake_ll2, clock, 40)
    await cycle(app)

    shown = await status(config, clock.now)

    assert "dead 0, superseded 1" in shown
