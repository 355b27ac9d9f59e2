"""Drafts in chat without a model: list them, show one with its versions and inputs, send one through
the policy gate, discard one. Revising needs a model; without one the reply says so."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from agents import drafts
from memory import Draft, NotFound
from policies import Approval

if TYPE_CHECKING:
    from agents.local_tier import Answer, LocalContext


def _inputs_line(draft: Draft) -> str:
    inputs = draft.inputs
    shown = {k: v for k, v in inputs.items() if v not in (None, "", {}, []) and k not in ("kind", "counterparty")}
    if "base" in shown:
        shown["base"] = f"#{shown['base']}"
    return json.dumps(shown, ensure_ascii=False)[:600]


async def list_drafts(ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer

    latest = await ctx.memory.drafts.latest(ctx.workspace, limit=30)
    if not latest:
        return Answer("No drafts yet. Ask me to draft an e-mail or a proposal (that needs a model).")
    lines = [f"Drafts ({len(latest)}), newest first:"] + [f"- {drafts.describe(d)}" for d in latest]
    lines.append("/draft <number> shows one; send draft <number>; discard draft <number>.")
    return Answer("\n".join(lines))


async def show_draft(draft_id: int, ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer, approval_choices

    try:
        draft = await ctx.memory.drafts.get(ctx.workspace, draft_id)
    except NotFound:
        return Answer(f"There is no draft #{draft_id}. /drafts lists them.")
    zone = ZoneInfo(ctx.timezone)
    history = await ctx.memory.drafts.history(ctx.workspace, draft.thread)
    lines = [f"*{drafts.describe(draft)}*", f"Subject: {draft.subject}", "", draft.body, "", "Versions:"]
    for version in history:
        mark = " ← this one" if version.id == draft.id else ""
        made = version.created_at.astimezone(zone)
        lines.append(
            f"- v{version.version} #{version.id} by {version.created_by}, {made:%d %b %H:%M}, {version.status}{mark}: "
            + _inputs_line(version)
        )
    if draft.status == "awaiting approval" and draft.approval_id:  # decide it from here too
        lines.append(f"Its send waits for your approval (code {draft.approval_id}).")
        return Answer("\n".join(lines), approval_choices(draft.approval_id))
    return Answer("\n".join(lines))


async def send_draft(draft_id: int, to: str | None, ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer, approval_choices
    from agents.runner import describe_approval

    mode = await ctx.memory.agent_store.get_mode(ctx.workspace, ctx.operator)
    result = await drafts.send(
        ctx.memory,
        ctx.gate,
        draft_id,
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        mode=mode,
        to=to,
    )
    if isinstance(result, Approval):
        return Answer(describe_approval(result, full=True), approval_choices(result.id))
    return Answer(result)


async def discard_draft(draft_id: int, ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer

    try:
        draft = await ctx.memory.drafts.get(ctx.workspace, draft_id)
    except NotFound:
        return Answer(f"There is no draft #{draft_id}. /drafts lists them.")
    if draft.status in ("sent", "queued"):
        return Answer(f"Draft #{draft.id} is already {draft.status}; discarding it now would not unsend it.")
    draft = await ctx.memory.drafts.set_status(ctx.workspace, draft.id, "discarded")
    await ctx.gate.record_operator_action(
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        action_type="draft.discard",
        outcome=f"discarded draft #{draft.id} “{draft.title}”",
        undo=None,
    )
    note = ""
    if draft.approval_id:
        note = f" Its send approval {draft.approval_id} is still open: deny {draft.approval_id} to drop it too."
    return Answer(f"Discarded draft #{draft.id} “{draft.title}” (v{draft.version}).{note}")


def revise_needs_model(draft_id: str, ctx: LocalContext) -> Answer:
    from agents.local_tier import Answer, needs_model_message

    return Answer(
        f"Revising draft #{draft_id} means writing new text, and that needs a language model. "
        + needs_model_message(ctx.model_configured)
        + f"\nMeanwhile /draft {draft_id} shows it, and edit <code> body: … changes a pending e-mail yourself.",
        ok=False,
    )


__all__ = ["discard_draft", "list_drafts", "revise_needs_model", "send_draft", "show_draft"]
