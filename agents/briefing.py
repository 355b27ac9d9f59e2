"""The daily briefing, assembled deterministically from records, approvals, the audit log, the
delivery log, spend and memory: it needs no model, so it arrives even with no key or budget left.

It also draws one small chart (tasks done and model spend over the last 14 days) as a PNG.
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from agents.gate import Gate
from agents.learned import replaced_note, review_buttons, shorten, source_name
from agents.models import Budget
from agents.plan_views import next_for_you, summary_line
from agents.reply import Button
from memory import Delivery, LearnedFacts, MemoryService

CHART_DAYS = 14
LIST_LIMIT = 5
LEARNED_LIMIT = 8  # learned facts listed (each with Keep / Forget); the rest are counted
FIRST_LOOK_BACK = timedelta(days=1)  # what "since the last briefing" means before the first one was sent
LEARNED_HEADING = "Learned since the last briefing (Keep or Forget each):"
_LISTED_FACT = re.compile(r"^(\d+)\. .* \[([0-9a-f]{8})\] \(")


@dataclass(frozen=True)
class Briefing:
    text: str
    chart_png: bytes | None = None
    reported: tuple[int, ...] = field(default=())  # delivery-log rows this briefing tells the operator about
    buttons: tuple[Button, ...] = field(default=())  # Keep / Forget for each learned fact listed


async def assemble(
    memory: MemoryService,
    gate: Gate,
    *,
    workspace: str,
    timezone: str,
    budget: Budget,
    now: datetime | None = None,
    chart: bool = True,
) -> Briefing:
    tz = ZoneInfo(timezone)
    now = now or memory.clock.now()
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + timedelta(days=1)
    since_chart = today - timedelta(days=CHART_DAYS - 1)
    tasks, waiting, done, spend, events = await asyncio.gather(
        memory.records.list_tasks(workspace=workspace, status="open", limit=500),
        gate.pending(workspace),
        gate.actions_since(workspace, today - timedelta(days=1)),
        memory.agent_store.spend_summary(workspace),
        memory.records.events_between(workspace=workspace, start=now, end=tomorrow),
    )
    local_today = today.date()
    overdue_invoices, payments = await asyncio.gather(
        memory.finance.overdue_invoices(workspace, local_today),
        memory.finance.payments_received(workspace, local_today - timedelta(days=1), local_today + timedelta(days=1)),
    )
    plans = await memory.plans.all(workspace)
    misses, highlights, done_days, spend_days = await asyncio.gather(
        asyncio.to_thread(memory.schedules.unreported_sync, workspace),
        _highlights(memory, workspace, now),
        memory.records.done_per_day(workspace=workspace, since=since_chart, timezone=timezone),
        memory.agent_store.spend_per_day(workspace, since=since_chart, timezone=timezone),
    )
    overdue = [t for t in tasks if t.due_at and t.due_at < now]
    due_today = [t for t in tasks if t.due_at and now <= t.due_at < tomorrow]

    lines = [f"*Briefing for {today:%A %d %B}*"]
    if events:
        lines.append(f"Calendar today: {len(events)} event{'s' if len(events) != 1 else ''}.")
        lines += [f"- {e.starts_at.astimezone(tz):%H:%M} {e.title}" for e in events[:LIST_LIMIT]]
    else:
        lines.append("Calendar: nothing scheduled for the rest of today.")
    lines.append(f"Tasks: {len(tasks)} open, {len(due_today)} due today, {len(overdue)} overdue.")
    lines += [f"- overdue: #{t.id} {t.title}" for t in overdue[:LIST_LIMIT]]
    lines += [f"- today: #{t.id} {t.title}" for t in due_today[:LIST_LIMIT]]
    if plans:
        lines.append(f"Plans: {len(plans)} open.")
        for plan in plans[:LIST_LIMIT]:
            lines.append(f"- {summary_line(plan, local_today)}")
            lines += [f"  - next for you: task #{t.task_id} {t.title}" for t in next_for_you(plan)[:2]]
    lines.append(f"Waiting for your approval: {len(waiting)}." if waiting else "Nothing waits for your approval.")
    lines += [f"- {a.action.summary} (code {a.id})" for a in waiting[:LIST_LIMIT]]
    if overdue_invoices:
        lines.append(f"Invoices overdue: {len(overdue_invoices)}.")
        lines += [
            f"- {i.number} {i.client}: {i.outstanding:,.2f} {i.currency}, {i.days_overdue(local_today)} days late"
            for i in overdue_invoices[:LIST_LIMIT]
        ]
    if payments:
        lines.append(f"Payments received since yesterday: {len(payments)}.")
        lines += [
            f"- {p.payer}: {p.amount:,.2f} {p.currency}" + (f" for {p.invoice_number}" if p.invoice_number else "")
            for p in payments[:LIST_LIMIT]
        ]
    if not overdue_invoices and not payments:
        lines.append("Money: no overdue invoices, no payments since yesterday.")
    lines.append(f"Since yesterday: {len(done)} actions done." if done else "No actions since yesterday.")
    lines += [f"- {outcome}" for outcome in done[:LIST_LIMIT]]
    if misses:
        lines.append(f"Not delivered as planned: {len(misses)}.")
        lines += [f"- {describe_miss(m, tz)}" for m in misses[:LIST_LIMIT]]
    lines.append(_spend_line(spend.today, spend.month, budget))
    if highlights:
        lines.append("Worth remembering today:")
        lines += [f"- {text}" for text in highlights]
    learned, buttons = await _learned(memory, workspace, now)
    lines += learned
    png = None
    if chart:
        png = await asyncio.to_thread(_chart, today.date(), done_days, spend_days)
    return Briefing("\n".join(lines), png, tuple(m.id for m in misses), buttons)


async def _learned(memory: MemoryService, workspace: str, now: datetime) -> tuple[list[str], tuple[Button, ...]]:
    """What was learned since the last briefing was delivered, each fact numbered with its Keep /
    Forget buttons; nothing at all when nothing was learned."""
    store = LearnedFacts(memory)
    since = await store.last_briefing_at(workspace) or now - FIRST_LOOK_BACK
    facts, total = await store.since(workspace, since, limit=LEARNED_LIMIT)
    if not facts:
        return [], ()
    lines = [LEARNED_HEADING]
    buttons: list[Button] = []
    for number, fact in enumerate(facts, start=1):
        lines.append(
            f"{number}. {shorten(fact.item.text, 200)} [{fact.item.short_id}] ({source_name(fact.item.source)}"
            f"{replaced_note(fact)})"
        )
        buttons += review_buttons(number, fact.item.short_id)
    if total > len(facts):
        lines.append(f"…and {total - len(facts)} more — /memory learned")
    return lines, tuple(buttons)


def buttons_of(text: str) -> tuple[Button, ...]:
    """The Keep / Forget buttons of a briefing's text as it was sent (a delivery tried again)."""
    _, heading, listed = text.partition(LEARNED_HEADING)
    if not heading:
        return ()
    buttons: list[Button] = []
    for line in listed.splitlines()[1:]:
        found = _LISTED_FACT.match(line)
        if found is None:
            break
        buttons += review_buttons(int(found.group(1)), found.group(2))
    return tuple(buttons)


