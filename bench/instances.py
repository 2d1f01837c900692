"""1, 2 and 3 ``dockwatch run`` processes on one PostgreSQL database, 10,000+ webhook deliveries each.

Run by hand:  python bench/instances.py [--instances 1 2 3] [--targets 40] [--dockings 300] [--no-kill]

Per N, a fresh database on a throwaway PostgreSQL server (``scripts/postgres``, or a database
created on ``--postgres-url``'s server and dropped afterwards), a fake LL2 (``tests/fakes/ll2.py``)
and ``--targets`` webhook receivers (``tests/fakes/webhook_receiver.py``) in this process on
127.0.0.1, and N real ``python -m dockwatch run`` subprocesses with the same config except their web
port and LL2 API key (``bench-<i>``: the fake's request log then says which instance called).

After the first poller's baseline poll, ``--dockings`` new dockings appear on the fake's page in
batches; each is one notification owed to every target. With N >= 2 the poller (its ``/healthz``
says ``role: poller``) is killed with SIGKILL once half the dockings are out (``--no-kill`` leaves
it alone, for throughput alone). The run ends when the outbox is drained (nothing ``queued`` or
``sending``) and every expected delivery arrived, or at the deadline. Measured:

* duplicates: extra copies of a ``webhook-id`` one receiver accepted (goal 0);
* lost: (receiver, ``webhook-id``) pairs expected and never accepted by the deadline (goal 0);
* deliveries/s: distinct deliveries over the span from the first batch to the last arrival,
  and the same leaving out the deliveries the killed poller held claimed (they wait for their
  two-minute lease to lapse: ``bot/dispatch.py`` ``LEASE``);
* LL2 calls/hour: counted calls (not ``/api-throttle/``) the fake saw, over the span from the first
  to the last, by instance;
* failover: from the kill until a survivor's ``/healthz`` says ``role: poller``, and until the fake
  sees the next counted LL2 call (from a survivor, by its API key);
* the instances' CPU seconds, and how busy all the machine's cores were while delivering (the fakes
  and receivers in this process, PostgreSQL and whatever else runs there included).

Each duplicate and loss is listed with its arrival times, the instance logs that say ``delivered``
for it and its delivery row. ``--logs DIR`` keeps the configs and the instances' logs.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from dockwatch.notifiers.webhook import target_key  # noqa: E402
from dockwatch.storage.engine import async_url  # noqa: E402
from tests.builders import ll2_docking  # noqa: E402
from tests.fakes.ll2 import FakeLL2  # noqa: E402
from tests.fakes.webhook_receiver import ReceivedWebhook, WebhookReceiver  # noqa: E402

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
STARTED: list[asyncio.subprocess.Process] = []
"""Every ``dockwatch run`` this bench started: killed at exit if still running."""


@dataclass
class Settings:
    targets: int
    dockings: int
    batch: int
    batch_every: float
    interval: str
    failover: str
    deadline: float
    kill: bool
    logs: Path


@dataclass
class Instance:
    process: asyncio.subprocess.Process
    base: str
    api_key: str
    log: Path
    token: str = ""

    async def health(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=5)) as response:
            body: dict[str, Any] = await response.json()
            return body


@dataclass
class Arrival:
    receiver: int
    webhook_id: str
    at: float  # time.monotonic()
    accepted: bool


@dataclass
class TimedLL2(FakeLL2):
    """The fake LL2, noting when each request arrived and which instance (API key) made it."""

    arrivals: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic, path, api key)

    def _record(self, request: web.Request) -> None:
        super()._record(request)
        key = request.headers.get("Authorization", "").removeprefix("Token ")
        self.arrivals.append((time.monotonic(), request.path, key))

    def counted(self) -> list[tuple[float, str, str]]:
        return [a for a in self.arrivals if not a[1].endswith("/api-throttle/")]


@dataclass
class Result:
    instances: int
    expected: int
    distinct: int = 0
    duplicates: list[tuple[int, str, int]] = field(default_factory=list)  # (receiver, id, copies)
    lost: list[tuple[int, str]] = field(default_factory=list)
    span: float = 0.0
    rate: float = 0.0
    rate_without_stranded: float | None = None
    stranded: int = 0
    stranded_already_received: int = 0
    calls_per_hour: float = 0.0
    calls_by_instance: dict[str, int] = field(default_factory=dict)
    took_over: float | None = None
    next_call: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # instance log name -> CPU seconds
    machine_busy: float | None = None  # share of all cores busy while delivering (every process)
    bench_cpu: float | None = None  # this process's CPU seconds (fakes, receivers) over the same span
    started_at: float = 0.0  # monotonic: the first injection
    killed_at: float | None = None  # monotonic: the kill
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process so far (Linux ``/proc``); 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One N's moving parts, shared by the steps of ``run_once``."""

    http: aiohttp.ClientSession
    ll2: TimedLL2
    engine: AsyncEngine
    instances: list[Instance]
    targets: list[str]  # target keys, in receiver order
    arrivals: list[Arrival]
    result: Result
    settings: Settings
    cpu: dict[str, float] = field(default_factory=dict)  # log name -> CPU seconds
    load: list[tuple[float, int, int, float]] = field(default_factory=list)
    """Every second from the first batch: (monotonic, busy and total jiffies of all cores, our CPU)."""


