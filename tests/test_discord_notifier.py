"""The Discord notifier: the real discord.py webhook sender and REST client against a fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from discord.http import Route
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwatch.bot.errors import PermanentFailure, RetryLater, TargetGone
from dockwatch.bot.model import KINDS, ChangeKind, Message, Receipt, Ref, Revision, VehicleRef
from dockwatch.notifiers.base import CorrectingNotifier, EditingNotifier
from dockwatch.notifiers.discord import DEFAULT_API, DiscordConfig, channel_key, webhook_key
from dockwatch.notifiers.discord import notifier as discord_notifier
from dockwatch.notifiers.discord.notifier import DiscordNotifier, build_embed, correction_content
from tests.builders import correction_of, message_with
from tests.conftest import started
from tests.fakes.discord import GUILD_ID, FakeDiscord, _embed_violations

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
HOOK_ID, CHANNEL_ID = 123456789012345678, 223456789012345678
TOKEN = "T" * 68


def docked(vehicle: str = "Cargo Dragon C209") -> Message:
    return Message(
        kind=ChangeKind.DOCKED,
        key="docked:630",
        occurred_at=NOW,
        docking_event_id=630,
        station=Ref(id=4, name="International Space Station"),
        port=Ref(id=30, name="Harmony zenith"),
        vehicle=VehicleRef(id=877, name=vehicle, kind="spacecraft_flight"),
        location="International Space Station",
        docking=NOW,
        image_url="https://img.test/c209.jpg",
    )


def hook_url(fake: FakeDiscord, hook: int = HOOK_ID) -> str:
    return f"{fake.base_url}/webhooks/{hook}/{TOKEN}"


@pytest.fixture
async def notifier(fake_discord: FakeDiscord, http: aiohttp.ClientSession) -> AsyncIterator[DiscordNotifier]:
    config = DiscordConfig(
        webhook_urls=[hook_url(fake_discord)],
        token=fake_discord.token,
        channel_ids=[CHANNEL_ID],
        api_base_url=fake_discord.base_url,
        username="dockwatch test",
        avatar_url="https://img.test/avatar.png",
    )
    try:
        async with started(DiscordNotifier(config, http)) as opened:
            yield opened
    finally:
        Route.BASE = DEFAULT_API


async def test_a_webhook_delivery_waits_for_discord_and_carries_the_embed(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    await notifier.send(webhook_key(hook_url(fake_discord)), docked(), delivery_id=1)

    (post,) = [p for p in fake_discord.posts if "/webhooks/" in p.path]
    assert post.query.get("wait") in ("1", "true")  # discord.py sends wait=1
    assert (post.body["username"], post.body["avatar_url"]) == (
        "dockwatch test",
        "https://img.test/avatar.png",
    )
    (embed,) = post.body["embeds"]
    assert embed["title"] == "Cargo Dragon C209 docked at International Space Station"
    assert {f["name"]: f["value"] for f in embed["fields"]}["Docked"] == "<t:1767268800:f> (<t:1767268800:R>)"
    assert embed["thumbnail"]["url"] == "https://img.test/c209.jpg"
    assert post.body["allowed_mentions"] == {"parse": []}


async def test_a_bot_delivery_carries_a_nonce_that_discord_enforces(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=7)
    await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=7)  # a retry after a crash

    posts = [p.body for p in fake_discord.posts if "/channels/" in p.path]
    assert [(p["nonce"], p.get("enforce_nonce")) for p in posts] == [("dw7", True), ("dw7", True)]
    assert len(fake_discord.messages(CHANNEL_ID)) == 1


@pytest.mark.parametrize(
    ("setup", "key", "error", "text"),
    [
        (lambda f: f.unknown.add(HOOK_ID), "hook", TargetGone, "10015"),
        (lambda f: f.invalid_token.add(HOOK_ID), "hook", TargetGone, "50027"),
        (lambda f: f.unknown.add(CHANNEL_ID), "channel", TargetGone, "10003"),
        (lambda f: f.missing_access.add(CHANNEL_ID), "channel", RetryLater, "View Channel"),
        (lambda f: f.missing_permissions.add(CHANNEL_ID), "channel", RetryLater, "Send Messages"),
    ],
    ids=[
        "unknown webhook",
        "invalid webhook token",
        "unknown channel",
        "missing access",
        "missing permissions",
    ],
)
async def test_discord_errors_map_to_typed_failures(
    notifier: DiscordNotifier,
    fake_discord: FakeDiscord,
    setup: object,
    key: str,
    error: type[Exception],
    text: str,
) -> None:
    setup(fake_discord)  # type: ignore[operator]
    target = webhook_key(hook_url(fake_discord)) if key == "hook" else channel_key(CHANNEL_ID)

    with pytest.raises(error, match=text) as caught:
        await notifier.send(target, docked(), delivery_id=1)

    if isinstance(caught.value, RetryLater):
        assert caught.value.retry_after == 3600  # paused, not hammered


async def test_rate_limits_are_followed_without_losing_a_message(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    fake_discord.bucket_size, fake_discord.bucket_window = 2, 1.0

    for delivery in range(5):
        await notifier.send(webhook_key(hook_url(fake_discord)), docked(), delivery_id=delivery)

    assert len(fake_discord.messages(HOOK_ID)) == 5
    assert fake_discord.rate_limited == 0  # X-RateLimit-Remaining: 0 made discord.py wait first


async def test_a_429_from_discord_is_waited_out_and_the_message_lands_once(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    fake_discord.bucket_size, fake_discord.bucket_window = 1, 1.0
    fake_discord.hide_remaining = True  # no warning: the first sign of the limit is the 429 itself

    for delivery in range(2):
        await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=delivery)

    assert fake_discord.rate_limited >= 1
    assert len(fake_discord.messages(CHANNEL_ID)) == 2


ll2_strings = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
    | st.sampled_from(["@everyone", "@here", "**", "`", "<@1>", "🛰", "_", "> ", "[x](https://e.test)"]),
    max_size=12,
).map("".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(ChangeKind)),
    vehicle=ll2_strings,
    station=ll2_strings,
    port=ll2_strings,
    event=ll2_strings,
    reason=st.sampled_from([None, *Revision]),
)
def test_every_embed_fits_discords_limits_and_never_pings(
    kind: ChangeKind, vehicle: str, station: str, port: str, event: str, reason: Revision | None
) -> None:
    message = message_with(
        kind, vehicle=vehicle, station=station, port=port, event=event, webcast_url="https://youtu.be/x"
    )
    if reason is not None and KINDS[kind].moment is not None:  # a correction of it (of a detected kind)
        message = correction_of(message, reason, None if reason is Revision.WITHDRAWN else NOW)

    embed = build_embed(message)

    assert _embed_violations({"embeds": [embed.to_dict()]}) == []
    assert len(embed) <= 6000
    for text in [embed.title or "", *(f.value or "" for f in embed.fields)]:
        assert "@everyone" not in text and "@here" not in text


async def test_a_fan_out_to_many_channels_stays_under_discord_s_global_limit(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    """Discord allows a bot 50 requests a second; discord.py would learn that only from 429s."""
    fake_discord.global_per_second = 50
    channels = [CHANNEL_ID + n for n in range(80)]

    await asyncio.gather(
        *(notifier.send(channel_key(c), docked(), delivery_id=n) for n, c in enumerate(channels))
    )

    assert fake_discord.rate_limited == 0
    assert all(len(fake_discord.messages(c)) == 1 for c in channels)


async def test_a_global_rate_limit_is_waited_out_too(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    fake_discord.global_limit_once = 0.5

    await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)

    assert fake_discord.rate_limited == 1
    assert len(fake_discord.messages(CHANNEL_ID)) == 1


def stored(receipt: Receipt) -> Receipt:
    """The receipt as the delivery row gives it back: through JSON."""
    return Receipt.model_validate(receipt.model_dump(mode="json"))


def test_the_discord_notifier_can_edit(notifier: DiscordNotifier) -> None:
    assert isinstance(notifier, EditingNotifier)


@pytest.mark.parametrize("key", ["hook", "channel"], ids=["webhook", "bot channel"])
async def test_a_correction_edits_the_sent_message_in_place(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, key: str
) -> None:
    target = webhook_key(hook_url(fake_discord)) if key == "hook" else channel_key(CHANNEL_ID)
    sent = await notifier.send(target, docked(), delivery_id=1)

    edited = await notifier.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))

    assert edited == sent  # same webhook, channel and message id
    shown = fake_discord.message(sent.message["message_id"])
    assert shown is not None and shown["edited_timestamp"] is not None
    assert shown["embeds"][0]["title"] == "Cargo Dragon C210 docked at International Space Station"
    (edit,) = fake_discord.edits
    assert edit.body["allowed_mentions"] == {"parse": []}
    assert len(fake_discord.messages(HOOK_ID if key == "hook" else CHANNEL_ID)) == 1  # nothing new posted


@pytest.mark.parametrize(
    ("key", "setup", "error", "text"),
    [
        ("hook", lambda f, m: f.delete(m), PermanentFailure, "10008"),
        ("channel", lambda f, m: f.delete(m), PermanentFailure, "10008"),
        ("hook", lambda f, _m: f.unknown.add(HOOK_ID), TargetGone, "10015"),
        ("channel", lambda f, _m: f.unknown.add(CHANNEL_ID), TargetGone, "10003"),
    ],
    ids=["deleted webhook message", "deleted bot message", "deleted webhook", "deleted channel"],
)
async def test_edit_failures_map_to_typed_failures(
    notifier: DiscordNotifier,
    fake_discord: FakeDiscord,
    key: str,
    setup: object,
    error: type[Exception],
    text: str,
) -> None:
    target = webhook_key(hook_url(fake_discord)) if key == "hook" else channel_key(CHANNEL_ID)
    sent = await notifier.send(target, docked(), delivery_id=1)
    setup(fake_discord, sent.message["message_id"])  # type: ignore[operator]

    with pytest.raises(error, match=text):
        await notifier.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))


async def test_an_edit_through_a_webhook_no_longer_configured_is_a_permanent_failure(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    sent = await notifier.send(webhook_key(hook_url(fake_discord)), docked(), delivery_id=1)
    other = hook_url(fake_discord, hook=HOOK_ID + 1)
    reconfigured = DiscordNotifier(
        DiscordConfig(webhook_urls=[other], api_base_url=fake_discord.base_url), http
    )

    with pytest.raises(PermanentFailure, match="no longer configured"):
        await reconfigured.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))

    assert fake_discord.edits == []


async def test_an_edit_of_a_bot_message_without_a_bot_token_is_a_permanent_failure(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    sent = await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)
    hooks_only = DiscordNotifier(DiscordConfig(webhook_urls=[hook_url(fake_discord)]), http)

    with pytest.raises(PermanentFailure, match="no bot token"):
        await hooks_only.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))


async def test_a_receipt_from_another_platform_is_refused(notifier: DiscordNotifier) -> None:
    receipt = Receipt(platform="telegram", message={"chat_id": 1, "message_id": 2})

    with pytest.raises(PermanentFailure, match="not a Discord message receipt"):
        await notifier.edit(receipt, docked())


LATER = datetime(2026, 1, 1, 15, tzinfo=UTC)


def rescheduled() -> Message:
    return correction_of(docked(), Revision.RESCHEDULED, LATER)


def test_the_discord_notifier_can_correct(notifier: DiscordNotifier) -> None:
    assert isinstance(notifier, CorrectingNotifier)


def test_a_rescheduled_embed_is_marked_and_shows_the_expected_time_instead_of_a_docking_time() -> None:
    embed = build_embed(rescheduled())

    assert embed.title == "Correction: Cargo Dragon C209 has not docked at International Space Station yet"
    assert embed.description == "LL2 now expects it at 2026-01-01 15:00 UTC."
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Expected"] == "<t:1767279600:f> (<t:1767279600:R>)"
    assert "Docked" not in fields


def test_a_withdrawn_departure_shows_when_it_docked_but_no_departure() -> None:
    departed = docked().model_copy(
        update={"kind": ChangeKind.DEPARTED, "key": "departed:630", "departure": NOW, "docked_seconds": 60}
    )

    embed = build_embed(correction_of(departed, Revision.WITHDRAWN, None))

    assert embed.title == "Correction: Cargo Dragon C209 has not departed International Space Station yet"
    assert embed.description == "LL2 no longer gives a time for it."
    assert [field.name for field in embed.fields] == ["Station", "Port", "Vehicle", "Docked"]


def test_a_refined_embed_is_the_announcement_with_its_new_time() -> None:
    embed = build_embed(correction_of(docked(), Revision.REFINED, NOW.replace(minute=7)))

    assert embed.title == "Cargo Dragon C209 docked at International Space Station"
    assert embed.description == "LL2 has refined its time."
    assert {field.name: field.value for field in embed.fields}["Docked"] == (
        "<t:1767269220:f> (<t:1767269220:R>)"
    )


async def test_a_rescheduled_docking_edits_the_channel_message_and_replies_to_it(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    sent = await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)
    original = sent.message["message_id"]

    receipt = await notifier.correct(channel_key(CHANNEL_ID), rescheduled(), stored(sent), delivery_id=2)

    shown = fake_discord.message(original)
    assert shown is not None and shown["edited_timestamp"] is not None
    assert shown["embeds"][0]["title"].startswith("Correction: Cargo Dragon C209 has not docked")
    (reply,) = fake_discord.replies(original)
    assert reply["content"] == (
        "Correction: Cargo Dragon C209 has not docked at International Space Station yet. "
        "LL2 now expects it at 2026-01-01 15:00 UTC."
    )
    assert reply["nonce"] == "dw2"
    assert receipt.message == {"channel_id": CHANNEL_ID, "message_id": int(reply["id"])}


async def test_a_rescheduled_docking_edits_the_webhook_message_and_posts_a_link_to_it(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    target = webhook_key(hook_url(fake_discord))
    sent = await notifier.send(target, docked(), delivery_id=1)
    original = sent.message["message_id"]

    receipt = await notifier.correct(target, rescheduled(), stored(sent), delivery_id=2)

    (edit,) = fake_discord.edits
    assert edit.path.endswith(f"/webhooks/{HOOK_ID}/{TOKEN}/messages/{original}")
    assert edit.body["embeds"][0]["title"].startswith("Correction: ")
    _announcement, correction = fake_discord.messages(HOOK_ID)
    assert correction["content"].endswith(
        f"LL2 now expects it at 2026-01-01 15:00 UTC.\nhttps://discord.com/channels/{GUILD_ID}/{HOOK_ID}/{original}"
    )
    assert correction["username"] == "dockwatch test"
    assert receipt.message["message_id"] != original


async def test_a_webhook_correction_without_a_known_guild_is_posted_without_a_link(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    fake_discord.guild_id = None
    target = webhook_key(hook_url(fake_discord))
    sent = await notifier.send(target, docked(), delivery_id=1)

    await notifier.correct(target, rescheduled(), stored(sent), delivery_id=2)

    correction = fake_discord.messages(HOOK_ID)[-1]
    assert correction["content"].endswith("LL2 now expects it at 2026-01-01 15:00 UTC.")


@pytest.mark.parametrize("key", ["hook", "channel"], ids=["webhook", "bot channel"])
async def test_a_refined_time_only_edits_the_message(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, key: str
) -> None:
    target = webhook_key(hook_url(fake_discord)) if key == "hook" else channel_key(CHANNEL_ID)
    sent = await notifier.send(target, docked(), delivery_id=1)
    refined = correction_of(docked(), Revision.REFINED, NOW.replace(minute=7))

    receipt = await notifier.correct(target, refined, stored(sent), delivery_id=2)

    assert receipt == sent
    assert len(fake_discord.edits) == 1
    assert len(fake_discord.messages(HOOK_ID if key == "hook" else CHANNEL_ID)) == 1


@pytest.mark.parametrize("key", ["hook", "channel"], ids=["webhook", "bot channel"])
async def test_a_correction_to_a_deleted_message_is_posted_alone(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, key: str
) -> None:
    target = webhook_key(hook_url(fake_discord)) if key == "hook" else channel_key(CHANNEL_ID)
    sent = await notifier.send(target, docked(), delivery_id=1)
    fake_discord.delete(sent.message["message_id"])

    receipt = await notifier.correct(target, rescheduled(), stored(sent), delivery_id=2)

    posted = fake_discord.message(receipt.message["message_id"])
    assert posted is not None and "message_reference" not in posted
    assert posted["embeds"][0]["title"].startswith("Correction: Cargo Dragon C209 has not docked")
    assert posted["embeds"][0]["description"] == "LL2 now expects it at 2026-01-01 15:00 UTC."


async def test_the_reply_lands_even_if_the_original_is_deleted_before_it(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    sent = await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)

    await notifier.correct(channel_key(CHANNEL_ID), rescheduled(), stored(sent), delivery_id=2)

    reply = fake_discord.posts[-1].body
    assert reply["message_reference"]["message_id"] == sent.message["message_id"]
    assert reply["message_reference"]["fail_if_not_exists"] is False


async def test_a_retried_correction_replies_once(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    sent = await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)

    for _ in range(2):  # the second is a retry after a crash
        await notifier.correct(channel_key(CHANNEL_ID), rescheduled(), stored(sent), delivery_id=2)

    assert len(fake_discord.replies(sent.message["message_id"])) == 1


async def test_a_correction_in_a_deleted_channel_means_the_target_is_gone(
    notifier: DiscordNotifier, fake_discord: FakeDiscord
) -> None:
    sent = await notifier.send(channel_key(CHANNEL_ID), docked(), delivery_id=1)
    fake_discord.unknown.add(CHANNEL_ID)

    with pytest.raises(TargetGone, match="10003"):
        await notifier.correct(channel_key(CHANNEL_ID), rescheduled(), stored(sent), delivery_id=2)


@settings(max_examples=100)
@given(vehicle=ll2_strings, station=ll2_strings)
def test_every_correction_text_fits_discords_content_limit_and_never_pings(
    vehicle: str, station: str
) -> None:
    message = correction_of(docked(vehicle), Revision.RESCHEDULED, LATER).model_copy(
        update={"station": Ref(id=4, name=station)}
    )
    link = f"https://discord.com/channels/{GUILD_ID}/{HOOK_ID}/{CHANNEL_ID}"

    for text in (correction_content(message), correction_content(message, link=link)):
        assert len(text) <= 2000
        assert "@everyone" not in text and "@here" not in text
    assert correction_content(message, link=link).endswith(link)


@pytest.mark.parametrize("where", ["webhook", "channel"])
async def test_a_rate_limit_of_absurd_length_is_retried_later_not_slept_through(
    notifier: DiscordNotifier, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Discord answering ``retry_after: 1e9``: discord.py would sleep that long inside the send."""
    monkeypatch.setattr(discord_notifier, "SEND_TIMEOUT", 2.0)
    fake_discord.global_limit_once = 1e9
    target = webhook_key(hook_url(fake_discord)) if where == "webhook" else channel_key(CHANNEL_ID)

    with pytest.raises(RetryLater):
        await asyncio.wait_for(notifier.send(target, docked(), delivery_id=1), timeout=10)
