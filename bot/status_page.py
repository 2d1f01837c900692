"""The status page: plain server-rendered HTML and an SVG occupancy timeline, no JavaScript.

Rendering is a pure function of ``StatusView`` (gathered by ``bot/web.py``), so it is tested
without a server and looked at in a real browser by the end-to-end test.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from importlib import resources

from dockwatch.bot.calendar import AHEAD, PAST
from dockwatch.bot.durations import humanize
from dockwatch.bot.feed import LIMIT
from dockwatch.bot.model import DockingRecord, Message
from dockwatch.bot.subscriptions import Upcoming
from dockwatch.notifiers.text import headline

TIMELINE_DAYS = 90


@dataclass(frozen=True)
class TargetHealth:
    key: str
    label: str
    enabled: bool
    note: str | None
    counts: dict[str, int]


@dataclass(frozen=True)
class StatusView:
    now: datetime
    healthy: bool
    last_poll_at: datetime | None
    last_result: str
    next_poll_at: datetime | None
    budget_left: int
    budget_per_hour: int
    docked: list[DockingRecord]
    upcoming: list[Upcoming]
    notifications: list[tuple[datetime, Message]]
    targets: list[TargetHealth]
    history: list[DockingRecord] = field(default_factory=list)


_STYLE = resources.files("dockwatch.bot").joinpath("static", "status.css").read_text(encoding="utf-8")


def render_status_page(view: StatusView) -> str:
    sections = [
        _docked_section(view),
        _upcoming_section(view),
        _timeline_section(view),
        _notifications_section(view),
        _targets_section(view),
        _subscribe_section(),
    ]
    badge = (
        '<span class="badge ok">healthy</span>' if view.healthy else '<span class="badge bad">stale</span>'
    )
    last = (
        f"last poll {_when(view.last_poll_at, view.now)}: {escape(view.last_result)}"
        if view.last_poll_at
        else "not polled yet"
    )
    following = f" · next poll {_when(view.next_poll_at, view.now)}" if view.next_poll_at else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta http-equiv=refresh content="60">'
        '<link rel=alternate type="application/atom+xml" title="dockwatch announcements" href="feed.atom">'
        f"<title>dockwatch</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>dockwatch</h1>{badge}<span class=muted>{last}{following} · "
        f"LL2 budget {view.budget_left}/{view.budget_per_hour} calls left this hour</span></header>"
        f"<main>{''.join(sections)}</main></body></html>"
    )


def _docked_section(view: StatusView) -> str:
    rows: list[str] = []
    by_place: dict[str, list[DockingRecord]] = defaultdict(list)
    for record in view.docked:
        by_place[record.where].append(record)
    for place in sorted(by_place):
        rows.append(f"<tr><td colspan=3 class=station>{escape(place)}</td></tr>")
        for record in sorted(by_place[place], key=lambda r: r.port.name):
            since = record.docking or view.now
            rows.append(
                f"<tr><td>{escape(record.port.name)}</td><td>{escape(record.vehicle_name)}</td>"
                f"<td title='{since:%Y-%m-%d %H:%M} UTC'>{humanize(view.now - since)}</td></tr>"
            )
    body = "".join(rows) or "<tr><td class=muted>Nothing docked, or nothing polled yet.</td></tr>"
    return (
        "<section id=docked><h2>Docked now</h2><table>"
        f"<tr><th>Port</th><th>Vehicle</th><th>Docked for</th></tr>{body}</table></section>"
    )


def _upcoming_section(view: StatusView) -> str:
    rows = "".join(
        f"<tr><td>{item.at:%a %d %b %H:%M} UTC<br><span class=muted>{_in(item.at - view.now)}</span></td>"
        f"<td><span class=kind>{escape(item.what)}</span></td><td>{escape(item.text)}</td></tr>"
        for item in view.upcoming
    )
    body = rows or "<tr><td class=muted>Nothing planned in the next 7 days.</td></tr>"
    return f"<section id=upcoming><h2>Next 7 days</h2><table>{body}</table></section>"


def _notifications_section(view: StatusView) -> str:
    rows = "".join(
        f"<tr><td class=muted>{created:%d %b %H:%M}</td>"
        f"<td><span class=kind>{escape(message.kind.value)}</span></td>"
        f"<td>{escape(headline(message))}</td></tr>"
        for created, message in view.notifications
    )
    body = rows or "<tr><td class=muted>No notifications yet.</td></tr>"
    return f"<section id=notifications><h2>Latest notifications</h2><table>{body}</table></section>"


def _targets_section(view: StatusView) -> str:
    rows = []
    for target in view.targets:
        state = '<span class="badge ok">enabled</span>'
        if not target.enabled:
            note = escape(target.note or "")
            state = f'<span class="badge bad">disabled</span> <span class=muted>{note}</span>'
        elif target.counts.get("dead"):
            state = '<span class="badge warn">dead letters</span>'
        counts = ", ".join(f"{name} {target.counts.get(name, 0)}" for name in ("delivered", "queued", "dead"))
        rows.append(f"<tr><td>{escape(target.label)}</td><td>{state}</td><td class=muted>{counts}</td></tr>")
    body = "".join(rows) or "<tr><td class=muted>No delivery targets configured.</td></tr>"
    return f"<section id=targets><h2>Delivery targets</h2><table>{body}</table></section>"


def _subscribe_section() -> str:
    """Links relative to the page, so they stay right behind a proxy that serves dockwatch under a
    path; a browser copies them as full URLs, which is what a calendar app asks for."""
    example = "calendar.ics?kinds=docked,departed&amp;station=iss"
    return (
        "<section id=subscribe><h2>Subscribe</h2>"
        f"<p>Subscribe in your calendar: copy <a href=calendar.ics>calendar.ics</a> and add it by URL "
        "(Google Calendar: <i>From URL</i>; Apple Calendar: <i>New Calendar Subscription</i>; "
        f"Outlook: <i>Subscribe from web</i>). Dockings, departures and events, {PAST.days} days back "
        f"and {AHEAD.days} ahead, kept up to date as LL2 moves them.</p>"
        f"<p>In a feed reader: <a href=feed.atom>feed.atom</a>, the latest {LIMIT} announcements and "
        "corrections.</p>"
        f"<p class=muted>Both take the filters of /subscribe: <a href='{example}'>{example}</a></p>"
        "</section>"
    )


def _timeline_section(view: StatusView) -> str:
    return (
        f"<section id=timeline class=wide><h2>Port occupancy, last {TIMELINE_DAYS} days</h2>"
        f"{render_timeline(view.history, view.now)}</section>"
    )


def render_timeline(records: list[DockingRecord], now: datetime, days: int = TIMELINE_DAYS) -> str:
    """One row per port, one bar per stay, clipped to the last ``days`` days; an SVG string."""
    start = now - timedelta(days=days)
    label_width, row_height, width = 230, 22, 1100
    plot = width - label_width - 10
    rows: dict[tuple[str, str], list[DockingRecord]] = defaultdict(list)
    for record in records:
        if record.docking is None or record.docking > now:
            continue
        if record.departure is not None and record.departure < start:
            continue
        rows[(record.where, record.port.name)].append(record)
    ordered = sorted(rows)
    height = 30 + row_height * max(1, len(ordered))

    def x(moment: datetime) -> float:
        return label_width + plot * (moment - start).total_seconds() / (now - start).total_seconds()

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Port occupancy over the last {days} days">'
    ]
    for week in range(0, days + 1, 7):
        tick = start + timedelta(days=week)
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="18" x2="{x(tick):.1f}" y2="{height}" stroke="#26304a"/>'
            f'<text x="{x(tick):.1f}" y="12" text-anchor="middle">{tick:%d %b}</text>'
        )
    palette = ["#4f8cff", "#ff9f43", "#2ed573", "#e056fd", "#f7d794", "#48dbfb", "#ff6b6b", "#c8d6e5"]
    for index, (place, port) in enumerate(ordered):
        y = 22 + index * row_height
        parts.append(f'<text x="4" y="{y + 14}">{escape(_short(place))} · {escape(port)}</text>')
        for record in rows[(place, port)]:
            assert record.docking is not None
            left = x(max(record.docking, start))
            right = x(min(record.departure or now, now))
            colour = palette[zlib.crc32(record.vehicle_name.encode()) % len(palette)]
            stay = humanize((record.departure or now) - record.docking)
            bar = max(2.0, right - left)
            parts.append(
                f'<rect x="{left:.1f}" y="{y + 2}" width="{bar:.1f}" height="{row_height - 6}" rx="3" '
                f'fill="{colour}" fill-opacity="0.85"><title>{escape(record.vehicle_name)} at '
                f"{escape(port)}: {stay}</title></rect>"
            )
            if right - left > 7 * len(record.vehicle_name):
                name = escape(record.vehicle_name)
                parts.append(f'<text x="{left + 4:.1f}" y="{y + 14}" style="fill:#0f1420">{name}</text>')
    if not ordered:
        parts.append(f'<text x="{label_width}" y="40">No stays recorded in this period.</text>')
    now_x = f"{x(now):.1f}"
    parts.append(
        f'<line x1="{now_x}" y1="18" x2="{now_x}" y2="{height}" stroke="#ffd479" stroke-dasharray="3 3"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _short(place: str) -> str:
    return "ISS" if place == "International Space Station" else place


def _in(delta: timedelta) -> str:
    return f"in {humanize(delta)}" if delta.total_seconds() >= 0 else f"{humanize(-delta)} ago"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{moment:%H:%M:%S} UTC ({_in(moment - now)})"
