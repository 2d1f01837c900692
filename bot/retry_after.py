"""``Retry-After`` as RFC 9110 defines it: delta-seconds or an HTTP-date, and nothing else.

Receivers and LL2 both send it; what they send is a claim to check. Anything that is neither form
(``inf``, ``1e12``, ``-5``, garbage) is treated as absent, and every answer is capped by the
caller's ``longest`` so no delay can overflow a ``datetime`` or park work for years.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DELTA_SECONDS = re.compile(r"\s*(\d+)\s*")


def parse_retry_after(value: str | None, now: datetime, *, longest: timedelta) -> timedelta | None:
    """The wait ``value`` asks for, between zero and ``longest``; ``None`` when it says nothing usable."""
    if value is None:
        return None
    if match := _DELTA_SECONDS.fullmatch(value):
        digits = match.group(1)
        # A 20-digit number is a claim, not a reason to overflow: anything past ``longest`` is ``longest``.
        seconds = int(digits) if len(digits) <= 12 else None
        return longest if seconds is None else min(timedelta(seconds=seconds), longest)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 9110's IMF-fixdate is GMT; an obsolete form may lack a zone
        moment = moment.replace(tzinfo=UTC)
    return max(timedelta(0), min(moment - now, longest))
