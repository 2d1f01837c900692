"""The Matrix platform: the real ``nio.AsyncClient`` against the fake homeserver on 127.0.0.1."""

from __future__ import annotations

import html.parser
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwatch.bot.config import Config, config_from_mapping
from dockwatch.bot.errors import ConfigError, PermanentFailure, PlatformUnavailable, RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message, Receipt, Ref, Revision, VehicleRef
from dockwatch.bot.pipeline import CycleOutcome, run_cycle
from dockwatch.bot.runtime import Runtime
from dockwatch.notifiers.base import CorrectingNotifier, EditingNotifier, Presentation
from dockwatch.notifiers.matrix import PLATFORM, MatrixConfig, room_key
from dockwatch.notifiers.matrix.notifier import (
    MatrixNotifier,
    edit_content,
    notice,
    render,
    render_reply,
    reply_content,
)
from tests.builders import DETECTED_KINDS, correction_of, ll2_docking, message_with
from tests.conftest import Clock, serving, started
from tests.fakes.ll2 import FakeLL2
from tests.fakes.matrix import FakeMatrix
from tests.service_harness import StartRun, eventually, free_port
from tests.test_cli import dockwatch

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)
ROOM = "!announcements:fake.test"
OTHER = "!ops:fake.test"
PAUSE = 3600.0
EVENT_LIMIT = 65536
"""Matrix's limit on a whole event (content, signatures and all), in bytes of canonical JSON."""


def docked(vehicle: str = "Cargo Dragon C209", station: str = "International Space Station") -> Message:
    return Message(
        kind=ChangeKind.DOCKED,
        key="docked:630",
        occurred_at=NOW,
        docking_event_id=630,
        station=Ref(id=4, name=station),
        port=Ref(id=30, name="Harmony zenith"),
        vehicle=VehicleRef(id=877, name=vehicle, kind="spacecraft_flight"),
        location=station,
        docking=NOW,
    )


def rescheduled() -> Message:
    return correction_of(docked(), Revision.RESCHEDULED, LATER)


def with_token(fake: FakeMatrix) -> MatrixConfig:
    return MatrixConfig(homeserver=fake.homeserver, access_token=fake.access_token, room_ids=[ROOM, OTHER])


def with_password(fake: FakeMatrix) -> MatrixConfig:
    return MatrixConfig(
        homeserver=fake.homeserver, user=fake.user_id, password=fake.password, room_ids=[ROOM]
    )


def stored(receipt: Receipt) -> Receipt:
    """The receipt as the delivery row gives it back: through JSON."""
    return Receipt.model_validate(receipt.model_dump(mode="json"))


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


@pytest.fixture
def fake(fake_matrix: FakeMatrix) -> FakeMatrix:
    fake_matrix.joined |= {ROOM, OTHER}
    return fake_matrix


@pytest.fixture
async def notifier(fake: FakeMatrix) -> AsyncIterator[MatrixNotifier]:
    async with started(MatrixNotifier(with_token(fake))) as opened:
        yield opened


# --- what a room reads -------------------------------------------------------------------------------


