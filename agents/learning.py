"""Learning from conversation: what the operator says in passing becomes project (or institutional)
memory, through mem0's extraction (``AsyncMemory.add(infer=True)``) on our parts (``learning_mem0``).

Only the operator's own message text is ever learned from (the caller passes nothing else: no reply,
no e-mail, no tool output). Each fact is written with a layer, a subject, origin ``operator``, source
``learned`` and the message it came from, and audited (``memory.learned``, or ``memory.corrected``
when it superseded an older fact on its subject) with ``memory.delete`` as its undo, so ``/why`` and
``/undo`` cover it. The model calls go through the fast tier's spend meter: the cap stops them
(``BudgetExceeded``), and nothing is written then.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agents.gate import Gate
from agents.models import Budget, BudgetExceeded, MeteredModel, ModelTiers, Prices
from memory import MemoryItem, MemoryService, prepare_mem0_environment

if TYPE_CHECKING:
    from agents.learning_mem0 import Written

log = logging.getLogger(__name__)

SAID_CHARS = 500  # metadata.said keeps the message's start
LEARNING_AGENT = "learning"  # the spend ledger's agent name for extraction calls

INSTRUCTIONS = """\
These messages are from the owner of a one-person business to their assistant. Extract only what the \
owner states about their business: clients and contacts, rates, prices and payment terms, invoices and \
payments, commitments and deadlines, decisions, and the owner's standing rules and preferences for how \
work is done. Skip small talk, greetings, questions, requests and instructions to the assistant, and \
anything about the assistant itself.

Write each memory as one line, in one of two forms:
[fact: <subject>] <statement>   for a fact about clients, work, money, commitments or decisions
[rule: <subject>] <statement>   for a standing rule or preference of the owner
<subject> is a short lowercase key naming what the statement is about, such as \
"acme · invoice 42 payment", "acme · day rate" or "invoicing · payment terms". When an Existing Memory \
is about the same thing, reuse its subject exactly, also when the new statement changes or contradicts \
it: the newer statement then replaces the older one. Give dates as absolute dates."""


def instructions(said_at: datetime) -> str:
    return f"{INSTRUCTIONS}\nThe message was said on {said_at.date().isoformat()}."


class Learns(Protocol):
    async def learn(
        self, said: str, *, workspace: str, said_at: datetime, conversation: str | None, source: str = "learned"
    ) -> list[MemoryItem]: ...


class Mem0Learner:
    """The learning engine: mem0's extraction through the fast tier's spend meter into ``memories``."""

    def __init__(
        self,
        memory: MemoryService,
        gate: Gate,
        tiers: ModelTiers,
        budget: Budget,
        prices: Prices,
        *,
        operator: str,
        home: Path,
        timeout: float = 120.0,
    ) -> None:
        if not tiers.available:
            raise ValueError("learning needs a model (SOLOOS_MODEL_FAST or SOLOOS_MODEL_STRONG)")
        prepare_mem0_environment(home)  # telemetry off and mem0's files under our home, before mem0 loads
        from agents.learning_mem0 import build_mem0

        self.memory, self.gate, self.tiers = memory, gate, tiers
        self.budget, self.prices = budget, prices
        self.operator = operator
        self.timeout = timeout
        self._mem0 = build_mem0(INSTRUCTIONS)
        self.last_prompts: list[str] = []  # the last extraction's requests (benchmarks, tests)
        self.last_spent: list[Decimal] = []

    def _model(self, workspace: str, spent: list[Decimal]) -> MeteredModel:
        tier, model = self.tiers.pick("fast")
        return MeteredModel(
            model,
            store=self.memory.agent_store,
            workspace=workspace,
            agent=LEARNING_AGENT,
            tier=tier,
            budget=self.budget,
            prices=self.prices,
            spent=spent,
        )

    async def learn(
        self, said: str, *, workspace: str, said_at: datetime, conversation: str | None, source: str = "learned"
    ) -> list[MemoryItem]:
        """Extract and store the facts in ``said`` (the operator's words only). Returns what was written
        (not what was already known). Raises ``BudgetExceeded`` when the spend cap stops it."""
        from mem0.exceptions import LLMError

        from agents.learning_mem0 import CURRENT, Extraction

        spent: list[Decimal] = []
        metadata: dict[str, Any] = {
            "said": said[:SAID_CHARS],
            "said_at": said_at.isoformat(),
            "conversation": conversation,
            "by": "mem0",
        }
        extraction = Extraction(
            asyncio.get_running_loop(),
            self._model(workspace, spent),
            self.memory,
            workspace,
            said_at,
            source,
            metadata,
            self.timeout,
        )
        token = CURRENT.set(extraction)
        try:
            await self._mem0.add(
                [{"role": "user", "content": said}], user_id=workspace, infer=True, prompt=instructions(said_at)
            )
        except LLMError as err:
            if isinstance(err.__cause__, BudgetExceeded):
                raise err.__cause__ from None
            raise
        finally:
            CURRENT.reset(token)
            self.last_prompts, self.last_spent = extraction.prompts, spent
        for written in extraction.written:
            await self._audit(workspace, written)
        return [w.item for w in extraction.written]

    async def _audit(self, workspace: str, written: Written) -> None:
        item = written.item
        if written.replaced:
            action, outcome = "memory.corrected", f"updated: {item.text[:200]} (was: {written.replaced[0][:200]})"
        else:
            action, outcome = "memory.learned", f"noted: {item.text[:200]}"
        await self.gate.record_operator_action(
            workspace=workspace,
            operator=self.operator,
            intent_key=None,
            action_type=action,
            outcome=outcome,
            undo={"kind": "memory.delete", "id": str(item.id)},
        )


__all__ = ["INSTRUCTIONS", "LEARNING_AGENT", "Learns", "Mem0Learner", "instructions"]
