"""``dockwatch test-target --config FILE KEY``: one marked test message to one target, sent directly
(nothing recorded), and the platform's answer printed; the real CLI against the local fakes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dockwatch.bot.model import SubscriptionFilter
from dockwatch.notifiers.ntfy import target_key as ntfy_key
from dockwatch.notifiers.webhook import target_key
from dockwatch.storage import Store
from tests.conftest import SECRET, file_digest
from tests.fakes.ll2 import FakeLL2
from tests.fakes.matrix import FakeMatrix
from tests.fakes.ntfy import FakeNtfy
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.test_cli import assert_one_line_error, dockwatch

TEST_HEADLINE = "dockwatch test message: this target works"
EVERYTHING = SubscriptionFilter(None, None)


def write_config(tmp_path: Path, *tables: str) -> Path:
    path = tmp_path / "dockwatch.toml"
    path.write_text('[storage]\nurl = "sqlite:///state.db"\n' + "".join(tables))
    return path


def webhook_table(receiver: WebhookReceiver) -> str:
    return f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\nname = "ops receiver"\n'


def telegram_table(fake: FakeTelegram, *, chat_ids: str = "[]", token: str | None = None) -> str:
    return (
        f'[telegram]\ntoken = "{token or fake.token}"\nchat_ids = {chat_ids}\n'
        f'api_base_url = "{fake.base_url}"\n'
    )


async def database(tmp_path: Path) -> str:
    """The config's database, created (empty) the way ``run`` would."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with Store.open(url):
        pass
    return url