async def test_a_docking_reaches_the_room_as_a_notice_with_a_plain_and_an_html_body(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    receipt = await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    event = only(fake.messages(ROOM))
    assert receipt.message == {"room_id": ROOM, "event_id": event["event_id"]}
    assert event["content"] == {
        "msgtype": "m.notice",
        "body": "🛰 Cargo Dragon C209 docked at International Space Station\n"
        "Station: International Space Station\nPort: Harmony zenith\nVehicle: Cargo Dragon C209\n"
        "Docked: 2026-01-01 12:00 UTC",
        "format": "org.matrix.custom.html",
        "formatted_body": "🛰 <b>Cargo Dragon C209 docked at International Space Station</b><br>"
        "<b>Station:</b> International Space Station<br><b>Port:</b> Harmony zenith<br>"
        "<b>Vehicle:</b> Cargo Dragon C209<br><b>Docked:</b> 2026-01-01 12:00 UTC",
    }


async def test_times_are_shown_in_the_rooms_zone(notifier: MatrixNotifier, fake: FakeMatrix) -> None:
    berlin = Presentation(zone=ZoneInfo("Europe/Berlin"))

    await notifier.send(room_key(ROOM), docked(), delivery_id=1, presentation=berlin)

    content = only(fake.messages(ROOM))["content"]
    assert content["body"].endswith("Docked: 2026-01-01 13:00 CET")
    assert content["formatted_body"].endswith("<b>Docked:</b> 2026-01-01 13:00 CET")


async def test_a_delivery_in_quiet_hours_is_the_same_notice_since_notices_never_ping(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    await notifier.send(room_key(OTHER), docked(), delivery_id=2, presentation=Presentation(silent=True))

    assert only(fake.messages(OTHER))["content"] == only(fake.messages(ROOM))["content"]


def test_ll2_strings_are_escaped_in_the_html_and_kept_as_they_are_in_the_plain_body() -> None:
    body, formatted = render(docked(vehicle="<b>Evil</b> & Co"))

    assert body.startswith("🛰 <b>Evil</b> & Co docked at")
    assert formatted.startswith("🛰 <b>&lt;b&gt;Evil&lt;/b&gt; &amp; Co docked at")


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://youtu.be/x?a=1&b=2", True),
        ("javascript:alert(1)", False),
        ("https://x.test/" + "a" * 3000, False),
    ],
    ids=["https", "javascript", "too long"],
)
def test_a_webcast_links_to_its_stream_only_when_the_url_is_a_usable_web_address(
    url: str, linked: bool
) -> None:
    message = message_with(
        ChangeKind.WEBCAST_STARTED,
        vehicle="V",
        station="S",
        port="P",
        event="Crew-12 Docking",
        webcast_url=url,
    )

    body, formatted = render(message)

    assert (f"Watch the webcast: {url}" in body) is linked
    assert ('<a href="https://youtu.be/x?a=1&amp;b=2">Watch the webcast</a>' in formatted) is linked
    assert url not in formatted


# --- one delivery, one event -------------------------------------------------------------------------


