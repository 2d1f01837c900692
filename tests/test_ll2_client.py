"""The LL2 client against a fake LL2 on 127.0.0.1: requests made, budget kept, failures typed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from dockwatch.bot.errors import BudgetExhausted, UpstreamError
from dockwatch.bot.ll2 import CallBudget, LL2Client, open_session
from dockwatch.storage import Store
from tests.builders import ll2_docking, ll2_event
from tests.conftest import Clock
from tests.fakes.ll2 import FakeLL2


def make_client(
    fake: FakeLL2,
    http: aiohttp.ClientSession,
    store: Store,
    clock: Clock,
    *,
    per_hour: int = 14,
    api_key: str = "",
    base_url: str | None = None,
    timeout: float = 30,
) -> LL2Client:
    return LL2Client(
        http,
        base_url=base_url or fake.base_url,
        api_key=api_key,
        budget=CallBudget(store, per_hour),
        clock=clock,
        timeout=timeout,
    )


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    """The budget lives in the store: every spec here runs on SQLite and on PostgreSQL."""
    async with Store.open(any_db_url) as opened:
        yield opened


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """LL2's own session, which counts how many times each request was really sent."""
    async with open_session() as session:
        yield session


@pytest.fixture
def client(fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock) -> LL2Client:
    return make_client(fake_ll2, http, store, clock)


async def test_a_cycle_makes_two_counted_requests_with_ordering(client: LL2Client, fake_ll2: FakeLL2) -> None:
    await client.fetch_snapshot()

    counted = [(r.path, r.query) for r in fake_ll2.counted_requests]
    assert counted == [
        ("/2.3.0/docking_events/", {"ordering": "-docking", "limit": "100"}),
        ("/2.3.0/events/upcoming/", {"ordering": "date", "limit": "100", "mode": "normal"}),
    ]


async def test_the_quota_endpoint_is_read_once_at_start(client: LL2Client, fake_ll2: FakeLL2) -> None:
    await client.fetch_snapshot()
    await client.fetch_snapshot()

    throttle_reads = [r for r in fake_ll2.requests if r.path.endswith("/api-throttle/")]
    assert len(throttle_reads) == 1


async def test_snapshot_holds_parsed_dockings_and_events(
    client: LL2Client, fake_ll2: FakeLL2, seed_dockings: list[dict[str, Any]], clock: Clock
) -> None:
    fake_ll2.dockings = seed_dockings
    fake_ll2.events = [ll2_event(7, date=clock.now, live=True)]

    snapshot = await client.fetch_snapshot()

    assert [r.id for r in snapshot.dockings] == [r["id"] for r in seed_dockings]
    assert [(e.id, e.is_live) for e in snapshot.events] == [(7, True)]