def machine_jiffies() -> tuple[int, int]:
    """Busy and total CPU time of every core so far (``/proc/stat``), whoever used it."""
    with contextlib.suppress(OSError):
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        idle = values[3] + values[4]  # idle, iowait
        return sum(values) - idle, sum(values)
    return 0, 0


async def sample_load(run: Run) -> None:
    while True:
        busy, total = machine_jiffies()
        run.load.append((time.monotonic(), busy, total, time.process_time()))
        await asyncio.sleep(1)


def load_between(run: Run, start: float, end: float) -> tuple[float | None, float | None]:
    """Share of all cores busy, and this process's CPU seconds, between two monotonic moments."""
    inside = [sample for sample in run.load if start - 1 <= sample[0] <= end + 1]
    if len(inside) < 2 or inside[-1][2] == inside[0][2]:
        return None, None
    (_, busy0, total0, own0), (_, busy1, total1, own1) = inside[0], inside[-1]
    return (busy1 - busy0) / (total1 - total0), own1 - own0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_for(what: str, check: Any, within: float, every: float = 0.1) -> None:
    """Poll ``check`` (sync or async) until it is true; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(every)
    raise RuntimeError(f"bench: {what} not within {within:g} s")


def write_config(
    path: Path, ll2: str, receivers: list[str], port: int, url: str, key: str, s: Settings
) -> None:
    hooks = "".join(
        f'[[webhooks]]\nurl = "{hook}"\nsecret = "{SECRET}"\nname = "r{i:02d}"\n'
        for i, hook in enumerate(receivers)
    )
    path.write_text(
        f'[api]\nbase_url = "{ll2}"\napi_key = "{key}"\nrequests_per_hour = 100000\n'
        f'[storage]\nurl = "{url}"\n'
        f'[poll]\ninterval = "{s.interval}"\nmin_interval = "1s"\n'
        f'[run]\nstop_timeout = "10s"\nfailover = "{s.failover}"\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\n{hooks}'
    )


async def start_instance(index: int, ll2: str, receivers: list[str], url: str, s: Settings) -> Instance:
    port, key = free_port(), f"bench-{index}"
    config = s.logs / f"dockwatch-{index}.toml"
    write_config(config, ll2, receivers, port, url, key, s)
    log = s.logs / f"dockwatch-{index}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKWATCH_")}
    with log.open("wb") as sink:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dockwatch", "run", "--config", str(config),
            stdout=sink, stderr=subprocess.STDOUT, env=environment, cwd=ROOT,
        )  # fmt: skip
    STARTED.append(process)
    return Instance(process, f"http://127.0.0.1:{port}", key, log)


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    return runner, port


async def status_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT status, count(*) FROM delivery GROUP BY status"))
        return {str(status): int(count) for status, count in rows}


async def held_by(engine: AsyncEngine, token: str) -> list[tuple[int, str, str]]:
    """The deliveries ``token`` held claimed (``sending``): (delivery id, notification key, target)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT d.id, n.key, d.target_key FROM delivery d JOIN notification n"
                " ON n.id = d.notification_id WHERE d.status = 'sending' AND d.claimed_by = :token"
            ),
            {"token": token},
        )
        return [(int(i), str(k), str(t)) for i, k, t in rows]


