"""What the gate's executors (``agents.gate.executors``) and the drivers agree on: the outcome of an
effect and the calendar UID of an event the gate created. The limits both sides check are in
``connectors.checks``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    summary: str
    undo: dict[str, Any] | None = None
    result: str | None = None  # what the effect answered, for the model (an MCP tool's output: outside data)


def event_uid(idempotency_key: str) -> str:
    """The iCalendar UID of the event a gated write creates: the same key always gives the same UID."""
    return "soloos-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


__all__ = ["Outcome", "event_uid"]
