"""The ntfy platform: the real notifier (aiohttp) against a fake ntfy server on 127.0.0.1, its config
table, what check-config and status show of it, and ``dockwatch run`` delivering to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwatch.bot.config import config_from_mapping
from dockwatch.bot.errors import ConfigError, PermanentFailure, RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message, Receipt, Revision
from dockwatch.notifiers.base import EditingNotifier, Presentation
from dockwatch.notifiers.ntfy import (
    MAX_BODY_BYTES,
    MAX_TITLE,
    PLATFORM,
    NtfyConfig,
    NtfyNotifier,
    body,
    header_text,
    publish_headers,
    target_key,
    title,
)
from tests.builders import DETECTED_KINDS, correction_of, ll2_docking, message_with, messages_of_every_kind
from tests.conftest import Clock
from tests.fakes.ll2 import FakeLL2
from tests.fakes.ntfy import FakeNtfy
from tests.service_harness import StartRun, eventually
from tests.test_cli import dockwatch

TOPIC = "dockwatch-alerts-4f1c"
TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
DOCKED = "Cygnus NG-23 docked at International Space Station"
LATER = datetime(2026, 1, 1, 15, tzinfo=UTC)


def docked(vehicle: str | None = None) -> Message:
    """The docking detection announces, with the vehicle renamed to ``vehicle`` if given."""
    message = messages_of_every_kind()[ChangeKind.DOCKED]
    if vehicle is None or message.vehicle is None:
        return message
    return message.model_copy(update={"vehicle": message.vehicle.model_copy(update={"name": vehicle})})


def ntfy_notifier(
    fake: FakeNtfy, http: aiohttp.ClientSession, clock: Clock | None = None, **config: Any
) -> tuple[NtfyNotifier, str]:
    """A notifier with one ``[[ntfy]]`` target on ``fake`` (``url`` defaults to ``TOPIC`` there)."""
    settings = NtfyConfig.model_validate({"url": fake.topic_url(TOPIC)} | config)
    notifier = NtfyNotifier([settings], http, clock=clock or (lambda: datetime.now(UTC)))
    return notifier, target_key(settings.url)


async def publish(fake: FakeNtfy, http: aiohttp.ClientSession, message: Message, **config: Any) -> Receipt:
    notifier, key = ntfy_notifier(fake, http, **config)
    return await notifier.send(key, message, delivery_id=1)


# --- what a message looks like on ntfy ---------------------------------------------------------------


async def test_a_docking_is_one_markdown_message_with_its_title_tags_and_the_vehicle_image(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    await publish(fake_ntfy, http, docked())

    (sent,) = fake_ntfy.published(TOPIC)
    assert (sent.title, sent.tags, sent.priority, sent.markdown) == (
        DOCKED,
        ["artificial_satellite", "docked"],
        3,
        True,
    )
    assert sent.attach == "https://img.test/10.jpg"
    assert sent.click is None  # a docking has no webcast to open
    assert sent.message == (
        "- **Station:** International Space Station\n"
        "- **Port:** Harmony zenith\n"
        "- **Vehicle:** Cygnus NG-23\n"
        "- **Docked:** 2026-01-01 11:55 UTC"
    )


async def test_the_receipt_keeps_the_id_ntfy_gave_the_message(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    receipt = await publish(fake_ntfy, http, docked())

    assert receipt == Receipt(platform="ntfy", message={"id": "msg000000001"})


async def test_a_webcast_start_opens_the_webcast_when_tapped_and_links_it_in_the_body(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    await publish(fake_ntfy, http, messages_of_every_kind()[ChangeKind.WEBCAST_STARTED])

    (sent,) = fake_ntfy.published(TOPIC)
    assert sent.click == "https://www.youtube.com/watch?v=test"
    assert sent.message.endswith("[Watch the webcast](<https://www.youtube.com/watch?v=test>)")
    assert sent.tags == ["red_circle", "webcast"]


async def test_times_in_the_body_are_in_the_targets_zone(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    notifier, key = ntfy_notifier(fake_ntfy, http)

    await notifier.send(
        key, docked(), delivery_id=1, presentation=Presentation(zone=ZoneInfo("Europe/Berlin"))
    )

    assert fake_ntfy.published()[0].message.endswith("- **Docked:** 2026-01-01 12:55 CET")


async def test_the_configured_priority_and_tags_come_with_every_message(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    await publish(fake_ntfy, http, docked(), priority="high", tags=["iss", "docked"])

    (sent,) = fake_ntfy.published()
    assert (sent.priority, sent.tags) == (4, ["artificial_satellite", "docked", "iss"])


async def test_a_name_in_any_script_with_a_line_break_reaches_the_title_intact(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    await publish(fake_ntfy, http, docked(vehicle="神舟二十一号\n🛰"))

    (sent,) = fake_ntfy.published()
    assert sent.title == "神舟二十一号 🛰 docked at International Space Station"
    assert fake_ntfy.limit_violations == []  # every header printable ASCII: encoded words


async def test_a_name_that_looks_like_an_encoded_word_is_shown_as_written(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    await publish(fake_ntfy, http, docked(vehicle="=?UTF-8?B?SGk=?="))

    assert fake_ntfy.published()[0].title == "=?UTF-8?B?SGk=?= docked at International Space Station"


def test_ll2_strings_cannot_turn_into_markdown_links_or_emphasis() -> None:
    message = message_with(
        ChangeKind.DOCKED,
        vehicle="**[free](https://evil.test)**",
        station="`ISS`",
        port="_zenith_ &amp;",
        event="E",
        webcast_url=None,
    )

    text = body(message)

    assert r"- **Vehicle:** \*\*\[free\](https://evil.test)\*\*" in text
    assert r"- **Station:** \`ISS\`" in text
    assert r"- **Port:** \_zenith\_ \&amp;" in text


# --- credentials -------------------------------------------------------------------------------------


async def test_a_token_is_sent_as_a_bearer_token(fake_ntfy: FakeNtfy, http: aiohttp.ClientSession) -> None:
    fake_ntfy.token = TOKEN

    await publish(fake_ntfy, http, docked(), token=TOKEN)

    assert fake_ntfy.published()[0].authorization == f"Bearer {TOKEN}"


async def test_user_and_password_are_sent_as_basic_auth_in_utf8(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    fake_ntfy.user = ("phil", "pässwörd")

    await publish(fake_ntfy, http, docked(), user="phil", password="pässwörd")

    assert fake_ntfy.published()[0].basic_auth == ("phil", "pässwörd")


async def test_user_and_password_in_the_url_are_sent_as_basic_auth(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    fake_ntfy.user = ("phil", "s3cret")
    url = fake_ntfy.topic_url(TOPIC).replace("http://", "http://phil:s3cret@")

    await publish(fake_ntfy, http, docked(), url=url)

    assert fake_ntfy.published()[0].basic_auth == ("phil", "s3cret")


# --- what the server answers -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_pause_the_target_for_an_hour_and_say_so(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession, status: int
) -> None:
    fake_ntfy.statuses.append(status)

    with pytest.raises(RetryLater, match=r"paused for an hour: check the token") as caught:
        await publish(fake_ntfy, http, docked(), token=TOKEN)

    assert caught.value.retry_after == 3600
    assert f"HTTP {status}" in str(caught.value)


async def test_a_wrong_token_is_refused_by_the_server_and_pauses_the_target(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    fake_ntfy.token = TOKEN

    with pytest.raises(RetryLater, match=r"HTTP 401 \(unauthorized\)") as caught:
        await publish(fake_ntfy, http, docked(), token="tk_revoked")

    assert caught.value.retry_after == 3600


async def test_a_deleted_topic_disables_the_target(fake_ntfy: FakeNtfy, http: aiohttp.ClientSession) -> None:
    fake_ntfy.deleted.add(TOPIC)

    with pytest.raises(TargetGone, match="HTTP 404"):
        await publish(fake_ntfy, http, docked())


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_a_rate_limit_or_server_error_is_retried_after_the_servers_retry_after(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession, status: int
) -> None:
    fake_ntfy.statuses.append(status)
    fake_ntfy.headers_for_status[status] = {"Retry-After": "42"}

    with pytest.raises(RetryLater, match=f"HTTP {status}") as caught:
        await publish(fake_ntfy, http, docked())

    assert caught.value.retry_after == 42


async def test_a_retry_after_of_zero_is_passed_on_as_no_wait_rather_than_none(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    fake_ntfy.statuses.append(429)
    fake_ntfy.headers_for_status[429] = {"Retry-After": "0"}

    with pytest.raises(RetryLater) as caught:
        await publish(fake_ntfy, http, docked())

    assert caught.value.retry_after == 0


async def test_a_retry_after_date_is_read_against_the_clock(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession, clock: Clock
) -> None:
    fake_ntfy.statuses.append(503)
    fake_ntfy.headers_for_status[503] = {
        "Retry-After": format_datetime(clock.now + timedelta(minutes=2), usegmt=True)
    }
    notifier, key = ntfy_notifier(fake_ntfy, http, clock)

    with pytest.raises(RetryLater) as caught:
        await notifier.send(key, docked(), delivery_id=1)

    assert caught.value.retry_after == 120


async def test_a_server_error_without_retry_after_leaves_the_wait_to_the_backoff(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    fake_ntfy.statuses.append(500)

    with pytest.raises(RetryLater) as caught:
        await publish(fake_ntfy, http, docked())

    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 413])
async def test_a_request_the_server_will_never_accept_fails_for_good(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession, status: int
) -> None:
    fake_ntfy.statuses.append(status)

    with pytest.raises(PermanentFailure, match=f"HTTP {status}"):
        await publish(fake_ntfy, http, docked())


async def test_a_server_that_cannot_be_reached_is_retried_later(http: aiohttp.ClientSession) -> None:
    config = NtfyConfig(url=f"http://127.0.0.1:9/{TOPIC}")
    notifier = NtfyNotifier([config], http)

    with pytest.raises(RetryLater, match=r"^http://127\.0\.0\.1:9/…: ClientConnectorError") as caught:
        await notifier.send(target_key(config.url), docked(), delivery_id=1)

    assert TOPIC not in str(caught.value)


async def test_errors_and_labels_never_show_the_topic_or_credentials(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    url = fake_ntfy.topic_url(TOPIC).replace("http://", "http://phil:s3cret@") + "?auth=QmFzaWMgcGhpbA"
    notifier, key = ntfy_notifier(fake_ntfy, http, url=url)
    fake_ntfy.statuses.extend([401, 404, 500])
    errors = []
    for _ in range(3):
        try:
            await notifier.send(key, docked(), delivery_id=1)
        except (RetryLater, TargetGone) as error:
            errors.append(str(error))

    shown = [*errors, *(t.label for t in notifier.targets()), *PLATFORM.describe([NtfyConfig(url=url)])]
    assert len(errors) == 3
    assert all(secret not in line for line in shown for secret in (TOPIC, "s3cret", "phil", "QmFzaWMg"))


# --- corrections -------------------------------------------------------------------------------------


async def test_a_correction_is_a_new_message_that_names_the_original(
    fake_ntfy: FakeNtfy, http: aiohttp.ClientSession
) -> None:
    notifier, key = ntfy_notifier(fake_ntfy, http)
    await notifier.send(key, docked(), delivery_id=1)

    await notifier.send(key, correction_of(docked(), Revision.RESCHEDULED, LATER), delivery_id=2)

    original, correction = fake_ntfy.published(TOPIC)
    assert original.title == DOCKED
    assert correction.title == "Correction: Cygnus NG-23 has not docked at International Space Station yet"
    assert correction.message.startswith(
        f"*LL2 now expects it at 2026-01-01 15:00 UTC.*\n\nCorrects the earlier notification “{DOCKED}”.\n\n"
    )
    assert correction.tags == ["warning", "artificial_satellite", "docked", "correction"]


def test_a_refined_time_is_titled_as_an_update_not_as_a_second_announcement() -> None:
    departed = messages_of_every_kind()[ChangeKind.DEPARTED]

    refined = correction_of(departed, Revision.REFINED, departed.occurred_at - timedelta(minutes=3))

    assert title(refined) == "Update: Progress MS-32 departed International Space Station"
    assert body(refined).startswith(
        "*LL2 has refined its time.*\n\n"
        "Corrects the earlier notification “Progress MS-32 departed International Space Station”."
    )


def test_an_ntfy_message_is_never_edited(fake_ntfy: FakeNtfy, http: aiohttp.ClientSession) -> None:
    notifier, _ = ntfy_notifier(fake_ntfy, http)

    assert not isinstance(notifier, EditingNotifier)


# --- limits ------------------------------------------------------------------------------------------


ll2_strings = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=1200)
    | st.sampled_from(["=?UTF-8?B?SGk=?=", "\r\n", "&amp;", "**", "[x](https://e.test)", "🛰", "\\", "`"]),
    max_size=8,
).map("".join)


def decoded(header: str) -> str:
    """A header value as ntfy reads it: RFC 2047 encoded words decoded (by Python's decoder)."""
    return str(make_header(decode_header(header)))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(ChangeKind)),
    reason=st.sampled_from([None, *Revision]),
    vehicle=ll2_strings,
    station=ll2_strings,
    port=ll2_strings,
    event=ll2_strings,
    url=st.sampled_from(
        [None, "https://youtu.be/x?a=1&b=<2>", "javascript:alert(1)", "https://x.test/" + "é" * 3000]
    ),
)
def test_every_message_stays_within_ntfys_limits_and_headers_stay_ascii(
    kind: ChangeKind,
    reason: Revision | None,
    vehicle: str,
    station: str,
    port: str,
    event: str,
    url: str | None,
) -> None:
    message = message_with(kind, vehicle=vehicle, station=station, port=port, event=event, webcast_url=url)
    if reason is not None and kind in DETECTED_KINDS:
        message = correction_of(message, reason, None if reason is Revision.WITHDRAWN else LATER)
    config = NtfyConfig(url=f"https://ntfy.sh/{TOPIC}", tags=("iss", "=?x?="))

    text, shown_title, headers = body(message), title(message), publish_headers(message, config)

    assert len(text.encode()) <= MAX_BODY_BYTES
    assert len(shown_title) <= MAX_TITLE and shown_title == " ".join(shown_title.split())  # one line
    assert all(value.isascii() and value.isprintable() for value in headers.values())
    assert decoded(headers["X-Title"]) == shown_title


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_header_text_is_decoded_back_to_itself(text: str) -> None:
    encoded = header_text(text)

    assert encoded.isascii() and encoded.isprintable()
    assert all(len(word) <= 75 for word in encoded.split(" ") if word.startswith("=?"))
    if encoded != text:
        assert decoded(encoded) == text


