"""Drafts in chat without a model: list them, show one with its versions and inputs, send one through
the policy gate, discard one. Revising needs a model; without one the reply says so."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from agents import drafts
from agents.commands._base import Command, LocalContext, Routed, approval_buttons, phrase
from agents.models import needs_model_message
from agents.reply import Reply
from agents.runner import describe_approval
from memory import Draft, NotFound
from policies import Approval


def _inputs_line(draft: Draft) -> str:
    inputs = draft.inputs
    shown = {k: v for k, v in inputs.items() if v not in (None, "", {}, []) and k not in ("kind", "counterparty")}
    if "base" in shown:
        shown["base"] = f"#{shown['base']}"
    return json.dumps(shown, ensure_ascii=False)[:600]


async def _list(routed: Routed, ctx: LocalContext) -> Reply:
    latest = await ctx.memory.drafts.latest(ctx.workspace, limit=30)
    if not latest:
        return Reply("No drafts yet. Ask me to draft an e-mail or a proposal (that needs a model).")
    lines = [f"Drafts ({len(latest)}), newest first:"] + [f"- {drafts.describe(d)}" for d in latest]
    lines.append("/draft <number> shows one; send draft <number>; discard draft <number>.")
    return Reply("\n".join(lines))


async def _show(routed: Routed, ctx: LocalContext) -> Reply:
    draft_id = int(routed.args["id"])
    try:
        draft = await ctx.memory.drafts.get(ctx.workspace, draft_id)
    except NotFound:
        return Reply(f"There is no draft #{draft_id}. /drafts lists them.")
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
        return Reply("\n".join(lines), approval_buttons(draft.approval_id))
    return Reply("\n".join(lines))


async def _send(routed: Routed, ctx: LocalContext) -> Reply:
    mode = await ctx.memory.agent_store.get_mode(ctx.workspace, ctx.operator)
    result = await drafts.send(
        ctx.memory,
        ctx.gate,
        int(routed.args["id"]),
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        mode=mode,
        to=routed.args.get("to"),
    )
    if isinstance(result, Approval):
        return Reply(describe_approval(result, full=True), approval_buttons(result.id))
    return Reply(result)


async def _discard(routed: Routed, ctx: LocalContext) -> Reply:
    draft_id = int(routed.args["id"])
    try:
        draft = await ctx.memory.drafts.get(ctx.workspace, draft_id)
    except NotFound:
        return Reply(f"There is no draft #{draft_id}. /drafts lists them.")
    if draft.status in ("sent", "queued"):
        return Reply(f"Draft #{draft.id} is already {draft.status}; discarding it now would not unsend it.")
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
    return Reply(f"Discarded draft #{draft.id} “{draft.title}” (v{draft.version}).{note}")


async def _revise(routed: Routed, ctx: LocalContext) -> Reply:
    """Reached only when no model can take it; with one, the dispatcher gives the request to the model."""
    draft_id = routed.args["draft"]
    return Reply(
        f"Revising draft #{draft_id} means writing new text, and that needs a language model. "
        + needs_model_message(ctx.model_configured)
        + f"\nMeanwhile /draft {draft_id} shows it, and edit <code> body: … changes a pending e-mail yourself.",
        ok=False,
    )


COMMANDS = (
    Command(
        "drafts",
        _list,
        (phrase(360, r"^(?:/drafts|drafts|(?:show|list)(?: me)?(?: all)?(?: my| the)? drafts)$"),),
        name="drafts",
        help="- *drafts*: /drafts, /draft <number> (versions and inputs), send draft <number>, discard draft <number>",
        help_order=130,
        menu="your drafts and their versions",
        menu_order=90,
    ),
    Command("draft_show", _show, (phrase(370, r"^(?:/draft|draft|show draft)\s+#?(?P<id>\d{1,12})$"),), name="draft"),
    Command(
        "draft_send",
        _send,
        (phrase(380, r"^(?:/send_draft|send draft)\s+#?(?P<id>\d{1,12})(?:\s+to\s+(?P<to>\S+@\S+))?$"),),
        name="send_draft",
    ),
    Command(
        "draft_discard",
        _discard,
        (phrase(390, r"^(?:/discard|/discard_draft|discard(?: draft)?|delete draft)\s+#?(?P<id>\d{1,12})$"),),
        name="discard",
    ),
    # "/revise 12 warmer" needs a model: it routes as needs_model, and only without one is it answered here.
    Command(
        "needs_model",
        _revise,
        (phrase(400, r"^(?:/revise|revise(?: draft)?)\s+#?(?P<draft>\d{1,12})\b.*$"),),
        name="revise",
    ),
)

__all__ = ["COMMANDS"]
