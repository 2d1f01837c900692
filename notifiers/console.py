"""The console platform: readable text on a stream, for ``dockwatch demo`` and dry runs.

``[console]`` in the config (``stream = "stdout"`` or ``"stderr"``) prints every notification
instead of, or beside, sending it anywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict

from dockwatch.bot.model import Message, Receipt
from dockwatch.notifiers.base import PLAIN, FrontEnd, Notifier, PlatformContext, Presentation, Target
from dockwatch.notifiers.text import correction_line, details, headline

CONSOLE_TARGET = Target(key="console:stdout", notifier="console", label="standard output")


class ConsoleConfig(BaseModel):
    """The ``[console]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: Literal["stdout", "stderr"] = "stdout"


def render(message: Message) -> str:
    """The headline, what LL2 tells now for a correction, and the details, one per line."""
    width = max((len(label) for label, _ in details(message)), default=0)
    lines = [f"▶ {headline(message)}"]
    if (line := correction_line(message)) is not None:
        lines.append(f"    {line}")
    lines += [f"    {label.ljust(width)}  {value}" for label, value in details(message)]
    return "\n".join(lines)


class ConsoleNotifier:
    """Writes each message to ``stream``; it cannot fail in any way worth retrying."""

    name = "console"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def targets(self) -> Sequence[Target]:
        return [CONSOLE_TARGET]

    def handles(self, target_key: str) -> bool:
        return target_key == CONSOLE_TARGET.key

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        self._stream.write(render(message) + "\n")
        self._stream.flush()
        return Receipt(platform=self.name)


class ConsolePlatform:
    """``[console]``: one target, the process's standard output (or error)."""

    name = "console"
    table = "console"
    many = False
    settings_model = ConsoleConfig

    def targets(self, settings: ConsoleConfig) -> Sequence[Target]:
        return [CONSOLE_TARGET]

    def describe(self, settings: ConsoleConfig) -> list[str]:
        return [f"console {CONSOLE_TARGET.key}  writes to {settings.stream}"]

    def notifier(self, settings: ConsoleConfig, context: PlatformContext) -> Notifier:
        stream = context.console or (sys.stderr if settings.stream == "stderr" else sys.stdout)
        return ConsoleNotifier(stream)

    def front_end(
        self, settings: ConsoleConfig, notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        return None


PLATFORM = ConsolePlatform()
