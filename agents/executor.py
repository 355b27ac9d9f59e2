"""The execution pass: runs the agent tasks of approved plans, durably, and reports.

Code decides what runs, not a model. A task is claimed from Postgres (``FOR UPDATE SKIP LOCKED``
with a lease, so several workers never run it twice and a dead worker's task is taken over), run
by its specialist in its mode, and its result stored. While it runs, its message history is saved
at every model request: a retry resumes from that checkpoint, so tool calls already answered are
not repeated, and upstream tasks are never re-run (their stored results are the input). After its
retry budget a task is escalated to the operator with the error explained.

Specialists only read and write text. Anything a plan wants sent, paid or booked still goes
through the policy gate as its own action.

The executor also keeps plans honest about time: a step past its due date moves, with the steps
that depend on it, and the operator is told what moved and why.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_ai import Agent
from pydantic_ai.exceptions import UnexpectedModelBehavior, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.usage import UsageLimits

from agents import mcp_tools
from agents.budget import size_turn, tier_window
from agents.context import build_context, estimate_tokens
from agents.drafts import DraftRequest, produce
from agents.failures import MODEL_FAILURES, TurnTooLong, short_failure, within
from agents.gate import Gate
from agents.models import MODE_SETTINGS, Budget, BudgetExceeded, ModelTiers, Prices, PriceUnknown, Tier
from agents.plan_views import render_diff
from agents.team import TurnDeps, drafting_agent, finance_agent, research_agent, scheduling_agent
from agents.untrusted import Taint, earlier_attempt, earlier_result, reading
from connectors.mcp import McpHub
from memory import DraftKind, Edit, MemoryService, Objective, Plan, PlanTask, Superseded

log = logging.getLogger(__name__)
# Plan steps this process is running now, whichever executor runs them: a step of this worker that
# is "running" but not in hand lost its write-back to a database that went away (release_orphans).
_IN_HAND: set[int] = set()
SPECIALIST_FIXED_TOKENS = 400  # a specialist's instructions and its few read tools, generously

SPECIALISTS: dict[str, Agent[TurnDeps, str]] = {
    "research": research_agent,
    "drafting": drafting_agent,
    "finance": finance_agent,
    "scheduling": scheduling_agent,
}
MAX_RESULT_CHARS = 20_000
MAX_INPUT_CHARS = 4_000  # of each upstream result given to a task
STEP_FAILURES: tuple[type[BaseException], ...] = (UsageLimitExceeded, UnexpectedModelBehavior, *MODEL_FAILURES)
SLIP_DAYS = 2  # a step past its due date moves this many days past today


@dataclass(frozen=True)
class Ran:
    task: PlanTask
    outcome: str  # done | failed | escalated | postponed | superseded (dropped or taken over while it ran)
    text: str


@dataclass
class PlanExecutor:
    memory: MemoryService
    gate: Gate
    tiers: ModelTiers
    budget: Budget
    prices: Prices
    context_budget: int
    lease: timedelta = timedelta(minutes=10)
    retry_base: timedelta = timedelta(minutes=1)  # then ×4 per attempt: 1, 4, 16 min…
    batch: int = 4
    request_limit: int = 8
    mcp: McpHub | None = None  # the operator's MCP servers: a step's specialist sees their tools, gated

    async def tick(self, workspace: str, *, timezone: str, report: bool = True) -> list[Ran]:
        """One round: follow the operator's tasks, move slipped steps, run the ready agent tasks."""
        plans = self.memory.plans
        _, finished = await plans.follow_operator_tasks(workspace)
        today = self.memory.clock.today(timezone)
        notes: dict[int, list[str]] = defaultdict(list)
        for objective_id in finished:
            notes[objective_id].append("All steps are done: the objective is complete. 🎉")
        for objective_id, diff in (await self.replan_slips(workspace, today)).items():
            notes[objective_id].append(diff)
        worker = self.memory.conversations.worker
        await plans.release_orphans(workspace, worker=worker, in_hand=_IN_HAND)
        ran: list[Ran] = []
        # One claim at a time, so a lease never runs out on a step still waiting behind others.
        for _ in range(self.batch if self.tiers.available else 0):
            claimed = await plans.claim(workspace=workspace, limit=1, lease=self.lease, worker=worker, in_hand=_IN_HAND)
            if not claimed:
                break
            try:
                done = await self.run_task(claimed[0], workspace=workspace, timezone=timezone)
            finally:
                _IN_HAND.discard(claimed[0].id)
            ran.append(done)
            if done.text:
                notes[done.task.objective_id].append(done.text)
            if done.outcome == "postponed":  # the spend cap: the next steps would stop there too
                break
        if report:
            await self._report(workspace, timezone, notes)
        return ran

    async def run_until_idle(self, workspace: str, *, timezone: str, report: bool = True, rounds: int = 1000) -> int:
        """Tick until no task is ready (tests, benchmarks, the worker after a kick)."""
        total = 0
        for _ in range(rounds):
            ran = await self.tick(workspace, timezone=timezone, report=report)
            total += len(ran)
            if not busy(ran):
                break
        return total

    async def run_task(self, task: PlanTask, *, workspace: str, timezone: str) -> Ran:
        plans = self.memory.plans
        objective = await plans.objective(task.objective_id, workspace=workspace)
        agent = SPECIALISTS[task.owner]
        taint = Taint()  # what outside content this step's model reads: upstream results, e-mail, memories
        try:
            with reading(taint):
                step = (
                    self._draft(agent, objective, task, workspace, taint)
                    if task.owner == "drafting"
                    else self._run_agent(agent, objective, task, workspace, taint)
                )
                output = await within(self.tiers.limits.turn_seconds, step)
        except Superseded:
            return Ran(task, "superseded", "")
        except BudgetExceeded as err:  # not the step's fault: wait for the budget, keep the retries
            until = budget_resets(err.period, self.memory.clock.now())
            postponed = await plans.postpone(task, error=str(err), until=until)
            when = until.astimezone(ZoneInfo(timezone))
            text = (
                f"⏸ {task.title}: {err}; `/plan {task.objective_id} retry {task.id}` goes on now."
                if postponed and isinstance(err, PriceUnknown)  # waiting does not help: a price does
                else f"⏸ {task.title}: {err}. I'll go on when it resets ({when:%a %d %b %H:%M}); "
                f"after raising the cap, `/plan {task.objective_id} retry {task.id}` goes on now."
                if postponed
                else ""
            )
            return Ran(postponed or task, "postponed" if postponed else "superseded", text)
        except TurnTooLong as err:  # SOLOOS_TURN_SECONDS: a step may take as long as a chat turn
            log.warning("plan task %s %s", task.id, err)
            return await self._failed(
                task, f"took longer than the {err.seconds:g} s a step may take (SOLOOS_TURN_SECONDS)", timezone
            )
        except MODEL_FAILURES as err:  # the model could not be used: say how (never the provider's body)
            log.warning("plan task %s: the model failed: %s", task.id, short_failure(err))
            return await self._failed(task, f"the model failed: {short_failure(err)}", timezone)
        except STEP_FAILURES as err:  # the model's fault, not ours: no traceback
            return await self._failed(task, f"{type(err).__name__}: {err}", timezone)
        except Exception as err:  # a tool or the runtime broke; the task's budget decides what happens next
            log.exception("plan task %s failed", task.id)
            return await self._failed(task, f"{type(err).__name__}: {err}", timezone)
        finished = await plans.finish(task, result=output[:MAX_RESULT_CHARS])
        if finished is None:  # dropped, reassigned or taken over while it ran: the result is not used
            return Ran(task, "superseded", "")
        first = " ".join(output.split())[:280]
        return Ran(finished, "done", f"✓ {task.title} ({task.owner}): {first}")

    async def _draft(
        self, agent: Agent[TurnDeps, str], objective: Objective, task: PlanTask, workspace: str, taint: Taint
    ) -> str:
        """A drafting step's text becomes a versioned draft. Its inputs (the step and what it was
        given) are hashed first: a step re-run after a crash finds its draft instead of writing again.
        Every new version is audited, with the outside content it was written from."""
        upstream = await self.memory.plans.results(task.depends_on)
        request = DraftRequest(
            kind=draft_kind(task.title),
            title=task.title,
            instructions=_prompt(objective, task, upstream),
            tone=self.gate.policy.tone,
            mode=task.mode,
            facts={"plan": objective.id, "step": task.key},
            created_by="plan",
        )

        async def write(prompt: str) -> str:
            return await self._run_agent(agent, objective, task, workspace, taint, prompt=prompt)

        made = await produce(self.memory, workspace, request, write)
        draft = made.draft
        if not made.cached:
            read = f"; written from outside content ({taint.sources()})" if taint.tainted else ""
            await self.gate.record_draft(
                draft.id,
                workspace=workspace,
                operator=objective.operator,
                intent_key=f"plan:{task.id}",
                outcome=f"saved draft #{draft.id} v{draft.version} “{draft.title}” for plan step “{task.title}”{read}",
            )
        return f"Draft #{draft.id} v{draft.version} (`/draft {draft.id}`): {draft.subject}\n\n{draft.body}"

    async def _run_agent(
        self,
        agent: Agent[TurnDeps, str],
        objective: Objective,
        task: PlanTask,
        workspace: str,
        taint: Taint,
        *,
        prompt: str | None = None,
    ) -> str:
        upstream = await self.memory.plans.results(task.depends_on)
        first = prompt or _prompt(objective, task, upstream)  # notes the upstream results it carries
        tier: Tier = "strong" if task.owner in ("research", "drafting") else "fast"
        hub = self.mcp if self.mcp is not None and self.mcp.connected else None
        size = size_turn(  # the memory context gets what the model's window leaves (D47)
            tier_window(self.tiers, tier),
            output=self.tiers.limits.max_tokens,
            fixed=SPECIALIST_FIXED_TOKENS + (mcp_tools.prompt_tokens(hub, first)[0] if hub is not None else 0),
            message=estimate_tokens(first),
            context_budget=self.context_budget,
        )
        context = await build_context(
            self.memory,
            workspace=workspace,
            conversation=objective.conversation or "",
            message=f"{task.title} {task.instructions}",
            budget_tokens=size.context,
        )
        deps = TurnDeps(
            self.memory,
            self.gate,
            workspace,
            objective.operator,
            f"plan:{task.id}",
            task.mode,
            self.tiers,
            tier,
            self.budget,
            self.prices,
            context.text,
            taint=taint,
            mcp=hub,
        )
        history = _history(task.checkpoint)
        if history:  # what an earlier attempt's tools read is in the history the model gets again
            earlier_attempt(history)
        async with agent.iter(
            None if history else first,
            message_history=history,
            deps=deps,
            model=deps.model_for(agent.name or task.owner),
            usage_limits=UsageLimits(request_limit=self.request_limit),
            model_settings=MODE_SETTINGS.get(task.mode),
            toolsets=[mcp_tools.SPECIALIST_TOOLSET] if hub is not None else None,  # gated like in chat
        ) as run:
            async for node in run:
                if Agent.is_model_request_node(node):  # about to ask the model: what came before is settled
                    messages = run.all_messages()
                    if node.request not in messages:
                        messages = [*messages, node.request]
                    await self.memory.plans.save_checkpoint(
                        task,
                        {"messages": ModelMessagesTypeAdapter.dump_python(messages, mode="json")},
                        lease=self.lease,
                    )
        assert run.result is not None
        return str(run.result.output)

    async def _failed(self, task: PlanTask, error: str, timezone: str) -> Ran:
        step = await self.memory.plans.fail(
            task, error=error[:1000], retry_in=self.retry_base * 4 ** max(0, task.attempts - 1)
        )
        if step is None:
            return Ran(task, "superseded", "")
        t = step.task
        if t.status == "escalated":
            return Ran(
                t,
                "escalated",
                f"⚠ {t.title}: the {t.owner} agent failed {t.attempts} times ({error[:200]}). It is now your task "
                f"#{step.operator_task_id}; `/plan {t.objective_id} retry {t.id}` lets the agent try again.",
            )
        when = f"{t.next_attempt_at.astimezone(ZoneInfo(timezone)):%H:%M}" if t.next_attempt_at else "soon"
        return Ran(
            t,
            "failed",
            f"✗ {t.title} ({t.owner}) failed, attempt {t.attempts} of {t.max_attempts}: {error[:200]}. "
            f"I'll retry from where it stopped at {when}.",
        )

    async def replan_slips(self, workspace: str, today: date) -> dict[int, str]:
        """Move steps past their due date (and what depends on them); one diff per plan."""
        slipped = await self.memory.plans.slipped(workspace, today)
        by_plan: dict[int, list[PlanTask]] = defaultdict(list)
        for t in slipped:
            by_plan[t.objective_id].append(t)
        diffs = {}
        for objective_id, late in by_plan.items():
            plan = await self.memory.plans.get(objective_id, workspace=workspace)
            edits = slip_edits(plan, late, today)
            plan, revision = await self.memory.plans.revise(
                objective_id, workspace=workspace, reason="a due date passed", edits=edits
            )
            if revision is not None:
                diffs[objective_id] = render_diff(objective_id, revision.revision, revision.changes)
        return diffs

    async def _report(self, workspace: str, timezone: str, notes: dict[int, list[str]]) -> None:
        """One notice per plan, to the conversation where it was made, through the delivery log."""
        for objective_id, lines in notes.items():
            o = await self.memory.plans.objective(objective_id, workspace=workspace)
            await self.memory.schedules.notice(
                workspace=workspace,
                operator=o.operator,
                body="\n".join([f"*Plan #{o.id}: {o.outcome}*", *lines]),
                timezone=timezone,
                conversation=o.conversation,
                more=f"(/plan {o.id} shows all)",
            )