async def test_a_delivery_sent_twice_is_one_event_with_one_receipt(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    first = await notifier.send(room_key(ROOM), docked(), delivery_id=7)
    again = await notifier.send(room_key(ROOM), docked(), delivery_id=7)

    assert len(fake.sends(ROOM)) == 2
    assert first == again
    assert len(fake.messages(ROOM)) == 1


async def test_a_retry_after_a_restart_and_a_new_password_login_is_still_one_event(fake: FakeMatrix) -> None:
    async with started(MatrixNotifier(with_password(fake))) as before_the_crash:
        first = await before_the_crash.send(room_key(ROOM), docked(), delivery_id=7)

    async with started(MatrixNotifier(with_password(fake))) as after_the_restart:
        again = await after_the_restart.send(room_key(ROOM), docked(), delivery_id=7)

    assert fake.logins == 2
    assert again == first
    assert len(fake.messages(ROOM)) == 1


async def test_two_installations_sharing_an_account_do_not_take_each_others_deliveries_for_retries(
    fake: FakeMatrix,
) -> None:
    departed = docked().model_copy(update={"kind": ChangeKind.DEPARTED, "key": "departed:630"})
    async with (
        started(MatrixNotifier(with_token(fake))) as one,
        started(MatrixNotifier(with_token(fake))) as two,
    ):
        await one.send(room_key(ROOM), docked(), delivery_id=1)
        await two.send(room_key(ROOM), departed, delivery_id=1)

    assert [e["content"]["body"].split("\n")[0] for e in fake.messages(ROOM)] == [
        "🛰 Cargo Dragon C209 docked at International Space Station",
        "👋 Cargo Dragon C209 departed International Space Station",
    ]


# --- corrections -------------------------------------------------------------------------------------


def test_the_matrix_notifier_can_edit_and_correct(notifier: MatrixNotifier) -> None:
    assert isinstance(notifier, EditingNotifier)
    assert isinstance(notifier, CorrectingNotifier)


async def test_a_rescheduled_docking_edits_the_notice_and_replies_to_it(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    sent = await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    original = sent.message["event_id"]

    receipt = await notifier.correct(room_key(ROOM), rescheduled(), stored(sent), delivery_id=2)

    edit = fake.messages(ROOM)[1]
    assert edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": original}
    assert edit["content"]["body"].startswith("* 🛰 Correction: Cargo Dragon C209 has not docked")
    shown = only([e for e in fake.shown(ROOM) if e["event_id"] == original])
    assert shown["content"]["formatted_body"].startswith(
        "🛰 <b>Correction: Cargo Dragon C209 has not docked at International Space Station yet</b><br>"
        "<i>LL2 now expects it at 2026-01-01 15:00 UTC.</i>"
    )
    reply = only(fake.replies_to(ROOM, str(original)))
    assert reply["content"]["body"] == (
        "Correction: Cargo Dragon C209 has not docked at International Space Station yet. "
        "LL2 now expects it at 2026-01-01 15:00 UTC."
    )
    assert reply["content"]["msgtype"] == "m.notice"
    assert receipt.message == {"room_id": ROOM, "event_id": reply["event_id"]}


async def test_a_refined_time_only_edits_the_notice(notifier: MatrixNotifier, fake: FakeMatrix) -> None:
    sent = await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    refined = correction_of(docked(), Revision.REFINED, NOW.replace(minute=7))

    receipt = await notifier.correct(room_key(ROOM), refined, stored(sent), delivery_id=2)

    assert receipt == sent
    assert len(fake.messages(ROOM)) == 2  # the notice and its edit, no reply
    assert only(fake.shown(ROOM))["content"]["body"].endswith("Docked: 2026-01-01 12:07 UTC")


async def test_a_retried_correction_edits_once_and_replies_once(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    sent = await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    first = await notifier.correct(room_key(ROOM), rescheduled(), stored(sent), delivery_id=2)
    again = await notifier.correct(room_key(ROOM), rescheduled(), stored(sent), delivery_id=2)

    assert first == again
    assert len(fake.messages(ROOM)) == 3  # the notice, one edit, one reply


async def test_a_correction_of_an_event_the_homeserver_does_not_know_is_posted_alone(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    lost = Receipt(platform="matrix", message={"room_id": ROOM, "event_id": "$neverSentHere"})

    receipt = await notifier.correct(room_key(ROOM), rescheduled(), lost, delivery_id=2)

    posted = only(fake.messages(ROOM))
    assert "m.relates_to" not in posted["content"]
    assert posted["content"]["body"] == render(rescheduled())[0]
    assert receipt.message["event_id"] == posted["event_id"]


async def test_an_edit_answered_m_not_found_posts_the_correction_alone_and_keeps_the_room(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    fake.unknown_relation = (404, "M_NOT_FOUND")
    lost = Receipt(platform="matrix", message={"room_id": ROOM, "event_id": "$neverSentHere"})

    await notifier.correct(room_key(ROOM), rescheduled(), lost, delivery_id=2)

    assert "m.relates_to" not in only(fake.messages(ROOM))["content"]


async def test_a_receipt_of_another_platform_cannot_be_edited(notifier: MatrixNotifier) -> None:
    telegram = Receipt(platform="telegram", message={"chat_id": 111, "message_id": 5})

    with pytest.raises(PermanentFailure, match="not a Matrix message receipt"):
        await notifier.edit(telegram, rescheduled())


async def test_a_correction_in_a_room_that_banned_the_account_means_the_room_is_gone(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    sent = await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    fake.refusals[ROOM] = (403, "M_FORBIDDEN", "You are banned from this room")

    with pytest.raises(TargetGone, match="banned"):
        await notifier.correct(room_key(ROOM), rescheduled(), stored(sent), delivery_id=2)


# --- failures ----------------------------------------------------------------------------------------


async def test_a_rate_limit_is_retried_later_after_the_homeservers_retry_after_ms(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    fake.rate_limited[ROOM] = [2500]

    with pytest.raises(RetryLater, match="M_LIMIT_EXCEEDED") as caught:
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert caught.value.retry_after == 2.5
    assert len(fake.sends(ROOM)) == 1  # nio did not sleep through it and try again itself


async def test_a_rate_limit_with_only_a_retry_after_header_is_honoured_too(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    fake.rate_limited[ROOM] = ["7"]

    with pytest.raises(RetryLater) as caught:
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [
        ((403, "M_FORBIDDEN", "You are banned from this room"), "banned"),
        ((404, "M_NOT_FOUND", "Unknown room"), "Unknown room"),
    ],
    ids=["forbidden", "unknown room"],
)
async def test_a_room_that_refuses_the_account_or_is_unknown_is_gone(
    notifier: MatrixNotifier, fake: FakeMatrix, refusal: tuple[int, str, str], reason: str
) -> None:
    fake.refusals[ROOM] = refusal

    with pytest.raises(TargetGone, match=reason):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)


async def test_a_room_the_account_never_joined_is_gone(notifier: MatrixNotifier, fake: FakeMatrix) -> None:
    fake.joined.discard(ROOM)

    with pytest.raises(TargetGone, match=r"HTTP 403 M_FORBIDDEN User @dockwatch:fake.test not in room"):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)


async def test_a_request_the_homeserver_rejects_is_never_retried(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    fake.refusals[ROOM] = (413, "M_TOO_LARGE", "event too large")

    with pytest.raises(PermanentFailure, match="M_TOO_LARGE"):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)


async def test_a_proxys_bad_gateway_page_is_retried_later(notifier: MatrixNotifier, fake: FakeMatrix) -> None:
    fake.failing.add(ROOM)

    with pytest.raises(RetryLater, match="HTTP 502"):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)


async def test_a_homeserver_that_never_answers_is_retried_later_after_the_send_timeout(
    fake: FakeMatrix,
) -> None:
    fake.silent.add(ROOM)
    async with started(MatrixNotifier(with_token(fake), send_timeout=0.3)) as impatient:
        with pytest.raises(RetryLater, match="did not answer in time"):
            await impatient.send(room_key(ROOM), docked(), delivery_id=1)


async def test_a_homeserver_that_went_away_is_retried_later() -> None:
    fake = FakeMatrix(joined={ROOM})
    async with serving(fake.app()) as server:
        fake.homeserver = str(server.make_url("")).rstrip("/")
        notifier = MatrixNotifier(with_token(fake))
        await notifier.start()

    with pytest.raises(RetryLater, match=r"cannot reach the homeserver http://127\.0\.0\.1:"):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    await notifier.close()


async def test_a_configured_token_the_homeserver_stopped_accepting_pauses_deliveries(
    notifier: MatrixNotifier, fake: FakeMatrix
) -> None:
    fake.end_sessions()

    with pytest.raises(RetryLater, match=r"no longer accepts matrix\.access_token") as caught:
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert caught.value.retry_after == PAUSE


async def test_a_password_session_the_homeserver_ended_is_logged_in_again_and_the_notice_posted_once(
    fake: FakeMatrix,
) -> None:
    async with started(MatrixNotifier(with_password(fake))) as notifier:
        fake.end_sessions()
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert fake.logins == 2
    assert len(fake.sends(ROOM)) == 2 and len(fake.messages(ROOM)) == 1


async def test_a_password_that_no_longer_logs_in_pauses_deliveries(fake: FakeMatrix) -> None:
    async with started(MatrixNotifier(with_password(fake))) as notifier:
        fake.end_sessions()
        fake.password = "changed by someone"
        with pytest.raises(RetryLater, match="new login refused") as caught:
            await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert caught.value.retry_after == PAUSE


async def test_a_send_before_the_first_login_succeeded_is_retried_later(fake: FakeMatrix) -> None:
    notifier = MatrixNotifier(with_password(fake))  # never started: the homeserver was down

    with pytest.raises(RetryLater, match="Not logged in"):
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)
    assert fake.sends(ROOM) == []


@pytest.mark.parametrize("failure", ["rate limit", "forbidden", "bad gateway", "ended session", "timeout"])
async def test_no_error_text_carries_the_access_token(fake: FakeMatrix, failure: str) -> None:
    if failure == "rate limit":
        fake.rate_limited[ROOM] = [1000]
    elif failure == "forbidden":
        fake.refusals[ROOM] = (403, "M_FORBIDDEN", "nope")
    elif failure == "bad gateway":
        fake.failing.add(ROOM)
    elif failure == "timeout":
        fake.silent.add(ROOM)
    async with started(MatrixNotifier(with_token(fake), send_timeout=0.3)) as notifier:
        if failure == "ended session":
            fake.end_sessions()
        with pytest.raises((RetryLater, TargetGone)) as caught:
            await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    assert fake.access_token not in str(caught.value)
    assert "access_token=" not in str(caught.value)


async def test_nio_logs_carry_neither_the_password_nor_the_access_token_it_gets(
    fake: FakeMatrix, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with started(MatrixNotifier(with_password(fake))) as notifier:
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)
        token = notifier.client.access_token

    assert token.startswith("syt_login_")
    assert token not in caplog.text
    assert fake.password not in caplog.text


# --- start -------------------------------------------------------------------------------------------


async def test_a_configured_token_is_checked_once_at_start_with_whoami(fake: FakeMatrix) -> None:
    async with started(MatrixNotifier(with_token(fake))):
        pass

    (call,) = fake.calls
    assert (call.method, call.path) == ("GET", "/_matrix/client/v3/account/whoami")
    assert call.authorization == f"Bearer {fake.access_token}"


async def test_a_token_the_homeserver_rejects_is_one_line_at_start(fake: FakeMatrix) -> None:
    config = MatrixConfig(homeserver=fake.homeserver, access_token="syt_revoked", room_ids=[ROOM])
    notifier = MatrixNotifier(config)

    with pytest.raises(PlatformUnavailable) as caught:
        await notifier.start()
    await notifier.close()

    assert str(caught.value) == "matrix.access_token: rejected by the homeserver"


async def test_a_password_login_names_the_dockwatch_device_and_sends_with_the_token_it_gets(
    fake: FakeMatrix,
) -> None:
    async with started(MatrixNotifier(with_password(fake))) as notifier:
        await notifier.send(room_key(ROOM), docked(), delivery_id=1)

    login, send = fake.calls
    assert login.body is not None and login.body["device_id"] == "DOCKWATCH"
    assert login.body["identifier"] == {"type": "m.id.user", "user": fake.user_id}
    assert send.authorization == "Bearer syt_login_1_DOCKWATCH"


async def test_a_wrong_password_is_one_line_at_start_without_the_password(fake: FakeMatrix) -> None:
    config = MatrixConfig(homeserver=fake.homeserver, user="dockwatch", password="hunter2", room_ids=[ROOM])
    notifier = MatrixNotifier(config)

    with pytest.raises(PlatformUnavailable) as caught:
        await notifier.start()
    await notifier.close()

    assert str(caught.value) == (
        "matrix.password: rejected by the homeserver (HTTP 403 M_FORBIDDEN Invalid username or password)"
    )


async def test_an_unreachable_homeserver_is_one_line_at_start() -> None:
    port = free_port()
    config = MatrixConfig(homeserver=f"http://127.0.0.1:{port}", access_token="syt_x", room_ids=[ROOM])
    notifier = MatrixNotifier(config)

    with pytest.raises(PlatformUnavailable) as caught:
        await notifier.start()
    await notifier.close()

    assert str(caught.value).startswith(f"matrix: cannot reach the homeserver http://127.0.0.1:{port}: ")
    assert "\n" not in str(caught.value)


# --- the [matrix] table ------------------------------------------------------------------------------


def matrix_table(**keys: object) -> dict[str, object]:
    table: dict[str, object] = {"homeserver": "https://matrix.example.org", "room_ids": [ROOM]}
    table.update(keys)
    return {"matrix": {k: v for k, v in table.items() if v is not None}}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            matrix_table(homeserver="matrix.example.org", access_token="t"),
            "matrix.homeserver: must be an http(s) URL",
        ),
        (matrix_table(), "matrix: needs credentials: access_token, or user and password"),
        (
            matrix_table(access_token="t", user="@bot:example.org", password="p"),
            "matrix: give access_token, or user and password, not both",
        ),
        (matrix_table(user="@bot:example.org"), "matrix: user and password go together: password is missing"),
        (matrix_table(password="p"), "matrix: user and password go together: user is missing"),
        (
            matrix_table(user="bot@example.org", password="p"),
            "matrix.user: 'bot@example.org' is not a Matrix user",
        ),
        (matrix_table(access_token=""), "matrix.access_token: is empty"),
        (
            matrix_table(access_token="t", room_ids=[ROOM, "#launches:example.org"]),
            "matrix.room_ids.1: '#launches:example.org' is a room alias, not a room id",
        ),
        (
            matrix_table(access_token="t", room_ids=["launches"]),
            "matrix.room_ids.0: 'launches' is not a room id: it looks like !AbCdEf:example.org",
        ),
        (matrix_table(access_token="t", room_ids=[]), "matrix: configures nothing: add room_ids"),
    ],
    ids=[
        "homeserver not a URL",
        "no credentials",
        "token and password",
        "user without password",
        "password without user",
        "user not a Matrix id",
        "empty token",
        "room alias",
        "room id without its server",
        "no rooms",
    ],
)
def test_an_unusable_matrix_table_is_a_one_line_error_naming_the_key(
    table: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(table, source="inline", environ={})

    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"inline: {expected}")


