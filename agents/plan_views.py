"""How plans read in chat and in the briefing: the plan itself, its progress, and its diffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from memory import Change, Plan, PlanTask

# Minutes an agent task is assumed to save the operator, by owner: a stated estimate (D24), shown
# as "about", never as a measurement.
MINUTES_SAVED = {"research": 45, "drafting": 30, "finance": 20, "scheduling": 15}

_MARK = {
    "pending": "○",
    "running": "◐",
    "done": "✓",
    "failed": "✗",
    "escalated": "⚠",
    "cancelled": "–",
}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    overdue: int
    waiting_for_you: int
    failing: int
    minutes_saved: int

    @property
    def hours_saved(self) -> str:
        return f"{self.minutes_saved / 60:.1f}"


def progress(plan: Plan, today: date) -> Progress:
    live = [t for t in plan.tasks if t.status != "cancelled"]
    return Progress(
        done=sum(1 for t in live if t.status == "done"),
        total=len(live),
        overdue=len(plan.overdue(today)),
        waiting_for_you=len(next_for_you(plan)),
        failing=sum(1 for t in live if t.status == "failed"),
        minutes_saved=sum(MINUTES_SAVED.get(t.owner, 0) for t in live if t.status == "done" and t.task_id is None),
    )


def next_for_you(plan: Plan) -> list[PlanTask]:
    """The operator's steps that can be done now (everything they wait for is done)."""
    status = {t.id: t.status for t in plan.tasks}
    return [
        t
        for t in plan.tasks
        if t.status in ("pending", "escalated")
        and t.task_id is not None
        and all(status.get(d) in ("done", "cancelled") for d in t.depends_on)
    ]


def summary_line(plan: Plan, today: date) -> str:
    """``#3 Land 3 new retainer clients (by Wed 31 Mar) — 4/12 done, 1 overdue, 2 for you, ~1.5 h saved``"""
    o = plan.objective
    p = progress(plan, today)
    parts = [f"{p.done}/{p.total} done"]
    if p.overdue:
        parts.append(f"{p.overdue} overdue")
    if p.waiting_for_you:
        parts.append(f"{p.waiting_for_you} for you")
    if p.failing:
        parts.append(f"{p.failing} retrying")
    if p.minutes_saved:
        parts.append(f"~{p.hours_saved} h saved")
    by = f" (by {o.deadline:%a %d %b %Y})" if o.deadline else ""
    state = {"draft": " [draft: waiting for your approval]", "cancelled": " [cancelled]", "done": " [done]"}.get(
        o.status, ""
    )
    return f"#{o.id} {o.outcome}{by}{state} — {', '.join(parts)}"


def render_plan(plan: Plan, today: date, *, results: bool = False) -> str:
    o = plan.objective
    lines = [f"*Plan #{o.id}: {o.outcome}*"]
    if o.status != "active":
        lines.append({"draft": "Draft: waiting for your approval."}.get(o.status, f"Status: {o.status}."))
    if o.deadline:
        lines.append(f"Deadline: {o.deadline:%a %d %b %Y}.")
    if o.success_measure:
        lines.append(f"Success measure: {o.success_measure}")
    by_project: dict[int | None, list[PlanTask]] = {}
    for t in plan.tasks:
        by_project.setdefault(t.project_id, []).append(t)
    for project in plan.projects:
        lines.append(f"*{project.position}. {project.title}*")
        for t in by_project.get(project.id, []):
            lines.append(_task_line(t, today))
            if results and t.result:
                lines.append(f"    → {t.result[:300]}")
    loose = by_project.get(None, [])
    if loose:
        lines.append("*Other*")
        lines += [_task_line(t, today) for t in loose]
    p = progress(plan, today)
    lines.append(f"Progress: {p.done}/{p.total} done, {p.overdue} overdue, about {p.hours_saved} h of your time saved.")
    return "\n".join(lines)


def _task_line(t: PlanTask, today: date) -> str:
    who = "you" if t.owner == "operator" or t.status == "escalated" else t.owner
    due = f", due {t.due_on:%a %d %b}" if t.due_on else ""
    late = " OVERDUE" if t.due_on and t.due_on < today and t.status not in ("done", "cancelled") else ""
    after = f", after {', '.join(str(d) for d in t.depends_on)}" if t.depends_on else ""
    extra = ""
    if t.status == "failed":
        extra = f" — failed (attempt {t.attempts}/{t.max_attempts}): {(t.error or '')[:120]}"
    elif t.status == "escalated":
        extra = f" — handed to you: {(t.error or '')[:120]}"
    mode = f" [{t.mode}]" if t.owner != "operator" else ""
    return f"{_MARK[t.status]} {t.id}. {t.title} ({who}{mode}{due}{after}){late}{extra}"


def describe_change(change: Change) -> str:
    why = f" because {change.why}" if change.why else ""
    match change.kind:
        case "moved":
            return f"moved “{change.task}” from {change.before} to {change.after}{why}"
        case "added":
            return f"added “{change.task}” ({change.after}){why}"
        case "removed":
            return f"removed “{change.task}”{why}"
        case "reassigned":
            return f"gave “{change.task}” to {_who(change.after)} instead of {_who(change.before)}{why}"
        case "reordered":
            return f"“{change.task}” now waits for {change.after} instead of {change.before}{why}"
        case "renamed":
            return f"renamed “{change.before}” to “{change.after}”{why}"
        case "objective":
            return f"changed the objective from “{change.before}” to “{change.after}”{why}"
        case "deadline":
            return f"changed the deadline from {change.before} to {change.after}{why}"
        case _:
            return f"handed “{change.task}” to you{why}"


def _who(owner: str | None) -> str:
    return "you" if owner in ("operator", "you") else f"the {owner} agent"


def render_diff(plan_id: int, revision: int, changes: tuple[Change, ...] | list[Change]) -> str:
    head = f"Plan #{plan_id} changed (revision {revision}):"
    return "\n".join([head] + [f"- {describe_change(c)}" for c in changes])


__all__ = [
    "MINUTES_SAVED",
    "Progress",
    "describe_change",
    "next_for_you",
    "progress",
    "render_diff",
    "render_plan",
    "summary_line",
]
