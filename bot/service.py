"""``dockwatch run``: the poll loop, the live dispatcher and the web endpoint in one asyncio process.

Instances sharing a database take turns at polling through the ``poller`` lease (``bot/leadership.py``):
the holder runs the poll loop, every instance delivers. The poll loop re-arms itself after every
poll, as Home Assistant's update coordinator does: poll, ask the pure planner for the next poll
(when, and which LL2 endpoints), sleep until then on the injected timer. One poll runs at a time by
construction; a poll that runs past the time planned for the next is logged once when that starts
and once when it ends. Deliveries do not wait for the next poll: each target has its own worker
that wakes when a cycle commits new deliveries and when its next retry falls due, so a slow or
failing target only ever delays itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockwatch.bot.config import Config
from dockwatch.bot.dispatch import LEASE
from dockwatch.bot.errors import BudgetExhausted, DockwatchError, LeaseLost
from dockwatch.bot.leadership import POLLER_LEASE, Leadership, LeaseTiming, Role
from dockwatch.bot.ll2.budget import remaining_calls
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import ALL_ENDPOINTS, Endpoint
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.planner import (
    HORIZON,
    BudgetView,
    PlannedPoll,
    PlanState,
    Watch,
    moments_from,
    plan_next_poll,
)
from dockwatch.bot.reminders import reminder_moments
from dockwatch.bot.runtime import Runtime
from dockwatch.bot.timer import Timer, WallTimer
from dockwatch.storage import DueDelivery

log = logging.getLogger(__name__)

IDLE_RECHECK = timedelta(seconds=30)
MAX_IN_FLIGHT = 256
"""Claimed-but-unsent deliveries at most: a chat fan-out paced at 30/s then waits seconds, never
long enough for a claim's two-minute lease to run out while it waits for its turn."""


@dataclass
class Health:
    """What /healthz and the status page report about polling."""

    last_poll_at: datetime | None = None
    last_result: str = "not yet polled"
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None
    next_endpoints: frozenset[Endpoint] = ALL_ENDPOINTS
    failing_since: datetime | None = None
    consecutive_failures: int = 0


class LiveDispatcher:
    """Claims due deliveries as soon as they exist and sends each target's in a task of its own.

    A target with a send in flight is not claimed again until it finishes, so a slow or failing
    target only ever delays itself, and thousands of chat targets cost tasks only while they have
    something to send.
    """

    def __init__(self, app: Runtime) -> None:
        self._app = app
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._busy: set[str] = set()
        self._claimed: set[int] = set()  # delivery ids this process holds in 'sending'
        self._sending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._claim_loop(), name="deliveries")

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, bound: timedelta) -> None:
        """Let in-flight sends finish within ``bound``, cancel the rest, return claims to the queue."""
        self._stopping.set()
        self.wake()
        if self._loop is not None:
            await self._loop
        if self._sending:
            _done, pending = await asyncio.wait(self._sending, timeout=bound.total_seconds())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            released = await self._app.store.release_claims(
                self._claimed, self._app.clock(), owner=self._app.instance
            )
        except DockwatchError as error:
            # Their leases run out within minutes and the next process picks them up.
            log.warning("could not requeue unfinished deliveries at stop error=%s", error)
            return
        if released:
            log.warning("deliveries requeued at stop count=%d", released)

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                wait = await self._claim_and_start()
            except DockwatchError as error:
                log.warning("delivery loop error=%s", error)
                wait = IDLE_RECHECK
            except Exception:  # the loop boundary: log, back off, keep delivering
                log.exception("delivery loop crashed")
                wait = IDLE_RECHECK
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait.total_seconds())

    async def _claim_and_start(self) -> timedelta:
        """Start a send task per target with due deliveries; return how long to sleep after."""
        store, now = self._app.store, self._app.clock()
        room = MAX_IN_FLIGHT - len(self._claimed)
        if room <= 0:
            return IDLE_RECHECK  # a finishing send wakes us
        down = list(self._app.dispatcher.unavailable())
        due = await store.claim_due(
            now,
            lease_until=now + LEASE,
            owner=self._app.instance,
            exclude_targets=self._busy,
            exclude_platforms=down,
            limit=room,
        )
        by_target: dict[str, list[DueDelivery]] = defaultdict(list)
        for delivery in due:
            by_target[delivery.target_key].append(delivery)
        self._claimed.update(d.id for d in due)
        for key, deliveries in by_target.items():
            self._busy.add(key)
            task = asyncio.create_task(self._send(key, deliveries), name=f"deliver:{key}")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        next_due = await store.next_due(exclude_targets=self._busy, exclude_platforms=down)
        if next_due is None:
            return IDLE_RECHECK
        return min(IDLE_RECHECK, max(timedelta(0), next_due - self._app.clock()))

    async def _send(self, target_key: str, deliveries: list[DueDelivery]) -> None:
        finished = True
        try:
            await self._app.dispatcher.deliver_claimed(target_key, deliveries)
        except asyncio.CancelledError:
            finished = False  # stopped mid-send: stop() requeues what is still claimed
            raise
        except DockwatchError as error:
            log.warning("delivery error target=%s error=%s", target_key, error)
        except Exception:  # the per-target boundary
            log.exception("delivery task crashed target=%s", target_key)
        finally:
            if finished:
                self._claimed.difference_update(d.id for d in deliveries)
            self._busy.discard(target_key)
            self.wake()


