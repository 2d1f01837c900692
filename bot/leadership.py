"""One poller among the instances sharing a database: the ``poller`` lease row decides which.

Every instance delivers, answers chat commands and serves the web endpoints; only the holder of the
lease polls LL2. The holder renews the lease three times per term; a standby asks for it every few
seconds and gets it once it is released (a clean stop) or has lapsed (the holder died, or lost the
database for longer than a term). Taken together, a dead poller is replaced within ``[run]
failover``: a term of ``failover`` minus one standby retry, plus that retry.

Expiry is judged by the clock of the instance that asks, against the time the holder wrote: the
hosts' clocks must agree to well within ``failover`` (NTP does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dockwatch.bot.errors import DockwatchError
from dockwatch.storage import Store

log = logging.getLogger(__name__)

POLLER_LEASE = "poller"
RETRY_MIN = timedelta(seconds=1)
RETRY_MAX = timedelta(seconds=5)
RENEWALS_PER_TERM = 3


class Role(StrEnum):
    """What this instance does about LL2: polls it, or stands by to take over."""

    POLLER = "poller"
    STANDBY = "standby"


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """The lease's rhythm, derived from ``[run] failover``."""

    failover: timedelta

    @property
    def retry(self) -> timedelta:
        """How often a standby asks: a quarter of ``failover``, between 1 s and 5 s."""
        return min(RETRY_MAX, max(RETRY_MIN, self.failover / 4))

    @property
    def term(self) -> timedelta:
        """How long a grant or renewal lasts: a standby's next ask after it lapses is still within
        ``failover`` of the holder's last renewal."""
        return self.failover - self.retry

    @property
    def renew(self) -> timedelta:
        """How often the holder renews: three times per term, so one slow renewal costs nothing."""
        return self.term / RENEWALS_PER_TERM


class Leadership:
    """This instance's side of the poller lease: asks the database and knows its role."""

    def __init__(
        self, store: Store, instance: str, clock: Callable[[], datetime], timing: LeaseTiming
    ) -> None:
        self._store = store
        self._clock = clock
        self.instance = instance
        self.timing = timing
        self.role = Role.STANDBY
        self.poller: str | None = None
        """The instance holding the lease when last asked (``None``: nobody yet, or released)."""
        self.until: datetime | None = None
        """While this instance is the poller: when its lease ends unless renewed."""
        self._failing = False

    def may_poll(self, now: datetime) -> bool:
        """Whether a poll may start now: only while this instance's lease certainly holds."""
        return self.role is Role.POLLER and self.until is not None and now < self.until

    def wait(self) -> timedelta:
        """How long until the next ``step``."""
        return self.timing.renew if self.role is Role.POLLER else self.timing.retry

    async def step(self) -> Role | None:
        """Ask for (or renew) the lease once; return the new role when it changed, else ``None``.

        A database error keeps the poller polling while its lease still holds; once the lease has
        lapsed another instance may already poll, so this one stops.
        """
        now = self._clock()
        try:
            lease = await self._store.acquire_lease(
                POLLER_LEASE, self.instance, now=now, until=now + self.timing.term
            )
        except DockwatchError as error:
            if not self._failing:
                log.warning("lease check failed role=%s error=%s", self.role, error)
                self._failing = True
            if self.role is Role.POLLER and self.until is not None and now >= self.until:
                return self._become(
                    Role.STANDBY, f"the lease lapsed at {_hms(self.until)} (database: {error})"
                )
            return None
        if self._failing:
            log.info("lease check recovered role=%s", self.role)
            self._failing = False
        self.poller = lease.holder
        if lease.held:
            self.until = lease.expires_at
            if self.role is Role.STANDBY:
                return self._become(Role.POLLER, f"previous={lease.previous or 'none'}")
        elif self.role is Role.POLLER:
            return self._become(
                Role.STANDBY, f"{lease.holder} holds the lease until {_hms(lease.expires_at)}"
            )
        return None

    async def release(self) -> None:
        """Hand the role over at a clean stop, so a standby takes it at its next ask."""
        if self.role is not Role.POLLER:
            return
        self.role, self.until = Role.STANDBY, None
        try:
            await self._store.release_lease(POLLER_LEASE, self.instance)
        except DockwatchError as error:
            log.warning("could not release the poller lease; it lapses by itself error=%s", error)
            return
        log.info("poller lease released instance=%s", self.instance)

    def _become(self, role: Role, detail: str) -> Role:
        self.role = role
        if role is Role.POLLER:
            log.info("became the poller instance=%s %s", self.instance, detail)
        else:
            self.until = None
            log.warning("no longer the poller, polling stopped instance=%s reason=%s", self.instance, detail)
        return role


def _hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
