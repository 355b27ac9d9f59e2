"""Tasks: add one (with a due date when the phrasing has a clear one), list the open ones, mark one done."""

from __future__ import annotations

from agents.commands._base import Command, LocalContext, Routed, audited, phrase, when
from agents.reply import Reply
from agents.when import split_due
from memory import NotFound


async def _add(routed: Routed, ctx: LocalContext) -> Reply:
    title, due = split_due(routed.text, now=ctx.memory.clock.now(), timezone=ctx.timezone)
    task = await ctx.memory.records.add_task(title, workspace=ctx.workspace, due_at=due, source=ctx.source)
    await audited(ctx, "task.create", f"added task #{task.id}: {task.title}", {"kind": "task.delete", "id": task.id})
    suffix = f", due {when(due, ctx.timezone)}" if due else ""
    return Reply(f"Added task #{task.id}: {task.title}{suffix}.")


async def _list(routed: Routed, ctx: LocalContext) -> Reply:
    tasks = await ctx.memory.records.list_tasks(workspace=ctx.workspace, status="open")
    if not tasks:
        return Reply('No open tasks. Add one with "add task …".')
    now = ctx.memory.clock.now()
    lines = [f"Open tasks ({len(tasks)}):"]
    for t in tasks:
        due = ""
        if t.due_at:
            due = f" — {'OVERDUE, was ' if t.due_at < now else ''}due {when(t.due_at, ctx.timezone)}"
        lines.append(f"- #{t.id} {t.title}{due}")
    return Reply("\n".join(lines))


async def _done(routed: Routed, ctx: LocalContext) -> Reply:
    task_id = int(routed.args["id"])
    try:
        task = await ctx.memory.records.complete_task(task_id, workspace=ctx.workspace)
    except NotFound:
        return Reply(f"There is no task #{task_id}. Type tasks to see the open ones.")
    await audited(
        ctx, "task.complete", f"completed task #{task.id}: {task.title}", {"kind": "task.reopen", "id": task.id}
    )
    return Reply(f"Done: #{task.id} {task.title}.")


COMMANDS = (
    Command(
        "task_list",
        _list,
        (
            phrase(
                220,
                r"^(?:/tasks|tasks|todos?|to-?do list|(?:show|list)(?: me)?(?: all)?(?: my| the)?"
                r" (?:open )?(?:tasks|todos?)|what(?:'s| is| are)?(?: on)? my (?:tasks|todos?|to-?do list|list)"
                r"|what do i (?:have|need) to do(?: today)?)$",
            ),
        ),
        name="tasks",
        menu="open tasks",
        menu_order=40,
        slack=True,
    ),
    Command(
        "task_done",
        _done,
        (
            phrase(
                230,
                r"^(?:/done|done|finished|complete|completed|mark)\s+(?:task\s+)?#?(?P<id>\d+)(?:\s+(?:as\s+)?done)?$",
            ),
            phrase(240, r"^(?:i )?(?:finished|completed|did|done with)\s+(?:task\s+)?#?(?P<id>\d+)$"),
        ),
        name="done",
    ),
    Command(
        "task_add",
        _add,
        (phrase(250, r"^(?:/task|/todo|todo:?|task:|add (?:a )?(?:task|todo)(?: to)?:?|new task:?)\s+(?P<text>.+)$"),),
        name="task",
        help='- *tasks*: "add task send invoice to Acme by Friday", "tasks", "done 3"',
        help_order=40,
        needs_text=True,
    ),
)

__all__ = ["COMMANDS"]
