"""Per-chat pacing windows: held while a chat has traffic, forgotten soon after, however many chats."""

from __future__ import annotations

import asyncio

from dockwatch.notifiers.pacing import KeyedWindows, SlidingWindow


def per_second(now: list[float]) -> KeyedWindows:
    """One request a second per key, on the clock ``now[0]``."""
    return KeyedWindows(lambda: SlidingWindow(1, 1.0, margin=0.0, clock=lambda: now[0]))


def send(windows: KeyedWindows, key: int) -> None:
    """One request to ``key`` that starts and finishes at once."""
    window = windows[key]
    window.finish(window.record())


def test_a_fan_out_to_many_chats_holds_only_the_windows_of_the_last_second() -> None:
    now = [0.0]
    windows = per_second(now)

    for chat in range(100_000):  # 30 a second, as Telegram allows
        now[0] = chat / 30
        send(windows, chat)

    assert len(windows) < 100  # about the 30 chats of the last second; not 100,000


def test_a_chat_window_is_kept_while_it_still_limits_the_chat() -> None:
    now = [0.0]
    windows = per_second(now)
    send(windows, 1)
    now[0] = 0.5
    send(windows, 2)
    send(windows, 3)

    assert windows[1].delay() == 0.5


async def test_a_window_someone_waits_for_is_kept() -> None:
    now = [0.0]
    windows = per_second(now)
    send(windows, 1)
    waiting = asyncio.create_task(windows[1].acquire())  # takes the lock, sleeps for a second
    await asyncio.sleep(0)
    now[0] = 2.0  # the first request has left the window; the waiter has not woken yet
    for chat in range(2, 10):
        send(windows, chat)

    assert 1 in windows._windows
    waiting.cancel()


def test_an_idle_chat_starts_again_with_an_empty_window() -> None:
    now = [0.0]
    windows = per_second(now)
    send(windows, 1)
    now[0] = 5.0
    send(windows, 2)
    send(windows, 3)

    assert 1 not in windows._windows
    assert windows[1].delay() == 0