def test_rooms_may_come_from_the_environment_and_room_version_12_ids_name_no_server() -> None:
    v12 = "!" + "A" * 40 + "b_-"
    environ = {"DOCKWATCH_MATRIX__ROOM_IDS": f"{ROOM}, {v12}", "TOKEN": "syt_secret"}

    config = config_from_mapping(
        {"matrix": {"homeserver": "https://matrix.example.org/", "access_token": "${TOKEN}"}},
        source="inline",
        environ=environ,
    )

    settings = config.platforms["matrix"]
    assert settings.room_ids == [ROOM, v12]
    assert settings.homeserver == "https://matrix.example.org"
    assert [t.key for t in PLATFORM.targets(settings)] == [f"matrix:{ROOM}", f"matrix:{v12}"]


def test_the_config_never_shows_the_token_or_the_password() -> None:
    config = config_from_mapping(
        matrix_table(user="@bot:example.org", password="hunter2-secret"), source="inline", environ={}
    )
    token_config = config_from_mapping(
        matrix_table(access_token="syt_secret_token"), source="inline", environ={}
    )

    shown = (
        repr(config)
        + str(config)
        + repr(token_config)
        + "\n".join(
            PLATFORM.describe(config.platforms["matrix"])
            + PLATFORM.describe(token_config.platforms["matrix"])
        )
    )

    assert "hunter2-secret" not in shown and "syt_secret_token" not in shown
    assert PLATFORM.describe(token_config.platforms["matrix"]) == [
        f"matrix room {ROOM}  on https://matrix.example.org, access_token: hidden"
    ]


