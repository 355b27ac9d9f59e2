"""The local tier: answers routed requests from memory and records, with no model.

It reads and writes only through the memory package's API; replies are plain text with a small
Markdown subset (``*bold*``, ``- `` bullets) that every channel can render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agents import intake, local_chase, local_drafts, local_plans, local_reminders, status
from agents.briefing import assemble
from agents.gate import Gate
from agents.models import Budget
from agents.planner import Planner
from agents.router import Routed, subject_of
from agents.status import SloTargets
from agents.when import split_due
from memory import MODES, InvalidMemory, Layer, MemoryHit, MemoryService, NotFound

HELP = """I'm SoloOS, your business assistant. Without a language model I can already:
- *remember* facts: "remember that Acme pays net 30", "note: Jane prefers calls"
- keep *rules*: "always CC my accountant on invoices"
- *recall*: "what do you know about Acme?", "what is our hourly rate?"
- *tasks*: "add task send invoice to Acme by Friday", "tasks", "done 3"
- *forget*: "forget acme rate" (I'll show what matches first)
- list *memories*: "show my memories"
- *approvals*: /approvals, approve <code>, deny <code>, edit <code> body: …, /why, /undo
- *spend and modes*: /usage, /mode exploratory|deterministic|creative; /status (service levels)
- *reminders*: "remind me tomorrow at 9 to call Acme", "every Monday at 8am review invoices", /reminders
- *briefing*: /brief now, /brief at 07:30 every day, /brief off; /timezone Europe/Paris
- *plans*: /plans, /plan 3, /plan 3 approve, /plan 3 move 7 to friday, /plan 3 assign 7 to me
  (stating an objective — "/objective Land 3 retainer clients by March" — needs a model)
- *money*: "which invoices are overdue?", "who paid this week?" (after `soloos bank import`),
  "chase INV-42" or "chase overdue invoices" (drafts payment reminders for your approval)
- *drafts*: /drafts, /draft <number> (versions and inputs), send draft <number>, discard draft <number>
- *leads*: "new lead: Jane Doe <jane@example.com> wants a website redesign", /leads (response times)
Drafting, research and planning need a model; `soloos doctor` shows how to set one up."""

RECALL_LIMIT = 5


@dataclass(frozen=True)
class LocalContext:
    memory: MemoryService
    gate: Gate
    workspace: str
    operator: str
    intent_key: str
    timezone: str
    source: str
    model_configured: bool
    budget: Budget
    conversation: str = ""  # where replies (and reminders set here) go
    signature: str = ""  # how drafts are signed
    slo: SloTargets = field(default_factory=SloTargets)
    planner: Planner | None = None  # turns objectives into plans; None or unavailable without a model


@dataclass(frozen=True)
class Answer:
    """What the agents say back: text, and choices the channel renders as buttons."""

    text: str
    choices: tuple[tuple[str, str], ...] = ()  # (label, command)
    ok: bool = True
    image_png: bytes | None = None


def approval_choices(token: str) -> tuple[tuple[str, str], ...]:
    return (("Approve", f"/approve {token}"), ("Deny", f"/deny {token}"), ("Details", f"/details {token}"))


def needs_model_message(model_configured: bool) -> str:
    if model_configured:
        return "That needs a model, and the configured model could not be used; `soloos doctor` shows why."
    return (
        "That needs a language model, and none is configured: set SOLOOS_MODEL_FAST (for example "
        "openai-chat:gpt-4o-mini with OPENAI_API_KEY, or an Ollama model with OLLAMA_BASE_URL). "
        "Meanwhile I can remember, recall, forget and manage tasks — type help."
    )


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return (
        local.strftime("%a %d %b %Y %H:%M") if (local.hour, local.minute) != (0, 0) else local.strftime("%a %d %b %Y")
    )


def _day(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d %b %Y")


async def answer(routed: Routed, ctx: LocalContext) -> Answer:
    """Handle a routed request. Business refusals come back as text; system failures raise."""
    match routed.kind:
        case "approvals":
            return await _approvals(ctx)
        case "approve" | "deny":
            return Answer(
                await ctx.gate.decide_approval(
                    routed.args["token"], operator=ctx.operator, approve=routed.kind == "approve"
                )
            )
        case "details":
            return await _details(routed.args["token"], ctx)
        case "edit":
            return await _edit(routed.args["token"], routed.args["field"], routed.text, ctx)
        case "why":
            return Answer(await ctx.gate.explain(ctx.workspace, routed.args.get("ref", "")))
        case "undo":
            return Answer(await ctx.gate.undo_last(workspace=ctx.workspace, operator=ctx.operator))
        case "usage":
            return Answer(await _usage(ctx))
        case "brief":
            if routed.args.get("when"):
                return Answer(await local_reminders.brief_schedule(routed.args["when"], ctx))
            return await _brief(ctx)
        case "remind":
            return await local_reminders.remind(routed.text, ctx)
        case "reminders":
            return await local_reminders.list_reminders(ctx)
        case "reminder_cancel":
            return Answer(await local_reminders.cancel(int(routed.args["id"]), ctx))
        case "reminder_snooze":
            return Answer(await local_reminders.snooze(int(routed.args["id"]), routed.text, ctx))
        case "timezone":
            return Answer(await local_reminders.set_timezone(routed.text, ctx))
        case "chase":
            return await local_chase.chase(routed.text, ctx)
        case "status":
            found = await status.assemble(ctx.memory, workspace=ctx.workspace, budget=ctx.budget, targets=ctx.slo)
            return Answer(found.text, image_png=found.chart_png)
        case "mode":
            return Answer(await _mode(routed.args.get("mode"), ctx))
        case "plans" | "plan" | "objective":
            return await _plans(routed, ctx)
        case "drafts":
            return await local_drafts.list_drafts(ctx)
        case "draft_show":
            return await local_drafts.show_draft(int(routed.args["id"]), ctx)
        case "draft_send":
            return await local_drafts.send_draft(int(routed.args["id"]), routed.args.get("to"), ctx)
        case "draft_discard":
            return await local_drafts.discard_draft(int(routed.args["id"]), ctx)
        case "needs_model" if routed.args.get("draft"):
            return local_drafts.revise_needs_model(routed.args["draft"], ctx)
        case "lead":
            return await intake.chat_lead(routed.text, ctx)
        case "leads":
            return await intake.leads_report(ctx)
    return Answer(await _answer_text(routed, ctx))


async def _answer_text(routed: Routed, ctx: LocalContext) -> str:
    match routed.kind:
        case "empty":
            return "That message was empty, so there is nothing to do. Type help to see what I can do."
        case "help":
            unknown = routed.args.get("unknown_command")
            prefix = f"I don't know the command /{unknown}.\n\n" if unknown else ""
            return prefix + HELP
        case "greet":
            return "Hello! Tell me something to remember, ask what I know, or type help."
        case "remember":
            return await _remember(routed.text, "project", ctx)
        case "rule":
            return await _remember(routed.text, "institutional", ctx)
        case "recall":
            return await _recall(routed.text, ctx)
        case "memories":
            return await _memories(ctx)
        case "task_add":
            return await _task_add(routed.text, ctx)
        case "task_list":
            return await _task_list(ctx)
        case "task_done":
            return await _task_done(int(routed.args["id"]), ctx)
        case "forget":
            return await _forget(routed.text, ctx)
        case _:  # needs_model; the dispatcher sends it here only when no model can take it
            message = needs_model_message(ctx.model_configured)
            if subject_of(routed.text) and not routed.text.rstrip().endswith("?"):  # "X is Y": a fact
                message += f"\nIf that was a fact to keep, say: remember {routed.text.strip()[:80]}"
            return message


async def _remember(text: str, layer: Layer, ctx: LocalContext) -> str:
    subject = subject_of(text)
    if layer == "project" and subject is None:
        item = await ctx.memory.add_note(text, workspace=ctx.workspace, source=ctx.source)
    else:
        item = await ctx.memory.remember(
            text,
            layer=layer,
            workspace=ctx.workspace,
            source=ctx.source,
            subject=subject,
        )
    if item.duplicate:
        return f"I already knew that (since {_day(item.created_at, ctx.timezone)}), so I kept the original."
    await _audited(ctx, "memory.write", f"remembered: {item.text[:200]}", {"kind": "memory.delete", "id": str(item.id)})
    what = "rule" if layer == "institutional" else "that"
    reply = f"Noted {what}: {item.text} [{item.short_id}]"
    if item.replaces:
        reply += f"\nThis replaces what I had before: {item.replaces[0]}"
    return reply


async def _audited(ctx: LocalContext, action_type: str, outcome: str, undo: dict[str, object]) -> None:
    """Record what the operator did, with how to undo it."""
    await ctx.gate.record_operator_action(
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        action_type=action_type,
        outcome=outcome,
        undo=undo,
    )


def _format_hit(hit: MemoryHit, timezone: str) -> str:
    label = " (rule)" if hit.layer == "institutional" else ""
    return f"- {hit.text}{label} — {_day(hit.occurred_at, timezone)} [{hit.short_id}]"


async def _recall(query: str, ctx: LocalContext) -> str:
    hits = await ctx.memory.recall(query, workspace=ctx.workspace, k=RECALL_LIMIT, layers=["project", "institutional"])
    tasks = await ctx.memory.records.list_tasks(workspace=ctx.workspace, status="open")
    words = {w for w in query.lower().split() if len(w) > 2}
    related = [t for t in tasks if words & set(t.title.lower().split())]
    if not hits and not related:
        return f'I don\'t know anything about {query} yet. Tell me with "remember …".'
    lines = [f"What I know about {query}:"] + [_format_hit(h, ctx.timezone) for h in hits]
    if related:
        lines.append("Open tasks:")
        lines += [f"- #{t.id} {t.title}" for t in related[:5]]
    return "\n".join(lines)


async def _memories(ctx: LocalContext) -> str:
    items = await ctx.memory.list(ctx.workspace, limit=15, include_history=False)
    items = [i for i in items if i.layer != "working"]
    if not items:
        return "I have no memories in this workspace yet."
    lines = ["Latest memories:"]
    lines += [f"- {i.text}{' (rule)' if i.layer == 'institutional' else ''} [{i.short_id}]" for i in items]
    return "\n".join(lines)


async def _task_add(text: str, ctx: LocalContext) -> str:
    title, due = split_due(text, now=datetime.now(UTC), timezone=ctx.timezone)
    task = await ctx.memory.records.add_task(title, workspace=ctx.workspace, due_at=due, source=ctx.source)
    await _audited(ctx, "task.create", f"added task #{task.id}: {task.title}", {"kind": "task.delete", "id": task.id})
    suffix = f", due {_when(due, ctx.timezone)}" if due else ""
    return f"Added task #{task.id}: {task.title}{suffix}."


async def _task_list(ctx: LocalContext) -> str:
    tasks = await ctx.memory.records.list_tasks(workspace=ctx.workspace, status="open")
    if not tasks:
        return 'No open tasks. Add one with "add task …".'
    now = datetime.now(UTC)
    lines = [f"Open tasks ({len(tasks)}):"]
    for t in tasks:
        due = ""
        if t.due_at:
            due = f" — {'OVERDUE, was ' if t.due_at < now else ''}due {_when(t.due_at, ctx.timezone)}"
        lines.append(f"- #{t.id} {t.title}{due}")
    return "\n".join(lines)


async def _task_done(task_id: int, ctx: LocalContext) -> str:
    try:
        task = await ctx.memory.records.complete_task(task_id, workspace=ctx.workspace)
    except NotFound:
        return f"There is no task #{task_id}. Type tasks to see the open ones."
    await _audited(
        ctx, "task.complete", f"completed task #{task.id}: {task.title}", {"kind": "task.reopen", "id": task.id}
    )
    return f"Done: #{task.id} {task.title}."


async def _forget(what: str, ctx: LocalContext) -> str:
    try:
        item = await ctx.memory.forget(what, workspace=ctx.workspace)
        return f"Forgotten: {item.text}"
    except (InvalidMemory, NotFound):
        pass  # not an id: treat it as a description
    hits = await ctx.memory.recall(what, workspace=ctx.workspace, k=3, mode="text")
    if not hits:
        hits = await ctx.memory.recall(what, workspace=ctx.workspace, k=3)
        if hits:
            return 'I\'m not sure which memory you mean. Say "forget <id>" with one of these:\n' + "\n".join(
                _format_hit(h, ctx.timezone) for h in hits
            )
        return f"I have nothing matching {what!r}, so there is nothing to forget."
    if len(hits) == 1:  # exactly one memory contains those words
        item = await ctx.memory.forget(hits[0].id, workspace=ctx.workspace)
        return f"Forgotten: {item.text}"
    return 'Several memories match. Say "forget <id>" with the one you mean:\n' + "\n".join(
        _format_hit(h, ctx.timezone) for h in hits
    )


async def _approvals(ctx: LocalContext) -> Answer:
    from agents.runner import describe_approval

    waiting = await ctx.gate.pending(ctx.workspace)
    if not waiting:
        return Answer("Nothing is waiting for your approval.")
    parts = [f"{len(waiting)} waiting for your approval:"]
    parts += [f"{n}. {describe_approval(a)}" for n, a in enumerate(waiting, start=1)]
    choices = approval_choices(waiting[0].id) if len(waiting) == 1 else ()
    if len(waiting) > 1:
        parts.append("Say approve <code> or deny <code>.")
    return Answer("\n\n".join(parts), choices)


async def _details(token: str, ctx: LocalContext) -> Answer:
    from agents.runner import describe_approval

    waiting = {a.id: a for a in await ctx.gate.pending(ctx.workspace)}
    if token in waiting:
        return Answer(describe_approval(waiting[token], full=True), approval_choices(token))
    return Answer(await ctx.gate.explain(ctx.workspace, token))


async def _usage(ctx: LocalContext) -> str:
    summary = await ctx.memory.agent_store.spend_summary(ctx.workspace)
    lines = [f"Model spend: ${summary.today:.4f} today, ${summary.month:.4f} this month."]
    if summary.lines:
        lines.append("This month by agent and tier:")
        lines += [
            f"- {line.agent} ({line.tier}): {line.requests} requests, {line.cached} from cache, ${line.cost:.4f}"
            for line in summary.lines
        ]
    else:
        lines.append("No model requests this month; the local tier costs nothing.")
    return "\n".join(lines)


async def _mode(mode: str | None, ctx: LocalContext) -> str:
    store = ctx.memory.agent_store
    if mode is None:
        current = await store.get_mode(ctx.workspace, ctx.operator)
        return (
            f"Mode: {current}. Modes: exploratory (gathers, takes no actions), deterministic (follows your "
            "rules exactly), creative (offers variants). Say /mode <name> to change."
        )
    if mode not in MODES:
        return f"There is no {mode!r} mode; choose exploratory, deterministic or creative."
    await store.set_mode(ctx.workspace, ctx.operator, mode)
    return f"Mode set to {mode}."


async def _edit(token: str, field: str, value: str, ctx: LocalContext) -> Answer:
    text, still_pending = await ctx.gate.edit_approval(token, operator=ctx.operator, field=field, value=value)
    if not still_pending:
        return Answer(text)
    return Answer(text + "\n\n" + (await _details(token, ctx)).text, approval_choices(token))


async def _plans(routed: Routed, ctx: LocalContext) -> Answer:
    chat = local_plans.PlanChat(
        ctx.memory,
        ctx.planner,
        ctx.workspace,
        ctx.operator,
        ctx.conversation,
        ctx.timezone,
        local_plans.today_in(ctx.timezone),
    )
    if routed.kind == "plans":
        return Answer(await local_plans.list_plans(chat))
    if routed.kind == "objective":
        text, choices, ok = await local_plans.objective(routed.text, chat)
        return Answer(text, choices, ok=ok)
    text, choices = await local_plans.plan_command(int(routed.args["id"]), routed.text, chat)
    return Answer(text, choices)


async def _brief(ctx: LocalContext) -> Answer:
    """Today's briefing now, with its chart."""
    briefing = await assemble(ctx.memory, ctx.gate, workspace=ctx.workspace, timezone=ctx.timezone, budget=ctx.budget)
    if briefing.reported:
        await ctx.memory.schedules.mark_reported(list(briefing.reported))
    return Answer(briefing.text, image_png=briefing.chart_png)
