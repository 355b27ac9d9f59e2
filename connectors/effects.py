"""What the gate's executors (``agents.gate.executors``) and the drivers agree on: the outcome of an
effect, and the limits and identifiers both sides check the same way."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

MAX_EVENT_LENGTH = timedelta(days=31)  # longer is almost certainly a wrong date
MAX_EVENT_AHEAD = timedelta(days=3653)
MAX_LOCATION_CHARS = 1_000

# A Message-ID as RFC 5322 allows it (printable ASCII in angle brackets), short enough to index; the
# e-mail connector parses incoming ids with the same pattern, so any id it stored can be replied to.
MESSAGE_ID = re.compile(r"<([!-;=?-~]{1,500})>")


@dataclass(frozen=True)
class Outcome:
    summary: str
    undo: dict[str, Any] | None = None


def event_uid(idempotency_key: str) -> str:
    """The iCalendar UID of the event a gated write creates: the same key always gives the same UID."""
    return "soloos-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


__all__ = ["MAX_EVENT_AHEAD", "MAX_EVENT_LENGTH", "MAX_LOCATION_CHARS", "MESSAGE_ID", "Outcome", "event_uid"]
