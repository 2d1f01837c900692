"""The state store (SQLModel): SQLite by default, PostgreSQL when one machine is not enough."""

from dockwatch.storage.leases import Lease
from dockwatch.storage.store import (
    UNSET,
    ApiReservation,
    DueDelivery,
    RecordedCycle,
    Store,
    TargetInfo,
    TargetMove,
)

__all__ = [
    "UNSET",
    "ApiReservation",
    "DueDelivery",
    "Lease",
    "RecordedCycle",
    "Store",
    "TargetInfo",
    "TargetMove",
]