# --- the [[ntfy]] table ------------------------------------------------------------------------------


def ntfy_table(**keys: object) -> dict[str, object]:
    return {"ntfy": [{"url": f"https://ntfy.sh/{TOPIC}"} | keys]}


def config_error(tables: dict[str, object], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(tables, source="f.toml", environ=environ or {})
    return str(caught.value)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"url": "ftp://ntfy.sh/alerts"}, "ntfy.0.url: must be an http(s) URL, got 'ftp://ntfy.sh/…'"),
        ({"url": "https://ntfy.sh/"}, "ntfy.0.url: must be the URL of an ntfy topic, ending in its name"),
        ({"url": "https://ntfy.sh/no spaces!"}, "ntfy.0.url: must be the URL of an ntfy topic"),
        ({"priority": 7}, "ntfy.0.priority: must be 1 to 5 or one of min, low, default, high, max, got 7"),
        ({"priority": "urgent"}, "ntfy.0.priority: must be 1 to 5 or one of min, low, default, high, max"),
        (
            {"priority": True},
            "ntfy.0.priority: must be 1 to 5 or one of min, low, default, high, max, got true",
        ),
        ({"tags": ["a,b"]}, "ntfy.0.tags: each tag must be printable ASCII without commas"),
        ({"tags": ["🛰"]}, "ntfy.0.tags: each tag must be printable ASCII without commas (an emoji by its"),
        (
            {"token": TOKEN, "user": "phil", "password": "pw"},
            "ntfy.0: give either token, or user and password",
        ),
        ({"user": "phil"}, "ntfy.0: user and password go together"),
        ({"password": "pw"}, "ntfy.0: user and password go together"),
        ({"user": "phil:x", "password": "pw"}, "ntfy.0.user: must be a user name without ':'"),
        (
            {"url": "https://phil:pw@ntfy.example.org/alerts", "token": TOKEN},
            "ntfy.0: url carries user:password already",
        ),
        ({"quiet": "22:00-07:00"}, "unknown key ntfy.0.quiet"),
    ],
    ids=[
        "not http",
        "no topic",
        "not a topic name",
        "priority out of range",
        "priority no name",
        "priority true",
        "tag with a comma",
        "tag not ascii",
        "token and user",
        "user alone",
        "password alone",
        "user with a colon",
        "url credentials and a token",
        "no quiet hours",
    ],
)
def test_an_unusable_ntfy_table_is_refused_in_one_line_naming_the_key(
    keys: dict[str, object], message: str
) -> None:
    error = config_error(ntfy_table(**keys))

    assert error.startswith(f"f.toml: {message}")
    assert "\n" not in error and TOPIC not in error


