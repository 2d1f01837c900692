"""The console notifier: readable text on a stream, for ``dockwatch demo`` and dry runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from dockwatch.bot.model import Message
from dockwatch.notifiers.base import Target
from dockwatch.notifiers.text import details, headline

CONSOLE_TARGET = Target(key="console:stdout", notifier="console", label="standard output")


def render(message: Message) -> str:
    width = max((len(label) for label, _ in details(message)), default=0)
    lines = [f"▶ {headline(message)}"]
    lines += [f"    {label.ljust(width)}  {value}" for label, value in details(message)]
    return "\n".join(lines)


class ConsoleNotifier:
    """Writes each message to ``stream``; it cannot fail in any way worth retrying."""

    name = "console"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def targets(self) -> Sequence[Target]:
        return [CONSOLE_TARGET]

    def handles(self, target_key: str) -> bool:
        return target_key == CONSOLE_TARGET.key

    async def send(self, target_key: str, message: Message, *, delivery_id: int) -> None:
        self._stream.write(render(message) + "\n")
        self._stream.flush()
