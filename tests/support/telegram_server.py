"""A local server that speaks enough of the Telegram Bot API for python-telegram-bot: getMe,
getUpdates (long polling), sendMessage, sendPhoto, editMessageText, answerCallbackQuery,
sendChatAction. It records what the bot sent and can answer 429 (rate limit) or 400 (a failed
send) to test retries. Binds to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT = {
    "id": 4242,
    "is_bot": True,
    "first_name": "SoloOS",
    "username": "soloos_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class FakeTelegram:
    # a bot id of its own per server, as two real bots have: their update ids and inboxes are separate
    token: str = field(default_factory=lambda: f"{random.randrange(10**8, 10**9)}:TEST-token")
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every call the bot made, with its params
    throttle_next_sends: int = 0
    fail_next_sends: int = 0  # answer sendMessage with 400, as Telegram does for a chat it can't reach
    _next_update: int = field(default_factory=lambda: random.randrange(10**6, 10**9))  # like Telegram's
    _next_message: int = 1
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    # -- what a test does ------------------------------------------------------------------

    def user(self, user_id: int = 111, name: str = "Sam") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def push_text(self, text: str, *, user_id: int = 111, update_id: int | None = None) -> int:
        update_id = update_id or self._take_update_id()
        self.updates.append(
            {
                "update_id": update_id,
                "message": {
                    "message_id": self._take_message_id(),
                    "date": int(time.time()),
                    "text": text,
                    "chat": {"id": user_id, "type": "private"},
                    "from": self.user(user_id),
                },
            }
        )
        self._new.set()
        return update_id

    def push_callback(self, data: str, *, message: dict[str, Any], user_id: int = 111) -> int:
        update_id = self._take_update_id()
        self.updates.append(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": f"cb{update_id}",
                    "from": self.user(user_id),
                    "chat_instance": "ci",
                    "data": data,
                    "message": message,
                },
            }
        )
        self._new.set()
        return update_id

    def text_update(self, text: str, *, user_id: int = 111) -> dict[str, Any]:
        """An update as Telegram would POST it to a webhook."""
        return {
            "update_id": self._take_update_id(),
            "message": {
                "message_id": self._take_message_id(),
                "date": int(time.time()),
                "text": text,
                "chat": {"id": user_id, "type": "private"},
                "from": self.user(user_id),
            },
        }

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [c for c in self.sent if c["method"] == method]

    async def wait_for(self, method: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(method)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} {method} calls, got {self.calls(method)}")

    # -- the API ---------------------------------------------------------------------------

    def _take_update_id(self) -> int:
        self._next_update += 1
        return self._next_update

    def _take_message_id(self) -> int:
        self._next_message += 1
        return self._next_message

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = value.file.read()
                continue
            try:
                params[key] = json.loads(str(value))
            except ValueError:
                params[key] = str(value)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        if method == "getMe":
            return self._ok(BOT)
        if method in ("deleteWebhook", "setWebhook", "setMyCommands", "sendChatAction", "answerCallbackQuery"):
            self.sent.append({"method": method, **params})
            return self._ok(True)
        if method == "getUpdates":
            return self._ok(await self._get_updates(params))
        if method == "sendPhoto":
            self.sent.append({"method": method, "at": time.perf_counter(), **params})
            return self._ok(
                {
                    "message_id": self._take_message_id(),
                    "date": int(time.time()),
                    "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 600, "height": 240}],
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": BOT,
                }
            )
        if method == "sendMessage" and self.fail_next_sends > 0:
            self.fail_next_sends -= 1
            self.sent.append({"method": "failed", **params})
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, status=400
            )
        if method in ("sendMessage", "editMessageText"):
            if method == "sendMessage" and self.throttle_next_sends > 0:
                self.throttle_next_sends -= 1
                self.sent.append({"method": "throttled", **params})
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status=429,
                )
            self.sent.append({"method": method, "at": time.perf_counter(), **params})
            message_id = params.get("message_id") or self._take_message_id()
            return self._ok(
                {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "text": params.get("text", ""),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": BOT,
                }
            )
        return web.json_response({"ok": False, "error_code": 404, "description": f"no method {method}"}, status=404)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + timeout
        while True:
            ready = [u for u in self.updates if u["update_id"] >= offset]
            if ready or time.monotonic() >= deadline:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                return ready
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})
