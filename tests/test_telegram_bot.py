"""The Telegram bot's commands, end to end: scripted updates through the fake Bot API's getUpdates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from html import unescape

import pytest

from dockwatch.bot.detect import detect
from dockwatch.bot.dispatch import Dispatcher
from dockwatch.bot.ll2.wire import parse_dockings
from dockwatch.bot.model import ChangeKind, KnownState, Snapshot, SubscriptionFilter
from dockwatch.bot.preferences import Preferences, QuietHours
from dockwatch.bot.subscriptions import Subscriptions, UsageError, describe, parse_subscription, toggled
from dockwatch.notifiers.telegram import TelegramConfig
from dockwatch.notifiers.telegram.chat import REFUSAL, TelegramBot
from dockwatch.notifiers.telegram.notifier import TelegramNotifier
from dockwatch.storage import Store
from tests.builders import ll2_docking
from tests.conftest import Clock, started
from tests.fakes.telegram import FakeTelegram
from tests.service_harness import eventually

PRIVATE, GROUP, CHANNEL = 111, -100222, -100333
ADMIN, MEMBER = 7, 8


@pytest.fixture
async def telegram_notifier(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    async with started(TelegramNotifier.from_settings(config)) as notifier:
        yield notifier


@pytest.fixture
async def chat_bot(
    telegram_notifier: TelegramNotifier, store: Store, clock: Clock
) -> AsyncIterator[TelegramBot]:
    """The bot on the notifier that also delivers alerts, as in ``dockwatch run``: one set of limits."""
    bot = TelegramBot(telegram_notifier, Subscriptions(store), clock)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def reply(fake: FakeTelegram, chat_id: int, count: int = 1) -> str:
    """Wait for the ``count``-th reply in ``chat_id`` and return it."""
    await eventually(lambda: len(fake.replies_to(chat_id)) >= count, within=10)
    return fake.replies_to(chat_id)[count - 1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], SubscriptionFilter()),
        (
            ["docked", "webcast"],
            SubscriptionFilter(frozenset({ChangeKind.DOCKED, ChangeKind.WEBCAST_STARTED})),
        ),
        (["ISS", "tiangong"], SubscriptionFilter(None, frozenset({"iss", "tiangong"}))),
        (["departed,", "iss"], SubscriptionFilter(frozenset({ChangeKind.DEPARTED}), frozenset({"iss"}))),
    ],
    ids=["everything", "two kinds", "two stations", "kind and station with a stray comma"],
)
def test_subscribe_arguments_parse_into_a_filter(args: list[str], expected: SubscriptionFilter) -> None:
    assert parse_subscription(args) == expected


@pytest.mark.parametrize(
    "args",
    [["<script>"], ["a" * 60], ["s1", "s2", "s3", "s4", "s5", "s6"]],
    ids=["markup", "too long", "too many"],
)
def test_malformed_subscribe_arguments_get_a_one_line_usage(args: list[str]) -> None:
    with pytest.raises(UsageError, match="usage: /subscribe") as caught:
        parse_subscription(args)
    assert "\n" not in str(caught.value)


def test_switching_off_every_kind_reads_as_nothing() -> None:
    subscription = SubscriptionFilter(frozenset({ChangeKind.DOCKED}))

    assert describe(toggled(subscription, ChangeKind.DOCKED)).startswith("nothing")


async def test_subscribe_in_a_private_chat_is_confirmed_and_stored(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.command("/subscribe docked iss", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE) == "Subscribed: docked at iss."
    assert await store.subscription("telegram:111") == SubscriptionFilter(
        frozenset({ChangeKind.DOCKED}), frozenset({"iss"})
    )


async def test_a_group_member_who_is_not_an_admin_is_politely_refused(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.admins[GROUP] = {ADMIN}
    fake_telegram.command("/subscribe", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")

    assert await reply(fake_telegram, GROUP) == REFUSAL
    assert await store.subscription(f"telegram:{GROUP}") is None


async def test_a_group_admin_may_subscribe(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.admins[GROUP] = {ADMIN}
    fake_telegram.command("/subscribe webcast", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")

    assert await reply(fake_telegram, GROUP) == "Subscribed: webcast at any station."


async def test_a_channel_post_may_subscribe_the_channel(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.command("/subscribe", chat_id=CHANNEL, chat_type="channel")

    assert await reply(fake_telegram, CHANNEL) == "Subscribed: everything at any station."


async def test_malformed_arguments_get_the_usage_line(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.command("/subscribe <b>", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE)
    assert "usage: /subscribe" in answer and "&lt;b&gt;" in answer


async def test_an_unknown_command_gets_a_pointer_to_help(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.command("/launch now", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE) == "Unknown command; try /help."


async def test_help_lists_the_commands(chat_bot: TelegramBot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.command("/help", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE)
    for command in ("/subscribe", "/unsubscribe", "/settings", "/docked", "/next"):
        assert command in answer


async def test_unsubscribe_stops_alerts_and_says_so(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.command("/subscribe", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE)
    fake_telegram.command("/unsubscribe", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 2) == "Unsubscribed; no more alerts here."
    assert await store.subscription("telegram:111") is None


async def test_settings_buttons_toggle_a_kind(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.command("/subscribe", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE)
    fake_telegram.command("/settings", chat_id=PRIVATE)
    keyboard = (await eventually_sent(fake_telegram, 2))["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in keyboard for b in row] == [
        "toggle:docked",
        "toggle:departed",
        "toggle:relocated",
        "toggle:webcast",
        "station:iss",
        "station:tiangong",
        "station:any",
    ]

    fake_telegram.button("toggle:webcast", chat_id=PRIVATE)
    await eventually(lambda: any(c.method == "editMessageText" for c in fake_telegram.calls), within=10)

    subscription = await store.subscription("telegram:111")
    assert subscription is not None and subscription.kinds == frozenset(
        {ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.RELOCATED}
    )


async def eventually_sent(fake: FakeTelegram, count: int) -> dict[str, object]:
    await eventually(lambda: len(fake.sent(PRIVATE)) >= count, within=10)
    return fake.sent(PRIVATE)[count - 1]


async def test_one_chat_cannot_change_another_chats_settings(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.command("/subscribe docked", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE)
    fake_telegram.command("/unsubscribe", chat_id=PRIVATE + 1)

    assert await reply(fake_telegram, PRIVATE + 1) == "This chat was not subscribed."
    assert await store.subscription("telegram:111") is not None


async def test_docked_lists_what_is_docked_with_days(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    raw = [
        ll2_docking(4, docking=clock.now - timedelta(days=20, hours=3), vehicle=(40, "Crew Dragon <Grace>"))
    ]
    snapshot = Snapshot(tuple(parse_dockings(raw, "test", legacy=False)), ())
    await store.record_cycle(snapshot, [], started_at=clock.now, now=clock.now)
    fake_telegram.command("/docked", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE)
    assert "<b>International Space Station</b>" in answer
    assert "Harmony zenith: Crew Dragon &lt;Grace&gt; (20 days 3 hours, since 2025-12-12 09:00 UTC)" in answer


async def test_next_lists_planned_dockings_in_the_coming_week(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    raw = [
        ll2_docking(5, docking=clock.now + timedelta(days=3), vehicle=(50, "HTV-X2")),
        ll2_docking(6, docking=clock.now + timedelta(days=9), vehicle=(60, "Too far")),
    ]
    await store.record_cycle(
        Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ()), [], started_at=clock.now, now=clock.now
    )
    fake_telegram.command("/next", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE)
    assert "docking · HTV-X2 · International Space Station · Harmony zenith" in answer
    assert "Too far" not in answer


async def test_settings_buttons_narrow_alerts_to_a_station(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.command("/subscribe", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE)

    fake_telegram.button("station:tiangong", chat_id=PRIVATE)
    await eventually(lambda: any(c.method == "editMessageText" for c in fake_telegram.calls), within=10)

    assert await store.subscription("telegram:111") == SubscriptionFilter(None, frozenset({"tiangong"}))


async def test_a_group_member_cannot_press_the_settings_buttons(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.admins[GROUP] = {ADMIN}
    fake_telegram.command("/subscribe", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    await reply(fake_telegram, GROUP)

    fake_telegram.button("toggle:docked", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    await eventually(lambda: any(c.method == "answerCallbackQuery" for c in fake_telegram.calls), within=10)

    (answer,) = [c.params for c in fake_telegram.calls if c.method == "answerCallbackQuery"]
    assert answer["text"] == REFUSAL
    assert await store.subscription(f"telegram:{GROUP}") == SubscriptionFilter()


def test_a_mistyped_kind_is_not_taken_for_a_station() -> None:
    with pytest.raises(UsageError, match="did you mean 'docked'"):
        parse_subscription(["dockd"])


async def test_a_channel_reader_cannot_press_the_settings_buttons(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.admins[CHANNEL] = {ADMIN}
    fake_telegram.command("/subscribe", chat_id=CHANNEL, chat_type="channel")
    await reply(fake_telegram, CHANNEL)

    fake_telegram.button("toggle:docked", chat_id=CHANNEL, user_id=MEMBER, chat_type="channel")
    await eventually(lambda: any(c.method == "answerCallbackQuery" for c in fake_telegram.calls), within=10)

    (answer,) = [c.params for c in fake_telegram.calls if c.method == "answerCallbackQuery"]
    assert answer["text"] == REFUSAL
    assert await store.subscription(f"telegram:{CHANNEL}") == SubscriptionFilter()


async def test_a_command_for_another_bot_is_ignored(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.command("/launch@someotherbot", chat_id=GROUP, chat_type="supergroup")
    fake_telegram.command("/help@dockwatch_test_bot", chat_id=GROUP, chat_type="supergroup")

    answer = await reply(fake_telegram, GROUP)
    assert "/subscribe" in answer  # the only reply is to the command addressed to us
    assert len(fake_telegram.replies_to(GROUP)) == 1


# --- reminders, quiet hours and the chat's time zone -------------------------------------------


async def subscribed(
    fake: FakeTelegram, chat_id: int = PRIVATE, *, user_id: int = 1, chat_type: str = "private"
) -> None:
    """The chat subscribes to everything (and its confirmation arrives) before the test's commands."""
    fake.command("/subscribe", chat_id=chat_id, user_id=user_id, chat_type=chat_type)
    await reply(fake, chat_id)


