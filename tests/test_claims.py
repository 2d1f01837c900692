"""Claims: a due delivery is claimed by one instance at a time, and only that claim records it.

Every spec runs on SQLite and on PostgreSQL (``any_db_url``): several ``Store`` objects on one
database are separate engines and connection pools, as separate processes would have.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from dockwatch.bot.detect import detect
from dockwatch.bot.dispatch import LEASE, Dispatcher
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import KnownState, Receipt, Snapshot
from dockwatch.notifiers.webhook import WebhookConfig, WebhookNotifier, target_key
from dockwatch.storage import DueDelivery, Store, TargetInfo
from dockwatch.storage.tables import DeliveryRow
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock, ReceiverFactory
from tests.fakes.webhook_receiver import ReceivedWebhook, WebhookReceiver

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
A, B = "host-a:101:aaaaaa", "host-b:202:bbbbbb"


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    async with Store.open(any_db_url) as opened:
        yield opened


async def record_dockings(store: Store, first: int, count: int, now: datetime) -> int:
    """Announce ``count`` dockings (ids from ``first``) in one cycle; return the deliveries owed."""
    raw = [
        ll2_docking(
            record_id,
            docking=now - timedelta(minutes=1),
            port=(record_id, f"port {record_id}"),
            vehicle=(10_000 + record_id, f"Dragon {record_id}"),
        )
        for record_id in range(first, first + count)
    ]
    snapshot = Snapshot(tuple(parse_dockings(raw, "test", legacy=False)), ())
    changes = detect(KnownState(baseline_done=True), snapshot, now)
    recorded = await store.record_cycle(snapshot, changes, started_at=now, now=now)
    return recorded.deliveries


async def one_delivery(store: Store) -> DeliveryRow:
    (row, _key), *rest = await store.deliveries()
    assert rest == []
    return row


async def owe_one_delivery(store: Store) -> None:
    await store.sync_targets([TargetInfo("webhook:a", "webhook", "a")])
    assert await record_dockings(store, 1, 1, NOW) == 1


async def claim_taken_over(store: Store) -> tuple[DueDelivery, DueDelivery, datetime]:
    """A claims the delivery; its lease lapses; B claims it. Returns (A's claim, B's claim, then)."""
    (stale,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)
    later = NOW + LEASE
    (fresh,) = await store.claim_due(later, lease_until=later + LEASE, owner=B)
    return stale, fresh, later


# --- the store ------------------------------------------------------------------------------


async def test_a_claim_names_its_owner_on_the_delivery(store: Store) -> None:
    await owe_one_delivery(store)

    (claim,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)

    row = await one_delivery(store)
    assert (claim.owner, row.status, row.claimed_by, row.next_attempt_at) == (A, "sending", A, NOW + LEASE)


async def test_a_claimed_delivery_is_not_claimed_again_while_its_lease_holds(store: Store) -> None:
    await owe_one_delivery(store)
    await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)

    assert await store.claim_due(NOW + LEASE - timedelta(seconds=1), lease_until=NOW + LEASE, owner=B) == []


async def test_no_write_of_an_owner_whose_claim_was_taken_over_applies(store: Store) -> None:
    await owe_one_delivery(store)
    stale, _fresh, later = await claim_taken_over(store)

    assert await store.renew_claim(stale, later + LEASE) is None
    assert not await store.mark_delivered(stale, later, receipt=Receipt(platform="webhook", message={}))
    assert not await store.mark_retry(stale, now=later, next_attempt_at=later, error="HTTP 503")
    assert not await store.mark_dead(stale, now=later, error="HTTP 400")

    row = await one_delivery(store)
    assert (row.status, row.claimed_by, row.attempts, row.receipt) == ("sending", B, 0, None)
    assert row.next_attempt_at == later + LEASE


async def test_the_owner_that_took_a_lapsed_claim_over_records_it(store: Store) -> None:
    await owe_one_delivery(store)
    _stale, fresh, later = await claim_taken_over(store)
    receipt = Receipt(platform="webhook", message={"id": "b"})

    renewed = await store.renew_claim(fresh, later + timedelta(minutes=1))
    assert renewed is not None and renewed.lease_until == later + timedelta(minutes=1)
    assert await store.mark_delivered(renewed, later, receipt=receipt)

    row = await one_delivery(store)
    assert (row.status, row.claimed_by, row.attempts, row.receipt) == ("delivered", B, 1, receipt)


async def test_a_late_write_after_a_lapsed_claim_never_overwrites_a_delivered_row(store: Store) -> None:
    await owe_one_delivery(store)
    stale, fresh, later = await claim_taken_over(store)
    receipt = Receipt(platform="webhook", message={"id": "b"})
    assert await store.mark_delivered(fresh, later, receipt=receipt)

    assert not await store.mark_dead(stale, now=later, error="HTTP 400")
    assert not await store.mark_retry(stale, now=later, next_attempt_at=later, error="HTTP 503")
    assert not await store.mark_delivered(stale, later, receipt=Receipt(platform="webhook", message={}))

    row = await one_delivery(store)
    assert (row.status, row.claimed_by, row.attempts, row.receipt) == ("delivered", B, 1, receipt)


async def test_an_outcome_after_the_lease_lapsed_is_recorded_while_nobody_took_the_delivery_over(
    store: Store,
) -> None:
    await owe_one_delivery(store)
    (claim,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)

    assert await store.mark_delivered(claim, NOW + LEASE + timedelta(minutes=5))

    assert (await one_delivery(store)).status == "delivered"


async def test_a_renewed_claim_is_recorded_under_its_new_lease_only(store: Store) -> None:
    await owe_one_delivery(store)
    (claim,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)
    renewed = await store.renew_claim(claim, NOW + timedelta(minutes=3))
    assert renewed is not None

    assert not await store.mark_dead(claim, now=NOW, error="stale lease")
    assert await store.mark_dead(renewed, now=NOW, error="HTTP 400")


async def test_a_write_retried_after_its_commit_went_unacknowledged_counts_as_recorded(store: Store) -> None:
    """The connection dropped at COMMIT after the server committed: the retry finds its own write."""
    await owe_one_delivery(store)
    (claim,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)
    receipt = Receipt(platform="webhook", message={"id": "a"})
    assert await store.mark_delivered(claim, NOW, receipt=receipt)

    assert await store.mark_delivered(claim, NOW, receipt=receipt)  # the same write again

    row = await one_delivery(store)
    assert (row.status, row.attempts) == ("delivered", 1)  # counted once


async def test_releasing_at_stop_returns_only_the_owner_s_own_claims(store: Store) -> None:
    await owe_one_delivery(store)
    stale, _fresh, later = await claim_taken_over(store)

    assert await store.release_claims([stale.id], later, owner=A) == 0
    assert (await one_delivery(store)).claimed_by == B
    assert await store.release_claims([stale.id], later, owner=B) == 1
    row = await one_delivery(store)
    assert (row.status, row.claimed_by, row.next_attempt_at) == ("queued", None, later)


async def test_disabling_a_target_dead_letters_its_claimed_deliveries_without_the_claim(store: Store) -> None:
    await owe_one_delivery(store)
    (claim,) = await store.claim_due(NOW, lease_until=NOW + LEASE, owner=A)

    assert await store.disable_target("webhook:a", reason="HTTP 410", now=NOW) == 1

    assert not await store.mark_delivered(claim, NOW)  # the claim ended with the target
    assert (await one_delivery(store)).status == "dead"


# --- the dispatcher -------------------------------------------------------------------------


@pytest.fixture
async def receiver_store(store: Store, webhook_receiver: WebhookReceiver) -> Store:
    """``store`` owing one docking to ``webhook_receiver``."""
    await store.sync_targets([TargetInfo(target_key(webhook_receiver.url), "webhook", "receiver")])
    await record_dockings(store, 1, 1, NOW)
    return store


def webhook(receiver: WebhookReceiver, http: aiohttp.ClientSession) -> WebhookNotifier:
    return WebhookNotifier([WebhookConfig(url=receiver.url, secret=SECRET)], http)


def claim_lost_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("claim lost")]


async def test_the_dispatcher_does_not_send_a_delivery_whose_claim_it_lost_before_sending(
    receiver_store: Store,
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = receiver_store
    dispatcher = Dispatcher(store, [webhook(webhook_receiver, http)], clock, owner=A)
    (stale,) = await store.claim_due(clock.now, lease_until=clock.now + LEASE, owner=A)
    clock.advance(LEASE)  # a slow batch outlived the lease...
    (taken,) = await store.claim_due(clock.now, lease_until=clock.now + LEASE, owner=B)  # ...B has it

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        report = await dispatcher.deliver_claimed(stale.target_key, [stale])

    assert webhook_receiver.received == []
    assert (report.delivered, report.retrying, report.dead) == (0, 0, 0)
    assert len(claim_lost_lines(caplog)) == 1
    row = await one_delivery(store)
    assert (row.status, row.claimed_by) == ("sending", B)
    assert taken.id == stale.id


@pytest.mark.parametrize("answer", [200, 503, 400], ids=["delivered", "retrying", "dead"])
async def test_an_outcome_whose_claim_was_taken_over_mid_send_is_neither_recorded_nor_counted(
    receiver_store: Store,
    webhook_receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    answer: int,
) -> None:
    store = receiver_store
    observed: list[str] = []
    dispatcher = Dispatcher(
        store,
        [webhook(webhook_receiver, http)],
        clock,
        owner=A,
        observer=lambda _d, o, _n: observed.append(o),
    )
    webhook_receiver.statuses.append(answer)

    async def lease_lapses_and_b_claims(_received: ReceivedWebhook) -> None:
        clock.advance(LEASE + timedelta(seconds=1))
        assert len(await store.claim_due(clock.now, lease_until=clock.now + LEASE, owner=B)) == 1

    webhook_receiver.before_answer = lease_lapses_and_b_claims

    with caplog.at_level(logging.INFO, logger="dockwatch"):
        report = await dispatcher.deliver_due()

    assert len(webhook_receiver.received) == 1
    assert (report.delivered, report.retrying, report.dead) == (0, 0, 0)
    assert observed == []
    assert len(claim_lost_lines(caplog)) == 1
    row = await one_delivery(store)
    assert (row.status, row.claimed_by, row.attempts, row.last_error) == ("sending", B, 0, None)


async def drain(store: Store, dispatcher: Dispatcher, clock: Clock, batch: int) -> None:
    """Claim and deliver (each target's batch in a task, as ``run`` does) until nothing is owed."""
    while True:
        now = clock()
        due = await store.claim_due(now, lease_until=now + LEASE, owner=dispatcher.owner, limit=batch)
        if not due:
            counts = await store.delivery_counts()
            if not counts.get("queued") and not counts.get("sending"):
                return
            await asyncio.sleep(0.005)  # the others are still sending what they claimed
            continue
        by_target: dict[str, list[DueDelivery]] = {}
        for delivery in due:
            by_target.setdefault(delivery.target_key, []).append(delivery)
        await asyncio.gather(*(dispatcher.deliver_claimed(key, items) for key, items in by_target.items()))


async def test_instances_delivering_from_one_database_at_once_send_each_delivery_exactly_once(
    any_db_url: str, start_receiver: ReceiverFactory, http: aiohttp.ClientSession, clock: Clock
) -> None:
    instances, targets, dockings, batch = 4, 4, 100, 5
    receivers: Sequence[WebhookReceiver] = [await start_receiver() for _ in range(targets)]
    notifier = WebhookNotifier([WebhookConfig(url=r.url, secret=SECRET) for r in receivers], http)
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(Store.open(any_db_url)) for _ in range(instances)]
        await stores[0].sync_targets(
            [TargetInfo(target_key(r.url), "webhook", f"receiver {i}") for i, r in enumerate(receivers)]
        )
        owed = 0
        for first in range(1, dockings + 1, 25):  # many dockings, over several cycles
            owed += await record_dockings(stores[0], first, 25, clock.now)
        assert owed == dockings * targets

        dispatchers = [
            Dispatcher(store, [notifier], clock, owner=f"instance-{i}") for i, store in enumerate(stores)
        ]
        await asyncio.gather(*(drain(s, d, clock, batch) for s, d in zip(stores, dispatchers, strict=True)))
        rows = await stores[0].deliveries()

    for receiver in receivers:
        counts = Counter(r.id for r in receiver.received)
        assert len(counts) == dockings
        assert {key: n for key, n in counts.items() if n != 1} == {}
    assert Counter(row.status for row, _key in rows) == {"delivered": owed}
    assert {row.attempts for row, _key in rows} == {1}
    by_owner = Counter(row.claimed_by for row, _key in rows)
    assert len(by_owner) > 1, by_owner  # the instances really did share the work


async def test_instances_claiming_at_the_same_moment_never_claim_one_delivery_both(
    any_db_url: str, clock: Clock
) -> None:
    """The claim itself is exclusive (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on
    SQLite), not only the re-check before each send."""
    async with Store.open(any_db_url) as a, Store.open(any_db_url) as b:
        await a.sync_targets([TargetInfo(f"webhook:{i}", "webhook", str(i)) for i in range(4)])
        await record_dockings(a, 1, 25, clock.now)
        await asyncio.gather(a.delivery_counts(), b.delivery_counts())  # both connections warm
        lease = clock.now + timedelta(minutes=2)
        claimed_by_both: set[int] = set()
        claimed = 0
        for _ in range(12):
            first, second = await asyncio.gather(
                a.claim_due(clock.now, lease_until=lease, owner="A", limit=10),
                b.claim_due(clock.now, lease_until=lease, owner="B", limit=10),
            )
            claimed_by_both |= {d.id for d in first} & {d.id for d in second}
            claimed += len(first) + len(second)

    assert claimed_by_both == set()
    assert claimed == 100  # every delivery claimed once, by one of them
