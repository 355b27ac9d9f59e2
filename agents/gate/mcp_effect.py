"""The effect of an ``mcp.call`` action: the tool call itself, carried out by the gate only.

It runs in the gate's transaction in a worker thread (its audit row and idempotency key commit with
it) and reaches the server's session on the event loop through ``McpHub.call_blocking``. Its outcome
carries the tool's output (for the model, fenced by ``agents.mcp_tools``) and an undo handle that
says there is no undo (``/undo`` tells the operator so).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from agents.gate.executors import MCP_NO_UNDO, Executor, gated
from connectors import Outcome
from connectors.mcp import McpHub
from policies import Action

PREVIEW_CHARS = 200  # of a result the operator's outcome line shows


def mcp_executor(hub: McpHub) -> Executor:
    """The gate's executor for ``mcp.call``: the call itself, in the gate's transaction (its audit row
    and idempotency key commit with it). A failure raises ``McpError`` (audited as failed)."""

    def run(conn: psycopg.Connection[Any], workspace: str, action: Action, key: str, now: datetime) -> Outcome:
        server, tool = str(action.args.get("server")), str(action.args.get("tool"))
        result = hub.call_blocking(server, tool, dict(action.args.get("arguments") or {}))
        preview = " ".join(result.text.split())
        if len(preview) > PREVIEW_CHARS:
            preview = f"{preview[:PREVIEW_CHARS]}… ({result.chars - PREVIEW_CHARS:,} more characters)"
        return Outcome(
            f"called {tool} on MCP server {server}: “{preview}”",
            {"kind": MCP_NO_UNDO, "server": server, "tool": tool},
            result=result.text,
        )

    return gated(run)


__all__ = ["PREVIEW_CHARS", "mcp_executor"]
