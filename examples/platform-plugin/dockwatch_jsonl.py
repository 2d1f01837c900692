"""A minimal dockwatch platform: each notification becomes one JSON line in a file.

Configure it with a ``[jsonl]`` table::

    [jsonl]
    path = "/var/lib/dockwatch/notifications.jsonl"

The whole platform is this file plus one entry point (see ``pyproject.toml``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dockwatch.bot.errors import PlatformUnavailable, RetryLater
from dockwatch.bot.model import Message, Receipt
from dockwatch.notifiers.base import PLAIN, FrontEnd, Notifier, PlatformContext, Presentation, Target


class JsonLinesConfig(BaseModel):
    """The ``[jsonl]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path


class JsonLinesNotifier:
    """Appends one line per message; the line carries the notification key, so replays are visible."""

    name = "jsonl"

    def __init__(self, config: JsonLinesConfig) -> None:
        self._path = config.path
        self._key = f"jsonl:{config.path}"

    async def start(self) -> None:
        if not self._path.parent.is_dir():
            raise PlatformUnavailable(f"jsonl.path: directory {self._path.parent} does not exist")

    async def close(self) -> None:
        return None

    def targets(self) -> Sequence[Target]:
        return [Target(self._key, self.name, f"JSON lines in {self._path}")]

    def handles(self, target_key: str) -> bool:
        return target_key == self._key

    async def send(
        self, target_key: str, message: Message, *, delivery_id: int, presentation: Presentation = PLAIN
    ) -> Receipt:
        line = json.dumps({"delivery_id": delivery_id, **message.model_dump(mode="json")})
        try:
            with self._path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
        except OSError as error:
            raise RetryLater(f"{self._path}: {error.strerror}") from None
        return Receipt(platform=self.name, message={"delivery_id": delivery_id})


class JsonLinesPlatform:
    name = "jsonl"
    table = "jsonl"
    many = False
    settings_model = JsonLinesConfig

    def targets(self, settings: JsonLinesConfig) -> Sequence[Target]:
        return JsonLinesNotifier(settings).targets()

    def describe(self, settings: JsonLinesConfig) -> list[str]:
        return [f"jsonl {settings.path}"]

    def notifier(self, settings: JsonLinesConfig, context: PlatformContext) -> Notifier:
        return JsonLinesNotifier(settings)

    def front_end(
        self, settings: JsonLinesConfig, notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        return None


PLATFORM = JsonLinesPlatform()
