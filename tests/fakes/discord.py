"""A Discord REST stand-in on 127.0.0.1 for the real discord.py client and webhook sender.

It records calls, validates embed limits, answers 429 the way Discord does (a JSON body with
``retry_after``, ``X-RateLimit-*`` headers and a ``Via`` header, which discord.py requires to tell a
rate limit from a Cloudflare ban), and answers 404/10015, 50027, 50001 or 50013 for chosen targets.
Accepted messages are kept by id, so the PATCH endpoints edit them the way Discord does: 404/10008
"Unknown Message" for a deleted message or one that is not in that channel or webhook, 403/50005 for
a bot editing a message it did not author. A bot message with ``message_reference`` is a reply
(type 19) to a message of that channel, refused with 400/50035 when that message is unknown unless
``fail_if_not_exists`` is false; a webhook answers GET with its guild, as Discord does. A message
keeps the ``flags`` it was sent with that a sender may set (4 suppress embeds, 4096 suppress
notifications), through a webhook or the bot, as Discord returns them.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APPLICATION_ID = "4343"
GUILD_ID = 5555
BOT_USER = {"id": "4242", "username": "dockwatch", "discriminator": "0", "avatar": None, "bot": True}
SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS = 1 << 2, 1 << 12
SENDABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS
EMBED_LIMITS = {"title": 256, "description": 4096, "fields": 25, "field_name": 256, "field_value": 1024}


@dataclass
class Post:
    path: str
    query: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeDiscord:
    token: str = "BOT.TOKEN.TEST"
    bucket_size: int = 5  # messages per bucket window before a 429
    bucket_window: float = 2.0
    hide_remaining: bool = False  # omit X-RateLimit-* on successes, so only a 429 reveals the limit
    global_limit_once: float = 0.0  # answer the next message with a global 429 of this many seconds
    global_per_second: int | None = None
    """Discord's global limit for a bot (50): more bot messages than this in any second get a global
    429, as Discord answers them (webhooks are not counted)."""
    unknown: set[int] = field(default_factory=set)  # webhook or channel ids answering 404
    invalid_token: set[int] = field(default_factory=set)  # webhook ids answering 401/50027
    missing_access: set[int] = field(default_factory=set)  # channel ids answering 403/50001
    missing_permissions: set[int] = field(default_factory=set)  # channel ids answering 403/50013
    proxy_error: set[int] = field(
        default_factory=set
    )  # webhook ids answering a proxy's 502 page echoing the URL
    posts: list[Post] = field(default_factory=list)
    edits: list[Post] = field(default_factory=list)  # every PATCH, accepted or not
    rate_limited: int = 0
    logins: int = 0  # GET /users/@me with the bot token: discord.py's login
    limit_violations: list[str] = field(default_factory=list)
    base_url: str = ""
    guild_id: int | None = GUILD_ID  # the guild every webhook answers it belongs to
    _bucket: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _global_window: deque[float] = field(default_factory=deque)
    _nonces: dict[str, str] = field(default_factory=dict)
    _stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> message object
    _ids: int = 10_000

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_post("/api/v10/webhooks/{id}/{token}", self._webhook)
        app.router.add_get("/api/v10/webhooks/{id}/{token}", self._webhook_info)
        app.router.add_post("/api/v10/channels/{id}/messages", self._channel)
        app.router.add_patch(
            "/api/v10/webhooks/{id}/{token}/messages/{message_id}", self._edit_webhook_message
        )
        app.router.add_patch("/api/v10/channels/{id}/messages/{message_id}", self._edit_channel_message)
        return app

    async def _application(self, _request: web.Request) -> web.Response:
        return _json(
            {
                "id": APPLICATION_ID,
                "name": "dockwatch",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {"id": "77", "username": "owner", "discriminator": "0", "avatar": None},
                "verify_key": "key",
                "flags": 0,
            }
        )

    def messages(self, target_id: int) -> list[dict[str, Any]]:
        """Messages accepted for a webhook or channel id."""
        return [
            p.body for p in self.posts if p.path.split("/")[4] == str(target_id) and p.body.get("_accepted")
        ]

    def silent(self, target_id: int) -> list[bool]:
        """For each message accepted for a webhook or channel id, oldest first: whether it carries
        the suppress-notifications flag (delivered without a sound)."""
        return [bool(int(body.get("flags", 0)) & SUPPRESS_NOTIFICATIONS) for body in self.messages(target_id)]

    def message(self, message_id: int | str) -> dict[str, Any] | None:
        """The message as Discord holds it now (after any edits), or None if absent or deleted."""
        return self._stored.get(str(message_id))

    def shown(self, channel_id: int) -> list[dict[str, Any]]:
        """The messages a channel shows now (after any edits), oldest first; a webhook's messages are
        in the channel of the same id."""
        return [m for m in self._stored.values() if m["channel_id"] == str(channel_id)]

    def replies(self, message_id: int | str) -> list[dict[str, Any]]:
        """Messages (as Discord holds them now) posted as replies to ``message_id``."""
        return [
            m
            for m in self._stored.values()
            if m.get("message_reference", {}).get("message_id") == str(message_id)
        ]

    def delete(self, message_id: int | str) -> None:
        """A moderator deletes the message in the Discord client."""
        del self._stored[str(message_id)]

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        self.logins += 1
        return _json(BOT_USER)

    async def _webhook(self, request: web.Request) -> web.Response:
        hook = int(request.match_info["id"])
        body = await request.json()
        self.posts.append(Post(request.path, dict(request.query), body))
        if hook in self.unknown:
            return _error(404, 10015, "Unknown Webhook")
        if hook in self.invalid_token:
            return _error(401, 50027, "Invalid Webhook Token")
        if hook in self.proxy_error:
            page = f"<html><body><h1>403 Forbidden</h1><p>request blocked: {request.url}</p></body></html>"
            return web.Response(status=403, text=page, content_type="text/html")
        return self._accept(f"webhook:{hook}", body, hook, webhook=True)

    async def _webhook_info(self, request: web.Request) -> web.Response:
        hook = int(request.match_info["id"])
        if hook in self.unknown:
            return _error(404, 10015, "Unknown Webhook")
        if hook in self.invalid_token:
            return _error(401, 50027, "Invalid Webhook Token")
        return _json(
            {
                "id": str(hook),
                "type": 1,
                "guild_id": None if self.guild_id is None else str(self.guild_id),
                "channel_id": str(hook),  # the fake gives each webhook a channel of the same id
                "name": "Captain Hook",
                "avatar": None,
                "token": request.match_info["token"],
                "application_id": None,
            }
        )

    async def _channel(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        channel = int(request.match_info["id"])
        body = await request.json()
        self.posts.append(Post(request.path, dict(request.query), body))
        if channel in self.unknown:
            return _error(404, 10003, "Unknown Channel")
        if channel in self.missing_access:
            return _error(403, 50001, "Missing Access")
        if channel in self.missing_permissions:
            return _error(403, 50013, "Missing Permissions")
        reference = body.get("message_reference")
        if reference is not None:
            replied = self.message(reference.get("message_id", ""))
            if replied is None or replied["channel_id"] != str(channel):
                if reference.get("fail_if_not_exists", True):
                    return _error(400, 50035, "Invalid Form Body")
                del body["message_reference"]  # Discord posts it as an ordinary message
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce") and f"{channel}:{nonce}" in self._nonces:
            body["_duplicate_nonce"] = True  # Discord returns the original message, posting nothing
            original = self._stored.get(self._nonces[f"{channel}:{nonce}"])
            return _json(original or _message(self._nonces[f"{channel}:{nonce}"], channel, body))
        response = self._accept(f"channel:{channel}", body, channel, webhook=False)
        if nonce is not None and response.status == 200:
            self._nonces[f"{channel}:{nonce}"] = str(self._ids)
        return response

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        hook = int(request.match_info["id"])
        body = await request.json()
        self.edits.append(Post(request.path, dict(request.query), body))
        if hook in self.unknown:
            return _error(404, 10015, "Unknown Webhook")
        if hook in self.invalid_token:
            return _error(401, 50027, "Invalid Webhook Token")
        stored = self.message(request.match_info["message_id"])
        if stored is None or stored.get("webhook_id") != str(hook):
            return _error(404, 10008, "Unknown Message")
        return self._edit(f"webhook:{hook}:edit", stored, body)

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        channel = int(request.match_info["id"])
        body = await request.json()
        self.edits.append(Post(request.path, dict(request.query), body))
        if channel in self.unknown:
            return _error(404, 10003, "Unknown Channel")
        if channel in self.missing_access:
            return _error(403, 50001, "Missing Access")
        stored = self.message(request.match_info["message_id"])
        if stored is None or stored["channel_id"] != str(channel):
            return _error(404, 10008, "Unknown Message")
        if stored["author"]["id"] != BOT_USER["id"]:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        return self._edit(f"channel:{channel}:edit", stored, body)

    def _edit(self, bucket: str, stored: dict[str, Any], body: dict[str, Any]) -> web.Response:
        limited, headers = self._throttle(bucket)
        if limited is not None:
            return limited
        self.limit_violations += _embed_violations(body)
        for key in ("content", "embeds"):
            if key in body:
                stored[key] = body[key]
        stored["edited_timestamp"] = "2026-01-01T12:05:00+00:00"
        body["_accepted"] = True
        return _json(stored, headers=headers)

    def _accept(self, bucket: str, body: dict[str, Any], target: int, *, webhook: bool) -> web.Response:
        if not webhook and (refused := self._over_global()) is not None:
            return refused
        limited, headers = self._throttle(bucket)
        if limited is not None:
            return limited
        self.limit_violations += _embed_violations(body)
        body["_accepted"] = True
        self._ids += 1
        message = _message(str(self._ids), target, body, webhook=webhook)
        self._stored[message["id"]] = message
        return _json(message, headers=headers)

    def _over_global(self) -> web.Response | None:
        if self.global_per_second is None:
            return None
        now = time.monotonic()
        while self._global_window and self._global_window[0] <= now - 1.0:
            self._global_window.popleft()
        if len(self._global_window) >= self.global_per_second:
            self.rate_limited += 1
            retry = round(self._global_window[0] + 1.0 - now, 3)
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry, "global": True},
                status=429,
                headers={
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Retry-After": str(retry),
                },
            )
        self._global_window.append(now)
        return None

    def _throttle(self, bucket: str) -> tuple[web.Response | None, dict[str, str]]:
        """A 429 if ``bucket`` (or the global limit) is exhausted, else the headers of a success."""
        if self.global_limit_once:
            retry, self.global_limit_once = self.global_limit_once, 0.0
            self.rate_limited += 1
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry, "global": True},
                status=429,
                headers={
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Retry-After": str(retry),
                    "Via": "1.1 google",
                },
            ), {}
        now = time.monotonic()
        window = self._bucket[bucket]
        while window and window[0] <= now - self.bucket_window:
            window.popleft()
        remaining = self.bucket_size - len(window)
        reset_after = round(window[0] + self.bucket_window - now, 3) if window else self.bucket_window
        headers = {
            "X-RateLimit-Limit": str(self.bucket_size),
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Reset-After": str(max(reset_after, 0.001)),
            "X-RateLimit-Reset": str(time.time() + max(reset_after, 0.001)),
        }
        if remaining <= 0:
            self.rate_limited += 1
            headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user", "Via": "1.1 google"}
            return _json(
                {"message": "You are being rate limited.", "retry_after": reset_after, "global": False},
                status=429,
                headers=headers,
            ), {}
        window.append(now)
        headers["X-RateLimit-Remaining"] = str(remaining - 1)
        return None, {} if self.hide_remaining else headers


def _message(message_id: str, channel: int, body: dict[str, Any], *, webhook: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message_id,
        "type": 0,
        "channel_id": str(channel),
        "content": body.get("content", ""),
        "author": BOT_USER,
        "embeds": body.get("embeds", []),
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "timestamp": "2026-01-01T12:00:00+00:00",
        "edited_timestamp": None,
        "flags": int(body.get("flags", 0)) & SENDABLE_FLAGS,
    }
    if webhook:  # the fake gives each webhook a channel of the same id
        data["webhook_id"] = str(channel)
        name = body.get("username") or "Captain Hook"
        data["author"] = {
            "id": str(channel),
            "username": name,
            "discriminator": "0000",
            "avatar": None,
            "bot": True,
        }
    if "nonce" in body:
        data["nonce"] = body["nonce"]
    if "message_reference" in body and not webhook:  # execute-webhook cannot reply
        reference = body["message_reference"]
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": str(reference["message_id"]),
            "channel_id": str(channel),
        }
    return data


def _embed_violations(body: dict[str, Any]) -> list[str]:
    problems = []
    for embed in body.get("embeds", []):
        total = len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
        if len(embed.get("title", "")) > EMBED_LIMITS["title"]:
            problems.append("title")
        if len(embed.get("description", "")) > EMBED_LIMITS["description"]:
            problems.append("description")
        fields = embed.get("fields", [])
        if len(fields) > EMBED_LIMITS["fields"]:
            problems.append("fields")
        for item in fields:
            total += len(item["name"]) + len(item["value"])
            if len(item["name"]) > EMBED_LIMITS["field_name"] or not item["name"]:
                problems.append("field name")
            if len(item["value"]) > EMBED_LIMITS["field_value"] or not item["value"]:
                problems.append("field value")
        if total > 6000:
            problems.append("total")
    return problems


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly ``application/json``, as Discord sends it (discord.py compares the header)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )
