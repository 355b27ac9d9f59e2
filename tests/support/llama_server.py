"""A local server that behaves like llama.cpp's OpenAI-compatible ``llama-server`` where SoloOS met
it (issue 16). Binds to 127.0.0.1 on a random port; records every request body in ``requests``.

- ``POST /v1/chat/completions`` answers ``answer`` (text), or, with ``tool_text``, text shaped like a
  tool call (``{"name": "send_email", "arguments": {…}}``, no tool-call tags, as a small model whose
  chat template lost them writes it);
- a prompt longer than ``n_ctx`` (estimated at 4 characters a token, as llama.cpp's tokenizer is not
  at hand) is HTTP 400 ``exceed_context_size_error``, with llama.cpp's wording and token counts;
- a request whose text contains one of ``fail_on`` is HTTP 500;
- ``delay`` seconds pass before any answer;
- ``cut_at`` characters: the answer is cut there with ``finish_reason: "length"``;
- ``respond(body)``, when set, chooses the answer for a request (None: the usual answer);
- ``GET /v1/models`` lists ``model``.
"Down" is a port nothing listens on: ``unused_port()``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_http import serve

CHARS_PER_TOKEN = 4


def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class LlamaServer:
    model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    answer: str = "Done."
    tool_text: dict[str, Any] | None = None
    n_ctx: int = 4_096
    fail_on: tuple[str, ...] = ()
    delay: float = 0.0
    cut_at: int | None = None
    respond: Callable[[dict[str, Any]], str | None] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner, self.url = await serve(app)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        text = json.dumps(body.get("messages", [])) + json.dumps(body.get("tools", []))
        prompt_tokens = len(text) // CHARS_PER_TOKEN
        if prompt_tokens > self.n_ctx:
            return web.json_response(
                {
                    "error": {
                        "code": 400,
                        "message": "the request exceeds the available context size, try increasing it",
                        "type": "exceed_context_size_error",
                        "n_prompt_tokens": prompt_tokens,
                        "n_ctx": self.n_ctx,
                    }
                },
                status=400,
            )
        if any(word in text for word in self.fail_on):
            return web.json_response(
                {"error": {"code": 500, "message": "llama_decode failed", "type": "server_error"}}, status=500
            )
        chosen = self.respond(body) if self.respond is not None else None
        content = json.dumps(self.tool_text) if self.tool_text is not None else self.answer
        content = chosen if chosen is not None else content
        finish = "stop"
        if self.cut_at is not None and len(content) > self.cut_at:
            content, finish = content[: self.cut_at], "length"
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content) // CHARS_PER_TOKEN + 1,
                    "total_tokens": prompt_tokens + len(content) // CHARS_PER_TOKEN + 1,
                },
            }
        )


__all__ = ["LlamaServer", "unused_port"]
