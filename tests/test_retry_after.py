"""``Retry-After`` values from receivers and LL2, the sane and the hostile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockwatch.bot.retry_after import parse_retry_after

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("7200", HOUR),  # capped
        ("1" * 20, HOUR),  # 20 digits: no overflow
        ("Sun, 22 Nov 2026 12:05:00 GMT", timedelta(minutes=5)),
        ("Sun, 22 Nov 2026 11:00:00 GMT", timedelta(0)),  # already past
        ("Fri, 31 Dec 9999 23:59:59 GMT", HOUR),
        ("inf", None),
        ("1e12", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_retry_after_is_delta_seconds_or_an_http_date_capped_and_anything_else_is_absent(
    value: str | None, expected: timedelta | None
) -> None:
    assert parse_retry_after(value, NOW, longest=HOUR) == expected
