"""Every sentence the gate's outcomes become, in one place.

Two audiences read a refusal or a failure: the model (it must not retry and must tell the operator)
and the operator (a local command, a draft, client intake). The wording per audience is what users
saw before the gate had one entry point.
"""

from __future__ import annotations

import json

from agents.gate.outcomes import Executed, Refused
from policies import Approval, AuditRecord, Decision


def done(executed: Executed) -> str:
    return f"Done: {executed.summary} [#{executed.audit_id}]"


def told(executed: Executed) -> str:
    """The note for an action the policy allowed on condition that the operator is told."""
    return f"Done (you asked to be told): {executed.summary} [#{executed.audit_id}]"


def to_operator(outcome: Executed | Refused) -> str:
    """An outcome that did not wait for approval, told to the operator."""
    return refused(outcome.decision) if isinstance(outcome, Refused) else done(outcome)


def refused(decision: Decision) -> str:
    """To the operator."""
    return f"Your policy does not allow that: {decision.reason}."


def refused_to_model(decision: Decision) -> str:
    return f"Refused by the operator's policy: {decision.reason}. Do not retry; tell the operator."


def held_to_model(approval: Approval) -> str:
    return f"Held for the operator's approval (code {approval.id}); nothing was done yet. Tell them it waits."


def failed_to_model(error: Exception) -> str:
    return f"That failed: {error}"


# -- approvals ---------------------------------------------------------------------------------

UNKNOWN_APPROVAL = "I don't know that approval. Type /approvals to see what is pending."
NOT_YOURS = "That approval belongs to another operator; only they can decide it."
OWN_REQUEST = (
    "You asked for this yourself, and here someone else must approve what a person asked for "
    "(SOLOOS_APPROVE_OWN_REQUESTS=false). Nothing was done; it is still waiting for another approver."
)
NOT_RECORDED = "I wanted to do something that needs approval but could not record it; nothing was done."


def expired(approval: Approval) -> str:
    return f"That approval expired at {approval.expires_at:%d %b %H:%M} UTC; nothing was done. Ask again."


def already_decided(approval: Approval) -> str:
    by = f" by {approval.decided_by}" if approval.decided_by else ""
    return f"Already decided{by}: {approval.status}. {approval.outcome or ''}".strip()


def denied(approval: Approval) -> str:
    return f"Denied: {approval.action.summary}. Nothing was done."


def approved_done(executed: Executed) -> str:
    return f"Approved and done: {executed.summary}."


def approved_failed(error: Exception) -> str:
    return f"Approved, but it failed: {error}. Nothing was done."


ARG_PREVIEW = 80  # characters of an argument shown in a listing; Details shows all


def _short(value: str) -> str:
    """An argument in a one-line listing: cut only with a note saying so, never silently."""
    if len(value) <= ARG_PREVIEW:
        return value
    return f"{value[:ARG_PREVIEW]}… ({len(value) - ARG_PREVIEW:,} more characters — Details shows all)"


MCP_ARGUMENTS_CHARS = 3_000  # of an MCP call's arguments (JSON) an approval shows; the rest is counted


def mcp_arguments(arguments: object, *, limit: int = MCP_ARGUMENTS_CHARS) -> str:
    """An MCP call's arguments as indented JSON, cut only with a note saying how much more there is."""
    text = json.dumps(arguments, ensure_ascii=False, indent=2, default=str)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _mcp_call(approval: Approval) -> list[str]:
    """What an MCP approval shows: the tool, its server, every argument (JSON), and the server's claims."""
    args = approval.action.args
    lines = [f"Tool: {args.get('tool')} on MCP server {args.get('server')}", "Arguments:"]
    lines.append(mcp_arguments(args.get("arguments") or {}))
    hints = args.get("hints") or {}
    if hints:
        claims = ", ".join(f"{k.replace('_', '-')}: {'yes' if v else 'no'}" for k, v in sorted(hints.items()))
        lines.append(f"The server says of this tool ({claims}); its own claim, not checked by SoloOS.")
    return lines


def mcp_undo_impossible(outcome: str) -> str:
    return (
        f"I can't undo the last thing I did ({outcome}): it was a call to a tool of an MCP server you connected, "
        "and SoloOS cannot reverse what another system did. Undo it in that system; /why shows exactly what was sent."
    )


def describe_approval(approval: Approval, *, full: bool = False) -> str:
    lines = [f"*{approval.action.summary}*", f"Why I'm asking: {approval.reason}."]
    if approval.risks:
        lines.append("What could go wrong: " + "; ".join(approval.risks) + ".")
    if approval.action.type == "mcp.call":
        lines += _mcp_call(approval)
        lines.append(f"Code {approval.id}, expires {approval.expires_at:%d %b %H:%M} UTC.")
        return "\n".join(lines)
    args = {k: v for k, v in approval.action.args.items() if not k.startswith("__")}
    body = args.pop("body", None)
    if full:
        lines += [f"{k}: {v}" for k, v in args.items()]
    elif args:
        lines.append(" · ".join(f"{k}: {_short(str(v))}" for k, v in args.items()))
    if body:  # always whole: what is sent is what is shown (long replies are split by the channel)
        lines += ["", str(body)]
    lines.append(f"Code {approval.id}, expires {approval.expires_at:%d %b %H:%M} UTC.")
    return "\n".join(lines)


def approvals_requested(parked: tuple[Approval, ...], notes: list[str]) -> str:
    """The reply of a model turn that ended with actions held for approval."""
    if not parked:
        return NOT_RECORDED
    head = "I need your approval before I go on:" if len(parked) == 1 else f"I need {len(parked)} approvals:"
    parts = [head] + [describe_approval(a) for a in parked] + notes
    return "\n\n".join(parts)


def story(records: list[AuditRecord]) -> str:
    """``/why``: the audit events of an action, oldest first."""
    lines = []
    for r in records:
        e = r.event
        line = f"#{r.id} {r.created_at:%d %b %H:%M} {e.name}"
        if e.action_type:
            line += f" {e.action_type}"
        if e.outcome:
            line += f": {e.outcome}"
        lines.append(line)
        if e.action_type == "calendar.create" and e.args and e.args.get("attendee"):
            lines.append(f"  invites: {e.args['attendee']}")
        if e.action_type == "mcp.call" and e.args:
            arguments = mcp_arguments(e.args.get("arguments") or {}, limit=ARG_PREVIEW * 10).replace("\n", " ")
            lines.append(f"  tool: {e.args.get('tool')} on MCP server {e.args.get('server')}, arguments: {arguments}")
        if e.decision:
            lines.append(f"  why: {e.decision.reason} → {e.decision.level}")
            if e.decision.risks:
                lines.append(f"  risks: {'; '.join(e.decision.risks)}")
        if r.undone_at:
            lines.append(f"  undone at {r.undone_at:%d %b %H:%M}")
    return "\n".join(lines)


__all__ = [
    "NOT_RECORDED",
    "NOT_YOURS",
    "OWN_REQUEST",
    "UNKNOWN_APPROVAL",
    "already_decided",
    "approvals_requested",
    "approved_done",
    "approved_failed",
    "denied",
    "describe_approval",
    "done",
    "expired",
    "failed_to_model",
    "held_to_model",
    "mcp_arguments",
    "mcp_undo_impossible",
    "refused",
    "refused_to_model",
    "story",
    "to_operator",
    "told",
]
