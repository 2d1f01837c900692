"""Fewer malloc arenas for the long-running ``dockwatch run``: its memory follows what it holds.

glibc gives threads malloc arenas of their own, up to eight per core, to spare them waiting for one
another's lock. ``run`` has a few threads that allocate (aiosqlite's one per database connection,
the event loop's executor for name lookups), and what they free inside an arena stays with that
arena: a fan-out to 10,000 chats left 35-40 MB free yet resident in arenas (``mallinfo2``), a fifth
of the process. Two arenas keep that free memory reusable by every thread; SQLite's work runs
outside the GIL but is short, so the lock they share is rarely waited for. (``MALLOC_ARENA_MAX=2``
in the environment does the same; the systemd unit need not know about it.)
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""``mallopt`` parameter number, from glibc's ``malloc.h``."""
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether it did. Call it before threads start: an
    arena made before stays. Nothing on another C library (musl, macOS), nor when the environment
    already sets ``MALLOC_ARENA_MAX``, which glibc read at start and which wins."""
    if "MALLOC_ARENA_MAX" in os.environ or _glibc_version() is None:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, arenas))
    if not applied:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return applied


def _glibc_version() -> str | None:
    """``glibc 2.36`` on glibc, ``None`` on any other C library or system."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
