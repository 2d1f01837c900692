"""Eight instances started at the same moment on an empty database all come up: the schema is made
once under the migration lock, and their first writes (targets, records, notifications) never fail
on each other's rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dockwatch.storage.engine import async_url
from tests.builders import ll2_docking
from tests.conftest import SECRET
from tests.fakes.ll2 import FakeLL2, background_docking
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import start_poll_once

INSTANCES = 8


async def poll_once(config: Path) -> tuple[int, str]:
    process = await start_poll_once(config)
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_eight_instances_started_together_on_an_empty_database_all_come_up(
    any_db_url: str, tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    fake_ll2.dockings = [background_docking(), ll2_docking(630, docking=None)]
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\nrequests_per_hour = 1000\n'
        f'[storage]\nurl = "{any_db_url}"\n'
        f'[[webhooks]]\nurl = "{webhook_receiver.url}"\nsecret = "{SECRET}"\n'
    )

    results = await asyncio.gather(*(poll_once(config) for _ in range(INSTANCES)))

    assert [code for code, _ in results] == [0] * INSTANCES, [err for _, err in results]
    engine = create_async_engine(async_url(any_db_url))
    try:
        async with engine.connect() as connection:
            targets = (await connection.execute(sa.text("SELECT count(*) FROM target"))).scalar_one()
            records = (await connection.execute(sa.text("SELECT count(*) FROM docking_record"))).scalar_one()
    finally:
        await engine.dispose()
    assert (targets, records) == (1, 2)
    assert webhook_receiver.received == []  # a first poll announces nothing, however many run it