_KINDS: tuple[tuple[DraftKind, tuple[str, ...]], ...] = (
    ("post", ("post", "linkedin", "blog", "newsletter", "article", "announcement")),
    ("email", ("e-mail", "email", "mail", "pitch", "outreach", "follow-up", "follow up", "message", "reply")),
)


def busy(ran: list[Ran]) -> bool:
    """Whether a round did work that may have made more steps ready (not just hit the spend cap)."""
    return any(r.outcome != "postponed" for r in ran)


def budget_resets(period: str, now: datetime) -> datetime:
    """When a spent cap opens again: the next UTC day, or the next UTC month (the ledger's calendar)."""
    day = now.astimezone(UTC).date()
    if period == "monthly":
        day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    else:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), UTC)


def draft_kind(title: str) -> DraftKind:
    lowered = title.lower()
    for kind, words in _KINDS:
        if any(w in lowered for w in words):
            return kind
    return "proposal"


def slip_edits(plan: Plan, late: list[PlanTask], today: date) -> list[Edit]:
    """Each late step moves to ``today + SLIP_DAYS``; what depends on it keeps its distance after it."""
    new_due: dict[int, date] = {}
    why: dict[int, str] = {}
    for t in late:
        assert t.due_on is not None
        new_due[t.id] = today + timedelta(days=SLIP_DAYS)
        why[t.id] = f"it was due {t.due_on:%a %d %b} and is not done"
    tasks = {t.id: t for t in plan.tasks}
    changed = True
    for _ in range(len(plan.tasks) + 1):  # push dependents forward until nothing moves (plans are acyclic)
        if not changed:
            break
        changed = False
        for t in plan.tasks:
            if t.status in ("done", "cancelled", "running") or t.due_on is None:
                continue
            for d in t.depends_on:
                if d not in new_due:
                    continue
                upstream = tasks[d]
                gap = t.due_on - upstream.due_on if upstream.due_on and t.due_on >= upstream.due_on else timedelta(0)
                wanted = new_due[d] + max(gap, timedelta(days=1))
                if wanted > new_due.get(t.id, t.due_on):
                    new_due[t.id] = wanted
                    why[t.id] = f"it comes after “{upstream.title}”, which moved"
                    changed = True
    deadline = plan.objective.deadline
    edits = []
    for task_id, due in new_due.items():
        reason = why[task_id]
        if deadline and due > deadline:
            reason += f" (now after the deadline {deadline:%a %d %b})"
        edits.append(Edit("move", task_id, due_on=due, why=reason))
    return edits


def _prompt(objective: Objective, task: PlanTask, upstream: dict[int, PlanTask]) -> str:
    lines = [f"Objective: {objective.outcome}", f"Your task: {task.title}"]
    if task.instructions:
        lines.append(f"Instructions: {task.instructions}")
    if task.due_on:
        lines.append(f"Due: {task.due_on:%Y-%m-%d}")
    for d in task.depends_on:
        done = upstream.get(d)
        if done and done.result:
            lines.append(earlier_result(done.title, done.result, limit=MAX_INPUT_CHARS))
    return "\n\n".join(lines)


def _history(checkpoint: Any) -> list[ModelMessage] | None:
    if not checkpoint or not checkpoint.get("messages"):
        return None
    return ModelMessagesTypeAdapter.validate_python(checkpoint["messages"])


__all__ = ["SPECIALISTS", "PlanExecutor", "Ran", "busy", "slip_edits"]
