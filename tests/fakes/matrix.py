"""A Matrix homeserver stand-in on 127.0.0.1 that the real ``nio.AsyncClient`` talks to.

It speaks the client-server endpoints dockwatch uses, as the spec (v1.11) and Synapse answer them:
``GET /_matrix/client/versions``; ``POST /_matrix/client/v3/login`` (``m.login.password``, the
device kept when the client names one: a new access token for the same device);
``GET /_matrix/client/v3/account/whoami``; and ``PUT
/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}``, which is idempotent per device and
transaction id (the same PUT again answers the first event's id and records nothing). Tokens are
read from ``Authorization: Bearer`` (or the deprecated ``access_token`` query parameter); an unknown
or ended one answers 401 ``M_UNKNOWN_TOKEN``. A room the account has not joined answers 403
``M_FORBIDDEN``, as Synapse does; an ``m.replace`` of an event the room does not hold answers 400
("Can't send relation to unknown event"), as Synapse does.

Scriptable failures per room: 429 ``M_LIMIT_EXCEEDED`` for the next sends (``retry_after_ms``, or a
``Retry-After`` header), any Matrix error for every send (403 ``M_FORBIDDEN``, 404 ``M_NOT_FOUND``,
...), 502 with an HTML page (a proxy in front of the homeserver), and a room that never answers.
Events are recorded per room in order; ``shown`` is a room as a client displays it (edits applied
to their originals). Transactions are remembered for the fake's life (Synapse: half an hour).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SERVER = "fake.test"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    authorization: str | None


@dataclass
class Session:
    user_id: str
    device_id: str


@dataclass
class FakeMatrix:
    access_token: str = "syt_ZG9ja3dhdGNo_FAKEaccessTOKENfake_0dW2xK"
    user_id: str = f"@dockwatch:{SERVER}"
    password: str = "correct horse battery staple"
    joined: set[str] = field(default_factory=set)
    unknown_relation: tuple[int, str] = (400, "M_UNKNOWN")
    """How a relation (an edit, a reply) to an event the room does not hold is refused: Synapse's
    400, or (404, "M_NOT_FOUND") as other homeservers answer."""
    """Rooms the account is in; sending anywhere else is refused with 403 M_FORBIDDEN."""
    rate_limited: dict[str, list[int | str]] = field(default_factory=dict)
    """Room id to its next sends' 429 answers, one per send: an int is the body's ``retry_after_ms``;
    a string is a ``Retry-After`` header alone (Matrix 1.10 deprecated the body's field)."""
    refusals: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """Room id to the (HTTP status, errcode, error) every send there answers."""
    failing: set[str] = field(default_factory=set)
    """Rooms whose sends answer 502 with an HTML page, as a reverse proxy does."""
    silent: set[str] = field(default_factory=set)
    """Rooms whose sends are never answered."""
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    logins: int = 0
    homeserver: str = ""
    _sessions: dict[str, Session] = field(default_factory=dict)
    _transactions: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _hold: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._sessions[self.access_token] = Session(self.user_id, "CONFIGURED")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_matrix/client/versions", self._versions)
        app.router.add_post("/_matrix/client/v3/login", self._login)
        app.router.add_get("/_matrix/client/v3/account/whoami", self._whoami)
        app.router.add_put("/_matrix/client/v3/rooms/{room}/send/{type}/{txn}", self._send)
        app.on_shutdown.append(self._release)
        return app

    # --- what tests script and look at ------------------------------------------------------------

    def accept(self, access_token: str) -> None:
        """``access_token`` works from now on (a person created it for the account meanwhile)."""
        self._sessions[access_token] = Session(self.user_id, "CREATED")

    def end_sessions(self) -> None:
        """Every access token stops working (the account's sessions were signed out)."""
        self._sessions.clear()

    def messages(self, room_id: str) -> list[dict[str, Any]]:
        """Every ``m.room.message`` event recorded in the room, edits and replies included, in order."""
        return [e for e in self.events.get(room_id, []) if e["type"] == "m.room.message"]

    def sends(self, room_id: str) -> list[Call]:
        """Every send request to the room, answered however it was."""
        return [c for c in self.calls if c.method == "PUT" and f"/rooms/{room_id}/" in c.path]

    def shown(self, room_id: str) -> list[dict[str, Any]]:
        """The room's messages as a client shows them: edits applied (the latest by the original's
        sender wins) and not shown on their own."""
        shown: dict[str, dict[str, Any]] = {}
        for event in self.messages(room_id):
            relation = event["content"].get("m.relates_to", {})
            if relation.get("rel_type") == "m.replace":
                original = shown.get(relation["event_id"])
                if original is not None and original["sender"] == event["sender"]:
                    original["content"] = event["content"]["m.new_content"]
                    original["edited_by"] = event["event_id"]
                continue
            shown[event["event_id"]] = {**event, "content": dict(event["content"])}
        return list(shown.values())

    def replies_to(self, room_id: str, event_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.messages(room_id)
            if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id
        ]

    # --- the client-server API ----------------------------------------------------------------

    async def _versions(self, request: web.Request) -> web.Response:
        self.calls.append(Call("GET", request.path, None, request.headers.get("Authorization")))
        return web.json_response({"versions": ["v1.1", "v1.5", "v1.7", "v1.11"], "unstable_features": {}})

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("POST", request.path, {**body, "password": "***"}, None))
        identifier = body.get("identifier", {})
        user = identifier.get("user") if identifier.get("type") == "m.id.user" else None
        localpart = self.user_id[1:].partition(":")[0]
        if body.get("type") != "m.login.password" or user not in (self.user_id, localpart):
            return _error(403, "M_FORBIDDEN", "Invalid username or password")
        if body.get("password") != self.password:
            return _error(403, "M_FORBIDDEN", "Invalid username or password")
        self.logins += 1
        device_id = body.get("device_id") or f"DEVICE{next(self._ids)}"
        token = f"syt_login_{self.logins}_{device_id}"
        self._sessions[token] = Session(self.user_id, device_id)
        return web.json_response({"user_id": self.user_id, "access_token": token, "device_id": device_id})

    async def _whoami(self, request: web.Request) -> web.Response:
        self.calls.append(Call("GET", request.path, None, request.headers.get("Authorization")))
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        return web.json_response({"user_id": session.user_id, "device_id": session.device_id})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        room, event_type, txn = (request.match_info[k] for k in ("room", "type", "txn"))
        content = await request.json()
        self.calls.append(Call("PUT", request.path, content, request.headers.get("Authorization")))
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        if room in self.silent:
            await self._hold.wait()
        if room in self.failing:
            return web.Response(
                status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
            )
        if self.rate_limited.get(room):
            wait = self.rate_limited[room].pop(0)
            if isinstance(wait, str):
                limited = _error(429, "M_LIMIT_EXCEEDED", "Too Many Requests")
                limited.headers["Retry-After"] = wait
                return limited
            return _error(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=wait)
        if room in self.refusals:
            status, errcode, error = self.refusals[room]
            return _error(status, errcode, error)
        if room not in self.joined:
            return _error(403, "M_FORBIDDEN", f"User {session.user_id} not in room {room}")
        transaction = (session.user_id, session.device_id, room, event_type, txn)
        if transaction in self._transactions:
            return web.json_response({"event_id": self._transactions[transaction]})
        relation = content.get("m.relates_to", {})
        if relation.get("rel_type") is not None and not any(
            e["event_id"] == relation.get("event_id") for e in self.events.get(room, [])
        ):
            return _error(*self.unknown_relation, "Can't send relation to unknown event")
        event_id = f"${next(self._ids):08d}fakeEventId"
        self.events.setdefault(room, []).append(
            {
                "event_id": event_id,
                "room_id": room,
                "type": event_type,
                "sender": session.user_id,
                "origin_server_ts": int(time.time() * 1000),
                "content": content,
            }
        )
        self._transactions[transaction] = event_id
        return web.json_response({"event_id": event_id})

    def _session(self, request: web.Request) -> Session | web.Response:
        header = request.headers.get("Authorization", "")
        token = (
            header.removeprefix("Bearer ")
            if header.startswith("Bearer ")
            else request.query.get("access_token")
        )
        if not token:
            return _error(401, "M_MISSING_TOKEN", "Missing access token")
        session = self._sessions.get(token)
        if session is None:
            return _error(401, "M_UNKNOWN_TOKEN", "Unknown access token", soft_logout=False)
        return session

    async def _release(self, _app: web.Application) -> None:
        self._hold.set()


def _error(status: int, errcode: str, error: str, **extra: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error, **extra}, status=status)
