"""One poll cycle: fetch, detect, record (state + outbox in one transaction), deliver what is due."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from dockwatch.bot.corrections import corrections
from dockwatch.bot.detect import detect
from dockwatch.bot.dispatch import DeliveryReport
from dockwatch.bot.errors import BudgetExhausted, UpstreamError
from dockwatch.bot.model import ALL_ENDPOINTS, Endpoint
from dockwatch.bot.reminders import due_reminders
from dockwatch.bot.runtime import Runtime
from dockwatch.storage import RecordedCycle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """How a cycle ended: ``error`` is set when LL2 gave nothing usable and nothing was recorded."""

    recorded: RecordedCycle | None
    delivery: DeliveryReport
    error: UpstreamError | None = None
    endpoints: frozenset[Endpoint] = ALL_ENDPOINTS
    """The LL2 lists the cycle read (or tried to)."""


async def run_cycle(
    app: Runtime,
    *,
    stale_after: timedelta,
    webcast_window: timedelta,
    deliver: bool = True,
    fence: tuple[str, str] | None = None,
    endpoints: frozenset[Endpoint] = ALL_ENDPOINTS,
) -> CycleOutcome:
    """Poll LL2 once and deliver; an upstream failure records nothing but still retries deliveries.

    The caller reports the failure: ``poll-once`` as its one error line, ``run`` as a transition.
    ``deliver=False`` leaves delivery to a live dispatcher (``dockwatch run``). ``fence`` (lease
    name, holder): record only while holding that lease (``dockwatch run``'s poller).
    ``endpoints``: the LL2 lists to read; until a poll has succeeded, always all of them, so that
    the baseline records everything LL2 shows as already known.
    """
    started = app.clock()
    if endpoints != ALL_ENDPOINTS and await app.store.last_successful_poll() is None:
        endpoints = ALL_ENDPOINTS
    try:
        snapshot = await app.ll2.fetch_snapshot(endpoints)
    except UpstreamError as error:
        result = "budget_refused" if isinstance(error, BudgetExhausted) else "upstream_error"
        await app.store.record_poll_failure(
            started_at=started, now=app.clock(), result=result, detail=str(error)
        )
        return CycleOutcome(None, await _deliver(app, deliver), error, endpoints)

    now = app.clock()
    known = await app.store.load_known_state(notices_for={r.id for r in snapshot.dockings})
    changes = detect(known, snapshot, now, stale_after=stale_after, webcast_window=webcast_window)
    changes += corrections(known, snapshot, now, stale_after=stale_after)
    leads = await app.store.reminder_leads()
    changes += due_reminders(snapshot.dockings, snapshot.events, leads, known.recorded_keys, now)
    recorded = await app.store.record_cycle(snapshot, changes, started_at=started, now=now, fence=fence)
    ours = set(recorded.announced_keys)  # not those another instance recorded first
    for change in changes:
        if change.key in ours:
            log.info("notification recorded key=%s type=%s", change.key, change.kind.value)
    if not known.baseline_done:
        log.info(
            "baseline recorded dockings=%d events=%d facts=%d (nothing announced)",
            len(snapshot.dockings),
            len(snapshot.events),
            recorded.recorded,
        )
    return CycleOutcome(recorded, await _deliver(app, deliver), endpoints=endpoints)


async def _deliver(app: Runtime, deliver: bool) -> DeliveryReport:
    return await app.dispatcher.deliver_due() if deliver else DeliveryReport()
