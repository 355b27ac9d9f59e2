"""Decisions, commitments and amounts in what the operator said, found by rules (no model).

Consolidation uses it when no model is configured (or the spend cap stops the model): a sentence is
kept when it records a decision or an agreement ("we decided", "agreed", "promised", "deadline"),
names an amount with its currency ("€4,000", "1.200 EUR", "$300"), or commits to something by a
date ("will send it by Friday"). Questions and small talk are dropped. Dates are resolved against
when the sentence was said (dateparser), so "by Friday" still means that Friday a month later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_DECISION = re.compile(
    r"\b(?:decided|decide on|agreed|agree(?:s|d)? (?:to|on|that)|settled on|signed|promised|promise[sd]? to|"
    r"committed|commit(?:s)? to|deadline|due (?:on|by|date)|owes?|will owe|booked|confirmed)\b",
    re.IGNORECASE,
)
_WILL = re.compile(r"(?:\b(?:will|shall|going to|has to|have to|must|promise)\b|'ll\b|’ll\b)", re.IGNORECASE)
_CURRENCY = r"(?:€|\$|£|¥|EUR|USD|GBP|CHF|euros?|dollars?|pounds?)"
_NUMBER = r"\d[\d.,']*(?:\s?[kKmM]\b)?"
_AMOUNT = re.compile(
    rf"(?:[€$£¥]\s?{_NUMBER}|\b(?:EUR|USD|GBP|CHF)\s?{_NUMBER}|\b{_NUMBER}\s?{_CURRENCY}(?![a-z]))", re.IGNORECASE
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_DATE = re.compile(
    rf"\b(?:(?:next|this|coming)\s+{_WEEKDAY}|{_WEEKDAY}|tomorrow|next (?:week|month)|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:\s+\d{{4}})?|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|the \d{{1,2}}(?:st|nd|rd|th))\b",
    re.IGNORECASE,
)
MAX_SENTENCE = 400


@dataclass(frozen=True)
class Commitment:
    """One sentence worth keeping, with the dates and amounts found in it."""

    sentence: str
    dates: tuple[tuple[str, date], ...]  # (as said, resolved against when it was said)
    amounts: tuple[str, ...]

    def text(self, said_at: datetime, timezone: str) -> str:
        """The memory's text: dated, with each relative date resolved ("by Friday (Fri 13 Mar 2026)")."""
        local = said_at.astimezone(ZoneInfo(timezone))
        resolved = "; ".join(f"{phrase}: {when:%a %d %b %Y}" for phrase, when in self.dates)
        if not resolved:
            return f"On {local:%d %b %Y}: {self.sentence}"
        return f"On {local:%d %b %Y}: {self.sentence.rstrip('.')} ({resolved})"


def commitments(said: str, said_at: datetime, timezone: str) -> list[Commitment]:
    """The sentences of ``said`` that record a decision, a commitment or an amount."""
    found = []
    for raw in _SENTENCES.split(said):
        sentence = " ".join(raw.split()).strip(" -–—•*")
        if not sentence or sentence.endswith("?") or len(sentence) > MAX_SENTENCE:
            continue
        phrases = [m.group(0) for m in _DATE.finditer(sentence)]
        amounts = tuple(m.group(0).strip() for m in _AMOUNT.finditer(sentence))
        if not (_DECISION.search(sentence) or amounts or (phrases and _WILL.search(sentence))):
            continue
        found.append(Commitment(sentence, _resolved(phrases, said_at, timezone), amounts))
    return found


def _resolved(phrases: list[str], said_at: datetime, timezone: str) -> tuple[tuple[str, date], ...]:
    import dateparser  # slow to import (its language data): only when there is a date to read

    base = said_at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"}
    dates = []
    for phrase in phrases:
        parsed = dateparser.parse(phrase, settings=settings)
        if parsed is not None:
            dates.append((phrase, parsed.date()))
    return tuple(dates)


__all__ = ["Commitment", "commitments"]
