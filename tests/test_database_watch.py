"""``dockwatch run`` whose SQLite file is deleted or replaced stops at once with exit 3."""

from __future__ import annotations

import asyncio
import shutil

from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import StartRun, eventually


async def test_run_exits_3_in_one_line_when_its_database_file_is_deleted(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    database = running.config.parent / "state.db"

    for leftover in (database, database.with_name("state.db-wal"), database.with_name("state.db-shm")):
        leftover.unlink(missing_ok=True)
    _, err = await asyncio.wait_for(running.process.communicate(), timeout=20)

    assert running.process.returncode == 3
    (line,) = [line for line in err.decode().splitlines() if line.startswith("dockwatch: ")]
    assert (
        line == f"dockwatch: storage error: the database {database} was deleted while dockwatch ran; stopping"
    )
    assert "Traceback" not in err.decode()


async def test_run_exits_3_when_its_database_file_is_replaced(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    database = running.config.parent / "state.db"

    copy = database.with_name("copy.db")
    shutil.copy(database, copy)
    copy.replace(database)  # a restore from backup, under the running process
    _, err = await asyncio.wait_for(running.process.communicate(), timeout=20)

    assert running.process.returncode == 3
    assert "was replaced by another file while dockwatch ran" in err.decode()
