"""Targets that changed address, as the store and ``storage/peek.py`` both hand them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TargetMove:
    """A target that changed address (a group that became a supergroup): ``old_key`` is sent to as
    ``new_key``, its newest address, since ``moved_at``."""

    old_key: str
    new_key: str
    moved_at: datetime
