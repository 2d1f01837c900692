"""``dockwatch run`` as a subprocess against the fake LL2 and webhook receivers."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.builders import ll2_docking
from tests.conftest import ReceiverFactory
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import Running, StartRun, eventually, metric_samples


async def test_run_delivers_a_new_docking_soon_after_the_fake_changes(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline poll

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(webhook_receiver.accepted) == 1)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 8)  # a few more polls: no repeats

    code, _ = await running.stop()
    assert code == 0
    assert [r.id for r in webhook_receiver.accepted] == ["docked:630"]


async def test_a_receiver_failing_at_first_is_served_exactly_once(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.statuses.extend([503])
    webhook_receiver.headers_for_status[503] = {"Retry-After": "1"}
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    # the first retry comes 10 s after the failure, without waiting for a poll to find it
    await eventually(lambda: len(webhook_receiver.accepted) == 1, within=25)

    code, _ = await running.stop()
    assert code == 0
    assert [r.status for r in webhook_receiver.received] == [503, 200]


async def test_sigterm_exits_0_within_the_bound_leaving_nothing_in_flight(
    start_run: StartRun,
    fake_ll2: FakeLL2,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    webhook_receiver.delay_seconds = 30  # a receiver that hangs while we stop
    running = await start_run(fake_ll2, [webhook_receiver], stop_timeout="2s")
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(webhook_receiver.received) == 1)

    started = time.monotonic()
    code, err = await running.stop()

    assert code == 0
    assert time.monotonic() - started < 6
    assert "Traceback" not in err
    with sqlite3.connect(tmp_path / "state.db") as db:
        statuses = db.execute("SELECT status FROM delivery").fetchall()
    assert statuses == [("queued",)]


async def test_healthz_turns_503_while_ll2_fails_and_back_to_200_on_recovery(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    async def status_is(code: int) -> bool:
        return (await running.get("/healthz"))[0] == code

    await eventually(lambda: status_is(200))
    fake_ll2.fail_next.extend(["http_500"] * 1000)
    await eventually(lambda: status_is(503), within=30)
    cleared = len(fake_ll2.counted_requests)
    fake_ll2.fail_next.clear()
    await eventually(lambda: status_is(200), within=30)

    def both_lists_read_again_and_recorded() -> bool:
        since = [r.path for r in fake_ll2.counted_requests[cleared:]]
        events = [i for i, path in enumerate(since) if "upcoming" in path]
        return bool(events) and len(since) > events[0] + 1 and any("docking" in path for path in since)

    await eventually(both_lists_read_again_and_recorded, within=30)

    code, err = await running.stop(signal.SIGINT)
    assert code == 0
    assert "poll failed" in err and "poll recovered" in err


async def test_healthz_says_when_the_next_poll_comes_and_which_lists_it_reads(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver], poll='interval = "1h"\nmin_interval = "10m"')
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline reads both

    async def planned_after_the_baseline() -> bool:
        body = await running.health()
        return body["last_poll_at"] is not None and (body["next_poll_at"] or "") > body["last_poll_at"]

    await eventually(planned_after_the_baseline)
    body = await running.health()
    await running.stop()

    # Ten minutes after the baseline the dockings are due; the events only after 50 minutes.
    assert body["next_poll_reads"] == ["dockings"]
    assert body["next_poll_at"] > body["last_poll_at"]


async def test_metrics_are_prometheus_text(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(webhook_receiver.accepted) == 1)

    status, text = await running.get("/metrics")
    instance = (await running.health())["instance"]
    await running.stop()

    assert status == 200
    me = {"instance": instance}
    assert [labels for labels, _ in metric_samples(text, "dockwatch_polls_total")] == [{**me, "result": "ok"}]
    assert metric_samples(text, "dockwatch_notifications_total") == [({**me, "type": "docking.docked"}, 1.0)]
    assert metric_samples(text, "dockwatch_deliveries_total") == [
        ({**me, "notifier": "webhook", "status": "delivered"}, 1.0)
    ]
    assert "dockwatch_delivery_latency_seconds_bucket" in text
    ((calls_labels, calls),) = metric_samples(text, "dockwatch_ll2_calls_total")
    assert calls_labels == me and calls >= 2
    assert [labels for labels, _ in metric_samples(text, "dockwatch_ll2_budget_remaining")] == [
        {"scope": "database"}
    ]


async def test_a_hanging_receiver_never_delays_another_target(
    start_run: StartRun, fake_ll2: FakeLL2, start_receiver: ReceiverFactory
) -> None:
    hanging, healthy = await start_receiver(), await start_receiver()
    hanging.delay_seconds = 14  # just under the 15 s webhook timeout
    running = await start_run(fake_ll2, [hanging, healthy])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(hanging.received) == 1)
    fake_ll2.dockings.insert(0, ll2_docking(631, docking=datetime.now(UTC), port=(1, "Unity nadir")))
    started = time.monotonic()
    await eventually(lambda: [r.id for r in healthy.accepted] == ["docked:630", "docked:631"], within=10)

    assert time.monotonic() - started < 8  # the hanging receiver is still holding its first request
    await running.stop()


async def test_sigterm_during_a_slow_poll_exits_0_without_a_traceback(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver], stop_timeout="2s")
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.slow_seconds = 25
    fake_ll2.fail_next.extend(["slow"] * 5)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 3)  # a poll is now hanging on LL2

    started = time.monotonic()
    code, err = await running.stop()

    assert code == 0
    assert time.monotonic() - started < 8
    assert "Traceback" not in err and "poll abandoned at stop" in err, err


async def test_a_delivery_in_flight_at_sigterm_finishes_within_the_bound(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    webhook_receiver.delay_seconds = 3
    running = await start_run(fake_ll2, [webhook_receiver], stop_timeout="10s")
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(webhook_receiver.received) == 1)

    code, _ = await running.stop()

    assert code == 0
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT status FROM delivery").fetchall() == [("delivered",)]


async def test_healthz_answers_while_another_process_holds_the_write_lock(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])

    async def healthy() -> bool:
        return (await running.get("/healthz"))[0] == 200

    await eventually(healthy)  # the first poll is recorded
    locker = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        status, body = await running.get("/healthz")
        elapsed = time.monotonic() - started
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await running.stop()

    assert status == 200, body
    assert elapsed < 2


async def test_the_service_never_exceeds_its_hourly_budget(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver], per_hour="6")  # three polls' worth
    await eventually(lambda: len(fake_ll2.counted_requests) == 6)

    await asyncio.sleep(5)  # with a 2 s interval, two or three more polls would be due by now
    _, body = await running.get("/healthz")
    await running.stop()

    assert len(fake_ll2.counted_requests) == 6
    assert json.loads(body)["database"]["budget_left"] == 0


async def healthy(running: Running) -> bool:
    return (await running.get("/healthz"))[0] == 200


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Another process's write transaction on the SQLite file for as long as the block lasts."""
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


