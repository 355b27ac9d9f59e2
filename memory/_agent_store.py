"""Storage the agents need, kept here so that agents never write SQL: the spend ledger and model
response cache (``memory._spend``) and operator preferences (``memory._preferences``)."""

from __future__ import annotations

from memory._postgres import Database
from memory._preferences import MODES, OperatorPreferences
from memory._spend import CapReached, ModelCache, SpendLedger, SpendLine, SpendSummary
from memory.clock import Clock


class AgentStore(SpendLedger, ModelCache, OperatorPreferences):
    """One object for the agents' storage (``MemoryService.agent_store``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock


__all__ = ["MODES", "AgentStore", "CapReached", "SpendLine", "SpendSummary"]
