"""What ``Gate.submit`` answers: the action was carried out, parked for the operator's approval, or
refused by their policy. A failed effect is not an outcome: it raises ``ConnectorError`` (audited)."""

from __future__ import annotations

from dataclasses import dataclass

from policies import Approval, Decision


@dataclass(frozen=True)
class Executed:
    summary: str
    audit_id: int
    repeated: bool = False  # the idempotency key had already been used: nothing was done again
    decision: Decision | None = None  # None when the operator approved it (or it was repeated)
    result: str | None = None  # what the effect answered (an MCP tool's output), when it answers anything

    @property
    def notify(self) -> bool:
        """The policy allowed it on condition that the operator is told."""
        return self.decision is not None and self.decision.level == "notify"


@dataclass(frozen=True)
class Parked:
    approval: Approval  # durable, waiting for the operator's click
    decision: Decision


@dataclass(frozen=True)
class Refused:
    decision: Decision  # why: ``decision.reason``


Submitted = Executed | Parked | Refused

__all__ = ["Executed", "Parked", "Refused", "Submitted"]
