"""Issue 12 end to end: a webhook asking for reminders 30 minutes ahead receives ``docking.reminder``
about 30 minutes before a planned docking, once, and again after LL2 moves the docking by more than
15 minutes; a webhook that asked for none receives only the docking.

The real runtime (store, aiohttp, the LL2 client, the webhook notifier) runs against the fakes on
127.0.0.1, one poll per ``run_cycle``, on the test clock: nobody waits 30 minutes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import ChangeKind, Endpoint, Snapshot, SubscriptionFilter
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.planner import PlannedPoll
from dockwatch.bot.preferences import ConfiguredPreferences, Preferences, QuietHours
from dockwatch.bot.reminders import POLL_BEFORE, due_reminders
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.bot.service import Service
from dockwatch.storage import TargetInfo
from tests.builders import ll2_docking, ll2_event
from tests.conftest import SECRET, Clock, ReceiverFactory, free_tier
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver

THIRTY = timedelta(minutes=30)


@pytest.fixture
async def plain_receiver(start_receiver: ReceiverFactory) -> WebhookReceiver:
    """A second webhook that asked for no reminders."""
    return await start_receiver()


@pytest.fixture
def config(
    fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, plain_receiver: WebhookReceiver, any_db_url: str
) -> Config:
    return config_from_mapping(
        {
            "api": {"base_url": fake_ll2.base_url, "requests_per_hour": 1000},
            "storage": {"url": any_db_url},
            "webhooks": [
                {"url": webhook_receiver.url, "secret": SECRET, "reminders": ["30m"]},
                {"url": plain_receiver.url, "secret": SECRET},
            ],
        },
        source="test",
        environ={},
    )


async def cycle(app: Runtime) -> CycleOutcome:
    return await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


def types(receiver: WebhookReceiver) -> list[str]:
    return [r.json["type"] for r in receiver.accepted]


async def test_a_webhook_asking_for_30m_reminders_is_reminded_30_minutes_before_a_planned_docking(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at, vehicle=(50, "Crew Dragon Endeavour"))]
    await cycle(app)  # the baseline: the plan is known, nothing is due
    clock.now = docking_at - THIRTY - POLL_BEFORE  # the poll the planner asks for
    await cycle(app)

    (reminder,) = webhook_receiver.accepted
    body = reminder.json
    assert body["type"] == "docking.reminder"
    assert body["data"]["lead_seconds"] == 1800
    assert body["data"]["expected"] == "2026-01-01T14:00:00Z"
    assert body["data"]["vehicle"]["name"] == "Crew Dragon Endeavour"
    assert body["data"]["docking_event_id"] == 630
    assert reminder.verified  # signed like every body


async def test_the_reminder_is_sent_once_however_often_the_poller_looks(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    for _ in range(4):
        await cycle(app)
        clock.advance(timedelta(minutes=2))

    assert types(webhook_receiver) == ["docking.reminder"]


async def test_a_target_without_reminders_gets_the_docking_but_no_reminder(
    app: Runtime,
    fake_ll2: FakeLL2,
    clock: Clock,
    webhook_receiver: WebhookReceiver,
    plain_receiver: WebhookReceiver,
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    await cycle(app)
    clock.now = docking_at + timedelta(minutes=1)
    await cycle(app)

    assert types(webhook_receiver) == ["docking.reminder", "docking.docked"]
    assert types(plain_receiver) == ["docking.docked"]


async def test_a_docking_moved_by_20_minutes_is_reminded_of_again_and_one_moved_by_10_is_not(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    first = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=first)]
    await cycle(app)
    clock.now = first - THIRTY
    await cycle(app)  # reminded of 14:00
    fake_ll2.dockings = [ll2_docking(630, docking=first + timedelta(minutes=10))]
    clock.now = first + timedelta(minutes=10) - THIRTY
    await cycle(app)  # 14:10 is the same plan
    fake_ll2.dockings = [ll2_docking(630, docking=first + timedelta(minutes=20))]
    clock.now = first + timedelta(minutes=20) - THIRTY
    await cycle(app)  # 14:20 is a new one

    expected = [r.json["data"]["expected"] for r in webhook_receiver.accepted]
    assert expected == ["2026-01-01T14:00:00Z", "2026-01-01T14:20:00Z"]


async def test_a_reminder_whose_moment_passed_while_ll2_was_unreachable_is_never_sent_late(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY + timedelta(minutes=16)  # a 30m reminder tolerates 15 minutes
    await cycle(app)

    assert webhook_receiver.accepted == []


async def test_an_event_reminder_links_its_webcast(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    event_at = clock.now + timedelta(hours=3)
    fake_ll2.events = [ll2_event(77, date=event_at, video_url="https://youtu.be/crew12")]
    await cycle(app)
    clock.now = event_at - THIRTY
    await cycle(app)

    (reminder,) = webhook_receiver.accepted
    assert reminder.json["type"] == "event.reminder"
    assert reminder.json["data"]["webcast_url"] == "https://youtu.be/crew12"


async def test_the_poller_plans_a_poll_shortly_before_the_reminder_moment(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    docking_at = clock.now + timedelta(minutes=35)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    service = Service(app, free_tier(config), Metrics(app.instance))
    service._last_polls = dict.fromkeys(Endpoint, clock.now)

    planned = await service._plan()

    # The steady pace (6 minutes at 14 calls an hour) would poll next at 12:06; the reminder is due
    # at 12:05.
    assert planned == PlannedPoll(docking_at - THIRTY - POLL_BEFORE, frozenset({Endpoint.DOCKINGS}))


async def test_a_chat_gets_the_reminders_of_the_kinds_and_stations_it_subscribed_to(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock
) -> None:
    departures_only, tiangong_only = "telegram:1", "telegram:2"
    subscriptions = {
        departures_only: SubscriptionFilter(frozenset({ChangeKind.DEPARTED}), None),
        tiangong_only: SubscriptionFilter(None, frozenset({"tiangong"})),
        "telegram:3": SubscriptionFilter(frozenset({ChangeKind.DOCKED}), frozenset({"iss"})),
    }
    for key, subscription in subscriptions.items():
        await app.store.save_subscription(key, notifier="telegram", label=key, subscription=subscription)
        await app.store.save_preferences(key, reminders=[THIRTY])
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]  # at the ISS
    await cycle(app)
    clock.now = docking_at - THIRTY
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=False)

    owed = {key for row, key in await app.store.deliveries() if row.target_key.startswith("telegram:")}
    assert owed == {"remind-docking:630:1800@2026-01-01T14:00:00Z"}
    assert [
        row.target_key for row, _ in await app.store.deliveries() if row.target_key.startswith("telegram:")
    ] == ["telegram:3"]


async def test_a_reminder_the_receiver_failed_is_not_retried_once_it_would_be_late(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.statuses.append(500)
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    await cycle(app)  # the receiver answers 500: retried in 10 s
    clock.advance(timedelta(minutes=16))  # the receiver was down past the 15 minutes a 30m reminder allows

    report = await app.dispatcher.deliver_due()

    assert (report.delivered, report.superseded, report.dead) == (0, 1, 0)
    assert [r.status for r in webhook_receiver.received] == [500]
    ((row, _),) = [d for d in await app.store.deliveries() if d[0].target_key.startswith("webhook:")]
    assert row.status == "superseded"
    assert row.last_error is not None and row.last_error.startswith("expired:")


async def test_removing_reminders_from_a_webhook_s_config_switches_them_off(
    config: Config, clock: Clock, webhook_receiver: WebhookReceiver, plain_receiver: WebhookReceiver
) -> None:
    without = config_from_mapping(
        {
            "api": {"base_url": config.api.base_url, "requests_per_hour": 1000},
            "storage": {"url": config.storage.url},
            "webhooks": [
                {"url": webhook_receiver.url, "secret": SECRET},
                {"url": plain_receiver.url, "secret": SECRET},
            ],
        },
        source="test",
        environ={},
    )
    async with open_runtime(config, clock=clock) as app:
        assert await app.store.reminder_leads() == {THIRTY}
    async with open_runtime(without, clock=clock) as app:
        assert await app.store.reminder_leads() == set()


async def test_a_reminder_never_recorded_costs_two_polls_not_a_poll_a_minute(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    """LL2 drops a planned docking from its pages (the stored record stays): the poller looks just
    before the reminder moment and once more halfway through its tolerance, then polls as usual."""
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    fake_ll2.dockings = []
    service = Service(app, free_tier(config), Metrics(app.instance))
    polls = []
    clock.now = docking_at - THIRTY - POLL_BEFORE
    for _ in range(4):
        await cycle(app)
        service._last_polls = dict.fromkeys(Endpoint, clock.now)
        polls.append(clock.now)
        clock.advance(timedelta(seconds=2))  # the plan is made once the poll is over
        clock.now = (await service._plan()).at

    # Before the moment, at the steady pace (6 minutes at 14 calls an hour), halfway through the
    # tolerance, then at the steady pace again.
    assert [p.strftime("%H:%M:%S") for p in polls] == ["13:29:30", "13:35:30", "13:37:30", "13:43:30"]


BERLIN_HOUR = ConfiguredPreferences(
    reminders=(timedelta(hours=1),), quiet=QuietHours.parse("22:00-07:00"), timezone="Europe/Berlin"
)


async def test_a_static_chat_s_own_choices_outlast_a_restart_and_the_config_s_are_its_defaults(
    app: Runtime,
) -> None:
    static = TargetInfo("telegram:5", "telegram", "Telegram chat 5", BERLIN_HOUR)
    await app.store.sync_targets([static])
    await app.store.save_preferences("telegram:5", reminders=(), quiet=None, timezone="Asia/Tokyo")

    await app.store.sync_targets([static])  # the next start

    assert await app.store.preferences("telegram:5") == Preferences(timezone="Asia/Tokyo")
    assert await app.store.reminder_leads() == frozenset()


async def test_a_key_removed_from_the_config_no_longer_applies_after_the_next_start(app: Runtime) -> None:
    hook = "discord:webhook:123456789012345678"  # no commands: the config is all it has
    await app.store.sync_targets([TargetInfo(hook, "discord", "hook", BERLIN_HOUR)])
    assert await app.store.preferences(hook) == Preferences(
        reminders=(timedelta(hours=1),), quiet=QuietHours.parse("22:00-07:00"), timezone="Europe/Berlin"
    )

    await app.store.sync_targets([TargetInfo(hook, "discord", "hook")])

    assert await app.store.preferences(hook) == Preferences()
    assert await app.store.reminder_leads() == frozenset()


async def reminder_rows(app: Runtime) -> list[tuple[str, str]]:
    """(notification key, status) of each reminder delivery to a webhook, oldest first."""
    return [
        (key, row.status)
        for row, key in await app.store.deliveries()
        if key.startswith("remind-") and row.target_key.startswith("webhook:")
    ]


async def test_two_writers_seeing_the_planned_time_minutes_apart_remind_of_it_once(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock
) -> None:
    """``poll-once`` beside ``run``, each deciding on what it read before the other recorded."""
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    known = await app.store.load_known_state()
    seen_by = [
        parse_dockings([ll2_docking(630, docking=docking_at + timedelta(minutes=m))], "test", legacy=False)
        for m in (0, -5)
    ]
    for records in seen_by:
        changes = due_reminders(records, [], {THIRTY}, known.recorded_keys, clock.now)
        await app.store.record_cycle(
            Snapshot(tuple(records), ()), changes, started_at=clock.now, now=clock.now
        )

    assert [key for key, _ in await reminder_rows(app)] == ["remind-docking:630:1800@2026-01-01T14:00:00Z"]


async def test_a_reminder_still_queued_when_ll2_moves_the_time_is_not_sent_for_the_old_time(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=False)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at + timedelta(minutes=20))]
    clock.advance(timedelta(minutes=20))
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=False)

    assert await reminder_rows(app) == [
        ("remind-docking:630:1800@2026-01-01T14:00:00Z", "superseded"),
        ("remind-docking:630:1800@2026-01-01T14:20:00Z", "queued"),
    ]


async def test_a_reminder_still_queued_when_the_docking_happens_is_not_sent_after_it(
    app: Runtime, fake_ll2: FakeLL2, clock: Clock, webhook_receiver: WebhookReceiver
) -> None:
    docking_at = clock.now + timedelta(hours=2)
    fake_ll2.dockings = [ll2_docking(630, docking=docking_at)]
    await cycle(app)
    clock.now = docking_at - THIRTY
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3), deliver=False)
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]  # docked early
    clock.advance(timedelta(minutes=2))
    await cycle(app)

    assert types(webhook_receiver) == ["docking.docked"]
    assert await reminder_rows(app) == [("remind-docking:630:1800@2026-01-01T14:00:00Z", "superseded")]