async def test_check_config_and_status_show_the_rooms_with_the_token_hidden(
    tmp_path: Path, fake: FakeMatrix, fake_ll2: FakeLL2
) -> None:
    config = tmp_path / "dockwatch.toml"
    config.write_text(
        f'[api]\nbase_url = "{fake_ll2.base_url}"\n[storage]\nurl = "sqlite:///state.db"\n'
        f'[matrix]\nhomeserver = "{fake.homeserver}"\naccess_token = "{fake.access_token}"\n'
        f'room_ids = ["{ROOM}"]\n'
    )
    assert (await dockwatch("poll-once", "--config", str(config))).code == 0  # the baseline
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=1))]
    assert (await dockwatch("poll-once", "--config", str(config))).code == 0

    checked = await dockwatch("check-config", "--config", str(config))
    status = await dockwatch("status", "--config", str(config))

    assert checked.code == 0, checked.err
    assert (
        f"matrix room {ROOM}  on http://127.0.0.1:" in checked.out and "access_token: hidden" in checked.out
    )
    assert f"matrix:{ROOM}  Matrix room {ROOM}  enabled" in status.out
    assert "  matrix  ok (checked " in status.out
    event_id = only(fake.messages(ROOM))["event_id"]
    assert f"docked:630 -> matrix:{ROOM}: matrix event_id={event_id} room_id={ROOM}" in status.out
    assert fake.access_token not in checked.out + checked.err + status.out + status.err


