"""The rolling hourly budget of LL2 calls, kept in the store so every process and restart shares it.

Every attempt to send a request is counted before it goes out (LL2 counts it even when it then
fails). ``reserve`` checks and counts a cycle's calls in one write transaction, so two processes can
never both take the last call; an attempt the HTTP client makes again on a dropped connection is
counted (``record``) before it goes out too. An attempt that never left the machine (DNS failure,
refused connection) is freed again (``release``). A process killed in between keeps the count: the
budget may over-count a call, never miss one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dockwatch.bot.errors import BudgetExhausted
from dockwatch.storage import ApiReservation, Store

WINDOW = timedelta(hours=1)


@dataclass
class Reservation:
    """Calls counted for a cycle before it starts; each request takes one and settles it."""

    ids: list[int] = field(default_factory=list)

    def take(self) -> int:
        return self.ids.pop(0)


class CallBudget:
    """Refuses a call that would exceed ``per_hour`` calls in any rolling hour, or break a hold."""

    def __init__(self, store: Store, per_hour: int) -> None:
        self._store = store
        self.per_hour = per_hour
        self.on_spend: Callable[[str], None] = lambda _path: None

    async def remaining(self, now: datetime) -> int:
        """Calls left in the rolling hour; none while LL2 has asked us to hold."""
        calls, hold = await self.view(now)
        return remaining_calls(self.per_hour, calls, hold, now)

    @asynccontextmanager
    async def reserve(self, now: datetime, paths: Sequence[str]) -> AsyncIterator[Reservation]:
        """Count one call per path, or raise ``BudgetExhausted`` saying when the next is allowed;
        calls not taken by the end of the block are freed (the cycle stopped before making them)."""
        decision = await self._store.reserve_api_calls(
            paths, at=now, since=now - WINDOW, limit=self.per_hour, longest_hold=WINDOW
        )
        if not decision.ids:
            raise self._refusal(decision, now, len(paths))
        reservation = Reservation(list(decision.ids))
        try:
            yield reservation
        finally:
            await self._store.release_api_calls(reservation.ids)

    async def record(self, now: datetime, path: str) -> int:
        """Count a call that is going out whatever the budget says (the HTTP client re-sends it)."""
        return await self._store.record_api_call(now, path)

    async def release(self, call_id: int) -> None:
        """Free a counted call that never left the machine."""
        await self._store.release_api_calls([call_id])

    async def view(self, now: datetime) -> tuple[list[datetime], datetime | None]:
        """The calls made in the rolling hour before ``now`` and LL2's hold, for planning."""
        hold = await self._store.api_hold()
        return await self._store.api_calls_since(now - WINDOW), hold.until if hold is not None else None

    async def hold(self, until: datetime, reason: str) -> None:
        await self._store.set_api_hold(until, reason)

    def _refusal(self, decision: ApiReservation, now: datetime, wanted: int) -> BudgetExhausted:
        if decision.hold_until is not None and decision.hold_until > now:
            return BudgetExhausted(
                f"LL2 asked us to wait ({decision.hold_reason}); "
                f"next call allowed at {_when(decision.hold_until)}",
                decision.hold_until,
            )
        made = decision.calls
        excess = len(made) + wanted - self.per_hour
        # The window frees one call each time its oldest call turns an hour old.
        next_at = made[excess - 1] + WINDOW if 0 < excess <= len(made) else now + WINDOW
        return BudgetExhausted(
            f"LL2 budget of {self.per_hour} calls/hour is used up ({len(made)} in the last hour); "
            f"next call allowed at {_when(next_at)}",
            next_at,
        )


def remaining_calls(per_hour: int, calls: list[datetime], hold: datetime | None, now: datetime) -> int:
    if hold is not None and hold > now:
        return 0
    return max(0, per_hour - len(calls))


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
