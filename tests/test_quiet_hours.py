"""Quiet hours: a daily span of a target's wall clock, across midnight and through DST changes.

Times in the tables are UTC instants; the comments say what the target's clock reads then.
Europe/Berlin 2026: spring forward on 29 March at 01:00 UTC (02:00 CET -> 03:00 CEST), fall back on
25 October at 01:00 UTC (03:00 CEST -> 02:00 CET, the hour from 02:00 repeated).
America/New_York 2026: spring forward on 8 March at 07:00 UTC (02:00 EST -> 03:00 EDT), fall back on
1 November at 06:00 UTC (02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dockwatch.bot.preferences import Preferences, QuietHours

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    """A UTC instant written ``2026-03-29 00:30``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "zone", "moment", "quiet"),
    [
        ("22:00-07:00", UTC, "2026-01-01 21:59", False),
        ("22:00-07:00", UTC, "2026-01-01 22:00", True),  # the start belongs to the span
        ("22:00-07:00", UTC, "2026-01-01 23:59", True),
        ("22:00-07:00", UTC, "2026-01-02 00:00", True),  # across midnight
        ("22:00-07:00", UTC, "2026-01-02 06:59", True),
        ("22:00-07:00", UTC, "2026-01-02 07:00", False),  # the end does not
        ("22:00-07:00", UTC, "2026-01-02 12:00", False),
        ("09:00-17:00", UTC, "2026-01-01 08:59", False),
        ("09:00-17:00", UTC, "2026-01-01 09:00", True),
        ("09:00-17:00", UTC, "2026-01-01 16:59", True),
        ("09:00-17:00", UTC, "2026-01-01 17:00", False),
        ("22:00-07:00", BERLIN, "2026-01-01 21:30", True),  # 22:30 CET
        ("22:00-07:00", BERLIN, "2026-01-01 20:30", False),  # 21:30 CET
        ("22:00-07:00", BERLIN, "2026-07-01 20:30", True),  # 22:30 CEST
        ("22:00-07:00", BERLIN, "2026-01-02 05:30", True),  # 06:30 CET
        ("22:00-07:00", BERLIN, "2026-01-02 06:00", False),  # 07:00 CET
        ("22:00-07:00", BERLIN, "2026-07-02 05:00", False),  # 07:00 CEST
        ("01:00-02:30", BERLIN, "2026-03-29 00:59", True),  # 01:59 CET, a minute before the jump
        ("01:00-02:30", BERLIN, "2026-03-29 01:00", False),  # 03:00 CEST: the end was skipped
        ("22:00-02:30", BERLIN, "2026-10-25 00:15", True),  # 02:15 CEST
        ("22:00-02:30", BERLIN, "2026-10-25 00:30", False),  # 02:30 CEST
        ("22:00-02:30", BERLIN, "2026-10-25 00:45", False),  # 02:45 CEST
        ("22:00-02:30", BERLIN, "2026-10-25 01:15", True),  # 02:15 CET: the clock went back into it
        ("22:00-02:30", BERLIN, "2026-10-25 01:30", False),  # 02:30 CET
        ("22:00-07:00", NEW_YORK, "2026-03-07 11:59", True),  # 06:59 EST
        ("22:00-07:00", NEW_YORK, "2026-03-07 12:00", False),  # 07:00 EST
        ("22:00-07:00", NEW_YORK, "2026-03-08 10:59", True),  # 06:59 EDT
        ("22:00-07:00", NEW_YORK, "2026-03-08 11:00", False),  # 07:00 EDT
        ("22:00-07:00", NEW_YORK, "2026-11-01 02:00", True),  # 22:00 EDT, the evening before
        ("22:00-07:00", NEW_YORK, "2026-11-01 01:59", False),  # 21:59 EDT
    ],
)
def test_a_moment_is_quiet_when_the_targets_clock_reads_a_time_in_the_span(
    span: str, zone: ZoneInfo, moment: str, quiet: bool
) -> None:
    assert QuietHours.parse(span).contains(at(moment), zone) is quiet


