"""The state store (SQLModel): SQLite by default, PostgreSQL when one machine is not enough."""

from dockwatch.storage.store import DueDelivery, RecordedCycle, Store, TargetInfo, TargetMove

__all__ = ["DueDelivery", "RecordedCycle", "Store", "TargetInfo", "TargetMove"]
