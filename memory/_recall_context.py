"""What a memory is searched with besides its own words, and the time a question points at.

A turn of conversation rarely names what it is about: "Yes, the blue one, on Friday" answers the
turn before it. So each memory is indexed with its *context*: the neighbouring memories of the same
session (``metadata["session"]`` when there is one, else the same day), the speaker, and its date in
words. ``Neighbours`` links a stream of rows (an import, in file order) into that context.

An imported turn of conversation is also *embedded* with the turn it answers (``embedded_text``):
its own words first, then "(in reply to: …)". Dense recall on the conversational benchmark rose
from 0.650 to 0.808 R@10 with it. A turn is taken for a reply when it follows the line before it in
the same session, or, with no session, on the same day and within ten minutes of it; notes dated
hours apart are not conversation, and embedding one with another only blurs both.

``time_window`` reads the time a question points at ("in March", "last month", "on 7 May 2025",
"three weeks ago") against the clock's now; recall uses it as a soft boost, never a filter, so a
relative date that is wrong for imported history costs nothing.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

__all__ = [
    "CONTEXT_NEIGHBOUR_CHARS",
    "Neighbours",
    "build_context",
    "date_words",
    "embedded_text",
    "thread_key",
    "time_window",
]

CONTEXT_NEIGHBOUR_CHARS = 300  # how much of each neighbour goes into a memory's context
REPLY_WINDOW = timedelta(minutes=10)  # without a session, a line this close after another answers it

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")  # fmt: skip
_MONTH_ABBR = {name[:3]: number for number, name in enumerate(_MONTHS, start=1)} | {"sept": 9}
_MONTH = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3,
}  # fmt: skip
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}

_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b\.?,?(?:\s+{_YEAR})?", re.I)
_MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+{_DAY}\b(?:,?\s+{_YEAR})?", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\.?,?\s+{_YEAR}\b", re.I)
# "may" alone is a verb far more often than a month: only "in May" / "of May" / "since May" count.
_MONTH_ALONE = re.compile(rf"\b(?:in|during|of|since|early|late|mid|last|this)\s+{_MONTH}\b", re.I)
_YEAR_ALONE = re.compile(rf"\b(?:in|during|of|since)\s+{_YEAR}\b", re.I)
_RELATIVE = re.compile(r"\b(?P<which>last|this|past|previous)\s+(?P<unit>week|month|year)\b", re.I)
_AGO = re.compile(
    r"\b(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|couple of|few)\s+"
    r"(?P<unit>day|week|month|year)s?\s+ago\b",
    re.I,
)
_SINGLE_DAY = re.compile(r"\b(?P<word>yesterday|today)\b", re.I)


def date_words(moment: datetime) -> str:
    """``"7 May 2025, May 2025, Wednesday"``: the ways a question names a memory's date."""
    month = _MONTHS[moment.month - 1].capitalize()
    return f"{moment.day} {month} {moment.year}, {month} {moment.year}, {moment.strftime('%A')}"


def thread_key(metadata: dict[str, Any] | None, occurred_at: datetime) -> tuple[str, str]:
    """Which memories are neighbours: the same ``metadata["session"]``, else the same day."""
    session = (metadata or {}).get("session")
    if session is not None and not isinstance(session, dict | list):
        return ("session", str(session))
    return ("day", occurred_at.date().isoformat())


def _clip(text: str) -> str:
    return text if len(text) <= CONTEXT_NEIGHBOUR_CHARS else text[:CONTEXT_NEIGHBOUR_CHARS].rsplit(" ", 1)[0]


def build_context(occurred_at: datetime, metadata: dict[str, Any] | None, before: str | None, after: str | None) -> str:
    """The context column: neighbours first, then the speaker and the date in words."""
    parts = [_clip(text) for text in (before, after) if text]
    speaker = (metadata or {}).get("speaker")
    if isinstance(speaker, str) and speaker.strip():
        parts.append(speaker.strip()[:80])
    parts.append(date_words(occurred_at))
    return " | ".join(parts)


