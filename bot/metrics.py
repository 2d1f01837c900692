"""Prometheus metrics for ``dockwatch run``, in a registry of their own (no process globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from dockwatch.storage import DueDelivery


class Metrics:
    """Everything ``/metrics`` exposes; the service and dispatcher report into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter("dockwatch_polls", "Poll cycles by result.", ["result"], registry=self.registry)
        self.ll2_calls = Counter(
            "dockwatch_ll2_calls", "Requests to LL2 that count against the budget.", registry=self.registry
        )
        self.budget_remaining = Gauge(
            "dockwatch_ll2_budget_remaining", "LL2 calls left in the rolling hour.", registry=self.registry
        )
        self.platform_up = Gauge(
            "dockwatch_platform_up",
            "1 while a configured platform is running, 0 while it cannot start.",
            ["platform"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "dockwatch_notifications", "Notifications announced, by type.", ["type"], registry=self.registry
        )
        self.deliveries = Counter(
            "dockwatch_deliveries",
            "Delivery attempts by outcome (delivered, retrying, dead) and notifier.",
            ["status", "notifier"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "dockwatch_delivery_latency_seconds",
            "From a notification being recorded to its delivery.",
            ["notifier"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
            registry=self.registry,
        )

    def observe_delivery(
        self, delivery: DueDelivery, outcome: str, notifier: str, latency: float | None
    ) -> None:
        self.deliveries.labels(status=outcome, notifier=notifier).inc()
        if outcome == "delivered" and latency is not None:
            self.delivery_latency.labels(notifier=notifier).observe(max(0.0, latency))

    def render(self) -> bytes:
        return generate_latest(self.registry)