async def delivery_rows(engine: AsyncEngine, pairs: list[tuple[str, str]]) -> list[tuple[Any, ...]]:
    """What the database says about (notification key, target key) pairs, for the notes."""
    if not pairs:
        return []
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT n.key, d.target_key, d.id, d.status, d.attempts, d.claimed_by, d.delivered_at"
                " FROM delivery d JOIN notification n ON n.id = d.notification_id"
                " WHERE n.key = ANY(:keys)"
            ),
            {"keys": sorted({k for k, _ in pairs})},
        )
        wanted = set(pairs)
        return [tuple(row) for row in rows if (row[0], row[1]) in wanted]


async def the_poller(http: aiohttp.ClientSession, instances: list[Instance]) -> Instance | None:
    pollers = []
    for instance in instances:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if (await instance.health(http))["role"] == "poller":
                pollers.append(instance)
    return pollers[0] if len(pollers) == 1 else None


async def inject(ll2: TimedLL2, s: Settings, injected: list[float], halfway: asyncio.Event) -> None:
    """Put ``s.dockings`` new dockings on the fake's page, ``s.batch`` at a time, newest first."""
    for start in range(0, s.dockings, s.batch):
        now = datetime.now(UTC)
        batch = [
            ll2_docking(
                200_000 + i,
                docking=now - timedelta(seconds=5),
                port=(10_000 + i, f"Bench port {i}"),
                vehicle=(300_000 + i, f"Bench Dragon {i}"),
            )
            for i in range(start, min(start + s.batch, s.dockings))
        ]
        ll2.dockings[:0] = reversed(batch)
        injected.append(time.monotonic())
        if start + s.batch >= s.dockings // 2:
            halfway.set()
        await asyncio.sleep(s.batch_every)


async def fail_over(run: Run) -> tuple[Instance, float, set[tuple[str, str]]]:
    """Kill -9 the poller and time the takeover; return it, the kill time and the (notification
    key, target key) pairs it held claimed, read from the database once it is dead."""
    http, ll2, result = run.http, run.ll2, run.result

    async def one_poller() -> Instance | None:
        return await the_poller(http, run.instances)

    await wait_for("exactly one instance saying role: poller", one_poller, within=20)
    poller = await one_poller()
    assert poller is not None
    run.cpu[poller.log.name] = cpu_seconds(poller.process.pid)
    poller.process.kill()
    killed_at = result.killed_at = time.monotonic()
    await poller.process.wait()
    stranded = {(key, target) for _, key, target in await held_by(run.engine, poller.token)}
    survivors = [i for i in run.instances if i is not poller]
    keys = {i.api_key for i in survivors}

    async def taken_over() -> bool:
        return await the_poller(http, survivors) is not None

    def called() -> bool:
        return any(at > killed_at and key in keys for at, _, key in ll2.counted())

    await wait_for("a survivor saying role: poller", taken_over, within=120, every=0.05)
    result.took_over = time.monotonic() - killed_at
    await wait_for("a survivor's LL2 call", called, within=120, every=0.05)
    result.next_call = min(at for at, _, key in ll2.counted() if at > killed_at and key in keys) - killed_at
    return poller, killed_at, stranded


async def run_once(n: int, server_url: str, s: Settings) -> Result:
    database = f"dockwatch_bench_{n}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    engine = create_async_engine(async_url(url))
    ll2 = TimedLL2()
    arrivals: list[Arrival] = []
    hub = web.Application()
    for index in range(s.targets):
        receiver = WebhookReceiver(secret=SECRET)

        async def note(received: ReceivedWebhook, index: int = index) -> None:
            accepted = received.verified and received.status == 200
            arrivals.append(Arrival(index, received.id, time.monotonic(), accepted))

        receiver.before_answer = note
        hub.add_subapp(f"/r{index:02d}", receiver.app())
    runners: list[web.AppRunner] = []
    instances: list[Instance] = []
    try:
        for app in (ll2.app(), hub):
            runner, port = await serve(app)
            runners.append(runner)
        ll2_base = f"http://127.0.0.1:{runners[0].addresses[0][1]}/2.3.0"
        hooks = [f"http://127.0.0.1:{port}/r{i:02d}/hook" for i in range(s.targets)]
        instances = [await start_instance(i, ll2_base, hooks, url, s) for i in range(n)]
        async with aiohttp.ClientSession() as http:
            run = Run(http, ll2, engine, instances, [target_key(h) for h in hooks], arrivals, Result(n, 0), s)
            await measure(run)
            await stop(run)
        await analyse(run)
        return run.result
    finally:
        for instance in instances:
            if instance.process.returncode is None:
                instance.process.kill()
                await instance.process.wait()
        for runner in runners:
            await runner.cleanup()
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.dispose()