class Neighbours:
    """Links rows read in order into their context, holding each row back until its next neighbour
    (or the end) is known: ``push`` returns the rows now complete, ``finish`` the rest. A row that
    answers the one before it gets ``reply_to``; ``dated=False`` marks a row stamped at import."""

    def __init__(self) -> None:
        self._held: dict[str, Any] | None = None

    def push(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        held, self._held = self._held, row
        before = None
        key = self._key(row)
        if held is not None and self._key(held) == key:
            before = held["text"]
            held["_after"] = row["text"]
            if key[0] == "session" or self._close(held, row):
                row["reply_to"] = before
        row["_before"] = before
        return [self._complete(held)] if held is not None else []

    def finish(self) -> list[dict[str, Any]]:
        held, self._held = self._held, None
        return [self._complete(held)] if held is not None else []

    @staticmethod
    def _close(held: dict[str, Any], row: dict[str, Any]) -> bool:
        """Two lines dated within minutes of each other (an undated line is stamped with the import's
        time, which says nothing about when it was said)."""
        dated = bool(held.get("dated", True) and row.get("dated", True))
        return dated and abs(row["occurred_at"] - held["occurred_at"]) <= REPLY_WINDOW

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[str, str]:
        return thread_key(row["metadata"], row["occurred_at"])

    @staticmethod
    def _complete(row: dict[str, Any]) -> dict[str, Any]:
        row["context"] = build_context(
            row["occurred_at"], row["metadata"], row.pop("_before", None), row.pop("_after", None)
        )
        return row


def embedded_text(row: dict[str, Any]) -> str:
    """What an imported row's vector is computed from: its text, and the turn it answers if any."""
    reply_to = row.get("reply_to")
    return f"{row['text']}\n(in reply to: {_clip(reply_to)})" if reply_to else row["text"]


# -- the time a question points at -----------------------------------------------------------------


def _month_number(word: str) -> int:
    return _MONTH_ABBR[word.lower()[:4] if word.lower().startswith("sept") else word.lower()[:3]]


def _month_span(year: int, month: int) -> tuple[date, date]:
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date(year, month, 1), end


def _latest_year(month: int, day: int | None, today: date) -> int:
    """A month (and day) without a year: the latest one not after today."""
    candidate = date(today.year, month, min(day or 1, 28))
    return today.year if candidate <= today else today.year - 1


def _absolute(query: str, today: date) -> tuple[date, date] | None:
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        found = pattern.search(query)
        if found:
            month, day = _month_number(found["month"]), int(found["day"])
            year = int(found["year"]) if found["year"] else _latest_year(month, day, today)
            try:
                start = date(year, month, day)
            except ValueError:
                continue
            return start, start + timedelta(days=1)
    found = _MONTH_YEAR.search(query)
    if found:
        return _month_span(int(found["year"]), _month_number(found["month"]))
    found = _MONTH_ALONE.search(query)
    if found:
        month = _month_number(found["month"])
        return _month_span(_latest_year(month, None, today), month)
    found = _YEAR_ALONE.search(query)
    if found:
        year = int(found["year"])
        return date(year, 1, 1), date(year + 1, 1, 1)
    return None


def _relative(query: str, today: date) -> tuple[date, date] | None:
    found = _SINGLE_DAY.search(query)
    if found:
        day = today - timedelta(days=1 if found["word"].lower() == "yesterday" else 0)
        return day, day + timedelta(days=1)
    found = _RELATIVE.search(query)
    if found:
        unit, this = found["unit"].lower(), found["which"].lower() == "this"
        if unit == "week":
            monday = today - timedelta(days=today.weekday())
            start = monday if this else monday - timedelta(days=7)
            return start, start + timedelta(days=7)
        if unit == "month":
            first = today.replace(day=1)
            start = first if this else (first - timedelta(days=1)).replace(day=1)
            return _month_span(start.year, start.month)
        year = today.year if this else today.year - 1
        return date(year, 1, 1), date(year + 1, 1, 1)
    found = _AGO.search(query)
    if found:
        count = found["n"].lower()
        days = (int(count) if count.isdigit() else _NUMBERS[count]) * _UNITS[found["unit"].lower()]
        centre = today - timedelta(days=days)
        slack = max(1, days // 4)  # "three weeks ago" is roughly, not exactly, 21 days ago
        return centre - timedelta(days=slack), centre + timedelta(days=slack + 1)
    return None


def time_window(query: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The span of time ``query`` names, in ``now``'s time zone; None when it names none."""
    today = now.date()
    span = _absolute(query, today) or _relative(query, today)
    if span is None:
        return None
    return _midnight(span[0], now), _midnight(span[1], now)


def _midnight(day: date, now: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
