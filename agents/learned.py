"""How learned facts are shown for review — in the briefing and in ``/memory learned`` — with their
Keep / Forget buttons (``mem:keep:<short id>``, ``mem:forget:<short id>``: what the buttons do is
``agents.commands.learned``)."""

from __future__ import annotations

from agents.reply import Button
from memory import LearnedFact

KEEP = "mem:keep:"
FORGET = "mem:forget:"
MAX_SAID_SHOWN = 120
MAX_REPLACED_SHOWN = 120

# How each source is named to the operator.
SOURCES = {
    "learned": "learned from what you said",
    "told": "you told me",
    "consolidated": "kept from an earlier conversation",
}


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def source_name(source: str | None) -> str:
    return SOURCES.get(source or "", source or "noted")


def replaced_note(fact: LearnedFact) -> str:
    return f"; replaces: {shorten(fact.replaced, MAX_REPLACED_SHOWN)}" if fact.replaced else ""


def said_note(fact: LearnedFact) -> str:
    return f"from: “{shorten(fact.said, MAX_SAID_SHOWN)}”" if fact.said else ""


def review_buttons(number: int, short_id: str) -> tuple[Button, Button]:
    """A fact's Keep / Forget pair, labelled with its number in the list."""
    return Button(f"Keep {number}", f"{KEEP}{short_id}"), Button(f"Forget {number}", f"{FORGET}{short_id}")


__all__ = [
    "FORGET",
    "KEEP",
    "SOURCES",
    "replaced_note",
    "review_buttons",
    "said_note",
    "shorten",
    "source_name",
]
