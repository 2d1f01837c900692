"""Quiet hours with a digest (``22:00-07:00 digest``): inside them a chat is sent nothing; what comes
due is held, and when they end the chat gets one message listing it all.

Each spec runs a Dispatcher over a real store on SQLite, on a test clock, with the real notifier
against the fake platform; the store's hold is specified on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from dockwatch.bot.dispatch import LEASE, Dispatcher
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import ChangeKind, Revision
from dockwatch.bot.reminders import due_reminders
from dockwatch.notifiers.discord import channel_key
from dockwatch.notifiers.discord.notifier import build_digest
from dockwatch.notifiers.telegram import chat_key
from dockwatch.notifiers.webhook import WebhookConfig, WebhookNotifier, target_key
from dockwatch.storage import Store
from dockwatch.storage.tables import DeliveryRow
from tests.builders import correction_of, ll2_docking, message_with
from tests.conftest import SECRET, Clock
from tests.fakes.discord import FakeDiscord, _embed_violations
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.quiet_harness import (
    CHANNEL_ID,
    CHAT,
    announced,
    discord,
    record,
    record_dockings,
    target_with_quiet_hours,
    telegram,
)

NIGHT = datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
MORNING = datetime(2026, 1, 2, 7, 0, tzinfo=UTC)
DIGEST = "22:00-07:00 digest"


async def rows(store: Store) -> list[DeliveryRow]:
    return [row for row, _key in await store.deliveries()]


async def held_through_the_night(store: Store, dispatcher: Dispatcher, clock: Clock, *vehicles: str) -> None:
    """A docking per vehicle, an hour apart from 23:00, each delivered (held) as it is recorded."""
    clock.now = NIGHT
    for index, vehicle in enumerate(vehicles):
        await record_dockings(store, clock, vehicle, first_id=index + 1)
        await dispatcher.deliver_due()
        clock.advance(timedelta(hours=1))


# --- holding --------------------------------------------------------------------------------


async def test_inside_digest_quiet_hours_a_chat_is_sent_nothing(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        await held_through_the_night(store, Dispatcher(store, [notifier], clock), clock, "Cygnus NG-23")

    assert fake_telegram.sent() == []


async def test_a_held_message_waits_for_the_end_of_the_quiet_hours_without_counting_as_an_attempt(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST, "Europe/Berlin")
    clock.now = NIGHT
    async with telegram(fake_telegram) as notifier:
        await record_dockings(store, clock, "Cygnus NG-23")
        report = await Dispatcher(store, [notifier], clock).deliver_due()

    (row,) = await rows(store)
    assert (row.status, row.held, row.attempts, row.last_error) == ("queued", True, 0, None)
    assert row.next_attempt_at == datetime(2026, 1, 2, 6, 0, tzinfo=UTC)  # 07:00 CET
    assert (report.held, report.delivered, report.retrying, report.dead) == (1, 0, 0, 0)


async def test_a_hold_applies_only_while_the_claim_holds(any_db_url: str, clock: Clock) -> None:
    async with Store.open(any_db_url) as store:
        await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
        await record_dockings(store, clock, "Cygnus NG-23")
        (stale,) = await store.claim_due(clock.now, lease_until=clock.now + LEASE, owner="a")
        later = clock.now + LEASE
        (fresh,) = await store.claim_due(later, lease_until=later + LEASE, owner="b")

        assert not await store.mark_held(stale, now=later, until=MORNING)
        assert await store.mark_held(fresh, now=later, until=MORNING)

        (row,) = await rows(store)
        assert (row.status, row.held, row.claimed_by, row.attempts) == ("queued", True, "b", 0)
        assert row.next_attempt_at == MORNING


# --- the digest -----------------------------------------------------------------------------


async def test_what_was_held_reaches_the_chat_as_one_message_when_the_quiet_hours_end(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28", "Dragon C211")
        clock.now = MORNING
        report = await dispatcher.deliver_due()

    (digest,) = fake_telegram.sent(CHAT)
    lines = digest["text"].splitlines()
    assert lines[1:] == [
        "🛰 Cygnus NG-23 docked at International Space Station · 22:59 UTC",
        "🛰 Soyuz MS-28 docked at International Space Station · 23:59 UTC",
        "🛰 Dragon C211 docked at International Space Station · 00:59 UTC",
    ]
    assert digest["disable_notification"] is False  # the quiet hours are over
    assert report.delivered == 3


async def test_each_message_of_a_digest_is_delivered_with_the_digests_receipt(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28")
        clock.now = MORNING
        await dispatcher.deliver_due()

    (digest,) = fake_telegram.shown(CHAT)
    first, second = await rows(store)
    assert (first.status, second.status) == ("delivered", "delivered")
    assert first.receipt == second.receipt
    assert first.receipt is not None and first.receipt.message["message_id"] == digest["message_id"]


async def test_a_digest_lists_times_on_the_chats_clock(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST, "Europe/Berlin")
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28")
        clock.now = MORNING
        await dispatcher.deliver_due()

    (digest,) = fake_telegram.sent(CHAT)
    assert "Cygnus NG-23 docked at International Space Station · 23:59 CET" in digest["text"]
    assert "Soyuz MS-28 docked at International Space Station · 00:59 CET" in digest["text"]


async def test_a_digest_too_long_for_one_telegram_message_ends_with_how_many_more_there_were(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    vehicles = [f"Dragon {n:02} " + "x" * 150 for n in range(40)]
    clock.now = NIGHT
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await record_dockings(store, clock, *vehicles)
        await dispatcher.deliver_due()
        clock.now = MORNING
        await dispatcher.deliver_due()

    (digest,) = fake_telegram.sent(CHAT)
    text = digest["text"]
    listed = sum(f"Dragon {n:02} " in text for n in range(40))
    assert 0 < listed < 40
    assert text.endswith(f"… and {40 - listed} more")
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert {row.status for row in await rows(store)} == {"delivered"}


async def test_a_held_reminder_that_came_due_too_late_is_superseded_and_not_in_the_digest(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    await store.save_preferences(chat_key(CHAT), reminders=[timedelta(hours=1)])
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28")
        # At 01:00 a docking planned for 02:00: its one-hour reminder is due, and held.
        planned = parse_dockings(
            [ll2_docking(9, docking=clock.now + timedelta(hours=1), vehicle=(99, "Crew Dragon Grace"))],
            "test",
            legacy=False,
        )
        await record(store, clock, due_reminders(planned, [], [timedelta(hours=1)], (), clock.now))
        await dispatcher.deliver_due()
        clock.now = MORNING
        report = await dispatcher.deliver_due()

    (digest,) = fake_telegram.sent(CHAT)
    assert "Crew Dragon Grace" not in digest["text"]
    assert "Cygnus NG-23" in digest["text"] and "Soyuz MS-28" in digest["text"]
    assert (report.delivered, report.superseded) == (2, 1)
    assert [row.status for row in await rows(store)] == ["delivered", "delivered", "superseded"]


async def test_one_held_message_alone_is_sent_as_itself(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23")
        clock.now = MORNING
        await dispatcher.deliver_due()

    (message,) = fake_telegram.sent(CHAT)
    assert message["text"].startswith("🛰 <b>Cygnus NG-23 docked at International Space Station</b>")
    assert "<b>Port:</b> port 1" in message["text"]


async def test_a_correction_of_a_digested_message_is_posted_on_its_own_and_the_digest_stays(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        clock.now = NIGHT
        cygnus, _soyuz = await record_dockings(store, clock, "Cygnus NG-23", "Soyuz MS-28")
        await dispatcher.deliver_due()
        clock.now = MORNING
        await dispatcher.deliver_due()
        clock.advance(timedelta(hours=1))
        later = clock.now + timedelta(hours=2)
        await record(store, clock, [announced(correction_of(cygnus.message, Revision.RESCHEDULED, later))])
        await dispatcher.deliver_due()

    assert fake_telegram.edits() == []
    digest, correction = fake_telegram.sent(CHAT)
    assert "Cygnus NG-23" in digest["text"] and "Soyuz MS-28" in digest["text"]
    assert "Correction: Cygnus NG-23 has not docked at International Space Station yet" in correction["text"]
    assert "reply_parameters" not in correction


async def test_a_correction_held_with_other_messages_edits_the_message_it_corrects_not_the_digest(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    """Announced at 21:00 before the quiet hours, corrected at 23:00 inside them: at 07:00 the 21:00
    message is edited and answered, and the digest lists only the night's new dockings."""
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        clock.now = NIGHT - timedelta(hours=2)
        (cygnus,) = await record_dockings(store, clock, "Cygnus NG-23")
        await dispatcher.deliver_due()
        clock.now = NIGHT
        later = clock.now + timedelta(hours=2)
        await record(store, clock, [announced(correction_of(cygnus.message, Revision.RESCHEDULED, later))])
        await record_dockings(store, clock, "Soyuz MS-28", "Progress MS-33", first_id=2)
        await dispatcher.deliver_due()
        clock.now = MORNING
        await dispatcher.deliver_due()

    (edit,) = fake_telegram.edits()
    assert "Correction: Cygnus NG-23 has not docked" in edit["text"]
    announcement, digest, reply = fake_telegram.sent(CHAT)
    assert "Cygnus NG-23 docked" in announcement["text"]
    assert "Soyuz MS-28" in digest["text"] and "Progress MS-33" in digest["text"]
    assert "Cygnus" not in digest["text"]
    assert "Correction: Cygnus NG-23 has not docked" in reply["text"]


