"""The connector contract: what every driver (email, calendar, bank) offers SoloOS.

A connector translates an external system into canonical records and back. It never decides
whether an action is allowed: writes reach it only through the policy gate's executors, each with
an idempotency key. Its configuration is validated (``health``) before it is saved, so a wrong
password is reported at setup, not at 3 a.m.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from connectors.effects import Outcome
    from memory import MemoryService
    from policies.engine import Action


class Capability(enum.Flag):
    READ = enum.auto()  # brings external data in as canonical records
    SEND = enum.auto()  # sends messages (email)
    SCHEDULE = enum.auto()  # creates calendar events, answers free/busy
    IMPORT = enum.auto()  # imports files (statements, ICS)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str  # written for the operator: what works, or what is wrong and how to fix it


@dataclass(frozen=True)
class ReadReport:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    problems: tuple[str, ...] = field(default=())  # first few quarantine reasons, for the operator


class Connector(Protocol):
    """Built as ``Kind(config, db=database, workspace=workspace, clock=memory.clock.now)`` by
    ``connectors.registry``; ``clock`` is where the connector reads "now" (``memory.Clock``)."""

    name: ClassVar[str]  # "email", "calendar", "bank"
    capabilities: ClassVar[Capability]
    Config: ClassVar[type[BaseModel]]  # validated settings, saved only after a healthy check

    async def health(self) -> Health:
        """Check the connection and credentials. Never raises: failures come back as ``ok=False``."""
        ...

    async def read(self, memory: MemoryService, workspace: str) -> ReadReport:
        """Bring new external data in as canonical records; garbage is quarantined, never half-written."""
        ...

    async def write(self, action: Action, idempotency_key: str) -> Outcome:
        """Carry out an action the policy gate allowed. The key makes a retried write a no-op."""
        ...

    async def flush(self, memory: MemoryService, workspace: str) -> int:
        """Carry out what the gate queued for this connector and is now due (e-mail past its undo
        window); returns how many. Connectors with nothing to queue return 0."""
        ...


def redacted(config: BaseModel) -> dict[str, Any]:
    """A configuration as it may be shown or logged: secrets replaced by ``***``."""
    shown = config.model_dump(mode="json")
    for name, value in config:
        if type(value).__name__ == "SecretStr":
            shown[name] = "***"
    return shown