async def test_api_key_is_sent_as_a_token_header(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    client = make_client(fake_ll2, http, store, clock, api_key="sekrit")

    await client.fetch_snapshot()

    assert {r.headers.get("Authorization") for r in fake_ll2.requests} == {"Token sekrit"}


async def test_no_authorization_header_without_a_key(client: LL2Client, fake_ll2: FakeLL2) -> None:
    await client.fetch_snapshot()

    assert all("Authorization" not in r.headers for r in fake_ll2.requests)


async def test_a_pinned_2_2_0_base_url_uses_the_2_2_0_paths(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    legacy = make_client(fake_ll2, http, store, clock, base_url=fake_ll2.base_url.replace("2.3.0", "2.2.0"))

    await legacy.fetch_snapshot()

    assert [r.path for r in fake_ll2.counted_requests] == ["/2.2.0/docking_event/", "/2.2.0/event/upcoming/"]


@pytest.mark.parametrize(
    ("mode", "message_part"),
    [
        ("http_500", "HTTP 500"),
        ("html", "HTTP 502"),
        ("not_json", "not JSON"),
        ("truncated", "truncated JSON"),
        ("invalid", "results[0]"),
        ("empty", "empty page"),
    ],
    ids=[
        "server error",
        "bad gateway page",
        "html instead of json",
        "truncated json",
        "invalid record",
        "empty page",
    ],
)
async def test_odd_upstream_answers_are_one_typed_error(
    client: LL2Client, fake_ll2: FakeLL2, mode: str, message_part: str
) -> None:
    fake_ll2.fail_next.append(mode)

    with pytest.raises(UpstreamError) as caught:
        await client.fetch_snapshot()

    assert message_part in str(caught.value)
    assert "/docking_events/" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_slow_answer_is_a_timeout_error(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    fake_ll2.fail_next.append("slow")
    fake_ll2.slow_seconds = 2
    client = make_client(fake_ll2, http, store, clock, timeout=0.2)

    with pytest.raises(UpstreamError, match=r"no answer within 0\.2 s"):
        await client.fetch_snapshot()


async def test_a_429_honours_retry_after_and_rereads_the_quota(
    client: LL2Client, fake_ll2: FakeLL2, store: Store, clock: Clock
) -> None:
    fake_ll2.fail_next.append("http_429")
    fake_ll2.retry_after = "600"

    with pytest.raises(UpstreamError, match="429"):
        await client.fetch_snapshot()
    clock.advance(timedelta(minutes=5))
    with pytest.raises(BudgetExhausted) as refused:
        await client.fetch_snapshot()

    assert refused.value.next_allowed_at == clock.now + timedelta(minutes=5)
    clock.advance(timedelta(minutes=5, seconds=1))
    await client.fetch_snapshot()
    throttle_reads = [r for r in fake_ll2.requests if r.path.endswith("/api-throttle/")]
    assert len(throttle_reads) == 2


async def test_the_rolling_budget_refuses_a_cycle_that_would_exceed_it(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    client = make_client(fake_ll2, http, store, clock, per_hour=5)
    await client.fetch_snapshot()
    clock.advance(timedelta(minutes=10))
    await client.fetch_snapshot()
    clock.advance(timedelta(minutes=10))

    with pytest.raises(BudgetExhausted) as refused:
        await client.fetch_snapshot()

    assert len(fake_ll2.counted_requests) == 4
    assert refused.value.next_allowed_at == clock.now - timedelta(minutes=20) + timedelta(hours=1)
    assert "next call allowed at" in str(refused.value)


async def test_the_budget_frees_up_as_the_hour_rolls_on(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    client = make_client(fake_ll2, http, store, clock, per_hour=2)
    await client.fetch_snapshot()
    clock.advance(timedelta(hours=1, seconds=1))

    await client.fetch_snapshot()

    assert len(fake_ll2.counted_requests) == 4


async def test_the_budget_is_shared_through_the_store(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    first = make_client(fake_ll2, http, store, clock, per_hour=3)
    second = make_client(fake_ll2, http, store, clock, per_hour=3)
    await first.fetch_snapshot()

    with pytest.raises(BudgetExhausted):
        await second.fetch_snapshot()


async def test_failed_calls_still_count_against_the_budget(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    client = make_client(fake_ll2, http, store, clock, per_hour=2)
    fake_ll2.fail_next.append("http_500")
    with pytest.raises(UpstreamError):
        await client.fetch_snapshot()

    with pytest.raises(BudgetExhausted):
        await client.fetch_snapshot()


async def test_an_exhausted_quota_reported_by_api_throttle_refuses_the_cycle(
    client: LL2Client, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.throttle.update(current_use=15, next_use_secs=900)

    with pytest.raises(BudgetExhausted) as refused:
        await client.fetch_snapshot()

    assert refused.value.next_allowed_at == clock.now + timedelta(seconds=900)
    assert fake_ll2.counted_requests == []


async def test_an_unreadable_quota_endpoint_does_not_stop_polling(
    client: LL2Client, fake_ll2: FakeLL2
) -> None:
    fake_ll2.throttle_status = 404

    snapshot = await client.fetch_snapshot()

    assert [r.id for r in snapshot.dockings] == [r["id"] for r in fake_ll2.dockings]


async def test_next_is_followed_only_while_every_record_on_the_page_is_still_docked(
    client: LL2Client, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [ll2_docking(2, docking=clock.now - timedelta(days=3))]
    fake_ll2.extra_docking_pages = [[ll2_docking(1, docking=clock.now - timedelta(days=9))]]

    snapshot = await client.fetch_snapshot()

    assert [r.id for r in snapshot.dockings] == [2, 1]
    assert len(fake_ll2.counted_requests) == 3


async def test_next_is_not_followed_once_the_page_reaches_a_departed_record(
    client: LL2Client, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [
        ll2_docking(2, docking=clock.now - timedelta(days=3)),
        ll2_docking(1, docking=clock.now - timedelta(days=9), departure=clock.now - timedelta(days=4)),
    ]
    fake_ll2.extra_docking_pages = [[ll2_docking(0, docking=clock.now - timedelta(days=99))]]

    snapshot = await client.fetch_snapshot()

    assert [r.id for r in snapshot.dockings] == [2, 1]
    assert len(fake_ll2.counted_requests) == 2


async def test_a_record_repeated_across_pages_is_kept_once(
    client: LL2Client, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [ll2_docking(2, docking=clock.now - timedelta(days=3))]
    fake_ll2.extra_docking_pages = [[ll2_docking(2, docking=clock.now - timedelta(days=3))]]

    snapshot = await client.fetch_snapshot()

    assert [r.id for r in snapshot.dockings] == [2]


async def test_a_redirect_from_ll2_is_not_followed_but_an_error_naming_the_status_and_location(
    client: LL2Client, fake_ll2: FakeLL2
) -> None:
    fake_ll2.fail_next.append("redirect")

    with pytest.raises(UpstreamError) as caught:
        await client.fetch_snapshot()

    assert str(caught.value) == (
        "LL2 /docking_events/: HTTP 301 redirect to "
        "http://mirror.example.net/2.3.0/docking_events/ (not followed)"
    )


@pytest.mark.parametrize(
    ("retry_after", "hold"),
    [
        ("inf", timedelta(hours=1)),
        ("1e12", timedelta(hours=1)),
        ("9" * 20, timedelta(hours=1)),
        ("1000000000", timedelta(hours=1)),
        ("Sun, 01 Jan 2026 12:10:00 GMT", timedelta(minutes=10)),
    ],
    ids=["inf", "1e12", "20 digits", "1e9 seconds", "HTTP-date"],
)
async def test_a_429_hold_is_parsed_per_rfc_9110_and_never_longer_than_an_hour(
    client: LL2Client, fake_ll2: FakeLL2, store: Store, clock: Clock, retry_after: str, hold: timedelta
) -> None:
    fake_ll2.fail_next.append("http_429")
    fake_ll2.retry_after = retry_after

    with pytest.raises(UpstreamError, match="429"):
        await client.fetch_snapshot()

    stored = await store.api_hold()
    assert stored is not None and stored.until == clock.now + hold


async def test_an_absurd_throttle_wait_is_capped_at_an_hour(
    client: LL2Client, fake_ll2: FakeLL2, store: Store, clock: Clock
) -> None:
    fake_ll2.throttle.update({"current_use": 15, "next_use_secs": 1e12})  # read before the first call

    with pytest.raises(BudgetExhausted) as refused:
        await client.fetch_snapshot()

    assert refused.value.next_allowed_at == clock.now + timedelta(hours=1)


def test_the_client_refuses_a_session_that_cannot_count_what_it_sends(store: Store, clock: Clock) -> None:
    async def build() -> None:
        async with aiohttp.ClientSession() as plain:
            LL2Client(
                plain, base_url="http://127.0.0.1:9", api_key="", budget=CallBudget(store, 5), clock=clock
            )

    with pytest.raises(ValueError, match="open_session"):
        asyncio.run(build())


async def test_a_request_resent_on_a_dropped_connection_counts_every_time_it_was_sent(
    client: LL2Client, fake_ll2: FakeLL2, store: Store, clock: Clock
) -> None:
    fake_ll2.fail_next.append("reset")  # aiohttp re-sends the GET once, silently

    await client.fetch_snapshot()

    assert len(fake_ll2.counted_requests) == 3
    assert len(await store.api_calls_since(clock.now - timedelta(hours=1))) == 3


async def test_a_request_that_never_left_the_machine_is_not_counted(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    offline = make_client(
        fake_ll2, http, store, clock, per_hour=2, base_url=f"http://127.0.0.1:{closed_port()}/2.3.0"
    )
    for _ in range(5):
        with pytest.raises(UpstreamError, match="ClientConnectorError"):
            await offline.fetch_snapshot()

    assert await store.api_calls_since(clock.now - timedelta(hours=1)) == []
    await make_client(fake_ll2, http, store, clock, per_hour=2).fetch_snapshot()  # the network is back
    assert len(fake_ll2.counted_requests) == 2


async def test_a_refused_cycle_counts_nothing(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    fake_ll2.throttle.update(current_use=15, next_use_secs=600)
    with pytest.raises(BudgetExhausted):
        await make_client(fake_ll2, http, store, clock, per_hour=4).fetch_snapshot()

    assert await store.api_calls_since(clock.now - timedelta(hours=1)) == []


async def test_cycles_started_together_never_exceed_the_budget(
    fake_ll2: FakeLL2, http: aiohttp.ClientSession, any_db_url: str, clock: Clock
) -> None:
    """Four processes' worth of stores on one database, budget 4: exactly two cycles get their calls.

    The slow ``/api-throttle/`` answer holds every cycle between its budget check and its first
    counted request, where a check and a count in separate transactions would all pass.
    """
    fake_ll2.throttle_delay = 0.2
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(Store.open(any_db_url)) for _ in range(4)]
        clients = [make_client(fake_ll2, http, s, clock, per_hour=4) for s in stores]
        results = await asyncio.gather(*(c.fetch_snapshot() for c in clients), return_exceptions=True)
        recorded = await stores[0].api_calls_since(clock.now - timedelta(hours=1))

    refused = [r for r in results if isinstance(r, BudgetExhausted)]
    assert (len(refused), len(fake_ll2.counted_requests), len(recorded)) == (2, 4, 4), results


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting is refused


@pytest.mark.parametrize(
    ("claim", "hold"),
    [
        ({"next_use_secs": float("inf"), "current_use": 15}, timedelta(hours=1)),
        ({"next_use_secs": float("-inf"), "current_use": 15}, timedelta(seconds=1)),
        ({"current_use": float("inf")}, None),
        ({"your_request_limit": float("inf")}, None),
    ],
    ids=["infinite wait: an hour", "negative infinite wait: a second", "infinite use", "infinite limit"],
)
async def test_infinite_numbers_from_api_throttle_never_crash_the_poll(
    client: LL2Client, fake_ll2: FakeLL2, clock: Clock, claim: dict[str, float], hold: timedelta | None
) -> None:
    """LL2 answering ``Infinity`` (or ``-1e999``): a wait is clamped to LL2's hour; a count that is no
    number makes the quota unreadable, and the local budget alone decides. Never an OverflowError."""
    fake_ll2.throttle.update(claim)

    if hold is None:
        await client.fetch_snapshot()
        assert len(fake_ll2.counted_requests) == 2
    else:
        with pytest.raises(BudgetExhausted) as refused:
            await client.fetch_snapshot()
        assert refused.value.next_allowed_at == clock.now + hold


async def test_a_hold_stored_for_decades_by_an_earlier_release_lasts_at_most_an_hour_more(
    client: LL2Client, fake_ll2: FakeLL2, store: Store, clock: Clock
) -> None:
    """0.1.0 stored ``Retry-After: 1e9`` as a hold until 2057; this release never sets one past an
    hour, and cuts one it finds to an hour from the first poll that meets it."""
    await store.set_api_hold(clock.now + timedelta(days=11_574), "429 on /docking_events/")

    with pytest.raises(BudgetExhausted) as refused:
        await client.fetch_snapshot()
    assert refused.value.next_allowed_at == clock.now + timedelta(hours=1)

    clock.advance(timedelta(hours=1, seconds=1))
    await client.fetch_snapshot()
    assert len(fake_ll2.counted_requests) == 2
