"""The operator's own MCP servers: saved settings (``config``), a supervised session per server
(``session``: start, list tools, call with a timeout and a size budget, restart with backoff) and the
hub that starts them with SoloOS (``hub``). Whether a tool may be called is the policy gate's
question (``agents.gate``), never this package's: it only carries out calls the gate let through.
"""

from connectors.mcp.config import PREFIX, SECRET_FIELDS, McpConfig, is_mcp, parse_headers, record_name
from connectors.mcp.hub import RUNBOOK, McpHub, McpLimits
from connectors.mcp.session import McpResult, McpSession, McpTool, check, describe, result_text

__all__ = [
    "PREFIX",
    "RUNBOOK",
    "SECRET_FIELDS",
    "McpConfig",
    "McpHub",
    "McpLimits",
    "McpResult",
    "McpSession",
    "McpTool",
    "check",
    "describe",
    "is_mcp",
    "parse_headers",
    "record_name",
    "result_text",
]
