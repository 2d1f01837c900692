"""The Telegram notifier: the real ``telegram.Bot`` against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwatch.bot.errors import PermanentFailure, RetryLater, TargetGone
from dockwatch.bot.model import ChangeKind, Message, Receipt, Ref, Revision, VehicleRef
from dockwatch.notifiers.base import CorrectingNotifier, EditingNotifier
from dockwatch.notifiers.pacing import SlidingWindow
from dockwatch.notifiers.telegram import TelegramConfig, chat_key
from dockwatch.notifiers.telegram.notifier import (
    TelegramNotifier,
    TelegramPacing,
    render_caption,
    render_html,
    render_reply,
)
from tests.builders import DETECTED_KINDS, correction_of, message_with
from tests.conftest import started
from tests.fakes.telegram import FakeTelegram

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


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
        image_url="https://img.test/c209.jpg",
    )


@pytest.fixture
async def notifier(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramNotifier]:
    config = TelegramConfig(
        token=fake_telegram.token, chat_ids=[111, -100222], api_base_url=fake_telegram.base_url
    )
    async with started(TelegramNotifier.from_settings(config)) as opened:
        yield opened


async def test_a_message_reaches_the_chat_as_html_with_a_preview(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    await notifier.send(chat_key(111), docked(), delivery_id=1)

    (sent,) = fake_telegram.sent(111)
    assert sent["parse_mode"] == "HTML"
    assert sent["text"].startswith("🛰 <b>Cargo Dragon C209 docked at International Space Station</b>")
    assert "<b>Port:</b> Harmony zenith" in sent["text"]
    assert "2026-01-01 12:00 UTC" in sent["text"]
    assert sent["link_preview_options"]["url"] == "https://img.test/c209.jpg"


def test_ll2_strings_are_escaped() -> None:
    text = render_html(docked(vehicle="<b>Evil</b> & Co"))

    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co docked" in text


async def test_a_blocked_chat_is_gone(notifier: TelegramNotifier, fake_telegram: FakeTelegram) -> None:
    fake_telegram.blocked.add(111)

    with pytest.raises(TargetGone, match="blocked"):
        await notifier.send(chat_key(111), docked(), delivery_id=1)


async def test_a_chat_that_is_not_found_is_gone(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.not_found.add(-100222)

    with pytest.raises(TargetGone, match=r"(?i)chat not found"):
        await notifier.send(chat_key(-100222), docked(), delivery_id=1)


async def test_a_migrated_group_gets_the_message_once_at_its_new_id(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.migrate[-333] = -100333

    moved_to = await notifier.send(chat_key(-333), docked(), delivery_id=1)

    assert moved_to.moved_to == chat_key(-100333)
    assert len(fake_telegram.sent(-100333)) == 1 and fake_telegram.sent(-333) == []


async def test_a_429_is_retried_later_for_that_chat_with_its_retry_after(
    fake_telegram: FakeTelegram,
) -> None:
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    unpaced = TelegramPacing(per_second=1000, per_chat_second=1000, per_group_minute=1000)
    async with started(TelegramNotifier.from_settings(config)) as opened:
        fast = TelegramNotifier(config, opened.bot, pacing=unpaced)
        await fast.send(chat_key(111), docked(), delivery_id=1)
        with pytest.raises(RetryLater) as caught:
            await fast.send(chat_key(111), docked(), delivery_id=2)

    assert caught.value.retry_after == 1
    assert fake_telegram.violations == 1


async def test_a_bad_request_is_never_retried(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.bad_request.add(111)

    with pytest.raises(PermanentFailure, match=r"(?i)can't parse entities"):
        await notifier.send(chat_key(111), docked(), delivery_id=1)


async def test_pacing_keeps_one_message_per_second_in_a_chat(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    for delivery in range(3):
        await notifier.send(chat_key(111), docked(), delivery_id=delivery)

    assert fake_telegram.violations == 0
    assert len(fake_telegram.sent(111)) == 3


def test_a_request_counts_from_when_it_finished_not_when_it_left() -> None:
    now = [0.0]
    window = SlidingWindow(1, 1.0, margin=0.0, clock=lambda: now[0])
    box = window.record()
    now[0] = 0.3  # the request took 0.3 s: it may have arrived at Telegram only now
    window.finish(box)
    now[0] = 1.0

    assert window.delay() == pytest.approx(0.3)


def test_a_sliding_window_waits_for_the_oldest_request_to_leave() -> None:
    now = [0.0]
    window = SlidingWindow(2, 1.0, margin=0.0, clock=lambda: now[0])
    window.record()
    now[0] = 0.4
    window.record()

    assert window.delay() == pytest.approx(0.6)
    now[0] = 1.0
    assert window.delay() == 0


class _TelegramHTML(html.parser.HTMLParser):
    """Checks a text against Telegram's HTML subset: known tags, balanced, and counts the text."""

    allowed = {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "blockquote",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text_length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.allowed, tag
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"]
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text_length += len(data)


ll2_strings = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("<>&\"'🛰🚀&amp;</b>"),
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
)
def test_every_message_is_valid_telegram_html_within_the_limit(
    kind: ChangeKind, vehicle: str, station: str, port: str, event: str, url: str | None
) -> None:
    message = message_with(kind, vehicle=vehicle, station=station, port=port, event=event, webcast_url=url)
    checker = _TelegramHTML()

    checker.feed(render_html(message))
    checker.close()

    assert checker.stack == []
    assert checker.text_length <= 4096