def test_a_token_that_cannot_be_one_is_refused_without_echoing_it() -> None:
    error = config_error(ntfy_table(token="tk_has a space"))

    assert error.startswith("f.toml: ntfy.0.token: must be an ntfy access token")
    assert "has a space" not in error


def test_priority_names_and_environment_lists_are_understood() -> None:
    environ = {"DOCKWATCH_NTFY__0__PRIORITY": "5", "DOCKWATCH_NTFY__0__TAGS": "iss, rotating_light"}

    from_file = config_from_mapping(ntfy_table(priority="low"), source="f", environ={}).platforms["ntfy"]
    from_env = config_from_mapping(ntfy_table(), source="f", environ=environ).platforms["ntfy"]

    assert from_file[0].priority == 2
    assert (from_env[0].priority, from_env[0].tags) == (5, ("iss", "rotating_light"))


def test_a_trailing_slash_after_the_topic_is_dropped() -> None:
    (config,) = config_from_mapping(
        ntfy_table(url=f"https://ntfy.sh/{TOPIC}/"), source="f", environ={}
    ).platforms["ntfy"]

    assert config.url == f"https://ntfy.sh/{TOPIC}"


def test_a_topics_reminders_are_the_configs_alone() -> None:
    tables = {
        "ntfy": [
            {"url": f"https://ntfy.sh/{TOPIC}", "reminders": ["1h", "10m"]},
            {"url": "https://ntfy.sh/b"},
        ]
    }
    settings = config_from_mapping(tables, source="f", environ={}).platforms["ntfy"]

    first, second = PLATFORM.targets(settings)

    assert first.preferences.reminders == (timedelta(hours=1), timedelta(minutes=10))
    assert second.preferences.reminders == ()


