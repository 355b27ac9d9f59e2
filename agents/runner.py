"""One model turn: pick the tier, assemble context, run the coordinator, park gated actions as
approvals, and turn every failure into a clear sentence that says nothing was done."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from pydantic_ai import DeferredToolRequests
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.usage import UsageLimits

from agents.budget import too_big
from agents.context import RECENT_TURNS, build_context
from agents.failures import cut_off_note, describe_failure, within
from agents.gate import Gate, describe_approval
from agents.gate.messages import approvals_requested
from agents.mcp_tools import COORDINATOR_TOOLSET, prompt_tokens
from agents.models import (
    MODE_SETTINGS,
    Budget,
    ModelTiers,
    Prices,
    Tier,
    choose_tier,
    needs_model_message,
)
from agents.planner import Planner
from agents.team import TurnDeps, coordinator, plan_turn
from agents.untrusted import earlier_turn, reading
from connectors.mcp import McpHub
from memory import MemoryService
from policies import Approval

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnOutcome:
    text: str
    approvals: tuple[Approval, ...] = ()
    tier: Tier = "local"
    ok: bool = True
    context_tokens: int = 0
    sources: tuple[str, ...] = field(default=())
    tainted: bool = False  # the turn's models read outside content (e-mail, memories, earlier results)


@dataclass
class AgentRunner:
    memory: MemoryService
    gate: Gate
    tiers: ModelTiers
    budget: Budget
    prices: Prices
    limits: UsageLimits
    context_budget: int
    mcp: McpHub | None = None  # the operator's MCP servers: their tools are offered when any is connected

    async def run(
        self, text: str, *, workspace: str, operator: str, conversation: str, intent_key: str, mode: str
    ) -> TurnOutcome:
        if not self.tiers.available:
            return TurnOutcome(needs_model_message(False))
        tier = choose_tier(text)
        hub = self.mcp if self.mcp is not None and self.mcp.connected else None
        mcp_tokens = prompt_tokens(hub, text)[0] if hub is not None else 0
        sized = plan_turn(self.tiers, tier, text, context_budget=self.context_budget, mcp_tokens=mcp_tokens)
        if not sized.size.fits:  # refused before anything is sent: the model could not take it
            return TurnOutcome(too_big(sized.size), ok=False)
        context = await build_context(
            self.memory, workspace=workspace, conversation=conversation, message=text, budget_tokens=sized.size.context
        )
        deps = TurnDeps(
            self.memory,
            self.gate,
            workspace,
            operator,
            intent_key,
            mode,
            self.tiers,
            tier,
            self.budget,
            self.prices,
            context.text,
            conversation=conversation,
            planner=Planner(self.memory, self.tiers, self.budget, self.prices, self.context_budget),
            offered=sized.offered,
            read_budget_chars=sized.read_budget_chars,
            mcp=hub,
        )
        model = deps.model_for("coordinator")
        earlier = await self._tainted_transcript(workspace, conversation)
        try:
            with reading(deps.taint):  # outside content made into prompt text in this run taints it
                for read in earlier:
                    earlier_turn(read)
                result = await within(
                    self.tiers.limits.turn_seconds,
                    coordinator.run(
                        text,
                        deps=deps,
                        model=model,
                        usage_limits=self.limits,
                        model_settings=MODE_SETTINGS.get(mode),
                        toolsets=[COORDINATOR_TOOLSET] if deps.mcp is not None else None,
                    ),
                )
        except Exception as err:  # a model turn that stopped short: said in agents.failures' words
            said = describe_failure(err, self.tiers, first=model.tier, outcome=_outcome(deps))
            if said is None:
                raise
            return TurnOutcome(_with_notes(said, deps), ok=False, tainted=deps.tainted)
        await asyncio.to_thread(
            self.gate.record_turn,
            workspace=workspace,
            operator=operator,
            intent_key=intent_key,
            tier=model.tier,
            requests=result.usage.requests,
            cost=sum(deps.spent, Decimal(0)),
            conversation=conversation,
            taint=deps.taint,
        )
        output = result.output
        if isinstance(output, DeferredToolRequests):
            run_state = ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json")
            parked = await asyncio.to_thread(
                self.gate.park_deferred,
                output,
                run_state,
                workspace=workspace,
                operator=operator,
                intent_key=intent_key,
            )
            return TurnOutcome(
                approvals_requested(parked, deps.notes),
                parked,
                model.tier,
                context_tokens=context.tokens,
                sources=context.sources,
                tainted=deps.tainted,
            )
        reply = str(output)
        last = result.all_messages()[-1]
        if isinstance(last, ModelResponse) and last.finish_reason == "length":
            reply += "\n\n" + cut_off_note(self.tiers.limits)
        if deps.notes:
            reply += "\n" + "\n".join(deps.notes)
        return TurnOutcome(
            reply, (), model.tier, context_tokens=context.tokens, sources=context.sources, tainted=deps.tainted
        )

    async def _tainted_transcript(self, workspace: str, conversation: str) -> list[str]:
        """What the tainted turns whose replies are in this turn's context read (the context carries the
        conversation's latest turns; a few minutes' slack covers a reply stored just after its audit)."""
        conversations = self.memory.conversations
        turns = await conversations.recent(workspace=workspace, conversation=conversation, limit=RECENT_TURNS)
        if not turns:
            return []
        since = min(t.created_at for t in turns) - TRANSCRIPT_SLACK
        return await self.gate.tainted_turns(workspace, conversation, since)


TRANSCRIPT_SLACK = timedelta(minutes=5)


def _outcome(deps: TurnDeps) -> str:
    """What a turn that stopped had done: nothing, or what it did at "notify" level (listed after)."""
    return "what I had already done stays done (below)" if deps.notes else "nothing was sent"


def _with_notes(said: str, deps: TurnDeps) -> str:
    return "\n".join([said, *deps.notes])


__all__ = ["AgentRunner", "TurnOutcome", "describe_approval"]