async def test_remind_sets_the_chats_lead_times(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/remind 1h 10m", chat_id=PRIVATE)

    assert (
        await reply(fake_telegram, PRIVATE, 2)
        == "Reminders: 1h and 10m before each planned docking, departure or event."
    )
    preferences = await store.preferences("telegram:111")
    assert preferences is not None
    assert preferences.reminders == (timedelta(hours=1), timedelta(minutes=10))


async def test_remind_off_stops_reminders(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/remind 1h", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    fake_telegram.command("/remind off", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 3) == "Reminders: off."
    assert await store.preferences("telegram:111") == Preferences()


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/remind 2m", "lead time &#x27;2m&#x27; must be from 5m to 7d; usage: /remind &lt;lead time&gt;"),
        ("/remind 1h 2h 3h 4h 5h", "at most 4 lead times, got 5; usage: /remind"),
        ("/quiet 25:00-07:00", "&#x27;25:00-07:00&#x27;: hours are 0-23 and minutes 0-59; usage: /quiet"),
        ("/timezone <b>", "&#x27;&lt;b&gt;&#x27; is not a time zone name"),
    ],
    ids=["lead too short", "too many leads", "no such hour", "markup for a zone"],
)
async def test_bad_input_is_answered_in_one_escaped_line_and_changes_nothing(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, command: str, reason: str
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/remind 30m", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    before = await store.preferences("telegram:111")
    fake_telegram.command(command, chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE, 3)
    assert answer.startswith(reason) and "\n" not in answer
    assert await store.preferences("telegram:111") == before


async def test_a_mistyped_zone_gets_a_did_you_mean(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone Europe/Berln", chat_id=PRIVATE)

    assert "did you mean 'Europe/Berlin'" in unescape(await reply(fake_telegram, PRIVATE, 2))


async def test_quiet_sets_the_chats_quiet_hours_and_points_to_timezone(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/quiet 22:00-07:00 digest", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 2) == (
        "Quiet hours: 22:00-07:00 UTC time, alerts held for one digest at the end."
        " Set this chat&#x27;s zone with /timezone."
    )
    preferences = await store.preferences("telegram:111")
    assert preferences is not None and preferences.quiet == QuietHours(time(22), time(7), digest=True)


async def test_quiet_off_ends_quiet_hours(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/quiet 23:00-06:00", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    fake_telegram.command("/quiet off", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 3) == "Quiet hours: off."
    preferences = await store.preferences("telegram:111")
    assert preferences is not None and preferences.quiet is None


async def test_timezone_sets_the_chats_zone_and_shows_its_clock(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone europe/berlin", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 2) == (
        "Time zone: Europe/Berlin, where it is 13:00 CET now."
        " Alerts, /next and /docked show times in it, and quiet hours follow it."
    )
    preferences = await store.preferences("telegram:111")
    assert preferences is not None and preferences.timezone == "Europe/Berlin"


@pytest.mark.parametrize("command", ["/remind 1h", "/quiet 22:00-07:00", "/timezone Europe/Berlin"])
async def test_a_chat_that_is_not_subscribed_is_told_to_subscribe_first(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, command: str
) -> None:
    fake_telegram.command(command, chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE) == "Not subscribed here yet: subscribe first with /subscribe."
    assert await store.preferences("telegram:111") is None


@pytest.mark.parametrize("command", ["/remind 1h", "/quiet 22:00-07:00", "/timezone Europe/Berlin"])
async def test_a_group_member_who_is_not_an_admin_cannot_change_the_chats_choices(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, command: str
) -> None:
    fake_telegram.admins[GROUP] = {ADMIN}
    await subscribed(fake_telegram, GROUP, user_id=ADMIN, chat_type="supergroup")
    fake_telegram.command(command, chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")

    assert await reply(fake_telegram, GROUP, 2) == REFUSAL
    assert await store.preferences(f"telegram:{GROUP}") == Preferences()


async def test_a_group_admin_may_set_reminders(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store
) -> None:
    fake_telegram.admins[GROUP] = {ADMIN}
    await subscribed(fake_telegram, GROUP, user_id=ADMIN, chat_type="supergroup")
    fake_telegram.command("/remind 1d", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")

    assert (
        await reply(fake_telegram, GROUP, 2)
        == "Reminders: 1d before each planned docking, departure or event."
    )


async def test_settings_show_reminders_quiet_hours_and_zone(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram
) -> None:
    await subscribed(fake_telegram)
    for count, command in enumerate(["/remind 10m 1h", "/quiet 22:00-07:00", "/timezone Europe/Berlin"], 2):
        fake_telegram.command(command, chat_id=PRIVATE)
        await reply(fake_telegram, PRIVATE, count)
    fake_telegram.command("/settings", chat_id=PRIVATE)

    assert await reply(fake_telegram, PRIVATE, 5) == (
        "Alerts here: <b>everything at any station</b>\n"
        "Reminders: <b>1h and 10m before each planned docking, departure or event</b>\n"
        "Quiet hours: <b>22:00-07:00 Europe/Berlin time, alerts arrive without a sound</b>\n"
        "Time zone: <b>Europe/Berlin</b>\n"
        "Tap a kind or a station to switch it; /remind, /quiet and /timezone change the rest."
    )


async def test_help_lists_the_preference_commands(chat_bot: TelegramBot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.command("/help", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE)
    for command in ("/remind", "/quiet", "/timezone"):
        assert command in answer


async def test_next_shows_times_in_the_chats_zone(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    raw = [ll2_docking(5, docking=clock.now + timedelta(days=3), vehicle=(50, "HTV-X2"))]
    await store.record_cycle(
        Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ()), [], started_at=clock.now, now=clock.now
    )
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone Europe/Berlin", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    fake_telegram.command("/next", chat_id=PRIVATE)

    assert (await reply(fake_telegram, PRIVATE, 3)).startswith("Sun 04 Jan 13:00 CET · docking · HTV-X2")


async def test_next_in_summer_shows_summer_time(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    clock.now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    raw = [ll2_docking(5, docking=clock.now + timedelta(days=1), vehicle=(50, "HTV-X2"))]
    await store.record_cycle(
        Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ()), [], started_at=clock.now, now=clock.now
    )
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone Europe/Berlin", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    fake_telegram.command("/next", chat_id=PRIVATE)

    assert (await reply(fake_telegram, PRIVATE, 3)).startswith("Thu 02 Jul 14:00 CEST · docking")


async def test_docked_says_since_when_in_the_chats_zone(
    chat_bot: TelegramBot, fake_telegram: FakeTelegram, store: Store, clock: Clock
) -> None:
    raw = [ll2_docking(4, docking=clock.now - timedelta(days=20, hours=3), vehicle=(40, "Crew Dragon"))]
    await store.record_cycle(
        Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ()), [], started_at=clock.now, now=clock.now
    )
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone Asia/Tokyo", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    fake_telegram.command("/docked", chat_id=PRIVATE)

    answer = await reply(fake_telegram, PRIVATE, 3)
    assert "Harmony zenith: Crew Dragon (20 days 3 hours, since 2025-12-12 18:00 JST)" in answer


async def test_a_chat_with_a_zone_gets_alerts_with_local_times(
    chat_bot: TelegramBot,
    telegram_notifier: TelegramNotifier,
    fake_telegram: FakeTelegram,
    store: Store,
    clock: Clock,
) -> None:
    """End to end: the zone set by command is the one the delivered alert is written in."""
    await subscribed(fake_telegram)
    fake_telegram.command("/timezone Europe/Berlin", chat_id=PRIVATE)
    await reply(fake_telegram, PRIVATE, 2)
    raw = [ll2_docking(630, docking=clock.now - timedelta(minutes=1), vehicle=(1, "Cygnus NG-24"))]
    snapshot = Snapshot(tuple(parse_dockings(raw, "t", legacy=False)), ())
    changes = detect(KnownState(baseline_done=True), snapshot, clock.now)
    await store.record_cycle(snapshot, changes, started_at=clock.now, now=clock.now)

    report = await Dispatcher(store, [telegram_notifier], clock).deliver_due()

    assert report.delivered == 1
    alert = fake_telegram.replies_to(PRIVATE)[2]
    assert "Cygnus NG-24 docked at International Space Station" in alert
    assert "2026-01-01 12:59 CET" in alert and "UTC" not in alert