# --- check-config, status and dockwatch run ----------------------------------------------------------


def ntfy_toml(fake: FakeNtfy, *, token: str | None = TOKEN) -> str:
    return f'[[ntfy]]\nurl = "{fake.topic_url(TOPIC)}"\n' + (f'token = "{token}"\n' if token else "")


def config_toml(fake_ll2: FakeLL2, fake: FakeNtfy) -> str:
    return f'[api]\nbase_url = "{fake_ll2.base_url}"\n[storage]\nurl = "sqlite:///state.db"\n' + ntfy_toml(
        fake
    )


async def test_check_config_lists_ntfy_targets_with_the_topic_and_token_masked(
    tmp_path: Path, fake_ll2: FakeLL2, fake_ntfy: FakeNtfy
) -> None:
    path = tmp_path / "dockwatch.toml"
    path.write_text(
        config_toml(fake_ll2, fake_ntfy)
        + '[[ntfy]]\nurl = "https://ntfy.example.org/b"\nuser = "phil"\npassword = "pw-9f2"\n'
    )

    run = await dockwatch("check-config", "--config", str(path))

    key = target_key(fake_ntfy.topic_url(TOPIC))
    assert run.code == 0, run.err
    assert f"ntfy {key}  {fake_ntfy.base_url}/…  priority 3  token: hidden" in run.out
    assert "https://ntfy.example.org/…  priority 3  user phil, password: hidden" in run.out
    assert "targets                2" in run.out
    assert TOPIC not in run.out and TOKEN not in run.out and "pw-9f2" not in run.out


