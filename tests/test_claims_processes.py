"""Claims across real processes: ``dockwatch poll-once`` processes sending side by side to a slow
webhook receiver, killed with SIGKILL mid-delivery, then one that runs to the end.

The property: every notification reaches the receiver at least once, and at most once, except a
message whose POST was out when its process died and whose delivery was therefore never recorded:
that one is sent again once its lease lapses, with the same ``webhook-id`` and body (the documented
exception, which receivers deduplicate). The database stays intact.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from dockwatch.storage import Store
from dockwatch.storage.engine import create_engine, sqlite_path
from dockwatch.storage.tables import DeliveryRow, DeliveryStatus
from tests.builders import ll2_docking
from tests.conftest import SECRET
from tests.fakes.ll2 import FakeLL2, background_docking
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import eventually, start_poll_once

DOCKINGS = 8


def write_config(tmp_path: Path, fake_ll2: FakeLL2, receiver: WebhookReceiver, db_url: str) -> Path:
    path = tmp_path / "dockwatch.toml"
    path.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\nrequests_per_hour = 1000\n'
        f'[storage]\nurl = "{db_url}"\n'
        f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
    )
    return path


async def finish(process: asyncio.subprocess.Process) -> None:
    _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.communicate()


@asynccontextmanager
async def database(db_url: str) -> AsyncIterator[Store]:
    async with Store.open(db_url) as store:
        yield store


async def sent_unrecorded(db_url: str, receiver: WebhookReceiver) -> set[str]:
    """What a killed process sent but never recorded: received, and still claimed in the database."""
    async with database(db_url) as store:
        claimed = {key for row, key in await store.deliveries() if row.status == DeliveryStatus.SENDING}
    return claimed & {r.id for r in receiver.received}


async def leases_lapse(db_url: str) -> None:
    """The two minutes of a lease pass: a crashed process's claims become due again."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(DeliveryRow)
                .where(col(DeliveryRow.status) == DeliveryStatus.SENDING)
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        await engine.dispose()


async def test_poll_once_processes_killed_mid_delivery_lose_nothing_and_double_only_what_was_in_flight(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, any_db_url: str
) -> None:
    config = write_config(tmp_path, fake_ll2, webhook_receiver, any_db_url)
    await finish(await start_poll_once(config))  # the baseline: nothing to announce
    now = datetime.now(UTC)
    fake_ll2.dockings = [background_docking()] + [
        ll2_docking(
            record_id,
            docking=now - timedelta(minutes=1),
            port=(record_id, f"port {record_id}"),
            vehicle=(10_000 + record_id, f"Dragon {record_id}"),
        )
        for record_id in range(1, DOCKINGS + 1)
    ]
    webhook_receiver.delay_seconds = 0.4  # each POST answered slowly: a kill lands mid-send
    in_flight: set[str] = set()

    # Two processes side by side, both killed once the receiver has had three messages.
    together = [await start_poll_once(config) for _ in range(2)]
    await eventually(lambda: len(webhook_receiver.received) >= 3)
    await asyncio.gather(*(kill(process) for process in together))
    in_flight |= await sent_unrecorded(any_db_url, webhook_receiver)

    # The leases lapse; another is killed two messages later.
    await leases_lapse(any_db_url)
    seen = len(webhook_receiver.received)
    process = await start_poll_once(config)
    await eventually(lambda: len(webhook_receiver.received) >= seen + 2)
    await kill(process)
    in_flight |= await sent_unrecorded(any_db_url, webhook_receiver)

    # The leases lapse again, and a last process runs to the end.
    await leases_lapse(any_db_url)
    webhook_receiver.delay_seconds = 0.0
    await finish(await start_poll_once(config))

    received = Counter(r.id for r in webhook_receiver.accepted)
    assert set(received) == {f"docked:{i}" for i in range(1, DOCKINGS + 1)}
    doubled = {key: count for key, count in received.items() if count > 1}
    assert set(doubled) <= in_flight, (doubled, in_flight)
    assert all(count <= 2 for count in doubled.values()), doubled
    for key in doubled:  # a resend is the same message: receivers drop it by its webhook-id
        assert len({r.body for r in webhook_receiver.accepted if r.id == key}) == 1
    async with database(any_db_url) as store:
        assert await store.delivery_counts() == {"delivered": DOCKINGS}
    path = sqlite_path(any_db_url)
    if path is not None:
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
