"""/calendar.ics and /feed.atom fetched from a running ``dockwatch run``, parsed with icalendar and
feedparser, and linked from its status page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
from icalendar import Calendar

from tests.builders import ll2_docking, ll2_event
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import StartRun, eventually


async def test_a_running_dockwatch_serves_its_calendar_and_feed_and_links_them(
    start_run: StartRun, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    planned = now + timedelta(days=3)
    fake_ll2.dockings.append(
        ll2_docking(5, docking=planned, port=(21, "Poisk zenith"), vehicle=(50, "Progress MS-33"))
    )
    fake_ll2.events = [
        ll2_event(
            1096,
            date=planned - timedelta(minutes=30),
            name="Progress MS-33 Docking",
            video_url="https://plus.nasa.gov/progress-93/",
        )
    ]
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline is recorded
    fake_ll2.dockings.append(
        ll2_docking(
            6, docking=now - timedelta(minutes=1), port=(1, "Unity nadir"), vehicle=(60, "Cygnus NG-24")
        )
    )
    await eventually(lambda: len(webhook_receiver.accepted) == 1)

    calendar_status, calendar_body = await running.get("/calendar.ics")
    feed_status, feed_body = await running.get("/feed.atom")
    page_status, page = await running.get("/")
    await running.stop()

    assert (calendar_status, feed_status, page_status) == (200, 200, 200)
    entries = {str(e["UID"]): e for e in Calendar.from_ical(calendar_body).walk("VEVENT")}
    assert set(entries) == {"docking-5@dockwatch", "docking-6@dockwatch", "event-1096@dockwatch"}
    ahead, happened = entries["docking-5@dockwatch"], entries["docking-6@dockwatch"]
    assert ahead["SUMMARY"] == "Progress MS-33 docks at ISS, Poisk zenith"
    assert (ahead.start, ahead["STATUS"], ahead["SEQUENCE"]) == (planned, "TENTATIVE", 0)
    assert ahead["URL"] == "https://plus.nasa.gov/progress-93/"
    assert (happened["SUMMARY"], happened["STATUS"]) == (
        "Cygnus NG-24 docks at ISS, Unity nadir",
        "CONFIRMED",
    )
    feed = feedparser.parse(feed_body)
    assert not feed.bozo
    assert [(e.id, e.title) for e in feed.entries] == [
        ("tag:dockwatch,2026:docked:6", "Cygnus NG-24 docked at International Space Station")
    ]
    assert "href=calendar.ics" in page and "href=feed.atom" in page
    assert "Subscribe in your calendar" in page
