"""Shared fixtures: the fake servers on 127.0.0.1, a temp-file store and a settable clock."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.runtime import Runtime, open_runtime
from dockwatch.notifiers import Notifier
from dockwatch.storage import Store
from dockwatch.storage.engine import async_url
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.ll2 import FakeLL2
from tests.fakes.matrix import FakeMatrix
from tests.fakes.ntfy import FakeNtfy
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import start_run  # noqa: F401  (a fixture shared by the end-to-end tests)

DATA = Path(__file__).parent / "data"
N = TypeVar("N", bound=Notifier)
SECRET = "whsec_" + base64.b64encode(b"dockwatch-test-secret-32-bytes!!").decode()


OpenApp = Callable[[], AbstractAsyncContextManager[Runtime]]


@asynccontextmanager
async def started(notifier: N) -> AsyncIterator[N]:
    """A notifier started and closed around a test, the way the runtime does it."""
    await notifier.start()
    try:
        yield notifier
    finally:
        await notifier.close()


def load_data(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def crashed_writer_copy(database: Path, directory: Path) -> Path:
    """A copy of ``database`` in ``directory`` as a writer outside WAL mode leaves it when it dies
    mid-transaction: the file with half the transaction spilled into it, and a *hot* journal."""
    directory.mkdir()
    with closing(sqlite3.connect(database, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA cache_size=1")  # spill the transaction into the file before commit
        connection.execute("BEGIN")
        connection.execute("CREATE TABLE spill (payload TEXT)")
        connection.executemany("INSERT INTO spill VALUES (?)", [("x" * 500,)] * 2_000)
        for name in (database.name, f"{database.name}-journal"):
            (directory / name).write_bytes((database.parent / name).read_bytes())
        connection.execute("ROLLBACK")
    return directory / database.name


def database_from_sql(path: Path, name: str, replacements: Mapping[str, str] | None = None) -> Path:
    """A SQLite database at ``path`` from a dump under ``tests/data``, in WAL mode as dockwatch leaves
    its databases; ``replacements`` rewrite strings in the dump first (e.g. target keys, which are
    derived from URLs, to point at this test's receivers)."""
    sql = (DATA / name).read_text(encoding="utf-8")
    for old, new in (replacements or {}).items():
        sql = sql.replace(old, new)
    with closing(sqlite3.connect(path)) as database:
        database.executescript(sql)
        database.execute("PRAGMA journal_mode=WAL")
    return path


@dataclass
class Clock:
    """A clock tests move by hand; pass ``clock`` wherever code takes one."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[TestServer]:
    """Serve ``app`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def fake_ll2() -> AsyncIterator[FakeLL2]:
    fake = FakeLL2()
    async with serving(fake.app()) as server:
        fake.base_url = str(server.make_url("/2.3.0"))
        yield fake


ReceiverFactory = Callable[[], Awaitable[WebhookReceiver]]


@pytest.fixture
async def start_receiver() -> AsyncIterator[ReceiverFactory]:
    """Starts as many webhook receivers as a test needs, all sharing ``SECRET``."""
    servers: list[TestServer] = []

    async def start() -> WebhookReceiver:
        receiver = WebhookReceiver(secret=SECRET)
        server = TestServer(receiver.app(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        receiver.url = str(server.make_url("/hook"))
        return receiver

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


@pytest.fixture
async def webhook_receiver(start_receiver: ReceiverFactory) -> WebhookReceiver:
    return await start_receiver()


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    async with serving(fake.app()) as server:
        fake.base_url = str(server.make_url("/bot"))
        yield fake


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    async with serving(fake.app()) as server:
        fake.base_url = str(server.make_url("/api/v10"))
        yield fake


@pytest.fixture
async def fake_ntfy() -> AsyncIterator[FakeNtfy]:
    fake = FakeNtfy()
    async with serving(fake.app()) as server:
        fake.base_url = str(server.make_url("/")).rstrip("/")
        yield fake


@pytest.fixture
async def fake_discord_gateway() -> AsyncIterator[FakeGateway]:
    """The fake Discord REST server with a gateway beside it, for slash commands end to end."""
    rest = FakeDiscord()
    gateway = FakeGateway(rest)
    app = rest.app()
    gateway.install(app)
    async with serving(app) as server:
        rest.base_url = str(server.make_url("/api/v10"))
        yield gateway


@pytest.fixture
async def fake_matrix() -> AsyncIterator[FakeMatrix]:
    fake = FakeMatrix()
    async with serving(fake.app()) as server:
        fake.homeserver = str(server.make_url("")).rstrip("/")
        yield fake


@pytest.fixture
def webhook_secret() -> str:
    return SECRET


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dockwatch.db'}"


POSTGRES = os.environ.get("TEST_POSTGRES_URL")
"""A PostgreSQL server the tests may create databases on, e.g. ``postgresql://postgres@127.0.0.1/postgres``."""


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; skips without a server."""
    if not POSTGRES:
        if os.environ.get("DOCKWATCH_REQUIRE_POSTGRES"):  # scripts/test started a server for these
            pytest.fail("DOCKWATCH_REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not")
        pytest.skip("TEST_POSTGRES_URL is not set")
    server = create_async_engine(async_url(POSTGRES), isolation_level="AUTOCOMMIT")
    name = f"dockwatch_test_{uuid.uuid4().hex[:12]}"
    try:
        async with server.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        async with server.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await server.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """A fresh database on each backend: a temp SQLite file, then PostgreSQL (when available)."""
    if request.param == "sqlite":
        return db_url
    url: str = request.getfixturevalue("postgres_url")
    return url


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def foreign_sqlite(tmp_path: Path) -> Iterator[Path]:
    """Someone else's SQLite database, in the default (rollback journal) mode."""
    path = tmp_path / "inventory.db"
    with closing(sqlite3.connect(path)) as database:
        database.execute("CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)")
        database.execute("INSERT INTO foo (name) VALUES ('bar')")
        database.commit()
    yield path


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with Store.open(db_url) as opened:
        yield opened


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def seed_dockings() -> list[dict[str, Any]]:
    """The eleven real 2.3.0 docking records from the seed pages, newest docking first."""
    records = load_data("ll2_2.3.0_docking_events_page_a.json")["results"]
    records += load_data("ll2_2.3.0_docking_events_page_b.json")["results"]
    return sorted(records, key=lambda r: r["docking"], reverse=True)


@pytest.fixture
def seed_event() -> dict[str, Any]:
    event: dict[str, Any] = load_data("ll2_2.3.0_event_1096.json")
    return event


@pytest.fixture(autouse=True)
def _no_leaked_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see a developer's DOCKWATCH_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("DOCKWATCH_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def config(fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver, db_url: str) -> Config:
    """LL2 and one webhook target pointing at the fakes, a generous budget, a temp database."""
    return config_from_mapping(
        {
            "api": {"base_url": fake_ll2.base_url, "requests_per_hour": 1000},
            "storage": {"url": db_url},
            "webhooks": [{"url": webhook_receiver.url, "secret": SECRET}],
        },
        source="test",
        environ={},
    )


def free_tier(config: Config) -> Config:
    """``config`` with the free tier's budget (14 calls an hour), whose steady pace (the dockings
    every 6 minutes) plans can be told from."""
    return config.model_copy(update={"api": config.api.model_copy(update={"requests_per_hour": 14})})


@pytest.fixture
def open_app(config: Config, clock: Clock) -> OpenApp:
    """Opens the real runtime (store, HTTP session, LL2 client, notifiers) on the test clock."""
    return lambda: open_runtime(config, clock=clock)


@pytest.fixture
async def app(open_app: OpenApp) -> AsyncIterator[Runtime]:
    async with open_app() as runtime:
        yield runtime
