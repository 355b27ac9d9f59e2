"""Assembles what the agents know for a turn, within a fixed token budget however long the history.

Priority: the operator's rules (institutional memory) first, then the memories most relevant to
the message, then the latest turns of the conversation. Each section is cut, never the budget.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agents.approval_codes import mask_codes, pending_codes
from agents.tool_text import tool_call_in
from agents.untrusted import MEMORIES_HEADING, memory_line
from memory import MemoryService, Turn

RECENT_TURNS = 6


def estimate_tokens(text: str) -> int:
    """~4 characters per token for English; close enough to budget with, and model-independent."""
    return len(text) // 4 + 1


async def _no_turns() -> list[Turn]:
    return []


@dataclass(frozen=True)
class TurnContext:
    text: str
    tokens: int
    sources: tuple[str, ...]  # short ids of the memories used, for "answers with sources"


async def build_context(
    memory: MemoryService,
    *,
    workspace: str,
    conversation: str,
    message: str,
    budget_tokens: int,
    recent_turns: int = RECENT_TURNS,
) -> TurnContext:
    """``recent_turns``: how many of the conversation's latest turns to carry (0: none, for work
    that stands on its own, such as planning an objective)."""
    rules, hits, turns, codes = await asyncio.gather(
        memory.list(workspace, layer="institutional", limit=20, include_history=False),
        memory.recall(message[:2000], workspace=workspace, k=12, layers=["project", "institutional"]),
        memory.conversations.recent(workspace=workspace, conversation=conversation, limit=recent_turns)
        if recent_turns
        else _no_turns(),
        pending_codes(memory, workspace),
    )

    used = 0
    lines: list[str] = []
    sources: list[str] = []

    def add(line: str, source: str | None = None) -> bool:
        nonlocal used
        cost = estimate_tokens(line)
        if used + cost > budget_tokens:
            return False
        lines.append(line)
        used += cost
        if source:
            sources.append(source)
        return True

    rules = [r for r in rules if r.confirmed]  # an unconfirmed "rule" is outside data, recalled as such
    add("Operator's rules:")
    for rule in rules:
        if not add(f"- {rule.text} [{rule.short_id}]", rule.short_id):
            break
    add(MEMORIES_HEADING)
    seen = {r.id for r in rules}
    for hit in hits:
        if hit.id in seen:
            continue
        origin = None if hit.confirmed else hit.origin
        line = memory_line(hit.text, occurred_at=hit.occurred_at, ref=hit.short_id, unconfirmed_from=origin)
        if not add(line, hit.short_id):
            break
    # A reply that is a tool call written as text (stored before such replies were refused) would
    # teach the model to write another: it is left out.
    turns = [t for t in turns if t.role != "assistant" or tool_call_in(t.text) is None]
    if turns:
        add("Recent conversation:")
    for turn in turns:  # approval codes masked: a model that saw one could ask the operator to type it
        if not add(f"{turn.role}: {mask_codes(turn.text, codes)[:500]}"):
            break
    return TurnContext("\n".join(lines), used, tuple(sources))
