"""Plans in chat: state an objective, read and edit the plan, approve it, follow its progress.

``/objective Land 3 new retainer clients by March`` drafts a plan (that needs a model: the
strategic and tactical passes); everything else works without one:

- ``/plans``: every open plan with its progress
- ``/plan 3``: the plan; ``/plan 3 results`` with what the agents produced; ``/plan 3 changes``
- ``/plan 3 approve`` / ``/plan 3 cancel``
- ``/plan 3 move 7 to next friday`` · ``/plan 3 assign 7 to me`` (or research, drafting, …)
- ``/plan 3 drop 7`` · ``/plan 3 add research: compare three CRMs by 10 Dec`` · ``/plan 3 retry 7``
- ``/plan 3 deadline 31 March`` · ``/plan 3 goal Land 5 retainer clients by April`` (replans with a model)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.failures import describe_failure, within
from agents.plan_views import render_diff, render_plan, summary_line
from agents.planner import Planner, slug, split_deadline
from agents.reply import Button, Reply
from agents.when import day as parse_day
from memory import (
    OWNERS,
    Edit,
    InvalidInput,
    InvalidRecord,
    MemoryService,
    NewTask,
    NotFound,
    Owner,
    Plan,
    PlanTask,
    Revision,
)

Buttons = tuple[Button, ...]

_OWNER_WORDS: dict[str, Owner] = {"me": "operator", "myself": "operator", "operator": "operator", "you": "operator"}
_OWNER_WORDS |= {o: o for o in OWNERS}
_MOVE = re.compile(r"^(?:move|reschedule)\s+(?P<task>\S+)\s+(?:to|until|on)\s+(?P<when>.+)$", re.I)
_ASSIGN = re.compile(r"^(?:assign|give|hand)\s+(?P<task>\S+)\s+to\s+(?:the\s+)?(?P<owner>.+)$", re.I)
_DROP = re.compile(r"^(?:drop|remove|delete|skip)\s+(?P<task>\S+)$", re.I)
_RETRY = re.compile(r"^retry\s+(?P<task>\S+)$", re.I)
_ADD = re.compile(r"^add\s+(?:(?P<owner>\w+)\s*:\s*)?(?P<title>.+)$", re.I)
_DEADLINE = re.compile(r"^(?:deadline|due)\s+(?P<when>.+)$", re.I)
_GOAL = re.compile(r"^(?:goal|objective|change(?: the)? (?:goal|objective)(?: to)?)\s+(?P<text>.+)$", re.I)


def plan_buttons(plan: Plan) -> Buttons:
    o = plan.objective
    if o.status == "draft":
        return (Button("Approve plan", f"/plan {o.id} approve"), Button("Cancel", f"/plan {o.id} cancel"))
    return ()


@dataclass(frozen=True)
class PlanChat:
    """Who is asking, where, and with what: the context every plan command runs in."""

    memory: MemoryService
    planner: Planner | None
    workspace: str
    operator: str
    conversation: str
    timezone: str
    today: date


async def objective(text: str, chat: PlanChat) -> tuple[str, Buttons, bool]:
    """Draft a plan for an objective. Returns (reply, buttons, ok)."""
    planner, today = chat.planner, chat.today
    if planner is None or not planner.available:
        outcome, _ = split_deadline(text, today=today)
        return (
            "Turning an objective into a plan needs a language model, and none is configured: set "
            "SOLOOS_MODEL_FAST / SOLOOS_MODEL_STRONG (`soloos doctor` shows how). Meanwhile, add its steps "
            f'as tasks ("add task … by Friday"); nothing was saved for “{outcome[:80]}”.',
            (),
            False,
        )
    try:
        drafted = await within(
            planner.tiers.limits.turn_seconds,
            planner.draft(
                text,
                workspace=chat.workspace,
                operator=chat.operator,
                conversation=chat.conversation,
                timezone=chat.timezone,
            ),
        )
    except Exception as err:
        return _planning_failed(err, planner, "no plan was made and nothing was saved"), (), False
    plan = drafted.plan
    reply = (
        render_plan(plan, today)
        + "\n\nNothing runs until you approve. Edit first if you like: "
        + f"`/plan {plan.objective.id} move <step> to <date>`, `assign <step> to me`, `drop <step>`, "
        + "`add research: …`."
    )
    return reply, plan_buttons(plan), True


async def list_plans(chat: PlanChat) -> str:
    plans, today = await chat.memory.plans.all(chat.workspace), chat.today
    if not plans:
        return 'No open plans. State an objective: "/objective Land 3 new retainer clients by March".'
    return "\n".join(["*Plans*"] + [f"- {summary_line(p, today)}" for p in plans])


async def plan_command(objective_id: int, rest: str, chat: PlanChat) -> tuple[str, Buttons]:
    """``/plan <id> [subcommand]``. Business refusals are replies; unknown ids say so."""
    plans, workspace, today = chat.memory.plans, chat.workspace, chat.today
    rest = rest.strip()
    try:
        plan = await plans.get(objective_id, workspace=workspace)
        verb = rest.split(maxsplit=1)[0].lower() if rest else ""
        if not rest or verb in ("show", "details", "results"):
            return render_plan(plan, today, results=verb in ("details", "results")), plan_buttons(plan)
        if verb in ("changes", "history", "diff"):
            return await _history(plan, chat), ()
        if verb == "approve":
            approved = await plans.approve(objective_id, workspace=workspace, operator=plan.objective.operator)
            mine = sum(1 for t in approved.tasks if t.owner == "operator")
            agents = len(approved.tasks) - mine
            theirs = f"The agents start on {_steps(agents)} now and report here" if agents else "No agent steps"
            yours = f"your {_steps(mine)} {'is' if mine == 1 else 'are'} in your task list (type tasks)" if mine else ""
            return (
                f"Plan #{objective_id} approved. {theirs}{'; ' + yours if yours else ''}. "
                f"/plan {objective_id} shows progress.",
                (),
            )
        if verb == "cancel":
            await plans.cancel(objective_id, workspace=workspace)
            return f"Plan #{objective_id} cancelled; its open steps and tasks were cancelled too.", ()
        return await _edit(plan, rest, chat)
    except NotFound as err:
        return f"{_sentence(err)} /plans lists your plans.", ()
    except InvalidInput as err:
        return f"I couldn't do that: {_sentence(err)}", ()


async def _edit(plan: Plan, rest: str, chat: PlanChat) -> tuple[str, Buttons]:
    oid, today = plan.objective.id, chat.today
    if m := _GOAL.match(rest):
        return await _new_goal(plan, m["text"], chat), ()
    if m := _RETRY.match(rest):
        task = _find(plan, m["task"])
        await chat.memory.plans.retry(task.id, workspace=chat.workspace)
        return f"“{task.title}” goes back to the {task.owner} agent with a fresh retry budget, from its checkpoint.", ()
    edits: list[Edit]
    warning = ""
    if m := _MOVE.match(rest):
        step, due = _find(plan, m["task"]), _date(m["when"], today)
        edits = [Edit("move", step.id, due_on=due, why="you moved it")]
        warning = _order_warning(plan, step, due)
    elif m := _ASSIGN.match(rest):
        owner = _OWNER_WORDS.get(m["owner"].strip().lower().removesuffix(" agent"))
        if owner is None:
            return f"Steps can go to: me, {', '.join(OWNERS[1:])}.", ()
        edits = [Edit("reassign", _find(plan, m["task"]).id, owner=owner, why="you asked")]
    elif m := _DROP.match(rest):
        edits = [Edit("drop", _find(plan, m["task"]).id, why="you dropped it")]
    elif m := _DEADLINE.match(rest):
        deadline = _date(m["when"], today)
        edits = [Edit("deadline", due_on=deadline, why="you changed it")]
        edits += [
            Edit("move", t.id, due_on=deadline, why="it was due after the new deadline")
            for t in plan.tasks
            if t.due_on and t.due_on > deadline and t.status not in ("done", "cancelled")
        ]
    elif m := _ADD.match(rest):
        owner = _OWNER_WORDS.get((m["owner"] or "me").lower())
        if owner is None:
            return f"Steps can go to: me, {', '.join(OWNERS[1:])}.", ()
        title, by = split_deadline(m["title"], today=today)
        if by is not None and by < today:
            raise InvalidRecord(f"{by:%a %d %b %Y} is in the past")
        new = NewTask(slug(title), title, owner, "exploratory" if owner == "research" else "deterministic", due_on=by)
        edits = [Edit("add", new_task=new, why="you added it")]
    else:
        return (
            f"I don't know that plan command. Try `/plan {oid} move <step> to <date>`, `assign <step> to me`, "
            "`drop <step>`, `add research: <title>`, `retry <step>`, `deadline <date>`, `goal <new objective>`, "
            "`approve`, `cancel`, `changes`.",
            (),
        )
    _, revision = await chat.memory.plans.revise(
        oid, workspace=chat.workspace, reason="the operator edited the plan", edits=edits
    )
    return _revised(oid, revision) + warning, ()


def _order_warning(plan: Plan, step: PlanTask, due: date) -> str:
    """Moving a step before what it waits for (or after what waits for it) is allowed; say so."""
    lines = []
    for other in plan.tasks:
        if other.status in ("done", "cancelled") or other.due_on is None:
            continue
        if other.id in step.depends_on and other.due_on > due:
            lines.append(f"Note: it waits for “{other.title}”, due {other.due_on:%a %d %b}, so it can't start sooner.")
        if step.id in other.depends_on and other.due_on < due:
            lines.append(f"Note: “{other.title}” waits for it and is due earlier, {other.due_on:%a %d %b}.")
    return "".join(f"\n{line}" for line in lines)


async def _new_goal(plan: Plan, text: str, chat: PlanChat) -> str:
    oid, planner = plan.objective.id, chat.planner
    if planner is None or not planner.available:
        outcome, deadline = split_deadline(text, today=chat.today)
        edits = [Edit("outcome", title=outcome, why="you changed it")]
        if deadline:
            edits.append(Edit("deadline", due_on=deadline, why="you changed it"))
        _, revision = await chat.memory.plans.revise(
            oid, workspace=chat.workspace, reason="the objective changed", edits=edits
        )
        return (
            _revised(oid, revision)
            + "\nThe steps are unchanged: re-planning them needs a language model (`soloos doctor`)."
        )
    try:
        _, revision = await within(
            planner.tiers.limits.turn_seconds,
            planner.replan(
                plan,
                outcome=text,
                reason="you changed the objective",
                workspace=chat.workspace,
                conversation=chat.conversation,
                timezone=chat.timezone,
            ),
        )
    except Exception as err:
        return _planning_failed(err, planner, "I did not re-plan; the plan is unchanged")
    return _revised(oid, revision)


def _planning_failed(err: Exception, planner: Planner, outcome: str) -> str:
    """What the operator reads when planning stopped; ``err`` is raised again when it is not a known cause."""
    said = describe_failure(err, planner.tiers, first="strong", outcome=outcome)
    if said is None:
        raise err
    return said


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _revised(objective_id: int, revision: Revision | None) -> str:
    if revision is None:
        return f"That changes nothing in plan #{objective_id}."
    return render_diff(objective_id, revision.revision, revision.changes)


async def _history(plan: Plan, chat: PlanChat) -> str:
    revisions = await chat.memory.plans.revisions(plan.objective.id)
    zone = ZoneInfo(chat.timezone)
    if not revisions:
        return f"Plan #{plan.objective.id} has not changed since it was made."
    parts = []
    for r in revisions:
        parts.append(
            f"{r.created_at.astimezone(zone):%d %b %H:%M} — {r.reason}\n"
            + render_diff(plan.objective.id, r.revision, r.changes)
        )
    return "\n\n".join(parts)


def _find(plan: Plan, ref: str) -> PlanTask:
    ref = ref.strip().lstrip("#").rstrip(".,")
    for t in plan.tasks:
        if (ref.isascii() and ref.isdigit() and t.id == int(ref)) or t.key == ref.lower():
            return t
    raise NotFound(f"plan #{plan.objective.id} has no step {ref!r} (use the number shown by /plan {plan.objective.id})")


def _date(text: str, today: date) -> date:
    found = parse_day(text, today=today)
    if found is None:
        raise InvalidRecord(f"I can't read {text!r} as a date; try 2026-12-10 or next friday")
    if found < today:
        raise InvalidRecord(f"{found:%a %d %b %Y} is in the past")
    return found


def _sentence(err: Exception) -> str:
    text = str(err)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _chat(ctx: LocalContext) -> PlanChat:
    return PlanChat(
        ctx.memory,
        ctx.planner,
        ctx.workspace,
        ctx.operator,
        ctx.conversation,
        ctx.timezone,
        ctx.memory.clock.today(ctx.timezone),
    )


async def _plans(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await list_plans(_chat(ctx)))


async def _objective(routed: Routed, ctx: LocalContext) -> Reply:
    text, buttons, ok = await objective(routed.text, _chat(ctx))
    return Reply(text, buttons, ok=ok)


async def _plan(routed: Routed, ctx: LocalContext) -> Reply:
    text, buttons = await plan_command(int(routed.args["id"]), routed.text, _chat(ctx))
    return Reply(text, buttons)


COMMANDS = (
    Command(
        "plans",
        _plans,
        (
            phrase(
                170,
                r"^(?:/plans|plans|objectives|goals|(?:show|list)(?: me)?(?: my)? (?:plans|objectives|goals)"
                r"|my plans)$",
            ),
        ),
        name="plans",
        help=(
            "- *plans*: /plans, /plan 3, /plan 3 approve, /plan 3 move 7 to friday, /plan 3 assign 7 to me\n"
            '  (stating an objective — "/objective Land 3 retainer clients by March" — needs a model)'
        ),
        help_order=110,
        menu="your plans and their progress; /plan 3 shows one",
        menu_order=80,
    ),
    Command("plan", _plan, (phrase(180, r"^(?:/plan|plan)\s+#?(?P<id>\d{1,12})(?:\s+(?P<text>.+))?$"),), name="plan"),
    Command(
        "objective",
        _objective,
        (
            phrase(
                190,
                r"^(?:/objective|/goal|/plan|objective:?|goal:|new (?:objective|goal):?|"
                r"my (?:objective|goal) is(?: to)?|"
                r"(?:make|draw up|create|build) (?:me )?a plan (?:to|for))\s+(?P<text>.+)$",
            ),
        ),
        name="objective",
    ),
)

__all__ = ["COMMANDS", "PlanChat", "list_plans", "objective", "plan_buttons", "plan_command"]
