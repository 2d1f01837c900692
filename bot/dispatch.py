"""Delivery: work through due outbox rows, one task per target so one bad target never holds up others.

A failed attempt is retried with exponential backoff (10 s, 20 s, 40 s, ... capped at 1 h; a
platform's own ``retry_after``, when it gives one, replaces it) until it lands or, 24 h after the
notification was recorded, is dead-lettered where ``dockwatch status`` shows it.

A target whose quiet hours ask for a digest (``22:00-07:00 digest``) is sent nothing inside them:
what comes due is held until they end, then goes out as one digest per target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from dockwatch.bot.errors import PermanentFailure, RetryLater, StorageUnavailable, TargetGone
from dockwatch.bot.model import Receipt
from dockwatch.bot.preferences import Preferences
from dockwatch.bot.reminders import too_late
from dockwatch.notifiers import Notifier
from dockwatch.notifiers.base import (
    PLAIN,
    CorrectingNotifier,
    DigestingNotifier,
    Presentation,
    redact_urls,
)
from dockwatch.storage import DueDelivery, Store

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=10)
MAX_BACKOFF = timedelta(hours=1)
DEAD_AFTER = timedelta(hours=24)
ROUNDS = 3
"""Claims per ``deliver_due``: the first, and rounds for what the sends made due (corrections)."""
LEASE = timedelta(minutes=2)
"""How long a claimed delivery is ours; short, so a crashed send is retried while Discord still
remembers its nonce ("a few minutes") and posts nothing twice."""
RECORD_RETRY_DELAYS = (0.5, 1.5, 3.0)
"""Pauses (seconds) between the tries of recording an outcome when the database connection dropped:
four tries within five seconds, then the claim is given up (its lease lapses and it is sent again)."""


def backoff(attempts: int) -> timedelta:
    """Delay after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s, ... at most one hour."""
    factor: int = 2 ** max(0, attempts - 1)
    return min(FIRST_RETRY * factor, MAX_BACKOFF)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    disabled_targets: list[str] = field(default_factory=list)
    superseded: int = 0
    """Reminders that came due too late to be true (a retry, quiet hours), never sent."""
    held: int = 0
    """Held for a digest at the end of their target's quiet hours: not sent, not failed."""

    def merge(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.dead += other.dead
        self.superseded += other.superseded
        self.held += other.held
        self.disabled_targets += other.disabled_targets


DeliveryObserver = Callable[[DueDelivery, str, str], None]
"""Told of each finished attempt: (delivery, outcome, notifier name); outcome is one of
``delivered``, ``retrying``, ``dead``. Metrics hang off this."""


def _ignore(_delivery: DueDelivery, _outcome: str, _notifier: str) -> None:
    return None


async def _send(
    notifier: Notifier, target_key: str, delivery: DueDelivery, presentation: Presentation
) -> Receipt:
    """A correction edits (and replies to) the message it corrects where the platform can; a platform
    that cannot, or a message sent before receipts were kept, gets the correction as a message.

    ``presentation`` is passed only when it asks for something (a silent message, a zone): a platform
    plugin written before targets had choices keeps working for every target that makes none."""
    shown: dict[str, Presentation] = {} if presentation == PLAIN else {"presentation": presentation}
    original = delivery.original
    if delivery.message.correction is None or original is None:
        return await notifier.send(target_key, delivery.message, delivery_id=delivery.id, **shown)
    if isinstance(notifier, CorrectingNotifier):
        return await notifier.correct(
            target_key, delivery.message, original, delivery_id=delivery.id, **shown
        )
    return await notifier.send(target_key, delivery.message, delivery_id=delivery.id, **shown)


def presentation_of(delivery: DueDelivery, now: datetime) -> Presentation:
    """How the delivery is shown now: silent in its target's quiet hours, times in its zone."""
    preferences = delivery.preferences
    zone = preferences.zone if preferences.timezone is not None else UTC
    return Presentation(silent=preferences.is_quiet(now), zone=zone)


def held_until(notifier: Notifier | None, preferences: Preferences, now: datetime) -> datetime | None:
    """When the target's quiet hours end, if they ask for a digest and it is inside them now (and its
    platform can send a digest); ``None`` when its messages may go out now."""
    quiet = preferences.quiet
    if quiet is None or not quiet.digest or not isinstance(notifier, DigestingNotifier):
        return None
    zone = preferences.zone
    return quiet.ends_after(now, zone) if quiet.contains(now, zone) else None


class _ClaimGivenUp(Exception):
    """An outcome could not be recorded however often it was tried: the target's batch stops."""


class Dispatcher:
    """Sends due deliveries through the notifier that owns each target.

    It claims under ``owner`` (``Runtime.instance``; a token of its own when none is given), and
    records an outcome only while that claim holds: a delivery another instance took over after our
    lease lapsed is theirs to record, and ours is neither counted nor observed.
    """

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        clock: Callable[[], datetime],
        *,
        owner: str | None = None,
        observer: DeliveryObserver = _ignore,
        unavailable: Callable[[], Mapping[str, str]] = dict,
        record_retry_delays: Sequence[float] = RECORD_RETRY_DELAYS,
    ) -> None:
        self._store = store
        self._clock = clock
        self.owner = owner or f"dispatcher:{secrets.token_hex(6)}"
        """The owner token of this dispatcher's claims."""
        self._record_retry_delays = tuple(record_retry_delays)
        self.observer = observer
        self.unavailable = unavailable
        """Target-key prefixes (``discord``, ``discord:channel``) of platforms that cannot send now:
        their deliveries stay queued, unclaimed, until the platform starts."""
        self._notifiers: Mapping[str, Notifier] = {notifier.name: notifier for notifier in notifiers}

    def _route(self, target_key: str) -> Notifier | None:
        """Target keys are ``<notifier>:<address>``; the notifier decides if it still knows it."""
        notifier = self._notifiers.get(target_key.partition(":")[0])
        return notifier if notifier is not None and notifier.handles(target_key) else None

    async def deliver_due(self) -> DeliveryReport:
        """Deliver everything due now, the targets side by side.

        A fact's later messages (a correction, a re-announcement) wait until its earlier ones to the
        same target have been sent, so what that sending made due is claimed in a further round (a
        few at most: a failure is not due again within one).
        """
        total = DeliveryReport()
        for _round in range(ROUNDS):
            now = self._clock()
            due = await self._store.claim_due(
                now, lease_until=now + LEASE, owner=self.owner, exclude_platforms=list(self.unavailable())
            )
            if not due:
                break
            by_target: dict[str, list[DueDelivery]] = defaultdict(list)
            for delivery in due:
                by_target[delivery.target_key].append(delivery)
            reports = await asyncio.gather(
                *(self.deliver_claimed(key, items) for key, items in by_target.items())
            )
            for report in reports:
                total.merge(report)
            if not any(report.delivered or report.dead or report.superseded for report in reports):
                break
        return total

    async def deliver_claimed(self, target_key: str, deliveries: list[DueDelivery]) -> DeliveryReport:
        """Deliver one target's claimed deliveries in order; stop at the first failure so a
        struggling target is not hammered."""
        report = DeliveryReport()
        # A claim given up was logged where it happened; the rest of the batch lapses with its leases.
        with contextlib.suppress(_ClaimGivenUp):
            await self._deliver_in_order(target_key, list(deliveries), report)
        return report

    async def _deliver_in_order(
        self, target_key: str, deliveries: list[DueDelivery], report: DeliveryReport
    ) -> None:
        """Inside the target's digest quiet hours everything is held; after them, what was held goes
        out first, in one digest, then the rest one by one."""
        notifier = self._route(target_key)
        until = held_until(notifier, deliveries[0].preferences, self._clock())
        if until is not None:
            for claimed in deliveries:
                if not await self._settled(notifier, claimed, report):
                    await self._hold(claimed, until, report)
            return
        # A correction is never listed in a digest: it edits (and answers) the message it corrects,
        # which a line in a digest would leave saying what is no longer true.
        held = [claimed for claimed in deliveries if claimed.held and claimed.message.correction is None]
        if len(held) > 1 and isinstance(notifier, DigestingNotifier):
            # A held reminder come due too late, say, is settled here and not listed.
            digest = [claimed for claimed in held if not await self._settled(notifier, claimed, report)]
            rest = [claimed for claimed in deliveries if claimed not in held]
            if len(digest) > 1:
                moved_to = await self._deliver_digest(notifier, target_key, digest, rest, report)
                if moved_to is None:
                    return
                target_key, deliveries = moved_to, rest
            else:
                deliveries = digest + rest  # one message alone needs no digest
        await self._deliver_each(notifier, target_key, deliveries, report)

    async def _settled(self, notifier: Notifier | None, claimed: DueDelivery, report: DeliveryReport) -> bool:
        """Whether the delivery was settled unsent: checked before it is held as much as before it is
        sent, so a delivery that can never go out (no notifier, nothing to correct, past its deadline)
        is not held for a digest, and a reminder too late to be true is never listed in one."""
        if notifier is None:
            await self._dead(claimed, "target is no longer configured", report, attempted=False)
            return True
        if claimed.message.correction is not None and not claimed.original_delivered:
            # The announcement it corrects never reached this target: there is nothing to correct.
            await self._dead(claimed, "the message it corrects was never delivered", report, attempted=False)
            return True
        if self._clock() >= claimed.notification_created_at + DEAD_AFTER:
            # Past its deadline (never tried: its platform could not start all that time; or
            # parked behind another message's Retry-After). News that old (a webcast long over)
            # would mislead; it is dead-lettered where status shows it.
            reason = "expired: not sent within 24 h of the change"
            if claimed.attempt > 1:
                reason = f"gave up after 24 h: {claimed.last_error or 'no answer'}"
            await self._dead(claimed, reason, report, attempted=False)
            return True
        if (expired := too_late(claimed.message, self._clock())) is not None:
            await self._expire(claimed, expired, report)
            return True
        return False

    async def _deliver_each(
        self,
        notifier: Notifier | None,
        target_key: str,
        deliveries: list[DueDelivery],
        report: DeliveryReport,
    ) -> None:
        for index, claimed in enumerate(deliveries):
            if await self._settled(notifier, claimed, report):
                continue
            assert notifier is not None  # a delivery to no notifier is settled
            delivery = await self._store.renew_claim(claimed, self._clock() + LEASE)
            if delivery is None:
                # A slow batch outlived the lease and another instance claimed this one: it sends it.
                self._claim_lost(claimed, "send")
                continue
            deliveries[index] = delivery  # the renewed lease is the claim from now on
            try:
                receipt = await _send(
                    notifier, target_key, delivery, presentation_of(delivery, self._clock())
                )
            except TargetGone as error:
                await self._disable(target_key, delivery, redact_urls(str(error)), report)
                return
            except PermanentFailure as error:
                await self._dead(delivery, redact_urls(str(error)), report)
                continue
            except RetryLater as error:
                await self._postpone(deliveries[index:], redact_urls(str(error)), error.retry_after, report)
                return
            except Exception as error:  # the per-delivery boundary: record, never crash the loop
                # Not a typed delivery error: a bug or a platform answer nobody anticipated. Retrying
                # would repeat it for 24 h; this message is dead-lettered, the rest carry on.
                log.debug(
                    "delivery crashed key=%s target=%s", delivery.message.key, target_key, exc_info=True
                )
                await self._dead(delivery, redact_urls(f"unexpected {type(error).__name__}: {error}"), report)
                continue
            recorded = await self._record_delivered(delivery, receipt)
            # The chat's new id is a fact whoever records this delivery: remember it either way.
            target_key = await self._follow(target_key, receipt)
            if recorded:
                self._count_delivered(delivery, notifier, target_key, report)

    async def _deliver_digest(
        self,
        notifier: DigestingNotifier,
        target_key: str,
        digest: list[DueDelivery],
        rest: list[DueDelivery],
        report: DeliveryReport,
    ) -> str | None:
        """Send ``digest`` (held deliveries, settled) as one message; each is delivered with its
        receipt. The target's key after (a chat that moved), or ``None`` when the target's batch
        stops here (gone, or ``rest`` postponed with the digest)."""
        renewed: list[DueDelivery] = []
        for claimed in digest:
            delivery = await self._store.renew_claim(claimed, self._clock() + LEASE)
            if delivery is None:
                self._claim_lost(claimed, "send")  # another instance has it, and sends it
            else:
                renewed.append(delivery)
        if not renewed:
            return target_key
        first = renewed[0]
        try:
            receipt = await notifier.send_digest(
                target_key,
                [delivery.message for delivery in renewed],
                delivery_id=first.id,
                presentation=presentation_of(first, self._clock()),
            )
        except TargetGone as error:
            await self._disable(target_key, first, redact_urls(str(error)), report)
            return None
        except PermanentFailure as error:
            for delivery in renewed:
                await self._dead(delivery, f"digest refused: {redact_urls(str(error))}", report)
            return target_key
        except RetryLater as error:
            await self._postpone(
                [*renewed, *rest], redact_urls(str(error)), error.retry_after, report, together=len(renewed)
            )
            return None
        except Exception as error:  # the per-delivery boundary, as for one message
            log.debug("digest crashed target=%s", target_key, exc_info=True)
            reason = redact_urls(f"unexpected {type(error).__name__} in a digest: {error}")
            for delivery in renewed:
                await self._dead(delivery, reason, report)
            return target_key
        recorded = [delivery for delivery in renewed if await self._record_delivered(delivery, receipt)]
        target_key = await self._follow(target_key, receipt)
        for delivery in recorded:
            self._count_delivered(delivery, notifier, target_key, report)
        log.info("digest delivered target=%s messages=%d", target_key, len(renewed))
        return target_key

    async def _record_delivered(self, delivery: DueDelivery, receipt: Receipt) -> bool:
        write = partial(self._store.mark_delivered, delivery, self._clock(), receipt=receipt)
        return await self._record(delivery, "delivered", write)

    async def _follow(self, target_key: str, receipt: Receipt) -> str:
        """The target's key after a send: the platform's new address for it when it moved."""
        moved_to = receipt.moved_to
        if moved_to is None or moved_to == target_key:
            return target_key
        log.info("target moved from=%s to=%s", target_key, moved_to)
        await self._store.move_target(target_key, moved_to, now=self._clock())
        return moved_to

    def _count_delivered(
        self, delivery: DueDelivery, notifier: Notifier, target_key: str, report: DeliveryReport
    ) -> None:
        report.delivered += 1
        self.observer(delivery, "delivered", notifier.name)
        log.info("delivered key=%s target=%s attempt=%d", delivery.message.key, target_key, delivery.attempt)

    async def _record(
        self, delivery: DueDelivery, outcome: str, write: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Record ``outcome`` through ``write`` (a claimed write of the store); whether it applied.

        A dropped database connection is tried again after each of ``record_retry_delays``: the
        message may already be out, and an outcome left unrecorded is sent again when the lease
        lapses. If the last try fails too, the claim is given up (one line) and the target's batch
        stops. A write that finds the claim gone is logged once and counts nowhere.
        """
        delays = iter(self._record_retry_delays)
        while True:
            try:
                recorded = await write()
            except StorageUnavailable as error:
                delay = next(delays, None)
                if delay is None:
                    log.error(
                        "outcome not recorded key=%s target=%s outcome=%s tries=%d error=%s: claim given"
                        " up, sent again when its lease lapses",
                        delivery.message.key,
                        delivery.target_key,
                        outcome,
                        len(self._record_retry_delays) + 1,
                        error,
                    )
                    raise _ClaimGivenUp from error
                await asyncio.sleep(delay)
                continue
            if not recorded:
                self._claim_lost(delivery, outcome)
            return recorded

    def _claim_lost(self, delivery: DueDelivery, step: str) -> None:
        """One line for a claim found gone at ``step``: ``send`` (nothing sent) or an outcome."""
        log.warning(
            "claim lost key=%s target=%s at=%s: another instance has it (our lease lapsed) or the"
            " target's queue was closed; nothing recorded here",
            delivery.message.key,
            delivery.target_key,
            step,
        )

    async def _postpone(
        self,
        deliveries: list[DueDelivery],
        error: str,
        retry_after: float | None,
        report: DeliveryReport,
        *,
        together: int = 1,
    ) -> None:
        """The failed delivery waits for its own retry time; the rest of this target's batch waits for
        the platform's ``retry_after`` when it gave one (a rate limit is the target's), else for one
        first retry interval at most: the next round probes the target with the next message, so a
        message the receiver keeps rejecting never holds back the ones behind it.

        The first ``together`` deliveries were attempted together (a digest): each waits for the same
        retry time, so they are claimed, and summed up, together again."""
        now = self._clock()
        failed = deliveries[0]
        # A platform's own retry_after is what it asked for; our backoff is for when it says nothing.
        # At least a second, so a receiver answering "Retry-After: 0" cannot make us spin.
        if retry_after is not None and math.isfinite(retry_after):
            # Capped: a platform's hint never parks a message past its dead-letter deadline.
            delay = timedelta(seconds=min(max(1.0, retry_after), DEAD_AFTER.total_seconds()))
        else:
            delay = backoff(failed.attempt)
        failed_recorded = False
        for index, delivery in enumerate(deliveries):
            attempted = index < together
            deadline = delivery.notification_created_at + DEAD_AFTER
            if attempted and now >= deadline:
                await self._dead(delivery, f"gave up after 24 h: {error}", report)
                continue
            if attempted:
                retry_at = min(now + delay, deadline)
            else:
                # Never past its own deadline either, whatever the receiver asked of the target.
                wait = delay if retry_after is not None else min(delay, FIRST_RETRY)
                retry_at = min(now + wait, deadline)
            last_error = error if attempted else f"waiting: earlier delivery failed: {error}"
            write = partial(
                self._store.mark_retry,
                delivery,
                now=now,
                next_attempt_at=retry_at,
                error=last_error,
                attempted=attempted,
            )
            if await self._record(delivery, "retrying", write):
                report.retrying += 1
                failed_recorded = failed_recorded or attempted
        if not failed_recorded:
            return  # the failed attempt is another instance's now (or dead): nothing to report here
        self.observer(failed, "retrying", self._notifier_name(failed.target_key))
        log.warning(
            "delivery failed key=%s target=%s attempt=%d retry_in=%ds error=%s",
            failed.message.key,
            failed.target_key,
            failed.attempt,
            int(delay.total_seconds()),
            error,
        )

    async def _hold(self, delivery: DueDelivery, until: datetime, report: DeliveryReport) -> None:
        """Inside digest quiet hours a message waits for their end (not an attempt, not a failure)."""
        write = partial(self._store.mark_held, delivery, now=self._clock(), until=until)
        if await self._record(delivery, "held", write):
            report.held += 1
            log.info(
                "held for the digest key=%s target=%s until=%s",
                delivery.message.key,
                delivery.target_key,
                until.isoformat(),
            )

    async def _expire(self, delivery: DueDelivery, reason: str, report: DeliveryReport) -> None:
        """A reminder too late to be true is never sent; it is superseded (not a failure)."""
        write = partial(self._store.mark_superseded, delivery, now=self._clock(), reason=reason)
        if await self._record(delivery, "superseded", write):
            report.superseded += 1
            log.info(
                "reminder not sent key=%s target=%s: %s", delivery.message.key, delivery.target_key, reason
            )

    async def _dead(
        self, delivery: DueDelivery, error: str, report: DeliveryReport, *, attempted: bool = True
    ) -> None:
        write = partial(self._store.mark_dead, delivery, now=self._clock(), error=error, attempted=attempted)
        if not await self._record(delivery, "dead", write):
            return
        report.dead += 1
        self.observer(delivery, "dead", self._notifier_name(delivery.target_key))
        log.error(
            "dead-lettered key=%s target=%s attempt=%d error=%s",
            delivery.message.key,
            delivery.target_key,
            delivery.attempt,
            error,
        )

    def _notifier_name(self, target_key: str) -> str:
        return target_key.partition(":")[0]

    async def _disable(
        self, target_key: str, delivery: DueDelivery, reason: str, report: DeliveryReport
    ) -> None:
        # The delivery that met the refusal was attempted: it counts its attempt, the rest do not.
        write = partial(self._store.mark_dead, delivery, now=self._clock(), error=reason, attempted=True)
        recorded = await self._record(delivery, "dead", write)
        # Without a claim: whatever the target is still owed, whoever holds it, goes nowhere now.
        dead = int(recorded) + await self._store.disable_target(target_key, reason=reason, now=self._clock())
        report.dead += dead
        for _ in range(dead):
            self.observer(delivery, "dead", self._notifier_name(target_key))
        report.disabled_targets.append(target_key)
        log.error("target disabled target=%s reason=%s dead_lettered=%d", target_key, reason, dead)
