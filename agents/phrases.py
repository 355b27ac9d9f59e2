"""What a fact is about, in the operator's phrasing (time phrases are ``agents.when``'s)."""

from __future__ import annotations

import re


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


__all__ = ["subject_of"]
