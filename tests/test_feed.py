"""/feed.atom: the latest announcements as Atom 1.0, read back with feedparser.

The pure specs build the feed from recorded messages (real detection output from the builders); the
HTTP spec serves the real web app on the test clock after a cycle against the fake LL2.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import feedparser
import pytest

from dockwatch.bot.config import Config
from dockwatch.bot.feed import Announcement, build_feed, entry_id
from dockwatch.bot.metrics import Metrics
from dockwatch.bot.model import ChangeKind, Message, Revision, SubscriptionFilter
from dockwatch.bot.pipeline import run_cycle
from dockwatch.bot.runtime import Runtime
from dockwatch.bot.service import Service
from dockwatch.bot.web import create_web_app
from tests.builders import correction_of, ll2_docking, messages_of_every_kind
from tests.conftest import Clock, serving
from tests.fakes.ll2 import FakeLL2

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LL2 = "https://ll.test/2.3.0"
HOME = "http://dockwatch.test/"
MESSAGES = messages_of_every_kind()
DOCKED = MESSAGES[ChangeKind.DOCKED]  # Cygnus NG-23 at the ISS, docking record 1
WEBCAST = MESSAGES[ChangeKind.WEBCAST_STARTED]  # event 9, live on YouTube, at the ISS


def recorded(*messages: Message) -> list[Announcement]:
    """Announcements as the store hands them: newest first, a minute apart."""
    return [Announcement(NOW - i * MINUTE, message) for i, message in enumerate(messages)]


def feed(
    announcements: Sequence[Announcement], *, wanted: SubscriptionFilter | None = None, now: datetime = NOW
) -> Any:
    body = build_feed(
        announcements, now=now, ll2_base=LL2, self_url=HOME + "feed.atom", home_url=HOME, wanted=wanted
    )
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    return parsed


def at_iss(message: Message, station: str) -> Message:
    assert message.station is not None
    return message.model_copy(update={"station": message.station.model_copy(update={"name": station})})


def test_an_entry_s_id_is_a_tag_uri_from_its_notification_key_whatever_the_request() -> None:
    first = feed(recorded(DOCKED)).entries[0].id
    later = feed(recorded(WEBCAST, DOCKED), now=NOW + timedelta(hours=1)).entries[1].id

    assert first == later == "tag:dockwatch,2026:docked:1"


def test_a_revision_s_hash_is_escaped_so_the_id_stays_one_iri() -> None:
    assert entry_id("docked:630#2") == "tag:dockwatch,2026:docked:630%232"


def test_titles_are_the_headlines_every_platform_shows() -> None:
    entries = feed(recorded(DOCKED, WEBCAST)).entries

    assert [e.title for e in entries] == [
        "Cygnus NG-23 docked at International Space Station",
        "Webcast live: Crew-12 Docking",
    ]


def test_a_correction_is_an_entry_of_its_own_saying_what_is_true_now() -> None:
    correction = correction_of(DOCKED, Revision.WITHDRAWN, None)

    entries = feed(recorded(correction, DOCKED)).entries

    assert [e.id for e in entries] == [
        "tag:dockwatch,2026:correction:1:docked:1",
        "tag:dockwatch,2026:docked:1",
    ]
    assert entries[0].title == "Correction: Cygnus NG-23 has not docked at International Space Station yet"
    assert entries[0].content[0].value.startswith("LL2 no longer gives a time for it.")


def test_the_content_is_the_details_every_platform_shows() -> None:
    content = feed(recorded(DOCKED)).entries[0].content[0]

    assert content.type == "text/plain"
    assert content.value.splitlines()[:3] == [
        "Station: International Space Station",
        "Port: Harmony zenith",
        "Vehicle: Cygnus NG-23",
    ]


def test_reminders_and_test_messages_are_no_news_for_the_feed() -> None:
    kinds = [
        ChangeKind.DOCKING_REMINDER,
        ChangeKind.DEPARTURE_REMINDER,
        ChangeKind.EVENT_REMINDER,
        ChangeKind.TEST,
        ChangeKind.DOCKED,
    ]

    entries = feed(recorded(*(MESSAGES[kind] for kind in kinds))).entries

    assert [e.id for e in entries] == ["tag:dockwatch,2026:docked:1"]


def test_the_newest_50_come_first() -> None:
    many = [DOCKED.model_copy(update={"key": f"docked:{n}"}) for n in range(60, 0, -1)]

    entries = feed(recorded(*many)).entries

    assert len(entries) == 50
    assert [e.id for e in entries[:2]] == ["tag:dockwatch,2026:docked:60", "tag:dockwatch,2026:docked:59"]
    assert entries[-1].id == "tag:dockwatch,2026:docked:11"


@pytest.mark.parametrize(
    ("wanted", "kinds"),
    [
        (
            SubscriptionFilter(),
            {"docking.docked", "docking.departed", "docking.relocated", "event.webcast_started"},
        ),
        (
            SubscriptionFilter(frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED})),
            {"docking.docked", "docking.departed"},
        ),
        (SubscriptionFilter(frozenset({ChangeKind.WEBCAST_STARTED})), {"event.webcast_started"}),
        (SubscriptionFilter(stations=frozenset({"tiangong"})), set()),
        (
            SubscriptionFilter(stations=frozenset({"iss"})),
            {"docking.docked", "docking.departed", "docking.relocated", "event.webcast_started"},
        ),
    ],
    ids=["everything", "docked-and-departed", "webcast", "tiangong", "iss"],
)
def test_the_filters_are_those_of_a_subscription(wanted: SubscriptionFilter, kinds: set[str]) -> None:
    kinds_seen = [ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.RELOCATED, ChangeKind.WEBCAST_STARTED]

    entries = feed(recorded(*(MESSAGES[kind] for kind in kinds_seen)), wanted=wanted).entries

    assert {e.tags[0].term for e in entries} == kinds


def test_the_station_filter_reads_the_station_of_each_message() -> None:
    tiangong = at_iss(DOCKED.model_copy(update={"key": "docked:2"}), "Tiangong space station")

    entries = feed(
        recorded(tiangong, DOCKED), wanted=SubscriptionFilter(stations=frozenset({"tiangong"}))
    ).entries

    assert [e.id for e in entries] == ["tag:dockwatch,2026:docked:2"]


def test_an_entry_links_its_webcast_else_its_ll2_record() -> None:
    entries = feed(recorded(WEBCAST, DOCKED)).entries

    assert entries[0].link == "https://www.youtube.com/watch?v=test"
    assert entries[1].link == f"{LL2}/docking_events/1/"


def test_a_webcast_url_that_is_no_clean_http_link_is_not_linked() -> None:
    odd = WEBCAST.model_copy(update={"webcast_url": "javascript:alert(1)\n"})

    (entry,) = feed(recorded(odd)).entries

    assert entry.link == f"{LL2}/events/{WEBCAST.event_id}/"


def test_an_entry_is_updated_when_recorded_and_the_feed_when_its_newest_entry_was() -> None:
    parsed = feed(recorded(WEBCAST, DOCKED), now=NOW + timedelta(hours=3))

    assert [e.updated_parsed[:6] for e in parsed.entries] == [
        NOW.timetuple()[:6],
        (NOW - MINUTE).timetuple()[:6],
    ]
    assert parsed.feed.updated_parsed[:6] == NOW.timetuple()[:6]


def test_an_empty_feed_is_updated_now() -> None:
    parsed = feed([], now=NOW + timedelta(hours=3))

    assert parsed.entries == []
    assert parsed.feed.updated_parsed[:6] == (NOW + timedelta(hours=3)).timetuple()[:6]


def test_a_filtered_feed_has_an_id_of_its_own_whatever_the_order_it_was_asked_in() -> None:
    one = SubscriptionFilter(frozenset({ChangeKind.DOCKED, ChangeKind.DEPARTED}), frozenset({"iss"}))

    assert feed([]).feed.id == "tag:dockwatch,2026:feed"
    assert feed([], wanted=one).feed.id == "tag:dockwatch,2026:feed?kinds=departed,docked&station=iss"


def test_control_characters_from_ll2_never_break_the_xml() -> None:
    assert DOCKED.vehicle is not None
    odd = DOCKED.model_copy(
        update={"vehicle": DOCKED.vehicle.model_copy(update={"name": "Cygnus\x00 NG-\x0b23"})}
    )

    assert feed(recorded(odd)).entries[0].title == "Cygnus NG-23 docked at International Space Station"


async def test_the_feed_is_served_as_atom_with_what_was_announced(
    app: Runtime, config: Config, fake_ll2: FakeLL2, clock: Clock
) -> None:
    fake_ll2.dockings = [ll2_docking(1, docking=clock.now - timedelta(days=3), vehicle=(10, "Cygnus NG-22"))]
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))  # the baseline
    clock.advance(timedelta(minutes=10))
    fake_ll2.dockings.append(ll2_docking(630, docking=clock.now - MINUTE, vehicle=(77, "Progress MS-33")))
    await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))

    async with (
        serving(create_web_app(Service(app, config, Metrics("test")), app, config)) as server,
        aiohttp.ClientSession() as http,
        http.get(server.make_url("/feed.atom")) as response,
    ):
        content_type, body = response.headers["Content-Type"], await response.read()

    parsed = feedparser.parse(body)
    assert content_type == "application/atom+xml; charset=utf-8"
    assert [(e.id, e.title) for e in parsed.entries] == [
        ("tag:dockwatch,2026:docked:630", "Progress MS-33 docked at International Space Station")
    ]
    assert parsed.entries[0].link == f"{config.api.base_url}/docking_events/630/"
