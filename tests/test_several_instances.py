"""Three ``dockwatch run`` processes on one PostgreSQL database: one polls, all deliver, and when the
poller is killed with SIGKILL another takes over within ``[run] failover``, losing nothing."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta

from tests.builders import ll2_docking
from tests.conftest import ReceiverFactory
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import Running, StartRun, eventually, metric_samples

FAILOVER = 6.0  # seconds; the config says "6s"
PER_HOUR = 1000
INTERVAL = 2.0  # the harness's poll interval
KEYS = ["docked:630", "docked:631"]


async def roles(instances: list[Running]) -> list[str]:
    return [str((await running.health())["role"]) for running in instances]


async def the_poller(instances: list[Running]) -> Running:
    (poller,) = [
        running for running, role in zip(instances, await roles(instances), strict=True) if role == "poller"
    ]
    return poller


def received_exactly(receiver: WebhookReceiver, keys: list[str]) -> bool:
    return sorted(r.id for r in receiver.accepted) == keys


async def test_three_instances_poll_once_between_them_and_deliver_every_notification_once_across_a_kill(
    start_run: StartRun, fake_ll2: FakeLL2, start_receiver: ReceiverFactory, postgres_url: str
) -> None:
    receivers = [await start_receiver(), await start_receiver()]
    settings = {"storage": postgres_url, "failover": f"{FAILOVER:g}s", "per_hour": str(PER_HOUR)}
    instances = [await start_run(fake_ll2, receivers, **settings) for _ in range(3)]
    run_started = time.monotonic()
    logs: dict[int, str] = {}

    async def one_poller_among(group: list[Running]) -> bool:
        return sorted(await roles(group)) == ["poller"] + ["standby"] * (len(group) - 1)

    await eventually(lambda: one_poller_among(instances))
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline
    first = await the_poller(instances)

    # A change: recorded once by the poller, delivered once to each receiver by whichever instance.
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: all(received_exactly(r, KEYS[:1]) for r in receivers))

    # Steady state: the LL2 calls of one poller, not three; every instance healthy and labelled.
    before, started = len(fake_ll2.counted_requests), time.monotonic()
    await asyncio.sleep(4 * INTERVAL)
    calls, elapsed = len(fake_ll2.counted_requests) - before, time.monotonic() - started
    assert calls <= 2 * (elapsed / INTERVAL + 2), (calls, elapsed)  # three pollers: three times that
    for running in instances:
        status, _ = await running.get("/healthz")
        assert status == 200  # a standby too: the poller's polls are fresh
        _, text = await running.get("/metrics")
        role = {labels["role"]: value for labels, value in metric_samples(text, "dockwatch_role")}
        assert role == (
            {"poller": 1.0, "standby": 0.0} if running is first else {"poller": 0.0, "standby": 1.0}
        )

    # kill -9 the poller; a change made right after is still announced, by the instance taking over.
    killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
    logs[instances.index(first)] = await first.kill()
    fake_ll2.dockings.insert(0, ll2_docking(631, docking=datetime.now(UTC), port=(1, "Unity nadir")))
    survivors = [running for running in instances if running is not first]

    await eventually(lambda: one_poller_among(survivors), within=FAILOVER + 5)
    took_over = time.monotonic() - killed_at
    second = await the_poller(survivors)

    async def polled_since_the_kill() -> bool:
        last = (await second.health())["last_success_at"]
        return last is not None and datetime.fromisoformat(last) > killed_wall

    await eventually(polled_since_the_kill, within=FAILOVER + 5)
    polled = time.monotonic() - killed_at
    assert took_over <= FAILOVER + 1, took_over
    assert polled <= FAILOVER + 2, polled

    await eventually(lambda: all(received_exactly(r, KEYS) for r in receivers), within=30)
    settled = len(fake_ll2.counted_requests)
    await eventually(lambda: len(fake_ll2.counted_requests) >= settled + 4)  # two more polls: no repeats
    for running in sorted(survivors, key=lambda r: r is second):  # the poller last: none takes over
        code, err = await running.stop(signal.SIGTERM)
        assert code == 0, err
        logs[instances.index(running)] = err

    # One budget, one poller's pace over the whole run (a failover included): three pollers would
    # make three times this, and the budget is shared by every instance.
    whole_run = time.monotonic() - run_started
    assert len(fake_ll2.counted_requests) <= 2 * (whole_run / INTERVAL + 4), whole_run
    everything = "".join(logs.values())
    assert "Traceback" not in everything, everything
    for key, recorder in (("docked:630", first), ("docked:631", second)):
        assert everything.count(f"notification recorded key={key} ") == 1, key
        assert f"notification recorded key={key} " in logs[instances.index(recorder)], key
    assert [log.count("became the poller") for _, log in sorted(logs.items())] == [
        1 if running in (first, second) else 0 for running in instances
    ]
    assert "poller lease released" in logs[instances.index(second)]
    for receiver in receivers:
        assert all(r.status == 200 and r.verified for r in receiver.received)
        ids = [r.id for r in receiver.received]
        assert sorted(ids) == KEYS, ids  # every (notification, target) exactly once