# --- limits ------------------------------------------------------------------------------------------


class _MatrixHTML(html.parser.HTMLParser):
    """The subset of HTML dockwatch writes, checked for balance."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in {"b", "i", "a", "br"}, tag
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"]
            assert str(attrs[0][1]).startswith(("https://", "http://"))
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag


def size(content: dict[str, Any]) -> int:
    """Bytes of the content as the homeserver stores it: canonical JSON, UTF-8."""
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())


ll2_strings = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("<>&\"'🛰🚀&amp;</b>\\"),
    max_size=5000,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(ChangeKind)),
    vehicle=ll2_strings,
    station=ll2_strings,
    port=ll2_strings,
    event=ll2_strings,
    url=st.sampled_from(
        [None, "https://youtu.be/x?a=1&b=<2>", "javascript:alert(1)", "https://x.test/" + "a" * 3000]
    ),
    reason=st.sampled_from([None, *Revision]),
)
def test_every_notice_edit_and_reply_is_well_formed_and_far_within_matrixs_event_limit(
    kind: ChangeKind,
    vehicle: str,
    station: str,
    port: str,
    event: str,
    url: str | None,
    reason: Revision | None,
) -> None:
    message = message_with(kind, vehicle=vehicle, station=station, port=port, event=event, webcast_url=url)
    if reason is not None and kind in DETECTED_KINDS:
        message = correction_of(message, reason, None if reason is Revision.WITHDRAWN else LATER)
    body, formatted = render(message)
    reply_body, reply_formatted = render_reply(message)

    for text in (formatted, reply_formatted):
        checker = _MatrixHTML()
        checker.feed(text)
        checker.close()
        assert checker.stack == []
    assert max(len(text.encode()) for text in (body, formatted, reply_body, reply_formatted)) <= 16 * 1024
    for content in (
        notice(body, formatted),
        edit_content("$" + "e" * 43, body, formatted),
        reply_content("$" + "e" * 43, reply_body, reply_formatted),
    ):
        assert size(content) <= EVENT_LIMIT // 2  # the rest is the event's envelope, with room to spare


# --- end to end: the runtime and `dockwatch run` --------------------------------------------------------


@pytest.fixture
def config(fake_ll2: FakeLL2, fake: FakeMatrix, db_url: str) -> Config:
    """LL2 and one Matrix room on the fakes (the conftest's ``app`` opens the real runtime on it)."""
    return config_from_mapping(
        {
            "api": {"base_url": fake_ll2.base_url, "requests_per_hour": 1000},
            "storage": {"url": db_url},
            "matrix": {"homeserver": fake.homeserver, "access_token": fake.access_token, "room_ids": [ROOM]},
        },
        source="test",
        environ={},
    )


async def cycle(app: Runtime) -> CycleOutcome:
    return await run_cycle(app, stale_after=timedelta(hours=48), webcast_window=timedelta(hours=3))


async def test_a_docking_reaches_the_matrix_room_once_however_often_ll2_is_polled(
    app: Runtime, fake_ll2: FakeLL2, fake: FakeMatrix, clock: Clock
) -> None:
    await cycle(app)  # the baseline
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]

    await cycle(app)
    clock.advance(timedelta(minutes=2))
    await cycle(app)

    event = only(fake.messages(ROOM))
    assert event["content"]["body"].startswith("🛰 Cargo Dragon C209 docked at International Space Station")