async def test_a_timed_out_send_is_retried_later(fake_telegram: FakeTelegram) -> None:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    fake_telegram.slow[111] = 2.0
    config = TelegramConfig(token=fake_telegram.token, api_base_url=fake_telegram.base_url)
    bot = Bot(fake_telegram.token, base_url=fake_telegram.base_url, request=HTTPXRequest(read_timeout=0.3))
    async with started(TelegramNotifier(config, bot)) as notifier:
        with pytest.raises(RetryLater, match="TimedOut"):
            await notifier.send(chat_key(111), docked(), delivery_id=1)


def stored(receipt: Receipt) -> Receipt:
    """The receipt as the delivery row gives it back: through JSON."""
    return Receipt.model_validate(receipt.model_dump(mode="json"))


def test_the_telegram_notifier_can_edit(notifier: TelegramNotifier) -> None:
    assert isinstance(notifier, EditingNotifier)


async def test_a_correction_edits_the_sent_message_in_place(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(-100222), docked(), delivery_id=1)

    edited = await notifier.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))

    assert edited == sent  # same chat, same message id
    (edit,) = fake_telegram.edits(-100222)
    assert edit["parse_mode"] == "HTML" and edit["link_preview_options"]["url"] == "https://img.test/c209.jpg"
    shown = fake_telegram.message(-100222, int(sent.message["message_id"]))
    assert shown is not None and "edit_date" in shown
    assert shown["text"].startswith("🛰 <b>Cargo Dragon C210 docked at International Space Station</b>")
    assert len(fake_telegram.sent(-100222)) == 1


async def test_an_edit_that_changes_nothing_counts_as_done(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)

    assert await notifier.edit(stored(sent), docked()) == sent

    assert [c.method for c in fake_telegram.calls].count("editMessageText") == 1
    assert fake_telegram.edits() == []  # Telegram refused it as "message is not modified"


async def test_editing_a_deleted_message_is_a_permanent_failure(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    fake_telegram.delete(111, int(sent.message["message_id"]))

    with pytest.raises(PermanentFailure, match=r"(?i)message to edit not found"):
        await notifier.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))


