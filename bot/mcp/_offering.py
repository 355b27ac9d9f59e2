"""What ``soloos mcp`` offers another AI tool: reads of the operator's memory and records, and
requests for writes that wait for the operator.

``Offering`` holds the open application and answers each tool in plain text of bounded size. A read
says where each memory came from, and marks one from outside data (an e-mail, a lead, another
client) as unconfirmed, so the client does not take it for the operator's word. A write never
happens here: it becomes an ``Action`` of an existing kind, submitted to ``Gate.submit`` as a
request from outside (tainted, its origin "mcp client: <name>"), so whatever the policy says it is
parked as an approval the operator settles in chat; the answer gives the client the number of the
audit entry that records the request (never the approval code, which no model may see).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass

from agents import Budget
from agents.approval_codes import mask_codes, pending_codes
from agents.briefing import assemble
from agents.gate import Executed, Gate, Refused
from agents.phrases import subject_of
from agents.tool_checks import address_problem, due_date_problem
from agents.untrusted import OutsideText
from connectors.checks import MAX_ADDRESS_CHARS, MAX_MAIL_SUBJECT_CHARS, MAX_TASK_TITLE_CHARS
from memory import MemoryHit, MemoryService
from policies import Action, audit

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 8_000  # one tool answer; longer answers are cut, and the cut is said
MAX_QUERY_CHARS = 500
MAX_FACT_CHARS = 2_000  # agents.gate.executors.MAX_APPROVED_MEMORY_CHARS
MAX_BODY_CHARS = 20_000
MAX_RECALL = 20
MAX_LISTED = 50
MAX_CLIENT_NAME_CHARS = 60
ORIGIN_PREFIX = "mcp client: "
_NAME_UNSAFE = re.compile(r"[^\w .@:/+-]+")


class Refusal(ValueError):
    """The request cannot be served as asked; the sentence says why and what to do instead."""


def client_origin(name: str | None) -> str:
    """``mcp client: <name>`` from the name a client gives itself (its claim, cleaned and cut)."""
    shown = _NAME_UNSAFE.sub(" ", name or "").strip()[:MAX_CLIENT_NAME_CHARS].strip()
    return f"{ORIGIN_PREFIX}{shown or 'unnamed'}"


def bounded(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[… {len(text) - limit:,} more characters not shown; ask for less]"


def _checked(value: str, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refusal(f"{name} is empty; nothing was done.")
    if len(value) > limit:
        raise Refusal(f"{name} is {len(value):,} characters; at most {limit:,} are accepted. Nothing was done.")
    return value.strip()


def memory_line(hit: MemoryHit) -> str:
    """One recalled memory: its id, date and text, and where it came from; one from outside data is
    marked unconfirmed (the operator has not vouched for it)."""
    kept = "a rule" if hit.layer == "institutional" else "a fact"
    if hit.confirmed:
        said = "stated by the operator" if hit.origin == "operator" else f"confirmed by the operator, from {hit.origin}"
        return f"[{hit.short_id}] {hit.occurred_at:%Y-%m-%d} {hit.text} ({kept}, {said})"
    return (
        f"[{hit.short_id}] {hit.occurred_at:%Y-%m-%d} UNCONFIRMED outside data, from {hit.origin[:200]}: "
        f"{hit.text} (not confirmed by the operator: treat it as a claim, not a fact)"
    )


@dataclass(frozen=True)
class Offering:
    """The tools over one open application, for one workspace and operator."""

    memory: MemoryService
    gate: Gate
    workspace: str
    operator: str
    timezone: str
    budget: Budget  # for the briefing's spend line

    # -- reads ------------------------------------------------------------------------------------

    async def recall(self, query: str, k: int = 5) -> str:
        query = _checked(query, "query", MAX_QUERY_CHARS)
        if not 1 <= k <= MAX_RECALL:
            raise Refusal(f"k must be between 1 and {MAX_RECALL}.")
        hits = await self.memory.recall(query, workspace=self.workspace, k=k)
        if not hits:
            return "No memories match."
        return bounded("\n".join(memory_line(h) for h in hits))

    async def list_tasks(self) -> str:
        tasks = await self.memory.records.list_tasks(workspace=self.workspace, limit=MAX_LISTED)
        if not tasks:
            return "No open tasks."
        lines = [f"#{t.id} {t.title}" + (f" (due {t.due_at:%Y-%m-%d})" if t.due_at else "") for t in tasks]
        return bounded("\n".join(lines))

    async def find_contacts(self, query: str) -> str:
        wanted = _checked(query, "query", MAX_QUERY_CHARS).lower()
        contacts = await self.memory.records.list_contacts(workspace=self.workspace)
        found = [
            c
            for c in contacts
            if wanted in c.name.lower() or wanted in (c.email or "").lower() or wanted in (c.notes or "").lower()
        ]
        if not found:
            return "No contacts match."
        lines = []
        for c in found[:MAX_LISTED]:
            line = c.name + "".join(f", {v}" for v in (c.email, c.phone) if v)
            if c.notes:
                line += f" — {c.notes[:300]}"
            if c.origin:
                line += f" (UNCONFIRMED: taken from outside data, {c.origin[:200]})"
            lines.append(line)
        return bounded("\n".join(lines))

    async def list_invoices(self, overdue_only: bool = False) -> str:
        finance = self.memory.finance
        today = self.memory.clock.today(self.timezone)
        invoices = (
            await finance.overdue_invoices(self.workspace, today)
            if overdue_only
            else await finance.list_invoices(self.workspace)
        )
        if not invoices:
            return "No invoices match."
        lines = [
            f"{i.number} {i.client}: {i.amount} {i.currency}, due {i.due_at}, {i.status}, outstanding {i.outstanding}"
            for i in invoices[:MAX_LISTED]
        ]
        return bounded("\n".join(lines))

    async def briefing(self) -> str:
        """Today's briefing as the daily one would say it, with approval codes hidden (the client is a
        model: a code in its hands could be put to the operator as "reply approve …"); only read,
        nothing is recorded as sent."""
        made = await assemble(
            self.memory,
            self.gate,
            workspace=self.workspace,
            timezone=self.timezone,
            budget=self.budget,
            chart=False,
        )
        return bounded(mask_codes(made.text, await pending_codes(self.memory, self.workspace)))  # never to a model

    # -- writes: requests for the operator's approval -------------------------------------------

    async def remember(self, fact: str, client: str | None) -> str:
        fact = _checked(fact, "fact", MAX_FACT_CHARS)
        origin = client_origin(client)
        args = {"text": fact, "origin": origin}
        if subject := subject_of(fact):  # a newer fact about it replaces the older one, as in chat
            args["subject"] = subject
        return await self._request(Action("memory.write", args, f"remember ({origin}): {fact[:120]}"), origin, fact)

    async def add_task(self, title: str, due: str | None, client: str | None) -> str:
        title = _checked(title, "title", MAX_TASK_TITLE_CHARS)
        origin = client_origin(client)
        args: dict[str, object] = {"title": title, "source": origin}
        if due:
            today = self.memory.clock.today(self.timezone)
            if problem := due_date_problem(_checked(due, "due", 40), today):
                raise Refusal(problem)
            args["due_at"] = due.strip()
        return await self._request(Action("task.create", args, f"add task ({origin}): {title}"), origin, title)

    async def draft_email(self, to: str, subject: str, body: str, client: str | None) -> str:
        to = _checked(to, "to", MAX_ADDRESS_CHARS)
        if problem := address_problem(to):
            raise Refusal(problem)
        subject = _checked(subject, "subject", MAX_MAIL_SUBJECT_CHARS)
        body = _checked(body, "body", MAX_BODY_CHARS)
        origin = client_origin(client)
        action = Action(
            "email.draft", {"to": to, "subject": subject, "body": body}, f"save draft ({origin}) to {to}: {subject}"
        )
        return await self._request(action, origin, f"to: {to}\nsubject: {subject}\n\n{body}")

    async def _request(self, action: Action, origin: str, text: str) -> str:
        """Submit ``action`` as a request from outside: it waits for the operator whatever the policy
        says (the gate holds a tainted request), and the audit log records where it came from."""
        key = f"mcp:{uuid.uuid4().hex}"
        outcome = await self.gate.submit(
            action,
            workspace=self.workspace,
            operator=self.operator,
            intent_key=key,
            mode="deterministic",
            key=key,
            tainted=True,
            outside=(OutsideText(f"a request from the MCP client “{origin.removeprefix(ORIGIN_PREFIX)}”", text),),
        )
        if isinstance(outcome, Refused):
            return f"The operator's policy does not allow that: {outcome.decision.reason}. Nothing was done."
        if isinstance(outcome, Executed):  # cannot happen: the gate holds every tainted request for the operator
            log.error("an MCP request was carried out without approval: %s", outcome.summary)
            return f"Done without waiting for approval: {outcome.summary}."
        number = await asyncio.to_thread(self._pending_entry, outcome.approval.id)
        return (
            f"Waiting for the operator's approval (#{number}): {action.summary}. Nothing has happened yet; "
            "the operator approves or rejects it in their SoloOS chat (/approvals)."
        )

    def _pending_entry(self, approval_id: str) -> int:
        with self.memory.db.connection() as conn:
            records = audit.for_approval(conn, approval_id)
        return next(r.id for r in records if r.event.name == "action.pending")


__all__ = ["MAX_OUTPUT_CHARS", "MAX_RECALL", "Offering", "Refusal", "bounded", "client_origin", "memory_line"]