class Service:
    """Polls on the planner's schedule while it holds the poller lease, delivers live, and keeps
    ``health`` and ``metrics`` current. ``timer`` waits on the runtime's clock (a virtual one in
    specs and benchmarks)."""

    def __init__(self, app: Runtime, config: Config, metrics: Metrics, *, timer: Timer | None = None) -> None:
        self._app = app
        self._config = config
        self.metrics = metrics
        self.health = Health()
        self.leadership = Leadership(app.store, app.instance, app.clock, LeaseTiming(config.run.failover))
        self._timer = timer or WallTimer(app.clock)
        self._loop_task: asyncio.Task[None] | None = None  # the poll loop, while this instance polls
        self._live = LiveDispatcher(app)
        self._polling = asyncio.Lock()
        self._poll_started: datetime | None = None
        self._overran: datetime | None = None  # start of the first of the slow polls in a row
        self._last_polls: dict[Endpoint, datetime] = {}
        self._failing: dict[Endpoint, datetime] = {}  # since when each failing endpoint fails
        self._wake = asyncio.Event()
        self._asked: frozenset[Endpoint] | None = None  # endpoints poll_soon asked for
        app.budget.on_spend = lambda _path: metrics.count_ll2_call()
        app.dispatcher.observer = self._observe_delivery

    @property
    def role(self) -> Role:
        return self.leadership.role

    async def run(self, stop: asyncio.Event, *, stop_bound: timedelta = timedelta(seconds=10)) -> None:
        """Run until ``stop`` is set, then stop gracefully within ``stop_bound``."""
        self._live.start()
        await self.contend()
        first = self.health.next_poll_at
        log.info(
            "service started instance=%s role=%s %s",
            self._app.instance,
            self.role,
            f"first_poll={_hms(first)}" if first else f"poller={self.leadership.poller}",
        )
        leading = asyncio.create_task(self._lead(), name="leadership")
        await stop.wait()
        log.info("service stopping bound=%ds (no new polls; finishing in-flight work)", stop_bound.seconds)
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
        loop, self._loop_task = self._loop_task, None
        if loop is not None:
            # A poll in progress may finish within the bound; a loop asleep stops at once.
            try:
                await asyncio.wait_for(self._polling.acquire(), timeout=stop_bound.total_seconds())
            except TimeoutError:
                log.warning("poll abandoned at stop (its transaction was not committed)")
            loop.cancel()  # cancels a poll still running, which rolls back
            await asyncio.gather(loop, return_exceptions=True)
        await self.leadership.release()  # a standby takes over now, not after failover
        await self._live.stop(stop_bound)

    async def contend(self) -> None:
        """Ask for (or renew) the poller lease once, and start or stop polling on a change of role."""
        changed = await self.leadership.step()
        if changed is Role.POLLER:
            await self._start_polling()
        elif changed is Role.STANDBY:
            self._stop_polling()
        if changed is not None:
            self.metrics.set_role(changed)

    async def _lead(self) -> None:
        """Keep asking for the lease: renewing it while polling, waiting for it while standing by."""
        while True:
            await self._timer.sleep_until(self._app.clock() + self.leadership.wait())
            try:
                await self.contend()
            except Exception:  # the loop boundary: a crashed check is logged, the next one comes
                log.exception("lease check crashed")

    async def _start_polling(self) -> None:
        """Pick up polling where the last poller (this instance or another) left it."""
        try:
            self.health = await self._polls_recorded()
        except DockwatchError as error:
            log.warning("could not read the last poll error=%s", error)
        # Which endpoints the last poll read is not recorded, so the first poll of a new poller
        # reads both (two calls per start or takeover): counting an old poll for the endpoint it
        # did not read would put that endpoint's next read off, and drop its moments since.
        self._last_polls = {}
        self._failing, self._asked = {}, None
        await self._plan_or_interval()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._poll_loop(), name="poll")

    def _stop_polling(self) -> None:
        """Another instance polls now: no further poll here, and the one running is cancelled (its
        transaction rolls back, so it records nothing beside the new poller)."""
        self._asked = None
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        self.health.next_poll_at = None

    async def _poll_loop(self) -> None:
        """Sleep until the planned poll, poll, plan the next: re-armed after every poll."""
        while True:
            if self._asked is None:
                at = self.health.next_poll_at
                if at is None:
                    return
                self._wake.clear()
                sleeping = asyncio.create_task(self._timer.sleep_until(at))
                woken = asyncio.create_task(self._wake.wait())
                try:
                    await asyncio.wait((sleeping, woken), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeping.cancel()
                    woken.cancel()
            endpoints, self._asked = self._asked or self.health.next_endpoints, None
            await self._poll(endpoints)

    @property
    def polling(self) -> bool:
        """Whether this instance runs the poll loop now."""
        return self._loop_task is not None and not self._loop_task.done()

    def poll_soon(self, endpoints: frozenset[Endpoint] = ALL_ENDPOINTS) -> None:
        """Poll ``endpoints`` now instead of at the planned time (when this instance polls); asked
        during a poll, right after it."""
        if self.polling:
            self._asked = (self._asked or frozenset()) | endpoints
            self._wake.set()

    async def polling_health(self) -> Health:
        """How polling goes: the poller's own record; a standby reads the poller's from the database."""
        return self.health if self.role is Role.POLLER else await self._polls_recorded()

    async def _polls_recorded(self) -> Health:
        """The last polls as the database has them, whichever instance ran them."""
        last, last_ok = await self._app.store.last_poll(), await self._app.store.last_successful_poll()
        return Health(
            last_poll_at=last.started_at if last else None,
            last_result=(f"{last.result}: {last.detail}" if last.detail else last.result)
            if last
            else "not yet polled",
            last_success_at=last_ok.started_at if last_ok else None,
        )

    async def _poll(self, endpoints: frozenset[Endpoint] = ALL_ENDPOINTS) -> None:
        async with self._polling:
            started = self._poll_started = self._app.clock()
            if not self.leadership.may_poll(started):
                # The lease is not certainly ours (a renewal is late): the lease check decides.
                self.health.next_poll_at = started + self.leadership.timing.retry
                return
            try:
                outcome = await run_cycle(
                    self._app,
                    stale_after=self._config.detect.stale_after,
                    webcast_window=self._config.detect.webcast_window,
                    deliver=False,
                    fence=(POLLER_LEASE, self._app.instance),
                    endpoints=endpoints,
                )
                self._last_polls.update(dict.fromkeys(outcome.endpoints, started))
                self._record(outcome, started)
            except LeaseLost as error:
                # The poll outlived this instance's lease; the new poller records instead.
                log.warning("poll discarded instance=%s error=%s", self._app.instance, error)
            except DockwatchError as error:
                self._last_polls.update(dict.fromkeys(endpoints, started))
                self._record_failure(started, str(error), "error", endpoints)
            except Exception as error:  # the loop boundary: a crashed cycle is logged, never fatal
                log.exception("poll crashed")
                self._last_polls.update(dict.fromkeys(endpoints, started))
                self._record_failure(started, f"{type(error).__name__}: {error}", "error", endpoints)
            await self._plan_or_interval()
            self._note_overrun(started)

    def _note_overrun(self, started: datetime) -> None:
        """Say once when polls start taking longer than ``min_interval`` (a database write lock held
        elsewhere, a slow LL2), and once when they are quick again; the next poll is then due at
        once, planned from the start of the slow one."""
        slow = self._app.clock() - started > self._config.poll.min_interval
        if slow and self._overran is None:
            self._overran = started
            log.warning(
                "poll ran past the time planned for the next; the next starts at once running_for=%ds",
                self._poll_seconds(),
            )
        elif not slow and self._overran is not None:
            log.info("polls back on schedule slow_since=%s", _hms(self._overran))
            self._overran = None

    def _poll_seconds(self) -> int:
        """How long the poll running now (or the last one) has been running."""
        if self._poll_started is None:
            return 0
        return int((self._app.clock() - self._poll_started).total_seconds())

    def _record(self, outcome: CycleOutcome, started: datetime) -> None:
        if outcome.error is not None:
            result = "budget_refused" if isinstance(outcome.error, BudgetExhausted) else "upstream_error"
            self._record_failure(started, str(outcome.error), result, outcome.endpoints)
            return
        health = self.health
        for endpoint in outcome.endpoints:
            self._failing.pop(endpoint, None)
        health.last_success_at, health.last_poll_at, health.last_result = started, started, "ok"
        # A list that keeps failing while the other is read fine keeps the poller failing (and
        # /healthz stale once that lasts): it must not pass for a working poller.
        health.failing_since = min(self._failing.values(), default=health.failing_since)
        if health.failing_since is not None and not self._failing:
            log.info(
                "poll recovered failed_polls=%d failing_since=%s",
                health.consecutive_failures,
                _hms(health.failing_since),
            )
            health.failing_since, health.consecutive_failures = None, 0
        self.metrics.count_poll("ok")
        recorded = outcome.recorded
        if recorded is not None:
            for kind in recorded.announced_kinds:
                self.metrics.count_notification(kind)
            if recorded.deliveries:
                self._live.wake()

    def _record_failure(
        self, started: datetime, detail: str, result: str, endpoints: frozenset[Endpoint] = ALL_ENDPOINTS
    ) -> None:
        health = self.health
        newly = [e for e in Endpoint if e in endpoints and e not in self._failing]
        for endpoint in newly:
            self._failing[endpoint] = started
        if newly:
            lists = ",".join(sorted(e.value for e in newly))
            log.warning("poll failed lists=%s result=%s error=%s", lists, result, detail)
        health.failing_since = min(self._failing.values())
        health.consecutive_failures += 1
        health.last_poll_at, health.last_result = started, f"{result}: {detail}"
        self.metrics.count_poll(result)

    async def _plan_or_interval(self) -> None:
        """Set the next poll from the planner; when planning fails, one base interval from now."""
        try:
            planned = await self._plan()
        except DockwatchError as error:
            log.warning("planning failed, using the base interval error=%s", error)
            planned = PlannedPoll(self._app.clock() + self._config.poll.interval, ALL_ENDPOINTS)
        except Exception:
            log.exception("planning crashed; using the base interval")
            planned = PlannedPoll(self._app.clock() + self._config.poll.interval, ALL_ENDPOINTS)
        self.health.next_poll_at, self.health.next_endpoints = planned.at, planned.endpoints

    async def _plan(self) -> PlannedPoll:
        now = self._app.clock()
        store = self._app.store
        known = await store.load_known_state()
        events = await store.events()
        moments = moments_from(known.dockings.values(), events, known.recorded_keys, now)
        leads = await store.reminder_leads()
        dockings = known.dockings.values()
        calls, hold = await self._app.budget.view(now)
        self.metrics.set_budget_remaining(remaining_calls(self._app.budget.per_hour, calls, hold, now))
        state = PlanState(
            interval=self._config.poll.interval,
            min_interval=self._config.poll.min_interval,
            dockings=Watch(
                self._last_polls.get(Endpoint.DOCKINGS),
                moments.dockings,
                reminder_moments(dockings, (), leads, known.recorded_keys, now, HORIZON),
            ),
            events=Watch(
                self._last_polls.get(Endpoint.EVENTS),
                moments.events,
                reminder_moments((), events, leads, known.recorded_keys, now, HORIZON),
            ),
            windows=moments.windows,
            fringes=moments.fringes,
        )
        budget = BudgetView(per_hour=self._config.api.requests_per_hour, calls=tuple(calls), hold_until=hold)
        return plan_next_poll(state, budget, now)

    def _observe_delivery(self, delivery: DueDelivery, outcome: str, notifier: str) -> None:
        latency = (self._app.clock() - delivery.notification_created_at).total_seconds()
        self.metrics.observe_delivery(delivery, outcome, notifier, latency)


def _hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
