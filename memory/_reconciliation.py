"""Reconciliation of incoming money against open invoices: pure, in memory, linear in the statement.

A payment matches an invoice when the currency is the same and the text of the bank line
(counterparty and memo) names the invoice:

1. by **invoice number** — the number's letter and digit runs appear in the same order as whole
   tokens, whatever the separators (``INV-2026-0142`` matches ``inv 2026/0142`` and
   ``INV20260142``, not ``INV-2026-01420``). A line that names an invoice is only ever applied to
   the invoices it names: a wrong amount leaves it unmatched rather than paying some other invoice.
2. by **client name** — the client's words (legal form such as GmbH or Ltd dropped) appear in the
   text. Among that client's open invoices, one whose outstanding amount equals the payment wins,
   else the oldest-due one the payment fits into.

Equal to what is outstanding → ``matched`` (the invoice is paid); smaller → ``partial`` (the
invoice is partially paid and the amounts accumulate); larger (an overpayment) → ``unmatched``, so
the operator looks at it. Both indexes are dictionaries keyed by token tuples, so a line costs a
handful of lookups whatever the number of invoices.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

MatchStatus = Literal["matched", "partial", "unmatched"]

_RUN = re.compile(r"[^\W\d_]+|[0-9]+")  # letter runs and digit runs: the tokens of an invoice number
_WORD = re.compile(r"[^\W_]+")
_LEGAL_FORMS = frozenset(  # trailing words dropped from a client's name before matching
    {"ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "gbr", "gmbh", "inc", "kg", "limited"}
    | {"llc", "llp", "ltd", "oy", "plc", "pty", "sa", "sarl", "sas", "se", "srl", "ug"}
)
MIN_KEY_CHARS = 3  # shorter numbers and names ("7", "AB") would match too much text


@dataclass
class OpenInvoice:
    """An invoice that can still receive money; ``paid_amount`` and ``status`` change as it does."""

    id: int
    number: str
    client: str
    currency: str
    amount: Decimal
    paid_amount: Decimal
    due_at: date
    status: str = "open"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid_amount


@dataclass(frozen=True)
class Match:
    status: MatchStatus
    invoice: OpenInvoice | None = None


UNMATCHED = Match("unmatched")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def number_key(number: str) -> tuple[str, ...]:
    return tuple(_RUN.findall(_fold(number)))


def name_key(name: str) -> tuple[str, ...]:
    words = _WORD.findall(_fold(name))
    while len(words) > 1 and words[-1] in _LEGAL_FORMS:
        words.pop()
    return tuple(words)


def _bounded_runs(text: str) -> list[tuple[str, bool, bool]]:
    """Each run with whether it starts / ends at a token boundary (not glued to a letter or digit)."""
    runs = []
    for found in _RUN.finditer(text):
        start, end = found.span()
        starts = start == 0 or not text[start - 1].isalnum()
        ends = end == len(text) or not text[end].isalnum()
        runs.append((found.group(), starts, ends))
    return runs


class Reconciler:
    """Matches payments against a workspace's open invoices and tracks what each one has received."""

    def __init__(self, invoices: Iterable[OpenInvoice]) -> None:
        self._by_number: dict[tuple[str, ...], OpenInvoice] = {}
        self._by_name: dict[tuple[str, ...], list[OpenInvoice]] = {}
        self._changed: dict[int, OpenInvoice] = {}
        for invoice in invoices:
            key = number_key(invoice.number)
            if len("".join(key)) >= MIN_KEY_CHARS:
                self._by_number[key] = invoice
            name = name_key(invoice.client)
            if len("".join(name)) >= MIN_KEY_CHARS:
                self._by_name.setdefault(name, []).append(invoice)
        for same_client in self._by_name.values():
            same_client.sort(key=lambda i: (i.due_at, i.id))
        self._number_len = max((len(k) for k in self._by_number), default=0)
        self._name_len = max((len(k) for k in self._by_name), default=0)

    @property
    def changed(self) -> list[OpenInvoice]:
        """Invoices that received money, in the order they first did."""
        return list(self._changed.values())

    def match(self, amount: Decimal, currency: str, text: str) -> Match:
        """Find the invoice an incoming ``amount`` pays and apply it. Outgoing money never matches."""
        if amount <= 0:
            return UNMATCHED
        folded = _fold(text)
        named = self._named_invoices(folded)
        if named:
            fitting = [i for i in named if i.currency == currency and 0 < amount <= i.outstanding]
            return self._apply(fitting[0], amount) if fitting else UNMATCHED
        candidates = [i for i in self._client_invoices(folded) if i.currency == currency and i.outstanding > 0]
        exact = [i for i in candidates if i.outstanding == amount]
        if exact:
            return self._apply(exact[0], amount)
        fitting = [i for i in candidates if amount < i.outstanding]
        return self._apply(fitting[0], amount) if fitting else UNMATCHED

    def _apply(self, invoice: OpenInvoice, amount: Decimal) -> Match:
        invoice.paid_amount += amount
        invoice.status = "paid" if invoice.outstanding == 0 else "partial"
        self._changed.setdefault(invoice.id, invoice)
        return Match("matched" if invoice.status == "paid" else "partial", invoice)

    def _named_invoices(self, folded: str) -> list[OpenInvoice]:
        if not self._by_number:
            return []
        runs = _bounded_runs(folded)
        found: dict[int, OpenInvoice] = {}
        for i, (_, starts, _) in enumerate(runs):
            if not starts:
                continue
            for j in range(i, min(i + self._number_len, len(runs))):
                if runs[j][2]:
                    invoice = self._by_number.get(tuple(r[0] for r in runs[i : j + 1]))
                    if invoice is not None:
                        found.setdefault(invoice.id, invoice)
        return list(found.values())

    def _client_invoices(self, folded: str) -> list[OpenInvoice]:
        if not self._by_name:
            return []
        words = _WORD.findall(folded)
        found: dict[int, OpenInvoice] = {}
        for i in range(len(words)):
            for j in range(i + 1, min(i + self._name_len, len(words)) + 1):
                for invoice in self._by_name.get(tuple(words[i:j]), ()):
                    found.setdefault(invoice.id, invoice)
        return sorted(found.values(), key=lambda inv: (inv.due_at, inv.id))
