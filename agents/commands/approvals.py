"""Approvals: what waits for the operator, approve / deny / details / edit one, why, undo."""

from __future__ import annotations

from agents.commands._base import Command, LocalContext, Routed, approval_buttons, phrase
from agents.gate.messages import OWN_REQUEST
from agents.reply import Reply
from agents.runner import describe_approval

_TOKEN = r"(?:ap:)?(?P<token>[A-Za-z0-9_-]{6,40})"


async def _approvals(routed: Routed, ctx: LocalContext) -> Reply:
    waiting = await ctx.gate.pending(ctx.workspace)
    if not waiting:
        return Reply("Nothing is waiting for your approval.")
    parts = [f"{len(waiting)} waiting for your approval:"]
    parts += [f"{n}. {describe_approval(a)}" for n, a in enumerate(waiting, start=1)]
    buttons = approval_buttons(waiting[0].id) if len(waiting) == 1 else ()
    if len(waiting) > 1:
        parts.append("Say approve <code> or deny <code>.")
    return Reply("\n\n".join(parts), buttons)


TYPED_CODE = (
    "You typed an approval code. A typed code is not enough on its own (a message can ask you to "
    "type one), so here is what it would do. To go ahead, press Approve."
)


async def _decide(routed: Routed, ctx: LocalContext) -> Reply:
    """Deny: one step, typed or pressed. Approve: one step from a button (or a numbered choice); a
    typed code shows the action again with its buttons, and only a press executes it."""
    token, approve = routed.args["token"], routed.kind == "approve"
    if approve and not ctx.pressed:
        waiting = {a.id: a for a in await ctx.gate.pending(ctx.workspace) if a.operator == ctx.operator}
        if token in waiting:  # (else the gate says why not: decided, expired, unknown, not yours)
            return Reply(f"{TYPED_CODE}\n\n{describe_approval(waiting[token], full=True)}", approval_buttons(token))
    text = await ctx.gate.decide_approval(
        token, operator=ctx.operator, approve=approve, decider=ctx.source, own_requests=ctx.approve_own_requests
    )
    # still waiting for someone else: the pressed approval keeps its buttons, the answer comes apart
    return Reply(text, on_press="post" if text == OWN_REQUEST else "replace")


async def _details(routed: Routed, ctx: LocalContext) -> Reply:
    return await details(routed.args["token"], ctx)


async def details(token: str, ctx: LocalContext) -> Reply:
    waiting = {a.id: a for a in await ctx.gate.pending(ctx.workspace)}
    if token in waiting:
        return Reply(describe_approval(waiting[token], full=True), approval_buttons(token))
    return Reply(await ctx.gate.explain(ctx.workspace, token))


async def _edit(routed: Routed, ctx: LocalContext) -> Reply:
    token = routed.args["token"]
    text, still_pending = await ctx.gate.edit_approval(
        token, operator=ctx.operator, field=routed.args["field"], value=routed.text
    )
    if not still_pending:
        return Reply(text)
    return Reply(text + "\n\n" + (await details(token, ctx)).text, approval_buttons(token))


async def _why(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await ctx.gate.explain(ctx.workspace, routed.args.get("ref", "")))


async def _undo(routed: Routed, ctx: LocalContext) -> Reply:
    return Reply(await ctx.gate.undo_last(workspace=ctx.workspace, operator=ctx.operator))


COMMANDS = (
    Command(
        "approvals",
        _approvals,
        (
            phrase(
                10,
                r"^(?:/approvals|approvals|pending approvals|what needs my (?:approval|ok|decision)|"
                r"(?:show|list)(?: me)?(?: the)?(?: pending)? approvals)$",
            ),
        ),
        name="approvals",
        help="- *approvals*: /approvals, approve <code>, deny <code>, edit <code> body: …, /why, /undo",
        help_order=70,
        menu="actions waiting for your approval",
        menu_order=110,
        slack=True,
    ),
    Command(
        "approve",
        _decide,
        (phrase(20, rf"^(?:/approve|approve|yes,? approve)\s+{_TOKEN}$"),),
        name="approve",
        slack=True,
        example="/approve ap:a1b2c3d4",
    ),
    Command(
        "deny",
        _decide,
        (phrase(30, rf"^(?:/deny|deny|reject|/reject)\s+{_TOKEN}$"),),
        name="deny",
        slack=True,
        example="/deny ap:a1b2c3d4",
    ),
    Command(
        "details",
        _details,
        (phrase(40, rf"^(?:/details|details)\s+{_TOKEN}$"),),
        name="details",
        slack=True,
        example="/details ap:a1b2c3d4",
        on_press="post",  # the approval keeps its buttons; the details come as a new message
    ),
    Command(
        "edit",
        _edit,
        (phrase(50, rf"^(?:/edit|edit|change)\s+{_TOKEN}\s+(?P<field>[a-z_]+)\s*[:=]\s*(?P<text>.+)$"),),
        name="edit",
        slack=True,
        example="/edit ap:a1b2c3d4 body: see you at 10",
        keep_sentence_end=True,
    ),
    Command(
        "why",
        _why,
        (phrase(60, r"^(?:/why|why)(?:\s+(?:did you do\s+)?#?(?P<ref>[A-Za-z0-9_:-]{1,40}))?$"),),
        name="why",
        menu="why an action was taken: /why <number or code>",
        menu_order=130,
        slack=True,
    ),
    Command(
        "undo",
        _undo,
        (phrase(70, r"^(?:/undo|undo(?: that| it| the last (?:action|change))?)$"),),
        name="undo",
        menu="undo the last action",
        menu_order=140,
        slack=True,
    ),
)

__all__ = ["COMMANDS", "details"]