SLOW_POLLS = 'interval = "10s"\nmin_interval = "3s"'
"""Polls 3 s apart at the most (the budget would allow more): one waiting 5 s for a lock is slow."""


def polls_logged(database: Path) -> list[tuple[datetime, datetime]]:
    """(started, finished) of every poll in the database's poll log, oldest first."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT started_at, finished_at FROM poll_log ORDER BY id").fetchall()
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in rows]


def slow_and_next(database: Path) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]] | None:
    """The first poll that took longer than 3 s and the poll after it, once both are logged."""
    polls = polls_logged(database)
    for slow, following in itertools.pairwise(polls):
        if slow[1] - slow[0] > timedelta(seconds=3):
            return slow, following
    return None


async def test_a_poll_overrunning_its_interval_is_logged_when_it_starts_and_when_it_ends_not_per_poll(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver], poll=SLOW_POLLS)
    await eventually(lambda: healthy(running))  # the first poll is committed
    with write_lock_held(tmp_path / "state.db"):
        await asyncio.sleep(7)  # the next poll waits for the lock far longer than min_interval
    await eventually(lambda: slow_and_next(tmp_path / "state.db") is not None, within=30)
    polled = len(polls_logged(tmp_path / "state.db"))
    await eventually(lambda: len(polls_logged(tmp_path / "state.db")) >= polled + 2, within=30)
    code, err = await running.stop()

    assert code == 0
    # Once per slow streak (a second time only if a loaded machine makes another poll slow).
    assert 1 <= err.count("poll ran past the time planned for the next") <= 2, err
    assert err.count("polls back on schedule") >= 1, err


async def test_a_poll_that_fell_due_while_the_last_one_overran_runs_as_soon_as_that_one_ends(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver], poll=SLOW_POLLS)
    await eventually(lambda: healthy(running))  # the first poll is committed
    with write_lock_held(tmp_path / "state.db"):
        await asyncio.sleep(8)  # the next poll (3 s after) waits for the lock: about 5 s, it overruns
    await eventually(lambda: slow_and_next(tmp_path / "state.db") is not None, within=30)
    await running.stop()

    found = slow_and_next(tmp_path / "state.db")
    assert found is not None
    (_, overran_until), (next_started, _) = found
    waited = next_started - overran_until
    assert waited < timedelta(seconds=1), waited  # at once, not min_interval (3 s) later
