"""Leads in chat: "new lead: Jane Doe <jane@example.com> wants a website redesign" (taken in as a
contact, a memory, a first reply held for approval and a follow-up task, by ``agents.intake``) and
``/leads`` with how fast each got a reply."""

from __future__ import annotations

import statistics
from datetime import timedelta
from zoneinfo import ZoneInfo

from agents.commands._base import Command, LocalContext, Routed, approval_buttons, phrase
from agents.intake import lead_from_chat, take_lead
from agents.reply import Reply
from agents.runner import describe_approval


async def _lead(routed: Routed, ctx: LocalContext) -> Reply:
    """ "new lead: Jane Doe <jane@foo.test> wants a website redesign" — no model needed."""
    lead = lead_from_chat(routed.text, ctx.memory.clock.now())
    if lead is None:
        return Reply("Tell me who: new lead: Jane Doe <jane@example.com> wants a website redesign.")
    mode = await ctx.memory.agent_store.get_mode(ctx.workspace, ctx.operator)
    taken = await take_lead(
        lead,
        memory=ctx.memory,
        gate=ctx.gate,
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        timezone=ctx.timezone,
        signature=ctx.signature or ctx.operator,
        mode=mode,
    )
    if taken.approval is None:
        return Reply(taken.text)
    return Reply(
        taken.text + "\n\n" + describe_approval(taken.approval, full=True), approval_buttons(taken.approval.id)
    )


def duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days {hours % 24} h"


async def _leads(routed: Routed, ctx: LocalContext) -> Reply:
    """``/leads``: each lead with its state and how long the first reply took."""
    leads = await ctx.memory.intakes.list(ctx.workspace)
    if not leads:
        return Reply('No leads yet. New senders\' first e-mails become leads, or say "new lead: <name> <address> …".')
    now = ctx.memory.clock.now()
    tz = ZoneInfo(ctx.timezone)
    lines = [f"Leads ({len(leads)}):"]
    answered = []
    for lead in leads:
        where = f" <{lead.email}>" if lead.email else ""
        seen = lead.first_seen_at.astimezone(tz)
        if lead.response_time is not None:
            answered.append(lead.response_time)
            state = f"replied in {duration(lead.response_time)}"
        elif lead.approval_id:
            state = f"reply waiting for your approval ({lead.approval_id}), {duration(now - lead.first_seen_at)} so far"
        else:
            state = f"not answered yet, {duration(now - lead.first_seen_at)} so far"
        lines.append(f"- {lead.name}{where} — {lead.need} ({lead.channel}, {seen:%d %b %H:%M}): {state}")
    if answered:
        middle = timedelta(seconds=statistics.median(span.total_seconds() for span in answered))
        lines.append(f"Median response time: {duration(middle)} over {len(answered)} answered.")
    return Reply("\n".join(lines))


COMMANDS = (
    Command(
        "lead",
        _lead,
        (phrase(410, r"^(?:/lead|new lead:?|lead:)\s+(?P<text>.+)$"),),
        name="lead",
        help='- *leads*: "new lead: Jane Doe <jane@example.com> wants a website redesign", /leads (response times)',
        help_order=140,
    ),
    Command(
        "leads",
        _leads,
        (phrase(420, r"^(?:/leads|leads|(?:show|list)(?: me)?(?: all)?(?: my| the)?(?: new)? leads)$"),),
        name="leads",
        menu="new leads and how fast they got a reply",
        menu_order=100,
    ),
)

__all__ = ["COMMANDS", "duration"]
