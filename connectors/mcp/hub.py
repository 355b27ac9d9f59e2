"""Every MCP server a workspace connected, started and stopped with SoloOS.

``McpHub.start`` starts the saved servers (``soloos connect mcp``); each is supervised by its
``McpSession`` (restarts with backoff). A server that stays down is marked failing in the connector
health and the operator gets one notice with the runbook, as for any broken connector; the health
goes back to ok when it is up again. ``call_blocking`` is how the policy gate's executor, which runs
in a worker thread inside a database transaction, reaches a session living on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.errors import McpError, McpTimeout, SetupError
from connectors.mcp.config import McpConfig, is_mcp, record_name
from connectors.mcp.session import McpResult, McpSession, McpTool

if TYPE_CHECKING:
    from memory import MemoryService

log = logging.getLogger(__name__)

RUNBOOK = "docs/runbooks/mcp-server-down.md"


@dataclass(frozen=True)
class McpLimits:
    call_seconds: float = 30.0
    start_seconds: float = 30.0
    result_chars: int = 8_000
    backoff: tuple[float, ...] = (1, 2, 5, 15, 60)
    down_after: int = 3
    health_seconds: float = 60.0


@dataclass
class McpHub:
    limits: McpLimits = field(default_factory=McpLimits)
    memory: MemoryService | None = None  # where health and the down notice are recorded
    workspace: str = ""
    operator: str = ""
    timezone: str = "UTC"
    sessions: dict[str, McpSession] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None

    async def start(self, configs: Iterable[McpConfig]) -> None:
        """Start every server (in parallel); one that fails keeps being restarted in the background."""
        self._loop = asyncio.get_running_loop()
        for config in configs:
            if config.name not in self.sessions:
                self.sessions[config.name] = McpSession(
                    config,
                    call_seconds=self.limits.call_seconds,
                    start_seconds=self.limits.start_seconds,
                    result_chars=self.limits.result_chars,
                    backoff=self.limits.backoff,
                    down_after=self.limits.down_after,
                    health_seconds=self.limits.health_seconds,
                    on_state=self._state,
                )
        await asyncio.gather(*(s.start() for s in self.sessions.values()))

    async def start_saved(self) -> None:
        """Start the servers saved for the workspace (``soloos connect mcp``)."""
        if self.memory is None:
            return
        configs = []
        for record in await self.memory.connectors.all(self.workspace):
            if not is_mcp(record.name):
                continue
            if record.secret_error is not None:
                log.warning("MCP server %s: %s", record.name, record.secret_error)
                continue
            try:
                configs.append(McpConfig.from_stored(record.config))
            except SetupError as err:
                log.warning("%s", err)
        await self.start(configs)

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.sessions.values()))
        self.sessions.clear()

    @property
    def connected(self) -> bool:
        return bool(self.sessions)

    def tools(self, server: str | None = None) -> list[McpTool]:
        return [t for s in self.sessions.values() if server in (None, s.name) for t in s.tools]

    def tool(self, server: str, name: str) -> McpTool | None:
        session = self.sessions.get(server)
        return next((t for t in session.tools if t.name == name), None) if session else None

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> McpResult:
        session = self.sessions.get(server)
        if session is None:
            raise McpError(f"no MCP server named {server!r} is connected (soloos connectors lists them)")
        return await session.call(tool, arguments)

    def call_blocking(self, server: str, tool: str, arguments: dict[str, Any]) -> McpResult:
        """``call`` from a worker thread (the gate's executor), on the loop the sessions live on."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise McpError("the MCP servers are not running in this process")
        if _on_loop(loop):
            raise McpError("an MCP call cannot wait on its own event loop")  # a programming error
        future = asyncio.run_coroutine_threadsafe(self.call(server, tool, arguments), loop)
        try:
            return future.result(self.limits.call_seconds + 5)
        except TimeoutError as err:  # the session's own timeout answers first; this is the backstop
            future.cancel()
            raise McpTimeout(f"the MCP server {server!r} did not answer {tool} in time") from err

    async def _state(self, server: str, up: bool, detail: str) -> None:
        if self.memory is None:
            return
        name = record_name(server)
        await self.memory.connectors.record_health(self.workspace, name, healthy=up, detail=detail)
        if up:
            return
        await self.memory.schedules.notice(
            workspace=self.workspace,
            operator=self.operator,
            body=(
                f"Your MCP server {server} stopped working: {detail}. Its tools are unavailable meanwhile; I keep "
                f"restarting it. `soloos connectors --check` shows its state; {RUNBOOK} says how to fix it."
            ),
            timezone=self.timezone,
        )


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


__all__ = ["RUNBOOK", "McpHub", "McpLimits"]
