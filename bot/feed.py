"""/feed.atom: the latest announcements as an Atom 1.0 feed (RFC 4287).

Pure: the recorded notifications and ``now`` go in, the feed's bytes come out (feedgen writes the
XML), so every rule is tested table-driven. Entries read as on every other platform: the title is
``headline()``, the content ``details()``, a correction is an entry of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dockwatch.bot.model import KINDS, ChangeKind, Message, SubscriptionFilter, web_link
from dockwatch.notifiers.text import correction_line, details, headline

LIMIT = 50
FEED_KINDS = (ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.RELOCATED, ChangeKind.WEBCAST_STARTED)
"""What the feed carries: the facts and their corrections. Not reminders: each goes only to the
targets that asked for its lead time, so which exist depends on who subscribed where."""
TAG = "tag:dockwatch,2026:"
"""Entry and feed ids are tag URIs (RFC 4151) from the notification keys, which never change."""
_IRI_SAFE = re.compile(r"[A-Za-z0-9\-._~:/@!$&'()*+,;=]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Announcement:
    """A recorded, announced notification: when dockwatch recorded it, and what it said."""

    created_at: datetime
    message: Message


def feed_entries(announcements: Iterable[Announcement], wanted: SubscriptionFilter) -> list[Announcement]:
    """The newest ``LIMIT`` announcements of ``FEED_KINDS`` that ``wanted`` keeps, newest first."""
    kept = [a for a in announcements if a.message.kind in FEED_KINDS and wanted.accepts(a.message)]
    return sorted(kept, key=lambda a: a.created_at, reverse=True)[:LIMIT]


def build_feed(
    announcements: Sequence[Announcement],
    *,
    now: datetime,
    ll2_base: str,
    self_url: str,
    home_url: str,
    wanted: SubscriptionFilter | None = None,
    scope: str | None = None,
) -> bytes:
    """The feed document; ``now`` is its ``updated`` only while it has no entry."""
    from feedgen.feed import FeedGenerator  # with lxml: loaded when a feed is served, not at start

    wanted = wanted or SubscriptionFilter()
    entries = feed_entries(announcements, wanted)
    feed = FeedGenerator()
    feed.id(TAG + "feed" + _query(wanted))
    feed.title(f"dockwatch: {scope}" if scope else "dockwatch")
    feed.subtitle("Space station dockings, departures and webcasts, as dockwatch announced them")
    feed.author({"name": "dockwatch"})
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=home_url, rel="alternate", type="text/html")
    feed.generator("dockwatch")
    feed.updated(entries[0].created_at if entries else now)
    for announcement in entries:
        message = announcement.message
        entry = feed.add_entry(order="append")
        entry.id(entry_id(message.key))
        entry.title(_xml_text(headline(message)))
        entry.updated(announcement.created_at)
        entry.link(href=_xml_text(_link(message, ll2_base, home_url)), rel="alternate")
        entry.category(term=message.kind.value, label=KINDS[message.kind].title)
        entry.content(_xml_text(_content(message)), type="text")
    body: bytes = feed.atom_str(pretty=True)
    return body


def entry_id(key: str) -> str:
    """``tag:dockwatch,2026:docked:630%232`` for ``docked:630#2``: a ``#`` would end the IRI."""
    return TAG + "".join(c if _IRI_SAFE.fullmatch(c) else _percent(c) for c in key)


def _query(wanted: SubscriptionFilter) -> str:
    """The filter in a canonical order, so one filter is one feed id however its URL was written."""
    parts = []
    if wanted.kinds is not None:
        parts.append("kinds=" + ",".join(sorted(KINDS[kind].word or kind.value for kind in wanted.kinds)))
    if wanted.stations is not None:
        parts.append("station=" + ",".join(sorted(wanted.stations)))
    return "?" + "&".join(parts) if parts else ""


def _link(message: Message, ll2_base: str, home_url: str) -> str:
    """Where to read more: the webcast, else the LL2 record, else the status page."""
    base = ll2_base.rstrip("/")
    if (webcast := web_link(message.webcast_url)) is not None:
        return webcast
    if message.docking_event_id is not None:
        return f"{base}/docking_events/{message.docking_event_id}/"
    if message.event_id is not None:
        return f"{base}/events/{message.event_id}/"
    return home_url


def _content(message: Message) -> str:
    lines = [f"{label}: {value}" for label, value in details(message)]
    correction = correction_line(message)
    return "\n".join([correction, *lines] if correction else lines)


def _percent(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode("utf-8"))


def _xml_text(text: str) -> str:
    """``text`` without the control characters XML 1.0 cannot carry (an LL2 name could hold one)."""
    return _NOT_XML.sub("", text)
