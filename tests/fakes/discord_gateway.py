"""Discord's gateway, just enough of it: HELLO, IDENTIFY, READY, heartbeats, and interactions.

Added to the fake REST server's app so discord.py logs in, syncs its command tree, connects, and
receives scripted slash-command interactions whose responses come back as HTTP callbacks.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord import APPLICATION_ID, BOT_USER, FakeDiscord, _json

GUILD_ID = "5555"


@dataclass
class FakeGateway:
    rest: FakeDiscord
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    synced_commands: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    _socket: web.WebSocketResponse | None = None
    _sequence: int = 0
    _ids: int = 900_000

    def install(self, app: web.Application) -> None:
        app.router.add_get("/gateway", self._gateway)
        app.router.add_put("/api/v10/applications/{app}/commands", self._sync)
        app.router.add_post("/api/v10/interactions/{id}/{token}/callback", self._callback)

    async def slash(self, subcommand: str, *, channel_id: int, manage_channels: bool, **options: str) -> None:
        """Send an INTERACTION_CREATE for ``/dockwatch <subcommand> [options]``."""
        assert self._socket is not None, "discord.py has not connected"
        self._ids += 1
        permissions = str((1 << 4) if manage_channels else (1 << 10))  # MANAGE_CHANNELS or VIEW_CHANNEL
        data = {
            "id": str(self._ids),
            "application_id": APPLICATION_ID,
            "type": 2,
            "token": f"itoken{self._ids}",
            "version": 1,
            "attachment_size_limit": 8388608,
            "guild_id": GUILD_ID,
            "channel_id": str(channel_id),
            "channel": {
                "id": str(channel_id),
                "type": 0,
                "guild_id": GUILD_ID,
                "name": "launches",
                "position": 0,
            },
            "app_permissions": "0",
            "locale": "en-US",
            "member": {
                "user": {"id": "77", "username": "tester", "discriminator": "0", "avatar": None},
                "roles": [],
                "joined_at": "2025-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": permissions,
            },
            "data": {
                "id": "1",
                "name": "dockwatch",
                "type": 1,
                "options": [
                    {
                        "name": subcommand,
                        "type": 1,
                        "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
                    }
                ],
            },
        }
        await self._dispatch("INTERACTION_CREATE", data)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._socket is not None
        self._sequence += 1
        await self._socket.send_str(json.dumps({"op": 0, "t": event, "s": self._sequence, "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            if payload["op"] == 1:
                await socket.send_str(json.dumps({"op": 11}))
            elif payload["op"] == 2:
                await self._dispatch(
                    "READY",
                    {
                        "v": 10,
                        "user": {**BOT_USER, "verified": True, "mfa_enabled": False},
                        "guilds": [],
                        "session_id": "session",
                        "resume_gateway_url": str(request.url.with_path("/gateway")),
                        "application": {"id": APPLICATION_ID, "flags": 0},
                        "shard": [0, 1],
                    },
                )
                self.identified.set()
        return socket

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        self.synced_commands = commands
        return _json(
            [
                {**c, "id": str(i + 1), "application_id": APPLICATION_ID, "version": "1"}
                for i, c in enumerate(commands)
            ]
        )

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append(body)
        interaction_id = request.match_info["id"]
        return _json({"interaction": {"id": interaction_id, "type": 2, "response_message_ephemeral": True}})
