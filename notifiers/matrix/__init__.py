"""The Matrix platform: notices to rooms through a homeserver's client-server API.

This module imports without matrix-nio: the CLI lists and masks Matrix targets from the config
alone; ``notifier.py`` (matrix-nio) is imported when the platform is used. Rooms are the config's
(``room_ids``): the account must have joined them; chat commands to subscribe are not offered yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from dockwatch.notifiers.base import (
    FrontEnd,
    Leads,
    Notifier,
    PlatformContext,
    Quiet,
    Target,
    ZoneName,
    configured_preferences,
    http_url,
    list_from_text,
    mask_url,
)

PREFIX = "matrix:"
ROOM_ID = re.compile(r"![^\s:]+:\S+|![A-Za-z0-9_-]{43}")
"""``!opaque:server.name`` (room versions 1-11), or ``!`` and a 43-character url-safe base64 hash
(room version 12, whose ids name no server)."""
USER_ID = re.compile(r"@[^\s:]+:\S+|[^\s:@]+")
"""A full Matrix user id, or its localpart: the homeserver accepts either at login."""


def _room_id(value: str) -> str:
    value = value.strip()
    if value.startswith("#"):
        raise ValueError(
            f"{value!r} is a room alias, not a room id: give the id (like !AbCdEf:example.org; Element "
            "shows it under Room settings > Advanced)"
        )
    if not ROOM_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a room id: it looks like !AbCdEf:example.org")
    return value


RoomId = Annotated[str, AfterValidator(_room_id)]


class MatrixConfig(BaseModel):
    """The ``[matrix]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    homeserver: str
    access_token: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    room_ids: list[RoomId] = []
    reminders: Leads | None = None
    """Lead times for the rooms."""
    quiet: Quiet | None = None
    """Quiet hours for the rooms, in ``timezone``. Accepted like the chat platforms' so a config reads
    the same everywhere; notices never ping (by the default push rules), so they change nothing yet."""
    timezone: ZoneName | None = None
    """The rooms' zone: the times they read and their quiet hours."""

    @field_validator("homeserver")
    @classmethod
    def _homeserver(cls, value: str) -> str:
        # nio appends /_matrix/... to it as written: a trailing slash would double.
        return http_url(value).rstrip("/")

    @field_validator("access_token", "password")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Never echo it: the error names the problem, not the value.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not USER_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a Matrix user: give @name:example.org (or the name alone)")
        return value

    @field_validator("room_ids", mode="before")
    @classmethod
    def _room_list(cls, value: object) -> object:
        return list_from_text(value)

    @field_validator("room_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _usable(self) -> MatrixConfig:
        login = self.user is not None or self.password is not None
        if self.access_token is not None and login:
            raise ValueError("give access_token, or user and password, not both")
        if self.access_token is None and not login:
            raise ValueError("needs credentials: access_token, or user and password")
        if login and (self.user is None or self.password is None):
            missing = "password" if self.user else "user"
            raise ValueError(f"user and password go together: {missing} is missing")
        if not self.room_ids:
            raise ValueError("configures nothing: add room_ids (rooms the account has joined)")
        return self


def room_key(room_id: str) -> str:
    return f"{PREFIX}{room_id}"


def room_of(target_key: str) -> str:
    return target_key.removeprefix(PREFIX)


class MatrixPlatform:
    """``[matrix]``: the rooms in ``room_ids``, as one account on one homeserver."""

    name = "matrix"
    table = "matrix"
    many = False
    settings_model = MatrixConfig

    def targets(self, settings: MatrixConfig) -> Sequence[Target]:
        chosen = configured_preferences(settings.reminders, settings.quiet, settings.timezone)
        return [
            Target(room_key(room), self.name, f"Matrix room {room}", chosen) for room in settings.room_ids
        ]

    def describe(self, settings: MatrixConfig) -> list[str]:
        where = mask_url(settings.homeserver)
        account = (
            "access_token: hidden"
            if settings.access_token is not None
            else f"user {settings.user}, password: hidden"
        )
        return [f"matrix room {room}  on {where}, {account}" for room in settings.room_ids]

    def notifier(self, settings: MatrixConfig, context: PlatformContext) -> Notifier:
        from dockwatch.notifiers.matrix.notifier import MatrixNotifier

        return MatrixNotifier(settings, clock=context.clock)

    def front_end(
        self, settings: MatrixConfig, notifier: Notifier, context: PlatformContext
    ) -> FrontEnd | None:
        return None


PLATFORM = MatrixPlatform()