async def test_a_rescheduled_docking_edits_the_matrix_notice_and_replies_to_it_end_to_end(
    app: Runtime, fake_ll2: FakeLL2, fake: FakeMatrix, clock: Clock
) -> None:
    await cycle(app)
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now - timedelta(minutes=1))]
    await cycle(app)
    original = only(fake.messages(ROOM))["event_id"]

    clock.advance(timedelta(minutes=5))
    fake_ll2.dockings = [ll2_docking(630, docking=clock.now + timedelta(minutes=40))]
    await cycle(app)

    shown = only([e for e in fake.shown(ROOM) if e["event_id"] == original])
    assert shown["content"]["body"].startswith(
        "🛰 Correction: Cargo Dragon C209 has not docked at International Space Station yet\n"
        "LL2 now expects it at 2026-01-01 12:45 UTC."
    )
    assert only(fake.replies_to(ROOM, original))["content"]["body"].endswith(
        "LL2 now expects it at 2026-01-01 12:45 UTC."
    )


async def test_dockwatch_run_announces_a_docking_to_a_matrix_room_once(
    start_run: StartRun, fake_ll2: FakeLL2, fake: FakeMatrix
) -> None:
    table = (
        f'[matrix]\nhomeserver = "{fake.homeserver}"\naccess_token = "{fake.access_token}"\n'
        f'room_ids = ["{ROOM}"]\n'
    )
    running = await start_run(fake_ll2, [], tables=table)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(fake.messages(ROOM)) == 1)
    polled = len(fake_ll2.counted_requests)
    await eventually(lambda: len(fake_ll2.counted_requests) >= polled + 4)  # two more polls
    code, err = await running.stop()

    assert len(fake.messages(ROOM)) == 1
    assert code == 0 and "Traceback" not in err
