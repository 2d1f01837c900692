"""Prometheus metrics for ``dockwatch run``, in a registry of their own (no process globals).

Several instances can share one database. What an instance did itself (its polls, its LL2 calls, its
deliveries, its role) carries its ``instance`` label, so summing across instances is right. What it
reads from the shared database (the LL2 budget left, the delivery queue) is the same number on every
instance: those carry ``scope="database"`` and no instance label, and a dashboard takes ``max``, not
``sum``, of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dockwatch.storage import DueDelivery

ROLES = ("poller", "standby")
QUEUE_STATUSES = ("queued", "sending", "dead")
DATABASE_WIDE = "Database-wide (the same on every instance: take max, not sum)."


class Metrics:
    """Everything ``/metrics`` exposes; the service and dispatcher report into it."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.registry = CollectorRegistry(auto_describe=True)
        self.role = Gauge(
            "dockwatch_role",
            "1 for this instance's role (poller: polls LL2; standby: delivers and waits to take over).",
            ["instance", "role"],
            registry=self.registry,
        )
        self.polls = Counter(
            "dockwatch_polls",
            "Poll cycles this instance ran, by result.",
            ["instance", "result"],
            registry=self.registry,
        )
        self.ll2_calls = Counter(
            "dockwatch_ll2_calls",
            "Requests this instance sent to LL2 that count against the budget.",
            ["instance"],
            registry=self.registry,
        )
        self.budget_remaining = Gauge(
            "dockwatch_ll2_budget_remaining",
            f"LL2 calls left in the rolling hour. {DATABASE_WIDE}",
            ["scope"],
            registry=self.registry,
        )
        self.delivery_queue = Gauge(
            "dockwatch_delivery_queue",
            f"Deliveries waiting (queued), being sent (sending) and dead-lettered (dead). {DATABASE_WIDE}",
            ["scope", "status"],
            registry=self.registry,
        )
        self.platform_up = Gauge(
            "dockwatch_platform_up",
            "1 while a configured platform is running in this instance, 0 while it cannot start.",
            ["instance", "platform"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "dockwatch_notifications",
            "Notifications this instance recorded and announced, by type.",
            ["instance", "type"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "dockwatch_deliveries",
            "Delivery attempts this instance made, by outcome (delivered, retrying, dead) and notifier.",
            ["instance", "status", "notifier"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "dockwatch_delivery_latency_seconds",
            "From a notification being recorded to its delivery by this instance.",
            ["instance", "notifier"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
            registry=self.registry,
        )
        self.set_role("standby")
        self.ll2_calls.labels(instance=instance)  # present at 0 from the start, like the role

    def set_role(self, role: str) -> None:
        for each in ROLES:
            self.role.labels(instance=self.instance, role=each).set(1 if each == role else 0)

    def count_poll(self, result: str) -> None:
        self.polls.labels(instance=self.instance, result=result).inc()

    def count_ll2_call(self) -> None:
        self.ll2_calls.labels(instance=self.instance).inc()

    def count_notification(self, kind: str) -> None:
        self.notifications.labels(instance=self.instance, type=kind).inc()

    def set_platform_up(self, platform: str, up: bool) -> None:
        self.platform_up.labels(instance=self.instance, platform=platform).set(1 if up else 0)

    def set_budget_remaining(self, calls: int) -> None:
        self.budget_remaining.labels(scope="database").set(calls)

    def set_delivery_queue(self, counts: Mapping[str, int]) -> None:
        for status in QUEUE_STATUSES:
            self.delivery_queue.labels(scope="database", status=status).set(counts.get(status, 0))

    def observe_delivery(
        self, delivery: DueDelivery, outcome: str, notifier: str, latency: float | None
    ) -> None:
        self.deliveries.labels(instance=self.instance, status=outcome, notifier=notifier).inc()
        if outcome == "delivered" and latency is not None:
            self.delivery_latency.labels(instance=self.instance, notifier=notifier).observe(max(0.0, latency))

    def render(self) -> bytes:
        return generate_latest(self.registry)
