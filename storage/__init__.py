"""The state store (SQLModel): SQLite by default, PostgreSQL when one machine is not enough."""

from dockwatch.storage.leases import Lease
from dockwatch.storage.store import ApiReservation, DueDelivery, RecordedCycle, Store, TargetInfo, TargetMove

__all__ = ["ApiReservation", "DueDelivery", "Lease", "RecordedCycle", "Store", "TargetInfo", "TargetMove"]