async def measure(run: Run) -> None:
    """Start, baseline, inject, kill the poller halfway (N >= 2), wait for the outbox to drain."""
    http, instances, s, result = run.http, run.instances, run.settings, run.result
    result.expected = s.dockings * s.targets

    async def answering() -> bool:
        for instance in instances:
            if instance.process.returncode is not None:
                raise RuntimeError(f"bench: dockwatch run exited at start; see {instance.log}")
            try:
                instance.token = str((await instance.health(http))["instance"])
            except (aiohttp.ClientError, TimeoutError):
                return False
        return True

    async def baselined() -> bool:
        poller = await the_poller(http, instances)
        return poller is not None and (await poller.health(http))["last_success_at"] is not None

    await wait_for("every instance answering /healthz", answering, within=60)
    await wait_for("the first poller's baseline poll", baselined, within=60)
    injected: list[float] = []
    halfway = asyncio.Event()
    injecting = asyncio.create_task(inject(run.ll2, s, injected, halfway))
    sampling = asyncio.create_task(sample_load(run))
    killed: tuple[Instance, float, set[tuple[str, str]]] | None = None
    try:
        if len(instances) >= 2 and s.kill:
            await halfway.wait()
            killed = await fail_over(run)
        await injecting
        result.started_at = injected[0]
        await drain(run, deadline=injected[-1] + s.deadline)
    finally:
        for task in (injecting, sampling):
            task.cancel()
    first: dict[tuple[int, str], float] = {}
    for arrival in run.arrivals:
        if arrival.accepted:
            first.setdefault((arrival.receiver, arrival.webhook_id), arrival.at)
    if not first:
        return
    result.span = max(first.values()) - injected[0]
    result.rate = len(first) / result.span
    busy_until = max(first.values())
    if killed is not None:
        poller, killed_at, stranded = killed
        index = {target: i for i, target in enumerate(run.targets)}
        held = {(index[target], key) for key, target in stranded}
        result.stranded = len(held)
        result.stranded_already_received = sum(
            1 for pair in held if pair in first and first[pair] < killed_at
        )
        rest = {pair: at for pair, at in first.items() if pair not in held}
        if rest:
            busy_until = max(rest.values())
            result.rate_without_stranded = len(rest) / (busy_until - injected[0])
        result.notes.append(
            f"killed the poller {poller.token} ({poller.log.name}) {killed_at - injected[0]:.1f} s after the"
            f" first batch, holding {len(held)} deliveries claimed"
            f" ({result.stranded_already_received} of them already received)"
        )
    result.machine_busy, result.bench_cpu = load_between(run, injected[0], busy_until)


async def drain(run: Run, deadline: float) -> None:
    """Until every expected delivery arrived and nothing is queued or sending, or ``deadline``."""
    expected, last_report = run.result.expected, 0.0
    while True:
        counts = await status_counts(run.engine)
        distinct = len({(a.receiver, a.webhook_id) for a in run.arrivals if a.accepted})
        pending = counts.get("queued", 0) + counts.get("sending", 0)
        if time.monotonic() - last_report >= 15:
            print(
                f"  N={run.result.instances}: {distinct}/{expected} received, outbox {counts}",
                file=sys.stderr,
            )
            last_report = time.monotonic()
        if distinct >= expected and pending == 0 and sum(counts.values()) >= expected:
            break
        if time.monotonic() > deadline:
            run.result.notes.append(f"deadline reached: {distinct}/{expected} received, outbox {counts}")
            break
        await asyncio.sleep(1)
    await asyncio.sleep(2)  # a late copy still on the wire


async def stop(run: Run) -> None:
    """SIGTERM the survivors, standbys first (the poller last, so none takes over in between)."""
    alive = [i for i in run.instances if i.process.returncode is None]
    poller = await the_poller(run.http, alive)
    for instance in sorted(alive, key=lambda i: i is poller):
        run.cpu[instance.log.name] = cpu_seconds(instance.process.pid)
        instance.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(instance.process.wait(), timeout=30)
        except TimeoutError:
            instance.process.kill()
            code = await instance.process.wait()
            run.result.notes.append(f"{instance.log.name} did not stop within 30 s of SIGTERM: killed")
        if code != 0:
            run.result.notes.append(f"{instance.log.name} exited {code}")


