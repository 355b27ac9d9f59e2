"""The common finance questions, answered from records with no model.

``finance_answer`` recognises, with regular expressions, "which invoices are overdue?", "who paid
this week?", "what came in this month?" and questions that ask several of them at once ("overdue
invoices and who paid this week"), and answers each part from the invoices and transactions
tables. Anything else — including orders such as "remind me to chase overdue invoices" and
questions about tasks — returns None. ``QUESTION`` is the same recognition as one pattern, for the
command router (``agents.commands.finance``), which also leaves statements ("Acme told me they will
pay invoice 42 late") and, with a model, requests to the model.

Replies use the local tier's Markdown subset (``*bold*``, ``- `` bullets).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from memory import Invoice, MemoryService, Payment

MAX_LINES = 10

_ORDER = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note|remind|add|create|draft|write|send|e-?mail|mail|schedule|pay|forget|"
    r"record|set|cancel|delete|chase)\b",
    re.IGNORECASE,
)
_OVERDUE = re.compile(
    r"\b(?:overdue|past[- ]due|unpaid|outstanding|late|open)\b.{0,40}?\b(?:invoices?|bills?)\b"
    r"|\b(?:invoices?|bills?)\b.{0,40}?\b(?:overdue|past[- ]due|unpaid|outstanding|late)\b"
    r"|\bwho\b.{0,20}?\b(?:owes?|still owes|hasn'?t paid|has not paid|haven'?t paid|have not paid)\b"
    r"|\bowed to me\b|^\s*(?:what'?s|what is|anything|is anything)\s+overdue\b",
    re.IGNORECASE,
)
_WHO_PAID = re.compile(
    r"\bwho\b(?!.{0,30}?\b(?:hasn'?t|has not|haven'?t|have not|didn'?t|did not|not yet)\b).{0,30}?\bpaid\b"
    r"|\bwho sent (?:me )?money\b|\bdid any(?:one|body) pay\b"
    r"|\b(?:any|which|what) payments?\b.{0,30}?\b(?:received|came in|arrived)\b"
    r"|\bpayments? (?:received|in)\b",
    re.IGNORECASE,
)
_CAME_IN = re.compile(
    r"\b(?:what|how much)\b.{0,40}?\b(?:came|come|comes|coming)\s+in\b"
    r"|\bhow much\b.{0,40}?\b(?:received|receive|earned|earn|made|make|got paid|get paid)\b"
    r"|\b(?:income|revenue|takings|money in)\b.{0,20}?\b(?:this|last|today|yesterday|so far)\b",
    re.IGNORECASE,
)
_PERIOD = re.compile(
    r"\b(today|yesterday|this week|last week|past week|this month|last month|past month|this year|last year)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Period:
    label: str  # "this week"
    since: date
    until: date  # exclusive

    def span(self) -> str:
        last = self.until - timedelta(days=1)
        if self.since == last:
            return f"{self.since:%a %d %b}"
        return f"{self.since:%a %d %b} – {last:%a %d %b}"


def period(name: str, today: date) -> Period:
    """A named period that ends at the latest with ``today`` (weeks start on Monday)."""
    name = " ".join(name.lower().split())
    tomorrow = today + timedelta(days=1)
    month_start = today.replace(day=1)
    previous_month = (month_start - timedelta(days=1)).replace(day=1)
    monday = today - timedelta(days=today.weekday())
    spans = {
        "today": (today, tomorrow),
        "yesterday": (today - timedelta(days=1), today),
        "this week": (monday, tomorrow),
        "last week": (monday - timedelta(days=7), monday),
        "past week": (today - timedelta(days=6), tomorrow),
        "this month": (month_start, tomorrow),
        "last month": (previous_month, month_start),
        "past month": (today - timedelta(days=29), tomorrow),
        "this year": (today.replace(month=1, day=1), tomorrow),
        "last year": (date(today.year - 1, 1, 1), today.replace(month=1, day=1)),
    }
    since, until = spans[name]
    return Period(name, since, until)


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def _totals(pairs: Iterable[tuple[Decimal, str]]) -> str:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for amount, currency in pairs:
        sums[currency] += amount
    return " + ".join(money(amount, currency) for currency, amount in sorted(sums.items())) or "nothing"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _more(lines: list[str]) -> list[str]:
    extra = len(lines) - MAX_LINES
    return lines[:MAX_LINES] + ([f"- … and {extra} more"] if extra > 0 else [])


async def _overdue(memory: MemoryService, workspace: str, today: date, _: Period | None) -> str:
    invoices = await memory.finance.overdue_invoices(workspace, today)
    if not invoices:
        return "*Overdue invoices:* none — every invoice is paid or not yet due."
    lines = [_overdue_line(invoice, today) for invoice in invoices]
    total = _totals((i.outstanding, i.currency) for i in invoices)
    return "\n".join([f"*Overdue invoices:* {_plural(len(invoices), 'invoice')}, {total} outstanding", *_more(lines)])


def _overdue_line(invoice: Invoice, today: date) -> str:
    owed = money(invoice.outstanding, invoice.currency)
    if invoice.status == "partial":
        owed += f" of {money(invoice.amount, invoice.currency)}"
    days = invoice.days_overdue(today)
    return f"- {invoice.number} · {invoice.client} · {owed} · due {invoice.due_at:%d %b} ({_plural(days, 'day')} late)"


def _payment_note(payment: Payment) -> str:
    if payment.match_status == "matched":
        return f"{payment.invoice_number} paid"
    if payment.match_status == "partial":
        return f"part of {payment.invoice_number}"
    return "not matched to an invoice"


async def _who_paid(memory: MemoryService, workspace: str, today: date, when: Period | None) -> str:
    when = when or period("this week", today)
    payments = await memory.finance.payments_received(workspace, when.since, when.until)
    heading = f"*Paid {when.label}* ({when.span()})"
    if not payments:
        return f"{heading}: no incoming payments in the imported bank statements."
    lines = [
        f"- {p.posted_at:%a %d %b} · {p.payer} · {money(p.amount, p.currency)} · {_payment_note(p)}"
        for p in reversed(payments)
    ]
    total = _totals((p.amount, p.currency) for p in payments)
    return "\n".join([f"{heading}: {_plural(len(payments), 'payment')}, {total}", *_more(lines)])


async def _came_in(memory: MemoryService, workspace: str, today: date, when: Period | None) -> str:
    when = when or period("this month", today)
    payments = await memory.finance.payments_received(workspace, when.since, when.until)
    heading = f"*Came in {when.label}* ({when.span()})"
    if not payments:
        return f"{heading}: nothing in the imported bank statements."
    by_payer: dict[tuple[str, str], list[Payment]] = defaultdict(list)
    for payment in payments:
        by_payer[(payment.payer, payment.currency)].append(payment)
    ranked = sorted(by_payer.items(), key=lambda item: -sum(p.amount for p in item[1]))
    lines = [
        f"- {payer} · {money(sum((p.amount for p in group), Decimal(0)), currency)}"
        + (f" ({_plural(len(group), 'payment')})" if len(group) > 1 else "")
        for (payer, currency), group in ranked
    ]
    total = _totals((p.amount, p.currency) for p in payments)
    return "\n".join([f"{heading}: {total} in {_plural(len(payments), 'payment')}", *_more(lines)])


# A whole message that ``finance_answer`` answers (for the router: the sections' patterns, searched
# anywhere in the message, unless it opens with an order), with the message as its ``text``.
QUESTION = (
    rf"^(?!{_ORDER.pattern})"
    rf"(?=.*?(?-s:{_OVERDUE.pattern}|{_WHO_PAID.pattern}|{_CAME_IN.pattern}))(?P<text>.+)$"
)

Section = Callable[[MemoryService, str, date, Period | None], Awaitable[str]]
_SECTIONS: tuple[tuple[re.Pattern[str], Section], ...] = (
    (_OVERDUE, _overdue),
    (_WHO_PAID, _who_paid),
    (_CAME_IN, _came_in),
)


def _period_for(question: str, position: int, today: date) -> Period | None:
    """The period named after a question part, else the last one named before it."""
    mentions = list(_PERIOD.finditer(question))
    after = [m for m in mentions if m.start() >= position]
    before = [m for m in mentions if m.start() < position]
    chosen = after[0] if after else (before[-1] if before else None)
    return period(chosen.group(1), today) if chosen else None


async def finance_answer(
    question: str, memory: MemoryService, workspace: str, today: date, timezone: str
) -> str | None:
    """Answer a common finance question from records, or None when the question is not one of them.

    ``today`` is the operator's local date (in ``timezone``); transactions carry dates, not times,
    so no conversion is needed here. The parameter keeps the local answerers' call shape.
    """
    if _ORDER.match(question):
        return None
    found = sorted(
        ((match.start(), section) for pattern, section in _SECTIONS if (match := pattern.search(question))),
        key=lambda pair: pair[0],
    )
    if not found:
        return None
    parts = [await section(memory, workspace, today, _period_for(question, start, today)) for start, section in found]
    return "\n\n".join(parts)


__all__ = ["QUESTION", "Period", "finance_answer", "period"]
