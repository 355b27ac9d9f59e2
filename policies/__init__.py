"""Policy templates, the pure policy engine, durable approvals and the audit log.

Nothing here performs a side effect: the engine judges, approvals and audit record.
"""

from policies import approvals, audit
from policies.approvals import Approval
from policies.audit import AuditEvent, AuditRecord
from policies.engine import (
    MCP_CALL,
    Action,
    Decision,
    Level,
    McpServerRule,
    Policy,
    PolicyContext,
    PolicyError,
    decide,
    load_policy,
)

__all__ = [
    "MCP_CALL",
    "Action",
    "Approval",
    "AuditEvent",
    "AuditRecord",
    "Decision",
    "Level",
    "McpServerRule",
    "Policy",
    "PolicyContext",
    "PolicyError",
    "approvals",
    "audit",
    "decide",
    "load_policy",
]