async def test_a_webhook_receives_a_signed_test_body_and_its_http_status_is_printed(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    path = write_config(tmp_path, webhook_table(webhook_receiver))
    key = target_key(webhook_receiver.url)

    run = await dockwatch("test-target", "--config", str(path), key)

    assert run.code == 0, run.err
    assert run.out == f"sent to ops receiver ({key}): webhook status=200\n"
    [received] = webhook_receiver.accepted  # accepted: the signature verified
    assert received.json["type"] == "dockwatch.test"
    assert received.json["data"] == {}


async def test_a_telegram_chat_receives_the_marked_test_message(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    path = write_config(tmp_path, telegram_table(fake_telegram, chat_ids="[111]"))

    run = await dockwatch("test-target", "--config", str(path), "telegram:111")

    assert run.code == 0, run.err
    [sent] = fake_telegram.sent(111)
    assert TEST_HEADLINE in sent["text"]
    assert run.out.startswith("sent to Telegram chat 111 (telegram:111): telegram chat_id=111 message_id=")


async def test_a_chat_that_subscribed_itself_can_be_tested_by_the_key_status_shows(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    async with Store.open(await database(tmp_path)) as store:
        await store.save_subscription(
            "telegram:555", notifier="telegram", label="Telegram chat 555", subscription=EVERYTHING
        )
    path = write_config(tmp_path, telegram_table(fake_telegram))

    run = await dockwatch("test-target", "--config", str(path), "telegram:555")

    assert run.code == 0, run.err
    assert TEST_HEADLINE in fake_telegram.sent(555)[0]["text"]
    assert run.out.startswith("sent to Telegram chat 555 (telegram:555): telegram chat_id=555")


async def test_a_key_that_moved_is_followed_to_its_new_address_saying_so(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    async with Store.open(await database(tmp_path)) as store:
        await store.save_subscription(
            "telegram:-333", notifier="telegram", label="Telegram chat -333", subscription=EVERYTHING
        )
        await store.move_target("telegram:-333", "telegram:-100333", now=datetime(2026, 11, 22, tzinfo=UTC))
    path = write_config(tmp_path, telegram_table(fake_telegram))

    run = await dockwatch("test-target", "--config", str(path), "telegram:-333")

    assert run.code == 0, run.err
    assert (
        run.out.splitlines()[0]
        == "telegram:-333 moved to telegram:-100333 on 2026-11-22; testing telegram:-100333"
    )
    assert (len(fake_telegram.sent(-100333)), fake_telegram.sent(-333)) == (1, [])


async def test_a_test_message_is_not_recorded_and_the_database_is_only_read(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    url = await database(tmp_path)
    before = file_digest(tmp_path / "state.db")
    path = write_config(tmp_path, webhook_table(webhook_receiver))

    run = await dockwatch("test-target", "--config", str(path), target_key(webhook_receiver.url))

    assert run.code == 0, run.err
    async with Store.open_read_only(url) as store:
        assert (await store.notifications(), await store.deliveries()) == ([], [])
    assert file_digest(tmp_path / "state.db") == before


async def test_a_receiver_answering_500_exits_1_with_one_line_naming_the_target_and_the_answer(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.statuses.append(500)
    path = write_config(tmp_path, webhook_table(webhook_receiver))
    key = target_key(webhook_receiver.url)

    run = await dockwatch("test-target", "--config", str(path), key)

    assert run.code == 1
    assert_one_line_error(run, f"test message to ops receiver ({key}) not delivered", "HTTP 500")
    assert run.out == ""


async def test_a_gone_target_is_reported_but_not_disabled(
    tmp_path: Path, fake_ll2: FakeLL2, webhook_receiver: WebhookReceiver
) -> None:
    path = write_config(
        tmp_path, f'[api]\nbase_url = "{fake_ll2.base_url}"\n', webhook_table(webhook_receiver)
    )
    await dockwatch("-q", "poll-once", "--config", str(path))  # the target is in the database now
    webhook_receiver.statuses.append(410)

    run = await dockwatch("test-target", "--config", str(path), target_key(webhook_receiver.url))
    status = await dockwatch("status", "--config", str(path))

    assert run.code == 1
    assert_one_line_error(run, "HTTP 410 Gone", "the target is gone")
    assert "ops receiver  enabled" in status.out


async def test_a_disabled_target_is_still_tested_and_the_output_says_how_to_enable_it(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    async with Store.open(await database(tmp_path)) as store:
        await store.save_subscription(
            "telegram:555", notifier="telegram", label="Telegram chat 555", subscription=EVERYTHING
        )
        await store.disable_target("telegram:555", reason="bot was blocked", now=datetime.now(UTC))
    path = write_config(tmp_path, telegram_table(fake_telegram))

    run = await dockwatch("test-target", "--config", str(path), "telegram:555")

    assert run.code == 0, run.err
    assert len(fake_telegram.sent(555)) == 1
    assert "telegram:555 is disabled (bot was blocked); `dockwatch enable-target`" in run.out


async def test_an_unknown_key_exits_2_and_names_the_key_it_most_likely_meant(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    path = write_config(tmp_path, webhook_table(webhook_receiver))
    key = target_key(webhook_receiver.url)
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")

    run = await dockwatch("test-target", "--config", str(path), typo)

    assert run.code == 2
    assert_one_line_error(
        run, f"dockwatch: unknown target {typo}; `dockwatch status` lists the targets (did you mean {key}?)"
    )
    assert webhook_receiver.received == []


async def test_a_chat_id_without_its_platform_prefix_is_unknown_with_the_full_key_suggested(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    path = write_config(tmp_path, telegram_table(fake_telegram, chat_ids="[111]"))

    run = await dockwatch("test-target", "--config", str(path), "111")

    assert run.code == 2
    assert_one_line_error(run, "unknown target 111;", "(did you mean telegram:111?)")
    assert fake_telegram.sent() == []


async def test_a_stored_target_no_configured_platform_can_reach_exits_2(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    async with Store.open(await database(tmp_path)) as store:
        await store.save_subscription(
            "telegram:555", notifier="telegram", label="Telegram chat 555", subscription=EVERYTHING
        )
    path = write_config(tmp_path, webhook_table(webhook_receiver))  # [telegram] was removed

    run = await dockwatch("test-target", "--config", str(path), "telegram:555")

    assert run.code == 2
    assert_one_line_error(run, "Telegram chat 555 (telegram:555): the config's [telegram] cannot send to it")


async def test_a_platform_that_cannot_start_exits_69_naming_the_target(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    refused = "4242:AAHwrongTOKENwrongTOKENwrongTOKEN123"
    path = write_config(tmp_path, telegram_table(fake_telegram, chat_ids="[111]", token=refused))

    run = await dockwatch("test-target", "--config", str(path), "telegram:111")

    assert run.code == 69
    assert_one_line_error(run, "cannot test Telegram chat 111 (telegram:111)", "telegram.token: rejected")
    assert fake_telegram.sent() == []


async def test_an_ntfy_topic_receives_the_marked_test_message_and_its_token_stays_hidden(
    tmp_path: Path, fake_ntfy: FakeNtfy
) -> None:
    token = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
    fake_ntfy.token = token
    url = fake_ntfy.topic_url("dockwatch-test-4f1c")
    path = write_config(tmp_path, f'[[ntfy]]\nurl = "{url}"\ntoken = "{token}"\n')
    key = ntfy_key(url)

    run = await dockwatch("test-target", "--config", str(path), key)

    assert run.code == 0, run.err
    [published] = fake_ntfy.published("dockwatch-test-4f1c")
    assert published.param("x-title", "title") == TEST_HEADLINE
    assert run.out.startswith("sent to http://127.0.0.1:") and f"/… ({key}): ntfy id=" in run.out
    assert token not in run.out + run.err


async def test_a_matrix_room_receives_the_marked_test_notice_and_its_token_stays_hidden(
    tmp_path: Path, fake_matrix: FakeMatrix
) -> None:
    room = "!announcements:fake.test"
    fake_matrix.joined.add(room)
    path = write_config(
        tmp_path,
        f'[matrix]\nhomeserver = "{fake_matrix.homeserver}"\naccess_token = "{fake_matrix.access_token}"\n'
        f'room_ids = ["{room}"]\n',
    )

    run = await dockwatch("test-target", "--config", str(path), f"matrix:{room}")

    assert run.code == 0, run.err
    [notice] = fake_matrix.messages(room)
    assert notice["content"]["msgtype"] == "m.notice"
    assert TEST_HEADLINE in notice["content"]["body"]
    assert run.out.startswith(f"sent to Matrix room {room} (matrix:{room}): matrix event_id=")
    assert fake_matrix.access_token not in run.out + run.err
