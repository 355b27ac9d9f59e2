"""How an action the policy holds for approval leaves a model run and comes back as an approval.

On the model path the gate cannot park the action while the run is going (the run's messages, stored
with the approval, are not complete yet), so it raises pydantic-ai's ``ApprovalRequired`` with the
judged action as metadata; the run ends with ``DeferredToolRequests`` and ``Gate.park_deferred``
turns each call into a durable approval. The metadata is written by the gate, never by the model.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from policies import Action, Decision


def approval_metadata(action: Action, decision: Decision) -> dict[str, Any]:
    return {
        "type": action.type,
        "args": action.args,
        "summary": action.summary,
        "amount": str(action.amount) if action.amount is not None else None,
        "counterparty": action.counterparty,
        "decision": {
            "level": decision.level,
            "reason": decision.reason,
            "risks": list(decision.risks),
            "reversible": decision.reversible,
        },
    }


def action_from_metadata(meta: dict[str, Any]) -> Action:
    amount = meta.get("amount")
    return Action(
        meta["type"], dict(meta["args"]), meta["summary"], Decimal(amount) if amount else None, meta.get("counterparty")
    )


def decision_from_metadata(meta: dict[str, Any]) -> Decision:
    d = meta["decision"]
    return Decision(d["level"], d["reason"], tuple(d["risks"]), d["reversible"])


__all__ = ["action_from_metadata", "approval_metadata", "decision_from_metadata"]
