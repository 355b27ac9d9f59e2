"""One connected MCP server: its process (stdio) or HTTP session, kept up by a supervisor task that
restarts it with backoff when it dies, the tools it lists, and calls with a timeout and a size budget.

The ``mcp`` SDK's ``Client`` is entered and left in the supervisor task (anyio wants one task per
cancel scope); calls from other tasks share its session. A call that finds the connection closed
wakes the supervisor, which restarts the server; the call itself fails with a sentence naming the
server and the tool. Nothing here decides whether a call may run: ``agents.gate`` does, before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import McpError, McpTimeout, SetupError
from connectors.mcp.config import McpConfig

log = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 600  # of a tool's description kept (it is the server's text: outside data)


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str
    description: str  # the server's words, cut to MAX_DESCRIPTION_CHARS: outside data
    schema: dict[str, Any]
    read_only: bool | None = None  # the server's own claims (annotations); the policy trusts them or not
    destructive: bool | None = None

    @property
    def hints(self) -> dict[str, bool]:
        found = {"read_only": self.read_only, "destructive": self.destructive}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class McpResult:
    text: str
    chars: int  # before the size budget cut it
    cut: bool


def _tools(server: str, listed: Any) -> tuple[McpTool, ...]:
    tools = []
    for t in listed.tools:
        notes = t.annotations
        description = (t.description or "").strip()
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[:MAX_DESCRIPTION_CHARS] + f"… ({len(description) - MAX_DESCRIPTION_CHARS} more)"
        tools.append(
            McpTool(
                server,
                t.name,
                description,
                dict(t.input_schema or {}),
                getattr(notes, "read_only_hint", None),
                getattr(notes, "destructive_hint", None),
            )
        )
    return tuple(tools)


def result_text(result: Any, budget: int) -> McpResult:
    """A tool's answer as text within ``budget`` characters, cut with a note saying how much more."""
    parts: list[str] = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind == "resource":
            inner = item.resource
            parts.append(getattr(inner, "text", None) or f"[resource {getattr(inner, 'uri', '')}]")
        else:
            parts.append(f"[{kind or 'unknown'} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(str(result.structured_content))
    text = "\n".join(parts)
    if len(text) <= budget:
        return McpResult(text, len(text), False)
    return McpResult(f"{text[:budget]}\n[… {len(text) - budget:,} more characters not shown]", len(text), True)


StateHook = Callable[[str, bool, str], Awaitable[None]]
"""``(server, up, detail)``: told when a server has stayed down (``up`` False) and when it is back."""


@dataclass
class McpSession:
    """A supervised connection to one MCP server."""

    config: McpConfig
    call_seconds: float = 30.0
    start_seconds: float = 30.0
    result_chars: int = 8_000
    backoff: tuple[float, ...] = (1, 2, 5, 15, 60)  # seconds between restarts; the last repeats
    down_after: int = 3  # failed starts in a row before the server counts as down (one notice)
    health_seconds: float = 60.0  # a ping this often notices a server that died between calls
    on_state: StateHook | None = None
    tools: tuple[McpTool, ...] = ()
    last_error: str = ""
    restarts: int = 0
    _client: Any = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _dead: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    _task: asyncio.Task[None] | None = None
    _reported_down: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def up(self) -> bool:
        return self._client is not None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Start the supervisor; with ``wait``, until the first start succeeded or failed."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"mcp:{self.name}")
        if wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.start_seconds + 1)

    async def stop(self) -> None:
        self._stopping = True
        self._dead.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
            if not self._task.done():
                self._task.cancel()
        self._task = None

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            self._dead.clear()
            try:
                async with self._connected() as client:
                    self._client = client
                    failures = 0
                    self._ready.set()
                    if self._reported_down:
                        self._reported_down = False
                        await self._tell(True, "working again")
                    await self._watch(client)
            except Exception as err:  # a vendor error of any kind: the server did not start or died
                self.last_error = describe(err)
                log.warning("MCP server %s: %s", self.name, self.last_error)
            finally:
                self._client = None
            if self._stopping:
                break
            failures += 1
            self.restarts += 1
            self._ready.set()  # a waiting start() learns the first attempt failed
            if failures >= self.down_after and not self._reported_down:
                self._reported_down = True
                await self._tell(False, self.last_error or "it keeps stopping")
            pause = self.backoff[min(failures, len(self.backoff)) - 1]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_stop(), pause)

    async def _wait_stop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.05)

    async def _watch(self, client: Any) -> None:
        """Until the server dies or SoloOS stops: a call that finds it dead sets ``_dead``; a ping
        every ``health_seconds`` notices a death between calls."""
        while not self._dead.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dead.wait(), self.health_seconds)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                async with asyncio.timeout(self.call_seconds):
                    await client.send_ping()
        if not self._stopping:
            raise McpError(self.last_error or "the connection closed")

    async def _tell(self, up: bool, detail: str) -> None:
        if self.on_state is None:
            return
        try:
            await self.on_state(self.name, up, detail)
        except Exception:
            log.exception("could not record the state of MCP server %s", self.name)

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[Any]:
        from mcp import Client

        errors: Any = None  # a stdio server's stderr: its last words explain a failed start
        async with contextlib.AsyncExitStack() as stack:
            if self.config.url:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                http = await stack.enter_async_context(httpx2.AsyncClient(headers=self.config.headers, timeout=30))
                target: Any = streamable_http_client(self.config.url, http_client=http)
            else:
                from mcp.client.stdio import StdioServerParameters, stdio_client

                argv = self.config.argv
                errors = stack.enter_context(_stderr_file())
                target = stdio_client(StdioServerParameters(command=argv[0], args=argv[1:]), errlog=errors)
            client = Client(target, mode="legacy", read_timeout_seconds=self.start_seconds)
            try:
                async with asyncio.timeout(self.start_seconds):  # in this task: anyio's scopes must stay in theirs
                    await stack.enter_async_context(client)
                    self.tools = _tools(self.name, await client.list_tools())
            except Exception as err:
                raise McpError(f"{describe(err)}{_last_words(errors)}") from err
            yield client

    # -- calls -------------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> McpResult:
        """Call ``tool``; ``McpTimeout`` past ``call_seconds``, ``McpError`` when the server is down,
        dies during the call or answers with an error."""
        client = self._client
        if client is None:
            with contextlib.suppress(TimeoutError):  # a restart in progress may finish shortly
                await asyncio.wait_for(self._until_up(), min(5.0, self.start_seconds))
            client = self._client
        if client is None:
            why = f" ({self.last_error})" if self.last_error else ""
            raise McpError(f"the MCP server {self.name!r} is not running{why}; SoloOS keeps restarting it")
        try:
            async with asyncio.timeout(self.call_seconds + 1):
                result = await client.call_tool(tool, arguments, read_timeout_seconds=self.call_seconds)
        except TimeoutError as err:
            raise McpTimeout(self._timed_out(tool)) from err
        except Exception as err:
            said = describe(err)
            if "timed out" in said:
                raise McpTimeout(self._timed_out(tool)) from err
            if "closed" in said.lower() or not self.up:
                self.last_error = f"it stopped during {tool}"
                if self._client is client:
                    self._client = None  # down from now on, not only once the supervisor has noticed
                self._dead.set()
                raise McpError(
                    f"the MCP server {self.name!r} stopped during {tool} ({said}); SoloOS is restarting it. "
                    "What the tool did before it stopped is unknown."
                ) from err
            raise McpError(f"{self.name}/{tool} failed: {said}") from err
        answer = result_text(result, self.result_chars)
        if result.is_error:
            raise McpError(f"{self.name}/{tool} answered with an error: {answer.text[:500]}")
        return answer

    def _timed_out(self, tool: str) -> str:
        return (
            f"the MCP server {self.name!r} did not answer {tool} within {self.call_seconds:g} s, so I stopped "
            "waiting (it may still finish on the server's side)"
        )

    async def _until_up(self) -> None:
        while self._client is None and not self._stopping:
            await asyncio.sleep(0.05)


def _stderr_file() -> Any:
    return tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")


def _last_words(errors: Any) -> str:
    """The end of what a server that failed to start wrote to stderr, for the error message."""
    if errors is None:
        return ""
    errors.flush()
    errors.seek(0)
    said = " ".join(errors.read()[-400:].split())
    return f" (it said: {said})" if said else ""


def describe(err: BaseException) -> str:
    """A vendor error in a sentence (exception groups from anyio unwrapped)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    if isinstance(err, FileNotFoundError):
        return f"the command was not found ({err.filename or err})"
    text = str(err).strip() or type(err).__name__
    return text[:300]


async def check(config: McpConfig, *, seconds: float = 30.0) -> tuple[McpTool, ...]:
    """Start ``config``'s server, initialize it and list its tools, then stop it: the check before a
    server is saved. ``SetupError`` says why it did not work."""
    session = McpSession(config, start_seconds=seconds)
    try:
        async with session._connected():
            return session.tools
    except Exception as err:
        raise SetupError(f"the MCP server {config.name!r} did not start and list its tools: {describe(err)}") from err


__all__ = ["McpResult", "McpSession", "McpTool", "StateHook", "check", "describe", "result_text"]