async def test_status_shows_the_ntfy_target_masked_and_the_id_of_what_it_received(
    tmp_path: Path, fake_ll2: FakeLL2, fake_ntfy: FakeNtfy
) -> None:
    fake_ntfy.token = TOKEN
    path = tmp_path / "dockwatch.toml"
    path.write_text(config_toml(fake_ll2, fake_ntfy))
    await dockwatch("-q", "poll-once", "--config", str(path))
    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(minutes=3))]
    await dockwatch("-q", "poll-once", "--config", str(path))

    run = await dockwatch("status", "--config", str(path))

    key = target_key(fake_ntfy.topic_url(TOPIC))
    assert run.code == 0, run.err
    assert f"  {key}  {fake_ntfy.base_url}/…  enabled" in run.out
    assert f"docked:630 -> {key}: ntfy id=msg000000001" in run.out
    assert TOPIC not in run.out and TOKEN not in run.out


async def test_dockwatch_run_publishes_a_docking_to_the_topic_once(
    start_run: StartRun, fake_ll2: FakeLL2, fake_ntfy: FakeNtfy
) -> None:
    fake_ntfy.token = TOKEN
    running = await start_run(fake_ll2, [], tables=ntfy_toml(fake_ntfy))
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)  # the baseline poll

    fake_ll2.dockings = [ll2_docking(630, docking=datetime.now(UTC) - timedelta(seconds=30))]
    await eventually(lambda: len(fake_ntfy.published(TOPIC)) == 1)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 8)  # three more polls see it again
    code, err = await running.stop()

    (sent,) = fake_ntfy.published(TOPIC)
    assert sent.title == "Cargo Dragon C209 docked at International Space Station"
    assert sent.attach == "https://img.test/877.jpg"
    assert len(fake_ntfy.requests) == 1
    assert code == 0 and "Traceback" not in err


def test_a_topic_keeps_its_key_when_the_credentials_in_its_url_change() -> None:
    """The fix a 401 pause asks for (a new password) must not orphan what the topic is owed."""
    keys = {
        target_key(url)
        for url in (
            "https://bob:old@ntfy.example.org/alerts",
            "https://bob:new@ntfy.example.org/alerts",
            "https://ntfy.example.org/alerts?auth=QmVhcmVyIHRr",
            "https://NTFY.example.org/alerts",
        )
    }

    assert len(keys) == 1
    assert target_key("https://ntfy.example.org/other") not in keys
