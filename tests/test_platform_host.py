"""How one process holds its platforms: each started on its own, retried until it runs."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import aiohttp
from aiohttp import web

from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.pipeline import run_cycle
from dockwatch.bot.platforms import PlatformHost, PlatformUnit
from dockwatch.bot.runtime import open_runtime
from dockwatch.bot.subscriptions import Subscriptions
from dockwatch.notifiers import PlatformContext
from dockwatch.notifiers.console import ConsoleNotifier
from dockwatch.notifiers.ntfy import target_key
from dockwatch.storage import Store
from tests.builders import ll2_docking
from tests.conftest import SECRET, Clock, serving
from tests.fakes.ll2 import FakeLL2
from tests.fakes.matrix import FakeMatrix
from tests.fakes.telegram import FakeTelegram
from tests.service_harness import eventually


def telegram_config(fake: FakeTelegram, token: str) -> dict[str, object]:
    return {
        "webhooks": [{"url": "http://127.0.0.1:9/hook", "secret": SECRET}],
        "telegram": {"token": token, "chat_ids": [111], "api_base_url": fake.base_url},
    }


async def test_a_platform_that_cannot_start_is_unavailable_and_the_others_are_not(
    fake_telegram: FakeTelegram, clock: Clock
) -> None:
    config = config_from_mapping(
        telegram_config(fake_telegram, "1:refusedrefusedrefusedrefusedrefused"), source="test", environ={}
    )
    async with aiohttp.ClientSession() as session:
        host = PlatformHost.build(config, PlatformContext(session, clock))
        await host.start()
        try:
            assert host.held_back() == {"telegram": "telegram.token: rejected by the Telegram Bot API"}
            assert {t.key for t in host.targets()} >= {"telegram:111"}  # still configured
        finally:
            await host.close()


async def test_a_matrix_token_the_homeserver_refused_at_the_first_start_works_at_the_next(
    fake_matrix: FakeMatrix, clock: Clock
) -> None:
    table = {
        "homeserver": fake_matrix.homeserver,
        "access_token": "syt_not_yet",
        "room_ids": ["!r:fake.test"],
    }
    config = config_from_mapping({"matrix": table}, source="test", environ={})
    async with aiohttp.ClientSession() as session:
        host = PlatformHost.build(config, PlatformContext(session, clock))
        try:
            await host.start()
            assert host.held_back() == {"matrix": "matrix.access_token: rejected by the homeserver"}
            fake_matrix.accept("syt_not_yet")

            await host.start()

            assert host.held_back() == {}
        finally:
            await host.close()


async def test_run_keeps_retrying_a_platform_until_it_starts(
    fake_telegram: FakeTelegram, clock: Clock
) -> None:
    token = fake_telegram.token
    fake_telegram.token = (
        "9:notyetnotyetnotyetnotyetnotyetnotyet"  # the Bot API refuses our token until it is fixed
    )
    config = config_from_mapping(telegram_config(fake_telegram, token), source="test", environ={})
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        context = PlatformContext(session, clock)
        host = PlatformHost.build(config, context)
        await host.start()
        assert host.unavailable_names() == ["telegram"]
        retrying = asyncio.create_task(host.keep_starting(context, stop, first_retry=timedelta(seconds=0.05)))
        try:
            fake_telegram.token = token
            await eventually(lambda: not host.unavailable_names(), within=10)
        finally:
            stop.set()
            await retrying
            await host.close()


async def test_a_chat_front_end_that_fails_to_start_marks_its_platform_down_until_a_retry_succeeds(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    fake_telegram.failing.add("deleteWebhook")  # the Bot API answers 502 while polling starts
    config = config_from_mapping(telegram_config(fake_telegram, fake_telegram.token), source="t", environ={})
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        context = PlatformContext(session, clock, Subscriptions(store))
        host = PlatformHost.build(config, context)
        await host.start()
        await host.start_front_ends(context)
        retrying = asyncio.create_task(host.keep_starting(context, stop, first_retry=timedelta(seconds=0.05)))
        try:
            (reason,) = host.held_back().values()
            assert reason.startswith("telegram bot not started: Bad Gateway (502)")
            fake_telegram.failing.clear()
            telegram = next(u for u in host.units if u.name == "telegram")
            await eventually(lambda: not host.unavailable_names() and telegram.front_end_running)
            await eventually(lambda: any(call.method == "getUpdates" for call in fake_telegram.calls))
        finally:
            stop.set()
            await retrying
            await host.close()


async def test_a_delivery_held_back_for_24_hours_is_dead_lettered_unsent(
    config: Config, fake_ll2: FakeLL2, fake_telegram: FakeTelegram, clock: Clock
) -> None:
    tables = telegram_config(fake_telegram, fake_telegram.token)
    with_telegram = config.model_copy(
        update={
            "platforms": {
                **config.platforms,
                "telegram": config_from_mapping(tables, source="t", environ={}).platforms["telegram"],
            }
        }
    )
    fake_telegram.failing.add("getMe")
    async with open_runtime(with_telegram, clock=clock) as app:
        await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))
        fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]
        await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))
    clock.advance(timedelta(hours=25))
    fake_telegram.failing.clear()

    async with open_runtime(with_telegram, clock=clock) as app:
        report = await app.dispatcher.deliver_due()
        dead = await app.store.dead_deliveries()

    assert fake_telegram.sent(111) == []
    assert report.dead == 1
    assert [(row.target_key, row.last_error, row.attempts) for row, _ in dead] == [
        ("telegram:111", "expired: not sent within 24 h of the change", 0)
    ]


async def test_a_platform_api_that_never_answers_is_unavailable_after_the_start_timeout(
    clock: Clock,
) -> None:
    silent = web.Application()
    hold = asyncio.Event()

    async def never(_request: web.Request) -> web.Response:
        await hold.wait()
        return web.Response(status=504)

    silent.router.add_route("*", "/{tail:.*}", never)
    async with serving(silent) as server, aiohttp.ClientSession() as session:
        tables = {
            "telegram": {
                "token": "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "chat_ids": [1],
                "api_base_url": str(server.make_url("/bot")),
            }
        }
        config = config_from_mapping(tables, source="t", environ={})
        built = PlatformHost.build(config, PlatformContext(session, clock))
        host = PlatformHost(built.units, start_timeout=timedelta(seconds=0.3))
        try:
            await host.start()
            assert host.held_back() == {"telegram": "telegram: no answer within 0.3 s at start"}
        finally:
            hold.set()
            await host.close()


class PlatformWithoutFrontEnd:
    """A plugin's platform object that leaves out the optional ``front_end``."""

    name = table = "jsonl"
    many = False
    settings_model = Config


async def test_a_platform_without_a_front_end_runs_without_one(clock: Clock, store: Store) -> None:
    unit = PlatformUnit(PlatformWithoutFrontEnd(), None, ConsoleNotifier(io.StringIO()))  # type: ignore[arg-type]
    host = PlatformHost([unit])
    async with aiohttp.ClientSession() as session:
        context = PlatformContext(session, clock, Subscriptions(store))
        await host.start()
        await host.start_front_ends(context)

    assert host.held_back() == {}
    assert (unit.front_end, unit.front_end_running) == (None, False)


async def test_an_ntfy_topic_whose_server_is_down_does_not_hold_its_platform_back(clock: Clock) -> None:
    # Nothing to log in to: each publish finds out for itself, and is retried like any delivery.
    config = config_from_mapping({"ntfy": [{"url": "http://127.0.0.1:9/alerts"}]}, source="t", environ={})
    async with aiohttp.ClientSession() as session:
        host = PlatformHost.build(config, PlatformContext(session, clock))
        await host.start()
        try:
            assert host.held_back() == {}
            assert [t.key for t in host.targets()] == [target_key("http://127.0.0.1:9/alerts")]
        finally:
            await host.close()
