"""Platforms: each one module exporting one ``Platform``, found through the entry-point group
``dockwatch.platforms``.

The built-in platforms (webhook, discord, telegram, console) register there too, in this
project's ``pyproject.toml``, so the path a third-party plugin takes is the path every platform
takes. Loading a platform imports its module only, never its SDK.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib.metadata import entry_points

from dockwatch.bot.errors import ConfigError
from dockwatch.notifiers.base import (
    ENTRY_POINT_GROUP,
    DigestingNotifier,
    EditingNotifier,
    FrontEnd,
    MovablePlatform,
    Notifier,
    Platform,
    PlatformContext,
    Target,
)

NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""Platform names prefix target keys (``<name>:...``), matched case-sensitively: no ``:`` in them."""
RESERVED_TABLES = frozenset({"api", "storage", "detect", "poll", "run", "web"})


@functools.cache
def platforms() -> Mapping[str, Platform]:
    """Every installed platform by config table name, in a stable order."""
    found: dict[str, Platform] = {}
    names: set[str] = set()
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            platform: Platform = entry.load()
        except Exception as error:  # a broken plugin is named in one line, not a traceback
            raise ConfigError(
                f"platform plugin {entry.name!r} ({entry.value}) cannot be loaded: "
                f"{type(error).__name__}: {error}"
            ) from None
        for attribute in ("name", "table", "many", "settings_model", "targets", "describe", "notifier"):
            if not hasattr(platform, attribute):
                raise ConfigError(f"platform plugin {entry.name!r} ({entry.value}) has no {attribute!r}")
        if not NAME.fullmatch(platform.name) or not NAME.fullmatch(platform.table):
            raise ConfigError(
                f"platform plugin {entry.name!r}: name {platform.name!r} and table {platform.table!r} "
                "must be lower-case letters, digits, '_' or '-'"
            )
        if platform.table in RESERVED_TABLES or platform.table in found or platform.name in names:
            raise ConfigError(
                f"platform plugin {entry.name!r}: table [{platform.table}] or name {platform.name!r} is taken"
            )
        found[platform.table] = platform
        names.add(platform.name)
    return found


__all__ = [
    "ENTRY_POINT_GROUP",
    "DigestingNotifier",
    "EditingNotifier",
    "FrontEnd",
    "MovablePlatform",
    "Notifier",
    "Platform",
    "PlatformContext",
    "Target",
    "platforms",
]
