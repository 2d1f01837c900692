"""A chat's reminders, quiet hours and zone in the shared subscription model: what the commands'
arguments mean, and that only a subscribed chat keeps choices (against a real store)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import time, timedelta

import pytest

from dockwatch.bot.model import SubscriptionFilter
from dockwatch.bot.preferences import Preferences, QuietHours
from dockwatch.bot.subscriptions import (
    NOT_SUBSCRIBED,
    Subscriptions,
    UsageError,
    describe_settings,
    parse_quiet,
    parse_remind,
    parse_timezone,
)
from dockwatch.storage import Store
from tests.conftest import Clock

CHAT = "telegram:111"


async def subscribed(store: Store, key: str = CHAT) -> Subscriptions:
    subscriptions = Subscriptions(store)
    await subscriptions.subscribe(key, notifier="telegram", label="chat", subscription=SubscriptionFilter())
    return subscriptions


def test_lead_times_parse_longest_first_with_commas_or_spaces() -> None:
    assert parse_remind(["10m,", "1h"]) == (timedelta(hours=1), timedelta(minutes=10))
    assert parse_remind(["10m, 1h"]) == (timedelta(hours=1), timedelta(minutes=10))


def test_remind_off_means_no_reminders() -> None:
    assert parse_remind(["off"]) == ()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["2m"], "lead time '2m' must be from 5m to 7d"),
        (["8d"], "lead time '8d' must be from 5m to 7d"),
        (["1h", "2h", "3h", "4h", "5h"], "at most 4 lead times, got 5"),
        (["soon"], "'soon' is not a lead time like '1h' or '10m'"),
        (["off", "1h"], "'off' stands alone"),
        ([], "no lead time given"),
    ],
    ids=["too short", "too long", "too many", "not a duration", "off with a lead", "nothing"],
)
def test_an_impossible_reminder_is_answered_in_one_line_with_the_usage(args: list[str], reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_remind(args)

    assert str(caught.value).startswith(f"{reason}; usage: /remind ")
    assert "\n" not in str(caught.value)


def test_quiet_hours_parse_with_or_without_digest() -> None:
    assert parse_quiet(["22:00-07:00", "digest"]) == QuietHours(time(22), time(7), digest=True)
    assert parse_quiet(["22:00", "-", "07:00"]) == QuietHours(time(22), time(7))


def test_quiet_off_means_no_quiet_hours() -> None:
    assert parse_quiet(["OFF"]) is None


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (
            ["25:00-07:00"],
            "'25:00-07:00': hours are 0-23 and minutes 0-59; usage: /quiet HH:MM-HH:MM [digest]",
        ),
        (["22:00-22:00"], "'22:00-22:00': the span is empty; usage: /quiet HH:MM-HH:MM [digest]"),
        (["tonight"], "'tonight': usage: /quiet HH:MM-HH:MM [digest]"),
        ([], "no quiet hours given; usage: /quiet HH:MM-HH:MM [digest]"),
    ],
    ids=["no such hour", "empty span", "not a span", "nothing"],
)
def test_impossible_quiet_hours_are_answered_in_one_line_with_the_usage(args: list[str], answer: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_quiet(args)

    assert str(caught.value).startswith(answer)
    assert "\n" not in str(caught.value)


def test_a_zone_name_is_spelled_as_the_zone_database_does() -> None:
    assert parse_timezone(["europe/berlin"]) == "Europe/Berlin"


def test_a_near_miss_of_a_zone_name_suggests_the_zone() -> None:
    with pytest.raises(UsageError, match="did you mean 'Europe/Berlin'"):
        parse_timezone(["Europe/Berln"])


def test_a_city_written_with_a_space_suggests_its_zone() -> None:
    with pytest.raises(UsageError, match="did you mean 'America/New_York'"):
        parse_timezone(["New", "York"])


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.set_reminders(CHAT, (timedelta(hours=1),)),
        lambda s: s.set_quiet(CHAT, QuietHours(time(22), time(7))),
        lambda s: s.set_timezone(CHAT, "Europe/Berlin"),
    ],
    ids=["reminders", "quiet hours", "time zone"],
)
async def test_a_chat_that_never_subscribed_is_told_to_subscribe_first_and_nothing_is_stored(
    store: Store, change: Callable[[Subscriptions], Awaitable[Preferences]]
) -> None:
    subscriptions = Subscriptions(store)

    with pytest.raises(UsageError, match="subscribe first with /subscribe"):
        await change(subscriptions)

    assert await store.preferences(CHAT) is None


async def test_a_chat_that_unsubscribed_cannot_change_its_choices(store: Store, clock: Clock) -> None:
    subscriptions = await subscribed(store)
    await subscriptions.set_reminders(CHAT, (timedelta(hours=1),))
    await subscriptions.unsubscribe(CHAT, now=clock.now)

    with pytest.raises(UsageError, match=NOT_SUBSCRIBED):
        await subscriptions.set_reminders(CHAT, ())

    assert (await subscriptions.preferences(CHAT)).reminders == (timedelta(hours=1),)


async def test_each_choice_changes_alone_and_the_others_stay(store: Store) -> None:
    subscriptions = await subscribed(store)
    await subscriptions.set_reminders(CHAT, (timedelta(hours=1),))
    await subscriptions.set_quiet(CHAT, QuietHours(time(22), time(7), digest=True))

    after = await subscriptions.set_timezone(CHAT, "Europe/Berlin")

    assert after == Preferences(
        reminders=(timedelta(hours=1),),
        quiet=QuietHours(time(22), time(7), digest=True),
        timezone="Europe/Berlin",
    )
    assert await store.preferences(CHAT) == after


async def test_switching_reminders_and_quiet_hours_off_keeps_the_zone(store: Store) -> None:
    subscriptions = await subscribed(store)
    await subscriptions.set_timezone(CHAT, "Asia/Tokyo")
    await subscriptions.set_reminders(CHAT, (timedelta(days=1),))
    await subscriptions.set_quiet(CHAT, QuietHours(time(23), time(6)))

    await subscriptions.set_reminders(CHAT, ())
    after = await subscriptions.set_quiet(CHAT, None)

    assert after == Preferences(timezone="Asia/Tokyo")


async def test_a_chat_without_a_zone_reads_times_in_utc(store: Store) -> None:
    subscriptions = await subscribed(store)

    assert (await subscriptions.zone(CHAT)).key == "UTC"


def test_settings_describe_every_choice() -> None:
    preferences = Preferences(
        reminders=(timedelta(hours=1), timedelta(minutes=10)),
        quiet=QuietHours(time(22), time(7), digest=True),
        timezone="Europe/Berlin",
    )

    assert describe_settings(SubscriptionFilter(), preferences) == [
        ("Alerts here", "everything at any station"),
        ("Reminders", "1h and 10m before each planned docking, departure or event"),
        ("Quiet hours", "22:00-07:00 Europe/Berlin time, alerts held for one digest at the end"),
        ("Time zone", "Europe/Berlin"),
    ]


def test_settings_of_a_chat_that_chose_nothing_say_so() -> None:
    assert describe_settings(SubscriptionFilter(), Preferences())[1:] == [
        ("Reminders", "off"),
        ("Quiet hours", "off"),
        ("Time zone", "UTC (the default)"),
    ]
