"""Consolidation: working memory compacted into project memory, so the working layer stays bounded
and nothing the operator said that matters is lost when it expires.

Working memory is the conversation transcript (``conversation_turns``) and the ``working`` layer of
``memories`` (expiring). A run takes the operator's own turns older than the working window that were
not consolidated yet — never an assistant reply (it may quote an e-mail or a web page), never outside
content — oldest first, then the operator's working memories that expire before the next run; for each:

- with a learning engine (``Learns``, mem0 through the fast tier and the spend meter), hands it over
  with source ``consolidated``; the engine writes the facts and their audit events;
- without one, or once the spend cap (or a model failure) stops it, extracts dated decisions,
  commitments and amounts by rules (``agents.commitments``) into project memories, each with the
  message it came from and an audit event ``memory.learned`` (undo: delete it);

then marks the turn consolidated. A turn the learning engine already took facts from when it was
said (a ``learned`` memory whose ``said`` is its text) is marked without being read again. A turn is
marked only after its facts are written, and writing a fact twice keeps the first (same text, same
layer), so a run cut off by a crash or a lost database loses nothing and a rerun does nothing twice.
Finally the transcript is pruned: consolidated operator
turns and assistant turns older than the window (or beyond a maximum per conversation) go, keeping
each conversation's latest turns for the next turn's context (``agents.context``); expired working
memories go too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from agents.commands import route
from agents.commitments import commitments
from agents.context import RECENT_TURNS
from agents.gate import Gate
from agents.learned import FORGET, KEEP
from agents.learning import Learns
from memory import DatabaseUnavailable, LearnedFacts, MemoryItem, MemoryService, PendingTurn

log = logging.getLogger(__name__)

MAX_SAID = 500  # the message a fact came from, as kept in its metadata (contract 2)
BATCH = 200  # turns read per round of a run
KEEP_RECENT = max(20, RECENT_TURNS)  # each conversation's latest turns, kept whatever their age
KEEP_AT_MOST = 200  # transcript turns kept per conversation
NEXT_RUN = timedelta(days=1)  # working memories expiring sooner are consolidated now (runs are nightly)


@dataclass(frozen=True)
class Consolidated:
    """What one run did."""

    turns: int  # operator turns consolidated
    facts: int  # project memories written from them
    pruned: int  # transcript turns and expired working memories removed
    by: str  # "model", "rules", "model, then rules" (the cap or a failure stopped the model), "" (nothing due)


class Consolidation:
    def __init__(
        self,
        memory: MemoryService,
        gate: Gate,
        *,
        operator: str,
        timezone: str,
        learner: Learns | None = None,
        window: timedelta | None = None,
        keep_recent: int = KEEP_RECENT,
        keep_at_most: int = KEEP_AT_MOST,
    ) -> None:
        self.memory = memory
        self.gate = gate
        self.operator = operator
        self.timezone = timezone
        self.learner = learner
        self.window = window or memory.working_ttl
        self.keep_recent = keep_recent
        self.keep_at_most = max(keep_at_most, keep_recent)
        self.store = LearnedFacts(memory)
        self._learner: Learns | None = learner  # for the run under way: None once the model stopped
        self._used: list[str] = []  # "model", "rules", in the order the run first used them

    async def run(self, workspace: str) -> Consolidated:
        """Consolidate what is due, then prune. Raises when the database fails (what was marked stays
        marked; the rest is taken by the next run)."""
        now = self.memory.clock.now()
        before = now - self.window
        self._learner, self._used = self.learner, []
        turns = facts = 0
        while True:  # the transcript, then the operator's working memories that expire before the next run
            pending = await self.store.pending_turns(workspace, before=before, limit=BATCH)
            pending = pending or await self.store.pending_working(
                workspace, expiring_before=now + NEXT_RUN, limit=BATCH
            )
            for turn in pending:
                facts += len(await self._consolidate(turn))
                await self.store.mark_consolidated(turn.id)
                turns += 1
            if not pending:
                break
        pruned = await self.store.prune(
            workspace, before=before, keep_recent=self.keep_recent, keep_at_most=self.keep_at_most
        )
        by = ", then ".join(self._used)
        if turns or pruned:
            log.info("consolidated %d turn(s) into %d fact(s) (%s); pruned %d", turns, facts, by or "-", pruned)
        return Consolidated(turns, facts, pruned, by)

    async def _consolidate(self, turn: PendingTurn) -> list[MemoryItem]:
        """The facts of one thing the operator said: by the learning engine while it works, else by rules."""
        if turn.learned or not _worth_reading(turn.text):  # learned when it was said: not again
            return []
        if self._learner is not None:
            try:
                written = await self._learner.learn(
                    turn.text,
                    workspace=turn.workspace,
                    said_at=turn.created_at,
                    conversation=turn.conversation or None,
                    source="consolidated",
                )
            except DatabaseUnavailable:
                raise
            except Exception as err:  # the cap (BudgetExceeded), a model failure: rules from here on
                log.warning("consolidation: the learning engine stopped (%s); extracting by rules", err)
                self._learner = None
            else:
                self._use("model")
                return written
        self._use("rules")
        return await self._by_rules(turn)

    def _use(self, way: str) -> None:
        if way not in self._used:
            self._used.append(way)

    async def _by_rules(self, turn: PendingTurn) -> list[MemoryItem]:
        written = []
        for found in commitments(turn.text, turn.created_at, self.timezone):
            item = await self.memory.remember(
                found.text(turn.created_at, self.timezone),
                layer="project",
                workspace=turn.workspace,
                source="consolidated",
                occurred_at=turn.created_at,
                metadata={
                    "said": turn.text[:MAX_SAID],
                    "said_at": turn.created_at.isoformat(),
                    "conversation": turn.conversation,
                    "by": "rules",
                    "dates": [when.isoformat() for _, when in found.dates],
                    "amounts": list(found.amounts),
                },
            )
            if item.duplicate:  # written by a run cut off before it marked the turn: once is enough
                continue
            await self.gate.record_operator_action(
                workspace=turn.workspace,
                operator=self.operator,
                intent_key=None,
                action_type="memory.learned",
                outcome=f"learned (consolidated by rules): {item.text[:200]} [{item.short_id}]",
                undo={"kind": "memory.delete", "id": str(item.id)},
            )
            written.append(item)
        return written


def _worth_reading(text: str) -> bool:
    """A message, not a command or a button press: "remember …", "/brief", "approve …" were handled
    as what they are (and what they wrote is in memory already)."""
    stripped = text.strip()
    if not stripped or stripped.startswith((KEEP, FORGET)):
        return False
    return route(stripped, model=True).kind == "needs_model"


__all__ = ["Consolidated", "Consolidation", "Learns"]
