"""One model turn: pick the tier, assemble context, run the coordinator, park gated actions as
approvals, and turn every failure into a clear sentence that says nothing was done."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic_ai import DeferredToolRequests
from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior, UsageLimitExceeded
from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_ai.usage import UsageLimits

from agents.context import build_context
from agents.gate import Gate
from agents.models import (
    MODE_SETTINGS,
    Budget,
    BudgetExceeded,
    ModelTiers,
    Prices,
    Tier,
    choose_tier,
    needs_model_message,
)
from agents.planner import Planner
from agents.team import TurnDeps, action_from_metadata, coordinator
from memory import MemoryService
from policies import Approval, Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnOutcome:
    text: str
    approvals: tuple[Approval, ...] = ()
    tier: Tier = "local"
    ok: bool = True
    context_tokens: int = 0
    sources: tuple[str, ...] = field(default=())


@dataclass
class AgentRunner:
    memory: MemoryService
    gate: Gate
    tiers: ModelTiers
    budget: Budget
    prices: Prices
    limits: UsageLimits
    context_budget: int

    async def run(
        self, text: str, *, workspace: str, operator: str, conversation: str, intent_key: str, mode: str
    ) -> TurnOutcome:
        if not self.tiers.available:
            return TurnOutcome(needs_model_message(False))
        tier = choose_tier(text)
        context = await build_context(
            self.memory, workspace=workspace, conversation=conversation, message=text, budget_tokens=self.context_budget
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
        )
        model = deps.model_for("coordinator")
        try:
            result = await coordinator.run(
                text, deps=deps, model=model, usage_limits=self.limits, model_settings=MODE_SETTINGS.get(mode)
            )
        except BudgetExceeded as err:
            return TurnOutcome(
                f"{err}, so I made no model request and nothing was done. The local tier still works "
                "(remember, recall, tasks); raise SOLOOS_BUDGET_DAILY_USD / SOLOOS_BUDGET_MONTHLY_USD to go on.",
                ok=False,
            )
        except UsageLimitExceeded as err:
            return TurnOutcome(
                f"That needed more model work than one turn allows ({err}); I stopped. "
                "Nothing was sent. Try a narrower request.",
                ok=False,
            )
        except (ModelAPIError, UnexpectedModelBehavior) as err:
            log.warning("model failure: %s", err)
            return TurnOutcome(
                f"The model failed ({type(err).__name__}: {err}); nothing was sent. Try again.", ok=False
            )
        await asyncio.to_thread(
            self.gate.record_turn,
            workspace=workspace,
            operator=operator,
            intent_key=intent_key,
            tier=model.tier,
            requests=result.usage.requests,
            cost=sum(deps.spent, Decimal(0)),
        )
        output = result.output
        if isinstance(output, DeferredToolRequests):
            run_state = ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json")
            parked = await asyncio.to_thread(self._park, output, run_state, workspace, operator, intent_key)
            return TurnOutcome(
                _approval_text(parked, deps.notes),
                parked,
                model.tier,
                context_tokens=context.tokens,
                sources=context.sources,
            )
        reply = str(output)
        if deps.notes:
            reply += "\n" + "\n".join(deps.notes)
        return TurnOutcome(reply, (), model.tier, context_tokens=context.tokens, sources=context.sources)

    def _park(
        self, requests: DeferredToolRequests, run_state: object, workspace: str, operator: str, intent_key: str
    ) -> tuple[Approval, ...]:
        parked = []
        for call in requests.approvals:
            meta = requests.metadata.get(call.tool_call_id)
            if not meta:  # only our gate raises ApprovalRequired, always with metadata
                continue
            d = meta["decision"]
            decision = Decision(d["level"], d["reason"], tuple(d["risks"]), d["reversible"])
            parked.append(
                self.gate.request_approval(
                    action_from_metadata(meta),
                    decision,
                    workspace=workspace,
                    operator=operator,
                    intent_key=intent_key,
                    tool_call_id=call.tool_call_id,
                    run_state=run_state,
                )
            )
        return tuple(parked)


def describe_approval(approval: Approval, *, full: bool = False) -> str:
    lines = [f"*{approval.action.summary}*", f"Why I'm asking: {approval.reason}."]
    if approval.risks:
        lines.append("What could go wrong: " + "; ".join(approval.risks) + ".")
    args = {k: v for k, v in approval.action.args.items() if not k.startswith("__")}
    body = args.pop("body", None)
    if full:
        lines += [f"{k}: {v}" for k, v in args.items()]
    elif args:
        lines.append(" · ".join(f"{k}: {str(v)[:80]}" for k, v in args.items()))
    if body:
        preview = body if full or len(body) <= 600 else body[:600] + "…"
        lines += ["", preview]
    lines.append(f"Code {approval.id}, expires {approval.expires_at:%d %b %H:%M} UTC.")
    return "\n".join(lines)


def _approval_text(parked: tuple[Approval, ...], notes: list[str]) -> str:
    if not parked:
        return "I wanted to do something that needs approval but could not record it; nothing was done."
    head = "I need your approval before I go on:" if len(parked) == 1 else f"I need {len(parked)} approvals:"
    parts = [head] + [describe_approval(a) for a in parked] + notes
    return "\n\n".join(parts)
