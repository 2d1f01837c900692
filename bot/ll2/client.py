"""The LL2 client: one counted request per endpoint a cycle reads, every failure one ``UpstreamError``.

Every request a cycle makes is counted in the budget before the cycle starts; each attempt aiohttp
makes to send it is seen by a client middleware (aiohttp re-sends an idempotent request once when
a kept-alive connection drops under it), and an aiohttp trace tells whether its headers really went
out: see ``bot/ll2/budget.py``.

``/docking_events/?ordering=-docking&limit=100``: there is no ``last_updated`` filter there, and the
newest hundred dockings cover everything docked now. ``/events/upcoming/?ordering=date&limit=100&
mode=normal``: events stay in "upcoming" for a day after their date, and normal mode carries
``webcast_live`` and ``vid_urls``, which the lighter list mode is not documented to. ``next`` is
followed only when a whole docking page is still docked, i.e. the page did not reach back far enough.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from dockwatch import __version__
from dockwatch.bot.errors import BudgetExhausted, UpstreamError
from dockwatch.bot.ll2.budget import CallBudget, Reservation
from dockwatch.bot.ll2.wire import parse_dockings, parse_events, parse_page
from dockwatch.bot.model import ALL_ENDPOINTS, DockingRecord, Endpoint, Event, Snapshot
from dockwatch.bot.retry_after import parse_retry_after

log = logging.getLogger(__name__)
_Record = TypeVar("_Record", DockingRecord, Event)

TIMEOUT_SECONDS = 30
PAGE_SIZE = 100
MAX_DOCKING_PAGES = 2
LONGEST_HOLD = timedelta(hours=1)
"""LL2 counts calls per rolling hour: no hold it asks for needs to last longer."""


@dataclass
class _Attempts:
    """One counted request: the call counted for its first attempt, until that attempt takes it, and
    how many times its headers went out."""

    path: str
    counted: int | None
    sent: int = 0


async def _count_sent(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: object) -> None:
    attempts = context.trace_request_ctx
    if isinstance(attempts, _Attempts):
        attempts.sent += 1


def _sent_counter() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_count_sent)
    return trace


SENT_COUNTER = _sent_counter()


def open_session() -> aiohttp.ClientSession:
    """The HTTP session an ``LL2Client`` needs: one that sees whether each attempt really went out."""
    return aiohttp.ClientSession(trace_configs=[SENT_COUNTER])


@dataclass(frozen=True, slots=True)
class Throttle:
    """What ``/api-throttle/`` says about our quota (it does not count against it)."""

    limit: int
    current_use: int
    next_use_secs: int


class LL2Client:
    """Fetches one ``Snapshot`` per call to ``fetch_snapshot``; knows 2.3.0 and 2.2.0 paths."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        budget: CallBudget,
        clock: Callable[[], datetime],
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if SENT_COUNTER not in session.trace_configs:
            raise ValueError("LL2Client needs a session from open_session(): the budget counts requests sent")
        self._session = session
        self._timeout = timeout
        self._base = base_url.rstrip("/")
        self._legacy = self._base.endswith("/2.2.0")
        self._headers = {"accept": "application/json", "user-agent": f"dockwatch/{__version__}"}
        if api_key:
            self._headers["authorization"] = f"Token {api_key}"
        self._budget = budget
        self._clock = clock
        self._throttle_due = True

    async def fetch_snapshot(self, endpoints: frozenset[Endpoint] = ALL_ENDPOINTS) -> Snapshot:
        """Read ``endpoints`` (one call each, more docking pages when needed); the others stay empty."""
        dockings_path = "/docking_event/" if self._legacy else "/docking_events/"
        events_path = "/event/upcoming/" if self._legacy else "/events/upcoming/"
        paths = {Endpoint.DOCKINGS: dockings_path, Endpoint.EVENTS: events_path}
        wanted = [paths[endpoint] for endpoint in Endpoint if endpoint in endpoints]
        if not wanted:
            raise ValueError("fetch_snapshot needs at least one endpoint")
        dockings: list[DockingRecord] = []
        payload: Any = None
        async with self._budget.reserve(self._clock(), wanted) as calls:
            if self._throttle_due:
                await self._respect_throttle(needed=len(wanted))
            if Endpoint.DOCKINGS in endpoints:
                dockings = await self._fetch_dockings(dockings_path, calls)
            if Endpoint.EVENTS in endpoints:
                events_query = {"ordering": "date", "limit": str(PAGE_SIZE)}
                if not self._legacy:
                    events_query["mode"] = "normal"  # list mode may leave out webcast_live and vid_urls
                payload = await self._get(events_path, events_query, call=calls.take())
        events: list[Event] = []
        if Endpoint.EVENTS in endpoints:
            events_page = parse_page(payload, f"LL2 {events_path}")
            events = _first_of_each_id(parse_events(events_page.results, f"LL2 {events_path}"))
        return Snapshot(dockings=tuple(dockings), events=tuple(events), fetched=frozenset(endpoints))

    async def read_throttle(self) -> Throttle:
        payload = await self._get("/api-throttle/", {})
        try:
            assert isinstance(payload, dict)
            return Throttle(
                limit=int(payload["your_request_limit"]),
                current_use=int(payload["current_use"]),
                # Clamped to [0, an hour]: LL2's window, whatever it claims (1e12, Infinity, -1e999).
                next_use_secs=int(
                    max(0.0, min(float(payload.get("next_use_secs") or 0), LONGEST_HOLD.total_seconds()))
                ),
            )
        except (AssertionError, KeyError, TypeError, ValueError, OverflowError):
            raise UpstreamError("LL2 /api-throttle/: unexpected payload") from None

    async def _respect_throttle(self, needed: int) -> None:
        """Reconcile with LL2's own count (other clients may share our IP); advisory if unreadable."""
        self._throttle_due = False
        try:
            throttle = await self.read_throttle()
        except UpstreamError as error:
            log.warning("could not read LL2 quota, relying on the local budget: %s", error)
            return
        if throttle.limit - throttle.current_use >= needed:
            return
        now = self._clock()
        # LL2's window is an hour: a longer wait is a claim not to trust (1e12 would overflow).
        until = now + timedelta(
            seconds=min(max(throttle.next_use_secs, 1), int(LONGEST_HOLD.total_seconds()))
        )
        await self._budget.hold(until, f"/api-throttle/: {throttle.current_use}/{throttle.limit} used")
        raise BudgetExhausted(
            f"LL2 quota used up ({throttle.current_use}/{throttle.limit} by /api-throttle/); "
            f"next call allowed at {until:%Y-%m-%d %H:%M:%S} UTC",
            until,
        )

    async def _fetch_dockings(self, path: str, calls: Reservation) -> list[DockingRecord]:
        where = f"LL2 {path}"
        query = {"ordering": "-docking", "limit": str(PAGE_SIZE)}
        page = parse_page(await self._get(path, query, call=calls.take()), where)
        records = parse_dockings(page.results, where, legacy=self._legacy)
        if not records:
            # LL2 has hundreds of docking events; an empty page is an outage, not news. Recording it
            # would also let the first poll on a new database baseline nothing.
            raise UpstreamError(f"{where}: empty page (count {page.count})")
        pages = 1
        while page.next and pages < MAX_DOCKING_PAGES and _all_docked(records, self._clock()):
            if not self._same_origin(page.next):
                raise UpstreamError(f"{where}: 'next' points to another host: {page.next}")
            async with self._budget.reserve(self._clock(), [path]) as more:
                page = parse_page(await self._get(page.next, {}, call=more.take()), where)
            records += parse_dockings(page.results, where, legacy=self._legacy)
            pages += 1
        return _first_of_each_id(records)

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urlsplit(self._base), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    async def _get(self, path_or_url: str, query: dict[str, str], *, call: int | None = None) -> Any:
        """GET and decode JSON. ``call`` is counted in the budget for the first attempt; every other
        attempt is counted as it goes out, and one that never left the machine is freed again
        (``/api-throttle/`` does not count and has none)."""
        url = path_or_url if "://" in path_or_url else self._base + path_or_url
        shown = urlsplit(url).path.removeprefix(urlsplit(self._base).path) or path_or_url
        attempts = _Attempts(shown, call)
        try:
            return await self._request(url, shown, query, attempts if call is not None else None)
        finally:
            if attempts.counted is not None:  # no attempt was made at all
                await self._budget.release(attempts.counted)

    async def _count_attempt(
        self, attempts: _Attempts, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        counted = attempts.counted
        if counted is None:
            counted = await self._budget.record(self._clock(), attempts.path)
        attempts.counted = None
        sent_before = attempts.sent
        try:
            return await handler(request)
        finally:
            if attempts.sent == sent_before:
                await self._budget.release(counted)
            else:
                self._budget.on_spend(attempts.path)

    async def _request(self, url: str, shown: str, query: dict[str, str], attempts: _Attempts | None) -> Any:
        middlewares = (partial(self._count_attempt, attempts),) if attempts is not None else ()
        try:
            async with self._session.get(
                url,
                params=query,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,  # another host's data must never pass for LL2's
                trace_request_ctx=attempts,
                middlewares=middlewares,
            ) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("retry-after")
                location = response.headers.get("location")
        except TimeoutError:
            raise UpstreamError(f"LL2 {shown}: no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as error:
            raise UpstreamError(f"LL2 {shown}: {type(error).__name__}: {error}") from None
        if 300 <= status < 400:
            raise UpstreamError(
                f"LL2 {shown}: HTTP {status} redirect to {location or '(no Location)'} (not followed)"
            )
        if status == 429:
            await self._after_rate_limit(shown, retry_after)
        if status >= 400:
            raise UpstreamError(f"LL2 {shown}: HTTP {status}")
        return _decode_json(body, shown)

    async def _after_rate_limit(self, shown: str, retry_after: str | None) -> None:
        """Honour ``Retry-After`` (seconds or an HTTP-date; absent or unusable: one hour, LL2's
        window; never longer), then ask ``/api-throttle/`` next time."""
        now = self._clock()
        wait = parse_retry_after(retry_after, now, longest=LONGEST_HOLD)
        until = now + max(wait if wait is not None else LONGEST_HOLD, timedelta(seconds=1))
        await self._budget.hold(until, f"429 on {shown}")
        self._throttle_due = True
        raise UpstreamError(
            f"LL2 {shown}: HTTP 429 Too Many Requests; next call allowed at {until:%Y-%m-%d %H:%M:%S} UTC"
        )


def _first_of_each_id(items: list[_Record]) -> list[_Record]:
    """Offset pagination can repeat a record when LL2's data shifts between pages; keep the first."""
    seen: set[int] = set()
    unique = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            unique.append(item)
    return unique


def _all_docked(records: list[DockingRecord], now: datetime) -> bool:
    return bool(records) and all(r.departure is None or r.departure > now for r in records)


def _decode_json(body: bytes, shown: str) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise UpstreamError(f"LL2 {shown}: response is not UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        text = body.strip()
        if text[:1] in (b"{", b"[") and text[-1:] not in (b"}", b"]"):
            raise UpstreamError(f"LL2 {shown}: truncated JSON ({len(body)} bytes)") from None
        raise UpstreamError(f"LL2 {shown}: response is not JSON ({error.msg})") from None
