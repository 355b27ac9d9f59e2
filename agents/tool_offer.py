"""Which of the coordinator's tools a turn offers the model.

Every tool definition is sent with every request, so on a small context window the fifteen of them
would take much of it. A turn offers all of them when they fit comfortably (at most an eighth of the
window); otherwise a core that is always there (``ask_research``), and the groups whose topic words
the message uses (writing, sending, revising, money, paying, time, tasks, plans, memory, remembering). A message
that names no topic gets the specialists, who can answer anything, and ``add_task``. Offering less
never widens what a tool may do: a tool not offered cannot be called at all, and every offered
action still goes through the gate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

COMFORT_SHARE = 8  # all tools when instructions and definitions take at most 1/8 of the window

CORE = frozenset({"ask_research"})
UNMATCHED = frozenset({"ask_research", "ask_drafting", "ask_finance", "ask_scheduling", "add_task"})

# topic → (the words that call it up, the tools it brings)
TOPICS: dict[str, tuple[re.Pattern[str], frozenset[str]]] = {
    "writing": (
        re.compile(
            r"\b(?:e-?mails?|mail\w*|repl\w*|writ\w*|wrote|drafts?|messag\w*|letters?|proposals?|reminders?"
            r"|follow[- ]?up|respond\w*|newsletter|posts?|announce\w*|intro\w*)\b"
        ),
        frozenset({"ask_drafting"}),
    ),
    "sending": (
        re.compile(r"\b(?:e-?mails?|mail\w*|send\w*|sent|repl\w*|inbox|forward\w*)\b"),
        frozenset({"ask_drafting", "send_draft", "save_draft", "send_email"}),
    ),
    "revising": (
        re.compile(
            r"\b(?:revis\w*|edit\w*|chang\w*|rewrit\w*|shorter|longer|warmer|friendlier|formal\w*|tone)\b"
            r"|\bdraft\s*#?\d|\bthe (?:\w+ )?(?:draft|proposal)\b"
        ),
        frozenset({"revise_draft", "send_draft"}),
    ),
    "money": (
        re.compile(
            r"\b(?:invoic\w*|owe\w*|owing|money|bills?|billing|rates?|pric\w*|fees?|costs?|budget\w*|revenue"
            r"|income|expens\w*|overdue|paid|earn\w*)\b|[$€£]"
        ),
        frozenset({"ask_finance"}),
    ),
    "paying": (
        re.compile(r"\b(?:pay|pays|paying|payments?|transfer\w*|refund\w*|wire|settle)\b"),
        frozenset({"ask_finance", "create_payment"}),
    ),
    "time": (
        re.compile(
            r"\b(?:schedul\w*|calendar|meet\w*|calls?|events?|book\w*|free|slots?|hours?|appointments?|workshops?"
            r"|tomorrow|tonight|week\w*|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
            r"|morning|afternoon|evening|available|availability|invite\w*|lunch|dinner|demo)\b"
        ),
        frozenset({"ask_scheduling", "create_event"}),
    ),
    "tasks": (
        re.compile(r"\b(?:tasks?|to-?dos?|to do|remind me|deadlines?|due|plate|done)\b"),
        frozenset({"ask_scheduling", "add_task"}),
    ),
    "plans": (
        re.compile(r"\b(?:plans?|planning|goals?|objectives?|strateg\w*|grow\w*|land|launch\w*|quarter|q[1-4])\b"),
        frozenset({"propose_plan", "ask_scheduling"}),
    ),
    "memory": (
        re.compile(r"\b(?:forget|delet\w*|remov\w*|memor\w*|erase)\b"),
        frozenset({"delete_memory"}),
    ),
    "remembering": (
        re.compile(
            r"\b(?:remember\w*|note|noted|keep in mind|correct\w*|wrong|actually|mistake\w*|no longer|"
            r"anymore|from now on|always|never)\b"
        ),
        frozenset({"remember", "correct"}),
    ),
}


def relevant_tools(message: str) -> frozenset[str]:
    """The core and the tools of every topic the message touches (the specialists when none)."""
    lowered = message.lower()
    found = [tools for pattern, tools in TOPICS.values() if pattern.search(lowered)]
    if not found:
        return UNMATCHED
    return CORE.union(*found)


def offer(message: str, window: int, *, instructions: int, tools: Mapping[str, int]) -> frozenset[str] | None:
    """The tools to offer (None: all of them) for ``message`` on a model with ``window`` tokens.
    ``instructions`` and ``tools`` are sizes in tokens (the fixed instructions, each definition)."""
    if instructions + sum(tools.values()) <= window // COMFORT_SHARE:
        return None
    return relevant_tools(message) & frozenset(tools)


__all__ = ["COMFORT_SHARE", "CORE", "TOPICS", "UNMATCHED", "offer", "relevant_tools"]
