"""A local server speaking the slice of the Slack Web API the bot uses (auth.test,
chat.postMessage, chat.update, chat.delete, and the three steps of files_upload_v2), plus helpers
to send signed requests to a Bolt app the way Slack does. Binds to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.support.local_http import serve

SIGNING_SECRET = "test-signing-secret"
TEAM = "T0SOLO"


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    ts = str(timestamp or int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


@dataclass
class FakeSlack:
    calls: list[dict[str, Any]] = field(default_factory=list)
    throttle_next_posts: int = 0
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id → the bytes uploaded
    url: str = ""
    _runner: web.AppRunner | None = None
    _ts: int = 0
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode acknowledgements
    _socket: web.WebSocketResponse | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link", self._socket_mode)
        self._runner, self.url = await serve(app)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def of(self, method: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == method]

    async def wait_for(self, method: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.of(method)) >= count:
                return self.of(method)
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} {method} calls, got {self.of(method)}")

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
        self._connected.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver a request over the Socket Mode connection, as Slack does; returns its envelope id."""
        await asyncio.wait_for(self._connected.wait(), 20)
        assert self._socket is not None
        envelope_id = f"env-{time.time_ns()}"
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return envelope_id

    async def _upload(self, request: web.Request) -> web.Response:
        """Step two of files_upload_v2: the file's bytes, posted to the URL step one returned."""
        file_id = request.match_info["file_id"]
        if file_id not in self.uploads:
            return web.Response(status=404)
        self.uploads[file_id] = await request.read()
        return web.Response(text="OK - uploaded")

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = {k: str(v) for k, v in (await request.post()).items()}
        params.update({k: v for k, v in request.query.items() if k not in params})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": self.url.replace("http", "ws", 1) + "/link"})
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://solo.slack.test/",
                    "team": "Solo",
                    "user": "soloos",
                    "team_id": TEAM,
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                }
            )
        if method == "chat.postMessage" and self.throttle_next_posts > 0:
            self.throttle_next_posts -= 1
            self.calls.append({"method": "throttled", **params})
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.uploads) + 1:05d}"
            self.uploads[file_id] = b""
            self.calls.append({"method": method, **params})
            return web.json_response({"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id})
        if method == "files.completeUploadExternal":
            self.calls.append({"method": method, **params})
            files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params["files"]
            shared = [{"id": f["id"], "title": f.get("title"), "size": len(self.uploads[f["id"]])} for f in files]
            return web.json_response({"ok": True, "files": shared})
        if method in ("chat.postMessage", "chat.update"):
            self._ts += 1
            self.calls.append({"method": method, **params})
            ts = params.get("ts") or f"{int(time.time())}.{self._ts:06d}"
            return web.json_response(
                {
                    "ok": True,
                    "channel": params.get("channel"),
                    "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts, "blocks": params.get("blocks", [])},
                }
            )
        if method == "chat.delete":
            self.calls.append({"method": method, **params})
            return web.json_response({"ok": True, "channel": params.get("channel"), "ts": params.get("ts")})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)


async def post_signed(
    url: str,
    body: str,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    extra_headers: dict[str, str] | None = None,
    secret: str = SIGNING_SECRET,
) -> tuple[int, float]:
    """POST ``body`` to the Bolt endpoint as Slack would; returns the status and seconds to the answer."""
    headers = signed_headers(body, secret=secret, content_type=content_type) | (extra_headers or {})
    began = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(url, data=body.encode(), headers=headers) as resp:
        await resp.read()
        return resp.status, time.monotonic() - began


def command_body(text: str, *, user: str, channel: str = "D0OWNER", trigger: str | None = None) -> str:
    return urlencode(
        {
            "command": "/soloos",
            "text": text,
            "user_id": user,
            "team_id": TEAM,
            "channel_id": channel,
            "trigger_id": trigger or f"trig-{time.time_ns()}",
            "response_url": "http://127.0.0.1:9/unused",
            "token": "legacy",
            "team_domain": "solo",
            "channel_name": "directmessage",
            "user_name": "sam",
        }
    )


def dm_event_body(text: str, *, user: str, event_id: str, channel: str = "D0OWNER") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel_type": "im",
                "user": user,
                "text": text,
                "channel": channel,
                "ts": f"{time.time():.6f}",
            },
        }
    )


def button_body(value: str, *, user: str, message: dict[str, Any], channel: str = "D0OWNER") -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": f"trig-{time.time_ns()}",
        "channel": {"id": channel},
        "message": message,
        "container": {"type": "message", "channel_id": channel, "message_ts": message.get("ts")},
        "actions": [
            {
                "type": "button",
                "action_id": "soloos:0",
                "block_id": "b",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})
