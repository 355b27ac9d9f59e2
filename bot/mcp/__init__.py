"""SoloOS as an MCP server (``soloos mcp``): the operator's memory and records for their other AI tools.

Another adapter of the bot layer: it translates MCP tool calls into reads of memory and records
and into requests through the policy gate, which wait for the operator's approval in chat.

- ``_offering``: ``Offering``, what each tool does (bounded answers; writes become approvals)
- ``_server``: ``build_server``, the tools with their descriptions and schemas (the MCP SDK's ``MCPServer``)
- ``_http``: 127.0.0.1 only, the bearer token (made on first use, sealed under ``SOLOOS_HOME``)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator

import uvicorn

from bot.app import open_app
from bot.mcp._http import LOOPBACK, MCP_PATH, BearerToken, NotLoopback, check_host, http_token
from bot.mcp._offering import Offering, Refusal, client_origin, memory_line
from bot.mcp._server import INSTRUCTIONS, SERVER_NAME, build_server
from bot.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_offering(settings: Settings) -> AsyncIterator[Offering]:
    """The application on the same database as ``soloos chat`` (the embedded server is shared), as
    the tools see it. Nothing is started besides: no scheduler, sync or plans."""
    async with open_app(settings) as app:
        zone = await app.memory.agent_store.get_timezone(settings.workspace, settings.operator)
        yield Offering(
            app.memory, app.gate, settings.workspace, settings.operator, zone or settings.timezone, app.runner.budget
        )


async def serve_stdio(settings: Settings) -> None:
    """Serve one client over stdin and stdout until it closes stdin."""
    await build_server(lambda: open_offering(settings)).run_stdio_async()


async def serve_http(settings: Settings, *, host: str, port: int, token: str) -> None:
    """Serve streamable HTTP on ``host`` (127.0.0.1 only) until stopped (Ctrl-C, SIGTERM)."""
    check_host(host)
    server = build_server(lambda: open_offering(settings))
    app = BearerToken(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server_ = _Quiet(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # a stop is a clean exit (uvicorn would re-raise the signal)
        loop.add_signal_handler(sig, server_.stop)
    await server_.serve()


class _Quiet(uvicorn.Server):
    """uvicorn's server, stopped by our signal handlers instead of its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True


__all__ = [
    "INSTRUCTIONS",
    "LOOPBACK",
    "MCP_PATH",
    "SERVER_NAME",
    "NotLoopback",
    "Offering",
    "Refusal",
    "build_server",
    "check_host",
    "client_origin",
    "http_token",
    "memory_line",
    "open_offering",
    "serve_http",
    "serve_stdio",
]
