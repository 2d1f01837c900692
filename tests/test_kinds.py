"""The kinds table: complete, unique, and rendered for every kind by every built-in platform."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from dockwatch.bot.model import KINDS, ChangeKind, Revision
from dockwatch.bot.subscriptions import KIND_WORDS
from dockwatch.notifiers import ntfy, platforms
from dockwatch.notifiers.console import render
from dockwatch.notifiers.discord.notifier import build_embed
from dockwatch.notifiers.matrix.notifier import render as render_matrix
from dockwatch.notifiers.telegram.notifier import render_html
from dockwatch.notifiers.webhook import webhook_body
from tests.builders import correction_of, messages_of_every_kind

SCHEMA = json.loads((Path(__file__).parents[1] / "notifiers" / "webhook.schema.json").read_text())
PLATFORMS = ["console", "discord", "matrix", "ntfy", "telegram", "webhooks"]
WEBHOOK_TYPES = {
    # The public contract: receivers switch on these strings; never rename one.
    ChangeKind.DOCKED: "docking.docked",
    ChangeKind.DEPARTED: "docking.departed",
    ChangeKind.RELOCATED: "docking.relocated",
    ChangeKind.WEBCAST_STARTED: "event.webcast_started",
    ChangeKind.DOCKING_REMINDER: "docking.reminder",
    ChangeKind.DEPARTURE_REMINDER: "departure.reminder",
    ChangeKind.EVENT_REMINDER: "event.reminder",
    ChangeKind.TEST: "dockwatch.test",
}
HEADLINES = {
    ChangeKind.DOCKED: "Cygnus NG-23 docked at International Space Station",
    ChangeKind.DEPARTED: "Progress MS-32 departed International Space Station",
    ChangeKind.RELOCATED: "Soyuz MS-27 moved to another port at International Space Station",
    ChangeKind.WEBCAST_STARTED: "Webcast live: Crew-12 Docking",
    ChangeKind.DOCKING_REMINDER: "In 1 hour: Crew Dragon Endeavour docks at International Space Station",
    ChangeKind.DEPARTURE_REMINDER: "In 1 hour: Soyuz MS-28 departs International Space Station",
    ChangeKind.EVENT_REMINDER: "In 1 hour: Crew-12 Docking begins",
    ChangeKind.TEST: "dockwatch test message: this target works",
}
DISCORD_TITLES = HEADLINES | {
    # How soon is a <t:R> timestamp in the description: titles cannot show one.
    ChangeKind.DOCKING_REMINDER: "Crew Dragon Endeavour docks at International Space Station",
    ChangeKind.DEPARTURE_REMINDER: "Soyuz MS-28 departs International Space Station",
    ChangeKind.EVENT_REMINDER: "Crew-12 Docking begins",
}
DISCORD_FIELDS = {
    ChangeKind.DOCKED: ["Station", "Port", "Vehicle", "Docked"],
    ChangeKind.DEPARTED: ["Station", "Port", "Vehicle", "Departed", "Stayed"],
    ChangeKind.RELOCATED: ["Station", "Port", "Vehicle", "Docked"],
    ChangeKind.WEBCAST_STARTED: ["Where", "Event"],
    ChangeKind.DOCKING_REMINDER: ["Station", "Port", "Vehicle", "Planned"],
    ChangeKind.DEPARTURE_REMINDER: ["Station", "Port", "Vehicle", "Planned"],
    ChangeKind.EVENT_REMINDER: ["Where", "Planned"],
    ChangeKind.TEST: [],
}
NTFY_EMOJI = {
    # ntfy shows an emoji shortcode tag before the title: the kinds table's emoji, by name.
    ChangeKind.DOCKED: "artificial_satellite",
    ChangeKind.DEPARTED: "wave",
    ChangeKind.RELOCATED: "repeat",
    ChangeKind.WEBCAST_STARTED: "red_circle",
    ChangeKind.DOCKING_REMINDER: "alarm_clock",
    ChangeKind.DEPARTURE_REMINDER: "alarm_clock",
    ChangeKind.EVENT_REMINDER: "alarm_clock",
    ChangeKind.TEST: "test_tube",
}
WITH_WEBCAST_LINK = {ChangeKind.WEBCAST_STARTED, ChangeKind.EVENT_REMINDER}
KIND_IDS = [kind.name.lower() for kind in ChangeKind]


def test_the_table_has_one_row_per_kind_in_the_enums_order() -> None:
    assert list(KINDS) == list(ChangeKind)


@pytest.mark.parametrize(
    "column", ["key_prefix", "webhook_type", "title", "word", "colour", "emoji"], ids=str
)
def test_no_two_kinds_share_a_value_that_tells_them_apart(column: str) -> None:
    values = [getattr(spec, column) for spec in KINDS.values()]
    if column == "word":  # only the kinds chats switch by name have one
        values = [value for value in values if value is not None]
    if column == "emoji":  # every reminder wears the alarm clock
        values = [value for value in values if value != "⏰"]

    assert len(set(values)) == len(values)


def test_every_reminder_follows_an_announced_kind_that_chats_switch_by_name() -> None:
    reminded = {spec.reminds for spec in KINDS.values() if spec.reminds is not None}

    assert reminded == {ChangeKind.DOCKED, ChangeKind.DEPARTED, ChangeKind.WEBCAST_STARTED}
    assert all(KINDS[kind].word is not None for kind in reminded)


def test_webhook_types_are_the_published_contract() -> None:
    assert {kind: spec.webhook_type for kind, spec in KINDS.items()} == WEBHOOK_TYPES
    correction_types = list(dict.fromkeys(reason.webhook_type for reason in Revision))
    assert correction_types == ["notification.corrected", "notification.updated"]
    assert (
        SCHEMA["properties"]["type"]["enum"]
        == [spec.webhook_type for spec in KINDS.values()] + correction_types
    )
    assert all(spec.webhook_type == kind.value for kind, spec in KINDS.items())


def test_key_prefixes_cannot_be_confused_with_a_key_of_another_kind() -> None:
    keys = [spec.key(630) for spec in KINDS.values()]

    assert all(":" not in spec.key_prefix and "#" not in spec.key_prefix for spec in KINDS.values())
    assert len(set(keys)) == len(keys)


def test_chat_commands_accept_the_words_from_the_table() -> None:
    assert KIND_WORDS == {
        "docked": ChangeKind.DOCKED,
        "departed": ChangeKind.DEPARTED,
        "relocated": ChangeKind.RELOCATED,
        "webcast": ChangeKind.WEBCAST_STARTED,
    }


def test_every_built_in_platform_is_rendered_below() -> None:
    assert sorted(platforms()) == PLATFORMS


@pytest.mark.parametrize("kind", [k for k in ChangeKind if k is not ChangeKind.TEST], ids=str)
def test_detection_keys_a_change_with_its_kinds_prefix(kind: ChangeKind) -> None:
    message = messages_of_every_kind()[kind]
    ll2_id = message.event_id if message.event_id is not None else message.docking_event_id
    assert ll2_id is not None

    assert message.key.startswith(f"{KINDS[kind].key(ll2_id)}")
    assert message.key.partition("@")[0] in (KINDS[kind].key(ll2_id), f"{KINDS[kind].key(ll2_id)}:3600")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("kind", list(ChangeKind), ids=KIND_IDS)
def test_every_platform_renders_every_kind(kind: ChangeKind, platform: str) -> None:
    message = messages_of_every_kind()[kind]
    spec = KINDS[kind]

    if platform == "console":
        lines = render(message).splitlines()
        assert lines[0] == f"▶ {HEADLINES[kind]}"
        assert len(lines) > 1
    elif platform == "discord":
        embed = build_embed(message)
        assert embed.title == DISCORD_TITLES[kind]
        assert embed.colour is not None and embed.colour.value == spec.colour
        assert [field.name for field in embed.fields] == DISCORD_FIELDS[kind]
    elif platform == "matrix":
        body, formatted = render_matrix(message)
        assert body.splitlines()[0] == f"{spec.emoji} {HEADLINES[kind]}"
        assert formatted.split("<br>")[0] == f"{spec.emoji} <b>{HEADLINES[kind]}</b>"
        assert ("Watch the webcast" in formatted) == (kind in WITH_WEBCAST_LINK)
    elif platform == "ntfy":
        assert ntfy.title(message) == HEADLINES[kind]
        assert ntfy.tags_of(message)[0] == NTFY_EMOJI[kind]
        assert ("[Watch the webcast]" in ntfy.body(message)) == (kind in WITH_WEBCAST_LINK)
    elif platform == "telegram":
        text = render_html(message)
        assert text.splitlines()[0] == f"{spec.emoji} <b>{HEADLINES[kind]}</b>"
        assert ("Watch the webcast" in text) == (kind in WITH_WEBCAST_LINK)
    elif platform == "webhooks":
        body = webhook_body(message)
        jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert body["type"] == spec.webhook_type == WEBHOOK_TYPES[kind]
    else:
        pytest.fail(f"no rendering check for platform {platform!r}")


NOT_YET = {
    ChangeKind.DOCKED: "Correction: Cygnus NG-23 has not docked at International Space Station yet",
    ChangeKind.DEPARTED: "Correction: Progress MS-32 has not departed International Space Station yet",
    ChangeKind.RELOCATED: (
        "Correction: Soyuz MS-27 has not moved to another port at International Space Station yet"
    ),
    ChangeKind.WEBCAST_STARTED: "Correction: the webcast of Crew-12 Docking is not live yet",
}


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("kind", list(NOT_YET), ids=str)
def test_every_platform_marks_a_rescheduled_correction_of_every_kind(kind: ChangeKind, platform: str) -> None:
    announced = messages_of_every_kind()[kind]
    message = correction_of(announced, Revision.RESCHEDULED, announced.occurred_at + timedelta(hours=3))

    if platform == "console":
        lines = render(message).splitlines()
        assert lines[0] == f"▶ {NOT_YET[kind]}"
        assert lines[1].startswith("    LL2 now expects it at ")
    elif platform == "discord":
        embed = build_embed(message)
        assert embed.title == NOT_YET[kind]
        assert embed.description is not None and embed.description.startswith("LL2 now expects it at ")
    elif platform == "matrix":
        body, formatted = render_matrix(message)
        assert body.splitlines()[:1] == [f"{KINDS[kind].emoji} {NOT_YET[kind]}"]
        assert body.splitlines()[1].startswith("LL2 now expects it at ")
        assert formatted.split("<br>")[1].startswith("<i>LL2 now expects it at ")
    elif platform == "ntfy":
        assert ntfy.title(message) == NOT_YET[kind]
        assert ntfy.body(message).startswith("*LL2 now expects it at ")
    elif platform == "telegram":
        lines = render_html(message).splitlines()
        assert lines[0] == f"{KINDS[kind].emoji} <b>{NOT_YET[kind]}</b>"
        assert lines[1].startswith("<i>LL2 now expects it at ")
    elif platform == "webhooks":
        body = webhook_body(message)
        jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert (body["type"], body["data"]["corrects"]) == ("notification.corrected", announced.key)
    else:
        pytest.fail(f"no correction check for platform {platform!r}")
