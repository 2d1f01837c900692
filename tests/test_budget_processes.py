"""The LL2 budget across real processes: started together, or killed with SIGKILL mid-request.

The property: LL2 never receives more requests in an hour than the budget allows, and the store
never counts fewer requests than LL2 received, whatever moment a process dies at.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.fakes.ll2 import FakeLL2
from tests.service_harness import eventually, start_poll_once


def write_config(tmp_path: Path, fake_ll2: FakeLL2, per_hour: int) -> Path:
    path = tmp_path / "dockwatch.toml"
    path.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\nrequests_per_hour = {per_hour}\n'
        f'[storage]\nurl = "sqlite:///state.db"\n[console]\n'
    )
    return path


def counted_calls(database: Path) -> int:
    with closing(sqlite3.connect(database)) as db:
        count: int = db.execute("SELECT count(*) FROM api_call").fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return count


async def test_polls_started_together_never_exceed_the_budget(tmp_path: Path, fake_ll2: FakeLL2) -> None:
    config = write_config(tmp_path, fake_ll2, per_hour=4)
    fake_ll2.throttle_delay = 0.2  # every process sits between its budget check and its first call

    processes = [await start_poll_once(config) for _ in range(4)]
    outputs = await asyncio.gather(*(p.communicate() for p in processes))

    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 0, 1, 1], [err.decode() for _, err in outputs]
    assert len(fake_ll2.counted_requests) == 4
    assert counted_calls(tmp_path / "state.db") == 4


async def kill_after(process: asyncio.subprocess.Process, seconds: float) -> None:
    """SIGKILL after ``seconds``, unless the poll has ended on its own by then (a late kill point)."""
    await asyncio.sleep(seconds)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    await process.communicate()


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.1, 0.3, 1.2])
async def test_a_poll_killed_at_any_moment_never_leaves_a_sent_request_uncounted(
    tmp_path: Path, fake_ll2: FakeLL2, delay: float
) -> None:
    """Killed ``delay`` after LL2 first hears from it (the quota read, which follows the reservation):
    while the quota is read, between it and the first counted request, during that request (LL2
    answers in a second) or after it. Counted >= received, and the database intact, every time."""
    config = write_config(tmp_path, fake_ll2, per_hour=1000)
    fake_ll2.fail_next.extend(["slow"])
    fake_ll2.slow_seconds = 1.0
    fake_ll2.throttle_delay = 0.02
    process = await start_poll_once(config)

    await eventually(lambda: len(fake_ll2.requests) >= 1, within=30)
    await kill_after(process, delay)

    assert counted_calls(tmp_path / "state.db") >= len(fake_ll2.counted_requests)


async def test_a_poll_killed_while_ll2_holds_its_request_has_counted_it(
    tmp_path: Path, fake_ll2: FakeLL2
) -> None:
    config = write_config(tmp_path, fake_ll2, per_hour=1000)
    fake_ll2.fail_next.extend(["slow"])
    fake_ll2.slow_seconds = 30
    process = await start_poll_once(config)

    await eventually(lambda: len(fake_ll2.counted_requests) == 1)
    await kill_after(process, 0.0)

    assert counted_calls(tmp_path / "state.db") >= 1


async def test_a_poll_killed_while_its_resent_request_is_held_has_counted_both_attempts(
    tmp_path: Path, fake_ll2: FakeLL2
) -> None:
    config = write_config(tmp_path, fake_ll2, per_hour=1000)
    fake_ll2.fail_next.extend(["reset", "slow"])  # the first attempt dropped, the re-send held
    fake_ll2.slow_seconds = 30
    process = await start_poll_once(config)

    await eventually(lambda: len(fake_ll2.counted_requests) == 2)
    await kill_after(process, 0.0)

    assert counted_calls(tmp_path / "state.db") >= 2
