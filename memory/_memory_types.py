"""Value types of the memory API: memories, recall hits, import reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

Layer = Literal["working", "project", "institutional"]
LAYERS: tuple[Layer, ...] = get_args(Layer)
RecallMode = Literal["hybrid", "dense", "text", "fusion"]

OPERATOR_ORIGIN = "operator"  # the origin of what the operator said (chat "remember", rules, the CLI)
VOUCHED_ORIGINS = frozenset({OPERATOR_ORIGIN, "record"})  # confirmed by default; anything else is not


class _Provenance:
    origin: str
    confirmed: bool

    @property
    def provenance(self) -> str:
        """How chat names an unconfirmed memory's origin ("unconfirmed, from email:<…> from x@y")."""
        return "" if self.confirmed else f"unconfirmed, from {self.origin}"


class _ShortId:
    id: UUID

    @property
    def short_id(self) -> str:
        """The first 8 hex digits: enough to name a memory in chat (``forget 1a2b3c4d``)."""
        return self.id.hex[:8]


@dataclass(frozen=True)
class MemoryItem(_ShortId, _Provenance):
    """A stored memory. ``current`` is False when a newer memory about the same subject exists."""

    id: UUID
    text: str
    layer: Layer
    workspace: str
    occurred_at: datetime
    created_at: datetime
    subject: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    current: bool = True
    duplicate: bool = False  # remember() found the same text already stored and kept the original
    replaces: tuple[str, ...] = ()  # texts of the memories this one superseded
    origin: str = OPERATOR_ORIGIN  # where it came from: operator, record, model, email:<Message-ID> from <address>, …
    confirmed: bool = True  # stated or confirmed by the operator; outside data is not until they confirm it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "text": self.text,
            "layer": self.layer,
            "workspace": self.workspace,
            "occurred_at": self.occurred_at.isoformat(),
            "subject": self.subject,
            "source": self.source,
            "metadata": self.metadata,
            "current": self.current,
            "origin": self.origin,
            "confirmed": self.confirmed,
        }


@dataclass(frozen=True)
class MemoryHit(_ShortId, _Provenance):
    """One recall result; ``score`` is the fused rank score (higher is better)."""

    id: UUID
    text: str
    score: float
    layer: Layer
    occurred_at: datetime
    metadata: dict[str, Any]
    subject: str | None = None
    source: str | None = None
    origin: str = OPERATOR_ORIGIN
    confirmed: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "text": self.text,
            "score": round(self.score, 6),
            "layer": self.layer,
            "occurred_at": self.occurred_at.isoformat(),
            "subject": self.subject,
            "source": self.source,
            "metadata": self.metadata,
            "origin": self.origin,
            "confirmed": self.confirmed,
        }


@dataclass(frozen=True)
class ImportProblem:
    line: int
    message: str


@dataclass(frozen=True)
class ImportReport:
    imported: int
    duplicates: int
    problems: tuple[ImportProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems
