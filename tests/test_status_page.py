"""The status page: rendered by ``dockwatch run`` and looked at in a real headless Chromium."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from dockwatch.bot.model import DockingRecord, Party, Port, Station
from dockwatch.bot.status_page import StatusView, render_status_page, render_timeline
from tests.builders import ll2_docking, ll2_event
from tests.fakes.ll2 import FakeLL2
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.service_harness import StartRun, eventually

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ISS = Station(4, "International Space Station")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def stay(
    record_id: int, port: str, vehicle: str, docked_days_ago: float, left_days_ago: float | None
) -> DockingRecord:
    return DockingRecord(
        record_id,
        NOW - timedelta(days=docked_days_ago),
        None if left_days_ago is None else NOW - timedelta(days=left_days_ago),
        Port(record_id, port),
        ISS,
        Party("spacecraft_flight", record_id, vehicle),
        None,
    )


def test_the_timeline_draws_one_bar_per_stay_in_the_last_90_days() -> None:
    records = [
        stay(1, "Harmony zenith", "Cargo Dragon C209", 40, 10),
        stay(2, "Harmony zenith", "Crew Dragon Grace", 8, None),
        stay(3, "Zvezda aft", "Progress MS-32", 120, 30),
        stay(4, "Unity nadir", "Cygnus NG-23", 200, 100),
    ]

    svg = render_timeline(records, NOW)

    assert svg.count("<rect") == 3
    assert "Cygnus NG-23" not in svg
    assert svg.count("ISS · Harmony zenith") == 1 and "ISS · Zvezda aft" in svg


def test_a_stay_that_began_before_the_window_is_clipped_at_its_left_edge() -> None:
    svg = render_timeline([stay(3, "Zvezda aft", "Progress MS-32", 120, 30)], NOW)

    assert '<rect x="230.0"' in svg


def test_planned_stays_are_not_drawn_as_history() -> None:
    future = DockingRecord(9, NOW + timedelta(days=2), None, Port(9, "Rassvet"), ISS, None, None)

    assert "<rect" not in render_timeline([future], NOW)


def test_the_page_links_the_calendar_and_the_feed_with_a_hint_to_subscribe() -> None:
    view = StatusView(NOW, True, None, "", None, 15, 15, docked=[], upcoming=[], notifications=[], targets=[])

    page = render_status_page(view)

    assert "<a href=calendar.ics>" in page and "<a href=feed.atom>" in page
    assert "Subscribe in your calendar" in page
    assert '<link rel=alternate type="application/atom+xml"' in page  # how feed readers find it


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is needed for this test; the README's test command installs it (apt: chromium)")
    return found


async def browse(url: str, tmp_path: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0
    return out.decode()


async def test_the_status_page_renders_in_a_real_browser(
    start_run: StartRun,
    fake_ll2: FakeLL2,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    days = timedelta(days=1)
    fake_ll2.dockings = [
        ll2_docking(5, docking=now + 3 * days, port=(21, "Harmony nadir"), vehicle=(50, "HTV-X2")),
        ll2_docking(
            4, docking=now - 20 * days, port=(30, "Harmony zenith"), vehicle=(40, "Crew Dragon Grace")
        ),
        ll2_docking(3, docking=now - 45 * days, port=(2, "Zvezda aft"), vehicle=(30, "Progress MS-32")),
        ll2_docking(
            2,
            docking=now - 80 * days,
            departure=now - 25 * days,
            port=(30, "Harmony zenith"),
            vehicle=(20, "Cargo Dragon C209"),
        ),
        ll2_docking(
            1,
            docking=now - 150 * days,
            departure=now - 60 * days,
            port=(1, "Unity nadir"),
            vehicle=(10, "Cygnus NG-23"),
        ),
    ]
    fake_ll2.events = [ll2_event(77, date=now + 2 * days, name="Crew-12 Docking")]
    running = await start_run(fake_ll2, [webhook_receiver])
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)
    fake_ll2.dockings.insert(
        0,
        ll2_docking(
            6, docking=now - timedelta(minutes=1), port=(1, "Unity nadir"), vehicle=(60, "Cygnus NG-24")
        ),
    )
    await eventually(lambda: len(webhook_receiver.accepted) == 1)

    dom = await browse(running.base + "/", tmp_path, "--dump-dom")
    await browse(running.base + "/", tmp_path, "--window-size=1400,1000", "--screenshot=status.png")
    await running.stop()

    assert "<h2>Docked now</h2>" in dom
    for text in (
        "Crew Dragon Grace",
        "Progress MS-32",
        "Cygnus NG-24",
        "20 days",
        "HTV-X2",
        "Crew-12 Docking",
    ):
        assert text in dom
    assert "Cygnus NG-24 docked at International Space Station" in dom  # the latest notification
    assert dom.count("<rect") == 5  # every stay overlapping the last 90 days; NG-23 is clipped
    assert "healthy" in dom
    screenshot = Image.open(tmp_path / "status.png").convert("RGB")
    assert screenshot.size == (1400, 1000)
    colours = screenshot.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 100  # text, badges and timeline bars, not a blank page
    shutil.copy(tmp_path / "status.png", Path(__file__).parent / "artifacts" / "status.png")