async def test_editing_in_a_chat_that_blocked_the_bot_means_the_chat_is_gone(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    fake_telegram.blocked.add(111)

    with pytest.raises(TargetGone, match="blocked"):
        await notifier.edit(stored(sent), docked(vehicle="Cargo Dragon C210"))


LATER = datetime(2026, 1, 1, 15, tzinfo=UTC)


def rescheduled() -> Message:
    return correction_of(docked(), Revision.RESCHEDULED, LATER)


def test_the_telegram_notifier_can_correct(notifier: TelegramNotifier) -> None:
    assert isinstance(notifier, CorrectingNotifier)


def test_a_rescheduled_docking_says_what_ll2_expects_now_and_not_that_it_docked() -> None:
    lines = render_html(rescheduled()).splitlines()

    assert (
        lines[0] == "🛰 <b>Correction: Cargo Dragon C209 has not docked at International Space Station yet</b>"
    )
    assert lines[1] == "<i>LL2 now expects it at 2026-01-01 15:00 UTC.</i>"
    assert not any(line.startswith("<b>Docked:</b>") for line in lines)


async def test_a_sent_message_is_recorded_as_text_so_a_correction_edits_its_text(
    notifier: TelegramNotifier,
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)

    assert sent.message["sent_as"] == "text"


async def test_a_rescheduled_docking_edits_the_message_and_replies_to_it(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(-100222), docked(), delivery_id=1)
    original = int(sent.message["message_id"])

    receipt = await notifier.correct(chat_key(-100222), rescheduled(), stored(sent), delivery_id=2)

    shown = fake_telegram.message(-100222, original)
    assert shown is not None and "edit_date" in shown
    assert shown["text"].startswith("🛰 <b>Correction: Cargo Dragon C209 has not docked")
    (reply,) = fake_telegram.replies(-100222, original)
    assert reply["text"] == (
        "Correction: Cargo Dragon C209 has not docked at International Space Station yet. "
        "LL2 now expects it at 2026-01-01 15:00 UTC."
    )
    replied = fake_telegram.message(-100222, int(receipt.message["message_id"]))
    assert replied is not None and replied["reply_to_message"]["message_id"] == original


async def test_a_refined_time_only_edits_the_message(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    refined = correction_of(docked(), Revision.REFINED, NOW.replace(minute=7))

    receipt = await notifier.correct(chat_key(111), refined, stored(sent), delivery_id=2)

    assert receipt == sent
    (edit,) = fake_telegram.edits(111)
    assert "<b>Docked:</b> 2026-01-01 12:07 UTC" in edit["text"]
    assert len(fake_telegram.sent(111)) == 1


async def test_a_correction_to_a_deleted_message_is_posted_alone(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    fake_telegram.delete(111, int(sent.message["message_id"]))

    receipt = await notifier.correct(chat_key(111), rescheduled(), stored(sent), delivery_id=2)

    posted = fake_telegram.message(111, int(receipt.message["message_id"]))
    assert posted is not None and "reply_to_message" not in posted
    assert posted["text"] == render_html(rescheduled())


async def test_a_correction_in_a_group_that_became_a_supergroup_is_posted_alone_at_its_new_id(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(-333), docked(), delivery_id=1)
    fake_telegram.migrate[-333] = -100333

    receipt = await notifier.correct(chat_key(-333), rescheduled(), stored(sent), delivery_id=2)

    assert receipt.moved_to == chat_key(-100333)
    (posted,) = fake_telegram.sent(-100333)
    assert posted["text"] == render_html(rescheduled())


async def test_a_photo_original_is_corrected_through_its_caption(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    original = fake_telegram.photo(111, caption=render_html(docked()))
    receipt = Receipt(
        platform="telegram", message={"chat_id": 111, "message_id": original, "sent_as": "photo"}
    )

    await notifier.correct(chat_key(111), rescheduled(), receipt, delivery_id=2)

    (edit,) = fake_telegram.edits(111, method="editMessageCaption")
    assert edit["parse_mode"] == "HTML"
    shown = fake_telegram.message(111, original)
    assert shown is not None and shown["caption"] == render_caption(rescheduled())
    assert len(fake_telegram.replies(111, original)) == 1


async def test_a_retried_correction_whose_edit_landed_still_replies(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    fake_telegram.failing.add("sendMessage")
    with pytest.raises(RetryLater):
        await notifier.correct(chat_key(111), rescheduled(), stored(sent), delivery_id=2)
    fake_telegram.failing.clear()

    await notifier.correct(chat_key(111), rescheduled(), stored(sent), delivery_id=2)

    assert len(fake_telegram.edits(111)) == 1  # the retry's edit was "message is not modified"
    assert len(fake_telegram.replies(111, int(sent.message["message_id"]))) == 1


async def test_a_correction_in_a_chat_that_blocked_the_bot_means_the_chat_is_gone(
    notifier: TelegramNotifier, fake_telegram: FakeTelegram
) -> None:
    sent = await notifier.send(chat_key(111), docked(), delivery_id=1)
    fake_telegram.blocked.add(111)

    with pytest.raises(TargetGone, match="blocked"):
        await notifier.correct(chat_key(111), rescheduled(), stored(sent), delivery_id=2)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(DETECTED_KINDS),
    reason=st.sampled_from(list(Revision)),
    vehicle=ll2_strings,
    station=ll2_strings,
)
def test_every_correction_is_valid_telegram_html_within_its_limits(
    kind: ChangeKind, reason: Revision, vehicle: str, station: str
) -> None:
    announced = message_with(kind, vehicle=vehicle, station=station, port="P", event="E", webcast_url=None)
    message = correction_of(announced, reason, None if reason is Revision.WITHDRAWN else LATER)

    for rendered, limit in (
        (render_html(message), 4096),
        (render_caption(message), 1024),
        (render_reply(message), 4096),
    ):
        checker = _TelegramHTML()
        checker.feed(rendered)
        checker.close()
        assert checker.stack == []
        assert checker.text_length <= limit