async def test_a_digest_that_fails_is_retried_with_all_it_listed(
    fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    """Twice refused (a 502): the messages wait for the same retry, so they are summed up together
    again instead of falling apart into a digest and a straggler."""
    await target_with_quiet_hours(store, chat_key(CHAT), DIGEST)
    async with telegram(fake_telegram) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28")
        clock.now = MORNING
        fake_telegram.failing.add("sendMessage")
        for _ in range(2):
            await dispatcher.deliver_due()
            clock.advance(timedelta(seconds=15))
        fake_telegram.failing.clear()
        for _ in range(3):
            clock.advance(timedelta(seconds=15))
            await dispatcher.deliver_due()

    (digest,) = fake_telegram.sent(CHAT)
    assert "Cygnus NG-23" in digest["text"] and "Soyuz MS-28" in digest["text"]
    assert [(row.status, row.attempts) for row in await rows(store)] == [("delivered", 3)] * 2


async def test_a_discord_channel_gets_its_digest_as_one_embed_with_times_each_reader_sees_in_their_zone(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, channel_key(CHANNEL_ID), DIGEST)
    async with discord(fake_discord, http) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        await held_through_the_night(store, dispatcher, clock, "Cygnus NG-23", "Soyuz MS-28")
        clock.now = MORNING
        await dispatcher.deliver_due()

    (message,) = fake_discord.messages(CHANNEL_ID)
    (embed,) = message["embeds"]
    docked_at = int((NIGHT - timedelta(minutes=1)).timestamp())
    assert embed["description"].splitlines() == [
        f"🛰 Cygnus NG-23 docked at International Space Station · <t:{docked_at}:f>",
        f"🛰 Soyuz MS-28 docked at International Space Station · <t:{docked_at + 3600}:f>",
    ]
    assert fake_discord.limit_violations == []
    first, second = await rows(store)
    assert first.receipt == second.receipt and first.status == "delivered"


async def test_a_correction_of_a_message_in_a_discord_digest_is_posted_on_its_own(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, store: Store, clock: Clock
) -> None:
    await target_with_quiet_hours(store, channel_key(CHANNEL_ID), DIGEST)
    async with discord(fake_discord, http) as notifier:
        dispatcher = Dispatcher(store, [notifier], clock)
        clock.now = NIGHT
        cygnus, _soyuz = await record_dockings(store, clock, "Cygnus NG-23", "Soyuz MS-28")
        await dispatcher.deliver_due()
        clock.now = MORNING
        await dispatcher.deliver_due()
        clock.advance(timedelta(hours=1))
        await record(store, clock, [announced(correction_of(cygnus.message, Revision.WITHDRAWN, None))])
        await dispatcher.deliver_due()

    assert fake_discord.edits == []
    _digest, correction = fake_discord.messages(CHANNEL_ID)
    assert correction["embeds"][0]["title"].startswith("Correction: Cygnus NG-23 has not docked")


def test_a_discord_digest_too_long_for_one_embed_ends_with_how_many_more_there_were() -> None:
    messages = [
        message_with(
            ChangeKind.DOCKED,
            vehicle=f"Dragon {n:02} " + "x" * 150,
            station="ISS",
            port="p",
            event="e",
            webcast_url=None,
        )
        for n in range(40)
    ]

    embed = build_digest(messages).to_dict()

    description = embed.get("description", "")
    listed = sum(f"Dragon {n:02} " in description for n in range(40))
    assert 0 < listed < 40
    assert description.endswith(f"… and {40 - listed} more")
    assert _embed_violations({"embeds": [embed]}) == []


# --- platforms without digests ----------------------------------------------------------------


@pytest.fixture
def webhook(webhook_receiver: WebhookReceiver, http: aiohttp.ClientSession) -> WebhookNotifier:
    return WebhookNotifier([WebhookConfig(url=webhook_receiver.url, secret=SECRET)], http)


async def test_held_messages_reaching_a_platform_without_digests_are_sent_one_by_one(
    webhook: WebhookNotifier, webhook_receiver: WebhookReceiver, store: Store, clock: Clock
) -> None:
    """Webhooks have no quiet hours; were messages held for one anyway, none is lost."""
    key = target_key(webhook_receiver.url)
    await target_with_quiet_hours(store, key, None)
    await record_dockings(store, clock, "Cygnus NG-23", "Soyuz MS-28")
    for claim in await store.claim_due(clock.now, lease_until=clock.now + LEASE, owner="before"):
        assert await store.mark_held(claim, now=clock.now, until=MORNING)
    clock.now = MORNING

    await Dispatcher(store, [webhook], clock).deliver_due()

    assert [r.id for r in webhook_receiver.accepted] == ["docked:1", "docked:2"]
