"""One cycle end to end in-process: fake LL2 -> detection -> SQLite outbox -> signed webhooks."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

import dockwatch.storage.store
from dockwatch.bot.detect import detect
from dockwatch.bot.errors import StorageError
from dockwatch.bot.model import KnownState
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.runtime import Runtime
from tests.builders import ll2_docking, ll2_event
from tests.conftest import Clock, OpenApp
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver


async def cycle(app: Runtime) -> CycleOutcome:
    return await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


async def test_the_first_cycle_records_everything_and_announces_nothing(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    fake_ll2.dockings = [ll2_docking(1, docking=clock.now - timedelta(minutes=3))]
    fake_ll2.events = [ll2_event(5, date=clock.now, live=True)]

    outcome = await cycle(app)

    assert outcome.recorded is not None
    assert (outcome.recorded.recorded, outcome.recorded.announced) == (2, 0)
    assert webhook_receiver.received == []


async def test_a_new_docking_after_the_baseline_is_delivered_exactly_once(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await cycle(app)
    clock.advance(timedelta(minutes=10))
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]

    await cycle(app)
    clock.advance(timedelta(minutes=10))
    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]
    assert webhook_receiver.accepted[0].json["data"]["docking_event_id"] == 630


async def test_a_failed_upstream_records_nothing_and_sends_nothing(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await cycle(app)
    before = await app.store.load_known_state()
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]
    fake_ll2.fail_next.extend(["http_500"])

    outcome = await cycle(app)

    assert outcome.error is not None
    assert await app.store.load_known_state() == before
    assert webhook_receiver.received == []
    last = await app.store.last_poll()
    assert last is not None and (last.result, last.detail) == ("upstream_error", str(outcome.error))


async def test_a_change_seen_after_an_upstream_failure_is_announced_once_on_recovery(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await cycle(app)
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]
    fake_ll2.fail_next.extend(["truncated"])
    await cycle(app)

    await cycle(app)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]


async def test_a_record_vanishing_from_the_page_is_not_a_departure(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    fake_ll2.dockings = [
        ll2_docking(2, docking=clock.now - timedelta(days=3)),
        ll2_docking(1, docking=clock.now - timedelta(days=9), port=(1, "Unity nadir")),
    ]
    await cycle(app)
    fake_ll2.dockings = fake_ll2.dockings[:1]

    outcome = await cycle(app)

    assert outcome.recorded is not None and outcome.recorded.recorded == 0
    assert webhook_receiver.received == []


async def test_an_empty_docking_page_is_an_upstream_failure_not_a_baseline(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    fake_ll2.dockings = []
    outcome = await cycle(app)
    assert outcome.error is not None and "empty page" in str(outcome.error)

    fake_ll2.dockings = [ll2_docking(1, docking=clock.now - timedelta(hours=30))]
    await cycle(app)

    assert webhook_receiver.received == []  # the first real page is the baseline


async def test_a_crash_inside_the_recording_transaction_leaves_the_previous_state(
    app: Runtime,
    fake_ll2: FakeLL2,
    webhook_receiver: WebhookReceiver,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await cycle(app)
    before = await app.store.load_known_state()
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]

    def crash(*_args: object) -> None:
        raise RuntimeError("power cut while writing deliveries")

    with monkeypatch.context() as patch:
        patch.setattr(dockwatch.storage.store, "_new_delivery", crash)
        with pytest.raises(RuntimeError):
            await cycle(app)

    assert await app.store.load_known_state() == before
    await cycle(app)
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]


async def test_a_restart_between_recording_and_delivery_delivers_once(
    open_app: OpenApp, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    async with open_app() as first:
        await cycle(first)
        fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]
        snapshot = await first.ll2.fetch_snapshot()
        changes = detect(await first.store.load_known_state(), snapshot, clock.now)
        await first.store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)
        # the process dies here, before delivering

    clock.advance(timedelta(minutes=10))
    async with open_app() as second:
        await cycle(second)
        await cycle(second)

    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]


async def test_two_processes_recording_the_same_change_store_it_once(
    open_app: OpenApp, fake_ll2: FakeLL2, clock: Clock
) -> None:
    async with open_app() as first, open_app() as second:
        await cycle(first)
        fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]
        snapshot = await first.ll2.fetch_snapshot()
        known = await first.store.load_known_state()
        changes = detect(known, snapshot, clock.now)

        one = await first.store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)
        two = await second.store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)

    assert (one.announced, two.announced) == (1, 0)


async def test_only_the_cycle_that_recorded_a_notification_logs_it_as_recorded(
    open_app: OpenApp,
    fake_ll2: FakeLL2,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with open_app() as first, open_app() as second:
        await cycle(first)
        looked_before = await second.store.load_known_state()  # before the first records the docking

        async def load_known_state(**_: object) -> KnownState:
            return looked_before

        monkeypatch.setattr(second.store, "load_known_state", load_known_state)
        fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=2))]
        with caplog.at_level(logging.INFO, logger="dockwatch.bot.pipeline"):
            await cycle(first)
            late = await cycle(second)  # detects it too, but finds it recorded already

    assert late.recorded is not None and late.recorded.announced == 0
    lines = [r.getMessage() for r in caplog.records if "notification recorded" in r.getMessage()]
    assert lines == ["notification recorded key=docked:630 type=docking.docked"]


async def test_an_unwritable_database_is_a_storage_error(tmp_path: object) -> None:
    from dockwatch.storage import Store

    with pytest.raises(StorageError, match="cannot open database"):
        async with Store.open("sqlite:////nonexistent-dir/deeper/dockwatch.db"):
            pass


async def test_a_docking_id_reused_for_another_vehicle_is_delivered_under_keys_of_its_own(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    fake_ll2.dockings = [
        ll2_docking(630, docking=clock.now - timedelta(days=30), vehicle=(877, "Cargo Dragon C209"))
    ]
    await cycle(app)  # baseline: docked:630 is Cargo Dragon's
    clock.advance(timedelta(minutes=10))
    soyuz_docked = clock.now - timedelta(minutes=2)
    fake_ll2.dockings = [ll2_docking(630, docking=soyuz_docked, vehicle=(20, "Soyuz MS-27"))]
    await cycle(app)
    clock.advance(timedelta(hours=5))
    fake_ll2.dockings = [
        ll2_docking(
            630, docking=soyuz_docked, departure=clock.now - timedelta(minutes=1), vehicle=(20, "Soyuz MS-27")
        )
    ]
    await cycle(app)

    assert [(r.id, r.json["data"]["vehicle"]["name"]) for r in webhook_receiver.accepted] == [
        ("docked:630/spacecraft_flight:20", "Soyuz MS-27"),
        ("departed:630/spacecraft_flight:20", "Soyuz MS-27"),
    ]


async def test_the_webcast_link_delivered_is_the_live_stream_with_the_highest_priority_number(
    app: Runtime, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, clock: Clock
) -> None:
    await cycle(app)
    event = ll2_event(5, date=clock.now + timedelta(minutes=20), live=True)
    event["vid_urls"] = [
        {"priority": 8, "url": "https://restream.test/live", "live": True},
        {"priority": 10, "url": "https://plus.nasa.test/live", "live": True},
        {"priority": 9, "url": "https://roscosmos.test/live", "live": True},
    ]
    fake_ll2.events = [event]
    clock.advance(timedelta(minutes=10))

    await cycle(app)

    assert [(r.id, r.json["data"]["webcast_url"]) for r in webhook_receiver.accepted] == [
        ("webcast:5", "https://plus.nasa.test/live")
    ]


@pytest.mark.parametrize(
    ("window", "delivered"),
    [(timedelta(hours=3), ["webcast:5"]), (timedelta(hours=1), [])],
    ids=["3 h: an event 2 h ahead is close enough", "1 h: it is not"],
)
async def test_the_webcast_window_given_to_the_cycle_is_the_one_detection_uses(
    app: Runtime,
    fake_ll2: FakeLL2,
    webhook_receiver: WebhookReceiver,
    clock: Clock,
    window: timedelta,
    delivered: list[str],
) -> None:
    await cycle(app)
    fake_ll2.events = [ll2_event(5, date=clock.now + timedelta(hours=2), live=True)]
    clock.advance(timedelta(minutes=10))

    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=window)

    assert [r.id for r in webhook_receiver.accepted] == delivered
