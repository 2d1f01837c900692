"""``dockwatch run`` with Telegram: a chat subscribes by command and then gets the docking."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.builders import ll2_docking
from tests.fakes.ll2 import FakeLL2
from tests.fakes.telegram import FakeTelegram
from tests.service_harness import StartRun, eventually


def telegram_table(fake: FakeTelegram, chat_ids: str = "[]") -> str:
    return f'[telegram]\ntoken = "{fake.token}"\nchat_ids = {chat_ids}\napi_base_url = "{fake.base_url}"\n'


async def test_a_chat_that_subscribes_gets_one_message_per_matching_docking(
    start_run: StartRun, fake_ll2: FakeLL2, fake_telegram: FakeTelegram
) -> None:
    running = await start_run(fake_ll2, [], tables=telegram_table(fake_telegram))
    fake_telegram.command("/subscribe docked iss", chat_id=111)
    fake_telegram.command("/subscribe departed", chat_id=222)
    await eventually(lambda: len(fake_telegram.sent()) == 2)  # both confirmations
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    now = datetime.now(UTC)
    fake_ll2.dockings = [ll2_docking(630, docking=now - timedelta(seconds=30), vehicle=(1, "Cygnus <NG-24>"))]
    await eventually(lambda: len(fake_telegram.sent(111)) == 2)
    await eventually(lambda: len(fake_ll2.counted_requests) >= 8)
    code, _ = await running.stop()

    alert = fake_telegram.sent(111)[1]["text"]
    assert alert.startswith("🛰 <b>Cygnus &lt;NG-24&gt; docked at International Space Station</b>")
    assert len(fake_telegram.sent(222)) == 1  # only its confirmation: it asked for departures
    assert fake_telegram.violations == 0
    assert code == 0


async def test_a_chat_that_blocked_the_bot_is_dropped_after_one_answer(
    start_run: StartRun, fake_ll2: FakeLL2, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.blocked.add(333)
    running = await start_run(fake_ll2, [], tables=telegram_table(fake_telegram, "[333, 444]"))
    await eventually(lambda: len(fake_ll2.counted_requests) >= 2)

    now = datetime.now(UTC)
    fake_ll2.dockings = [ll2_docking(630, docking=now - timedelta(seconds=30))]
    await eventually(lambda: len(fake_telegram.sent(444)) == 1)
    fake_ll2.dockings.insert(0, ll2_docking(631, docking=now, port=(1, "Unity nadir")))
    await eventually(lambda: len(fake_telegram.sent(444)) == 2)
    code, err = await running.stop()

    attempts_to_blocked = [
        c for c in fake_telegram.calls if c.method == "sendMessage" and c.params["chat_id"] == 333
    ]
    assert len(attempts_to_blocked) == 1
    assert "target disabled target=telegram:333" in err
    assert code == 0


async def test_telegram_answering_502_with_an_html_page_is_logged_in_one_line_not_a_traceback(
    start_run: StartRun, fake_ll2: FakeLL2, fake_telegram: FakeTelegram
) -> None:
    running = await start_run(fake_ll2, [], tables=telegram_table(fake_telegram, "[111]"))
    await eventually(lambda: any(call.method == "getUpdates" for call in fake_telegram.calls))
    fake_telegram.failing.add("getUpdates")  # "<html>502 Bad Gateway</html>", as Telegram's front sends
    before = len(fake_telegram.calls)
    await eventually(lambda: [c.method for c in fake_telegram.calls[before:]].count("getUpdates") >= 2)
    code, err = await running.stop()

    assert code == 0
    failures = [line for line in err.splitlines() if "Exception happened while polling for updates" in line]
    assert len(failures) >= 2, err
    assert all("NetworkError: Bad Gateway (502)" in line for line in failures), err
    assert all(line.endswith("(-v shows the traceback)") for line in failures), err
    # One line per failure: PTB's dump of the page it could not read as JSON is not logged.
    assert "Can not load invalid JSON data" not in err, err
    # Every line is a log line: no traceback, neither PTB's own nor the chained JSONDecodeError's.
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d [A-Z]+ ", line) for line in err.splitlines()), err