@pytest.mark.parametrize(
    ("span", "zone", "moment", "end"),
    [
        ("22:00-07:00", UTC, "2026-01-01 23:00", "2026-01-02 07:00"),  # the next morning
        ("22:00-07:00", UTC, "2026-01-02 03:00", "2026-01-02 07:00"),  # the same morning
        ("22:00-07:00", UTC, "2026-01-01 22:00", "2026-01-02 07:00"),  # from the first minute
        ("09:00-17:00", UTC, "2026-01-01 09:00", "2026-01-01 17:00"),
        ("22:00-07:00", BERLIN, "2026-01-01 21:30", "2026-01-02 06:00"),  # 07:00 CET
        ("22:00-07:00", BERLIN, "2026-07-01 21:30", "2026-07-02 05:00"),  # 07:00 CEST
        ("22:00-07:00", BERLIN, "2026-03-28 22:00", "2026-03-29 05:00"),  # a night an hour short
        ("22:00-07:00", BERLIN, "2026-10-24 21:00", "2026-10-25 06:00"),  # a night an hour long
        # 02:30 never happens on 29 March: the span ends when the clock jumps past it (03:00 CEST).
        ("23:00-02:30", BERLIN, "2026-03-28 23:00", "2026-03-29 01:00"),
        ("23:00-02:30", BERLIN, "2026-03-29 00:59", "2026-03-29 01:00"),
        # 02:30 happens twice on 25 October: the span ends at the first, and the repeated half hour
        # before the second (02:00-02:30 CET) is quiet again, until that second 02:30.
        ("22:00-02:30", BERLIN, "2026-10-24 21:00", "2026-10-25 00:30"),
        ("22:00-02:30", BERLIN, "2026-10-25 01:00", "2026-10-25 01:30"),  # 02:00 CET
        ("22:00-02:30", BERLIN, "2026-10-25 01:15", "2026-10-25 01:30"),  # 02:15 CET
        ("22:00-02:30", NEW_YORK, "2026-03-08 04:00", "2026-03-08 07:00"),  # 02:30 EST is skipped
        ("22:00-01:30", NEW_YORK, "2026-11-01 03:00", "2026-11-01 05:30"),  # 01:30 EDT
        ("22:00-01:30", NEW_YORK, "2026-11-01 06:10", "2026-11-01 06:30"),  # 01:10 EST -> 01:30 EST
    ],
)
def test_a_span_ends_at_the_first_instant_its_clock_reads_the_end_again(
    span: str, zone: ZoneInfo, moment: str, end: str
) -> None:
    assert QuietHours.parse(span).ends_after(at(moment), zone) == at(end)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]
"""Lord Howe moves its clocks by half an hour; Santiago changes at midnight."""


@given(
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    start=st.integers(0, 24 * 4 - 1),
    length=st.integers(1, 24 * 4 - 1),
    minute=st.integers(0, 366 * 24 * 60),
)
@example(zone=BERLIN, start=88, length=18, minute=427_755)  # 22:00-02:30, at 02:15 CET on 25 October
@example(zone=NEW_YORK, start=88, length=14, minute=438_130)  # 22:00-01:30, at 01:10 EST on 1 November
@example(zone=BERLIN, start=12, length=92, minute=123_960)  # 03:00-02:00: the spring gap swallows 02:00
def test_a_span_is_quiet_from_any_of_its_moments_until_the_end_it_names_and_no_longer(
    zone: ZoneInfo, start: int, length: int, minute: int
) -> None:
    """Spans on the quarter hour; moments on the minute, any day of 2026."""
    first, last = start * 15, (start + length) * 15 % (24 * 60)
    quiet = QuietHours(time(first // 60, first % 60), time(last // 60, last % 60))
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    if not quiet.contains(moment, zone):
        return
    end = quiet.ends_after(moment, zone)

    assert end > moment
    assert not quiet.contains(end, zone)
    assert quiet.contains(end - timedelta(seconds=1), zone)
    assert all(
        quiet.contains(moment + timedelta(minutes=m), zone)
        for m in range(0, int((end - moment).total_seconds() // 60))
    )


@pytest.mark.parametrize(
    ("text", "start", "end", "digest"),
    [
        ("22:00-07:00", time(22), time(7), False),
        ("22:00-07:00 digest", time(22), time(7), True),
        ("22:00-07:00 DIGEST", time(22), time(7), True),
        (" 7:30 - 9:05 ", time(7, 30), time(9, 5), False),
        ("00:00-20:00", time(0), time(20), False),
    ],
)
def test_a_span_is_written_hh_mm_hh_mm_and_may_ask_for_a_digest(
    text: str, start: time, end: time, digest: bool
) -> None:
    assert QuietHours.parse(text) == QuietHours(start, end, digest)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:00-07:00", "hours are 0-23"),
        ("22:00-07:60", "minutes 0-59"),
        ("22:00-22:00", "the span is empty"),
        ("00:00-23:59", "at most 20 hours"),
        ("03:00-02:00 digest", "at most 20 hours"),
        ("22-07", "HH:MM-HH:MM"),
        ("22:00", "HH:MM-HH:MM"),
        ("22:00-07:00 loud", "HH:MM-HH:MM"),
        ("22:00-07:00digest", "HH:MM-HH:MM"),
        ("", "HH:MM-HH:MM"),
    ],
)
def test_a_span_that_cannot_be_read_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        QuietHours.parse(text)


@pytest.mark.parametrize("text", ["22:00-07:00", "22:00-07:00 digest", "07:05-09:00"])
def test_a_span_is_shown_as_it_is_parsed(text: str) -> None:
    assert str(QuietHours.parse(text)) == text


@pytest.mark.parametrize(
    ("timezone", "moment", "quiet"),
    [
        (None, "2026-01-01 22:30", True),  # no zone: UTC
        ("Europe/Berlin", "2026-01-01 21:30", True),  # 22:30 CET
        ("America/New_York", "2026-01-01 21:30", False),  # 16:30 EST
        ("Mars/Olympus_Mons", "2026-01-01 22:30", True),  # a zone this system does not know: UTC
    ],
)
def test_a_targets_quiet_hours_are_read_on_its_own_clock(
    timezone: str | None, moment: str, quiet: bool
) -> None:
    preferences = Preferences(quiet=QuietHours.parse("22:00-07:00"), timezone=timezone)

    assert preferences.is_quiet(at(moment)) is quiet


def test_a_target_without_quiet_hours_is_never_quiet() -> None:
    assert not Preferences(timezone="Europe/Berlin").is_quiet(at("2026-01-01 23:00"))