async def analyse(run: Run) -> None:
    """Duplicates, losses, LL2 calls and what the logs say, into ``run.result``."""
    result, s = run.result, run.settings
    copies: Counter[tuple[int, str]] = Counter((a.receiver, a.webhook_id) for a in run.arrivals if a.accepted)
    expected = {(r, f"docked:{200_000 + i}") for r in range(s.targets) for i in range(s.dockings)}
    result.distinct = len(expected & copies.keys())
    result.duplicates = sorted((r, k, n) for (r, k), n in copies.items() if n > 1)
    result.lost = sorted(expected - copies.keys())
    unexpected = copies.keys() - expected
    refused = sum(1 for a in run.arrivals if not a.accepted)
    if unexpected:
        result.notes.append(
            f"{len(unexpected)} unexpected (receiver, webhook-id) pairs: {sorted(unexpected)[:5]}"
        )
    if refused:
        result.notes.append(f"{refused} requests failed the signature check or were refused")
    counted = run.ll2.counted()
    if len(counted) > 1:
        result.calls_per_hour = (len(counted) - 1) / (counted[-1][0] - counted[0][0]) * 3600
    names = {i.api_key: i.log.name.removesuffix(".log") for i in run.instances}
    result.calls_by_instance = dict(Counter(names.get(key, key) for _, _, key in counted))
    callers = [names.get(key, key) for _, _, key in counted]
    handovers = [(a, b) for a, b in pairwise(callers) if a != b]
    result.notes.append(f"LL2 caller changes (one per takeover when pollers never overlap): {handovers}")
    result.cpu = dict(run.cpu)
    logs = {i.log.name: i.log.read_text(errors="replace") for i in run.instances}
    for name, log in logs.items():
        for pattern in (
            "Traceback",
            "claim lost",
            "delivery failed",
            "outcome not recorded",
            "dead-lettered",
        ):
            if pattern in log:
                result.notes.append(f"{name}: {log.count(pattern)} x {pattern!r}")
    became = {name: log.count("became the poller") for name, log in logs.items()}
    result.notes.append(f"'became the poller' per instance: {became}; {first_deliveries(logs)}")
    await explain(run, logs)


def first_deliveries(logs: dict[str, str]) -> str:
    """When each instance first logged ``delivered``, after the first ``notification recorded``
    (log timestamps: whole seconds)."""

    def first(pattern: str, log: str) -> datetime | None:
        found = re.search(rf"^(\S+) INFO \S+: {pattern}", log, re.MULTILINE)
        return datetime.fromisoformat(found.group(1)) if found else None

    recorded = [at for log in logs.values() if (at := first("notification recorded", log))]
    if not recorded:
        return "nothing recorded"
    start = min(recorded)
    delivered = {name: first("delivered key", log) for name, log in logs.items()}
    shown = {
        name: "never" if at is None else f"+{(at - start).total_seconds():.0f} s"
        for name, at in delivered.items()
    }
    return f"first 'delivered' per instance after the first 'notification recorded': {shown}"


async def explain(run: Run, logs: dict[str, str]) -> None:
    """For each duplicate and loss: the delivery row, the arrivals, and which logs delivered it."""
    result = run.result
    pairs = [(key, run.targets[r]) for r, key, _ in result.duplicates] + [
        (k, run.targets[r]) for r, k in result.lost
    ]
    rows = {(row[0], row[1]): row for row in await delivery_rows(run.engine, pairs)}
    for kind, receiver, key in [("duplicate", r, k) for r, k, _ in result.duplicates] + [
        ("lost", r, k) for r, k in result.lost
    ]:
        target = run.targets[receiver]
        times = [
            relative(result, a.at) for a in run.arrivals if a.receiver == receiver and a.webhook_id == key
        ]
        senders = [
            name
            for name, log in logs.items()
            for line in log.splitlines()
            if f"delivered key={key} target={target} " in line
        ]
        row = rows.get((key, target))
        result.details.append(
            f"{kind} r{receiver:02d} {key} ({target}): arrived at {times}; 'delivered' logged by"
            f" {senders}; row (id, status, attempts, claimed_by, delivered_at) = {row[2:] if row else None}"
        )


