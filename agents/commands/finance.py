"""The common finance questions ("which invoices are overdue?", "who paid this week?"), answered from
the books with no model (``agents.finance_answers``).

Finance words inside a sentence are not a question: the phrasing is ``question``-confident, so "Acme
just told me they will pay invoice 42 late" is left to the model (or, without one, answered
honestly), never with an overdue-invoices report. Its place in the order is after every other
command's phrasings and before the open-ended memory search, where the dispatcher used to try it.
"""

from __future__ import annotations

from agents.commands._base import Command, LocalContext, Routed, phrase
from agents.commands._registry import command
from agents.finance_answers import QUESTION, finance_answer
from agents.reply import Reply


async def _finance(routed: Routed, ctx: LocalContext) -> Reply:
    today = ctx.memory.clock.today(ctx.timezone)
    found = await finance_answer(routed.text, ctx.memory, ctx.workspace, today, ctx.timezone)
    if found is None:  # the router and the answerer read the same patterns; kept for safety
        return await command("needs_model").handler(routed, ctx)
    return Reply(found)


COMMANDS = (Command("finance", _finance, (phrase(500, QUESTION, "question"),)),)

__all__ = ["COMMANDS"]
