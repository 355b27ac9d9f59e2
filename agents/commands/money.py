"""Money in chat: payment reminders drafted without a model — "chase INV-42", "chase Acme", "chase
overdue invoices". (Finance questions — "which invoices are overdue?" — are ``agents.finance_answers``.)

The draft comes from the invoice record and a fixed template in the operator's words; sending it is
an ``email.send`` action like any other, so the policy gate decides (by default: ask the operator,
with Approve / Deny / Details).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from agents.commands._base import Command, LocalContext, Routed, approval_buttons, phrase
from agents.gate import Parked, messages
from agents.reply import Reply
from agents.runner import describe_approval
from memory import Invoice
from policies import Action, Approval

MAX_AT_ONCE = 5
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def draft(invoice: Invoice, today: datetime, signature: str) -> tuple[str, str]:
    late = invoice.days_overdue(today.date())
    subject = f"Invoice {invoice.number}: friendly reminder"
    body = (
        f"Hello {invoice.client},\n\n"
        f"A friendly reminder that invoice {invoice.number} for {invoice.outstanding:,.2f} {invoice.currency} "
        f"was due on {invoice.due_at:%d %B %Y}"
        + (f" and is now {late} day{'s' if late != 1 else ''} overdue" if late > 0 else "")
        + ". Could you let me know when it will be paid? If it is already on its way, thank you — "
        "please ignore this note.\n\n"
        f"Best regards,\n{signature}"
    )
    return subject, body


async def _chase(routed: Routed, ctx: LocalContext) -> Reply:
    text = routed.text
    today = ctx.memory.clock.local(ctx.timezone)
    chosen = await _invoices(text, ctx, today)
    if not chosen:
        return Reply(
            "I found no open invoice matching that. Say chase <invoice number>, chase <client>, or chase overdue "
            "invoices; `soloos invoice list` shows them."
        )
    explicit = _ADDRESS.search(text)
    waiting: list[Approval | str] = []
    problems: list[str] = []
    for invoice in chosen[:MAX_AT_ONCE]:
        address = explicit.group(0) if explicit else await _address_of(invoice.client, ctx)
        if address is None:
            problems.append(f"I have no e-mail address for {invoice.client}: say chase {invoice.number} to <address>.")
            continue
        subject, body = draft(invoice, today, ctx.signature or ctx.operator)
        action = Action(
            "email.send",
            {"to": address, "subject": subject, "body": body},
            f"send a payment reminder for {invoice.number} to {address}",
            counterparty=address,
        )
        waiting.append(await _ask(action, ctx))
    lines = [w for w in waiting if isinstance(w, str)]
    approvals = [w for w in waiting if isinstance(w, Approval)]
    parts = [describe_approval(a, full=True) for a in approvals] + lines + problems
    if len(chosen) > MAX_AT_ONCE:
        parts.append(f"I drafted the first {MAX_AT_ONCE}; chase the rest by number.")
    buttons = approval_buttons(approvals[0].id) if len(approvals) == 1 else ()
    if len(approvals) > 1:
        parts.append("Say approve <code> or deny <code> for each, or /approvals.")
    return Reply("\n\n".join(parts), buttons)


async def _invoices(text: str, ctx: LocalContext, today: datetime) -> list[Invoice]:
    finance = ctx.memory.finance
    open_ones = [i for i in await finance.list_invoices(ctx.workspace) if i.status in ("open", "partial")]
    words = text.lower()
    by_number = [i for i in open_ones if re.search(rf"(?<![\w-]){re.escape(i.number.lower())}(?![\w-])", words)]
    if by_number:
        return by_number
    by_client = [i for i in open_ones if re.search(rf"\b{re.escape(i.client.lower())}\b", words)]
    if by_client:
        return by_client
    if re.search(r"\b(?:overdue|late|all|everyone|unpaid)\b", words):
        return await finance.overdue_invoices(ctx.workspace, today.date())
    return []


async def _address_of(client: str, ctx: LocalContext) -> str | None:
    """The address of the contact the operator keeps under the client's name, else None (ask them).
    Never a sender's display name or domain: anyone can write in calling themselves "Acme"."""
    kept = await asyncio.to_thread(ctx.memory.records.known_counterparties_sync, ctx.workspace)
    for contact in await ctx.memory.records.list_contacts(workspace=ctx.workspace):
        name = contact.name.lower()
        if contact.email and name == client.lower() and name in kept:
            return contact.email
    return None


async def _ask(action: Action, ctx: LocalContext) -> Approval | str:
    """Submit the action to the gate: the approval it waits for, or what happened, in a sentence."""
    mode = await ctx.memory.agent_store.get_mode(ctx.workspace, ctx.operator)
    outcome = await ctx.gate.submit(
        action,
        workspace=ctx.workspace,
        operator=ctx.operator,
        intent_key=ctx.intent_key,
        mode=mode,
        key=f"{ctx.intent_key}:{action.args['to']}",
    )
    return outcome.approval if isinstance(outcome, Parked) else messages.to_operator(outcome)


COMMANDS = (
    Command(
        "chase",
        _chase,
        (
            phrase(
                160,
                r"^(?:/chase|chase(?: up)?|send (?:a )?payment reminders?(?: to| for| about)?)\s+(?P<text>.+)$",
            ),
        ),
        name="chase",
        help=(
            '- *money*: "which invoices are overdue?", "who paid this week?" (after `soloos bank import`),\n'
            '  "chase INV-42" or "chase overdue invoices" (drafts payment reminders for your approval)'
        ),
        help_order=120,
    ),
)

__all__ = ["COMMANDS", "MAX_AT_ONCE", "draft"]
