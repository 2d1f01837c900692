"""The state store (SQLModel): SQLite by default, PostgreSQL when one machine is not enough.

The names below load on first use, not with the package: ``dockwatch.storage.engine`` is enough to
tell whether a SQLite file exists, and `check-config` on a new database must not pay for SQLModel
and alembic to learn that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockwatch.storage.leases import Lease
    from dockwatch.storage.moves import TargetMove
    from dockwatch.storage.store import (
        UNSET,
        ApiReservation,
        DueDelivery,
        RecordedCycle,
        Store,
        TargetInfo,
    )

_HOMES = {
    "Lease": "leases",
    "UNSET": "store",
    "ApiReservation": "store",
    "DueDelivery": "store",
    "RecordedCycle": "store",
    "Store": "store",
    "TargetInfo": "store",
    "TargetMove": "moves",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
