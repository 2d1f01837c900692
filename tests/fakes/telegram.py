"""A Telegram Bot API stand-in on 127.0.0.1 that the real ``telegram.Bot`` talks to.

It records every method call, enforces the documented limits (30 messages/s overall, 1/s per chat,
20/min per group) by answering 429 with ``retry_after`` and counting the violation, answers 403,
400 "chat not found" or a ``migrate_to_chat_id`` for chosen chats, and feeds scripted updates to
``getUpdates`` so command handling is tested end to end. Sent messages are kept, so
``editMessageText`` and ``editMessageCaption`` answer as the Bot API does: the edited Message,
"message to edit not found" for a deleted or unknown one, "message is not modified" when text (or
caption) and markup are unchanged, "there is no text in the message to edit" for a photo's text
(and the converse for a caption). ``sendMessage`` with ``reply_parameters`` replies to a kept
message ("message to be replied not found" unless ``allow_sending_without_reply``); its
``disable_notification`` is kept as a bool (``silent``), whichever way the client spelled it.
Edits are not counted against the sending limits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "dockwatch", "username": "dockwatch_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class FakeTelegram:
    token: str = "4242:AAHtestTOKENtestTOKENtestTOKEN12345"
    enforce_limits: bool = True
    blocked: set[int | str] = field(default_factory=set)
    not_found: set[int | str] = field(default_factory=set)
    bad_request: set[int | str] = field(default_factory=set)
    slow: dict[int | str, float] = field(default_factory=dict)  # chat id -> seconds to hang
    migrate: dict[int | str, int] = field(default_factory=dict)
    admins: dict[int, set[int]] = field(default_factory=dict)  # chat id -> admin user ids
    failing: set[str] = field(default_factory=set)  # Bot API methods answering 502 Bad Gateway
    calls: list[Call] = field(default_factory=list)
    violations: int = 0
    base_url: str = ""
    _updates: deque[dict[str, Any]] = field(default_factory=deque)
    _next_update_id: int = 1
    _message_id: int = 0
    _messages: dict[tuple[int | str, int], dict[str, Any]] = field(default_factory=dict)
    _sent: deque[float] = field(default_factory=deque)
    _per_chat: dict[Any, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        return app

    # --- what tests look at -----------------------------------------------------------------

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Messages accepted (not rejected), optionally for one chat."""
        return [
            c.params
            for c in self.calls
            if c.method == "sendMessage"
            and c.params.get("_accepted")
            and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def silent(self, chat_id: int | str) -> list[bool]:
        """For each message accepted in ``chat_id``, oldest first: whether it was sent without a sound
        (``disable_notification``)."""
        return [bool(p["disable_notification"]) for p in self.sent(chat_id)]

    def replies_to(self, chat_id: int) -> list[str]:
        return [str(p["text"]) for p in self.sent(chat_id)]

    def edits(
        self, chat_id: int | str | None = None, method: str = "editMessageText"
    ) -> list[dict[str, Any]]:
        """Edits accepted (not rejected), optionally for one chat; ``method="editMessageCaption"``
        for captions."""
        return [
            c.params
            for c in self.calls
            if c.method == method
            and c.params.get("_accepted")
            and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def replies(self, chat_id: int | str, message_id: int) -> list[dict[str, Any]]:
        """Messages accepted in ``chat_id`` as replies to ``message_id``."""
        return [
            p for p in self.sent(chat_id) if p.get("reply_parameters", {}).get("message_id") == message_id
        ]

    def photo(self, chat_id: int, caption: str) -> int:
        """A photo message the bot sent to ``chat_id`` earlier; its message id."""
        self._message_id += 1
        self._messages[(chat_id, self._message_id)] = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "photo": [{"file_id": "photo", "file_unique_id": "photo", "width": 640, "height": 480}],
            "caption": caption,
        }
        return self._message_id

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any] | None:
        """The message as the chat shows it now (after any edits), or None if absent or deleted."""
        return self._messages.get((chat_id, message_id))

    def shown(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The messages the chat shows now (after any edits), oldest first."""
        return [
            m for (chat, _), m in sorted(self._messages.items(), key=lambda i: i[0][1]) if chat == chat_id
        ]

    def delete(self, chat_id: int | str, message_id: int) -> None:
        """Someone in the chat deletes the message."""
        del self._messages[(chat_id, message_id)]

    # --- scripted updates ---------------------------------------------------------------------

    def command(self, text: str, *, chat_id: int, user_id: int = 1, chat_type: str = "private") -> None:
        chat = {
            "id": chat_id,
            "type": chat_type,
            "title" if chat_type != "private" else "first_name": "Test chat",
        }
        message: dict[str, Any] = {
            "message_id": self._next_update_id,
            "date": int(time.time()),
            "chat": chat,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if text.startswith("/")
            else [],
        }
        kind = "channel_post" if chat_type == "channel" else "message"
        if chat_type != "channel":
            message["from"] = {"id": user_id, "is_bot": False, "first_name": "Tester"}
        self._push({kind: message})

    def button(
        self, data: str, *, chat_id: int, user_id: int = 1, message_id: int = 1, chat_type: str = "private"
    ) -> None:
        shown = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "text": "settings",
        }
        self._messages.setdefault((chat_id, message_id), shown)  # the message carrying the button
        self._push(
            {
                "callback_query": {
                    "id": str(self._next_update_id),
                    "from": {"id": user_id, "is_bot": False, "first_name": "Tester"},
                    "chat_instance": "ci",
                    "data": data,
                    "message": shown,
                }
            }
        )

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = self._next_update_id
        self._next_update_id += 1
        self._updates.append(update)

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # --- the HTTP side --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        method = request.match_info["method"]
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        if method in self.failing:
            return web.Response(status=502, text="<html>502 Bad Gateway</html>", content_type="text/html")
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _ok(True)
        result: web.Response = await handler(params)
        return result

    async def _getMe(self, _params: dict[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()
        if not self._updates:
            await asyncio.sleep(min(float(params.get("timeout") or 0), 0.2))
        return _ok([u for u in self._updates if u["update_id"] >= offset])

    async def _getChatMember(self, params: dict[str, Any]) -> web.Response:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = "administrator" if user_id in self.admins.get(chat_id, set()) else "member"
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": "T"},
        }
        if status == "administrator":
            member |= {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return _ok(member)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat(params["chat_id"])
        params["chat_id"] = chat_id
        params["disable_notification"] = _flag(params.get("disable_notification"))
        if chat_id in self.slow:
            await asyncio.sleep(self.slow[chat_id])
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.not_found:
            return _error(400, "Bad Request: chat not found")
        if chat_id in self.bad_request:
            return _error(400, "Bad Request: can't parse entities: unsupported start tag")
        if chat_id in self.migrate:
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrate[chat_id]},
            )
        if self.enforce_limits and (retry := self._over_limit(chat_id)) is not None:
            self.violations += 1
            return _error(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        reply = params.get("reply_parameters")
        replied = None if reply is None else self._messages.get((chat_id, int(reply["message_id"])))
        if reply is not None and replied is None and not reply.get("allow_sending_without_reply"):
            return _error(400, "Bad Request: message to be replied not found")
        params["_accepted"] = True
        self._message_id += 1
        chat_type = "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id if isinstance(chat_id, int) else -100, "type": chat_type},
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        if replied is not None:
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        self._messages[(chat_id, self._message_id)] = message
        return _ok(message)

    async def _editMessageText(self, params: dict[str, Any]) -> web.Response:
        return self._edit(params, "text")

    async def _editMessageCaption(self, params: dict[str, Any]) -> web.Response:
        return self._edit(params, "caption")

    def _edit(self, params: dict[str, Any], part: str) -> web.Response:
        chat_id = _chat(params["chat_id"])
        params["chat_id"] = chat_id
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.not_found:
            return _error(400, "Bad Request: chat not found")
        if chat_id in self.migrate:
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrate[chat_id]},
            )
        message = self._messages.get((chat_id, int(params["message_id"])))
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        if part not in message:
            return _error(400, f"Bad Request: there is no {part} in the message to edit")
        text, markup = params.get(part, ""), params.get("reply_markup")
        if text == message[part] and markup == message.get("reply_markup"):
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        message[part] = text
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        params["_accepted"] = True
        return _ok(message)

    def _over_limit(self, chat_id: int | str) -> int | None:
        """The Bot API's limits as sliding windows over arrival times; a retry_after if exceeded."""
        now = time.monotonic()
        overall = self._sent
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        chat = self._per_chat[chat_id]
        while chat and chat[0] <= now - 60.0:
            chat.popleft()
        last_second = sum(1 for t in chat if t > now - 1.0)
        is_group = isinstance(chat_id, str) or chat_id < 0
        if len(overall) >= 30 or last_second >= 1 or (is_group and len(chat) >= 20):
            return 1 if not (is_group and len(chat) >= 20) else 30
        overall.append(now)
        chat.append(now)
        return None


def _flag(value: Any) -> bool:
    """A Bot API boolean as a form field (``true``, ``True``, ``1``) or JSON; absent is false."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _chat(value: Any) -> int | str:
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            for key, value in form.items():
                text = value if isinstance(value, str) else ""
                try:
                    params[key] = json.loads(text) if text[:1] in "{[" else text
                except json.JSONDecodeError:
                    params[key] = text
    return params


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
