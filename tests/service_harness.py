"""Running ``dockwatch run`` as a subprocess for end-to-end tests, and waiting on it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def start_poll_once(config: Path) -> asyncio.subprocess.Process:
    """``dockwatch -q poll-once`` as cron runs it, with no DOCKWATCH_* variables of the caller's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKWATCH_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dockwatch",
        "-q",
        "poll-once",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        cwd=ROOT,
    )


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, within: float = 20) -> None:
    """Wait for a subprocess to reach a state; the subprocess has its own clock, so we poll."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {within} s")


@dataclass
class Running:
    process: asyncio.subprocess.Process
    base: str
    config: Path

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.base + path) as response:
            return response.status, await response.text()

    async def health(self) -> dict[str, Any]:
        """The /healthz body, whatever its status."""
        body: dict[str, Any] = json.loads((await self.get("/healthz"))[1])
        return body

    async def kill(self) -> str:
        """``kill -9``: no stop, no cleanup; returns what it logged."""
        self.process.kill()
        _, err = await self.process.communicate()
        return err.decode()

    async def stop(self, signum: int = signal.SIGTERM, within: float = 15) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, err = await asyncio.wait_for(self.process.communicate(), timeout=within)
        assert self.process.returncode is not None
        return self.process.returncode, err.decode()


def write_config(
    path: Path, fake_ll2: FakeLL2, receivers: list[WebhookReceiver], port: int, secret: str, **extra: str
) -> None:
    """A config for the fakes; ``extra`` overrides ``storage`` (a database URL), ``poll`` (the table's
    body), ``per_hour``, ``stop_timeout``, ``failover`` and adds ``tables``."""
    hooks = "".join(f'[[webhooks]]\nurl = "{r.url}"\nsecret = "{secret}"\n' for r in receivers)
    poll = extra.get("poll", 'interval = "2s"\nmin_interval = "1s"')
    path.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\nrequests_per_hour = {extra.get("per_hour", "10000")}\n'
        f'[storage]\nurl = "{extra.get("storage", "sqlite:///state.db")}"\n[poll]\n{poll}\n'
        f'[run]\nstop_timeout = "{extra.get("stop_timeout", "10s")}"\n'
        f'failover = "{extra.get("failover", "2m")}"\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\n{hooks}{extra.get("tables", "")}'
    )


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples named ``name`` in Prometheus text, with their labels."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


StartRun = Callable[..., Awaitable["Running"]]


@pytest.fixture
async def start_run(tmp_path: Path, webhook_secret: str) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[asyncio.subprocess.Process] = []

    async def start(fake_ll2: FakeLL2, receivers: list[WebhookReceiver], **extra: str) -> Running:
        """Start ``dockwatch run``; each start has a config (and a web port) of its own, all sharing
        ``state.db`` beside them unless ``storage`` names another database."""
        port = free_port()
        config = tmp_path / ("dockwatch.toml" if not started else f"dockwatch-{len(started)}.toml")
        write_config(config, fake_ll2, receivers, port, webhook_secret, **extra)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKWATCH_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dockwatch",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            cwd=ROOT,
        )
        started.append(process)
        running = Running(process, f"http://127.0.0.1:{port}", config)

        async def answering() -> bool:
            try:
                await running.get("/healthz")
            except aiohttp.ClientError:
                return False
            return True

        try:
            await eventually(answering)
        except AssertionError:
            process.kill()
            _, err = await process.communicate()
            raise AssertionError(f"dockwatch run did not come up: {err.decode()[-2000:]}") from None
        return running

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()