def relative(result: Result, at: float) -> str:
    """A moment as seconds after the first injection, and after the kill when there was one."""
    text = f"+{at - result.started_at:.2f} s"
    if result.killed_at is not None:
        text += f" (kill {at - result.killed_at:+.2f} s)"
    return text


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(results: list[Result], s: Settings) -> None:
    print(
        f"{s.dockings} dockings x {s.targets} webhook targets, batches of {s.batch}"
        f" every {s.batch_every:g} s; [poll] interval = {s.interval!r}, [run] failover = {s.failover!r}"
    )
    print()
    print(
        "| instances | expected | received | duplicates | lost | deliveries/s | deliveries/s without the"
        " killed poller's claims | LL2 calls/hour (calls made, by instance)"
        " | failover: new poller / next LL2 call, s | instances' CPU, s | all cores busy |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|")
    for r in results:
        by = ", ".join(
            f"{name.removeprefix('dockwatch-')}: {n}" for name, n in sorted(r.calls_by_instance.items())
        )
        failover = (
            "-" if r.took_over is None else f"{seconds(r.took_over)} / {seconds(r.next_call)} ({s.failover})"
        )
        without = "-" if r.rate_without_stranded is None else f"{r.rate_without_stranded:.1f}"
        busy = "-" if r.machine_busy is None else f"{r.machine_busy:.0%}"
        print(
            f"| {r.instances} | {r.expected} | {r.distinct} | {sum(n - 1 for *_, n in r.duplicates)} |"
            f" {len(r.lost)} | {r.rate:.1f} | {without} | {r.calls_per_hour:.0f} ({by}) | {failover} |"
            f" {sum(r.cpu.values()):.0f} | {busy} |"
        )
    for r in results:
        print()
        cpu = ", ".join(f"{name}: {value:.1f}" for name, value in sorted(r.cpu.items()))
        own = "-" if r.bench_cpu is None else f"{r.bench_cpu:.1f}"
        print(
            f"N={r.instances}: first batch -> last arrival {r.span:.1f} s; CPU s: {cpu};"
            f" this process (fakes, receivers) while delivering: {own}"
        )
        for line in (*r.notes, *r.details):
            print(f"  - {line}")


PG_STOP: list[str] = []


def start_postgres() -> str:
    """``scripts/postgres``: a throwaway server, stopped (and its directory removed) at exit."""
    script = (
        'out=$(scripts/postgres) && eval "$out"'
        ' && printf "%s\\n%s\\n" "$TEST_POSTGRES_URL" "$DOCKWATCH_PG_STOP"'
    )
    done = subprocess.run(["sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"bench: scripts/postgres failed:\n{done.stderr}")
    url, stop_command = done.stdout.splitlines()[-2:]
    PG_STOP.append(stop_command)
    return url


def clean_up() -> None:
    """At exit, however it comes: kill what we started and still runs, stop our PostgreSQL."""
    for process in STARTED:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
    while PG_STOP:
        subprocess.run(["sh", "-c", PG_STOP.pop()], capture_output=True, check=False, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--targets", type=int, default=40, help="webhook receivers ([[webhooks]] tables)")
    parser.add_argument("--dockings", type=int, default=300, help="new dockings (notifications) per run")
    parser.add_argument("--batch", type=int, default=20, help="dockings added to the page at a time")
    parser.add_argument("--batch-every", type=float, default=2.0, help="seconds between batches")
    parser.add_argument("--interval", default="2s", help="[poll] interval")
    parser.add_argument("--failover", default="6s", help="[run] failover")
    parser.add_argument(
        "--deadline",
        type=float,
        default=300,
        help="seconds after the last batch before the rest counts as lost",
    )
    parser.add_argument(
        "--no-kill", dest="kill", action="store_false", help="leave the poller alone (throughput only)"
    )
    parser.add_argument("--postgres-url", help="a server to create (and drop) the databases on")
    parser.add_argument("--logs", type=Path, help="keep the configs and instance logs here")
    args = parser.parse_args()
    atexit.register(clean_up)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="dockwatch-bench-") as scratch:
        logs = args.logs or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            args.targets,
            args.dockings,
            args.batch,
            args.batch_every,
            args.interval,
            args.failover,
            args.deadline,
            args.kill,
            logs,
        )
        server_url = args.postgres_url or start_postgres()
        results = []
        for n in args.instances:
            settings.logs = logs / f"n{n}"
            settings.logs.mkdir(exist_ok=True)
            print(f"bench: {n} instance(s)...", file=sys.stderr)
            results.append(asyncio.run(run_once(n, server_url, settings)))
    print_table(results, settings)


if __name__ == "__main__":
    main()
