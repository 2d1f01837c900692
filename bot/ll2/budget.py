"""The rolling hourly budget of LL2 calls, kept in the store so every process and restart shares it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from dockwatch.bot.errors import BudgetExhausted
from dockwatch.storage import Store

WINDOW = timedelta(hours=1)


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

    async def ensure(self, now: datetime, calls: int) -> None:
        """Raise ``BudgetExhausted`` unless ``calls`` more calls are allowed at ``now``."""
        hold = await self._store.api_hold()
        if hold is not None and hold.until > now:
            raise BudgetExhausted(
                f"LL2 asked us to wait ({hold.reason}); next call allowed at {_when(hold.until)}",
                hold.until,
            )
        made = await self._store.api_calls_since(now - WINDOW)
        excess = len(made) + calls - self.per_hour
        if excess > 0:
            # The window frees one call each time its oldest call turns an hour old.
            next_at = made[excess - 1] + WINDOW if excess <= len(made) else now + WINDOW
            raise BudgetExhausted(
                f"LL2 budget of {self.per_hour} calls/hour is used up ({len(made)} in the last hour); "
                f"next call allowed at {_when(next_at)}",
                next_at,
            )

    async def spend(self, now: datetime, path: str) -> None:
        await self._store.record_api_call(now, path)
        self.on_spend(path)

    async def view(self, now: datetime) -> tuple[list[datetime], datetime | None]:
        """The calls made in the rolling hour before ``now`` and LL2's hold, for planning."""
        hold = await self._store.api_hold()
        return await self._store.api_calls_since(now - WINDOW), hold.until if hold is not None else None

    async def hold(self, until: datetime, reason: str) -> None:
        await self._store.set_api_hold(until, reason)


def remaining_calls(per_hour: int, calls: list[datetime], hold: datetime | None, now: datetime) -> int:
    if hold is not None and hold > now:
        return 0
    return max(0, per_hour - len(calls))


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
