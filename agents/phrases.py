"""Pure helpers for reading the operator's phrasing: what a fact is about, and a task's due date."""

from __future__ import annotations

import re
from datetime import datetime


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


_SUBJECT = _p(r"^(?P<subject>[\w'’ .&-]{2,60}?)\s+(?:is|are|was|were|=|will be|has become|changed to)\s+\S")
_SUBJECT_STOP = {"it", "this", "that", "there", "he", "she", "they", "we", "i", "you", "what", "who"}


def subject_of(fact: str) -> str | None:
    """The thing a fact is about, when it has the shape "<subject> is <value>".

    "Acme's day rate is 900 EUR" → "acme's day rate"; a later fact with the same subject
    supersedes the earlier one in recall.
    """
    match = _SUBJECT.match(fact.strip())
    if not match:
        return None
    subject = " ".join(match.group("subject").lower().replace("’", "'").split())
    if subject in _SUBJECT_STOP or len(subject.split()) > 6:
        return None
    return subject


_DUE = _p(r"^(?P<title>.+?)\s+(?:by|due|before|on|until)\s+(?P<when>[^,]+)$")
_TIME_HINT = _p(
    r"\b(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"next \w+|in \d+ \w+|\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}|"
    r"jan\w*|feb\w*|mar\w*|apr\w*|may|jun\w*|jul\w*|aug\w*|sep\w*|oct\w*|nov\w*|dec\w*)\b"
)


def split_due(title: str, *, now: datetime, timezone: str) -> tuple[str, datetime | None]:
    """ "send invoice to Acme by Friday" → ("send invoice to Acme", next Friday). Dates only when clear."""
    import dateparser

    candidates = [_DUE.match(title)]
    trailing = re.match(
        r"^(?P<title>.+?)\s+(?P<when>(?:today|tonight|tomorrow|next \w+|in \d+ \w+)(?: at .+)?)$",
        title,
        re.IGNORECASE,
    )
    candidates.append(trailing)
    for match in candidates:
        if not match or not _TIME_HINT.search(match.group("when")):
            continue
        when = dateparser.parse(
            match.group("when"),
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": now.replace(tzinfo=None),
                "TIMEZONE": timezone,
                "TO_TIMEZONE": "UTC",
                "RETURN_AS_TIMEZONE_AWARE": True,
            },
        )
        if when is not None:
            return match.group("title").strip(), when
    return title, None


__all__ = ["split_due", "subject_of"]
