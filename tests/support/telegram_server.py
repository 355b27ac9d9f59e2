"""A local server that speaks enough of the Telegram Bot API for python-telegram-bot: getMe,
getUpdates (long polling), sendMessage, sendPhoto, editMessageText, deleteMessage,
answerCallbackQuery, sendChatAction. It records what the bot sent and can answer 429 (rate limit) or 400 (a failed
send) to test retries. Binds to 127.0.0.1 only.

Telegram's behaviour where it matters, each off until a test asks for it:
- offsets: an update comes back from every getUpdates until a later one asks for a higher offset;
- a second poller (``conflicts=True``): a getUpdates arriving while another is in flight ends the
  older one with 409 "Conflict: terminated by other getUpdates request …", as Telegram does;
- ``outage(methods, seconds, status)``: the chosen methods (None: every one, getUpdates too) answer
  502 "Bad Gateway" (or the status given) for a while;
- ``rate_limit_burst(methods, count, retry_after)``: the next ``count`` calls answer 429 with
  ``parameters.retry_after``;
- ``callback_max_age``: answering a button press pushed longer ago than that is 400 "query is too
  old …" (so is answering one the server never sent);
- ``edit_missing``: editMessageText of these message ids is 400 "message to edit not found".
A call refused by any of these is recorded in ``sent`` as ``failed:<method>`` with its ``status``."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_http import serve

BOT = {
    "id": 4242,
    "is_bot": True,
    "first_name": "SoloOS",
    "username": "soloos_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_FOUND = "Bad Request: message to edit not found"


@dataclass
class _Refusal:
    """Calls the server refuses for a while (an outage) or a number of times (a 429 burst)."""

    methods: frozenset[str] | None  # None: every method
    status: int
    until: float = float("inf")  # time.monotonic() at which an outage ends
    left: int = -1  # calls still to refuse; -1: no count, only the deadline
    retry_after: int = 0

    def takes(self, method: str, now: float) -> bool:
        if (self.methods is not None and method not in self.methods) or now >= self.until or self.left == 0:
            return False
        if self.left > 0:
            self.left -= 1
        return True


@dataclass
class FakeTelegram:
    # a bot id of its own per server, as two real bots have: their update ids and inboxes are separate
    token: str = field(default_factory=lambda: f"{random.randrange(10**8, 10**9)}:TEST-token")
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every call the bot made, with its params
    throttle_next_sends: int = 0
    fail_next_sends: int = 0  # answer sendMessage with 400, as Telegram does for a chat it can't reach
    conflicts: bool = False  # a getUpdates while another is in flight ends the older with 409
    callback_max_age: float | None = None  # answerCallbackQuery later than this is 400 "query is too old"
    edit_missing: set[int] = field(default_factory=set)  # editMessageText of these ids: 400 "not found"
    conflicts_sent: int = 0  # 409s answered to a poller still listening
    _refusals: list[_Refusal] = field(default_factory=list)
    _callbacks: dict[str, float] = field(default_factory=dict)  # callback id -> when it was pushed
    _polls: dict[int, asyncio.Event] = field(default_factory=dict)  # getUpdates in flight -> its end
    _next_poll: int = 0
    _next_update: int = field(default_factory=lambda: random.randrange(10**6, 10**9))  # like Telegram's
    _next_message: int = 1
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.url = await serve(app)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    # -- what a test does ------------------------------------------------------------------

    def outage(self, methods: set[str] | None, seconds: float, status: int = 502) -> None:
        """The chosen methods (None: all of them, getUpdates too) answer ``status`` for ``seconds``."""
        until = time.monotonic() + seconds
        self._refusals.append(_Refusal(None if methods is None else frozenset(methods), status, until=until))

    def rate_limit_burst(self, methods: set[str] | None, count: int, retry_after: int) -> None:
        """The next ``count`` calls of the chosen methods answer 429 with ``retry_after``."""
        chosen = None if methods is None else frozenset(methods)
        self._refusals.append(_Refusal(chosen, 429, left=count, retry_after=retry_after))

    def failures(self, method: str | None = None, status: int | None = None) -> list[dict[str, Any]]:
        """The calls the server refused (``failed:<method>`` records), optionally of one method or status."""
        return [
            c
            for c in self.sent
            if c["method"].startswith("failed:")
            and (method is None or c["method"] == f"failed:{method}")
            and (status is None or c.get("status") == status)
        ]

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

    def push_callback(self, data: str, *, message: dict[str, Any], user_id: int = 111, age: float = 0.0) -> int:
        """A button press; ``age``: how many seconds ago the operator pressed it (for ``callback_max_age``)."""
        update_id = self._take_update_id()
        self._callbacks[f"cb{update_id}"] = time.monotonic() - age
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
        refused = self._refused(method, params)
        if refused is not None:
            return refused
        if method == "getMe":
            return self._ok(BOT)
        if method in (
            "deleteWebhook",
            "setWebhook",
            "setMyCommands",
            "sendChatAction",
            "answerCallbackQuery",
            "deleteMessage",
        ):
            self.sent.append({"method": method, **params})
            return self._ok(True)
        if method == "getUpdates":
            updates = await self._get_updates(params)
            if updates is None:
                if request.transport is not None and not request.transport.is_closing():
                    self.conflicts_sent += 1
                return self._error(method, params, 409, CONFLICT)
            return self._ok(updates)
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
            message_id = params.get("message_id") or self._take_message_id()
            self.sent.append({"method": method, "at": time.perf_counter(), **params, "message_id": message_id})
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

    def _refused(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """The error Telegram would answer this call with now, if any (recorded as a failed call)."""
        now = time.monotonic()
        self._refusals = [r for r in self._refusals if now < r.until and r.left != 0]
        for refusal in self._refusals:
            if refusal.takes(method, now):
                if refusal.status == 429:
                    wait = refusal.retry_after
                    return self._error(method, params, 429, f"Too Many Requests: retry after {wait}", retry_after=wait)
                return self._error(method, params, refusal.status, REASONS.get(refusal.status, "Error"))
        if method == "answerCallbackQuery" and self.callback_max_age is not None:
            pushed = self._callbacks.get(str(params.get("callback_query_id")))
            if pushed is None or now - pushed > self.callback_max_age:
                return self._error(method, params, 400, TOO_OLD)
        if method == "editMessageText" and params.get("message_id") in self.edit_missing:
            return self._error(method, params, 400, NOT_FOUND)
        return None

    def _error(
        self, method: str, params: dict[str, Any], status: int, description: str, retry_after: int | None = None
    ) -> web.Response:
        self.sent.append({"method": f"failed:{method}", "status": status, "at": time.perf_counter(), **params})
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The updates from ``offset`` on, waiting up to ``timeout`` (at most 1 s) for one; None when
        a newer getUpdates ended this one (with ``conflicts``)."""
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + timeout
        ended = asyncio.Event()
        if self.conflicts:
            for older in self._polls.values():
                older.set()
        self._next_poll += 1
        poll = self._next_poll
        self._polls[poll] = ended
        try:
            while True:
                if ended.is_set():
                    return None
                ready = [u for u in self.updates if u["update_id"] >= offset]
                if ready or time.monotonic() >= deadline:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                    return ready
                self._new.clear()
                news = asyncio.ensure_future(self._new.wait())
                end = asyncio.ensure_future(ended.wait())
                try:
                    await asyncio.wait(
                        {news, end}, timeout=max(0.01, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    news.cancel()
                    end.cancel()
        finally:
            del self._polls[poll]

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})