def describe_miss(delivery: Delivery, tz: ZoneInfo) -> str:
    """One line about a run or a send that did not go as planned, with its content."""
    when = delivery.fire_at.astimezone(tz).strftime("%a %d %b %H:%M")
    what = {"briefing": "daily briefing", "notice": f"notice “{delivery.body[:120]}”"}.get(
        delivery.kind, f"reminder “{delivery.body[:120]}”"
    )
    if delivery.job_status == "missed":
        return f"{when} {what}: missed while SoloOS was not running"
    if delivery.job_status == "failed":
        return f"{when} {what}: could not be prepared ({delivery.last_error})"
    if delivery.delivery_status == "uncertain":
        return f"{when} {what}: may not have arrived (SoloOS stopped while sending)"
    return f"{when} {what}: could not be delivered ({delivery.last_error})"


def _spend_line(today: Decimal, month: Decimal, budget: Budget) -> str:
    def share(spent: Decimal, cap: Decimal) -> str:
        return f"{spent / cap:.0%} of ${cap:.2f}" if cap > 0 else "no cap"

    return (
        f"Model spend: ${today:.2f} today ({share(today, budget.daily)}), "
        f"${month:.2f} this month ({share(month, budget.monthly)})."
    )


async def _highlights(memory: MemoryService, workspace: str, now: datetime) -> list[str]:
    """Up to three memories the operator stated or confirmed: rules first, then what was noted in the last week."""
    items = await memory.list(workspace, limit=40, include_history=False)
    items = [m for m in items if m.confirmed]  # what came from outside is not a highlight until confirmed
    rules = [m.text + " (rule)" for m in items if m.layer == "institutional"][:2]
    recent = [m.text for m in items if m.layer == "project" and m.occurred_at >= now - timedelta(days=7)]
    return (rules + recent)[:3]


def _chart(last_day: date, done: dict[date, int], spend: dict[date, Decimal]) -> bytes:
    from matplotlib.figure import Figure  # the object API: no pyplot global state, safe in a thread
    from matplotlib.ticker import MaxNLocator

    days = [last_day - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    figure = Figure(figsize=(6, 2.4), dpi=100)
    tasks_axis = figure.add_subplot()
    counts = [done.get(d, 0) for d in days]
    tasks_axis.bar(range(len(days)), counts, color="#4c78a8", label="tasks done")
    tasks_axis.set_ylabel("tasks done")
    tasks_axis.set_ylim(0, max(1, *counts) * 1.15)
    tasks_axis.set_xticks(range(len(days)), [f"{d:%d}" for d in days], fontsize=7)
    tasks_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    spend_axis = tasks_axis.twinx()
    costs = [float(spend.get(d, 0)) for d in days]
    spend_axis.plot(range(len(days)), costs, color="#f58518", marker=".")
    spend_axis.set_ylabel("model spend $")
    spend_axis.set_ylim(0, max(0.01, *costs) * 1.15)
    tasks_axis.set_title(f"Last {CHART_DAYS} days: tasks done (bars) and model spend (line)", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
